use super::decide::with_regional_demotions_for_test;
use super::testing::{MemRegions, RegionHarness};
use super::*;
use crate::error::{Error, Refusal};
use crate::keys::KeyState;
use crate::rotation::Action;
use crate::rotation::{Decide, RotationPolicy, Rotator, Step, StepReport};
use crate::testing::{FaultMode, Harness, MemKeyStore, MemPublisher};
use crate::types::Kid;
use futures_executor::block_on;
use proptest::prelude::*;

const POLICY: RotationPolicy = RotationPolicy {
    min_publish_age: 86_400,
    retire_after: 7_500,
};
const T0: UnixTime = UnixTime(1_700_000_000);
const DAY: u64 = 86_400;
const ALGS: [Algorithm; 2] = [Algorithm::RS256, Algorithm::ES256];
const REGIONS: [&str; 2] = ["eu-west-1", "ap-southeast-2"];

type W = RegionHarness<MemKeyStore, MemPublisher>;

fn region(s: &str) -> Region {
    Region::parse(s).unwrap()
}

fn world() -> W {
    RegionHarness::new(
        Harness::new(
            MemKeyStore::new(),
            MemPublisher::default(),
            ALGS.to_vec(),
            POLICY,
        ),
        MemRegions::new(REGIONS.iter().map(|r| region(r)).collect()),
    )
}

fn rotator(w: &W) -> RegionalRotator<'_> {
    rotator_with(w, &ALGS)
}

fn rotator_with<'a>(w: &'a W, algs: &'a [Algorithm]) -> RegionalRotator<'a> {
    RegionalRotator {
        primary: Rotator {
            store: w,
            publisher: w,
            issuer: "https://id.example.com",
            algs,
            policy: POLICY,
        },
        regions: w,
    }
}

/// Every step with `algs` configured; like the state machine, a refused promotion does not stop the run.
fn run_algs(w: &W, algs: &[Algorithm], now: UnixTime) -> Vec<StepReport> {
    w.set_now(now);
    Step::ALL
        .iter()
        .filter_map(
            |s| match block_on(rotator_with(w, algs).run_step(*s, false, now)) {
                Err(Error::Refused(_)) if *s == Step::Promote => None,
                other => Some(other.unwrap()),
            },
        )
        .collect()
}

fn step(w: &W, s: Step, emergency: bool, now: UnixTime) -> Result<StepReport, Error> {
    w.set_now(now);
    block_on(rotator(w).run_step(s, emergency, now))
}

/// The workflow's steps from `from` on, stopping at the first error (like the state machine).
fn run_from(w: &W, from: usize, emergency: bool, now: UnixTime) -> Result<Vec<StepReport>, Error> {
    Step::ALL[from..]
        .iter()
        .map(|s| step(w, *s, emergency, now))
        .collect()
}

fn run(w: &W, emergency: bool, now: UnixTime) -> Result<Vec<StepReport>, Error> {
    run_from(w, 0, emergency, now)
}

fn observe(w: &W) -> (KeyState, BTreeSet<Kid>) {
    block_on(w.primary.observe()).unwrap()
}

fn down(w: &W, r: &str, is_down: bool) {
    w.regions.set_down(&region(r), is_down);
}

fn current_id(state: &KeyState, alg: Algorithm) -> KeyId {
    state.algs[&alg].current.as_ref().unwrap().id.clone()
}

/// Every region that is up signs with the primary's current key, holds live replicas of the current and pending
/// keys and none of a retired key; nothing broke an invariant.
fn assert_converged(w: &W) {
    let (state, published) = observe(w);
    assert_eq!(published, state.desired_kids(), "JWKS matches the slots");
    let retired = block_on(w.regions.retired()).unwrap();
    for (r, keys) in w.regions.snapshot() {
        if w.regions.is_down(&r) {
            continue;
        }
        for (alg, slots) in &state.algs {
            let cur = slots.current.as_ref().expect("current");
            assert_eq!(keys.current.get(alg), Some(&cur.id), "{r} {alg} current");
            assert!(keys.live(&cur.id), "{r} {alg} current replica");
            if let Some(p) = &slots.pending {
                assert!(keys.live(&p.id), "{r} {alg} pending replica");
            }
        }
        for k in &retired {
            assert!(!keys.live(k), "{r} keeps a live replica of retired {k}");
        }
    }
    assert_eq!(w.violations(), Vec::<String>::new());
}

