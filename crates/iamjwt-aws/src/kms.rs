//! KMS: the signer (hot path, [`KmsSigner`]) and the key store (rotation, [`KmsKeyStore`]), and what both read
//! the same way: slot alias names, the core's algorithm table in KMS's words, and the checks on a `GetPublicKey`
//! answer.
//!
//! Slots are aliases `alias/<prefix>/<alg>/<slot>`; the facts rotation needs are tags on the key. The key type is
//! read from the SubjectPublicKeyInfo OID (emulators omit `KeySpec`).

use aws_sdk_kms::operation::get_public_key::GetPublicKeyOutput;
use aws_sdk_kms::types::{KeySpec, KeyUsageType, SigningAlgorithmSpec};
use iamjwt_core::jwk::PublicJwk;
use iamjwt_core::{Algorithm, KeySlot, PortError};

mod key_store;
mod signer;

pub use key_store::KmsKeyStore;
pub use signer::{KmsKey, KmsSigner};

fn alias(prefix: &str, alg: Algorithm, slot: KeySlot) -> String {
    format!("{prefix}/{}/{slot}", alg.lower())
}

/// What KMS calls an algorithm: the key spec rotation creates keys with and the algorithm `Sign` is asked for.
struct KmsAlgorithm {
    key_spec: KeySpec,
    signing: SigningAlgorithmSpec,
}

/// From the core's algorithm table (the one place an algorithm is described).
fn kms_algorithm(alg: Algorithm) -> KmsAlgorithm {
    let spec = alg.spec();
    KmsAlgorithm {
        key_spec: KeySpec::from(spec.kms_key_spec),
        signing: SigningAlgorithmSpec::from(spec.kms_signing_algorithm),
    }
}

/// A `GetPublicKey` answer → JWK, checking it is a signing key of the algorithm we expect. `KeyUsage`,
/// `SigningAlgorithms` and `KeySpec` are checked when present (emulators omit some); the SPKI's key type always is.
fn checked_jwk(
    what: &str,
    out: &GetPublicKeyOutput,
    alg: Algorithm,
) -> Result<PublicJwk, PortError> {
    let wrong = |m: String| PortError::other(format!("{what}: {m}, expected a {alg} signing key"));
    if let Some(usage) = out.key_usage()
        && *usage != KeyUsageType::SignVerify
    {
        return Err(wrong(format!("key usage {usage}")));
    }
    let want = kms_algorithm(alg);
    if let Some(spec) = out.key_spec()
        && *spec != want.key_spec
    {
        return Err(wrong(format!("key spec {spec}")));
    }
    let algs = out.signing_algorithms();
    if !algs.is_empty() && !algs.contains(&want.signing) {
        return Err(wrong(format!("signing algorithms {algs:?}")));
    }
    let spki = out
        .public_key()
        .ok_or_else(|| PortError::other(format!("GetPublicKey {what}: no public key")))?;
    let jwk = PublicJwk::from_spki_der(spki.as_ref())
        .map_err(|e| PortError::other(format!("{what}: {e}")))?;
    if jwk.alg() != alg {
        return Err(wrong(format!("a {} key", jwk.alg())));
    }
    Ok(jwk)
}
