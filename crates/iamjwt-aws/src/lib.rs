//! AWS adapters for the core's ports, built on the AWS SDK for Rust with one TLS stack (rustls + ring).
//!
//! - [`kms::KmsSigner`]: the signing port — one `GetPublicKey` on the alias gives key ARN, public key and kid,
//!   cached for a TTL and refreshed in the background; exactly one KMS call (`Sign`, `MessageType=RAW`, by key
//!   ARN) per warm token;
//! - [`kms::KmsKeyStore`]: the rotation port — keys (each with the key policy of [`kms::key_policy`]: only the
//!   token role signs), slot aliases `alias/<prefix>/<alg>/<slot>`, facts as tags;
//! - [`s3::S3Publisher`]: discovery and JWKS objects in the issuer bucket;
//! - [`sfn::RotationExecutions`]: start and follow a rotation execution of the state machine;
//! - [`iam_tags::IamTagSource`]: the principal-tag port — IAM `ListRoleTags`/`ListUserTags`, cached per
//!   principal, other accounts through a reader role;
//! - [`emf`]: CloudWatch Embedded Metric Format lines.
//!
//! SDK errors are mapped to meanings ([`iamjwt_core::PortErrorKind`]) here, at the edge.

pub mod emf;
pub mod error;
pub mod iam_tags;
pub mod kms;
pub mod published;
pub mod s3;
pub mod sdk;
pub mod sfn;
#[cfg(feature = "testing")]
pub mod testing;

pub use error::Error;

/// Tag keys on every KMS key this issuer creates (defined in the core; IAM policies scope permissions by
/// `iamjwt:issuer`).
pub use iamjwt_core::keys::tags;
