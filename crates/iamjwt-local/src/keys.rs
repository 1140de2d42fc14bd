//! Software keys under a state directory: the local stand-in for KMS.
//!
//! `keys.json` records every key (the core's [`KeyRecord`]: kid, public key, published/demoted times, compromised,
//! pending deletion) and the three slots per algorithm; private keys are PKCS#8 DER files `keys/<id>.pk8`, mode 0600. Every write is
//! atomic. [`SoftKeyStore`] implements the rotation port; [`SoftSigner`] the signing port, caching the current
//! keys in memory and re-reading the state file at most once per refresh interval (and only if it changed) —
//! the same contract as the KMS signer's alias TTL.

use crate::error::Error;
use crate::fsutil::{read_optional, write_atomic};
use crate::layout;
use async_trait::async_trait;
use iamjwt_core::jwk::PublicJwk;
use iamjwt_core::keys::{KeyMark, KeyRecord, KeyState, Slots, records_by_id};
use iamjwt_core::ports::{KeyStore, Signer, SigningKey};
use iamjwt_core::{Algorithm, KeyId, KeySlot, Kid, PortError, PortErrorKind, UnixTime};
use p256::pkcs8::{DecodePrivateKey as _, EncodePrivateKey as _, EncodePublicKey as _};
use rsa::signature::{SignatureEncoding as _, Signer as _};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant, SystemTime};

type RsaSigningKey = rsa::pkcs1v15::SigningKey<sha2::Sha256>;

/// Modulus size of local RSA keys: the core table's RS256 size (RSA-2048, like KMS `RSA_2048` in AWS mode, DESIGN.md
/// §5), so local tokens and JWKS have the shapes verifiers will see in production. (The `rsa` crate's own default
/// is 3072.)
pub const RSA_BITS: usize = match Algorithm::RS256.spec().key {
    iamjwt_core::alg::KeyType::Rsa { bits } => bits,
    iamjwt_core::alg::KeyType::Ec(_) => 0,
};

/// `keys.json`.
#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct KeyFile {
    version: u32,
    #[serde(with = "records_by_id")]
    keys: BTreeMap<KeyId, KeyRecord>,
    slots: BTreeMap<Algorithm, BTreeMap<KeySlot, KeyId>>,
}

fn read_key_file(state: &Path) -> Result<KeyFile, Error> {
    let path = layout::key_state_file(state);
    match read_optional(&path)? {
        None => Ok(KeyFile {
            version: 1,
            ..KeyFile::default()
        }),
        Some(bytes) => serde_json::from_slice(&bytes).map_err(|e| Error::Corrupt {
            path,
            reason: e.to_string(),
        }),
    }
}

fn write_key_file(state: &Path, f: &KeyFile) -> Result<(), Error> {
    let bytes = serde_json::to_vec_pretty(f).map_err(|e| Error::Key(e.to_string()))?;
    write_atomic(&layout::key_state_file(state), &bytes, 0o600)
}

fn key_path(state: &Path, id: &KeyId) -> PathBuf {
    layout::keys_dir(state).join(format!("{id}.pk8"))
}

/// Private key material.
enum Material {
    Rsa(Box<RsaSigningKey>),
    Ec(p256::ecdsa::SigningKey),
    EcP384(p384::ecdsa::SigningKey),
}

impl Material {
    fn generate(alg: Algorithm) -> Result<Self, Error> {
        use rsa::Generate as _;
        Ok(match alg {
            Algorithm::RS256 => {
                let key = rsa::PrivateKey::new(&mut getrandom::SysRng, RSA_BITS)
                    .map_err(|e| Error::Key(format!("RSA key generation: {e}")))?;
                Self::Rsa(Box::new(RsaSigningKey::new(key)))
            }
            Algorithm::ES256 => Self::Ec(
                p256::ecdsa::SigningKey::try_generate()
                    .map_err(|e| Error::Key(format!("P-256 generation: {e}")))?,
            ),
            Algorithm::ES384 => Self::EcP384(
                p384::ecdsa::SigningKey::try_generate()
                    .map_err(|e| Error::Key(format!("P-384 generation: {e}")))?,
            ),
        })
    }