fn errors(reports: &[StepReport]) -> BTreeSet<Region> {
    reports
        .iter()
        .flat_map(|r| r.region_errors.keys().cloned())
        .collect()
}

#[test]
fn bootstrap_replicates_into_every_region_and_points_every_alias() {
    let w = world();
    let reports = run(&w, false, T0).unwrap();
    assert!(reports.iter().all(StepReport::complete));
    assert_converged(&w);
    let (state, _) = observe(&w);
    // One key id, one kid everywhere: the replicas are the primary's keys.
    for keys in w.regions.snapshot().values() {
        assert_eq!(
            keys.replicas.len(),
            4,
            "current and pending of two algorithms"
        );
        for alg in ALGS {
            assert_eq!(keys.current[&alg], current_id(&state, alg));
        }
    }
    // Idempotent: every step again changes nothing anywhere (promote refuses: the pending keys are young).
    let before = (observe(&w), w.regions.snapshot());
    for s in [Step::Retire, Step::Create, Step::Publish] {
        assert!(step(&w, s, false, T0).unwrap().actions.is_empty());
    }
    assert!(matches!(
        step(&w, Step::Promote, false, T0),
        Err(Error::Refused(Refusal::UnsafePromotion { .. }))
    ));
    assert_eq!((observe(&w), w.regions.snapshot()), before);
}

#[test]
fn rotation_moves_every_region_and_deletes_replicas_before_the_primary() {
    let w = world();
    run(&w, false, T0).unwrap();
    let (s0, _) = observe(&w);
    run(&w, false, T0.plus(DAY)).unwrap();
    assert_converged(&w);
    let t1 = T0.plus(DAY);
    for keys in w.regions.snapshot().values() {
        for alg in ALGS {
            let old = current_id(&s0, alg);
            assert_eq!(
                keys.replicas[&old].demoted_at,
                Some(t1),
                "demotion recorded per region"
            );
        }
    }
    let reports = run(&w, false, T0.plus(2 * DAY)).unwrap();
    assert_converged(&w);
    let retire = &reports[0].actions;
    for alg in ALGS {
        let old = current_id(&s0, alg);
        let replica_deletions: Vec<usize> = retire
            .iter()
            .enumerate()
            .filter(|(_, a)| a.contains(&format!("schedule deletion of replica {old}")))
            .map(|(i, _)| i)
            .collect();
        let primary_deletion = retire
            .iter()
            .position(|a| a == &format!("schedule deletion of {old}"))
            .expect("primary deletion");
        assert_eq!(replica_deletions.len(), REGIONS.len(), "{retire:?}");
        assert!(replica_deletions.iter().all(|&i| i < primary_deletion));
        for keys in w.regions.snapshot().values() {
            assert!(keys.replicas[&old].pending_deletion);
        }
    }
}

#[test]
fn a_region_down_during_bootstrap_fails_only_its_part_and_is_repaired_later() {
    let w = world();
    down(&w, "eu-west-1", true);
    let reports = run(&w, false, T0).unwrap();
    assert_eq!(errors(&reports), BTreeSet::from([region("eu-west-1")]));
    // The primary and the other region issue.
    assert_converged(&w);
    assert!(
        w.regions.snapshot()[&region("eu-west-1")]
            .current
            .is_empty()
    );
    down(&w, "eu-west-1", false);
    // Any step repairs it: the replicas are made and the aliases set.
    let r = step(&w, Step::Publish, false, T0.plus(60)).unwrap();
    assert!(r.complete());
    assert!(
        r.actions
            .iter()
            .any(|a| a.starts_with("eu-west-1: replicate"))
    );
    assert_converged(&w);
}

