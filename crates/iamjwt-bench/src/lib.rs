//! Measuring iamjwt: a load generator with pre-signed SigV4 requests against the local issuer, the raw signing
//! baseline it is judged against, a soak run with a rotation in the middle, the KMS path against moto, and cold
//! starts (the `token` Lambda under a loopback Runtime API, `iamjwt serve`), and the workload side (the client's
//! token cache vs the issuer, the agent's issuer calls per hour); and an issuer in three regions against moto
//! with its soak under regional outages. Used by `make bench`, `make soak` and (short soaks) `make test`.

pub mod baseline;
pub mod counting_proxy;
pub mod kms_path;
pub mod lambda_init;
pub mod load;
pub mod moto;
pub mod path_meter;
pub mod regions;
pub mod regions_soak;
pub mod serve_start;
pub mod server;
pub mod soak;
pub mod stats;
pub mod workload;

/// Errors from a measurement run: one line each.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    #[error("{0}")]
    Setup(String),
    #[error("{0}")]
    Http(String),
    /// A soak or load assertion did not hold.
    #[error("{0}")]
    Failed(String),
}
