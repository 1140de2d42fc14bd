//! The measurement harnesses of `make bench` that need moto, run once each so they cannot rot: the real `token`
//! Lambda binary served one API Gateway event through a loopback Lambda Runtime API (init, `Sign` via KMS,
//! response) with its KMS requests counted by a proxy, and the KMS-path meter (exactly one wire request per warm
//! token, also across key-TTL expiries, and in every region of an issuer in three).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use base64::Engine as _;
use iamjwt_bench::counting_proxy::CountingProxy;
use iamjwt_bench::moto;
use iamjwt_bench::{kms_path, lambda_init};
use std::path::PathBuf;
use std::time::Duration;

fn token_bin() -> PathBuf {
    let p = std::env::var_os("IAMJWT_TOKEN_BIN").map_or_else(
        || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/debug/token"),
        PathBuf::from,
    );
    assert!(
        p.is_file(),
        "{} not found: build it (cargo build -p iamjwt-lambda) or set IAMJWT_TOKEN_BIN",
        p.display()
    );
    p
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_lambda_under_the_runtime_api_and_the_kms_meter() {
    let moto = moto::start().unwrap();
    moto::with_keys(&moto).await.unwrap();

    let proxy = CountingProxy::start(&moto.endpoint).await.unwrap();
    let inv = lambda_init::invoke_once(&token_bin(), &proxy)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    // Both algorithms' keys in one concurrent round of GetPublicKey at init, then the one Sign.
    assert_eq!(
        inv.kms_at_init,
        ["GetPublicKey", "GetPublicKey"],
        "KMS requests before the first poll"
    );
    assert_eq!(
        inv.kms_before_first_token,
        ["GetPublicKey", "GetPublicKey", "Sign"],
        "at most 3 KMS requests before the first token"
    );
    assert!(inv.init_ms > 0.0 && inv.first_token_ms >= inv.init_ms);
    assert_eq!(inv.response["statusCode"], 200, "{}", inv.response);
    let body: serde_json::Value =
        serde_json::from_str(inv.response["body"].as_str().unwrap()).unwrap();
    let token = body["token"].as_str().unwrap();
    let claims = token.split('.').nth(1).unwrap();
    let claims: serde_json::Value = serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(claims)
            .unwrap(),
    )
    .unwrap();
    assert_eq!(claims["sub"], "arn:aws:iam::111122223333:role/ci-deploy");
    assert_eq!(claims["aud"], "sts.amazonaws.com");

    let results = kms_path::run(&moto, 3).await.unwrap();
    assert_eq!(results.len(), 2);
    for r in results {
        assert_eq!(r.kms_requests_per_token, 1.0, "{}", r.alg);
        assert_eq!(r.warm_up_requests, 2, "one GetPublicKey per algorithm");
        assert!(r.own_ms.p50 > 0.0 && r.own_ms.p50 < r.handler_ms.p50);
    }

    // Warm tokens across three expiries of a 300 ms TTL: one Sign per token on the request path, the aliases
    // re-read in the background.
    let across = kms_path::run_across_ttl(
        &moto,
        Duration::from_millis(300),
        Duration::from_millis(1000),
    )
    .await
    .unwrap();
    assert!(across.tokens > 10, "{across:?}");
    assert_eq!(across.ttl_expiries, 3, "{across:?}");
    assert_eq!(across.kms_requests_per_token, 1.0, "{across:?}");
    assert_eq!(
        across.requests.request_path.keys().collect::<Vec<_>>(),
        ["Sign"],
        "{across:?}"
    );
    assert_eq!(across.requests.get(true, "Sign"), across.tokens);
    assert_eq!(
        across.requests.background.keys().collect::<Vec<_>>(),
        ["GetPublicKey"],
        "{across:?}"
    );
    assert!(
        (2..=3).contains(&across.background_refreshes),
        "one refresh per expiry: {across:?}"
    );
    assert_eq!(
        across.requests.get(false, "GetPublicKey"),
        2 * across.background_refreshes,
        "each refresh re-reads both aliases"
    );
}

/// Issue 21: in each region of an issuer in three, a warm token is one KMS request (`Sign`, to the local replica:
/// moto keeps one backend per region, so another region's key would not be found) and no S3 request (the JWKS
/// check reads the bucket at start, not per token).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_region_signs_a_warm_token_with_one_kms_request() {
    let moto = moto::start_multi_region().unwrap();
    moto::with_keys_in_regions(&moto).await.unwrap();
    let results = kms_path::run_regions(&moto, 3).await.unwrap();
    assert_eq!(results.len(), moto::REGIONS.len() * 2);
    for r in results {
        assert_eq!(r.kms_requests_per_token, 1.0, "{} {}", r.region, r.alg);
        assert_eq!(r.s3_requests_per_token, 0.0, "{} {}", r.region, r.alg);
        assert_eq!(
            r.warm_up_requests, 3,
            "{}: one GetPublicKey per algorithm, one GetObject of the JWKS",
            r.region
        );
    }
}