#[test]
fn a_lagging_region_keeps_its_key_published_until_its_own_window_has_passed() {
    let w = world();
    run(&w, false, T0).unwrap();
    let (s0, _) = observe(&w);
    let old: Vec<KeyId> = ALGS.iter().map(|a| current_id(&s0, *a)).collect();
    let t1 = T0.plus(DAY);
    down(&w, "eu-west-1", true);
    let reports = run(&w, false, t1).unwrap();
    assert_eq!(errors(&reports), BTreeSet::from([region("eu-west-1")]));
    assert_converged(&w);
    let eu = |w: &W| w.regions.snapshot()[&region("eu-west-1")].clone();
    assert!(
        old.iter().all(|k| eu(&w).signs_with(k)),
        "eu still signs with the old keys"
    );

    // Long after the primary's own window, eu is still down: the old keys stay published and the next
    // rotation waits.
    let t2 = t1.plus(2 * DAY);
    let err = run(&w, false, t2).unwrap_err();
    assert!(
        matches!(err, Error::Refused(Refusal::PreviousStillNeeded { .. })),
        "{err:?}"
    );
    let (_, published) = observe(&w);
    for k in &old {
        let kid = &w.known_keys()[k].kid;
        assert!(published.contains(kid));
    }

    // eu comes back: it moves to the new keys, and its window starts now.
    down(&w, "eu-west-1", false);
    let t3 = t2.plus(100);
    step(&w, Step::Retire, false, t3).unwrap();
    assert_converged(&w);
    for k in &old {
        assert_eq!(eu(&w).replicas[k].demoted_at, Some(t3));
    }
    step(&w, Step::Retire, false, t3.plus(POLICY.retire_after - 1)).unwrap();
    step(&w, Step::Publish, false, t3.plus(POLICY.retire_after - 1)).unwrap();
    let (_, published) = observe(&w);
    assert!(
        old.iter()
            .all(|k| published.contains(&w.known_keys()[k].kid))
    );
    run(&w, false, t3.plus(POLICY.retire_after)).unwrap();
    let (_, published) = observe(&w);
    assert!(
        old.iter()
            .all(|k| !published.contains(&w.known_keys()[k].kid))
    );
    assert_converged(&w);
}

#[test]
fn an_emergency_does_not_wait_for_a_region_it_cannot_reach() {
    let w = world();
    run(&w, false, T0).unwrap();
    let (s0, _) = observe(&w);
    let compromised: Vec<KeyId> = ALGS.iter().map(|a| current_id(&s0, *a)).collect();
    down(&w, "eu-west-1", true);
    let reports = run(&w, true, T0.plus(60)).unwrap();
    assert_eq!(errors(&reports), BTreeSet::from([region("eu-west-1")]));
    assert_converged(&w);
    let (s1, published) = observe(&w);
    for k in &compromised {
        assert!(!published.contains(&w.known_keys()[k].kid));
        assert!(w.known_keys()[k].pending_deletion, "primary scheduled");
        let ap = &w.regions.snapshot()[&region("ap-southeast-2")];
        assert!(ap.replicas[k].pending_deletion && !ap.signs_with(k));
    }
    // eu comes back: it signs with the replacement and its compromised replicas go.
    down(&w, "eu-west-1", false);
    step(&w, Step::Retire, false, T0.plus(120)).unwrap();
    assert_converged(&w);
    let eu = &w.regions.snapshot()[&region("eu-west-1")];
    for (alg, k) in ALGS.iter().zip(&compromised) {
        assert!(eu.replicas[k].pending_deletion);
        assert_eq!(eu.current[alg], current_id(&s1, *alg));
    }
}

#[test]
fn a_lagging_region_follows_an_emergency_replacement_when_it_comes_back() {
    // Found by the property test: eu misses a rotation, then an emergency replaces the new key with a young one.
    let w = world();
    run(&w, false, T0).unwrap();
    down(&w, "eu-west-1", true);
    run(&w, false, T0.plus(DAY)).unwrap();
    run(&w, true, T0.plus(DAY + 3600)).unwrap();
    assert_converged(&w);
    down(&w, "eu-west-1", false);
    resume(&w, false, T0.plus(DAY + 7200));
    assert_converged(&w);
}

fn decide<'a>(
    state: &'a KeyState,
    published: &'a BTreeSet<Kid>,
    retired: &'a BTreeSet<KeyId>,
    regions: &'a [(Region, RegionView)],
    step: Step,
    now: UnixTime,
) -> RegionalDecide<'a> {
    RegionalDecide {
        primary: Decide {
            step,
            emergency: false,
            state,
            published,
            discovery_current: true,
            now,
            policy: POLICY,
        },
        retired,
        regions,
    }
}

