use super::*;
use crate::discovery::DiscoveryDocument;
use crate::error::Refusal;
use crate::keys::{KeyRecord, KeyState};
use crate::ports::KeyStore as _;
use crate::testing::{FaultMode, Harness, MemKeyStore, MemPublisher};
use crate::time::UnixTime;
use crate::types::Kid;
use futures_executor::block_on;
use std::collections::BTreeSet;

const POLICY: RotationPolicy = RotationPolicy {
    min_publish_age: 86_400,
    retire_after: 7_500,
};
const T0: UnixTime = UnixTime(1_700_000_000);
const DAY: u64 = 86_400;
const ALGS: [Algorithm; 2] = [Algorithm::RS256, Algorithm::ES256];

type H = Harness<MemKeyStore, MemPublisher>;

fn harness() -> H {
    Harness::new(
        MemKeyStore::new(),
        MemPublisher::default(),
        ALGS.to_vec(),
        POLICY,
    )
}

fn rotator(h: &H) -> Rotator<'_> {
    Rotator {
        store: h,
        publisher: h,
        issuer: "https://id.example.com",
        algs: &ALGS,
        policy: POLICY,
    }
}

/// Runs the workflow's steps from `from` on, stopping at the first error (like the state machine does).
fn run_from(h: &H, from: usize, emergency: bool, now: UnixTime) -> Result<Vec<StepReport>, Error> {
    h.set_now(now);
    let r = rotator(h);
    Step::ALL[from..]
        .iter()
        .map(|s| block_on(r.run_step(*s, emergency, now)))
        .collect()
}

fn run(h: &H, emergency: bool, now: UnixTime) -> Result<Vec<StepReport>, Error> {
    run_from(h, 0, emergency, now)
}

fn observe(h: &H) -> (KeyState, BTreeSet<Kid>) {
    block_on(h.observe()).unwrap()
}

fn kid(s: &KeyState, alg: Algorithm, slot: KeySlot) -> Option<Kid> {
    s.algs[&alg].get(slot).map(|k| k.kid.clone())
}

/// The healthy resting shape: every alg has a current and a pending key, both published.
fn assert_healthy(h: &H) {
    let (state, published) = observe(h);
    for alg in ALGS {
        let s = &state.algs[&alg];
        let cur = s.current.as_ref().expect("current");
        let pend = s.pending.as_ref().expect("pending");
        assert!(published.contains(&cur.kid), "{alg} current not published");
        assert!(published.contains(&pend.kid), "{alg} pending not published");
        assert!(pend.published_at.is_some() && cur.published_at.is_some());
        assert_ne!(cur.id, pend.id);
        if let Some(p) = &s.previous {
            assert!(published.contains(&p.kid));
            assert!(p.demoted_at.is_some());
        }
    }
    assert_eq!(published, state.desired_kids());
    assert_eq!(h.violations(), Vec::<String>::new());
}

#[test]
fn bootstrap_is_one_ordinary_run() {
    let h = harness();
    let reports = run(&h, false, T0).unwrap();
    assert!(reports[0].actions.is_empty(), "retire has nothing to do");
    assert!(reports[1].actions.is_empty(), "promote has nothing to do");
    assert_healthy(&h);
    let (state, published) = observe(&h);
    assert_eq!(published.len(), 4);
    assert!(state.algs.values().all(|s| s.previous.is_none()));
}

#[test]
fn every_step_is_idempotent_after_success() {
    let h = harness();
    run(&h, false, T0).unwrap();
    // Each step of a rotation, repeated right after it succeeded (what a workflow retry does), finds nothing to do.
    let now = T0.plus(DAY);
    h.set_now(now);
    for step in Step::ALL {
        let first = block_on(rotator(&h).run_step(step, false, now)).unwrap();
        let before = observe(&h);
        let again = block_on(rotator(&h).run_step(step, false, now)).unwrap();
        assert!(
            again.actions.is_empty(),
            "{step} repeated: {:?} (first: {:?})",
            again.actions,
            first.actions
        );
        assert_eq!(observe(&h), before);
    }
    assert_healthy(&h);
}

