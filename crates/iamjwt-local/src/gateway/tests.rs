use super::*;
use crate::keys::{SoftKeyStore, SoftSigner};
use crate::principals::{LocalPrincipal, Principals};
use crate::runner::LocalRotation;
use crate::sigv4::sign_get;
use aws_credential_types::Credentials;
use http::HeaderMap;
use http_body_util::BodyExt as _;
use iamjwt_core::config::Settings;
use iamjwt_core::issuer::Issuer;
use iamjwt_edge::rotate::RotateHandler;
use iamjwt_edge::token::TokenEndpoint;
use std::time::Duration;
use tower::ServiceExt as _;

const REGION: &str = "us-east-1";
const SECRET: &str = "devsecretdevsecretdevsecretdevsecret0000";
const TOKEN: &str = "FwoGZXIvYXdzEXAMPLEsessiontoken";

struct Fixture {
    _dir: tempfile::TempDir,
    app: Router,
}

fn principals() -> Vec<LocalPrincipal> {
    vec![
        LocalPrincipal {
            access_key_id: "ASIADEVEXAMPLE000001".into(),
            secret_access_key: SECRET.into(),
            session_token: Some(TOKEN.into()),
            arn: "arn:aws:sts::111122223333:assumed-role/ci-deploy/run-1".into(),
            user_id: "AROADEVEXAMPLE000001:run-1".into(),
            org_id: Some("o-a1b2c3d4e5".into()),
            tags: None,
        },
        LocalPrincipal {
            access_key_id: "AKIAUSEREXAMPLE00002".into(),
            secret_access_key: SECRET.into(),
            session_token: None,
            arn: "arn:aws:iam::111122223333:user/alice".into(),
            user_id: "AIDAUSEREXAMPLE00002".into(),
            org_id: None,
            tags: None,
        },
    ]
}

async fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let settings = Settings::from_lookup(|k| match k {
        "IAMJWT_ISSUER" => Some("http://127.0.0.1:8080".into()),
        "IAMJWT_DEFAULT_AUDIENCE" => Some("sts.amazonaws.com".into()),
        "IAMJWT_AUDIENCE_POLICY" => {
            Some(r#"{"rules":[{"accounts":["111122223333"],"audiences":["api://*"]}]}"#.into())
        }
        _ => None,
    })
    .unwrap();
    let state = dir.path();
    let publisher = DirPublisher::new(crate::layout::public_dir(state), settings.jwks_max_age);
    let rotate = RotateHandler::new(
        &settings,
        Arc::new(SoftKeyStore::new(state)),
        Arc::new(publisher.clone()),
    );
    LocalRotation::new(rotate, state)
        .run(false, UnixTime::from_system_time(SystemTime::now()))
        .await
        .unwrap();
    let signer = SoftSigner::open(state, Duration::from_secs(1)).unwrap();
    let issuer = Issuer::new(settings.issue.clone(), Arc::new(signer));
    let gw = Gateway {
        verifier: Verifier::new(Arc::new(Principals::new(principals()).unwrap()), REGION),
        endpoint: TokenEndpoint::new(issuer),
        public: publisher,
        clock: Arc::new(SystemTime::now),
    };
    Fixture {
        _dir: dir,
        app: router(Arc::new(gw)),
    }
}

fn role_creds() -> Credentials {
    Credentials::new(
        "ASIADEVEXAMPLE000001",
        SECRET,
        Some(TOKEN.into()),
        None,
        "test",
    )
}

fn signed(
    query: &str,
    creds: &Credentials,
    region: &str,
    service: &str,
    skew: i64,
) -> http::Request<()> {
    let uri: http::Uri = format!("http://127.0.0.1:8080/token{query}")
        .parse()
        .unwrap();
    let t = if skew >= 0 {
        SystemTime::now() + Duration::from_secs(skew.unsigned_abs())
    } else {
        SystemTime::now() - Duration::from_secs(skew.unsigned_abs())
    };
    sign_get(&uri, creds, region, service, t, None).unwrap()
}

async fn send(app: &Router, req: http::Request<()>) -> (StatusCode, HeaderMap, serde_json::Value) {
    let (parts, ()) = req.into_parts();
    let resp = app
        .clone()
        .oneshot(http::Request::from_parts(parts, Body::empty()))
        .await
        .unwrap();
    let status = resp.status();
    let headers = resp.headers().clone();
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    let json = serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null);
    (status, headers, json)
}

async fn get(app: &Router, path: &str) -> serde_json::Value {
    let req = http::Request::get(path)
        .header("host", "127.0.0.1:8080")
        .body(())
        .unwrap();
    let (status, headers, json) = send(app, req).await;
    assert_eq!(status, 200, "{path}");
    assert_eq!(headers["cache-control"], "public, max-age=3600");
    json
}

