//! The signing port over KMS: resolve the current key of each algorithm through its alias, cache it, and `Sign`
//! by key ARN. Never creates, moves or tags a key (that is [`super::KmsKeyStore`]'s).

use super::{alias, checked_jwk, kms_algorithm};
use crate::emf;
use crate::error::classify;
use async_trait::async_trait;
use aws_sdk_kms::Client;
use aws_sdk_kms::operation::sign::SignError;
use aws_sdk_kms::primitives::Blob;
use aws_sdk_kms::types::MessageType;
use iamjwt_core::jws::MAX_SIGNING_INPUT;
use iamjwt_core::ports::{Signer, SigningKey};
use iamjwt_core::{Algorithm, KeySlot, Kid, PortError, PortErrorKind};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;
use tokio::time::Instant;

/// One resolved signing key: signs by key id, never by alias, so the `kid` always matches.
pub struct KmsKey {
    client: Client,
    key_id: String,
    kid: Kid,
    alg: Algorithm,
    /// Set when KMS says the key can no longer sign: the signer re-resolves on the next request.
    stale: AtomicBool,
    metrics: bool,
}

impl KmsKey {
    /// The key id `Sign` is called with: the key ARN `GetPublicKey` answered (moto answers the bare key id).
    pub fn key_id(&self) -> &str {
        &self.key_id
    }
}

#[async_trait]
impl SigningKey for KmsKey {
    fn alg(&self) -> Algorithm {
        self.alg
    }
    fn kid(&self) -> &Kid {
        &self.kid
    }
    async fn sign(&self, signing_input: &[u8]) -> Result<Vec<u8>, PortError> {
        if signing_input.len() > MAX_SIGNING_INPUT {
            return Err(PortError::other(format!(
                "signing input of {} bytes exceeds KMS's limit",
                signing_input.len()
            )));
        }
        let started = std::time::Instant::now();
        let out = self
            .client
            .sign()
            .key_id(&self.key_id)
            .message(Blob::new(signing_input))
            .message_type(MessageType::Raw)
            .signing_algorithm(kms_algorithm(self.alg).signing)
            .send()
            .await;
        if self.metrics {
            emf::sign_latency(self.alg, started.elapsed().as_secs_f64() * 1000.0);
        }
        let out = out.map_err(|e| {
            // Match the modeled variants as well as the wire code: both mean "this key cannot sign".
            let unusable = e.as_service_error().is_some_and(|se| {
                matches!(
                    se,
                    SignError::DisabledException(_)
                        | SignError::KmsInvalidStateException(_)
                        | SignError::KeyUnavailableException(_)
                        | SignError::NotFoundException(_)
                )
            });
            let mut err = classify("Sign", e);
            if unusable && err.kind != PortErrorKind::NotFound {
                err.kind = PortErrorKind::Disabled;
            }
            if matches!(err.kind, PortErrorKind::Disabled | PortErrorKind::NotFound) {
                self.stale.store(true, Ordering::Release);
                tracing::error!(alarm = true, key_id = %self.key_id, kid = %self.kid, error = %err,
                    "KMS signing key unusable; re-resolving the alias on the next request");
            }
            err
        })?;
        let sig = out
            .signature()
            .ok_or_else(|| PortError::other("Sign returned no signature"))?;
        self.alg
            .jose_signature(sig.as_ref())
            .map_err(|e| PortError::other(e.to_string()))
    }
}

/// After a failed background refresh, the next attempt waits this long (or the TTL, if shorter).
const RETRY_AFTER_FAILED_REFRESH: Duration = Duration::from_secs(10);

struct Cached {
    key: Arc<KmsKey>,
    /// When to look at the alias again (TTL after a successful resolution).
    due: Instant,
}

enum Lookup {
    /// Within its TTL.
    Fresh(Arc<KmsKey>),
    /// Past its TTL but usable: sign with it and refresh in the background.
    Due(Arc<KmsKey>),
    /// Never resolved, or KMS said it cannot sign: resolve before signing.
    Missing,
}

/// What the signer and its background refresh share.
struct Shared {
    client: Client,
    prefix: String,
    ttl: Duration,
    metrics: AtomicBool,
    cache: RwLock<HashMap<Algorithm, Cached>>,
    /// One resolution at a time (inline or background), so an older answer never overwrites a newer one.
    resolving: tokio::sync::Mutex<()>,
    /// A background refresh is scheduled or running.
    refreshing: AtomicBool,
}