#[test]
fn early_second_rotation_is_refused_and_changes_nothing() {
    let h = harness();
    run(&h, false, T0).unwrap();
    let before = observe(&h);
    let err = run(&h, false, T0.plus(DAY - 1)).unwrap_err();
    match err {
        Error::Refused(Refusal::UnsafePromotion { ready_at, .. }) => {
            assert_eq!(ready_at, T0.plus(DAY))
        }
        other => panic!("expected UnsafePromotion, got {other:?}"),
    }
    assert_eq!(observe(&h), before);
}

#[test]
fn full_lifecycle_rotate_then_retire() {
    let h = harness();
    run(&h, false, T0).unwrap();
    let (s0, _) = observe(&h);

    let t1 = T0.plus(DAY);
    run(&h, false, t1).unwrap();
    let (s1, p1) = observe(&h);
    for alg in ALGS {
        assert_eq!(
            kid(&s1, alg, KeySlot::Current),
            kid(&s0, alg, KeySlot::Pending),
            "pending promoted"
        );
        assert_eq!(
            kid(&s1, alg, KeySlot::Previous),
            kid(&s0, alg, KeySlot::Current),
            "current demoted"
        );
        assert_eq!(
            s1.algs[&alg].previous.as_ref().unwrap().demoted_at,
            Some(t1)
        );
        assert_ne!(
            kid(&s1, alg, KeySlot::Pending),
            kid(&s0, alg, KeySlot::Pending)
        );
    }
    assert_eq!(
        p1.len(),
        6,
        "previous, current and pending of both algorithms"
    );
    assert_healthy(&h);

    // Retire only after the verification window.
    let early =
        block_on(rotator(&h).run_step(Step::Retire, false, t1.plus(POLICY.retire_after - 1)))
            .unwrap();
    assert!(early.actions.is_empty());
    let t2 = t1.plus(POLICY.retire_after);
    h.set_now(t2);
    block_on(rotator(&h).run_step(Step::Retire, false, t2)).unwrap();
    block_on(rotator(&h).run_step(Step::Publish, false, t2)).unwrap();
    let (s2, p2) = observe(&h);
    assert_eq!(p2.len(), 4);
    for alg in ALGS {
        assert!(s2.algs[&alg].previous.is_none());
        assert!(!p2.contains(&kid(&s1, alg, KeySlot::Previous).unwrap()));
    }
    assert_healthy(&h);
}

#[test]
fn promotion_waits_for_previous_to_retire() {
    let policy = RotationPolicy {
        min_publish_age: 60,
        retire_after: 7_500,
    };
    // min_publish_age shorter than the verification window: the previous key is what blocks.
    let h = Harness::new(
        MemKeyStore::new(),
        MemPublisher::default(),
        ALGS.to_vec(),
        policy,
    );
    let r = Rotator {
        store: &h,
        publisher: &h,
        issuer: "https://i",
        algs: &ALGS,
        policy,
    };
    for step in Step::ALL {
        block_on(r.run_step(step, false, T0)).unwrap();
    }
    for step in Step::ALL {
        block_on(r.run_step(step, false, T0.plus(60))).unwrap();
    }
    let err = block_on(r.run_step(Step::Promote, false, T0.plus(180))).unwrap_err();
    assert!(
        matches!(err, Error::Refused(Refusal::PreviousStillNeeded { retirable_at, .. }) if retirable_at == T0.plus(60 + 7_500))
    );
}

#[test]
fn a_run_that_stopped_before_publishing_is_finished_not_refused() {
    let h = harness();
    run(&h, false, T0).unwrap();
    let t = T0.plus(DAY);
    h.set_now(t);
    for step in [Step::Retire, Step::Promote, Step::Create] {
        block_on(rotator(&h).run_step(step, false, t)).unwrap();
    }
    h.fail_at(0, FaultMode::Before);
    assert!(block_on(rotator(&h).run_step(Step::Publish, false, t)).is_err());
    h.clear_fault();
    let (stuck, published) = observe(&h);
    assert!(
        stuck
            .algs
            .values()
            .all(|s| !published.contains(&s.pending.as_ref().unwrap().kid))
    );

    // Re-running the whole rotation completes the interrupted one; it does not promote the unpublished keys.
    let reports = run(&h, false, t.plus(5)).unwrap();
    assert!(
        reports[1].actions.is_empty(),
        "promote: {:?}",
        reports[1].actions
    );
    assert!(!reports[3].actions.is_empty());
    assert_healthy(&h);
    // And a further run that soon is refused.
    assert!(matches!(
        run(&h, false, t.plus(10)),
        Err(Error::Refused(Refusal::UnsafePromotion { .. }))
    ));
}

