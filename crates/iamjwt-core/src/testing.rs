//! Test support (feature `testing`): in-memory adapters, fault injection and an invariant-checking harness that
//! any [`KeyStore`]/[`Publisher`] pair (soft keys, KMS + S3) can be run under.

use crate::alg::KeyType;
use crate::discovery::{DiscoveryDocument, IssuerDocuments};
use crate::error::{PortError, PortErrorKind};
use crate::jwk::{Jwks, KeyParams, PublicJwk};
use crate::keys::{KeyMark, KeyRecord, KeyState, Slots};
use crate::ports::{KeyStore, Publisher, Signer, SigningKey};
use crate::rotation::{RotationPolicy, invariant_violations};
use crate::time::UnixTime;
use crate::types::{Algorithm, KeyId, KeySlot, Kid};
use async_trait::async_trait;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Keys by id, and which key each slot points at.
type MemState = (
    BTreeMap<KeyId, KeyRecord>,
    BTreeMap<(Algorithm, KeySlot), KeyId>,
);

/// A key store in memory. Public keys are derived from a counter (not real key pairs): rotation never signs.
#[derive(Debug, Default)]
pub struct MemKeyStore {
    keys: Mutex<MemState>,
    counter: AtomicUsize,
}

impl MemKeyStore {
    pub fn new() -> Self {
        Self::default()
    }

    /// A key as last recorded, whether or not a slot still holds it.
    pub fn record(&self, key: &KeyId) -> Option<KeyRecord> {
        lock(&self.keys).0.get(key).cloned()
    }

    /// Makes every key held so far a single-Region key (one made before the issuer had several regions).
    pub fn make_single_region(&self) {
        for k in lock(&self.keys).0.values_mut() {
            k.single_region = true;
        }
    }

    fn fake_jwk(alg: Algorithm, n: usize) -> Result<PublicJwk, PortError> {
        let seed = Sha256::digest(n.to_be_bytes());
        let params = match alg.spec().key {
            KeyType::Rsa { bits } => KeyParams::Rsa {
                n: URL_SAFE_NO_PAD.encode(seed.repeat(bits / 256)),
                e: "AQAB".into(),
            },
            KeyType::Ec(curve) => {
                let coordinate = |b: &[u8]| b.repeat(2)[..curve.coordinate_len()].to_vec();
                KeyParams::Ec {
                    crv: curve.jwk_crv().into(),
                    x: URL_SAFE_NO_PAD.encode(coordinate(&seed)),
                    y: URL_SAFE_NO_PAD.encode(coordinate(&Sha256::digest(seed))),
                }
            }
        };
        PublicJwk::from_params(params, alg).map_err(|e| PortError::other(e.to_string()))
    }
}

#[async_trait]
impl KeyStore for MemKeyStore {
    async fn load(&self, algs: &[Algorithm]) -> Result<KeyState, PortError> {
        let g = lock(&self.keys);
        let (keys, slots) = &*g;
        let get = |alg| {
            Slots::from_fn(|slot| slots.get(&(alg, slot)).and_then(|id| keys.get(id)).cloned())
        };
        let mut state = KeyState::default();
        for &alg in algs {
            state.algs.insert(alg, get(alg));
        }
        for alg in KeyState::removed_among(algs, slots.keys().map(|(alg, _)| *alg)) {
            state.insert_removed(alg, get(alg));
        }
        Ok(state)
    }

    async fn create_key(
        &self,
        alg: Algorithm,
        slot: KeySlot,
        now: UnixTime,
    ) -> Result<KeyId, PortError> {
        let n = self.counter.fetch_add(1, Ordering::SeqCst);
        let mut g = lock(&self.keys);
        if g.1.contains_key(&(alg, slot)) {
            return Err(PortError::other(format!("{alg} {slot} is not empty")));
        }
        let id = KeyId::new(format!("mem-{n}"));
        let jwk = Self::fake_jwk(alg, n)?;
        g.0.insert(id.clone(), KeyRecord::new(id.clone(), jwk, now));
        g.1.insert((alg, slot), id.clone());
        Ok(id)
    }

    async fn assign(
        &self,
        alg: Algorithm,
        slot: KeySlot,
        key: Option<&KeyId>,
    ) -> Result<(), PortError> {
        let mut g = lock(&self.keys);
        match key {
            Some(k) if !g.0.contains_key(k) => {
                return Err(PortError::new(PortErrorKind::NotFound, k.to_string()));
            }
            Some(k) => g.1.insert((alg, slot), k.clone()),
            None => g.1.remove(&(alg, slot)),
        };
        Ok(())
    }

    async fn mark(&self, key: &KeyId, mark: KeyMark) -> Result<(), PortError> {
        let mut g = lock(&self.keys);
        let k =
            g.0.get_mut(key)
                .ok_or_else(|| PortError::new(PortErrorKind::NotFound, key.to_string()))?;
        k.apply(mark);
        Ok(())
    }

