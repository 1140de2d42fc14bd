//! The one error type of the core, and the error adapters report through the ports.
//!
//! Variants carry enough context for logs; [`Error::public_description`] is what may be shown to a caller.

use crate::time::UnixTime;
use std::fmt;

/// What an adapter's failure means, independent of the SDK that produced it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum PortErrorKind {
    /// The service asked us to slow down (after the adapter's own bounded retries).
    Throttled,
    /// The key, alias, object or slot does not exist.
    NotFound,
    /// The key exists but cannot be used (disabled or pending deletion).
    Disabled,
    /// The caller lacks permission.
    AccessDenied,
    /// A transient failure (timeout, 5xx, connection reset) worth retrying.
    Transient,
    /// Nothing can serve the request yet, or any more, and waiting is the fix: an algorithm with no current key
    /// (added to the set, not bootstrapped yet), or a signer that could not confirm its cached key is still
    /// published. The edge answers `503 temporarily_unavailable` with `Retry-After`.
    Unavailable,
    /// Anything else.
    Other,
}

impl PortErrorKind {
    /// Whether a workflow should retry the step that failed with this kind.
    pub fn is_retryable(self) -> bool {
        matches!(self, Self::Throttled | Self::Transient)
    }
}

/// A failure reported by an adapter behind one of the [`crate::ports`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortError {
    pub kind: PortErrorKind,
    pub detail: String,
}

impl PortError {
    pub fn new(kind: PortErrorKind, detail: impl Into<String>) -> Self {
        Self {
            kind,
            detail: detail.into(),
        }
    }
    pub fn other(detail: impl Into<String>) -> Self {
        Self::new(PortErrorKind::Other, detail)
    }
}

impl fmt::Display for PortError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}: {}", self.kind, self.detail)
    }
}

impl std::error::Error for PortError {}

/// Every way the domain can say no.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A request parameter is malformed, oversized, unknown or repeated (`400 invalid_request`).
    #[error("{0}")]
    InvalidRequest(String),
    /// The audience policy does not grant the requested audiences (`400 invalid_target`).
    #[error("{0}")]
    InvalidTarget(String),
    /// No usable identity, or the identity is not allowed tokens (`403 access_denied`).
    #[error("{0}")]
    AccessDenied(String),
    /// The signing input exceeds what the signer accepts (`400 invalid_request`).
    #[error("token too large: signing input is {size} bytes, the limit is {limit}")]
    TokenTooLarge { size: usize, limit: usize },
    /// Configuration is invalid; raised at start-up only.
    #[error("invalid configuration: {name}: {reason}")]
    Config { name: String, reason: String },
    /// Malformed key material or signature from a signer/key store.
    #[error("invalid key material: {0}")]
    KeyMaterial(String),
    /// A rotation step refused to act because acting would break a safety rule. Nothing was changed.
    #[error("rotation refused: {0}")]
    Refused(Refusal),
    /// Rotation found a key state it cannot reason about.
    #[error("inconsistent key state: {0}")]
    InconsistentState(String),
    /// An adapter failed.
    #[error("{0}")]
    Port(#[from] PortError),
}

impl Error {
    pub fn config(name: &str, reason: impl Into<String>) -> Self {
        Self::Config {
            name: name.to_owned(),
            reason: reason.into(),
        }
    }
}

/// Why a rotation step refused to change anything (DESIGN.md §6).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Refusal {
    /// The pending key has not been published for `min_publish_age` yet.
    UnsafePromotion {
        kid: String,
        published_at: UnixTime,
        ready_at: UnixTime,
    },
    /// Promoting would push out a previous key that verifiers may still need.
    PreviousStillNeeded { kid: String, retirable_at: UnixTime },
    /// Another rotation holds the lock.
    RotationInProgress,
}

impl Refusal {
    /// The `error_type` the workflow sees.
    pub fn error_type(&self) -> StepErrorType {
        match self {
            Self::UnsafePromotion { .. } => StepErrorType::UnsafePromotion,
            Self::PreviousStillNeeded { .. } => StepErrorType::PreviousStillNeeded,
            Self::RotationInProgress => StepErrorType::RotationInProgress,
        }
    }

    /// Stable name used as the `error_type` the workflow matches on.
    pub fn name(&self) -> &'static str {
        self.error_type().as_str()
    }
}

/// What a failed rotation step reports to the workflow: the rotate Lambda's `errorType`, and the error the local
/// runner matches. `infra/rotation.asl.json` Retries [`StepErrorType::Retryable`] and Catches every other one
/// (→ SNS → Fail); `cdk/lib/asl.ts` and the workflow tests read this set from `infra/closed-sets.json`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StepErrorType {
    /// Throttling or a transient failure: the workflow retries the step with backoff.
    Retryable,
    /// Refusals ([`Refusal`]): nothing was changed.
    UnsafePromotion,
    PreviousStillNeeded,
    RotationInProgress,
    /// The step event (or a request inside the step) is malformed.
    InvalidInput,
    /// A key state rotation cannot reason about.
    InconsistentState,
    /// The key store or publisher failed in a way retrying does not fix (access denied, not found, ...).
    KeyStoreError,
    /// The function's configuration is invalid.
    ConfigError,
    /// The handler failed outside the step (its report could not be serialised).
    InternalError,
}

impl StepErrorType {
    pub const ALL: [StepErrorType; 9] = [
        Self::Retryable,
        Self::UnsafePromotion,
        Self::PreviousStillNeeded,
        Self::RotationInProgress,
        Self::InvalidInput,
        Self::InconsistentState,
        Self::KeyStoreError,
        Self::ConfigError,
        Self::InternalError,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Retryable => "Retryable",
            Self::UnsafePromotion => "UnsafePromotion",
            Self::PreviousStillNeeded => "PreviousStillNeeded",
            Self::RotationInProgress => "RotationInProgress",
            Self::InvalidInput => "InvalidInput",
            Self::InconsistentState => "InconsistentState",
            Self::KeyStoreError => "KeyStoreError",
            Self::ConfigError => "ConfigError",
            Self::InternalError => "InternalError",
        }
    }

    /// Whether the workflow retries a step that failed with this type.
    pub fn is_retryable(self) -> bool {
        self == Self::Retryable
    }

    /// How the workflow sees a failure of the core.
    pub fn of(e: &Error) -> Self {
        match e {
            Error::Port(p) if p.kind.is_retryable() => Self::Retryable,
            Error::Refused(r) => r.error_type(),
            Error::InvalidRequest(_) => Self::InvalidInput,
            Error::InconsistentState(_) => Self::InconsistentState,
            Error::Config { .. } => Self::ConfigError,
            _ => Self::KeyStoreError,
        }
    }
}

impl fmt::Display for StepErrorType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::UnsafePromotion {
                kid,
                published_at,
                ready_at,
            } => write!(
                f,
                "{}: pending key {kid} was published at {}; it may sign from {}",
                self.name(),
                published_at.rfc3339(),
                ready_at.rfc3339()
            ),
            Self::PreviousStillNeeded { kid, retirable_at } => write!(
                f,
                "{}: previous key {kid} must stay published until {}; retire it first",
                self.name(),
                retirable_at.rfc3339()
            ),
            Self::RotationInProgress => {
                write!(f, "{}: another rotation is running", self.name())
            }
        }
    }
}
