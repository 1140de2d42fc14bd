//! The ports: what the domain needs from the outside world. Local mode (soft keys, a directory) and AWS (KMS, S3)
//! implement the same traits, so the handlers and the rotation runner cannot tell them apart.

use crate::discovery::{DiscoveryDocument, IssuerDocuments};
use crate::error::PortError;
use crate::identity::Caller;
use crate::jwk::Jwks;
use crate::keys::{KeyMark, KeyState};
use crate::template::PrincipalTags;
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
    /// Snapshot of the three slots of each configured algorithm, and of each other algorithm whose slots still hold a
    /// key (one removed from the set: its keys must stay published until its tokens expire, then be deleted), listed
    /// in [`KeyState::removed`] ([`KeyState::removed_among`], [`KeyState::insert_removed`]).
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
    /// The discovery document as currently published, `None` before the first publish. Rotation compares it with
    /// the one its settings imply, so a changed issuer (or algorithm set) is republished even when no key changed.
    async fn read_discovery(&self) -> Result<Option<DiscoveryDocument>, PortError>;
    /// Writes the JWKS, then discovery. Each document is replaced atomically.
    async fn publish(&self, docs: &IssuerDocuments) -> Result<(), PortError>;
}

/// The principal's tags (IAM tags in AWS, the principals file locally): what `{tag:KEY}` templates, a rule's
/// `session_tags` and `IAMJWT_SESSION_TAGS` read. The issuer asks only when the deciding rule needs tags.
#[async_trait]
pub trait TagSource: Send + Sync {
    /// Every tag of the caller's principal (for an assumed role, the role's); empty when it has none (federated
    /// users and the root user have no IAM tags). Implementations cache; a failure is an error, never "no tags".
    async fn principal_tags(&self, caller: &Caller) -> Result<Arc<PrincipalTags>, PortError>;
}

/// What an issuer without a tag source has: every lookup fails (a request that needs tags must not get a token
/// without them). Deployments that use tags wire a real source; configuration refuses the rest at start.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoTags;

#[async_trait]
impl TagSource for NoTags {
    async fn principal_tags(&self, _caller: &Caller) -> Result<Arc<PrincipalTags>, PortError> {
        Err(PortError::other(
            "this issuer has no principal-tag source, but the deciding rule needs tags",
        ))
    }
}
