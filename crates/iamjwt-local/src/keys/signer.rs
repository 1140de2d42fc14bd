//! The signing port over the state directory: the current key of each algorithm held in memory, re-read when
//! the state file changes. Never writes the state directory.

use super::{Material, key_path, port, read_key_file};
use crate::error::Error;
use crate::layout;
use async_trait::async_trait;
use iamjwt_core::ports::{Signer, SigningKey};
use iamjwt_core::{Algorithm, KeyId, KeySlot, Kid, PortError, PortErrorKind};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant, SystemTime};

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
