//! Principal tags from IAM (moto): the token Lambda's handler issues a templated `sub`/`email` and the session-tags
//! claim for a tagged role and user; warm principals cost one KMS call and no IAM/STS call; other accounts go
//! through the reader role (AssumeRole once, then cached). Failures moto cannot produce (throttled, denied) come
//! from aws-smithy-mocks.

use crate::support::*;
use aws_sdk_iam::operation::list_role_tags::ListRoleTagsError;
use aws_sdk_iam::types::Tag;
use aws_smithy_mocks::{RuleMode, mock, mock_client};
use iamjwt_aws::iam_tags::IamTagSource;
use iamjwt_aws::kms::KmsSigner;
use iamjwt_aws::testing::{Moto, WireMeter, counted_kms, idle_sts};
use iamjwt_core::config::Settings;
use iamjwt_core::issuer::{IssuePolicy, Issuer};
use iamjwt_core::jwk::PublicJwk;
use iamjwt_lambda::token::TokenHandler;
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;

const PREFIX: &str = "alias/iamjwt-tags";
/// moto's account for the static test credentials: the issuer's "own" account.
const HOME: &str = "123456789012";
const OTHER: &str = "444455556666";
const READER: &str = "iamjwt-tag-reader";

const POLICY: &str = r#"{"rules": [{
    "audiences": ["sts.amazonaws.com", "api://ci"],
    "sub": "{principal_type}/{account}/{name}",
    "claims": {"email": "{name}@ci.example.com", "team": "{tag:team|64}", "env": "prod"},
    "session_tags": {"keys": ["team", "cost-*"], "transitive": ["team"]},
    "request_tags": ["job"]
}]}"#;

fn settings() -> Settings {
    Settings::from_lookup(|k| match k {
        "IAMJWT_ISSUER" => Some("https://id.example.com".into()),
        "IAMJWT_DEFAULT_AUDIENCE" => Some("sts.amazonaws.com".into()),
        "IAMJWT_KEY_ALIAS_PREFIX" => Some(PREFIX.into()),
        "IAMJWT_ALGORITHMS" => Some("ES256".into()),
        "IAMJWT_AUDIENCE_POLICY" => Some(POLICY.into()),
        _ => None,
    })
    .unwrap()
}

/// The assumed-role fixture event, as `arn` in `account`, with `query`.
fn event(arn: &str, account: &str, query: &[(&str, &str)]) -> lambda_http::Request {
    let mut v: Value = serde_json::from_str(include_str!(
        "../../../../tests/fixtures/events/assumed-role.json"
    ))
    .unwrap();
    v["requestContext"]["identity"]["userArn"] = json!(arn);
    v["requestContext"]["identity"]["accountId"] = json!(account);
    let mut single = serde_json::Map::new();
    let mut multi = serde_json::Map::new();
    for (k, val) in query {
        single.insert((*k).into(), json!(val));
        multi
            .entry(*k)
            .or_insert_with(|| json!([]))
            .as_array_mut()
            .unwrap()
            .push(json!(val));
    }
    v["queryStringParameters"] = Value::Object(single);
    v["multiValueQueryStringParameters"] = Value::Object(multi);
    lambda_http::request::from_str(&v.to_string()).unwrap()
}

async fn jwk(conf: &aws_config::SdkConfig) -> jsonwebtoken::jwk::Jwk {
    let kms = iamjwt_aws::sdk::kms(conf);
    let cur = kms
        .describe_key()
        .key_id(format!("{PREFIX}/es256/current"))
        .send()
        .await
        .unwrap();
    let spki = kms
        .get_public_key()
        .key_id(cur.key_metadata().unwrap().key_id())
        .send()
        .await
        .unwrap();
    let jwk = PublicJwk::from_spki_der(spki.public_key().unwrap().as_ref()).unwrap();
    serde_json::from_value(serde_json::to_value(&jwk).unwrap()).unwrap()
}