    fn from_pkcs8(alg: Algorithm, der: &[u8]) -> Result<Self, Error> {
        Ok(match alg {
            Algorithm::RS256 => Self::Rsa(Box::new(RsaSigningKey::new(
                rsa::PrivateKey::from_pkcs8_der(der)
                    .map_err(|e| Error::Key(format!("RSA PKCS#8: {e}")))?,
            ))),
            Algorithm::ES256 => Self::Ec(
                p256::ecdsa::SigningKey::from_pkcs8_der(der)
                    .map_err(|e| Error::Key(format!("P-256 PKCS#8: {e}")))?,
            ),
            Algorithm::ES384 => Self::EcP384(
                p384::ecdsa::SigningKey::from_pkcs8_der(der)
                    .map_err(|e| Error::Key(format!("P-384 PKCS#8: {e}")))?,
            ),
        })
    }

    fn to_pkcs8(&self) -> Result<Vec<u8>, Error> {
        let doc = match self {
            Self::Rsa(k) => k.as_ref().as_ref().to_pkcs8_der(),
            Self::Ec(k) => k.to_pkcs8_der(),
            Self::EcP384(k) => k.to_pkcs8_der(),
        };
        doc.map(|d| d.as_bytes().to_vec())
            .map_err(|e| Error::Key(format!("PKCS#8 encoding: {e}")))
    }

    fn public_jwk(&self) -> Result<PublicJwk, Error> {
        let spki = match self {
            Self::Rsa(k) => k.as_ref().as_ref().to_public_key().to_public_key_der(),
            Self::Ec(k) => k.verifying_key().to_public_key_der(),
            Self::EcP384(k) => k.verifying_key().to_public_key_der(),
        }
        .map_err(|e| Error::Key(format!("SPKI encoding: {e}")))?;
        Ok(PublicJwk::from_spki_der(spki.as_bytes())?)
    }

    fn sign(&self, input: &[u8]) -> Result<Vec<u8>, Error> {
        match self {
            // RSA signing blinds with the OS RNG (rsa 0.10 + getrandom).
            Self::Rsa(k) => k
                .try_sign(input)
                .map(|s| s.to_vec())
                .map_err(|e| Error::Key(format!("RSA sign: {e}"))),
            Self::Ec(k) => {
                let sig: p256::ecdsa::Signature = k
                    .try_sign(input)
                    .map_err(|e| Error::Key(format!("ECDSA sign: {e}")))?;
                Ok(sig.to_bytes().to_vec())
            }
            Self::EcP384(k) => {
                let sig: p384::ecdsa::Signature = k
                    .try_sign(input)
                    .map_err(|e| Error::Key(format!("ECDSA sign: {e}")))?;
                Ok(sig.to_bytes().to_vec())
            }
        }
    }
}

fn port(e: Error) -> PortError {
    e.into()
}

/// The rotation port over the state directory.
#[derive(Debug, Clone)]
pub struct SoftKeyStore {
    state: PathBuf,
}

impl SoftKeyStore {
    pub fn new(state_dir: impl Into<PathBuf>) -> Self {
        Self {
            state: state_dir.into(),
        }
    }

    fn update<T>(&self, f: impl FnOnce(&mut KeyFile) -> Result<T, Error>) -> Result<T, PortError> {
        let mut file = read_key_file(&self.state).map_err(port)?;
        let out = f(&mut file).map_err(port)?;
        write_key_file(&self.state, &file).map_err(port)?;
        Ok(out)
    }
}

fn not_found(what: impl std::fmt::Display) -> Error {
    Error::Io {
        path: PathBuf::from(what.to_string()),
        source: std::io::Error::from(std::io::ErrorKind::NotFound),
    }
}

#[async_trait]
impl KeyStore for SoftKeyStore {
    async fn load(&self, algs: &[Algorithm]) -> Result<KeyState, PortError> {
        let file = read_key_file(&self.state).map_err(port)?;
        let mut state = KeyState::default();
        for &alg in algs {
            let get = |slot| file.keys.get(file.slots.get(&alg)?.get(&slot)?).cloned();
            state.algs.insert(alg, Slots::from_fn(get));
        }
        Ok(state)
    }

