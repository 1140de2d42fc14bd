use crate::support::*;
use iamjwt_aws::kms::{KmsKeyStore, KmsSigner};
use iamjwt_aws::s3::S3Publisher;
use iamjwt_core::claims::Jti;
use iamjwt_core::identity::{Caller, Principal};
use iamjwt_core::issuer::{IssuePolicy, Issuer};
use iamjwt_core::jwk::Jwks;
use iamjwt_core::policy::AudiencePolicy;
use iamjwt_core::ports::{KeyStore as _, Publisher as _};
use iamjwt_core::request::TokenRequest;
use iamjwt_core::rotation::{RotationPolicy, Rotator, Step};
use iamjwt_core::testing::{FaultMode, Harness};
use iamjwt_core::{Algorithm, Audience, UnixTime};
use std::sync::Arc;
use std::time::Duration;

const ALGS: [Algorithm; 2] = [Algorithm::RS256, Algorithm::ES256];
const POLICY: RotationPolicy = RotationPolicy {
    min_publish_age: 86_400,
    retire_after: 7_500,
};
const ISSUER: &str = "https://id.example.com";
const PREFIX: &str = "alias/iamjwt-test";

type H = Harness<KmsKeyStore, S3Publisher>;

fn harness(conf: &aws_config::SdkConfig) -> H {
    Harness::new(
        KmsKeyStore::new(
            iamjwt_aws::sdk::kms(conf),
            PREFIX,
            7,
            iamjwt_aws::testing::key_access().unwrap(),
        ),
        S3Publisher::new(iamjwt_aws::sdk::s3(conf), BUCKET, 3600),
        ALGS.to_vec(),
        POLICY,
    )
}

async fn run(h: &H, now: UnixTime) -> Result<(), iamjwt_core::Error> {
    run_from(h, 0, now).await
}

async fn run_from(h: &H, from: usize, now: UnixTime) -> Result<(), iamjwt_core::Error> {
    h.set_now(now);
    let r = Rotator {
        store: h,
        publisher: h,
        issuer: ISSUER,
        algs: &ALGS,
        policy: POLICY,
    };
    for step in &Step::ALL[from..] {
        r.run_step(*step, false, now).await?;
    }
    Ok(())
}

async fn issue(conf: &aws_config::SdkConfig, alg: Algorithm) -> String {
    // A fresh signer each time: no cached key from before a rotation.
    let signer = KmsSigner::new(iamjwt_aws::sdk::kms(conf), PREFIX, Duration::from_secs(300));
    let policy = IssuePolicy {
        default_algorithm: alg,
        ..iamjwt_core::testing::issue_policy(
            ISSUER,
            AudiencePolicy::default_only(Audience::parse("sts.amazonaws.com").unwrap()),
            &ALGS,
        )
    };
    let caller = Caller {
        principal: Principal::parse("arn:aws:sts::111122223333:assumed-role/r/s1").unwrap(),
        principal_id: None,
        org_id: None,
        source_ip: None,
    };
    let now = UnixTime::from_system_time(std::time::SystemTime::now());
    Issuer::new(policy, Arc::new(signer))
        .issue(
            &caller,
            TokenRequest::default(),
            now,
            Jti::from_random([3; 16]),
        )
        .await
        .unwrap()
        .token
}

/// Verifies against the JWKS read back from S3 through the SDK (plain HTTP GETs of `…/jwks.json` are answered by
/// moto's Cognito mock).
async fn verifies(h: &H, token: &str) -> bool {
    let jwks: Jwks = h.publisher.read_jwks().await.unwrap().unwrap_or_default();
    let set: jsonwebtoken::jwk::JwkSet =
        serde_json::from_value(serde_json::to_value(&jwks).unwrap()).unwrap();
    let header = jsonwebtoken::decode_header(token).unwrap();
    let Some(jwk) = set.find(header.kid.as_deref().unwrap()) else {
        return false;
    };
    let mut v = jsonwebtoken::Validation::new(header.alg);
    v.set_audience(&["sts.amazonaws.com"]);
    v.set_issuer(&[ISSUER]);
    jsonwebtoken::decode::<serde_json::Value>(
        token,
        &jsonwebtoken::DecodingKey::from_jwk(jwk).unwrap(),
        &v,
    )
    .is_ok()
}

async fn key_state(conf: &aws_config::SdkConfig, key_id: &str) -> aws_sdk_kms::types::KeyState {
    let d = iamjwt_aws::sdk::kms(conf)
        .describe_key()
        .key_id(key_id)
        .send()
        .await
        .unwrap();
    d.key_metadata().unwrap().key_state().unwrap().clone()
}