#[test]
fn an_alias_never_moves_to_an_unpublished_key() {
    let w = world();
    run(&w, false, T0).unwrap();
    let (state, published) = observe(&w);
    let eu = region("eu-west-1");
    let mut keys = w.regions.snapshot()[&eu].clone();
    let target = current_id(&state, Algorithm::RS256);
    keys.current.clear();
    // The JWKS as read lacks the current RS256 key: the region must not sign with it.
    let kid = &state.algs[&Algorithm::RS256].current.as_ref().unwrap().kid;
    let mut partial = published.clone();
    partial.remove(kid);
    let retired = BTreeSet::new();
    let views = vec![(eu.clone(), RegionView::Up(keys.clone()))];
    let d = decide(&state, &partial, &retired, &views, Step::Publish, T0);
    let mv = next_move(&d).unwrap();
    assert_ne!(
        mv,
        Some(Move::Region {
            region: eu.clone(),
            action: RegionAction::Point {
                alg: Algorithm::RS256,
                key: Some(target.clone())
            }
        })
    );
    // With the whole JWKS it does.
    let d = decide(&state, &published, &retired, &views, Step::Publish, T0);
    assert_eq!(
        next_move(&d).unwrap(),
        Some(Move::Region {
            region: eu.clone(),
            action: RegionAction::Point {
                alg: Algorithm::RS256,
                key: Some(target)
            }
        })
    );
    // Nor to a key that is published but not replicated there: it is replicated first.
    let pending = state.algs[&Algorithm::RS256]
        .pending
        .as_ref()
        .unwrap()
        .id
        .clone();
    keys.replicas.remove(&pending);
    let views = vec![(eu.clone(), RegionView::Up(keys))];
    let d = decide(&state, &published, &retired, &views, Step::Promote, T0);
    assert_eq!(
        next_move(&d).unwrap(),
        Some(Move::Region {
            region: eu,
            action: RegionAction::Replicate { key: pending }
        })
    );
}

#[test]
fn a_region_signing_with_a_key_outside_the_jwks_stops() {
    let w = world();
    run(&w, false, T0).unwrap();
    let (state, published) = observe(&w);
    let eu = region("eu-west-1");
    let stray = KeyId::new("mrk-not-ours");
    let mut keys = w.regions.snapshot()[&eu].clone();
    keys.replicas.insert(stray.clone(), Replica::default());
    keys.current.insert(Algorithm::ES256, stray.clone());
    // Its own current key is not replicated yet (it cannot move): the alias is removed.
    let own = current_id(&state, Algorithm::ES256);
    keys.replicas.remove(&own);
    let retired = BTreeSet::new();
    let views = vec![(eu.clone(), RegionView::Up(keys.clone()))];
    let d = decide(&state, &published, &retired, &views, Step::Retire, T0);
    // Replication comes first, then the alias moves: the stray key never stays current once a fit key exists.
    assert_eq!(
        next_move(&d).unwrap(),
        Some(Move::Region {
            region: eu.clone(),
            action: RegionAction::Replicate { key: own.clone() }
        })
    );
    // Pending deletion of the own replica (nothing to move to): the stray alias is removed.
    keys.replicas.insert(
        own,
        Replica {
            demoted_at: None,
            pending_deletion: true,
        },
    );
    let views = vec![(eu.clone(), RegionView::Up(keys))];
    let d = decide(&state, &published, &retired, &views, Step::Retire, T0);
    assert_eq!(
        next_move(&d).unwrap(),
        Some(Move::Region {
            region: eu,
            action: RegionAction::Point {
                alg: Algorithm::ES256,
                key: None
            }
        })
    );
    // End to end: the rotator repairs a stray alias as well.
    w.regions.put(&region("ap-southeast-2"), {
        let mut k = w.regions.snapshot()[&region("ap-southeast-2")].clone();
        k.replicas.insert(stray.clone(), Replica::default());
        k.current.insert(Algorithm::ES256, stray);
        k
    });
    step(&w, Step::Publish, false, T0.plus(1)).unwrap();
    let (state, _) = observe(&w);
    assert_eq!(
        w.regions.snapshot()[&region("ap-southeast-2")].current[&Algorithm::ES256],
        current_id(&state, Algorithm::ES256)
    );
}