    async fn create_key(
        &self,
        alg: Algorithm,
        slot: KeySlot,
        now: UnixTime,
    ) -> Result<KeyId, PortError> {
        if read_key_file(&self.state)
            .map_err(port)?
            .slots
            .get(&alg)
            .is_some_and(|s| s.contains_key(&slot))
        {
            return Err(PortError::other(format!("{alg} {slot} slot is not empty")));
        }
        let material = Material::generate(alg).map_err(port)?;
        let jwk = material.public_jwk().map_err(port)?;
        let mut nonce = [0u8; 4];
        getrandom::fill(&mut nonce).map_err(|e| PortError::other(e.to_string()))?;
        let id = KeyId::new(format!(
            "{}-{}-{:08x}",
            alg.lower(),
            now,
            u32::from_le_bytes(nonce)
        ));
        // Key file first: a crash before the state file names it leaves an unused file, never a dangling slot.
        write_atomic(
            &key_path(&self.state, &id),
            &material.to_pkcs8().map_err(port)?,
            0o600,
        )
        .map_err(port)?;
        self.update(|f| {
            if f.slots.get(&alg).is_some_and(|s| s.contains_key(&slot)) {
                return Err(Error::Key(format!("{alg} {slot} slot is not empty")));
            }
            f.keys
                .insert(id.clone(), KeyRecord::new(id.clone(), jwk, now));
            f.slots.entry(alg).or_default().insert(slot, id.clone());
            Ok(id.clone())
        })
    }

    async fn assign(
        &self,
        alg: Algorithm,
        slot: KeySlot,
        key: Option<&KeyId>,
    ) -> Result<(), PortError> {
        self.update(|f| {
            match key {
                Some(k) => {
                    let stored = f.keys.get(k).ok_or_else(|| not_found(k))?;
                    if stored.alg != alg {
                        return Err(Error::Key(format!(
                            "{k} is a {} key, not {alg}",
                            stored.alg
                        )));
                    }
                    f.slots.entry(alg).or_default().insert(slot, k.clone());
                }
                None => {
                    f.slots.entry(alg).or_default().remove(&slot);
                }
            }
            Ok(())
        })
    }

    async fn mark(&self, key: &KeyId, mark: KeyMark) -> Result<(), PortError> {
        self.update(|f| {
            f.keys
                .get_mut(key)
                .ok_or_else(|| not_found(key))?
                .apply(mark);
            Ok(())
        })
    }

    async fn schedule_deletion(&self, key: &KeyId) -> Result<(), PortError> {
        // Locally there is no pending window: the private key goes at once. File first, so a crash in between
        // leaves a record whose deletion is simply repeated.
        let path = key_path(&self.state, key);
        match std::fs::remove_file(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(port(Error::io(path, e))),
        }
        self.update(|f| {
            f.keys
                .get_mut(key)
                .ok_or_else(|| not_found(key))?
                .set_pending_deletion();
            Ok(())
        })
    }
}

/// One loaded signing key.
pub struct SoftKey {
    alg: Algorithm,
    kid: Kid,
    id: KeyId,
    material: Material,
}

#[async_trait]
impl SigningKey for SoftKey {
    fn alg(&self) -> Algorithm {
        self.alg
    }
    fn kid(&self) -> &Kid {
        &self.kid
    }
    async fn sign(&self, signing_input: &[u8]) -> Result<Vec<u8>, PortError> {
        self.material.sign(signing_input).map_err(port)
    }
}

/// File identity used to skip re-reading an unchanged state file.
type Stamp = Option<(SystemTime, u64)>;

struct Loaded {
    checked_at: Instant,
    stamp: Stamp,
    keys: BTreeMap<Algorithm, Arc<SoftKey>>,
}

/// The signing port over the state directory: current keys held in memory.
pub struct SoftSigner {
    state: PathBuf,
    refresh: Duration,
    cache: RwLock<Arc<Loaded>>,
    refreshing: Mutex<()>,
}

