use super::*;
use iamjwt_core::PortErrorKind;
use iamjwt_core::jwk::PublicJwk;
use iamjwt_core::policy::AudiencePolicy;
use iamjwt_core::testing::TestSigner;
use iamjwt_core::types::{Algorithm, Audience};
use std::sync::Arc;

const NOW: UnixTime = UnixTime(1_795_456_800);

fn fixture(name: &str) -> &'static str {
    match name {
        "assumed-role" => include_str!("../../../../tests/fixtures/events/assumed-role.json"),
        "iam-user" => include_str!("../../../../tests/fixtures/events/iam-user.json"),
        "federated-user" => include_str!("../../../../tests/fixtures/events/federated-user.json"),
        "root" => include_str!("../../../../tests/fixtures/events/root.json"),
        "govcloud-assumed-role" => {
            include_str!("../../../../tests/fixtures/events/govcloud-assumed-role.json")
        }
        "china-iam-user" => include_str!("../../../../tests/fixtures/events/china-iam-user.json"),
        "no-identity" => include_str!("../../../../tests/fixtures/events/no-identity.json"),
        other => panic!("no fixture {other}"),
    }
}

/// Loads a fixture event, replacing its query (multi-value form, as API Gateway sends repeats).
fn event(name: &str, query: &[(&str, &str)]) -> Request {
    let mut v: serde_json::Value = serde_json::from_str(fixture(name)).unwrap();
    let mut multi = serde_json::Map::new();
    let mut single = serde_json::Map::new();
    for (k, val) in query {
        multi
            .entry(k.to_string())
            .or_insert_with(|| serde_json::json!([]))
            .as_array_mut()
            .unwrap()
            .push((*val).into());
        single.insert(k.to_string(), (*val).into());
    }
    v["multiValueQueryStringParameters"] = if query.is_empty() {
        serde_json::Value::Null
    } else {
        multi.into()
    };
    v["queryStringParameters"] = if query.is_empty() {
        serde_json::Value::Null
    } else {
        single.into()
    };
    lambda_http::request::from_str(&v.to_string()).unwrap()
}

fn handler(fail: Option<PortErrorKind>) -> (TokenHandler, PublicJwk) {
    let signer = match fail {
        Some(kind) => TestSigner::failing(5, kind),
        None => TestSigner::new(5),
    };
    let jwk = signer.jwk().clone();
    let policy = AudiencePolicy::from_json(
        Audience::parse("sts.amazonaws.com").unwrap(),
        r#"{"rules":[{"accounts":["111122223333"],"audiences":["api://ci","https://*.example.com"],"max_duration":1800}]}"#,
        3600,
    )
    .unwrap();
    let ip =
        iamjwt_core::testing::issue_policy("https://id.example.com", policy, &[Algorithm::ES256]);
    (
        TokenHandler::new(Issuer::new(ip, Arc::new(signer)), api()),
        jwk,
    )
}

/// The API and stage of the fixture events.
fn api() -> RestApiStage {
    RestApiStage::new("abc123", "prod").unwrap()
}

fn body(r: &Response<Body>) -> serde_json::Value {
    serde_json::from_slice(r.body().as_ref()).unwrap()
}

fn verify(token: &str, jwk: &PublicJwk, aud: &str) -> serde_json::Value {
    let jwk: jsonwebtoken::jwk::Jwk =
        serde_json::from_value(serde_json::to_value(jwk).unwrap()).unwrap();
    let mut v = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::ES256);
    v.set_audience(&[aud]);
    v.set_issuer(&["https://id.example.com"]);
    // The fixed clock is in the future of the machine clock on purpose; check exp/nbf by hand instead.
    v.validate_exp = false;
    v.validate_nbf = false;
    jsonwebtoken::decode::<serde_json::Value>(
        token,
        &jsonwebtoken::DecodingKey::from_jwk(&jwk).unwrap(),
        &v,
    )
    .unwrap()
    .claims
}