#[tokio::test]
async fn full_lifecycle_against_kms_and_s3() {
    let moto = moto();
    let conf = with_bucket(&moto).await;
    let h = harness(&conf);
    let t0 = UnixTime::from_system_time(std::time::SystemTime::now());

    run(&h, t0).await.unwrap();
    let tokens: Vec<String> = [
        issue(&conf, Algorithm::RS256).await,
        issue(&conf, Algorithm::ES256).await,
    ]
    .to_vec();
    for t in &tokens {
        assert!(
            verifies(&h, t).await,
            "bootstrap token verifies against the JWKS in S3"
        );
    }
    // S3 objects carry the right headers.
    let s3 = iamjwt_aws::sdk::s3(&conf);
    for key in [".well-known/jwks.json", ".well-known/openid-configuration"] {
        let o = s3
            .get_object()
            .bucket(BUCKET)
            .key(key)
            .send()
            .await
            .unwrap();
        assert_eq!(o.content_type(), Some("application/json"));
        assert_eq!(o.cache_control(), Some("public, max-age=3600"));
    }
    let (s0, _) = h.observe().await.unwrap();

    // Rotate a day later: new kid, the old token still verifies.
    let t1 = t0.plus(86_400);
    run(&h, t1).await.unwrap();
    let (s1, p1) = h.observe().await.unwrap();
    assert_eq!(p1.len(), 6);
    for (i, alg) in ALGS.into_iter().enumerate() {
        let fresh = issue(&conf, alg).await;
        let new_kid = jsonwebtoken::decode_header(&fresh).unwrap().kid.unwrap();
        assert_ne!(
            Some(new_kid.clone()),
            jsonwebtoken::decode_header(&tokens[i]).unwrap().kid
        );
        assert_eq!(
            new_kid,
            s1.algs[&alg].current.as_ref().unwrap().kid.to_string()
        );
        assert!(verifies(&h, &fresh).await);
        assert!(
            verifies(&h, &tokens[i]).await,
            "{alg}: old token still verifies"
        );
    }

    // Each step re-run after success changes nothing.
    let r = Rotator {
        store: &h,
        publisher: &h,
        issuer: ISSUER,
        algs: &ALGS,
        policy: POLICY,
    };
    for step in [Step::Retire, Step::Create, Step::Publish] {
        assert!(
            r.run_step(step, false, t1)
                .await
                .unwrap()
                .actions
                .is_empty(),
            "{step}"
        );
    }

    // Retire after the window: scheduled for deletion and gone from the JWKS.
    let t2 = t1.plus(POLICY.retire_after);
    h.set_now(t2);
    r.run_step(Step::Retire, false, t2).await.unwrap();
    r.run_step(Step::Publish, false, t2).await.unwrap();
    let (_, p2) = h.observe().await.unwrap();
    for alg in ALGS {
        let old = s0.algs[&alg].current.as_ref().unwrap();
        assert!(
            !p2.contains(&old.kid),
            "{alg}: retired key gone from the JWKS"
        );
        assert_eq!(
            key_state(&conf, old.id.as_str()).await,
            aws_sdk_kms::types::KeyState::PendingDeletion
        );
    }
    for step in Step::ALL {
        if step != Step::Promote {
            assert!(
                r.run_step(step, false, t2)
                    .await
                    .unwrap()
                    .actions
                    .is_empty(),
                "{step} after retire"
            );
        }
    }
    assert_eq!(h.violations(), Vec::<String>::new());

    // Keys carry the issuer tag IAM policies are scoped by.
    let kms = iamjwt_aws::sdk::kms(&conf);
    let cur = s1.algs[&Algorithm::ES256].current.as_ref().unwrap();
    let tags = kms
        .list_resource_tags()
        .key_id(cur.id.as_str())
        .send()
        .await
        .unwrap();
    assert!(
        tags.tags()
            .iter()
            .any(|t| t.tag_key() == "iamjwt:issuer" && t.tag_value() == PREFIX)
    );
}

