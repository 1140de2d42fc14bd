//! Several regions, one issuer (DESIGN.md §6 "Several regions, one issuer").
//!
//! Keys are KMS multi-Region keys: created in the primary region and replicated to every other configured region
//! with the same key id and key material, so one `kid` and one JWKS entry serve all of them. Aliases are regional.
//! The primary region's key state (three alias slots per algorithm, the facts recorded on its keys) remains the
//! one lifecycle that [`super::next_action`] decides. Every other region follows it:
//! - **replicate**: the keys that sign or are about to (the primary's `current` and `pending`) get a replica in
//!   every region; a missing replica is created by the next run (repair is the same action as creation);
//! - **follow**: a region's `current` alias moves to the primary's current key only once that key is in the
//!   published JWKS *and* replicated there. A region whose key is no longer fit to sign (compromised, out of the
//!   JWKS, retired, replica scheduled for deletion) and that cannot move yet has its alias removed: it answers
//!   503 rather than issue tokens no verifier can check;
//! - **demotion per region**: when a region's alias leaves a key, that region's replica records when
//!   ([`Replica::demoted_at`], a tag on the replica); a key's verification window runs from its *last* region's
//!   demotion, so a region that lagged behind a rotation keeps its key published long enough;
//! - **retire** never retires a key that a region's alias still signs with, nor while a region cannot be read
//!   (it might still be signing), nor before every region's window has passed;
//! - **deletion** schedules the replicas before the primary key. An emergency (the key is compromised) does not
//!   wait for a region it cannot reach: the primary key is scheduled at once (KMS holds it in
//!   `PendingReplicaDeletion`, unusable, until its last replica goes) and that region's replica follows when it
//!   answers again.
//!
//! Every step first brings each reachable region up to date, then does its own work in the primary. A region that
//! cannot be read or changed fails only its own part: the step goes on for the others and reports that region
//! ([`super::StepReport::region_errors`]) for a retry. A down region never blocks the others from issuing and never
//! leads to a promotion of an unpublished key anywhere; at worst it delays retiring the keys it may still use.
//! The invariants are [`super::region_invariant_violations`].

mod decide;
mod runner;
#[cfg(any(test, feature = "testing"))]
pub mod testing;
#[cfg(test)]
mod tests;

pub use decide::{RegionalDecide, next_move};
pub use runner::RegionalRotator;

use super::Action;
use crate::error::PortError;
use crate::keys::{KeyRecord, KeyState};
use crate::region::Region;
use crate::time::UnixTime;
use crate::types::{Algorithm, KeyId};
use async_trait::async_trait;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

/// What a region holds of one of this issuer's keys.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Replica {
    /// When this region's `current` alias left the key (recorded on the replica).
    pub demoted_at: Option<UnixTime>,
    /// The replica is scheduled for deletion (it can no longer sign).
    pub pending_deletion: bool,
}

/// One replica region's part of the key state.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RegionKeys {
    /// This issuer's keys that have a replica in the region, by key id (a replica has its primary's id).
    pub replicas: BTreeMap<KeyId, Replica>,
    /// Where each algorithm's `current` alias points in this region. Replica regions only sign; `pending` and
    /// `previous` are the primary's bookkeeping, so a replica region has no aliases for them.
    pub current: BTreeMap<Algorithm, KeyId>,
}

impl RegionKeys {
    /// The region has a replica of `key` that can sign.
    pub fn live(&self, key: &KeyId) -> bool {
        self.replicas.get(key).is_some_and(|r| !r.pending_deletion)
    }

    /// Some algorithm's `current` alias points at `key`.
    pub fn signs_with(&self, key: &KeyId) -> bool {
        self.current.values().any(|k| k == key)
    }
}

/// Every key in one of the primary's slots (a key in two slots, mid-promotion, comes twice).
pub fn slot_records(state: &KeyState) -> impl Iterator<Item = &KeyRecord> {
    state
        .algs
        .values()
        .flat_map(|s| [&s.pending, &s.current, &s.previous])
        .flatten()
}

/// A replica region as the rotate worker sees it during one step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RegionView {
    Up(RegionKeys),
    /// It could not be read (or failed earlier in this step); why.
    Down(String),
}

/// One change in one replica region.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RegionAction {
    /// `ReplicateKey` the primary key into the region (same tags and key policy).
    Replicate { key: KeyId },
    /// Points the region's `current` alias of `alg` at `key`, or removes it with `None`.
    Point { alg: Algorithm, key: Option<KeyId> },
    /// Records on the replica that the region's alias left it at `at`.
    MarkDemoted { key: KeyId, at: UnixTime },
    /// Schedules deletion of the replica.
    ScheduleDeletion { key: KeyId },
}

impl fmt::Display for RegionAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Replicate { key } => write!(f, "replicate {key}"),
            Self::Point { alg, key: Some(k) } => write!(f, "point {alg} current at {k}"),
            Self::Point { alg, key: None } => write!(f, "remove {alg} current"),
            Self::MarkDemoted { key, at } => write!(f, "mark {key} demoted at {at}"),
            Self::ScheduleDeletion { key } => write!(f, "schedule deletion of replica {key}"),
        }
    }
}

/// The next change of a multi-region step: in a replica region, or in the primary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Move {
    Region {
        region: Region,
        action: RegionAction,
    },
    Primary(Action),
}

impl fmt::Display for Move {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Region { region, action } => write!(f, "{region}: {action}"),
            Self::Primary(a) => a.fmt(f),
        }
    }
}

/// The replica regions of a key store whose keys are multi-Region keys (KMS in AWS; a fake in tests). The primary
/// region's part stays the [`crate::ports::KeyStore`]. Every method must be idempotent.
#[async_trait]
pub trait RegionKeyStore: Send + Sync {
    /// The replica regions (not the primary), in configured order.
    fn regions(&self) -> &[Region];
    /// This issuer's keys that the primary region has scheduled for deletion: their replicas go too.
    async fn retired(&self) -> Result<BTreeSet<KeyId>, PortError>;
    /// The region's replicas of this issuer's keys and its `current` aliases of `algs`.
    async fn load_region(
        &self,
        region: &Region,
        algs: &[Algorithm],
    ) -> Result<RegionKeys, PortError>;
    /// Creates the replica of `key` in `region`; a replica that already exists is success.
    async fn replicate(&self, region: &Region, key: &KeyId) -> Result<(), PortError>;
    /// Points the region's `current` alias of `alg` at `key`, or deletes it with `None`.
    async fn point_current(
        &self,
        region: &Region,
        alg: Algorithm,
        key: Option<&KeyId>,
    ) -> Result<(), PortError>;
    async fn mark_demoted(
        &self,
        region: &Region,
        key: &KeyId,
        at: UnixTime,
    ) -> Result<(), PortError>;
    /// Schedules deletion of the replica; already scheduled is success.
    async fn schedule_deletion(&self, region: &Region, key: &KeyId) -> Result<(), PortError>;
}