#[tokio::test]
async fn every_principal_fixture_gets_a_verifiable_token() {
    let (h, jwk) = handler(None);
    for (name, sub, ptype) in [
        (
            "assumed-role",
            "arn:aws:iam::111122223333:role/ci-deploy",
            "AssumedRole",
        ),
        (
            "iam-user",
            "arn:aws:iam::111122223333:user/engineering/alice",
            "User",
        ),
        (
            "federated-user",
            "arn:aws:sts::111122223333:federated-user/bob@example.com",
            "FederatedUser",
        ),
        (
            "govcloud-assumed-role",
            "arn:aws-us-gov:iam::444455556666:role/a+b=c,d.e@f-g",
            "AssumedRole",
        ),
        (
            "china-iam-user",
            "arn:aws-cn:iam::777788889999:user/ops",
            "User",
        ),
    ] {
        let r = h.handle(event(name, &[]), NOW).await;
        assert_eq!(r.status(), 200, "{name}: {:?}", body(&r));
        assert_eq!(r.headers()["content-type"], "application/json");
        assert_eq!(r.headers()["cache-control"], "no-store");
        let b = body(&r);
        assert_eq!(b["token"], b["access_token"]);
        assert_eq!(
            b["issued_token_type"],
            "urn:ietf:params:oauth:token-type:jwt"
        );
        assert_eq!(b["token_type"], "N_A");
        assert_eq!(b["expires_in"], 900);
        let claims = verify(b["token"].as_str().unwrap(), &jwk, "sts.amazonaws.com");
        assert_eq!(claims["sub"], sub, "{name}");
        assert_eq!(claims["aws"]["principal_type"], ptype);
        assert_eq!(claims["aws"]["source_ip"], "203.0.113.10");
        assert_eq!(claims["exp"], NOW.0 + 900);
        assert_eq!(claims["nbf"], NOW.0 - 30);
    }
    let r = h.handle(event("assumed-role", &[]), NOW).await;
    let claims = verify(
        body(&r)["token"].as_str().unwrap(),
        &jwk,
        "sts.amazonaws.com",
    );
    assert_eq!(claims["aws"]["session_name"], "build-42");
    assert_eq!(claims["aws"]["org_id"], "o-a1b2c3d4e5");
    assert_eq!(
        claims["aws"]["principal_id"],
        "AROAEXAMPLEROLEID1234:build-42"
    );
}

#[tokio::test]
async fn several_audiences_and_a_duration() {
    let (h, jwk) = handler(None);
    let r = h
        .handle(
            event(
                "assumed-role",
                &[
                    ("aud", "api://ci"),
                    ("aud", "https://x.example.com"),
                    ("duration", "1800"),
                ],
            ),
            NOW,
        )
        .await;
    assert_eq!(r.status(), 200, "{:?}", body(&r));
    let claims = verify(body(&r)["token"].as_str().unwrap(), &jwk, "api://ci");
    assert_eq!(
        claims["aud"],
        serde_json::json!(["api://ci", "https://x.example.com"])
    );
    assert_eq!(body(&r)["expires_in"], 1800);
}

/// Query, expected status, expected `error`.
type Case<'a> = (Vec<(&'a str, &'a str)>, u16, &'a str);

