//! The measurement harnesses of `make bench` that need moto, run once each so they cannot rot: the real `token`
//! Lambda binary served one API Gateway event through a loopback Lambda Runtime API (init, `Sign` via KMS,
//! response), and the KMS-path meter (exactly one wire request per warm token).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use base64::Engine as _;
use iamjwt_bench::moto;
use iamjwt_bench::{kms_path, lambda_init};
use std::path::PathBuf;

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

    let inv = lambda_init::invoke_once(&token_bin(), &moto)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
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
        assert_eq!(
            r.warm_up_requests, 4,
            "DescribeKey + GetPublicKey per algorithm"
        );
        assert!(r.own_ms.p50 > 0.0 && r.own_ms.p50 < r.handler_ms.p50);
    }
}