#[test]
fn a_region_that_signs_with_a_key_holds_back_its_retirement_whatever_its_marks_say() {
    let w = world();
    run(&w, false, T0).unwrap();
    run(&w, false, T0.plus(DAY)).unwrap();
    let (state, published) = observe(&w);
    let now = T0.plus(2 * DAY);
    let eu = region("eu-west-1");
    // eu's alias is back on the previous RS256 key, whose replica says it was demoted long ago.
    let prev = state.algs[&Algorithm::RS256]
        .previous
        .as_ref()
        .unwrap()
        .id
        .clone();
    let mut keys = w.regions.snapshot()[&eu].clone();
    assert!(keys.replicas[&prev].demoted_at.is_some());
    keys.current.insert(Algorithm::RS256, prev.clone());
    let retired = BTreeSet::new();
    // The region's own move back to the current key is its next change; with that change withheld (the view
    // stays), the primary must still not retire the key.
    let views = vec![(eu.clone(), RegionView::Up(keys))];
    let d = decide(&state, &published, &retired, &views, Step::Retire, now);
    let primary_only = RegionalDecide { regions: &[], ..d };
    assert!(matches!(
        next_move(&primary_only).unwrap(),
        Some(Move::Primary(Action::ScheduleDeletion { .. }))
    ));
    let adjusted = with_regional_demotions_for_test(&d);
    let p = adjusted.algs[&Algorithm::RS256].previous.as_ref().unwrap();
    assert_eq!(p.demoted_at, Some(now));
}

#[test]
fn adding_a_region_to_a_running_issuer_takes_one_run_of_any_step() {
    let w = world();
    // eu "is not configured yet": it is down for the first two rotations, then appears empty.
    down(&w, "eu-west-1", true);
    run(&w, false, T0).unwrap();
    run(&w, false, T0.plus(DAY)).unwrap();
    down(&w, "eu-west-1", false);
    let r = step(&w, Step::Create, false, T0.plus(DAY + 3600)).unwrap();
    assert!(r.complete(), "{:?}", r.region_errors);
    assert_converged(&w);
    // It holds no replica of the keys that stopped signing before it joined.
    let (state, _) = observe(&w);
    let eu = &w.regions.snapshot()[&region("eu-west-1")];
    for slots in state.algs.values() {
        assert!(
            !eu.replicas
                .contains_key(&slots.previous.as_ref().unwrap().id)
        );
    }
}

/// Issue 19 §4 across regions: an algorithm removed from the set signs nowhere any more — each region's alias of it
/// is removed at once, even in a region that was down at the removal, once it answers — yet its keys stay
/// published until every region's window since it stopped signing there has passed; then the replicas are
/// scheduled for deletion before the primary keys. Before, a replica region's alias of a removed algorithm was
/// never read: the key left the JWKS while that region could still sign with it.
#[test]
fn a_removed_algorithm_stops_signing_in_every_region_before_its_keys_leave_the_jwks() {
    let w = world();
    run(&w, false, T0).unwrap();
    let (s0, _) = observe(&w);
    let es = s0.algs[&Algorithm::ES256].clone();
    let es_ids: Vec<KeyId> = [&es.current, &es.pending]
        .into_iter()
        .flatten()
        .map(|k| k.id.clone())
        .collect();
    let rs = [Algorithm::RS256];

    // ap-southeast-2 is down when ES256 is removed.
    down(&w, "ap-southeast-2", true);
    let t1 = T0.plus(60);
    run_algs(&w, &rs, t1);
    let eu = &w.regions.snapshot()[&region("eu-west-1")];
    assert_eq!(
        eu.current.get(&Algorithm::ES256),
        None,
        "eu still signs ES256"
    );
    assert_eq!(w.violations(), Vec::<String>::new());

    // The lagging region comes back late in the window: its alias goes now, and its window starts now.
    let t2 = t1.plus(POLICY.retire_after - 10);
    down(&w, "ap-southeast-2", false);
    run_algs(&w, &rs, t2);
    let ap = &w.regions.snapshot()[&region("ap-southeast-2")];
    assert_eq!(
        ap.current.get(&Algorithm::ES256),
        None,
        "ap still signs ES256"
    );
    // Past the primary's window but not ap's: still published, nothing deleted.
    run_algs(&w, &rs, t1.plus(POLICY.retire_after + 10));
    let (_, p) = observe(&w);
    for k in [&es.current, &es.pending].into_iter().flatten() {
        assert!(
            p.contains(&k.kid),
            "{} left the JWKS inside ap's window",
            k.kid
        );
    }
    assert_eq!(w.violations(), Vec::<String>::new());

    // Past every region's window: replicas first, then the primary keys, all scheduled; nothing left to do.
    let t3 = t2.plus(POLICY.retire_after);
    run_algs(&w, &rs, t3);
    let (s3, p3) = observe(&w);
    assert!(
        s3.algs
            .get(&Algorithm::ES256)
            .is_none_or(|sl| sl.is_empty()),
        "{s3:?}"
    );
    for k in [&es.current, &es.pending].into_iter().flatten() {
        assert!(!p3.contains(&k.kid));
    }
    for (r, keys) in w.regions.snapshot() {
        for id in &es_ids {
            assert!(!keys.live(id), "{r} keeps a live replica of {id}");
        }
    }
    assert_eq!(w.violations(), Vec::<String>::new());
    let again = run_algs(&w, &rs, t3.plus(1));
    assert!(again.iter().all(|r| r.actions.is_empty()), "{again:?}");
}

