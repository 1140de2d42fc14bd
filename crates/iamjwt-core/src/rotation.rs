//! Key rotation (DESIGN.md §6) as pure decisions over a key-state snapshot, plus the runner that acts on them.
//!
//! Each step is a function `(state, published kids, now) → next action | done | refusal`. The runner loads the
//! state, applies one action through the ports, and asks again until the step says it is done. Because every
//! decision is re-derived from what is actually stored, a step that crashed half-way resumes where it stopped, and
//! a step that already succeeded finds nothing to do: idempotence and crash safety by construction, not by
//! bookkeeping. Interrupted promotions are recognised by their intermediate shapes (`previous == current`,
//! `pending == current`) and finished by whichever step runs next.
//!
//! This module never reads the clock and never talks to KMS/S3/disk itself.

use crate::discovery::{DiscoveryDocument, IssuerDocuments};
use crate::error::{Error, Refusal};
use crate::jwk::{Jwks, PublicJwk};
use crate::ports::{KeyMark, KeyStore, Publisher};
use crate::time::UnixTime;
use crate::types::{Algorithm, KeyId, KeySlot, Kid};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::str::FromStr;

/// One key as the store knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyRecord {
    pub id: KeyId,
    pub alg: Algorithm,
    pub kid: Kid,
    /// The public key; `None` once the key is pending deletion (KMS will not hand it out any more).
    pub jwk: Option<PublicJwk>,
    pub created_at: UnixTime,
    pub published_at: Option<UnixTime>,
    pub demoted_at: Option<UnixTime>,
    pub compromised: bool,
    pub pending_deletion: bool,
}

impl KeyRecord {
    /// May appear in the JWKS.
    fn publishable(&self) -> bool {
        !self.compromised && !self.pending_deletion && self.jwk.is_some()
    }
}

/// The three slots of one algorithm.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Slots {
    pub pending: Option<KeyRecord>,
    pub current: Option<KeyRecord>,
    pub previous: Option<KeyRecord>,
}

impl Slots {
    /// Builds the three slots from a lookup per slot.
    pub fn from_fn(mut f: impl FnMut(KeySlot) -> Option<KeyRecord>) -> Self {
        Self {
            pending: f(KeySlot::Pending),
            current: f(KeySlot::Current),
            previous: f(KeySlot::Previous),
        }
    }

    pub fn get(&self, slot: KeySlot) -> Option<&KeyRecord> {
        match slot {
            KeySlot::Pending => self.pending.as_ref(),
            KeySlot::Current => self.current.as_ref(),
            KeySlot::Previous => self.previous.as_ref(),
        }
    }
}

/// Snapshot of every enabled algorithm's slots.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeyState {
    pub algs: BTreeMap<Algorithm, Slots>,
}

impl KeyState {
    /// The keys the JWKS should hold: every publishable slot key, current first.
    pub fn publishable(&self) -> Vec<&KeyRecord> {
        let mut out: Vec<&KeyRecord> = Vec::new();
        for slots in self.algs.values() {
            for k in [&slots.current, &slots.pending, &slots.previous]
                .into_iter()
                .flatten()
            {
                if k.publishable() && !out.iter().any(|o| o.id == k.id) {
                    out.push(k);
                }
            }
        }
        out
    }

    pub fn desired_kids(&self) -> BTreeSet<Kid> {
        self.publishable()
            .into_iter()
            .map(|k| k.kid.clone())
            .collect()
    }

    /// The JWKS to publish for this state.
    pub fn jwks(&self) -> Jwks {
        Jwks {
            keys: self
                .publishable()
                .into_iter()
                .filter_map(|k| k.jwk.clone())
                .collect(),
        }
    }
}

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
            Self::ScheduleDeletion { key } => write!(f, "schedule deletion of {key}"),
            Self::Publish => write!(f, "publish JWKS and discovery"),
        }
    }
}

/// Inputs to a decision.
#[derive(Debug, Clone, Copy)]
pub struct Decide<'a> {
    pub step: Step,
    pub emergency: bool,
    pub state: &'a KeyState,
    pub published: &'a BTreeSet<Kid>,
    pub now: UnixTime,
    pub policy: RotationPolicy,
}