/// The signing port over KMS. One `GetPublicKey` on `alias/<prefix>/<alg>/current` gives the key id (ARN) and the
/// public key, hence the kid; the key is cached and `Sign` is called with its id. Past the TTL the cached key keeps
/// signing while one background task re-reads the alias, so a warm token is always exactly one KMS call (`Sign`).
/// A `Sign` that reports the key disabled or gone drops it: the next request resolves the alias before signing.
pub struct KmsSigner {
    shared: Arc<Shared>,
}

impl KmsSigner {
    pub fn new(client: Client, prefix: impl Into<String>, ttl: Duration) -> Self {
        Self {
            shared: Arc::new(Shared {
                client,
                prefix: prefix.into(),
                ttl,
                metrics: AtomicBool::new(false),
                cache: RwLock::new(HashMap::new()),
                resolving: tokio::sync::Mutex::new(()),
                refreshing: AtomicBool::new(false),
            }),
        }
    }

    /// Record `KmsSignLatency` for CloudWatch (Lambda): into the request's EMF document inside
    /// [`emf::request_scope`], else as a line of its own.
    pub fn with_metrics(self, on: bool) -> Self {
        self.shared.metrics.store(on, Ordering::Release);
        self
    }

    /// Resolves every algorithm now, all at once (one round of `GetPublicKey`), so the first request pays only for
    /// `Sign`. The first error is returned after every resolution has finished.
    pub async fn warm(&self, algs: &[Algorithm]) -> Result<(), PortError> {
        let _guard = self.shared.resolving.lock().await;
        let results = Shared::resolve_all(&self.shared, algs).await;
        let mut first_err = None;
        for (alg, result) in results {
            match result {
                Ok(key) => self.shared.store(alg, key),
                Err(e) => {
                    first_err.get_or_insert(e);
                }
            }
        }
        first_err.map_or(Ok(()), Err)
    }

    /// Whether a background refresh is scheduled or running.
    pub fn refreshing(&self) -> bool {
        self.shared.refreshing.load(Ordering::Acquire)
    }

    /// Starts the background refresh unless one is already scheduled or running.
    fn refresh_in_background(&self) {
        if self
            .shared
            .refreshing
            .compare_exchange(false, true, Ordering::AcqRel, Ordering::Acquire)
            .is_err()
        {
            return;
        }
        let shared = self.shared.clone();
        tokio::spawn(async move {
            // Cleared however the task ends (a panic included), so a later expiry can refresh again.
            struct Done(Arc<Shared>);
            impl Drop for Done {
                fn drop(&mut self) {
                    self.0.refreshing.store(false, Ordering::Release);
                }
            }
            let done = Done(shared);
            Shared::refresh_due(&done.0).await;
        });
    }
}

impl Shared {
    fn lookup(&self, alg: Algorithm) -> Lookup {
        let cache = self
            .cache
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        match cache.get(&alg) {
            Some(c) if !c.key.stale.load(Ordering::Acquire) => {
                if Instant::now() < c.due {
                    Lookup::Fresh(c.key.clone())
                } else {
                    Lookup::Due(c.key.clone())
                }
            }
            _ => Lookup::Missing,
        }
    }

    /// Caches `key` for a TTL. An unchanged, usable key keeps its entry: only the TTL restarts.
    fn store(&self, alg: Algorithm, key: KmsKey) {
        let due = Instant::now() + self.ttl;
        let mut cache = self
            .cache
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        match cache.get_mut(&alg) {
            Some(c)
                if c.key.key_id == key.key_id
                    && c.key.kid == key.kid
                    && !c.key.stale.load(Ordering::Acquire) =>
            {
                c.due = due;
            }
            other => {
                if let Some(old) = other {
                    tracing::info!(%alg, from = %old.key.kid, to = %key.kid, key_id = %key.key_id,
                        "signing key changed");
                }
                cache.insert(
                    alg,
                    Cached {
                        key: Arc::new(key),
                        due,
                    },
                );
            }
        }
    }