#[tokio::test]
async fn signed_requests_get_tokens_that_verify_against_the_served_jwks() {
    let f = fixture().await;
    let discovery = get(&f.app, "/.well-known/openid-configuration").await;
    assert_eq!(discovery["issuer"], "http://127.0.0.1:8080");
    let jwks: jsonwebtoken::jwk::JwkSet =
        serde_json::from_value(get(&f.app, "/.well-known/jwks.json").await).unwrap();
    assert_eq!(jwks.keys.len(), 4, "current + pending for RS256 and ES256");

    let user = Credentials::new("AKIAUSEREXAMPLE00002", SECRET, None, None, "test");
    for (creds, alg, sub) in [
        (
            role_creds(),
            "ES256",
            "arn:aws:iam::111122223333:role/ci-deploy",
        ),
        (
            role_creds(),
            "RS256",
            "arn:aws:iam::111122223333:role/ci-deploy",
        ),
        (user, "ES256", "arn:aws:iam::111122223333:user/alice"),
    ] {
        let (status, headers, body) = send(
            &f.app,
            signed(
                &format!("?aud=api%3A%2F%2Fci&alg={alg}"),
                &creds,
                REGION,
                "execute-api",
                0,
            ),
        )
        .await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(headers["cache-control"], "no-store");
        let token = body["token"].as_str().unwrap();
        let header = jsonwebtoken::decode_header(token).unwrap();
        let jwk = jwks
            .find(header.kid.as_deref().unwrap())
            .expect("kid is in the JWKS");
        let mut v = jsonwebtoken::Validation::new(header.alg);
        v.set_audience(&["api://ci"]);
        v.set_issuer(&["http://127.0.0.1:8080"]);
        let claims = jsonwebtoken::decode::<serde_json::Value>(
            token,
            &jsonwebtoken::DecodingKey::from_jwk(jwk).unwrap(),
            &v,
        )
        .unwrap()
        .claims;
        assert_eq!(claims["sub"], sub);
        assert_eq!(
            claims["aws"]["source_ip"],
            serde_json::Value::Null,
            "no peer address in oneshot tests"
        );
    }
    let claims_org = {
        let (_, _, body) = send(&f.app, signed("", &role_creds(), REGION, "execute-api", 0)).await;
        let token = body["token"].as_str().unwrap();
        let payload = token.split('.').nth(1).unwrap();
        use base64::Engine as _;
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .unwrap();
        serde_json::from_slice::<serde_json::Value>(&bytes).unwrap()
    };
    assert_eq!(claims_org["aws"]["org_id"], "o-a1b2c3d4e5");
    assert_eq!(claims_org["aud"], "sts.amazonaws.com");

    // Presigned URL form.
    let uri: http::Uri = "http://127.0.0.1:8080/token?aud=api%3A%2F%2Fci"
        .parse()
        .unwrap();
    let pre = sign_get(
        &uri,
        &role_creds(),
        REGION,
        "execute-api",
        SystemTime::now(),
        Some(Duration::from_secs(60)),
    )
    .unwrap();
    assert!(pre.uri().query().unwrap().contains("X-Amz-Signature="));
    let (status, _, body) = send(&f.app, pre).await;
    assert_eq!(status, 200, "{body}");
}