#[tokio::test]
async fn bad_input_gets_the_right_error_code() {
    let (h, _) = handler(None);
    let long = "a".repeat(1001);
    let eleven: Vec<String> = (0..11).map(|i| format!("api://{i}")).collect();
    let mut cases: Vec<Case<'_>> = vec![
        (vec![("aud", long.as_str())], 400, "invalid_request"),
        (vec![("aud", "a\u{1}b")], 400, "invalid_request"),
        (vec![("duration", "59")], 400, "invalid_request"),
        (vec![("duration", "3601")], 400, "invalid_request"),
        (vec![("duration", "abc")], 400, "invalid_request"),
        (
            vec![("duration", "60"), ("duration", "61")],
            400,
            "invalid_request",
        ),
        (vec![("alg", "HS256")], 400, "invalid_request"),
        (vec![("alg", "RS256")], 400, "invalid_request"),
        (vec![("scope", "x")], 400, "invalid_request"),
        (vec![("aud", "api://not-allowed")], 400, "invalid_target"),
        // The rule caps lifetime at 1800 s for its audiences.
        (
            vec![("aud", "api://ci"), ("duration", "1801")],
            400,
            "invalid_request",
        ),
    ];
    cases.push((
        eleven.iter().map(|a| ("aud", a.as_str())).collect(),
        400,
        "invalid_request",
    ));
    // Four 1000-character audiences exceed the 4096-byte signing limit.
    let big: Vec<String> = (0..4)
        .map(|i| format!("https://{}{i}.example.com", "b".repeat(980)))
        .collect();
    cases.push((
        big.iter().map(|a| ("aud", a.as_str())).collect(),
        400,
        "invalid_request",
    ));
    for (query, status, code) in cases {
        let r = h.handle(event("assumed-role", &query), NOW).await;
        assert_eq!(r.status(), status, "{query:?}");
        let b = body(&r);
        assert_eq!(b["error"], code, "{query:?}: {b}");
        assert!(
            b["error_description"]
                .as_str()
                .is_some_and(|d| !d.is_empty())
        );
        assert_eq!(r.headers()["content-type"], "application/json");
    }
}

#[tokio::test]
async fn identity_problems_are_403() {
    let (h, _) = handler(None);
    for name in ["root", "no-identity"] {
        let r = h.handle(event(name, &[]), NOW).await;
        assert_eq!(r.status(), 403, "{name}");
        assert_eq!(body(&r)["error"], "access_denied");
    }
    // An identity the caller tries to supply through a header is ignored: the context decides.
    let mut v: serde_json::Value = serde_json::from_str(fixture("no-identity")).unwrap();
    v["headers"]["X-Amz-User-Arn"] = "arn:aws:iam::111122223333:user/mallory".into();
    let r = h
        .handle(lambda_http::request::from_str(&v.to_string()).unwrap(), NOW)
        .await;
    assert_eq!(r.status(), 403);
}

/// Issue 19 §3: whoever can invoke the function directly (or wire another API or stage to it) hands it an event of
/// their own making. Events of another API or stage, and events that are not API Gateway REST events, get a 403 and
/// no token, whatever identity they claim.
#[tokio::test]
async fn events_of_another_api_or_stage_or_not_from_api_gateway_are_403() {
    let (h, _) = handler(None);
    let forged = |edit: &dyn Fn(&mut serde_json::Value)| {
        let mut v: serde_json::Value = serde_json::from_str(fixture("assumed-role")).unwrap();
        // The identity of a caller the policy admits.
        v["requestContext"]["identity"]["userArn"] =
            "arn:aws:sts::111122223333:assumed-role/ci-deploy/build-42".into();
        edit(&mut v);
        lambda_http::request::from_str(&v.to_string()).unwrap()
    };
    let ctx = |k: &'static str, val: serde_json::Value| {
        move |v: &mut serde_json::Value| v["requestContext"][k] = val.clone()
    };
    let cases: Vec<(&str, Request)> = vec![
        ("another API", forged(&ctx("apiId", "zzz999".into()))),
        ("another stage", forged(&ctx("stage", "test".into()))),
        ("no API id", forged(&ctx("apiId", serde_json::Value::Null))),
        ("no stage", forged(&ctx("stage", serde_json::Value::Null))),
        (
            "a stage of another case",
            forged(&ctx("stage", "Prod".into())),
        ),
        (
            "a hand-made direct-invoke payload",
            lambda_http::request::from_str(
                r#"{"httpMethod":"GET","path":"/token","resource":"/token","requestContext":{"httpMethod":"GET","resourcePath":"/token","identity":{"userArn":"arn:aws:iam::111122223333:role/ci-deploy","accountId":"111122223333"}}}"#,
            )
            .unwrap(),
        ),
    ];
    for (what, req) in cases {
        let r = h.handle(req, NOW).await;
        assert_eq!(r.status(), 403, "{what}");
        let b = body(&r);
        assert_eq!(b["error"], "access_denied", "{what}: {b}");
        assert!(b.get("token").is_none(), "{what}: {b}");
        assert_eq!(r.headers()["content-type"], "application/json");
    }
    // Without any request context the Lambda runtime's event parser refuses the payload before the handler: an
    // invocation error, never a token.
    let mut v: serde_json::Value = serde_json::from_str(fixture("assumed-role")).unwrap();
    v.as_object_mut().unwrap().remove("requestContext");
    assert!(lambda_http::request::from_str(&v.to_string()).is_err());
    // The unedited fixture is this API's and stage's event.
    let r = h.handle(forged(&|_| {}), NOW).await;
    assert_eq!(r.status(), 200, "{:?}", body(&r));
}

