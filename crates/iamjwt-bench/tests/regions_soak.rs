//! The multi-region soak of `make test`, bounded to a few rotations (~40 s on two cores; `make soak` runs 100): an
//! issuer in three regions on a virtual clock under seeded random regional outages, through the real adapters
//! against moto (see `iamjwt_bench::regions_soak`). `SOAK_SEED` replays a run.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use iamjwt_bench::regions_soak::{self, RegionsSoakConfig};

const ROTATIONS: u32 = 2;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotations_across_regions_under_random_outages() {
    let cfg = RegionsSoakConfig::new(ROTATIONS, std::env::var("SOAK_SEED").ok().as_deref())
        .unwrap_or_else(|e| panic!("{e}"));
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