#[test]
fn emergency_replaces_current_with_published_pending() {
    let h = harness();
    run(&h, false, T0).unwrap();
    let (s0, _) = observe(&h);
    let t = T0.plus(60); // far younger than min_publish_age: emergency ignores it
    run(&h, true, t).unwrap();
    let (s1, p1) = observe(&h);
    for alg in ALGS {
        let compromised = kid(&s0, alg, KeySlot::Current).unwrap();
        assert_eq!(
            kid(&s1, alg, KeySlot::Current),
            kid(&s0, alg, KeySlot::Pending)
        );
        assert!(
            !p1.contains(&compromised),
            "compromised key dropped from the JWKS"
        );
        assert!(s1.algs[&alg].previous.is_none());
    }
    assert_healthy(&h);
}

#[test]
fn emergency_without_a_published_pending_creates_and_publishes_first() {
    let h = harness();
    run(&h, false, T0).unwrap();
    // Remove pending keys so the emergency has to create a replacement.
    for alg in ALGS {
        block_on(h.store.assign(alg, KeySlot::Pending, None)).unwrap();
    }
    block_on(h.resync()).unwrap();
    let (s0, _) = observe(&h);
    run(&h, true, T0.plus(5)).unwrap();
    let (s1, p1) = observe(&h);
    for alg in ALGS {
        assert_ne!(
            kid(&s1, alg, KeySlot::Current),
            kid(&s0, alg, KeySlot::Current)
        );
        assert!(!p1.contains(&kid(&s0, alg, KeySlot::Current).unwrap()));
    }
    assert_healthy(&h);
}

/// Sets up a scenario, returns (harness, emergency, now) ready for the run under test.
fn scenario(name: &str) -> (H, bool, UnixTime) {
    let h = harness();
    match name {
        "bootstrap" => (h, false, T0),
        "rotate" => {
            run(&h, false, T0).unwrap();
            (h, false, T0.plus(DAY))
        }
        "retire-and-rotate" => {
            run(&h, false, T0).unwrap();
            run(&h, false, T0.plus(DAY)).unwrap();
            (h, false, T0.plus(2 * DAY))
        }
        "emergency" => {
            run(&h, false, T0).unwrap();
            run(&h, false, T0.plus(DAY)).unwrap();
            (h, true, T0.plus(DAY + 10))
        }
        other => panic!("unknown scenario {other}"),
    }
}

#[test]
fn crash_at_every_mutation_then_resume_keeps_invariants() {
    for name in ["bootstrap", "rotate", "retire-and-rotate", "emergency"] {
        // Count the mutations of a clean run.
        let (h, emergency, now) = scenario(name);
        h.fail_at(usize::MAX, FaultMode::Before);
        run(&h, emergency, now).unwrap();
        let total = h.calls();
        assert!(total > 3, "{name}: {total} mutations");
        let (clean, clean_pub) = observe(&h);

        for n in 0..total {
            for mode in [FaultMode::Before, FaultMode::After] {
                // Resume like Step Functions: retry the failed step, then go on.
                let (h, emergency, now) = scenario(name);
                h.fail_at(n, mode);
                let mut failed_at = None;
                h.set_now(now);
                for (i, step) in Step::ALL.iter().enumerate() {
                    if let Err(e) = block_on(rotator(&h).run_step(*step, emergency, now)) {
                        failed_at = Some((i, e));
                        break;
                    }
                }
                let (i, err) = failed_at
                    .unwrap_or_else(|| panic!("{name}: fault {n} {mode:?} never surfaced"));
                assert!(matches!(err, Error::Port(_)), "{name}: {err:?}");
                h.clear_fault();
                run_from(&h, i, emergency, now)
                    .unwrap_or_else(|e| panic!("{name}: resume after {n} {mode:?}: {e}"));
                assert_healthy(&h);
                let (state, published) = observe(&h);
                assert_eq!(published.len(), clean_pub.len(), "{name} {n} {mode:?}");
                for alg in ALGS {
                    assert_eq!(
                        state.algs[&alg].previous.is_some(),
                        clean.algs[&alg].previous.is_some(),
                        "{name} {n} {mode:?}: {alg} previous"
                    );
                }

                // Not an emergency: re-running the *whole* workflow from the start must also converge.
                if !emergency {
                    let (h, _, now) = scenario(name);
                    h.fail_at(n, mode);
                    let _ = run(&h, false, now);
                    h.clear_fault();
                    // Either it finishes the interrupted run, or the interrupted run had in fact completed
                    // (the fault hit its last call) and this is a second, too-early rotation: refused.
                    match run(&h, false, now) {
                        Ok(_) | Err(Error::Refused(Refusal::UnsafePromotion { .. })) => {}
                        Err(e) => panic!("{name}: full re-run after {n} {mode:?}: {e}"),
                    }
                    assert_healthy(&h);
                }
            }
        }
    }
}

