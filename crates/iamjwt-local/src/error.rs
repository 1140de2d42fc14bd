//! The local crate's error type.

use iamjwt_core::{PortError, PortErrorKind};
use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{}: {reason}", path.display())]
    Corrupt { path: PathBuf, reason: String },
    #[error("key: {0}")]
    Key(String),
    /// SigV4 verification refused the request (→ 403).
    #[error("{0}")]
    Denied(String),
    /// The rotation workflow ended in a Fail state.
    #[error("rotation failed in state {state}: {error}: {cause}")]
    Workflow {
        state: String,
        error: String,
        cause: String,
    },
    /// The workflow definition is not one this runner understands.
    #[error("workflow definition: {0}")]
    Definition(String),
    /// Another `iamjwt serve` holds the state directory.
    #[error(
        "state directory {} is in use by another `iamjwt serve` ({}): stop that one, or give this one its own --state-dir",
        state.display(),
        holder.map_or_else(|| "pid unknown".to_owned(), |p| format!("pid {p}"))
    )]
    InUse { state: PathBuf, holder: Option<u32> },
    /// Settings local mode cannot honour ([`crate::settings::NOT_IN_LOCAL_MODE`]), one line each.
    #[error("{}", .0.join("\n"))]
    Unsupported(Vec<String>),
    /// A read-only front door (`serve --replica`) on a state directory without keys.
    #[error(
        "state directory {} has no signing keys yet: start its owner (`iamjwt serve` without --replica) first",
        state.display()
    )]
    NoKeys { state: PathBuf },
    #[error(transparent)]
    Core(#[from] iamjwt_core::Error),
}

impl Error {
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::Io {
            path: path.into(),
            source,
        }
    }
}

impl From<Error> for PortError {
    fn from(e: Error) -> Self {
        let kind = match &e {
            Error::Io { source, .. } if source.kind() == std::io::ErrorKind::NotFound => {
                PortErrorKind::NotFound
            }
            Error::Io { source, .. } if source.kind() == std::io::ErrorKind::PermissionDenied => {
                PortErrorKind::AccessDenied
            }
            _ => PortErrorKind::Other,
        };
        PortError::new(kind, e.to_string())
    }
}
