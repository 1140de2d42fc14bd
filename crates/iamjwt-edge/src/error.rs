//! The crate's error: what a rotation step reports to the workflow.

use iamjwt_core::Error as CoreError;

/// A failed rotation step, classified so the state machine can Retry (`Retryable`) or Catch (everything else).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    #[error("{message}")]
    Step {
        error_type: &'static str,
        message: String,
    },
    #[error("invalid step event: {0}")]
    InvalidEvent(String),
}

impl Error {
    /// The Lambda `errorType` the workflow in `infra/` matches on.
    pub fn error_type(&self) -> &'static str {
        match self {
            Self::Step { error_type, .. } => error_type,
            Self::InvalidEvent(_) => "InvalidInput",
        }
    }

    pub fn is_retryable(&self) -> bool {
        self.error_type() == "Retryable"
    }
}

impl From<CoreError> for Error {
    fn from(e: CoreError) -> Self {
        let error_type = match &e {
            CoreError::Port(p) if p.kind.is_retryable() => "Retryable",
            CoreError::Refused(r) => r.name(),
            CoreError::InvalidRequest(_) => "InvalidInput",
            CoreError::InconsistentState(_) => "InconsistentState",
            CoreError::Config { .. } => "ConfigError",
            _ => "KeyStoreError",
        };
        Self::Step {
            error_type,
            message: e.to_string(),
        }
    }
}