#[test]
fn invariant_checker_catches_violations() {
    let h = harness();
    run(&h, false, T0).unwrap();
    let (s0, p0) = observe(&h);
    // Promote a pending key that is only seconds old, by hand.
    let mut s1 = s0.clone();
    let slots = s1.algs.get_mut(&Algorithm::ES256).unwrap();
    let old = slots.current.take();
    slots.current = slots.pending.take();
    slots.previous = old;
    let v = invariant_violations((&s0, &p0), (&s1, &p0), T0.plus(10), POLICY);
    assert!(v.iter().any(|m| m.contains("started signing")), "{v:?}");
    // Drop a freshly demoted key from the JWKS.
    let mut p1 = p0.clone();
    let demoted = s1.algs[&Algorithm::ES256]
        .previous
        .as_ref()
        .unwrap()
        .kid
        .clone();
    p1.remove(&demoted);
    let v = invariant_violations((&s1, &p0), (&s1, &p1), T0.plus(10), POLICY);
    assert!(v.iter().any(|m| m.contains("left the JWKS")), "{v:?}");
    // A current key missing from the JWKS.
    let cur = s0.algs[&Algorithm::RS256]
        .current
        .as_ref()
        .unwrap()
        .kid
        .clone();
    let mut p2 = p0.clone();
    p2.remove(&cur);
    let v = invariant_violations((&s0, &p0), (&s0, &p2), T0, POLICY);
    assert!(
        v.iter().any(|m| m.contains("not in the published JWKS")),
        "{v:?}"
    );
}

#[test]
fn decisions_on_hand_built_states() {
    let h = harness();
    run(&h, false, T0).unwrap();
    let (state, published) = observe(&h);
    let d = |step, now| Decide {
        step,
        emergency: false,
        state: &state,
        published: &published,
        discovery_current: true,
        now,
        policy: POLICY,
    };
    assert_eq!(next_action(&d(Step::Retire, T0)).unwrap(), None);
    assert_eq!(next_action(&d(Step::Create, T0)).unwrap(), None);
    assert_eq!(next_action(&d(Step::Publish, T0)).unwrap(), None);
    // Algorithms are decided in order: RS256 first.
    let cur = state.algs[&Algorithm::RS256]
        .current
        .as_ref()
        .unwrap()
        .id
        .clone();
    assert_eq!(
        next_action(&d(Step::Promote, T0.plus(DAY))).unwrap(),
        Some(Action::Assign {
            alg: Algorithm::RS256,
            slot: KeySlot::Previous,
            key: cur
        })
    );
    // Emergency retire marks the current key compromised first.
    let e = Decide {
        step: Step::Retire,
        emergency: true,
        state: &state,
        published: &published,
        discovery_current: true,
        now: T0,
        policy: POLICY,
    };
    assert!(matches!(
        next_action(&e).unwrap(),
        Some(Action::Mark {
            mark: KeyMark::Compromised,
            ..
        })
    ));
    assert!("rotate".parse::<Step>().is_err());
    assert_eq!("publish".parse::<Step>().unwrap(), Step::Publish);
}

