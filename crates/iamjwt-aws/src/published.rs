//! A signer that signs only with keys in the published JWKS, for the token function of an issuer in several
//! regions (docs/multi-region.md "What fails when a region fails").
//!
//! Each region resolves its own `current` alias. If that alias points at a key the JWKS does not list (a broken
//! manual change, a restored backup), every token it signs would fail verification everywhere; the region refuses
//! to sign instead (`Transient` → `503`), and clients fail over to another region.
//!
//! The JWKS is read from the issuer bucket (the publisher port, read side only) at start and again after `ttl`,
//! so a warm token costs no extra request. A key the cached JWKS does not list makes it re-read at once (at most
//! once per [`REREAD_AFTER`]). A JWKS that cannot be read leaves the last one in force, so a bucket outage does
//! not stop regions from signing with keys already known to be published.

use async_trait::async_trait;
use iamjwt_core::ports::{Publisher, Signer, SigningKey};
use iamjwt_core::{Algorithm, Kid, PortError, PortErrorKind};
use std::collections::BTreeSet;
use std::sync::{Arc, PoisonError, RwLock};
use std::time::{Duration, Instant};

/// The shortest time between two reads of the JWKS prompted by unknown keys.
pub const REREAD_AFTER: Duration = Duration::from_secs(5);

struct Read {
    at: Instant,
    kids: BTreeSet<Kid>,
}

/// Wraps a signer; see the module documentation.
pub struct PublishedOnly {
    inner: Arc<dyn Signer>,
    jwks: Arc<dyn Publisher>,
    ttl: Duration,
    known: RwLock<Option<Read>>,
    /// One read at a time; holds when the last read was tried.
    reading: tokio::sync::Mutex<Option<Instant>>,
}

impl PublishedOnly {
    /// `jwks` is only read (`read_jwks`); `ttl` is how long a JWKS is used before it is read again.
    pub fn new(inner: Arc<dyn Signer>, jwks: Arc<dyn Publisher>, ttl: Duration) -> Self {
        Self {
            inner,
            jwks,
            ttl,
            known: RwLock::new(None),
            reading: tokio::sync::Mutex::new(None),
        }
    }

    /// Reads the JWKS now.
    pub async fn warm(&self) -> Result<(), PortError> {
        let mut last = self.reading.lock().await;
        self.read(&mut last).await
    }

    async fn read(&self, last: &mut Option<Instant>) -> Result<(), PortError> {
        *last = Some(Instant::now());
        let jwks = self.jwks.read_jwks().await?.ok_or_else(|| {
            PortError::new(PortErrorKind::Transient, "no JWKS has been published yet")
        })?;
        *self.known.write().unwrap_or_else(PoisonError::into_inner) = Some(Read {
            at: Instant::now(),
            kids: jwks.kids().cloned().collect(),
        });
        Ok(())
    }

    /// `Some(listed)` from a JWKS younger than the TTL, `None` when it must be read (again).
    fn lookup(&self, kid: &Kid) -> Option<bool> {
        let known = self.known.read().unwrap_or_else(PoisonError::into_inner);
        let read = known.as_ref()?;
        (read.at.elapsed() < self.ttl).then(|| read.kids.contains(kid))
    }

    fn listed(&self, kid: &Kid) -> bool {
        self.known
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .as_ref()
            .is_some_and(|r| r.kids.contains(kid))
    }

    async fn check(&self, kid: &Kid) -> Result<(), PortError> {
        if self.lookup(kid) == Some(true) {
            return Ok(());
        }
        let mut last = self.reading.lock().await;
        // Another request may have read it meanwhile.
        if self.lookup(kid) == Some(true) {
            return Ok(());
        }
        let stale = self.lookup(kid).is_none();
        let may_read = last.is_none_or(|t| t.elapsed() >= REREAD_AFTER);
        if (stale || may_read)
            && let Err(e) = self.read(&mut last).await
        {
            tracing::warn!(error = %e, "could not read the published JWKS; keeping the last one");
        }
        if self.listed(kid) {
            Ok(())
        } else {
            tracing::error!(alarm = true, %kid,
                "this region's current key is not in the published JWKS; refusing to sign until rotation fixes the alias");
            Err(PortError::new(
                PortErrorKind::Transient,
                format!(
                    "key {kid} is not in the published JWKS; this region does not sign with it"
                ),
            ))
        }
    }
}