    async fn schedule_deletion(&self, key: &KeyId) -> Result<(), PortError> {
        let mut g = lock(&self.keys);
        let k =
            g.0.get_mut(key)
                .ok_or_else(|| PortError::new(PortErrorKind::NotFound, key.to_string()))?;
        k.set_pending_deletion();
        Ok(())
    }
}

/// A publisher in memory.
#[derive(Debug, Default)]
pub struct MemPublisher {
    docs: Mutex<Option<IssuerDocuments>>,
}

#[async_trait]
impl Publisher for MemPublisher {
    async fn read_jwks(&self) -> Result<Option<Jwks>, PortError> {
        Ok(lock(&self.docs).as_ref().map(|d| d.jwks.clone()))
    }
    async fn read_discovery(&self) -> Result<Option<DiscoveryDocument>, PortError> {
        Ok(lock(&self.docs).as_ref().map(|d| d.discovery.clone()))
    }
    async fn publish(&self, docs: &IssuerDocuments) -> Result<(), PortError> {
        *lock(&self.docs) = Some(docs.clone());
        Ok(())
    }
}

/// When an injected fault strikes relative to the call it interrupts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultMode {
    /// The call fails without taking effect (a crash before it).
    Before,
    /// The call takes effect but its caller sees a failure (a crash after it, or a lost response).
    After,
}

/// Wraps a key store and a publisher: counts mutating calls, fails the Nth one if asked, and after every
/// successful mutation snapshots the state and checks the DESIGN.md §6 invariants against the previous snapshot.
pub struct Harness<S, P> {
    pub store: S,
    pub publisher: P,
    pub algs: Vec<Algorithm>,
    pub policy: RotationPolicy,
    fail_at: Mutex<Option<(usize, FaultMode)>>,
    calls: AtomicUsize,
    now: Mutex<UnixTime>,
    last: Mutex<Option<(KeyState, BTreeSet<Kid>)>>,
    violations: Mutex<Vec<String>>,
}

impl<S: KeyStore, P: Publisher> Harness<S, P> {
    pub fn new(store: S, publisher: P, algs: Vec<Algorithm>, policy: RotationPolicy) -> Self {
        Self {
            store,
            publisher,
            algs,
            policy,
            fail_at: Mutex::new(None),
            calls: AtomicUsize::new(0),
            now: Mutex::new(UnixTime(0)),
            last: Mutex::new(None),
            violations: Mutex::new(Vec::new()),
        }
    }

    /// Fails the `n`th mutating call from now (0-based), once.
    pub fn fail_at(&self, n: usize, mode: FaultMode) {
        self.calls.store(0, Ordering::SeqCst);
        *lock(&self.fail_at) = Some((n, mode));
    }

    pub fn clear_fault(&self) {
        *lock(&self.fail_at) = None;
    }

    /// Mutating calls seen since the last [`Self::fail_at`] (or creation).
    pub fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }

    /// The time the invariants are judged at (set it to the `now` the rotation runs with).
    pub fn set_now(&self, now: UnixTime) {
        *lock(&self.now) = now;
    }

    /// Takes the current state as the baseline of the next invariant check: for tests that edit the store by hand
    /// (past the harness) to build a scenario.
    pub async fn resync(&self) -> Result<(), PortError> {
        let obs = self.observe().await?;
        *lock(&self.last) = Some(obs);
        Ok(())
    }

    pub fn violations(&self) -> Vec<String> {
        lock(&self.violations).clone()
    }

    /// Current state and published kids.
    pub async fn observe(&self) -> Result<(KeyState, BTreeSet<Kid>), PortError> {
        let state = self.store.load(&self.algs).await?;
        let published = self
            .publisher
            .read_jwks()
            .await?
            .map(|j| j.kids().cloned().collect())
            .unwrap_or_default();
        Ok((state, published))
    }

    async fn check(&self) {
        let Ok(obs) = self.observe().await else {
            return;
        };
        let now = *lock(&self.now);
        let prev = lock(&self.last).replace(obs.clone());
        if let Some(prev) = prev {
            let v = invariant_violations((&prev.0, &prev.1), (&obs.0, &obs.1), now, self.policy);
            lock(&self.violations).extend(v);
        }
    }

    /// Runs `f`, applying the configured fault, then checks invariants.
    async fn guarded<T>(
        &self,
        f: impl std::future::Future<Output = Result<T, PortError>>,
    ) -> Result<T, PortError> {
        let n = self.calls.fetch_add(1, Ordering::SeqCst);
        let fault = lock(&self.fail_at)
            .filter(|(at, _)| *at == n)
            .map(|(_, m)| m);
        let injected = || {
            PortError::new(
                PortErrorKind::Transient,
                format!("injected fault at mutating call {n}"),
            )
        };
        if fault == Some(FaultMode::Before) {
            return Err(injected());
        }
        let out = f.await;
        self.check().await;
        match (out, fault) {
            (Ok(_), Some(FaultMode::After)) => Err(injected()),
            (out, _) => out,
        }
    }
}