/// Issue 23: `iamjwt serve` restarted at another address changes the issuer while every key stays the same; the
/// published discovery must follow (it named the old issuer and `jwks_uri`, and `publish` said "nothing to do").
#[test]
fn a_changed_issuer_is_republished_though_no_key_changed() {
    use crate::ports::Publisher as _;
    let h = harness();
    run(&h, false, T0).unwrap();
    let moved = Rotator {
        issuer: "https://moved.example.com",
        ..rotator(&h)
    };
    let report = block_on(moved.run_step(Step::Publish, false, T0)).unwrap();
    assert_eq!(report.actions, vec![Action::Publish.to_string()]);
    let published = block_on(h.read_discovery()).unwrap().unwrap();
    assert_eq!(
        published,
        DiscoveryDocument::new("https://moved.example.com", &ALGS)
    );
    // and once published, it is at rest again
    let again = block_on(moved.run_step(Step::Publish, false, T0)).unwrap();
    assert!(again.actions.is_empty(), "{:?}", again.actions);
    assert_healthy(&h);
}

/// Issue 19 §4: the rotator of a deployment whose algorithm set is `algs` (the harness observes every algorithm).
fn run_with(h: &H, algs: &[Algorithm], emergency: bool, now: UnixTime) -> Vec<StepReport> {
    h.set_now(now);
    let r = Rotator { algs, ..rotator(h) };
    // Like the state machine: a refused promotion (the pending key is too young) does not stop the run.
    Step::ALL
        .iter()
        .filter_map(|s| match block_on(r.run_step(*s, emergency, now)) {
            Err(Error::Refused(_)) if *s == Step::Promote => None,
            other => Some(other.unwrap()),
        })
        .collect()
}

fn es256_keys(s: &KeyState) -> Vec<KeyRecord> {
    s.algs
        .get(&Algorithm::ES256)
        .map(|sl| {
            [&sl.pending, &sl.current, &sl.previous]
                .into_iter()
                .flatten()
                .cloned()
                .collect()
        })
        .unwrap_or_default()
}

/// Removing an algorithm: its keys stay in the JWKS until every token they signed has expired (the verification
/// window `retire_after`, counted from the removal), then they are scheduled for deletion and leave the JWKS.
#[test]
fn a_removed_algorithm_stays_published_for_its_window_then_is_deleted() {
    let h = harness();
    run(&h, false, T0).unwrap();
    let (s0, _) = observe(&h);
    let es256 = es256_keys(&s0);
    assert_eq!(es256.len(), 2, "current and pending");

    let t1 = T0.plus(60);
    run_with(&h, &[Algorithm::RS256], false, t1);
    let (s1, p1) = observe(&h);
    for k in &es256 {
        assert!(p1.contains(&k.kid), "{} left the JWKS at once", k.kid);
    }
    // Each key is demoted at the removal: its window runs from there.
    assert!(es256_keys(&s1).iter().all(|k| k.demoted_at == Some(t1)));
    // No new ES256 key was made for an algorithm that is not configured.
    assert_eq!(es256_keys(&s1).len(), 2);
    assert_eq!(h.violations(), Vec::<String>::new());

    let almost = t1.plus(POLICY.retire_after - 1);
    run_with(&h, &[Algorithm::RS256], false, almost);
    let (_, p2) = observe(&h);
    assert!(es256.iter().all(|k| p2.contains(&k.kid)));

    let t2 = t1.plus(POLICY.retire_after);
    run_with(&h, &[Algorithm::RS256], false, t2);
    let (s3, p3) = observe(&h);
    assert!(es256.iter().all(|k| !p3.contains(&k.kid)), "{p3:?}");
    assert!(es256_keys(&s3).is_empty(), "slots cleared");
    for k in &es256 {
        assert!(
            h.store.record(&k.id).unwrap().pending_deletion,
            "{} scheduled for deletion",
            k.id
        );
    }
    assert_eq!(p3, s3.desired_kids());
    assert_eq!(h.violations(), Vec::<String>::new());
    // At rest: nothing more to do.
    let again = run_with(&h, &[Algorithm::RS256], false, t2.plus(1));
    assert!(again.iter().all(|r| r.actions.is_empty()), "{again:?}");
}

