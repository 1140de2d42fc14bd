//! The short soak of `make test`: ~5 s at concurrency 64 against the debug `iamjwt serve`, a rotation in the
//! middle, the same assertions as `make soak` (no errors, every sampled token verifies, RSS within 10 %).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use iamjwt_bench::server::{Server, iamjwt_bin};
use iamjwt_bench::soak::{self, SoakConfig};
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn short_soak_with_rotation() {
    let server = Server::start(&iamjwt_bin().unwrap()).unwrap();
    let cfg = SoakConfig {
        duration: Duration::from_secs(5),
        concurrency: 64,
        rss_tolerance: 0.10,
    };
    let report = soak::run(&server, &cfg)
        .await
        .unwrap_or_else(|e| panic!("soak failed: {e}"));
    eprintln!("{}", serde_json::to_string(&report).unwrap());
    assert!(report.es256.requests > 0 && report.rs256.requests > 0);
}