    fn key(&self, alg: Algorithm) -> Option<Arc<KmsKey>> {
        self.cache
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(&alg)
            .map(|c| c.key.clone())
    }

    /// One `GetPublicKey` on the alias: KMS resolves it and answers the key's ARN with its public key. A disabled
    /// or pending-deletion key fails here (`DisabledException` / `KMSInvalidStateException` → `Disabled`).
    async fn resolve(&self, alg: Algorithm) -> Result<KmsKey, PortError> {
        let name = alias(&self.prefix, alg, KeySlot::Current);
        let out = self
            .client
            .get_public_key()
            .key_id(&name)
            .send()
            .await
            .map_err(|e| classify("GetPublicKey", e))?;
        let key_id = out
            .key_id()
            .filter(|id| !id.is_empty() && !id.starts_with("alias/") && !id.contains(":alias/"))
            .ok_or_else(|| PortError::other(format!("GetPublicKey {name}: no key id")))?
            .to_owned();
        let jwk = checked_jwk(&name, &out, alg)?;
        tracing::info!(%alg, key_id = %key_id, kid = %jwk.kid(), "resolved signing key");
        Ok(KmsKey {
            client: self.client.clone(),
            key_id,
            kid: jwk.kid().clone(),
            alg,
            stale: AtomicBool::new(false),
            metrics: self.metrics.load(Ordering::Acquire),
        })
    }

    /// [`Shared::resolve`] for every algorithm concurrently. Callers hold `resolving`.
    async fn resolve_all(
        this: &Arc<Self>,
        algs: &[Algorithm],
    ) -> Vec<(Algorithm, Result<KmsKey, PortError>)> {
        let mut set = tokio::task::JoinSet::new();
        for &alg in algs {
            let shared = this.clone();
            set.spawn(async move { (alg, shared.resolve(alg).await) });
        }
        let mut out = Vec::with_capacity(algs.len());
        while let Some(joined) = set.join_next().await {
            match joined {
                Ok(r) => out.push(r),
                Err(e) => tracing::error!(error = %e, "key resolution task failed"),
            }
        }
        out
    }

    /// The background refresh: re-reads every alias past its TTL. On failure the cached key keeps signing and the
    /// next attempt comes after [`RETRY_AFTER_FAILED_REFRESH`] (or the TTL, if shorter).
    async fn refresh_due(this: &Arc<Self>) {
        let _guard = this.resolving.lock().await;
        let now = Instant::now();
        let due: Vec<Algorithm> = this
            .cache
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .iter()
            .filter(|(_, c)| c.due <= now)
            .map(|(alg, _)| *alg)
            .collect();
        for (alg, result) in Self::resolve_all(this, &due).await {
            match result {
                Ok(key) => this.store(alg, key),
                Err(e) => {
                    tracing::warn!(%alg, error = %e, "could not refresh the signing key; signing with the cached one");
                    let retry = Instant::now() + this.ttl.min(RETRY_AFTER_FAILED_REFRESH);
                    if let Some(c) = this
                        .cache
                        .write()
                        .unwrap_or_else(std::sync::PoisonError::into_inner)
                        .get_mut(&alg)
                    {
                        c.due = retry;
                    }
                }
            }
        }
    }
}

#[async_trait]
impl Signer for KmsSigner {
    async fn signing_key(&self, alg: Algorithm) -> Result<Arc<dyn SigningKey>, PortError> {
        match self.shared.lookup(alg) {
            Lookup::Fresh(k) => return Ok(k),
            Lookup::Due(k) => {
                self.refresh_in_background();
                return Ok(k);
            }
            Lookup::Missing => {}
        }
        // No usable key (cold, first deploy, or KMS said it cannot sign): resolve before signing. One resolution
        // at a time; concurrent requests wait and then find the new entry.
        let _guard = self.shared.resolving.lock().await;
        match self.shared.lookup(alg) {
            Lookup::Fresh(k) | Lookup::Due(k) => return Ok(k),
            Lookup::Missing => {}
        }
        let key = self.shared.resolve(alg).await?;
        self.shared.store(alg, key);
        self.shared
            .key(alg)
            .map(|k| k as Arc<dyn SigningKey>)
            .ok_or_else(|| PortError::other(format!("{alg}: resolved key not cached")))
    }
}
