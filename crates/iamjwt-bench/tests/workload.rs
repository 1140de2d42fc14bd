//! The workload harness of `make bench`, run once briefly against the debug `iamjwt serve` so it cannot rot: the
//! client's cache answers without reaching the issuer (library and `iamjwt token` process), and the agent's loop
//! makes about five issuer calls an hour for 15-minute tokens.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use iamjwt_bench::server::{Server, iamjwt_bin};
use iamjwt_bench::workload;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cache_vs_issuer_and_agent_calls() {
    let server = Server::start(&iamjwt_bin().unwrap()).unwrap();
    let r = workload::cache_vs_issuer(&server, "ES256", 0.3, 2)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(r.issuer_requests_while_cached, 0, "{r:?}");
    assert!(
        r.library_issuer.calls > 0 && r.library_cache.calls > 0,
        "{r:?}"
    );
    assert_eq!((r.cli_issuer.calls, r.cli_cache.calls), (2, 2), "{r:?}");
    let a = workload::agent_per_hour(900, 2).await.unwrap();
    assert!((5.0..=5.4).contains(&a.calls_per_hour.mean), "{a:?}");
}
