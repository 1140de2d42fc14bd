//! Local mode: the issuer on one machine, with the same handlers as in Lambda.
//!
//! - [`keys`]: software RSA-2048 / P-256 keys under a state directory — our "soft KMS", behind the same
//!   [`iamjwt_core::ports::KeyStore`] and [`iamjwt_core::ports::Signer`] ports the KMS adapter implements;
//! - [`publisher`]: a directory standing in for the S3 bucket, written atomically;
//! - [`principals`] + [`sigv4`]: credentials and SigV4 verification as API Gateway's `AWS_IAM` auth does it;
//! - [`gateway`]: the HTTP front door that verifies SigV4 and calls the shared edge ([`iamjwt_edge`]);
//! - [`runner`]: runs the rotation workflow of `infra/rotation.asl.json` step by step;
//! - [`settings`] + [`compose`]: the `IAMJWT_*` settings of a state directory and the one place that puts the
//!   pieces together ([`compose::LocalIssuer`]); `iamjwt serve` and `iamjwt rotate` are wiring over it.
//!
//! Local mode never compiles the AWS SDK: `cargo tree -p iamjwt-local -e normal | grep -c aws-sdk` is 0.

pub mod compose;
pub mod error;
pub mod fsutil;
pub mod gateway;
pub mod keys;
pub mod principals;
pub mod publisher;
pub mod runner;
pub mod settings;
pub mod sigv4;

pub use error::Error;

/// Layout of a state directory.
pub mod layout {
    use std::path::{Path, PathBuf};

    pub fn keys_dir(state: &Path) -> PathBuf {
        state.join("keys")
    }
    pub fn key_state_file(state: &Path) -> PathBuf {
        state.join("keys.json")
    }
    /// The directory that plays the bucket: holds `.well-known/…`.
    pub fn public_dir(state: &Path) -> PathBuf {
        state.join("public")
    }
    pub fn principals_file(state: &Path) -> PathBuf {
        state.join("principals.json")
    }
    pub fn rotation_lock(state: &Path) -> PathBuf {
        state.join("rotation.lock")
    }
    /// Held by the one `iamjwt serve` of the directory; holds its PID.
    pub fn serve_lock(state: &Path) -> PathBuf {
        state.join("serve.lock")
    }
}