/// The next action of a step, `Ok(None)` when the step has nothing (more) to do.
pub fn next_action(d: &Decide<'_>) -> Result<Option<Action>, Error> {
    for (&alg, slots) in &d.state.algs {
        let action = match d.step {
            Step::Retire => retire(d, alg, slots)?,
            Step::Promote => promote(d, alg, slots)?,
            Step::Create => create(d, alg, slots)?,
            Step::Publish => None,
        };
        if action.is_some() {
            return Ok(action);
        }
    }
    let desired = d.state.desired_kids();
    let publish_needed = &desired != d.published;
    match d.step {
        // An emergency must get the compromised key out of the JWKS as soon as its replacement signs.
        Step::Promote | Step::Create if d.emergency && publish_needed => Ok(Some(Action::Publish)),
        Step::Publish if publish_needed => Ok(Some(Action::Publish)),
        Step::Publish => Ok(d
            .state
            .publishable()
            .into_iter()
            .find(|k| k.published_at.is_none())
            .map(|k| Action::Mark {
                key: k.id.clone(),
                mark: KeyMark::Published(d.now),
            })),
        _ => Ok(None),
    }
}

/// Finishes a promotion that was interrupted (its intermediate shapes are unambiguous).
fn resume(d: &Decide<'_>, alg: Algorithm, s: &Slots) -> Option<Action> {
    let cur = s.current.as_ref()?;
    if let Some(prev) = &s.previous
        && prev.id == cur.id
    {
        return Some(match &s.pending {
            Some(p) if p.id != cur.id => Action::Assign {
                alg,
                slot: KeySlot::Current,
                key: p.id.clone(),
            },
            // Nothing to promote to: undo the half-step; the key simply stays current.
            _ => Action::Clear {
                alg,
                slot: KeySlot::Previous,
            },
        });
    }
    if let Some(p) = &s.pending
        && p.id == cur.id
    {
        if let Some(prev) = &s.previous
            && prev.demoted_at.is_none()
        {
            return Some(Action::Mark {
                key: prev.id.clone(),
                mark: KeyMark::Demoted(d.now),
            });
        }
        return Some(Action::Clear {
            alg,
            slot: KeySlot::Pending,
        });
    }
    None
}

fn retire(d: &Decide<'_>, alg: Algorithm, s: &Slots) -> Result<Option<Action>, Error> {
    if let Some(a) = resume(d, alg, s) {
        return Ok(Some(a));
    }
    if d.emergency
        && let Some(cur) = &s.current
        && !cur.compromised
    {
        return Ok(Some(Action::Mark {
            key: cur.id.clone(),
            mark: KeyMark::Compromised,
        }));
    }
    let Some(prev) = &s.previous else {
        return Ok(None);
    };
    if prev.pending_deletion {
        return Ok(Some(Action::Clear {
            alg,
            slot: KeySlot::Previous,
        }));
    }
    if prev.compromised {
        return Ok(Some(Action::ScheduleDeletion {
            key: prev.id.clone(),
        }));
    }
    Ok(match prev.demoted_at {
        // A previous key with no demotion time: start its verification window now (the safe reading).
        None => Some(Action::Mark {
            key: prev.id.clone(),
            mark: KeyMark::Demoted(d.now),
        }),
        Some(t) if d.now >= t.plus(d.policy.retire_after) => Some(Action::ScheduleDeletion {
            key: prev.id.clone(),
        }),
        Some(_) => None,
    })
}

