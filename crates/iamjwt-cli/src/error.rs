//! The CLI's error: one line for the user, non-zero exit.

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    #[error("{0}")]
    Usage(String),
    #[error("{0}")]
    Http(String),
    /// The server answered with an OAuth-style error.
    #[error("{status} {error}: {description}")]
    Server {
        status: u16,
        error: String,
        description: String,
    },
    #[error("token rejected: {0}")]
    Invalid(String),
    #[error("credentials: {0}")]
    Credentials(String),
    #[error("{}: {source}", path.display())]
    Io {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Local(#[from] iamjwt_local::Error),
    #[error(transparent)]
    Core(#[from] iamjwt_core::Error),
}
