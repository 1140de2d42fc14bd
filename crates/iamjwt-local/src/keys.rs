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
use iamjwt_core::jwk::PublicJwk;
use iamjwt_core::keys::{KeyRecord, records_by_id};
use iamjwt_core::{Algorithm, KeyId, KeySlot, PortError};
use p256::pkcs8::{DecodePrivateKey as _, EncodePrivateKey as _, EncodePublicKey as _};
use rsa::signature::{SignatureEncoding as _, Signer as _};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

mod signer;
mod store;
#[cfg(test)]
mod tests;

pub use signer::{SoftKey, SoftSigner};
pub use store::SoftKeyStore;

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