fn promote(d: &Decide<'_>, alg: Algorithm, s: &Slots) -> Result<Option<Action>, Error> {
    if let Some(a) = resume(d, alg, s) {
        return Ok(Some(a));
    }
    // No current key: that is a bootstrap, which `create` performs.
    let Some(cur) = &s.current else {
        return Ok(None);
    };
    if cur.compromised {
        return Ok(Some(replace_compromised(d, alg, s, cur)));
    }
    let Some(p) = &s.pending else { return Ok(None) };
    // An earlier run that stopped before its `publish` step finished left a key unpublished or unrecorded.
    // That run is completed by this run's later steps; promoting now would start a second rotation on top of an
    // unfinished one, so promote does nothing (it does not refuse: re-running after a crash must converge).
    if !at_rest(d) {
        return Ok(None);
    }
    let Some(published_at) = p.published_at else {
        return Ok(None);
    };
    let ready_at = published_at.plus(d.policy.min_publish_age);
    if d.now < ready_at {
        return Err(Error::Refused(Refusal::UnsafePromotion {
            kid: p.kid.to_string(),
            published_at,
            ready_at,
        }));
    }
    if let Some(prev) = &s.previous {
        let retirable_at = prev.demoted_at.unwrap_or(d.now).plus(d.policy.retire_after);
        return Err(Error::Refused(Refusal::PreviousStillNeeded {
            kid: prev.kid.to_string(),
            retirable_at,
        }));
    }
    Ok(Some(Action::Assign {
        alg,
        slot: KeySlot::Previous,
        key: cur.id.clone(),
    }))
}

/// Every publishable key is in the JWKS and has its publication time recorded: the last run finished.
fn at_rest(d: &Decide<'_>) -> bool {
    d.state
        .publishable()
        .iter()
        .all(|k| k.published_at.is_some() && d.published.contains(&k.kid))
}

fn create(d: &Decide<'_>, alg: Algorithm, s: &Slots) -> Result<Option<Action>, Error> {
    if let Some(a) = resume(d, alg, s) {
        return Ok(Some(a));
    }
    match &s.current {
        // Bootstrap: the first key is published before it is made current, so even the very first token
        // verifies; the min-publish-age wait does not apply (no verifier can hold an older JWKS).
        None => Ok(Some(match &s.pending {
            None => Action::Create {
                alg,
                slot: KeySlot::Pending,
            },
            Some(p) if !d.published.contains(&p.kid) => Action::Publish,
            Some(p) if p.published_at.is_none() => Action::Mark {
                key: p.id.clone(),
                mark: KeyMark::Published(d.now),
            },
            Some(p) => Action::Assign {
                alg,
                slot: KeySlot::Current,
                key: p.id.clone(),
            },
        })),
        Some(cur) if cur.compromised => Ok(Some(replace_compromised(d, alg, s, cur))),
        Some(_) if s.pending.is_none() => Ok(Some(Action::Create {
            alg,
            slot: KeySlot::Pending,
        })),
        Some(_) => Ok(None),
    }
}

/// Emergency: stop the compromised key at once, then put a published replacement in its place.
fn replace_compromised(d: &Decide<'_>, alg: Algorithm, s: &Slots, cur: &KeyRecord) -> Action {
    if !cur.pending_deletion {
        return Action::ScheduleDeletion {
            key: cur.id.clone(),
        };
    }
    match &s.pending {
        // An already published pending key is the fastest safe replacement: verifiers already hold it.
        Some(p) if d.published.contains(&p.kid) => Action::Assign {
            alg,
            slot: KeySlot::Current,
            key: p.id.clone(),
        },
        Some(_) => Action::Publish,
        None => Action::Create {
            alg,
            slot: KeySlot::Pending,
        },
    }
}

/// What one step did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct StepReport {
    pub step: Option<Step>,
    pub actions: Vec<String>,
    pub current_kids: BTreeMap<Algorithm, Kid>,
}

/// Upper bound on actions in one step; a correct decision function needs far fewer.
const MAX_ACTIONS: usize = 32;

/// Everything a rotation step needs, wired once.
pub struct Rotator<'a> {
    pub store: &'a dyn KeyStore,
    pub publisher: &'a dyn Publisher,
    pub issuer: &'a str,
    pub algs: &'a [Algorithm],
    pub policy: RotationPolicy,
}

