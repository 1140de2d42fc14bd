//! The crate's error: what a rotation step reports to the workflow.

use iamjwt_core::Error as CoreError;
use iamjwt_core::error::StepErrorType;

/// A failed rotation step, classified so the state machine can Retry (`Retryable`) or Catch (everything else).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    #[error("{message}")]
    Step {
        error_type: StepErrorType,
        message: String,
    },
    #[error("invalid step event: {0}")]
    InvalidEvent(String),
}

impl Error {
    /// The type the workflow in `infra/` matches on.
    pub fn step_error_type(&self) -> StepErrorType {
        match self {
            Self::Step { error_type, .. } => *error_type,
            Self::InvalidEvent(_) => StepErrorType::InvalidInput,
        }
    }

    /// The Lambda `errorType` the workflow in `infra/` matches on.
    pub fn error_type(&self) -> &'static str {
        self.step_error_type().as_str()
    }

    pub fn is_retryable(&self) -> bool {
        self.step_error_type().is_retryable()
    }
}

impl From<CoreError> for Error {
    fn from(e: CoreError) -> Self {
        Self::Step {
            error_type: StepErrorType::of(&e),
            message: e.to_string(),
        }
    }
}
