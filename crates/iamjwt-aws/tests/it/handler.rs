use crate::support::*;
use iamjwt_aws::kms::KmsSigner;
use iamjwt_core::config::Settings;
use iamjwt_core::issuer::Issuer;
use iamjwt_core::jwk::PublicJwk;
use iamjwt_core::{Algorithm, UnixTime};
use iamjwt_lambda::token::TokenHandler;
use std::sync::Arc;
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
    let moto = moto();
    let conf = with_bucket(&moto).await;
    let s = settings();
    iamjwt_aws::testing::current_keys_published(&conf, &s, PREFIX, BUCKET)
        .await
        .unwrap();

    let (kms, counter) = counted_kms(&conf);
    let signer = Arc::new(KmsSigner::new(kms, PREFIX, Duration::from_secs(300)));
    signer.warm(&s.issue.algorithms).await.unwrap();
    assert_eq!(s.issue.algorithms, Algorithm::ALL.to_vec());
    assert_eq!(
        counter.requests(),
        s.issue.algorithms.len() as u64,
        "cold start: one GetPublicKey (by alias) per algorithm"
    );
    let handler = TokenHandler::new(Issuer::new(s.issue.clone(), signer.clone()));

    for &alg in &s.issue.algorithms {
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