/// Adding regions to an issuer whose keys are single-Region (made while it had one region): they cannot be
/// replicated, so the regions wait — without failing any step, and without holding back the primary's rotation —
/// until multi-Region keys made by the next creates are promoted. Before, every step tried to replicate the
/// current key, failed that region, and counted it as possibly signing with everything: no key was ever retired,
/// so no promotion ever happened and the regions never got a key.
#[test]
fn regions_added_to_an_issuer_with_single_region_keys_follow_its_next_multi_region_keys() {
    let w = world();
    // One region: both regions "do not exist yet".
    down(&w, "eu-west-1", true);
    down(&w, "ap-southeast-2", true);
    run(&w, false, T0).unwrap();
    run(&w, false, T0.plus(DAY)).unwrap();
    w.primary.store.make_single_region();
    down(&w, "eu-west-1", false);
    down(&w, "ap-southeast-2", false);

    let reports = run_algs(&w, &ALGS, T0.plus(DAY + 3600));
    assert!(errors(&reports).is_empty(), "{reports:?}");
    for (r, keys) in w.regions.snapshot() {
        assert!(
            keys.current.is_empty() && keys.replicas.is_empty(),
            "{r}: {keys:?}"
        );
    }
    // The next rotation promotes the last single-Region key and creates multi-Region ones; the one after promotes
    // those, and every region follows.
    for day in 2..=3 {
        let reports = run_algs(&w, &ALGS, T0.plus(day * DAY));
        assert!(errors(&reports).is_empty(), "day {day}: {reports:?}");
    }
    let (state, _) = observe(&w);
    for slots in state.algs.values() {
        assert!(!slots.current.as_ref().unwrap().single_region);
    }
    assert_converged(&w);
}

/// Sets up a scenario, returns (world, emergency, now) ready for the run under test.
fn scenario(name: &str) -> (W, bool, UnixTime) {
    let w = world();
    match name {
        "bootstrap" => (w, false, T0),
        "rotate" => {
            run(&w, false, T0).unwrap();
            (w, false, T0.plus(DAY))
        }
        "retire-and-rotate" => {
            run(&w, false, T0).unwrap();
            run(&w, false, T0.plus(DAY)).unwrap();
            (w, false, T0.plus(2 * DAY))
        }
        "emergency" => {
            run(&w, false, T0).unwrap();
            run(&w, false, T0.plus(DAY)).unwrap();
            (w, true, T0.plus(DAY + 10))
        }
        other => panic!("unknown scenario {other}"),
    }
}

const SCENARIOS: [&str; 4] = ["bootstrap", "rotate", "retire-and-rotate", "emergency"];

/// Runs every step once more, as the next scheduled run (or the retried step) does. Promote may refuse: a second
/// rotation too early, or a previous key that a region which just came back signed with until now.
fn resume(w: &W, emergency: bool, now: UnixTime) {
    for s in Step::ALL {
        match step(w, s, emergency, now) {
            Ok(r) => assert!(r.complete(), "{s}: {:?}", r.region_errors),
            Err(Error::Refused(
                Refusal::UnsafePromotion { .. } | Refusal::PreviousStillNeeded { .. },
            )) if s == Step::Promote => {}
            Err(e) => panic!("{s}: {e}"),
        }
    }
}