#[tokio::test]
async fn every_sigv4_failure_is_a_403_with_a_json_error() {
    let f = fixture().await;
    let wrong_secret = Credentials::new(
        "ASIADEVEXAMPLE000001",
        "not-the-secret-not-the-secret",
        Some(TOKEN.into()),
        None,
        "t",
    );
    let unknown = Credentials::new(
        "ASIAUNKNOWNEXAMPLE01",
        SECRET,
        Some(TOKEN.into()),
        None,
        "t",
    );
    let no_token = Credentials::new("ASIADEVEXAMPLE000001", SECRET, None, None, "t");

    let mut cases: Vec<(&str, http::Request<()>)> = vec![
        (
            "no auth",
            http::Request::get("/token")
                .header("host", "127.0.0.1:8080")
                .body(())
                .unwrap(),
        ),
        (
            "wrong secret",
            signed("", &wrong_secret, REGION, "execute-api", 0),
        ),
        (
            "unknown access key",
            signed("", &unknown, REGION, "execute-api", 0),
        ),
        ("other service", signed("", &role_creds(), REGION, "s3", 0)),
        (
            "other region",
            signed("", &role_creds(), "eu-west-1", "execute-api", 0),
        ),
        (
            "6 min old",
            signed("", &role_creds(), REGION, "execute-api", -360),
        ),
        (
            "6 min ahead",
            signed("", &role_creds(), REGION, "execute-api", 360),
        ),
        (
            "missing session token",
            signed("", &no_token, REGION, "execute-api", 0),
        ),
    ];
    // Signature over a different query.
    let mut r = signed(
        "?aud=api%3A%2F%2Fci",
        &role_creds(),
        REGION,
        "execute-api",
        0,
    );
    *r.uri_mut() = "http://127.0.0.1:8080/token?aud=api%3A%2F%2Fother"
        .parse()
        .unwrap();
    cases.push(("different query", r));
    // A signed header changed after signing.
    let mut r = signed("", &role_creds(), REGION, "execute-api", 0);
    r.headers_mut()
        .insert("host", HeaderValue::from_static("evil.example.com"));
    cases.push(("tampered host", r));
    let mut r = signed("", &role_creds(), REGION, "execute-api", 0);
    let date = r.headers()["x-amz-date"].to_str().unwrap().to_owned();
    let bumped = format!(
        "{}{}",
        &date[..14],
        if date.ends_with("0Z") { "1Z" } else { "0Z" }
    );
    r.headers_mut()
        .insert("x-amz-date", HeaderValue::from_str(&bumped).unwrap());
    cases.push(("tampered x-amz-date", r));
    // The session token of someone else's session.
    let mut r = signed("", &role_creds(), REGION, "execute-api", 0);
    r.headers_mut().insert(
        "x-amz-security-token",
        HeaderValue::from_static("another-token"),
    );
    cases.push(("wrong session token", r));

    for (name, req) in cases {
        let (status, headers, body) = send(&f.app, req).await;
        assert_eq!(status, 403, "{name}: {body}");
        assert_eq!(headers["content-type"], "application/json", "{name}");
        assert_eq!(body["error"], "access_denied", "{name}");
        assert!(
            body["error_description"]
                .as_str()
                .is_some_and(|d| !d.is_empty()),
            "{name}"
        );
    }
}

#[tokio::test]
async fn bad_token_requests_are_400_with_the_right_code() {
    let f = fixture().await;
    let long = format!("?aud={}", "a".repeat(1001));
    let eleven = format!(
        "?{}",
        (0..11)
            .map(|i| format!("aud=api%3A%2F%2F{i}"))
            .collect::<Vec<_>>()
            .join("&")
    );
    for (query, code) in [
        (long.as_str(), "invalid_request"),
        (eleven.as_str(), "invalid_request"),
        ("?aud=a%01b", "invalid_request"),
        ("?duration=59", "invalid_request"),
        ("?duration=3601", "invalid_request"),
        ("?duration=abc", "invalid_request"),
        ("?alg=HS256", "invalid_request"),
        ("?scope=openid", "invalid_request"),
        ("?aud=https%3A%2F%2Fnot-allowed.example", "invalid_target"),
    ] {
        let (status, _, body) = send(
            &f.app,
            signed(query, &role_creds(), REGION, "execute-api", 0),
        )
        .await;
        assert_eq!(status, 400, "{query}: {body}");
        assert_eq!(body["error"], code, "{query}");
    }
}

#[tokio::test]
async fn routing_outside_token() {
    let f = fixture().await;
    let (status, headers, body) =
        send(&f.app, http::Request::post("/token").body(()).unwrap()).await;
    assert_eq!(status, 405);
    assert_eq!(headers["allow"], "GET");
    assert_eq!(body["error"], "invalid_request");
    let (status, _, body) = send(&f.app, http::Request::get("/nope").body(()).unwrap()).await;
    assert_eq!(status, 404);
    assert_eq!(body["error"], "not_found");
}

/// Whatever a signed caller puts in the query, the gateway answers 200 or a 4xx JSON error: never a 5xx, never a
/// panic (the proxy-event conversion in lambda_http `expect`s a valid URI).
#[test]
fn arbitrary_signed_queries_never_fail_the_server() {
    use proptest::prelude::*;
    use proptest::test_runner::{Config, TestRunner};
    let rt = tokio::runtime::Runtime::new().unwrap();
    let f = rt.block_on(fixture());
    let mut runner = TestRunner::new(Config {
        cases: 96,
        ..Config::default()
    });
    let pairs = prop::collection::vec(("(aud|duration|alg|x|X-Amz-Date|)", ".{0,30}"), 0..6);
    runner
        .run(&pairs, |pairs| {
            let mut q = form_urlencoded::Serializer::new(String::new());
            for (k, v) in &pairs {
                q.append_pair(k, v);
            }
            let query = q.finish().replace('+', "%20");
            let query = if query.is_empty() {
                String::new()
            } else {
                format!("?{query}")
            };
            let (status, headers, body) = rt.block_on(send(
                &f.app,
                signed(&query, &role_creds(), REGION, "execute-api", 0),
            ));
            prop_assert!(
                status == 200 || status.is_client_error(),
                "{query}: {status} {body}"
            );
            prop_assert_eq!(&headers["content-type"], "application/json");
            if status != 200 {
                prop_assert!(body["error"].is_string(), "{}", body);
            }
            Ok(())
        })
        .unwrap();
}
