//! The safety rules of DESIGN.md §6, checked between two observations of the key state and the published JWKS.

use super::RotationPolicy;
use crate::keys::{KeyRecord, KeyState};
use crate::time::UnixTime;
use crate::types::Kid;
use std::collections::BTreeSet;

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
