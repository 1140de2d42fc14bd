//! One issuer in three regions with the real Lambda binaries (issue 21): the `rotate` binary with
//! `IAMJWT_REGIONS` against moto with one backend per region (`Moto::start_multi_region`), then a `token` binary
//! started in each region. A [`CountingProxy`] between the binaries and moto sees each request's SigV4 credential
//! scope, and plays a regional outage. Tokens are checked with PyJWT against the one published JWKS.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use iamjwt_bench::kms_path::EVENT;
use iamjwt_bench::lambda_init::{Function, run_events};
use iamjwt_bench::regions::{BUCKET, REGIONS, RegionalMoto};
use std::path::PathBuf;

const STEPS: [&str; 4] = ["retire", "promote", "create", "publish"];

fn bin(name: &str) -> PathBuf {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(format!("../../target/debug/{name}"));
    let p = std::env::var_os("CARGO_TARGET_DIR")
        .map_or(p, |t| PathBuf::from(t).join(format!("debug/{name}")));
    assert!(
        p.is_file(),
        "{} not found: build it (cargo build -p iamjwt-lambda)",
        p.display()
    );
    p
}

fn env() -> Vec<(String, String)> {
    vec![
        ("IAMJWT_REGIONS".into(), REGIONS.join(",")),
        ("IAMJWT_BUCKET".into(), BUCKET.into()),
    ]
}

/// The issuer in three regions, run by the real binaries.
struct Issuer(RegionalMoto);

impl std::ops::Deref for Issuer {
    type Target = RegionalMoto;
    fn deref(&self) -> &RegionalMoto {
        &self.0
    }
}

impl Issuer {
    async fn start() -> Self {
        Self(
            RegionalMoto::start()
                .await
                .unwrap_or_else(|e| panic!("{e}")),
        )
    }

    /// The `rotate` binary, in the primary region, handed `steps`: each step's result.
    async fn rotate(&self, steps: &[&str]) -> Vec<Result<serde_json::Value, serde_json::Value>> {
        let rotate = bin("rotate");
        let function = Function {
            bin: &rotate,
            name: "rotate",
            region: REGIONS[0],
            env: env(),
        };
        let events = steps
            .iter()
            .map(|s| serde_json::json!({ "step": s }).to_string())
            .collect();
        let run = run_events(&function, &self.proxy, events)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        run.answers.into_iter().map(|a| a.result).collect()
    }

    /// One `token` binary started in `region`, one request: the API Gateway response and the regions of the
    /// credential scopes of its `Sign` requests.
    async fn token(&self, region: &str) -> (serde_json::Value, Vec<Option<String>>) {
        let token = bin("token");
        let function = Function {
            bin: &token,
            name: "token",
            region,
            env: env(),
        };
        self.proxy.take();
        let run = run_events(&function, &self.proxy, vec![EVENT.to_owned()])
            .await
            .unwrap_or_else(|e| panic!("{region}: {e}"));
        let resp = run.answers.into_iter().next().unwrap().result.unwrap();
        let signs = self
            .proxy
            .take()
            .into_iter()
            .filter(|c| c.operation == "Sign")
            .map(|c| c.region)
            .collect();
        (resp, signs)
    }
}

fn assert_steps_ok(results: &[Result<serde_json::Value, serde_json::Value>]) {
    for (step, r) in STEPS.iter().zip(results) {
        let report = r.as_ref().unwrap_or_else(|e| panic!("{step} failed: {e}"));
        assert!(
            report["region_errors"]
                .as_object()
                .is_none_or(serde_json::Map::is_empty),
            "{step}: {report}"
        );
    }
}

