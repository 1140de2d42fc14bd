//! The token handler over KMS: the fixture events signed by moto's KMS with one call per warm token, and what
//! moto cannot produce (throttling, a key disabled under a warm signer, an ARN as the key id) with the fake KMS of
//! [`iamjwt_aws::testing::fake_kms`].

use crate::support::*;
use aws_sdk_kms::Client;
use aws_sdk_kms::operation::sign::SignError;
use aws_sdk_kms::types::error::{DisabledException, KmsInvalidStateException};
use aws_smithy_mocks::mock;
use iamjwt_aws::kms::KmsSigner;
use iamjwt_aws::testing::counted_kms;
use iamjwt_aws::testing::fake_kms::{arn, by_alias, kid_of, mock_kms, public_key, sign_as_kms};
use iamjwt_core::config::Settings;
use iamjwt_core::issuer::{IssuePolicy, Issuer};
use iamjwt_core::jwk::PublicJwk;
use iamjwt_core::{Algorithm, UnixTime};
use iamjwt_lambda::token::TokenHandler;
use std::sync::{Arc, Mutex};
use std::time::Duration;

const PREFIX: &str = "alias/iamjwt-handler";

const FIXTURES: [(&str, &str, &str); 5] = [
    (
        "assumed-role",
        include_str!("../../../../tests/fixtures/events/assumed-role.json"),
        "arn:aws:iam::111122223333:role/ci-deploy",
    ),
    (
        "iam-user",
        include_str!("../../../../tests/fixtures/events/iam-user.json"),
        "arn:aws:iam::111122223333:user/engineering/alice",
    ),
    (
        "federated-user",
        include_str!("../../../../tests/fixtures/events/federated-user.json"),
        "arn:aws:sts::111122223333:federated-user/bob@example.com",
    ),
    (
        "govcloud",
        include_str!("../../../../tests/fixtures/events/govcloud-assumed-role.json"),
        "arn:aws-us-gov:iam::444455556666:role/a+b=c,d.e@f-g",
    ),
    (
        "china",
        include_str!("../../../../tests/fixtures/events/china-iam-user.json"),
        "arn:aws-cn:iam::777788889999:user/ops",
    ),
];

fn settings() -> Settings {
    Settings::from_lookup(|k| match k {
        "IAMJWT_ISSUER" => Some("https://id.example.com".into()),
        "IAMJWT_DEFAULT_AUDIENCE" => Some("sts.amazonaws.com".into()),
        "IAMJWT_KEY_ALIAS_PREFIX" => Some(PREFIX.into()),
        // Every algorithm of the core's table, ES384 (KMS ECC_NIST_P384) included.
        "IAMJWT_ALGORITHMS" => Some("RS256,ES256,ES384".into()),
        _ => None,
    })
    .unwrap()
}

#[tokio::test]
async fn fixture_events_signed_by_kms_with_one_call_per_warm_token() {
    let s = settings();
    let (_moto, conf) = moto_with_keys(&s, PREFIX).await;

    let (kms, counter) = counted_kms(&conf);
    let signer = Arc::new(KmsSigner::new(kms, PREFIX, Duration::from_secs(300)));
    signer.warm(&s.algorithms).await.unwrap();
    assert_eq!(s.algorithms, Algorithm::ALL.to_vec());
    assert_eq!(
        counter.requests(),
        s.algorithms.len() as u64,
        "cold start: one GetPublicKey (by alias) per algorithm"
    );
    let handler = TokenHandler::new(Issuer::new(IssuePolicy::from(&s), signer.clone()));

    for &alg in &s.algorithms {
        // The public key, straight from KMS, to verify with.
        let cur = iamjwt_aws::sdk::kms(&conf)
            .describe_key()
            .key_id(format!("{PREFIX}/{}/current", alg.lower()))
            .send()
            .await
            .unwrap();
        let key_id = cur.key_metadata().unwrap().key_id().to_owned();
        let spki = iamjwt_aws::sdk::kms(&conf)
            .get_public_key()
            .key_id(&key_id)
            .send()
            .await
            .unwrap();
        let jwk = PublicJwk::from_spki_der(spki.public_key().unwrap().as_ref()).unwrap();
        let jwk: jsonwebtoken::jwk::Jwk =
            serde_json::from_value(serde_json::to_value(&jwk).unwrap()).unwrap();

        for (name, event, sub) in FIXTURES {
            let mut v: serde_json::Value = serde_json::from_str(event).unwrap();
            v["multiValueQueryStringParameters"] = serde_json::json!({"alg": [alg.as_str()]});
            v["queryStringParameters"] = serde_json::json!({"alg": alg.as_str()});
            let req = lambda_http::request::from_str(&v.to_string()).unwrap();
            counter.reset();
            let resp = handler
                .handle(
                    req,
                    UnixTime::from_system_time(std::time::SystemTime::now()),
                )
                .await;
            assert_eq!(
                counter.requests(),
                1,
                "{name} {alg}: exactly one KMS request per warm token"
            );
            assert_eq!(resp.status(), 200, "{name} {alg}");
            let body: serde_json::Value = serde_json::from_slice(resp.body().as_ref()).unwrap();
            let token = body["token"].as_str().unwrap();
            let mut val = jsonwebtoken::Validation::new(alg.as_str().parse().unwrap());
            val.set_audience(&["sts.amazonaws.com"]);
            val.set_issuer(&["https://id.example.com"]);
            let claims = jsonwebtoken::decode::<serde_json::Value>(
                token,
                &jsonwebtoken::DecodingKey::from_jwk(&jwk).unwrap(),
                &val,
            )
            .unwrap_or_else(|e| panic!("{name} {alg}: {e}"))
            .claims;
            assert_eq!(claims["sub"], sub, "{name}");
        }
    }
}