fn stamp(path: &Path) -> Stamp {
    let m = std::fs::metadata(path).ok()?;
    Some((m.modified().ok()?, m.len()))
}

impl SoftSigner {
    /// Loads the current keys now (fails if the state file is unreadable).
    pub fn open(state_dir: impl Into<PathBuf>, refresh: Duration) -> Result<Self, Error> {
        let state = state_dir.into();
        let loaded = Self::load(&state, None)?;
        Ok(Self {
            state,
            refresh,
            cache: RwLock::new(Arc::new(loaded)),
            refreshing: Mutex::new(()),
        })
    }

    fn load(state: &Path, previous: Option<&Loaded>) -> Result<Loaded, Error> {
        let stamp = stamp(&layout::key_state_file(state));
        let file = read_key_file(state)?;
        let mut keys = BTreeMap::new();
        for (alg, slots) in &file.slots {
            let Some(id) = slots.get(&KeySlot::Current) else {
                continue;
            };
            let Some(stored) = file.keys.get(id) else {
                continue;
            };
            if stored.pending_deletion {
                continue;
            }
            if let Some(k) = previous
                .and_then(|p| p.keys.get(alg))
                .filter(|k| &k.id == id)
            {
                keys.insert(*alg, k.clone());
                continue;
            }
            let path = key_path(state, id);
            let der = std::fs::read(&path).map_err(|e| Error::io(&path, e))?;
            let material = Material::from_pkcs8(*alg, &der)?;
            let kid = material.public_jwk()?.kid().clone();
            if kid != stored.kid {
                return Err(Error::Corrupt {
                    path,
                    reason: format!("key's thumbprint {kid} ≠ recorded {}", stored.kid),
                });
            }
            keys.insert(
                *alg,
                Arc::new(SoftKey {
                    alg: *alg,
                    kid,
                    id: id.clone(),
                    material,
                }),
            );
        }
        Ok(Loaded {
            checked_at: Instant::now(),
            stamp,
            keys,
        })
    }

