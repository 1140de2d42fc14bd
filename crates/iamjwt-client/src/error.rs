//! The client's one error type: every variant prints as one line that names the cause (and the fix when known).

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A setting or argument that cannot work.
    #[error("{0}")]
    Usage(String),
    /// Transport: connection refused, timeout, TLS, an unreadable body.
    #[error("{0}")]
    Http(String),
    /// The issuer answered with an OAuth-style error (or another non-2xx status).
    #[error("{status} {error}: {description}")]
    Server {
        status: u16,
        error: String,
        description: String,
        /// `Retry-After` in seconds, when the server sent one (429/503).
        retry_after: Option<u64>,
    },
    /// The issuer answered 2xx with something that is not a usable token.
    #[error("the issuer's response is not a usable token: {0}")]
    BadToken(String),
    /// No AWS credentials to sign with.
    #[error("credentials: {0}")]
    Credentials(String),
    /// STS refused the exchange; `hint` says what to fix when the code is a known one.
    #[error("STS {code}: {message}{}", hint.as_deref().map(|h| format!(" ({h})")).unwrap_or_default())]
    Sts {
        code: String,
        message: String,
        hint: Option<String>,
    },
    /// An AWS service refused one hop of an exchange (`hop`: "Identity Center CreateTokenWithIAM", …); `hint` says
    /// what to fix when the code is a known one.
    #[error("{hop} {code}: {message}{}", hint.as_deref().map(|h| format!(" ({h})")).unwrap_or_default())]
    Aws {
        hop: &'static str,
        code: String,
        message: String,
        hint: Option<String>,
    },
    /// The AWS federation endpoint refused `getSigninToken`.
    #[error("federation endpoint: {0}")]
    Federation(String),
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

impl Error {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::Io {
            path: path.into(),
            source,
        }
    }

    /// Worth retrying later (issuer down, throttled, 5xx); a 4xx other than 429 is not.
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Http(_) => true,
            Self::Server { status, .. } => *status == 429 || *status >= 500,
            Self::Credentials(_) => true,
            _ => false,
        }
    }

    /// The server's `Retry-After`, if any.
    pub fn retry_after(&self) -> Option<u64> {
        match self {
            Self::Server { retry_after, .. } => *retry_after,
            _ => None,
        }
    }
}
