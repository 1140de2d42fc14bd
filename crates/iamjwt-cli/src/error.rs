//! The CLI's error: one line for the user, non-zero exit.

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    #[error("{0}")]
    Usage(String),
    #[error("{0}")]
    Http(String),
    #[error("token rejected: {0}")]
    Invalid(String),
    #[error("{}: {source}", path.display())]
    Io {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Client(#[from] iamjwt_client::Error),
    #[error(transparent)]
    Local(#[from] iamjwt_local::Error),
    #[error(transparent)]
    Core(#[from] iamjwt_core::Error),
    #[error(transparent)]
    Verifiers(#[from] iamjwt_verifiers::Error),
}