impl Rotator<'_> {
    /// Runs one step to completion: load → decide → act, until the step has nothing left to do.
    pub async fn run_step(
        &self,
        step: Step,
        emergency: bool,
        now: UnixTime,
    ) -> Result<StepReport, Error> {
        let mut report = StepReport {
            step: Some(step),
            ..StepReport::default()
        };
        for _ in 0..MAX_ACTIONS {
            let state = self.store.load(self.algs).await?;
            let published: BTreeSet<Kid> = self
                .publisher
                .read_jwks()
                .await?
                .map(|j| j.kids().cloned().collect())
                .unwrap_or_default();
            let decision = Decide {
                step,
                emergency,
                state: &state,
                published: &published,
                now,
                policy: self.policy,
            };
            let Some(action) = next_action(&decision)? else {
                report.current_kids = state
                    .algs
                    .iter()
                    .filter_map(|(alg, s)| s.current.as_ref().map(|c| (*alg, c.kid.clone())))
                    .collect();
                return Ok(report);
            };
            report.actions.push(action.to_string());
            self.apply(&action, &state, now).await?;
        }
        Err(Error::InconsistentState(format!(
            "{step} did not settle after {MAX_ACTIONS} actions"
        )))
    }

    async fn apply(&self, action: &Action, state: &KeyState, now: UnixTime) -> Result<(), Error> {
        match action {
            Action::Create { alg, slot } => {
                self.store.create_key(*alg, *slot, now).await.map(|_| ())?
            }
            Action::Assign { alg, slot, key } => self.store.assign(*alg, *slot, Some(key)).await?,
            Action::Clear { alg, slot } => self.store.assign(*alg, *slot, None).await?,
            Action::Mark { key, mark } => self.store.mark(key, *mark).await?,
            Action::ScheduleDeletion { key } => self.store.schedule_deletion(key).await?,
            Action::Publish => self.publish(state).await?,
        }
        Ok(())
    }

    async fn publish(&self, state: &KeyState) -> Result<(), Error> {
        let docs = IssuerDocuments {
            discovery: DiscoveryDocument::new(self.issuer, self.algs),
            jwks: state.jwks(),
        };
        self.publisher.publish(&docs).await?;
        // Read back: the published document must hold exactly what we wrote (and so every signing key).
        let back = self.publisher.read_jwks().await?.unwrap_or_default();
        let want = state.desired_kids();
        let got: BTreeSet<Kid> = back.kids().cloned().collect();
        if got != want {
            return Err(Error::InconsistentState(format!(
                "published JWKS read back with kids {got:?}, expected {want:?}"
            )));
        }
        Ok(())
    }
}

/// Checks the invariants that must hold between any two observations (used by tests and by operators' tooling):
/// returns a description of every violation. `before`/`after` are consecutive snapshots with their published kids.
pub fn invariant_violations(
    before: (&KeyState, &BTreeSet<Kid>),
    after: (&KeyState, &BTreeSet<Kid>),
    now: UnixTime,
    policy: RotationPolicy,
) -> Vec<String> {
    let mut v = Vec::new();
    let (state_a, pub_a) = before;
    let (state_b, pub_b) = after;
    for (alg, s) in &state_b.algs {
        if let Some(cur) = &s.current
            && !cur.compromised
            && !cur.pending_deletion
        {
            if !pub_b.contains(&cur.kid) {
                v.push(format!(
                    "{alg} current key {} is not in the published JWKS",
                    cur.kid
                ));
            }
            let before_cur = state_a.algs.get(alg).and_then(|a| a.current.as_ref());
            let replaced_healthy = before_cur.is_some_and(|b| b.id != cur.id && !b.compromised);
            if replaced_healthy {
                match cur.published_at {
                    Some(t) if now >= t.plus(policy.min_publish_age) => {}
                    other => v.push(format!(
                        "{alg} key {} started signing at {now} but was published at {other:?} (min age {})",
                        cur.kid, policy.min_publish_age
                    )),
                }
            }
        }
    }
    // A kid that leaves the JWKS must have been demoted long enough ago (or be compromised).
    let all_before: Vec<&KeyRecord> = state_a
        .algs
        .values()
        .flat_map(|s| [&s.pending, &s.current, &s.previous])
        .flatten()
        .collect();
    for kid in pub_a.difference(pub_b) {
        let Some(k) = all_before.iter().find(|k| &k.kid == kid) else {
            continue;
        };
        if k.compromised {
            continue;
        }
        match k.demoted_at {
            Some(t) if now >= t.plus(policy.retire_after) => {}
            other => v.push(format!(
                "key {kid} left the JWKS at {now}; demoted at {other:?}"
            )),
        }
    }
    v
}

#[cfg(test)]
mod tests;