#[async_trait]
impl Signer for PublishedOnly {
    async fn signing_key(&self, alg: Algorithm) -> Result<Arc<dyn SigningKey>, PortError> {
        let key = self.inner.signing_key(alg).await?;
        self.check(key.kid()).await?;
        Ok(key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use iamjwt_core::discovery::{DiscoveryDocument, IssuerDocuments};
    use iamjwt_core::jwk::Jwks;
    use iamjwt_core::testing::TestSigner;
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// The region's alias: a test moves it to another key.
    struct Alias(Mutex<Arc<TestSigner>>);

    #[async_trait]
    impl Signer for Alias {
        async fn signing_key(&self, alg: Algorithm) -> Result<Arc<dyn SigningKey>, PortError> {
            let signer = self.0.lock().unwrap().clone();
            signer.signing_key(alg).await
        }
    }

    /// A JWKS that a test can change, counting reads; `down` makes reads fail.
    #[derive(Default)]
    struct Bucket {
        jwks: Mutex<Option<Jwks>>,
        reads: AtomicUsize,
        down: std::sync::atomic::AtomicBool,
    }

    #[async_trait]
    impl Publisher for Bucket {
        async fn read_jwks(&self) -> Result<Option<Jwks>, PortError> {
            self.reads.fetch_add(1, Ordering::SeqCst);
            if self.down.load(Ordering::SeqCst) {
                return Err(PortError::new(PortErrorKind::Transient, "down"));
            }
            Ok(self.jwks.lock().unwrap().clone())
        }
        async fn read_discovery(&self) -> Result<Option<DiscoveryDocument>, PortError> {
            Ok(None)
        }
        async fn publish(&self, _: &IssuerDocuments) -> Result<(), PortError> {
            Err(PortError::other("read only"))
        }
    }

    #[tokio::test]
    async fn signs_only_with_a_published_key_and_rereads_on_an_unknown_one() {
        let first = Arc::new(TestSigner::new(1));
        let published = Jwks {
            keys: vec![first.jwk().clone()],
        };
        let signer = Arc::new(Alias(Mutex::new(first)));
        let key = signer.signing_key(Algorithm::ES256).await.unwrap();
        let bucket = Arc::new(Bucket::default());
        let guard = PublishedOnly::new(signer.clone(), bucket.clone(), Duration::from_secs(300));

        // Not published (no JWKS at all): refused, as a 503.
        let e = guard.signing_key(Algorithm::ES256).await.err().unwrap();
        assert_eq!(e.kind, PortErrorKind::Transient);
        assert!(e.detail.contains(key.kid().as_str()), "{e}");

        // Published: the next request past the re-read pause signs; warm ones read nothing more.
        *bucket.jwks.lock().unwrap() = Some(published);
        *guard.reading.lock().await = Some(Instant::now() - REREAD_AFTER);
        let reads = bucket.reads.load(Ordering::SeqCst);
        assert_eq!(
            guard.signing_key(Algorithm::ES256).await.unwrap().kid(),
            key.kid()
        );
        for _ in 0..5 {
            guard.signing_key(Algorithm::ES256).await.unwrap();
        }
        assert_eq!(bucket.reads.load(Ordering::SeqCst), reads + 1);

        // A bucket that cannot be read keeps the JWKS known to be published, past its TTL too.
        bucket.down.store(true, Ordering::SeqCst);
        guard.known.write().unwrap().as_mut().unwrap().at -= Duration::from_secs(301);
        guard.signing_key(Algorithm::ES256).await.unwrap();

        // The alias moves to a key the JWKS lacks: refused, and the JWKS is not read again within the pause.
        bucket.down.store(false, Ordering::SeqCst);
        *signer.0.lock().unwrap() = Arc::new(TestSigner::new(2));
        let reads = bucket.reads.load(Ordering::SeqCst);
        for _ in 0..3 {
            let e = guard.signing_key(Algorithm::ES256).await.err().unwrap();
            assert_eq!(e.kind, PortErrorKind::Transient);
        }
        assert!(bucket.reads.load(Ordering::SeqCst) <= reads + 1);
    }
}
