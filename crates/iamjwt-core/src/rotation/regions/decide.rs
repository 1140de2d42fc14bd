//! The decisions of a multi-region step: bring each reachable region up to date, then the primary's next action
//! under the regional guards (a key's window runs from its last region's demotion; replicas are deleted first).

use super::{Move, RegionAction, RegionKeys, RegionView, slot_records};
use crate::error::Error;
use crate::keys::{KeyRecord, KeyState};
use crate::region::Region;
use crate::rotation::{Action, Decide, next_action};
use crate::time::UnixTime;
use crate::types::KeyId;
use std::collections::BTreeSet;

/// Inputs to a multi-region decision.
#[derive(Debug, Clone, Copy)]
pub struct RegionalDecide<'a> {
    /// The primary's decision inputs (step, emergency, its key state, the published kids, now, policy).
    pub primary: Decide<'a>,
    /// Keys the primary region has scheduled for deletion.
    pub retired: &'a BTreeSet<KeyId>,
    /// Every replica region, in configured order.
    pub regions: &'a [(Region, RegionView)],
}

/// The next change of the step, `Ok(None)` when it has nothing (more) to do. A refusal of the primary's step
/// (e.g. `UnsafePromotion`) is returned only once every reachable region is up to date.
pub fn next_move(d: &RegionalDecide<'_>) -> Result<Option<Move>, Error> {
    for (region, view) in d.regions {
        if let RegionView::Up(keys) = view
            && let Some(action) = region_action(d, keys)
        {
            return Ok(Some(Move::Region {
                region: region.clone(),
                action,
            }));
        }
    }
    let state = with_regional_demotions(d);
    let primary = Decide {
        state: &state,
        ..d.primary
    };
    let Some(action) = next_action(&primary)? else {
        return Ok(None);
    };
    if let Action::ScheduleDeletion { key } = &action {
        // Replicas first. Reaching here for a healthy key means every region was readable and none signs with
        // it (see `last_regional_use`); for a compromised key a region that cannot be reached is not waited for.
        for (region, view) in d.regions {
            if let RegionView::Up(keys) = view
                && keys.live(key)
            {
                return Ok(Some(Move::Region {
                    region: region.clone(),
                    action: RegionAction::ScheduleDeletion { key: key.clone() },
                }));
            }
        }
    }
    Ok(Some(Move::Primary(action)))
}

/// What one reachable region needs next, in order: replicas, its `current` aliases, demotion marks, deletion of
/// replicas the primary has retired.
fn region_action(d: &RegionalDecide<'_>, keys: &RegionKeys) -> Option<RegionAction> {
    let state = d.primary.state;
    // A removed algorithm signs nowhere: its keys are not replicated further, and its aliases go.
    let configured = || {
        state
            .algs
            .iter()
            .filter(|(alg, _)| !state.removed.contains(alg))
    };
    for (_, slots) in configured() {
        for k in [&slots.current, &slots.pending].into_iter().flatten() {
            // A single-Region key cannot be replicated: the region waits for its multi-Region successor.
            if k.publishable() && !k.single_region && !keys.replicas.contains_key(&k.id) {
                return Some(RegionAction::Replicate { key: k.id.clone() });
            }
        }
    }
    for &alg in &state.removed {
        if keys.current.contains_key(&alg) {
            return Some(RegionAction::Point { alg, key: None });
        }
    }
    for (&alg, slots) in configured() {
        let here = keys.current.get(&alg);
        let target = slots.current.as_ref().filter(|t| {
            t.publishable() && d.primary.published.contains(&t.kid) && keys.live(&t.id)
        });
        match (here, target) {
            (_, Some(t)) if here != Some(&t.id) => {
                return Some(RegionAction::Point {
                    alg,
                    key: Some(t.id.clone()),
                });
            }
            (Some(h), None) if !fit_to_sign(d, keys, h) => {
                return Some(RegionAction::Point { alg, key: None });
            }
            _ => {}
        }
    }
    for (id, replica) in &keys.replicas {
        if !replica.pending_deletion
            && replica.demoted_at.is_none()
            && !keys.signs_with(id)
            && (previous_only(state, id) || of_removed_algorithm(state, id))
        {
            return Some(RegionAction::MarkDemoted {
                key: id.clone(),
                at: d.primary.now,
            });
        }
    }
    for (id, replica) in &keys.replicas {
        if !replica.pending_deletion && d.retired.contains(id) && !keys.signs_with(id) {
            return Some(RegionAction::ScheduleDeletion { key: id.clone() });
        }
    }
    None
}