/// Issue 19 §4 on KMS: the store finds a removed algorithm by its slot aliases (`DescribeKey` on each); its keys stay in
/// the JWKS for the window, then are scheduled for deletion. Re-enabled within the window, a key's demotion tag
/// is removed (it signs again).
#[tokio::test]
async fn a_removed_algorithm_is_kept_for_its_window_then_deleted_in_kms() {
    let moto = moto();
    let conf = with_bucket(&moto).await;
    let h = harness(&conf);
    let t0 = UnixTime::from_system_time(std::time::SystemTime::now());
    run(&h, t0).await.unwrap();
    let es256_token = issue(&conf, Algorithm::ES256).await;
    let rs256 = [Algorithm::RS256];
    let r = Rotator {
        store: &h,
        publisher: &h,
        issuer: ISSUER,
        algs: &rs256,
        policy: POLICY,
    };
    let t1 = t0.plus(60);
    h.set_now(t1);
    for step in [Step::Retire, Step::Create, Step::Publish] {
        r.run_step(step, false, t1).await.unwrap();
    }
    let state = h.store.load(&rs256).await.unwrap();
    assert!(state.removed.contains(&Algorithm::ES256));
    // Single-Region keys, as KMS reports them (no IAMJWT_REGIONS): never replicated.
    assert!(
        iamjwt_core::rotation::regions::slot_records(&state).all(|k| k.single_region),
        "{state:?}"
    );
    let es = state.algs[&Algorithm::ES256].clone();
    let cur = es.current.clone().unwrap();
    assert_eq!(cur.demoted_at, Some(t1));
    assert!(
        verifies(&h, &es256_token).await,
        "still verifies after the removal"
    );

    // Re-enabled within the window: the demotion tag goes.
    let both = Rotator { algs: &ALGS, ..r };
    let t2 = t1.plus(10);
    h.set_now(t2);
    both.run_step(Step::Retire, false, t2).await.unwrap();
    let again = h.store.load(&ALGS).await.unwrap();
    assert_eq!(
        again.algs[&Algorithm::ES256]
            .current
            .as_ref()
            .unwrap()
            .demoted_at,
        None
    );

    // Removed again, and the window passes: scheduled for deletion, out of the JWKS, aliases gone.
    let t3 = t2.plus(10);
    h.set_now(t3);
    r.run_step(Step::Retire, false, t3).await.unwrap();
    let t4 = t3.plus(POLICY.retire_after);
    h.set_now(t4);
    r.run_step(Step::Retire, false, t4).await.unwrap();
    r.run_step(Step::Publish, false, t4).await.unwrap();
    let (after, published) = h.observe().await.unwrap();
    assert!(!published.contains(&cur.kid));
    assert!(!verifies(&h, &es256_token).await);
    assert_eq!(
        key_state(&conf, cur.id.as_str()).await,
        aws_sdk_kms::types::KeyState::PendingDeletion
    );
    assert_eq!(after.algs[&Algorithm::ES256], Default::default());
    assert!(h.store.load(&rs256).await.unwrap().removed.is_empty());
    assert_eq!(h.violations(), Vec::<String>::new());
}

#[tokio::test]
async fn crash_after_every_call_then_resume() {
    let moto = moto();
    let conf = with_bucket(&moto).await;
    let t0 = UnixTime(1_795_000_000);
    let t1 = t0.plus(86_400);
    // Count the mutations of one rotation.
    let h = harness(&conf);
    run(&h, t0).await.unwrap();
    h.fail_at(usize::MAX, FaultMode::Before);
    run(&h, t1).await.unwrap();
    let total = h.calls();
    assert!(total >= 8, "{total}");

    for n in 0..total {
        for mode in [FaultMode::Before, FaultMode::After] {
            // A fresh emulator state per case.
            reqwest_reset(&moto.endpoint);
            let conf = with_bucket(&moto).await;
            let h = harness(&conf);
            run(&h, t0).await.unwrap();
            h.fail_at(n, mode);
            h.set_now(t1);
            let r = Rotator {
                store: &h,
                publisher: &h,
                issuer: ISSUER,
                algs: &ALGS,
                policy: POLICY,
            };
            let mut failed = None;
            for (i, step) in Step::ALL.iter().enumerate() {
                if r.run_step(*step, false, t1).await.is_err() {
                    failed = Some(i);
                    break;
                }
            }
            let i = failed.unwrap_or_else(|| panic!("fault {n} {mode:?} did not surface"));
            h.clear_fault();
            run_from(&h, i, t1)
                .await
                .unwrap_or_else(|e| panic!("resume after {n} {mode:?}: {e}"));
            assert_eq!(h.violations(), Vec::<String>::new(), "{n} {mode:?}");
            let (state, published) = h.observe().await.unwrap();
            for alg in ALGS {
                let s = &state.algs[&alg];
                assert!(
                    published.contains(&s.current.as_ref().unwrap().kid),
                    "{n} {mode:?} {alg}"
                );
                assert!(
                    published.contains(&s.pending.as_ref().unwrap().kid),
                    "{n} {mode:?} {alg}"
                );
                assert!(
                    s.previous.is_some(),
                    "{n} {mode:?} {alg}: rotation completed"
                );
            }
        }
    }
}

/// `POST /moto-api/reset` over a raw loopback socket.
fn reqwest_reset(endpoint: &str) {
    use std::io::{Read as _, Write as _};
    let authority = endpoint.strip_prefix("http://").unwrap();
    let mut s = std::net::TcpStream::connect(authority).unwrap();
    write!(s, "POST /moto-api/reset HTTP/1.1\r\nHost: {authority}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n").unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    assert!(
        out.starts_with("HTTP/1.1 200") || out.starts_with("HTTP/1.0 200"),
        "{out}"
    );
}
