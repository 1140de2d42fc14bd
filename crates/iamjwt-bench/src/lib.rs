//! Measuring the local issuer: a load generator with pre-signed SigV4 requests, the raw signing baseline it is
//! judged against, and a soak run with a rotation in the middle. Used by `make bench`, `make soak` and (short
//! soak) `make test`.

pub mod baseline;
pub mod load;
pub mod server;
pub mod soak;

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
