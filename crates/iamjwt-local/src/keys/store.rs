//! The rotation port over the state directory: creates keys, fills slots, marks and deletes. Never signs.

use super::{KeyFile, Material, key_path, port, read_key_file, write_key_file};
use crate::error::Error;
use crate::fsutil::write_atomic;
use async_trait::async_trait;
use iamjwt_core::keys::{KeyMark, KeyRecord, KeyState, Slots};
use iamjwt_core::ports::KeyStore;
use iamjwt_core::{Algorithm, KeyId, KeySlot, PortError, UnixTime};
use std::path::PathBuf;

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
