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
    /// Stable name used as the `error_type` the workflow matches on.
    pub fn name(&self) -> &'static str {
        match self {
            Self::UnsafePromotion { .. } => "UnsafePromotion",
            Self::PreviousStillNeeded { .. } => "PreviousStillNeeded",
            Self::RotationInProgress => "RotationInProgress",
        }
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
                "UnsafePromotion: pending key {kid} was published at {}; it may sign from {}",
                published_at.rfc3339(),
                ready_at.rfc3339()
            ),
            Self::PreviousStillNeeded { kid, retirable_at } => write!(
                f,
                "PreviousStillNeeded: previous key {kid} must stay published until {}; retire it first",
                retirable_at.rfc3339()
            ),
            Self::RotationInProgress => {
                write!(f, "RotationInProgress: another rotation is running")
            }
        }
    }
}