fn claims(resp: &lambda_http::Response<lambda_http::Body>, jwk: &jsonwebtoken::jwk::Jwk) -> Value {
    let body: Value = serde_json::from_slice(resp.body().as_ref()).unwrap();
    assert_eq!(resp.status(), 200, "{body}");
    let mut val = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::ES256);
    val.set_audience(&["sts.amazonaws.com", "api://ci"]);
    val.set_issuer(&["https://id.example.com"]);
    jsonwebtoken::decode::<Value>(
        body["token"].as_str().unwrap(),
        &jsonwebtoken::DecodingKey::from_jwk(jwk).unwrap(),
        &val,
    )
    .unwrap()
    .claims
}

async fn tag_role(iam: &aws_sdk_iam::Client, role: &str, tags: &[(&str, &str)]) {
    iam.create_role()
        .role_name(role)
        .assume_role_policy_document(r#"{"Version":"2012-10-17","Statement":[]}"#)
        .send()
        .await
        .unwrap();
    let mut req = iam.tag_role().role_name(role);
    for (k, v) in tags {
        req = req.tags(Tag::builder().key(*k).value(*v).build().unwrap());
    }
    req.send().await.unwrap();
}

/// Everything a handler over moto needs, with IAM/STS and KMS requests counted apart.
struct Rig {
    _moto: Moto,
    conf: aws_config::SdkConfig,
    kms: WireMeter,
    iam: WireMeter,
    handler: TokenHandler,
    jwk: jsonwebtoken::jwk::Jwk,
}

async fn rig(reader_role: Option<&str>) -> Rig {
    let s = settings();
    assert!(s.needs_tags());
    let (moto, conf) = moto_with_keys(&s, PREFIX).await;
    let (kms_client, kms) = counted_kms(&conf);
    let signer = Arc::new(KmsSigner::new(kms_client, PREFIX, Duration::from_secs(300)));
    signer.warm(&s.algorithms).await.unwrap();
    let iam = WireMeter::default();
    let tags = IamTagSource::new(
        iam.iam(&conf),
        iam.sts(&conf),
        reader_role.map(str::to_owned),
        Duration::from_secs(s.tag_cache_seconds),
    );
    tags.warm().await.unwrap();
    let handler =
        TokenHandler::new(Issuer::new(IssuePolicy::from(&s), signer).with_tags(Arc::new(tags)));
    let jwk = jwk(&conf).await;
    kms.reset();
    iam.reset();
    Rig {
        _moto: moto,
        conf,
        kms,
        iam,
        handler,
        jwk,
    }
}

#[tokio::test]
async fn tagged_role_and_user_get_shaped_tokens_and_warm_principals_cost_one_kms_call() {
    let r = rig(None).await;
    let iam = iamjwt_aws::sdk::iam(&r.conf);
    tag_role(
        &iam,
        "ci-deploy",
        &[("team", "blue"), ("cost-center", "42"), ("secret", "s")],
    )
    .await;
    iam.create_user()
        .user_name("alice")
        .path("/engineering/")
        .send()
        .await
        .unwrap();
    iam.tag_user()
        .user_name("alice")
        .tags(Tag::builder().key("team").value("red").build().unwrap())
        .send()
        .await
        .unwrap();

    let role_arn = format!("arn:aws:sts::{HOME}:assumed-role/ci-deploy/build-42");
    let resp = r
        .handler
        .handle(
            event(&role_arn, HOME, &[("aud", "api://ci"), ("tag", "job=42")]),
            now(),
        )
        .await;
    let c = claims(&resp, &r.jwk);
    assert_eq!(c["sub"], format!("AssumedRole/{HOME}/ci-deploy"));
    assert_eq!(c["email"], "ci-deploy@ci.example.com");
    assert_eq!(c["team"], "blue");
    assert_eq!(c["env"], "prod");
    assert_eq!(c["request_tags"], json!({"job": "42"}));
    assert_eq!(
        c["https://aws.amazon.com/tags"],
        json!({"principal_tags": {"cost-center": ["42"], "team": ["blue"]}, "transitive_tag_keys": ["team"]})
    );
    assert_eq!(r.kms.take().0, 1, "one Sign");
    assert_eq!(r.iam.take().0, 1, "one ListRoleTags");

    // Another session of the same role inside the TTL: the cache answers.
    let other_session = format!("arn:aws:sts::{HOME}:assumed-role/ci-deploy/build-43");
    let resp = r
        .handler
        .handle(event(&other_session, HOME, &[]), now())
        .await;
    assert_eq!(claims(&resp, &r.jwk)["team"], "blue");
    assert_eq!(r.kms.take().0, 1, "warm: exactly one KMS call");
    assert_eq!(r.iam.take().0, 0, "warm: no IAM call");

    let user_arn = format!("arn:aws:iam::{HOME}:user/engineering/alice");
    let resp = r.handler.handle(event(&user_arn, HOME, &[]), now()).await;
    let c = claims(&resp, &r.jwk);
    assert_eq!(c["sub"], format!("User/{HOME}/alice"));
    assert_eq!(c["email"], "alice@ci.example.com");
    assert_eq!(
        c["https://aws.amazon.com/tags"],
        json!({"principal_tags": {"team": ["red"]}, "transitive_tag_keys": ["team"]})
    );
    assert_eq!(r.iam.take().0, 1, "one ListUserTags");

    // A federated user has no IAM tags: no call, the tag claim drops, the tag-free claims stay.
    let fed = format!("arn:aws:sts::{HOME}:federated-user/bob");
    let resp = r.handler.handle(event(&fed, HOME, &[]), now()).await;
    let c = claims(&resp, &r.jwk);
    assert_eq!(c["sub"], format!("FederatedUser/{HOME}/bob"));
    assert!(c.get("team").is_none() && c.get("https://aws.amazon.com/tags").is_none());
    assert_eq!(r.iam.take().0, 0);
    assert_eq!(
        r.kms.take().0,
        2,
        "one Sign for each of the last two tokens"
    );

    // Another account without a reader role: fails, no token, no Sign.
    let foreign = format!("arn:aws:sts::{OTHER}:assumed-role/ci-deploy/x1");
    let resp = r.handler.handle(event(&foreign, OTHER, &[]), now()).await;
    assert_eq!(resp.status(), 500);
    assert_eq!(r.kms.take().0, 0);
}

#[tokio::test]
async fn other_accounts_through_the_reader_role_once_then_the_cache() {
    let r = rig(Some(READER)).await;
    // Set up the other account in moto with credentials of that account.
    let setup = iamjwt_aws::sdk::sts(&r.conf)
        .assume_role()
        .role_arn(format!("arn:aws:iam::{OTHER}:role/setup"))
        .role_session_name("setup")
        .send()
        .await
        .unwrap();
    let c = setup.credentials().unwrap();
    let other_iam = aws_sdk_iam::Client::from_conf(
        aws_sdk_iam::config::Builder::from(&r.conf)
            .credentials_provider(aws_credential_types::Credentials::new(
                c.access_key_id(),
                c.secret_access_key(),
                Some(c.session_token().to_owned()),
                None,
                "test",
            ))
            .build(),
    );
    tag_role(&other_iam, "deployer", &[("team", "green")]).await;
    tag_role(&other_iam, "builder", &[("team", "yellow")]).await;
    r.iam.reset();

    let arn = format!("arn:aws:sts::{OTHER}:assumed-role/deployer/s1");
    let resp = r.handler.handle(event(&arn, OTHER, &[]), now()).await;
    let c = claims(&resp, &r.jwk);
    assert_eq!(c["sub"], format!("AssumedRole/{OTHER}/deployer"));
    assert_eq!(c["team"], "green", "read in the caller's account, not ours");
    assert_eq!(r.iam.take().0, 2, "AssumeRole + ListRoleTags");

    let resp = r.handler.handle(event(&arn, OTHER, &[]), now()).await;
    assert_eq!(claims(&resp, &r.jwk)["team"], "green");
    assert_eq!(r.iam.take().0, 0, "cached principal");
    assert_eq!(r.kms.take().0, 2, "one Sign per token");

    let arn = format!("arn:aws:sts::{OTHER}:assumed-role/builder/s1");
    let resp = r.handler.handle(event(&arn, OTHER, &[]), now()).await;
    assert_eq!(claims(&resp, &r.jwk)["team"], "yellow");
    assert_eq!(
        r.iam.take().0,
        1,
        "reader credentials reused: ListRoleTags only"
    );
}

fn mocked_handler(iam: aws_sdk_iam::Client, kms: aws_sdk_kms::Client) -> TokenHandler {
    let s = settings();
    let sts = idle_sts(REGION);
    let tags = IamTagSource::new(iam, sts, None, Duration::from_secs(300))
        .with_home_account("111122223333");
    let signer = KmsSigner::new(kms, PREFIX, Duration::from_secs(300));
    TokenHandler::new(
        Issuer::new(IssuePolicy::from(&s), Arc::new(signer)).with_tags(Arc::new(tags)),
    )
}

#[tokio::test]
async fn throttled_lookup_is_503_and_denied_is_500_never_a_token() {
    let describe = mock!(aws_sdk_kms::Client::describe_key)
        .then_error(|| aws_sdk_kms::operation::describe_key::DescribeKeyError::unhandled("unused"));
    let throttled = mock!(aws_sdk_iam::Client::list_role_tags)
        .sequence()
        .http_status(
            400,
            Some(
                "<ErrorResponse><Error><Type>Sender</Type><Code>Throttling</Code><Message>Rate exceeded</Message>\
                 </Error><RequestId>1</RequestId></ErrorResponse>"
                    .into(),
            ),
        )
        .repeatedly()
        .build();
    let kms = mock_client!(aws_sdk_kms, RuleMode::MatchAny, [&describe]);
    let iam = mock_client!(aws_sdk_iam, RuleMode::MatchAny, [&throttled], |c| {
        c.retry_config(iamjwt_aws::sdk::retry_config())
    });
    let arn = "arn:aws:sts::111122223333:assumed-role/ci-deploy/s1";
    let resp = mocked_handler(iam, kms)
        .handle(event(arn, "111122223333", &[]), now())
        .await;
    assert_eq!(resp.status(), 503);
    assert_eq!(resp.headers()["retry-after"], "1");
    let body: Value = serde_json::from_slice(resp.body().as_ref()).unwrap();
    assert_eq!(body["error"], "temporarily_unavailable");
    assert_eq!(
        throttled.num_calls(),
        iamjwt_aws::sdk::MAX_ATTEMPTS as usize,
        "bounded retries"
    );
    assert_eq!(describe.num_calls(), 0, "no signing without the tags");

    let denied = mock!(aws_sdk_iam::Client::list_role_tags).then_error(|| {
        ListRoleTagsError::generic(
            aws_smithy_types::error::ErrorMetadata::builder()
                .code("AccessDenied")
                .message("not authorized to perform iam:ListRoleTags")
                .build(),
        )
    });
    let kms = mock_client!(aws_sdk_kms, RuleMode::MatchAny, [&describe]);
    let iam = mock_client!(aws_sdk_iam, RuleMode::MatchAny, [&denied]);
    let resp = mocked_handler(iam, kms)
        .handle(event(arn, "111122223333", &[]), now())
        .await;
    assert_eq!(resp.status(), 500);
    let body: Value = serde_json::from_slice(resp.body().as_ref()).unwrap();
    assert_eq!(body["error"], "server_error");
    assert!(body.get("token").is_none());
    assert_eq!(denied.num_calls(), 1, "denied is not retried");
    assert_eq!(describe.num_calls(), 0);
}