#[test]
fn crash_at_every_regional_change_then_resume_keeps_invariants() {
    for name in SCENARIOS {
        let (w, emergency, now) = scenario(name);
        w.regions.fail_at(usize::MAX, FaultMode::Before);
        run(&w, emergency, now).unwrap();
        let total = w.regions.calls();
        assert!(total >= 4, "{name}: {total} regional changes");
        for n in 0..total {
            for mode in [FaultMode::Before, FaultMode::After] {
                let (w, emergency, now) = scenario(name);
                w.regions.fail_at(n, mode);
                // A region's failure never fails its step: the primary and the other region finish it. It can
                // hold back retiring a key that region used, so the next promotion waits.
                let mut failed = BTreeSet::new();
                for s in Step::ALL {
                    match step(&w, s, emergency, now) {
                        Ok(r) => failed.extend(r.region_errors.into_keys()),
                        Err(Error::Refused(Refusal::PreviousStillNeeded { .. }))
                            if s == Step::Promote && name == "retire-and-rotate" =>
                        {
                            break;
                        }
                        Err(e) => panic!("{name}: fault {n} {mode:?}: {s}: {e}"),
                    }
                }
                assert_eq!(failed.len(), 1, "{name} {n} {mode:?}");
                w.regions.clear_fault();
                resume(&w, emergency, now);
                assert_converged(&w);
            }
        }
    }
}

#[test]
fn crash_at_every_primary_change_with_regions_then_resume_keeps_invariants() {
    for name in SCENARIOS {
        let (w, emergency, now) = scenario(name);
        w.primary.fail_at(usize::MAX, FaultMode::Before);
        run(&w, emergency, now).unwrap();
        let total = w.primary.calls();
        for n in 0..total {
            for mode in [FaultMode::Before, FaultMode::After] {
                let (w, emergency, now) = scenario(name);
                w.primary.fail_at(n, mode);
                let failed = Step::ALL
                    .iter()
                    .position(|s| step(&w, *s, emergency, now).is_err())
                    .unwrap_or_else(|| panic!("{name}: fault {n} {mode:?} never surfaced"));
                w.primary.clear_fault();
                run_from(&w, failed, emergency, now)
                    .unwrap_or_else(|e| panic!("{name}: resume after {n} {mode:?}: {e}"));
                assert_converged(&w);
            }
        }
    }
}

#[derive(Debug, Clone)]
enum Event {
    /// Takes a region down or brings it back.
    Outage { region: usize, down: bool },
    /// Advances the clock by this many hours and runs the workflow.
    Run { hours: u64, emergency: bool },
}

fn event() -> impl Strategy<Value = Event> {
    prop_oneof![
        (0..REGIONS.len(), any::<bool>()).prop_map(|(region, down)| Event::Outage { region, down }),
        (1u64..60, prop::bool::weighted(0.05))
            .prop_map(|(hours, emergency)| Event::Run { hours, emergency }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Rotations under random regional outages: no invariant is ever broken (every region's signing key is in the
    /// JWKS of that moment, no alias moves to an unpublished or unreplicated key, no key leaves the JWKS while a
    /// region signs with it or before its window); a region that is up during a run is brought up to date by it;
    /// and once every region is back, one run brings them all up to date.
    #[test]
    fn random_regional_outages_never_break_an_invariant(events in prop::collection::vec(event(), 1..40)) {
        let w = world();
        let mut now = T0;
        run(&w, false, now).unwrap();
        for e in events {
            match e {
                Event::Outage { region: i, down: d } => down(&w, REGIONS[i], d),
                Event::Run { hours, emergency } => {
                    now = now.plus(hours * 3600);
                    match run(&w, emergency, now) {
                        Ok(reports) => {
                            let failed = errors(&reports);
                            let (state, _) = observe(&w);
                            for (r, keys) in w.regions.snapshot() {
                                if failed.contains(&r) || w.regions.is_down(&r) {
                                    continue;
                                }
                                for (alg, slots) in &state.algs {
                                    let cur = slots.current.as_ref().map(|k| &k.id);
                                    prop_assert_eq!(keys.current.get(alg), cur, "{} {}", r, alg);
                                }
                            }
                        }
                        Err(Error::Refused(_)) => {}
                        Err(other) => prop_assert!(false, "run failed: {}", other),
                    }
                    prop_assert_eq!(w.violations(), Vec::<String>::new());
                }
            }
        }
        for r in REGIONS {
            down(&w, r, false);
        }
        now = now.plus(3600);
        resume(&w, false, now);
        assert_converged(&w);
    }
}