#[async_trait]
impl<S: KeyStore, P: Publisher> KeyStore for Harness<S, P> {
    async fn load(&self, algs: &[Algorithm]) -> Result<KeyState, PortError> {
        self.store.load(algs).await
    }
    async fn create_key(
        &self,
        alg: Algorithm,
        slot: KeySlot,
        now: UnixTime,
    ) -> Result<KeyId, PortError> {
        self.guarded(self.store.create_key(alg, slot, now)).await
    }
    async fn assign(
        &self,
        alg: Algorithm,
        slot: KeySlot,
        key: Option<&KeyId>,
    ) -> Result<(), PortError> {
        self.guarded(self.store.assign(alg, slot, key)).await
    }
    async fn mark(&self, key: &KeyId, mark: KeyMark) -> Result<(), PortError> {
        self.guarded(self.store.mark(key, mark)).await
    }
    async fn schedule_deletion(&self, key: &KeyId) -> Result<(), PortError> {
        self.guarded(self.store.schedule_deletion(key)).await
    }
}

#[async_trait]
impl<S: KeyStore, P: Publisher> Publisher for Harness<S, P> {
    async fn read_jwks(&self) -> Result<Option<Jwks>, PortError> {
        self.publisher.read_jwks().await
    }
    async fn read_discovery(&self) -> Result<Option<DiscoveryDocument>, PortError> {
        self.publisher.read_discovery().await
    }
    async fn publish(&self, docs: &IssuerDocuments) -> Result<(), PortError> {
        self.guarded(self.publisher.publish(docs)).await
    }
}

/// An in-memory ES256 key with a fixed seed (handler tests), signing JOSE `r||s` like every real signer.
pub struct TestKey {
    key: p256::ecdsa::SigningKey,
    jwk: PublicJwk,
}

#[async_trait]
impl SigningKey for TestKey {
    fn alg(&self) -> Algorithm {
        Algorithm::ES256
    }
    fn kid(&self) -> &Kid {
        self.jwk.kid()
    }
    async fn sign(&self, input: &[u8]) -> Result<Vec<u8>, PortError> {
        use p256::ecdsa::signature::Signer as _;
        let sig: p256::ecdsa::Signature = self.key.sign(input);
        Ok(sig.to_bytes().to_vec())
    }
}

/// A [`Signer`] with one [`TestKey`] for every algorithm asked, or a failure of the given kind.
pub struct TestSigner {
    key: Arc<TestKey>,
    fail: Option<PortErrorKind>,
}

impl TestSigner {
    /// `seed` picks the key (any non-zero byte).
    pub fn new(seed: u8) -> Self {
        use p256::pkcs8::EncodePublicKey as _;
        let key = p256::ecdsa::SigningKey::from_slice(&[seed.max(1); 32])
            .unwrap_or_else(|_| unreachable_key());
        let spki = key
            .verifying_key()
            .to_public_key_der()
            .map(|d| d.as_bytes().to_vec())
            .unwrap_or_default();
        let jwk = PublicJwk::from_spki_der(&spki).unwrap_or_else(|_| unreachable_jwk());
        Self {
            key: Arc::new(TestKey { key, jwk }),
            fail: None,
        }
    }

    /// A signer whose every call fails with `kind`.
    pub fn failing(seed: u8, kind: PortErrorKind) -> Self {
        Self {
            fail: Some(kind),
            ..Self::new(seed)
        }
    }

    /// The public key, as a verifier would fetch it.
    pub fn jwk(&self) -> &PublicJwk {
        &self.key.jwk
    }
}

#[allow(clippy::panic)]
fn unreachable_key() -> p256::ecdsa::SigningKey {
    panic!("a repeated non-zero byte is a valid P-256 scalar")
}

#[allow(clippy::panic)]
fn unreachable_jwk() -> PublicJwk {
    panic!("a P-256 SPKI always converts to a JWK")
}

#[async_trait]
impl Signer for TestSigner {
    async fn signing_key(&self, _alg: Algorithm) -> Result<Arc<dyn SigningKey>, PortError> {
        match self.fail {
            Some(kind) => Err(PortError::new(kind, "injected signer failure")),
            None => Ok(self.key.clone()),
        }
    }
}

/// Issuing rules for tests: the given issuer, policy and algorithms (the first is the default), 900 s default and
/// 3600 s maximum lifetime, 30 s `nbf` skew, no root, no session tags.
pub fn issue_policy(
    issuer: &str,
    policy: crate::policy::AudiencePolicy,
    algorithms: &[Algorithm],
) -> crate::issuer::IssuePolicy {
    crate::issuer::IssuePolicy {
        issuer: issuer.to_owned(),
        policy,
        algorithms: algorithms.to_vec(),
        default_algorithm: algorithms.first().copied().unwrap_or(Algorithm::RS256),
        default_duration: 900,
        max_duration: 3600,
        nbf_skew: 30,
        allow_root: false,
        session_tags: false,
    }
}