/// A region may keep signing with `key` while the primary still holds it in a slot, healthy, the JWKS has it and
/// the region's replica can sign.
fn fit_to_sign(d: &RegionalDecide<'_>, keys: &RegionKeys, key: &KeyId) -> bool {
    record(d.primary.state, key)
        .is_some_and(|k| k.publishable() && d.primary.published.contains(&k.kid))
        && keys.live(key)
}

fn record<'s>(state: &'s KeyState, key: &KeyId) -> Option<&'s KeyRecord> {
    slot_records(state).find(|k| &k.id == key)
}

/// In a `previous` slot and in no `pending` or `current` one: a key that stopped signing.
fn previous_only(state: &KeyState, key: &KeyId) -> bool {
    let in_slot = |f: fn(&crate::keys::Slots) -> &Option<KeyRecord>| {
        state
            .algs
            .values()
            .any(|s| f(s).as_ref().is_some_and(|k| &k.id == key))
    };
    in_slot(|s| &s.previous) && !in_slot(|s| &s.current) && !in_slot(|s| &s.pending)
}

/// In a slot of an algorithm removed from the configured set: a key that signs nowhere any more.
fn of_removed_algorithm(state: &KeyState, key: &KeyId) -> bool {
    state.removed.iter().any(|alg| {
        state.algs.get(alg).is_some_and(|s| {
            [&s.pending, &s.current, &s.previous]
                .into_iter()
                .flatten()
                .any(|k| &k.id == key)
        })
    })
}

/// The primary's state with each previous key's demotion moved to the last time a region may have signed with it,
/// so the primary's own retire rule ("demoted ≥ retire_after ago") holds for every region. A region that still
/// signs with the key, cannot be read, or has not recorded its demotion yet counts as signing now.
fn with_regional_demotions(d: &RegionalDecide<'_>) -> KeyState {
    let mut state = d.primary.state.clone();
    let removed = state.removed.clone();
    for (alg, slots) in &mut state.algs {
        // A removed algorithm's keys were demoted in their slots; a configured one's in `previous`.
        let demoted = if removed.contains(alg) {
            vec![&mut slots.pending, &mut slots.current, &mut slots.previous]
        } else {
            vec![&mut slots.previous]
        };
        for key in demoted.into_iter().flatten() {
            if let Some(t) = key.demoted_at
                && let Some(last) = last_regional_use(d, &key.id)
            {
                key.demoted_at = Some(t.max(last));
            }
        }
    }
    state
}

#[cfg(test)]
pub(super) fn with_regional_demotions_for_test(d: &RegionalDecide<'_>) -> KeyState {
    with_regional_demotions(d)
}

fn last_regional_use(d: &RegionalDecide<'_>, key: &KeyId) -> Option<UnixTime> {
    let now = d.primary.now;
    d.regions
        .iter()
        .filter_map(|(_, view)| match view {
            RegionView::Down(_) => Some(now),
            RegionView::Up(keys) if keys.signs_with(key) => Some(now),
            RegionView::Up(keys) if keys.live(key) => Some(
                keys.replicas
                    .get(key)
                    .and_then(|r| r.demoted_at)
                    .unwrap_or(now),
            ),
            RegionView::Up(_) => None,
        })
        .max()
}
