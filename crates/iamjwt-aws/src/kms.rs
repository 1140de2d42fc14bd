//! KMS: the signer (hot path, [`KmsSigner`]), the key store (rotation, [`KmsKeyStore`]) and, for an issuer in
//! several regions, the replica regions of its multi-Region keys ([`KmsRegions`]); and what they read and write
//! the same way: slot alias names, the core's algorithm table in KMS's words, the checks on a `GetPublicKey`
//! answer, alias moves, tags and scheduled deletion.
//!
//! Slots are aliases `alias/<prefix>/<alg>/<slot>`; the facts rotation needs are tags on the key. The key type is
//! read from the SubjectPublicKeyInfo OID (emulators omit `KeySpec`). Every key carries the key policy of
//! [`key_policy`]: only the token role may sign.

use crate::error::classify;
use aws_sdk_kms::Client;
use aws_sdk_kms::operation::get_public_key::GetPublicKeyOutput;
use aws_sdk_kms::types::{KeySpec, KeyState, KeyUsageType, SigningAlgorithmSpec, Tag};
use iamjwt_core::jwk::PublicJwk;
use iamjwt_core::{Algorithm, KeyId, KeySlot, PortError, PortErrorKind};

pub mod key_policy;
mod key_store;
mod regions;
mod signer;

pub use key_policy::KeyAccess;
pub use key_store::KmsKeyStore;
pub use regions::KmsRegions;
pub use signer::{KmsKey, KmsSigner};

fn tag(k: &str, v: impl Into<String>) -> Result<Tag, PortError> {
    Tag::builder()
        .tag_key(k)
        .tag_value(v)
        .build()
        .map_err(|e| PortError::other(e.to_string()))
}

/// Scheduled for deletion: `PendingDeletion`, or `PendingReplicaDeletion` (a multi-Region primary key waiting for
/// its replicas to go first). Neither can sign.
fn pending_deletion(state: Option<&KeyState>) -> bool {
    matches!(
        state,
        Some(KeyState::PendingDeletion | KeyState::PendingReplicaDeletion)
    )
}

/// Points alias `name` at `key` (creating it if missing), or deletes it with `None` (already gone is success).
async fn point_alias(client: &Client, name: &str, key: Option<&KeyId>) -> Result<(), PortError> {
    match key {
        Some(k) => {
            let updated = client
                .update_alias()
                .alias_name(name)
                .target_key_id(k.as_str())
                .send()
                .await;
            match updated.map_err(|e| classify("UpdateAlias", e)) {
                Ok(_) => Ok(()),
                Err(e) if e.kind == PortErrorKind::NotFound => client
                    .create_alias()
                    .alias_name(name)
                    .target_key_id(k.as_str())
                    .send()
                    .await
                    .map(|_| ())
                    .map_err(|e| classify("CreateAlias", e)),
                Err(e) => Err(e),
            }
        }
        None => match client
            .delete_alias()
            .alias_name(name)
            .send()
            .await
            .map_err(|e| classify("DeleteAlias", e))
        {
            Ok(_) => Ok(()),
            Err(e) if e.kind == PortErrorKind::NotFound => Ok(()),
            Err(e) => Err(e),
        },
    }
}

/// Schedules deletion of `key` with a `days` window; a key already scheduled is success (the step stays
/// idempotent).
async fn schedule_deletion(client: &Client, key: &KeyId, days: i32) -> Result<(), PortError> {
    let out = client
        .schedule_key_deletion()
        .key_id(key.as_str())
        .pending_window_in_days(days)
        .send()
        .await;
    match out.map_err(|e| classify("ScheduleKeyDeletion", e)) {
        Ok(_) => Ok(()),
        Err(e) if e.kind == PortErrorKind::Disabled => {
            let d = client
                .describe_key()
                .key_id(key.as_str())
                .send()
                .await
                .map_err(|e| classify("DescribeKey", e))?;
            if pending_deletion(d.key_metadata().and_then(|m| m.key_state())) {
                Ok(())
            } else {
                Err(e)
            }
        }
        Err(e) => Err(e),
    }
}

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
