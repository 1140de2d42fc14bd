//! The safety rules of DESIGN.md §6, checked between two observations of the key state and the published JWKS
//! ([`invariant_violations`]), and across regions ([`region_invariant_violations`]).

use super::RotationPolicy;
use super::regions::RegionKeys;
use crate::keys::{KeyRecord, KeyState};
use crate::region::Region;
use crate::time::UnixTime;
use crate::types::{KeyId, Kid};
use std::collections::{BTreeMap, BTreeSet};

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
    // A healthy key stays in a slot until it is scheduled for deletion: one that leaves every slot before is lost to
    // rotation (never retired, never deleted), and its kid would leave the JWKS with no window at all.
    let in_after = |k: &KeyRecord| {
        state_b
            .algs
            .values()
            .flat_map(|s| [&s.pending, &s.current, &s.previous])
            .flatten()
            .any(|b| b.id == k.id)
    };
    let mut dropped = BTreeSet::new();
    for k in state_a
        .algs
        .values()
        .flat_map(|s| [&s.pending, &s.current, &s.previous])
        .flatten()
    {
        if k.publishable() && !in_after(k) && dropped.insert(k.id.clone()) {
            v.push(format!(
                "{} key {} left every slot before it was scheduled for deletion",
                k.alg, k.kid
            ));
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

/// One observation of a multi-region issuer for [`region_invariant_violations`].
#[derive(Debug, Clone, Copy)]
pub struct RegionalSnapshot<'a> {
    /// The primary's key state.
    pub state: &'a KeyState,
    /// The kids in the published JWKS.
    pub published: &'a BTreeSet<Kid>,
    /// Every replica region as it really is, whether or not the rotate worker can reach it (its token endpoint
    /// signs with its alias either way).
    pub regions: &'a BTreeMap<Region, RegionKeys>,
    /// Every key the primary has held in a slot so far, as last seen (compromised, pending deletion, marks).
    pub keys: &'a BTreeMap<KeyId, KeyRecord>,
}

/// The safety rules of DESIGN.md §6 "Several regions, one issuer", checked between two observations:
/// - a region's alias moves only to a key that was already published and is replicated there; a key that no one
///   signed with yet starts (unless it replaces nothing, or a key unfit to sign) only after its `min_publish_age`
///   (a key already signing in the primary was judged when it started there: an emergency's replacement, too);
/// - no region signs with a healthy key that is not in the published JWKS, or with a replica pending deletion;
/// - a key leaves the JWKS only when no region signs with it and every region's window since it stopped has passed;
/// - a healthy primary key is scheduled for deletion only after all its replicas.
///
/// Compromised keys are exempt where an emergency must act without a region it cannot reach.
pub fn region_invariant_violations(
    before: &RegionalSnapshot<'_>,
    after: &RegionalSnapshot<'_>,
    now: UnixTime,
    policy: RotationPolicy,
) -> Vec<String> {
    let mut v = Vec::new();
    let empty = RegionKeys::default();
    let healthy = |k: Option<&KeyRecord>| k.is_some_and(|k| !k.compromised);
    for (region, ra) in after.regions {
        let rb = before.regions.get(region).unwrap_or(&empty);
        for (alg, key) in &ra.current {
            let rec = after.keys.get(key);
            if !ra.live(key) {
                v.push(format!(
                    "{region}: {alg} current {key} has no replica there that can sign"
                ));
            }
            match rec {
                None => v.push(format!(
                    "{region}: {alg} current {key} is not a key of this issuer"
                )),
                Some(k) if !k.compromised && !after.published.contains(&k.kid) => v.push(format!(
                    "{region}: {alg} signs with {} which is not in the published JWKS",
                    k.kid
                )),
                Some(_) => {}
            }
            let was = rb.current.get(alg);
            if was == Some(key) {
                continue;
            }
            let Some(k) = rec else { continue };
            if !before.published.contains(&k.kid) {
                v.push(format!(
                    "{region}: {alg} alias moved to {} before it was published",
                    k.kid
                ));
            }
            let already_signing = before
                .state
                .algs
                .values()
                .any(|sl| sl.current.as_ref().is_some_and(|c| &c.id == key))
                || before.regions.values().any(|r| r.signs_with(key));
            let replaced_healthy = !already_signing
                && was.is_some_and(|c| {
                    let old = before.keys.get(c);
                    healthy(old)
                        && old.is_some_and(|o| {
                            !o.pending_deletion && before.published.contains(&o.kid)
                        })
                        && rb.live(c)
                });
            if replaced_healthy {
                match k.published_at {
                    Some(t) if now >= t.plus(policy.min_publish_age) => {}
                    other => v.push(format!(
                        "{region}: {alg} {} started signing at {now} but was published at {other:?} (min age {})",
                        k.kid, policy.min_publish_age
                    )),
                }
            }
        }
    }
    for kid in before.published.difference(after.published) {
        for key in before.keys.values().filter(|k| &k.kid == kid) {
            if key.compromised {
                continue;
            }
            for (region, rb) in before.regions {
                if rb.signs_with(&key.id) {
                    v.push(format!("{kid} left the JWKS while {region} signs with it"));
                }
                if let Some(t) = rb.replicas.get(&key.id).and_then(|r| r.demoted_at)
                    && now < t.plus(policy.retire_after)
                {
                    v.push(format!(
                        "{kid} left the JWKS at {now}; {region} stopped signing with it at {t}"
                    ));
                }
            }
        }
    }
    for (id, k) in after.keys {
        let newly_deleted =
            k.pending_deletion && !before.keys.get(id).is_some_and(|b| b.pending_deletion);
        if !newly_deleted || !healthy(before.keys.get(id)) || k.compromised {
            continue;
        }
        for (region, ra) in after.regions {
            if ra.live(id) {
                v.push(format!(
                    "primary key {id} was scheduled for deletion before its replica in {region}"
                ));
            }
        }
    }
    v
}