#[test]
fn api_and_stage_settings_are_required_and_checked() {
    let env = |pairs: &'static [(&'static str, &'static str)]| {
        move |k: &str| {
            pairs
                .iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| (*v).to_owned())
        }
    };
    let ok = RestApiStage::from_lookup(env(&[
        ("IAMJWT_API_ID", "a1b2c3d4e5"),
        ("IAMJWT_API_STAGE", "prod"),
    ]))
    .unwrap();
    assert_eq!(ok, RestApiStage::new("a1b2c3d4e5", "prod").unwrap());
    let cases: [(&'static [(&'static str, &'static str)], &str); 4] = [
        (&[("IAMJWT_API_STAGE", "prod")], "IAMJWT_API_ID"),
        (&[("IAMJWT_API_ID", "a1b2c3d4e5")], "IAMJWT_API_STAGE"),
        (
            &[("IAMJWT_API_ID", "A1B2/x"), ("IAMJWT_API_STAGE", "prod")],
            "IAMJWT_API_ID",
        ),
        (
            &[
                ("IAMJWT_API_ID", "a1b2c3d4e5"),
                ("IAMJWT_API_STAGE", "pr od"),
            ],
            "IAMJWT_API_STAGE",
        ),
    ];
    for (pairs, name) in cases {
        let e = RestApiStage::from_lookup(env(pairs))
            .unwrap_err()
            .to_string();
        assert!(e.contains(name), "{pairs:?}: {e}");
    }
}

#[tokio::test]
async fn routing() {
    let (h, _) = handler(None);
    let mut v: serde_json::Value = serde_json::from_str(fixture("assumed-role")).unwrap();
    v["httpMethod"] = "POST".into();
    let r = h
        .handle(lambda_http::request::from_str(&v.to_string()).unwrap(), NOW)
        .await;
    assert_eq!(r.status(), 405);
    assert_eq!(r.headers()["allow"], "GET");
    let mut v: serde_json::Value = serde_json::from_str(fixture("assumed-role")).unwrap();
    v["resource"] = "/other".into();
    v["path"] = "/other".into();
    v["requestContext"]["resourcePath"] = "/other".into();
    let r = h
        .handle(lambda_http::request::from_str(&v.to_string()).unwrap(), NOW)
        .await;
    assert_eq!(r.status(), 404);
    assert_eq!(body(&r)["error"], "not_found");
}

#[tokio::test]
async fn signer_failures() {
    let (throttled, _) = handler(Some(PortErrorKind::Throttled));
    let r = throttled.handle(event("assumed-role", &[]), NOW).await;
    assert_eq!(r.status(), 503);
    assert_eq!(body(&r)["error"], "temporarily_unavailable");
    assert_eq!(r.headers()["retry-after"], "1");
    let (disabled, _) = handler(Some(PortErrorKind::Disabled));
    let r = disabled.handle(event("assumed-role", &[]), NOW).await;
    assert_eq!(r.status(), 500);
    let b = body(&r);
    assert_eq!(b["error"], "server_error");
    assert!(
        !b["error_description"]
            .as_str()
            .unwrap()
            .contains("injected"),
        "no internal detail leaks"
    );
}
