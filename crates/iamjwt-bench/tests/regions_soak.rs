//! The multi-region soak of `make test`, bounded to a few rotations (~40 s on two cores; `make soak` runs 100): an
//! issuer in three regions on a virtual clock under seeded random regional outages, through the real adapters
//! against moto (see `iamjwt_bench::regions_soak`). `SOAK_SEED` replays a run.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use iamjwt_bench::regions_soak::{self, RegionsSoakConfig};

const ROTATIONS: u32 = 2;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotations_across_regions_under_random_outages() {
    let mut cfg = RegionsSoakConfig::new(ROTATIONS, std::env::var("SOAK_SEED").ok().as_deref())
        .unwrap_or_else(|e| panic!("{e}"));
    // Few steps: outages more often (some in most runs) and shorter (so the run stays short).
    cfg.outage_chance = 0.15;
    cfg.max_outage_steps = 4;
    eprintln!("multi-region soak: SOAK_SEED={}", cfg.seed);
    let report = regions_soak::run(&cfg)
        .await
        .unwrap_or_else(|e| panic!("SOAK_SEED={}: {e}", cfg.seed));
    eprintln!("{}", report.table());
    report.check().unwrap_or_else(|e| panic!("{e}"));
    // The soak saw what it is about: rotations, outages, and every region issuing.
    assert!(report.rotations >= ROTATIONS, "{}", report.table());
    assert!(report.regions.iter().all(|r| r.tokens > 0));
    assert_eq!(report.unsafe_promotions, 0);
    assert!(report.violations.is_empty());
}

/// The soak can fail: a region whose alias is moved by hand to a key in no JWKS is an invariant violation and an
/// unsafe alias move. (Its token function signs on with the key it resolved a step before, which is published,
/// and the next rotation step points the alias back before the function looks again.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_soak_reports_a_region_pointed_at_an_unpublished_key() {
    let mut cfg = RegionsSoakConfig::new(1, Some("1")).unwrap();
    cfg.outage_chance = 0.0;
    cfg.stray_alias_at = Some(1);
    let report = regions_soak::run(&cfg).await.unwrap();
    eprintln!("{}", report.table());
    let err = report.check().unwrap_err().to_string();
    assert!(err.contains("invariant violations"), "{err}");
    assert!(
        report
            .violations
            .iter()
            .any(|v| v.starts_with("step 1 ") && v.contains("eu-west-1: RS256 current")),
        "{:?}",
        report.violations
    );
    assert_eq!(report.unsafe_promotions, 1, "{:?}", report.violations);
    // Back to the current key at the next step.
    assert!(
        report.violations.iter().all(|v| v.starts_with("step 1 ")),
        "{:?}",
        report.violations
    );
    assert_eq!(report.rotations, 1);
}
