//! SDK failures turned into meanings.

use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use iamjwt_core::{PortError, PortErrorKind};

/// The crate's own failures (outside the ports).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    #[error("{0}")]
    Port(#[from] PortError),
    /// A rotation execution ended badly.
    #[error("rotation {status} in state {state}: {error}: {cause}")]
    Execution {
        status: String,
        state: String,
        error: String,
        cause: String,
    },
    #[error("{0}")]
    Refused(String),
}

/// Error codes that mean "slow down".
const THROTTLING: &[&str] = &[
    "ThrottlingException",
    "Throttling",
    "ThrottledException",
    "TooManyRequestsException",
    "RequestLimitExceeded",
    "LimitExceededException",
    "SlowDown",
    "KMSRequestThrottled",
];

/// Maps any SDK error to a [`PortError`] with the operation named.
pub fn classify<E, R>(operation: &str, err: SdkError<E, R>) -> PortError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    let kind = match &err {
        SdkError::ServiceError(se) => code_kind(se.err().code().unwrap_or_default()),
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => {
            PortErrorKind::Transient
        }
        _ => PortErrorKind::Other,
    };
    PortError::new(kind, format!("{operation}: {}", one_line(&err)))
}

/// An error and its sources in one line, each message once (`DisplayErrorContext` ends in a Debug dump:
/// `DispatchFailure(DispatchFailure { source: ConnectorError { … } })`).
fn one_line(err: &dyn std::error::Error) -> String {
    let mut line = err.to_string();
    let mut source = err.source();
    while let Some(s) = source {
        let m = s.to_string();
        if !m.is_empty() && !line.contains(&m) {
            line = format!("{line}: {m}");
        }
        source = s.source();
    }
    line
}

pub(crate) fn code_kind(code: &str) -> PortErrorKind {
    match code {
        c if THROTTLING.contains(&c) => PortErrorKind::Throttled,
        "NotFoundException"
        | "NoSuchKey"
        | "NoSuchBucket"
        | "ExecutionDoesNotExist"
        | "StateMachineDoesNotExist"
        | "NoSuchEntity" => PortErrorKind::NotFound,
        "DisabledException" | "KMSInvalidStateException" | "KeyUnavailableException" => {
            PortErrorKind::Disabled
        }
        "AccessDeniedException"
        | "AccessDenied"
        | "UnauthorizedException"
        | "InvalidSignatureException" => PortErrorKind::AccessDenied,
        "InternalFailure"
        | "KMSInternalException"
        | "DependencyTimeoutException"
        | "ServiceUnavailable"
        | "ServiceUnavailableException"
        | "InternalError" => PortErrorKind::Transient,
        _ => PortErrorKind::Other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes() {
        assert_eq!(code_kind("ThrottlingException"), PortErrorKind::Throttled);
        assert_eq!(code_kind("NotFoundException"), PortErrorKind::NotFound);
        assert_eq!(code_kind("DisabledException"), PortErrorKind::Disabled);
        assert_eq!(
            code_kind("KMSInvalidStateException"),
            PortErrorKind::Disabled
        );
        assert_eq!(
            code_kind("AccessDeniedException"),
            PortErrorKind::AccessDenied
        );
        assert_eq!(code_kind("KMSInternalException"), PortErrorKind::Transient);
        assert_eq!(code_kind("Whatever"), PortErrorKind::Other);
    }
}