fn token_of(resp: &serde_json::Value) -> String {
    assert_eq!(resp["statusCode"], 200, "{resp}");
    let body: serde_json::Value = serde_json::from_str(resp["body"].as_str().unwrap()).unwrap();
    body["token"].as_str().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotate_replicates_and_every_region_signs_with_its_replica_under_one_jwks() {
    let issuer = Issuer::start().await;
    assert_steps_ok(&issuer.rotate(&STEPS).await);

    // Primary and replicas: the same multi-Region key id behind `current` in every region.
    for alg in ["es256", "rs256"] {
        let primary = issuer
            .current(REGIONS[0], alg)
            .await
            .expect("primary alias");
        assert!(primary.starts_with("mrk-"), "{alg}: {primary}");
        for region in &REGIONS[1..] {
            assert_eq!(
                issuer.current(region, alg).await.as_deref(),
                Some(primary.as_str()),
                "{region} {alg}"
            );
        }
    }

    // A token from each region, signed there (the Sign's credential scope names the region).
    let mut tokens = Vec::new();
    for region in REGIONS {
        let (resp, signs) = issuer.token(region).await;
        tokens.push(token_of(&resp));
        assert_eq!(
            signs,
            [Some(region.to_owned())],
            "{region}: its Sign requests"
        );
    }
    let headers =
        iamjwt_bench::regions::pyjwt_verify(&issuer.jwks().await.unwrap(), &tokens).unwrap();
    assert_eq!(headers.len(), 3);
    assert!(headers[0]["kid"].is_string());
    assert!(
        headers.iter().all(|h| h["kid"] == headers[0]["kid"]),
        "{headers:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_regional_outage_and_a_region_whose_key_is_not_published() {
    let issuer = Issuer::start().await;
    assert_steps_ok(&issuer.rotate(&STEPS).await);
    let es256 = issuer.current(REGIONS[0], "es256").await.unwrap();

    // eu-west-1 is down: its token function answers 503, the others keep issuing.
    issuer.proxy.fail_region("eu-west-1", true);
    let (resp, _) = issuer.token("eu-west-1").await;
    assert_eq!(resp["statusCode"], 503, "{resp}");
    let body: serde_json::Value = serde_json::from_str(resp["body"].as_str().unwrap()).unwrap();
    assert_eq!(body["error"], "temporarily_unavailable");
    for region in ["us-east-1", "ap-southeast-2"] {
        token_of(&issuer.token(region).await.0);
    }

    // Rotation steps: eu-west-1's part fails and is reported, the rest is done; publish, which redoes every
    // region's part, fails retryable while the region is down. (The pending key is a day from promotion: no
    // promote step here.)
    let steps = ["retire", "create", "publish"];
    let results = issuer.rotate(&steps).await;
    for (step, r) in steps[..2].iter().zip(&results) {
        let report = r.as_ref().unwrap_or_else(|e| panic!("{step}: {e}"));
        assert!(
            report["region_errors"].to_string().contains("eu-west-1"),
            "{step}: {report}"
        );
        assert!(
            !report["region_errors"]
                .to_string()
                .contains("ap-southeast-2")
        );
    }
    let publish = results[2].as_ref().unwrap_err();
    assert_eq!(publish["errorType"], "Retryable", "{publish}");
    assert!(publish.to_string().contains("eu-west-1"), "{publish}");

    // eu-west-1 is back: the same steps succeed, with nothing left over for any region.
    issuer.proxy.fail_region("eu-west-1", false);
    for (step, r) in steps.iter().zip(issuer.rotate(&steps).await) {
        let report = r.unwrap_or_else(|e| panic!("{step}: {e}"));
        assert!(
            report["region_errors"]
                .as_object()
                .is_none_or(serde_json::Map::is_empty),
            "{step}: {report}"
        );
    }
    assert_eq!(
        issuer.current("eu-west-1", "es256").await.as_deref(),
        Some(es256.as_str())
    );
    token_of(&issuer.token("eu-west-1").await.0);

    // ap-southeast-2's alias of the default algorithm (RS256) is moved (by hand) to a key that is not in the JWKS: that region refuses to sign
    // rather than issue tokens no verifier can check; the others keep issuing.
    issuer
        .point_at_stray_key("ap-southeast-2")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let (resp, signs) = issuer.token("ap-southeast-2").await;
    assert_eq!(resp["statusCode"], 503, "{resp}");
    assert!(
        signs.is_empty(),
        "no Sign with an unpublished key: {signs:?}"
    );
    token_of(&issuer.token("us-east-1").await.0);
}