fn handler(client: Client) -> TokenHandler {
    let s = Settings::from_lookup(|k| match k {
        "IAMJWT_ISSUER" => Some("https://id.example.com".into()),
        "IAMJWT_DEFAULT_AUDIENCE" => Some("sts.amazonaws.com".into()),
        "IAMJWT_ALGORITHMS" => Some("ES256".into()),
        _ => None,
    })
    .unwrap();
    let signer = KmsSigner::new(client, "alias/iamjwt", Duration::from_secs(300));
    TokenHandler::new(Issuer::new(IssuePolicy::from(&s), Arc::new(signer)))
}

fn request() -> lambda_http::Request {
    lambda_http::request::from_str(include_str!(
        "../../../../tests/fixtures/events/assumed-role.json"
    ))
    .unwrap()
}

#[tokio::test]
async fn a_cold_signer_resolves_the_alias_with_one_call_and_signs_by_the_key_arn() {
    let public = by_alias().then_output(|| public_key(3));
    let signed_with = Arc::new(Mutex::new(Vec::new()));
    let sign = mock!(Client::sign).then_compute_output(sign_as_kms(signed_with.clone()));
    let h = handler(mock_kms(&[&public, &sign]));
    let resp = h.handle(request(), now()).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(
        public.num_calls(),
        1,
        "GetPublicKey on the alias, nothing else"
    );
    assert_eq!(sign.num_calls(), 1);
    assert_eq!(
        *signed_with.lock().unwrap(),
        vec![arn(3)],
        "Sign by the key ARN, never by the alias"
    );
    let body: serde_json::Value = serde_json::from_slice(resp.body().as_ref()).unwrap();
    let token = body["token"].as_str().unwrap();
    assert_eq!(
        jsonwebtoken::decode_header(token).unwrap().kid.unwrap(),
        kid_of(3).to_string()
    );
    // Warm: one more token is one more Sign, no GetPublicKey.
    assert_eq!(h.handle(request(), now()).await.status(), 200);
    assert_eq!((public.num_calls(), sign.num_calls()), (1, 2));
}

#[tokio::test]
async fn throttling_is_retried_a_bounded_number_of_times_then_503() {
    let public = by_alias().then_output(|| public_key(7));
    let sign = mock!(Client::sign)
        .sequence()
        .http_status(
            400,
            Some(r#"{"__type":"ThrottlingException","message":"Rate exceeded"}"#.into()),
        )
        .repeatedly()
        .build();
    let resp = handler(mock_kms(&[&public, &sign]))
        .handle(request(), now())
        .await;
    assert_eq!(resp.status(), 503);
    assert_eq!(resp.headers()["retry-after"], "1");
    let body: serde_json::Value = serde_json::from_slice(resp.body().as_ref()).unwrap();
    assert_eq!(body["error"], "temporarily_unavailable");
    assert_eq!(
        sign.num_calls(),
        iamjwt_aws::sdk::MAX_ATTEMPTS as usize,
        "bounded retries"
    );
}

#[tokio::test]
async fn a_disabled_or_pending_deletion_key_refreshes_the_signer_and_fails_with_500() {
    // Warm with an enabled key; Sign then says disabled (or pending deletion: KMSInvalidStateException); the alias
    // still points at it, and KMS refuses GetPublicKey on such a key with the same error.
    let disabled = || {
        SignError::DisabledException(
            DisabledException::builder()
                .message("key is disabled")
                .build(),
        )
    };
    let invalid_state = || {
        SignError::KmsInvalidStateException(
            KmsInvalidStateException::builder()
                .message("arn:aws:kms:…:key/… is pending deletion.")
                .build(),
        )
    };
    let disabled_public = r#"{"__type":"DisabledException","message":"key is disabled"}"#;
    let invalid_public =
        r#"{"__type":"KMSInvalidStateException","message":"key is pending deletion"}"#;
    for (name, sign_error, public_error) in [
        (
            "disabled",
            &disabled as &dyn Fn() -> SignError,
            disabled_public,
        ),
        ("pending deletion", &invalid_state, invalid_public),
    ] {
        let public = by_alias()
            .sequence()
            .output(|| public_key(7))
            .http_status(400, Some(public_error.to_owned()))
            .repeatedly()
            .build();
        let err = sign_error();
        let sign = mock!(Client::sign).then_error(move || match &err {
            SignError::DisabledException(e) => SignError::DisabledException(e.clone()),
            SignError::KmsInvalidStateException(e) => {
                SignError::KmsInvalidStateException(e.clone())
            }
            other => panic!("{other:?}"),
        });
        let h = handler(mock_kms(&[&public, &sign]));
        let first = h.handle(request(), now()).await;
        assert_eq!(first.status(), 500, "{name}");
        let body: serde_json::Value = serde_json::from_slice(first.body().as_ref()).unwrap();
        assert_eq!(body["error"], "server_error", "{name}");
        assert_eq!(sign.num_calls(), 1, "{name}: a disabled key is not retried");
        assert_eq!(public.num_calls(), 1, "{name}");
        // Next request re-resolves at once (no 300 s wait) and finds the alias still on an unusable key.
        let second = h.handle(request(), now()).await;
        assert_eq!(second.status(), 500, "{name}");
        assert_eq!(
            public.num_calls(),
            2,
            "{name}: the signer re-resolved the alias immediately"
        );
        assert_eq!(
            sign.num_calls(),
            1,
            "{name}: no Sign against a key known to be unusable"
        );
    }
}
