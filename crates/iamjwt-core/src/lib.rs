//! The pure domain of iamjwt.
//!
//! Everything here is deterministic given its inputs: no AWS SDK, no async runtime, no clock, no file or network
//! I/O. Time arrives as a [`UnixTime`] parameter and randomness as bytes. Adapters (KMS, S3, the local soft key store,
//! the directory publisher) implement the traits in [`ports`]; the handlers drive [`issuer`] and [`rotation`].
//!
//! Data walks one way: request → [`identity`] → [`policy`] → [`claims`] → [`jws`] → signer → compact token.

pub mod alg;
pub mod claims;
pub mod closed_sets;
pub mod config;
pub mod discovery;
pub mod error;
pub mod glob;
pub mod identity;
pub mod issuer;
pub mod jwk;
pub mod jws;
pub mod keys;
pub mod limits;
#[cfg(any(test, feature = "testing"))]
pub mod oracle;
pub mod policy;
pub mod ports;
pub mod principal_pattern;
pub mod region;
pub mod request;
pub mod rotation;
pub mod shape;
pub mod subject;
pub mod template;
#[cfg(any(test, feature = "testing"))]
pub mod testing;
#[cfg(test)]
mod tests;
pub mod time;
pub mod types;

pub use error::{Error, PortError, PortErrorKind};
pub use time::UnixTime;
pub use types::{Algorithm, Audience, KeyId, KeySlot, Kid};
