//! Key rotation (DESIGN.md §6) as pure decisions over a key-state snapshot, plus the runner that acts on them.
//!
//! Each step is a function `(state, published kids, now) → next action | done | refusal` ([`next_action`]). The
//! runner ([`Rotator`]) loads the state, applies one action through the ports, and asks again until the step says
//! it is done. Because every decision is re-derived from what is actually stored, a step that crashed half-way
//! resumes where it stopped, and a step that already succeeded finds nothing to do: idempotence and crash safety
//! by construction, not by bookkeeping. Interrupted promotions are recognised by their intermediate shapes
//! (`previous == current`, `pending == current`) and finished by whichever step runs next.
//!
//! The key state itself (records, slots, marks) is plain data in [`crate::keys`]; this module holds the decisions
//! ([`decide`]), the runner ([`runner`]) and the safety rules checked between observations ([`invariants`]).
//! It never reads the clock and never talks to KMS/S3/disk itself.

mod decide;
mod invariants;
pub mod regions;
mod runner;

pub use decide::{Decide, next_action};
pub use invariants::{RegionalSnapshot, invariant_violations, region_invariant_violations};
pub use runner::{Rotator, StepReport};

use crate::error::Error;
use crate::keys::KeyMark;
use crate::types::{Algorithm, KeyId, KeySlot};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// The four steps, in workflow order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Step {
    Retire,
    Promote,
    Create,
    Publish,
}

impl Step {
    pub const ALL: [Step; 4] = [Step::Retire, Step::Promote, Step::Create, Step::Publish];
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Retire => "retire",
            Self::Promote => "promote",
            Self::Create => "create",
            Self::Publish => "publish",
        }
    }
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Step {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        Step::ALL
            .into_iter()
            .find(|st| st.as_str() == s)
            .ok_or_else(|| {
                Error::InvalidRequest(format!(
                    "unknown step {s:?}: expected retire, promote, create or publish"
                ))
            })
    }
}

/// Timing rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RotationPolicy {
    /// A pending key must be published this long before it may sign.
    pub min_publish_age: u64,
    /// A demoted key stays published this long before it is retired.
    pub retire_after: u64,
}

/// One change to make through the ports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    Create {
        alg: Algorithm,
        slot: KeySlot,
    },
    Assign {
        alg: Algorithm,
        slot: KeySlot,
        key: KeyId,
    },
    Clear {
        alg: Algorithm,
        slot: KeySlot,
    },
    Mark {
        key: KeyId,
        mark: KeyMark,
    },
    ScheduleDeletion {
        key: KeyId,
    },
    Publish,
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Create { alg, slot } => write!(f, "create {alg} key into {slot}"),
            Self::Assign { alg, slot, key } => write!(f, "point {alg} {slot} at {key}"),
            Self::Clear { alg, slot } => write!(f, "clear {alg} {slot}"),
            Self::Mark {
                key,
                mark: KeyMark::Published(t),
            } => write!(f, "mark {key} published at {t}"),
            Self::Mark {
                key,
                mark: KeyMark::Demoted(t),
            } => write!(f, "mark {key} demoted at {t}"),
            Self::Mark {
                key,
                mark: KeyMark::Compromised,
            } => write!(f, "mark {key} compromised"),
            Self::Mark {
                key,
                mark: KeyMark::Reinstated,
            } => write!(f, "mark {key} signing again (algorithm re-enabled)"),
            Self::ScheduleDeletion { key } => write!(f, "schedule deletion of {key}"),
            Self::Publish => write!(f, "publish JWKS and discovery"),
        }
    }
}

#[cfg(test)]
mod tests;
