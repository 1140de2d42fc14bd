//! The ports: what the domain needs from the outside world. Local mode (soft keys, a directory) and AWS (KMS, S3)
//! implement the same traits, so the handlers and the rotation runner cannot tell them apart.

use crate::claims::SessionTags;
use crate::discovery::IssuerDocuments;
use crate::error::PortError;
use crate::identity::Caller;
use crate::jwk::Jwks;
use crate::keys::{KeyMark, KeyState};
use crate::time::UnixTime;
use crate::types::{Algorithm, KeyId, KeySlot, Kid};
use async_trait::async_trait;
use std::sync::Arc;

/// A key that is signing right now. Obtained from [`Signer::signing_key`] so that the `kid` put in the header and
/// the key that signs are the same object, even if a rotation lands in between.
#[async_trait]
pub trait SigningKey: Send + Sync {
    fn alg(&self) -> Algorithm;
    fn kid(&self) -> &Kid;
    /// Signs the JWS signing input; returns the JOSE-form signature (ES256: 64-byte `r||s`).
    async fn sign(&self, signing_input: &[u8]) -> Result<Vec<u8>, PortError>;
}

/// Resolves the current key of an algorithm. Implementations cache: the warm path must not do I/O here.
#[async_trait]
pub trait Signer: Send + Sync {
    async fn signing_key(&self, alg: Algorithm) -> Result<Arc<dyn SigningKey>, PortError>;
}

/// The keys and their slots. Every method must be idempotent: repeating a call that succeeded changes nothing.
#[async_trait]
pub trait KeyStore: Send + Sync {
    /// Snapshot of the three slots of each algorithm.
    async fn load(&self, algs: &[Algorithm]) -> Result<KeyState, PortError>;
    /// Creates a fresh key and points `slot` (which must be empty) at it.
    async fn create_key(
        &self,
        alg: Algorithm,
        slot: KeySlot,
        now: UnixTime,
    ) -> Result<KeyId, PortError>;
    /// Points `slot` at `key`, or empties it with `None`.
    async fn assign(
        &self,
        alg: Algorithm,
        slot: KeySlot,
        key: Option<&KeyId>,
    ) -> Result<(), PortError>;
    async fn mark(&self, key: &KeyId, mark: KeyMark) -> Result<(), PortError>;
    /// Schedules deletion (KMS pending window; locally the key file goes). Already scheduled is success.
    async fn schedule_deletion(&self, key: &KeyId) -> Result<(), PortError>;
}

/// Where the issuer documents live (S3 behind CloudFront, or a directory).
#[async_trait]
pub trait Publisher: Send + Sync {
    /// The JWKS as currently published, `None` before the first publish.
    async fn read_jwks(&self) -> Result<Option<Jwks>, PortError>;
    /// Writes the JWKS, then discovery. Each document is replaced atomically.
    async fn publish(&self, docs: &IssuerDocuments) -> Result<(), PortError>;
}

/// Principal tags for the opt-in `https://aws.amazon.com/tags` claim.
#[async_trait]
pub trait TagSource: Send + Sync {
    async fn session_tags(&self, caller: &Caller) -> Result<Option<SessionTags>, PortError>;
}

/// A [`TagSource`] that never has tags.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoTags;

#[async_trait]
impl TagSource for NoTags {
    async fn session_tags(&self, _caller: &Caller) -> Result<Option<SessionTags>, PortError> {
        Ok(None)
    }
}