/// Re-enabling within the window: the same key signs again (it never left the JWKS), and its window restarts
/// from when it really stops signing, not from the earlier removal.
#[test]
fn re_enabling_within_the_window_reinstates_the_published_key() {
    let h = harness();
    run(&h, false, T0).unwrap();
    let (s0, _) = observe(&h);
    let cur = s0.algs[&Algorithm::ES256].current.clone().unwrap();
    let t1 = T0.plus(60);
    run_with(&h, &[Algorithm::RS256], false, t1);
    let t2 = t1.plus(600);
    run_with(&h, &ALGS, false, t2);
    let (s2, p2) = observe(&h);
    let again = s2.algs[&Algorithm::ES256].current.clone().unwrap();
    assert_eq!(again.id, cur.id);
    assert!(p2.contains(&again.kid));
    assert_eq!(again.demoted_at, None, "signing again");
    assert!(
        s2.algs[&Algorithm::ES256]
            .pending
            .as_ref()
            .unwrap()
            .demoted_at
            .is_none()
    );
    assert!(!s2.removed.contains(&Algorithm::ES256));
    // The next rotation demotes it when it really stops signing.
    let t3 = t2.plus(DAY);
    run_with(&h, &ALGS, false, t3);
    let (s3, _) = observe(&h);
    let prev = s3.algs[&Algorithm::ES256].previous.clone().unwrap();
    assert_eq!((prev.id, prev.demoted_at), (cur.id, Some(t3)));
    assert_healthy(&h);
}

/// Re-enabling after the window: the old keys are gone, so the algorithm is bootstrapped anew, and its first
/// current key is in the JWKS before it may sign.
#[test]
fn re_enabling_after_the_window_bootstraps_a_published_key() {
    let h = harness();
    run(&h, false, T0).unwrap();
    let old = es256_keys(&observe(&h).0);
    let t1 = T0.plus(60);
    run_with(&h, &[Algorithm::RS256], false, t1);
    let t2 = t1.plus(POLICY.retire_after);
    run_with(&h, &[Algorithm::RS256], false, t2);
    run_with(&h, &ALGS, false, t2.plus(10));
    let (s, p) = observe(&h);
    let cur = s.algs[&Algorithm::ES256].current.clone().unwrap();
    assert!(old.iter().all(|k| k.id != cur.id));
    assert!(p.contains(&cur.kid));
    assert_healthy(&h);
}

/// A crash between scheduling a removed key's deletion and clearing its slot, then the algorithm re-enabled:
/// the deleted key leaves its slot and a new one is bootstrapped (never a current key outside the JWKS).
#[test]
fn re_enabling_with_a_deleted_key_still_in_its_slot_bootstraps() {
    let h = harness();
    run(&h, false, T0).unwrap();
    let t1 = T0.plus(60);
    run_with(&h, &[Algorithm::RS256], false, t1);
    let cur = observe(&h).0.algs[&Algorithm::ES256]
        .current
        .clone()
        .unwrap();
    block_on(h.store.schedule_deletion(&cur.id)).unwrap();
    block_on(h.resync()).unwrap();
    let t2 = t1.plus(100);
    run_with(&h, &ALGS, false, t2);
    let (s, p) = observe(&h);
    let now_cur = s.algs[&Algorithm::ES256].current.clone().unwrap();
    assert_ne!(now_cur.id, cur.id);
    assert!(p.contains(&now_cur.kid) && !p.contains(&cur.kid));
    assert_eq!(h.violations(), Vec::<String>::new());
}

/// An emergency while an algorithm is being retired: its last signing key is compromised and goes at once.
#[test]
fn emergency_deletes_a_removed_algorithms_current_key_at_once() {
    let h = harness();
    run(&h, false, T0).unwrap();
    let cur = observe(&h).0.algs[&Algorithm::ES256]
        .current
        .clone()
        .unwrap();
    let t1 = T0.plus(60);
    run_with(&h, &[Algorithm::RS256], false, t1);
    run_with(&h, &[Algorithm::RS256], true, t1.plus(10));
    let (_, p) = observe(&h);
    assert!(!p.contains(&cur.kid));
    assert!(h.store.record(&cur.id).unwrap().pending_deletion);
}

/// The checker: a healthy key that leaves every slot before its deletion could never be retired.
#[test]
fn invariant_checker_catches_a_key_dropped_from_every_slot() {
    let h = harness();
    run(&h, false, T0).unwrap();
    let (s0, p0) = observe(&h);
    let mut s1 = s0.clone();
    s1.algs.remove(&Algorithm::ES256);
    let v = invariant_violations((&s0, &p0), (&s1, &p0), T0, POLICY);
    assert!(v.iter().any(|m| m.contains("left every slot")), "{v:?}");
}