    fn current(&self) -> Arc<Loaded> {
        self.cache
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    fn refresh(&self) -> Result<(), Error> {
        // One refresher at a time; others keep using the (slightly stale) cache meanwhile.
        let Ok(_guard) = self.refreshing.try_lock() else {
            return Ok(());
        };
        let old = self.current();
        if old.checked_at.elapsed() < self.refresh {
            return Ok(());
        }
        let fresh = if stamp(&layout::key_state_file(&self.state)) == old.stamp {
            Loaded {
                checked_at: Instant::now(),
                stamp: old.stamp,
                keys: old.keys.clone(),
            }
        } else {
            Self::load(&self.state, Some(&old))?
        };
        *self
            .cache
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Arc::new(fresh);
        Ok(())
    }
}

#[async_trait]
impl Signer for SoftSigner {
    async fn signing_key(&self, alg: Algorithm) -> Result<Arc<dyn SigningKey>, PortError> {
        if self.current().checked_at.elapsed() >= self.refresh
            && let Err(e) = self.refresh()
        {
            tracing::error!(error = %e, "reloading local keys failed; keeping the keys in memory");
        }
        match self.current().keys.get(&alg) {
            Some(k) => Ok(k.clone()),
            None => Err(PortError::new(
                PortErrorKind::NotFound,
                format!(
                    "no current {alg} key in {}: run `iamjwt rotate`",
                    self.state.display()
                ),
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use iamjwt_core::rotation::{RotationPolicy, Rotator, Step};
    use iamjwt_core::testing::{FaultMode, Harness};
    use std::os::unix::fs::PermissionsExt;

    const ALGS: [Algorithm; 2] = [Algorithm::RS256, Algorithm::ES256];
    const POLICY: RotationPolicy = RotationPolicy {
        min_publish_age: 100,
        retire_after: 50,
    };

    async fn run(
        h: &Harness<SoftKeyStore, crate::publisher::DirPublisher>,
        now: u64,
    ) -> Result<(), iamjwt_core::Error> {
        h.set_now(UnixTime(now));
        let r = Rotator {
            store: h,
            publisher: h,
            issuer: "http://127.0.0.1:1",
            algs: &ALGS,
            policy: POLICY,
        };
        for step in Step::ALL {
            r.run_step(step, false, UnixTime(now)).await?;
        }
        Ok(())
    }

    fn harness(dir: &Path) -> Harness<SoftKeyStore, crate::publisher::DirPublisher> {
        Harness::new(
            SoftKeyStore::new(dir),
            crate::publisher::DirPublisher::new(layout::public_dir(dir), 3600),
            ALGS.to_vec(),
            POLICY,
        )
    }

    #[tokio::test]
    async fn soft_store_rotates_and_signer_follows() {
        let dir = tempfile::tempdir().unwrap();
        let h = harness(dir.path());
        run(&h, 1000).await.unwrap();
        // Private keys are 0600 PKCS#8 files.
        for entry in std::fs::read_dir(layout::keys_dir(dir.path())).unwrap() {
            let meta = entry.unwrap().metadata().unwrap();
            assert_eq!(meta.permissions().mode() & 0o777, 0o600);
        }
        let signer = SoftSigner::open(dir.path(), Duration::from_millis(0)).unwrap();
        let state = h.store.load(&ALGS).await.unwrap();
        for alg in ALGS {
            let key = signer.signing_key(alg).await.unwrap();
            assert_eq!(key.kid(), &state.algs[&alg].current.as_ref().unwrap().kid);
            let sig = key.sign(b"abc").await.unwrap();
            alg.check_signature(&sig).unwrap();
        }
        let before = signer
            .signing_key(Algorithm::ES256)
            .await
            .unwrap()
            .kid()
            .clone();
        run(&h, 1200).await.unwrap();
        let after = signer
            .signing_key(Algorithm::ES256)
            .await
            .unwrap()
            .kid()
            .clone();
        assert_ne!(before, after, "signer picked up the promoted key");
        assert_eq!(h.violations(), Vec::<String>::new());

        // Retire: the demoted key's file goes.
        run(&h, 1400).await.unwrap();
        let keys = std::fs::read_dir(layout::keys_dir(dir.path()))
            .unwrap()
            .count();
        assert_eq!(
            keys, 6,
            "the first two keys are gone; previous, current and pending remain"
        );
    }

    #[tokio::test]
    async fn crash_injection_on_real_files() {
        // Count mutations of a rotation, then crash at each and resume.
        let dir = tempfile::tempdir().unwrap();
        let h = harness(dir.path());
        run(&h, 1000).await.unwrap();
        h.fail_at(usize::MAX, FaultMode::Before);
        run(&h, 1200).await.unwrap();
        let total = h.calls();
        for n in 0..total {
            let dir = tempfile::tempdir().unwrap();
            let h = harness(dir.path());
            run(&h, 1000).await.unwrap();
            h.fail_at(n, FaultMode::After);
            assert!(run(&h, 1200).await.is_err());
            h.clear_fault();
            // Re-running converges; if the fault hit the run's very last call the run had in fact finished,
            // and the re-run is a second, too-early rotation: refused, changing nothing.
            match run(&h, 1200).await {
                Ok(())
                | Err(iamjwt_core::Error::Refused(
                    iamjwt_core::error::Refusal::UnsafePromotion { .. },
                )) => {}
                Err(e) => panic!("resume after {n}: {e}"),
            }
            assert_eq!(h.violations(), Vec::<String>::new(), "fault {n}");
            let (state, published) = h.observe().await.unwrap();
            for alg in ALGS {
                let cur = state.algs[&alg].current.as_ref().unwrap();
                assert!(published.contains(&cur.kid));
            }
        }
    }

    /// `keys.json` as the soft store wrote it before it stored the core's `KeyRecord` (iamjwt-cli at 3178405:
    /// `iamjwt rotate`, then `--now +25h`, then `--now +26h --emergency`): every slot filled, demoted keys,
    /// compromised keys pending deletion with no public key, 3072-bit RSA keys.
    const KEYS_V1: &str = include_str!("../tests/fixtures/keys-v1.json");

    #[tokio::test]
    async fn loads_and_rewrites_keys_json_in_the_original_format() {
        let fixture: serde_json::Value = serde_json::from_str(KEYS_V1).unwrap();
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(layout::key_state_file(dir.path()), KEYS_V1).unwrap();
        let store = SoftKeyStore::new(dir.path());
        let state = store.load(&ALGS).await.unwrap();
        let t = |v: &serde_json::Value| v.as_u64().map(UnixTime);
        for alg in ALGS {
            let alg_name = serde_json::to_value(alg).unwrap();
            for slot in [KeySlot::Pending, KeySlot::Current, KeySlot::Previous] {
                let slot_name = serde_json::to_value(slot).unwrap();
                let id = fixture["slots"][alg_name.as_str().unwrap()][slot_name.as_str().unwrap()]
                    .as_str()
                    .unwrap();
                let want = &fixture["keys"][id];
                let got = state.algs[&alg].get(slot).unwrap();
                assert_eq!(got.id.as_str(), id);
                assert_eq!(serde_json::to_value(got.alg).unwrap(), want["alg"]);
                assert_eq!(got.kid.as_str(), want["kid"].as_str().unwrap());
                assert_eq!(serde_json::to_value(&got.jwk).unwrap(), want["jwk"]);
                assert_eq!(Some(got.created_at), t(&want["created_at"]));
                assert_eq!(got.published_at, t(&want["published_at"]));
                assert_eq!(got.demoted_at, t(&want["demoted_at"]));
                assert_eq!(got.compromised, want["compromised"].as_bool().unwrap());
                assert_eq!(
                    got.pending_deletion,
                    want["pending_deletion"].as_bool().unwrap()
                );
            }
            let prev = state.algs[&alg].previous.as_ref().unwrap();
            assert!(prev.demoted_at.is_some() && prev.jwk.is_some());
        }
        // The file also holds keys outside every slot (the compromised ones), which must survive a rewrite.
        let compromised: Vec<_> = fixture["keys"]
            .as_object()
            .unwrap()
            .values()
            .filter(|k| {
                k["compromised"] == true && k["pending_deletion"] == true && k["jwk"].is_null()
            })
            .collect();
        assert_eq!(compromised.len(), 2);

        // A write that changes nothing (re-marking a key published at its recorded time) rewrites the file with
        // the same names and values: today's format, not a new one.
        let cur = state.algs[&Algorithm::RS256].current.clone().unwrap();
        store
            .mark(&cur.id, KeyMark::Published(cur.published_at.unwrap()))
            .await
            .unwrap();
        let rewritten: serde_json::Value =
            serde_json::from_slice(&std::fs::read(layout::key_state_file(dir.path())).unwrap())
                .unwrap();
        assert_eq!(rewritten, fixture);
    }

    #[test]
    fn rsa_keys_are_2048_bit() {
        use base64::Engine as _;
        assert_eq!(RSA_BITS, 2048);
        let m = Material::generate(Algorithm::RS256).unwrap();
        let jwk = m.public_jwk().unwrap();
        let iamjwt_core::jwk::KeyParams::Rsa { n, .. } = jwk.params() else {
            panic!("RS256 key with a non-RSA JWK: {jwk:?}");
        };
        let n = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(n)
            .unwrap();
        assert_eq!(n.len() * 8, RSA_BITS, "modulus of {} bytes", n.len());
        assert!(n[0] & 0x80 != 0, "top bit of the modulus is set");
        // And the key survives its PKCS#8 file.
        let again = Material::from_pkcs8(Algorithm::RS256, &m.to_pkcs8().unwrap()).unwrap();
        assert_eq!(again.public_jwk().unwrap(), jwk);
    }

    #[test]
    fn corrupt_state_file_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(layout::key_state_file(dir.path()), b"{not json").unwrap();
        let err = SoftSigner::open(dir.path(), Duration::from_secs(1))
            .err()
            .unwrap();
        assert!(err.to_string().contains("keys.json"), "{err}");
    }
}
