//! The decisions: for one step, the next action over a key-state snapshot (or none, or a refusal).

use super::{Action, RotationPolicy, Step};
use crate::error::{Error, Refusal};
use crate::keys::{KeyMark, KeyRecord, KeyState, Slots};
use crate::time::UnixTime;
use crate::types::{Algorithm, KeySlot, Kid};
use std::collections::BTreeSet;

/// Inputs to a decision.
#[derive(Debug, Clone, Copy)]
pub struct Decide<'a> {
    pub step: Step,
    pub emergency: bool,
    pub state: &'a KeyState,
    pub published: &'a BTreeSet<Kid>,
    /// The published discovery document is the one these settings imply (issuer, `jwks_uri`, algorithms). When it
    /// is not — the issuer URL changed, or nothing was published yet — `publish` has work to do even if every key
    /// is already in the JWKS.
    pub discovery_current: bool,
    pub now: UnixTime,
    pub policy: RotationPolicy,
}

/// The next action of a step, `Ok(None)` when the step has nothing (more) to do.
pub fn next_action(d: &Decide<'_>) -> Result<Option<Action>, Error> {
    for (&alg, slots) in &d.state.algs {
        let removed = d.state.removed.contains(&alg);
        let action = match d.step {
            // An algorithm no longer configured gets no new keys; its keys are only retired.
            Step::Retire if removed => retire_removed(d, alg, slots),
            _ if removed => None,
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
    let publish_needed = &desired != d.published || !d.discovery_current;
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
    if let Some(a) = re_enabled(alg, s) {
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

/// An algorithm configured again while its keys were being retired ([`retire_removed`]): a pending or current key
/// that is still healthy and published signs again, so its demotion no longer holds; one already scheduled for
/// deletion leaves its slot, and `create` bootstraps the algorithm anew (publishing before signing).
fn re_enabled(alg: Algorithm, s: &Slots) -> Option<Action> {
    for (slot, k) in [
        (KeySlot::Current, &s.current),
        (KeySlot::Pending, &s.pending),
    ] {
        let Some(k) = k else { continue };
        if k.pending_deletion && !k.compromised {
            return Some(Action::Clear { alg, slot });
        }
        if k.demoted_at.is_some() && k.publishable() {
            return Some(Action::Mark {
                key: k.id.clone(),
                mark: KeyMark::Reinstated,
            });
        }
    }
    None
}

/// An algorithm removed from the configured set: nothing signs with its keys any more, but tokens they signed are
/// valid until they expire. Each key is demoted now (in its slot, so re-enabling the algorithm finds it), stays
/// published for the verification window (`retire_after`), then is scheduled for deletion and leaves its slot.
fn retire_removed(d: &Decide<'_>, alg: Algorithm, s: &Slots) -> Option<Action> {
    let same = |a: &Option<KeyRecord>, b: &Option<KeyRecord>| matches!((a, b), (Some(a), Some(b)) if a.id == b.id);
    // A key in two slots (an interrupted promotion): keep it in one.
    if same(&s.previous, &s.current) {
        return Some(Action::Clear {
            alg,
            slot: KeySlot::Previous,
        });
    }
    if same(&s.pending, &s.current) || same(&s.pending, &s.previous) {
        return Some(Action::Clear {
            alg,
            slot: KeySlot::Pending,
        });
    }
    if d.emergency
        && let Some(cur) = &s.current
        && !cur.compromised
    {
        return Some(Action::Mark {
            key: cur.id.clone(),
            mark: KeyMark::Compromised,
        });
    }
    let held = KeySlot::ALL
        .into_iter()
        .filter_map(|slot| s.get(slot).map(|k| (slot, k)));
    for (slot, k) in held.clone() {
        if k.pending_deletion {
            return Some(Action::Clear { alg, slot });
        }
        if k.compromised {
            return Some(Action::ScheduleDeletion { key: k.id.clone() });
        }
    }
    for (_, k) in held.clone() {
        if k.demoted_at.is_none() {
            return Some(Action::Mark {
                key: k.id.clone(),
                mark: KeyMark::Demoted(d.now),
            });
        }
    }
    held.map(|(_, k)| k)
        .find(|k| {
            k.demoted_at
                .is_some_and(|t| d.now >= t.plus(d.policy.retire_after))
        })
        .map(|k| Action::ScheduleDeletion { key: k.id.clone() })
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
