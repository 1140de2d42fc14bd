//! Issue 19 §4 end to end: the real `rotate` and `token` Lambda binaries against moto (KMS + S3), each invocation
//! handed to the binary by a minimal Lambda Runtime API on loopback, with `IAMJWT_ALGORITHMS` changed between
//! runs as a deploy would change it.

use crate::support::{BUCKET, REGION};
use iamjwt_aws::testing::Moto;
use iamjwt_core::jwk::Jwks;
use iamjwt_core::ports::Publisher as _;
use serde_json::{Value, json};
use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::{TcpListener, TcpStream};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

const TOKEN: &str = env!("CARGO_BIN_EXE_token");
const ROTATE: &str = env!("CARGO_BIN_EXE_rotate");
const PREFIX: &str = "alias/iamjwt-algset";
/// The shortest verification window the settings allow: max duration 60 s + JWKS max-age 0 + key refresh 1 s.
const WINDOW: u64 = 61;

/// What the binary posted back for its one invocation.
enum Outcome {
    Response(Value),
    Error(Value),
}

/// One HTTP/1.1 request of the runtime client on `conn`: (method, path, body); `None` when it closed.
fn read_request(conn: &mut BufReader<TcpStream>) -> Option<(String, String, Vec<u8>)> {
    let mut line = String::new();
    if conn.read_line(&mut line).ok()? == 0 {
        return None;
    }
    let mut parts = line.split_whitespace();
    let (method, path) = (parts.next()?.to_owned(), parts.next()?.to_owned());
    let mut len = 0usize;
    loop {
        let mut h = String::new();
        conn.read_line(&mut h).ok()?;
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':')
            && k.eq_ignore_ascii_case("content-length")
        {
            len = v.trim().parse().ok()?;
        }
    }
    let mut body = vec![0; len];
    conn.read_exact(&mut body).ok()?;
    Some((method, path, body))
}

fn respond(conn: &mut TcpStream, status: &str, headers: &[(&str, String)], body: &str) {
    let mut out = format!("HTTP/1.1 {status}\r\nContent-Length: {}\r\n", body.len());
    for (k, v) in headers {
        out.push_str(&format!("{k}: {v}\r\n"));
    }
    out.push_str("\r\n");
    out.push_str(body);
    let _ = conn.write_all(out.as_bytes());
}

/// Serves one Lambda Runtime API connection: the first `next` gets `event`, later ones wait for the process to be
/// killed; a posted response or error goes to `tx`.
fn serve(
    stream: TcpStream,
    event: String,
    tx: mpsc::Sender<Outcome>,
    handed: std::sync::Arc<std::sync::atomic::AtomicBool>,
) {
    let Ok(mut writer) = stream.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(stream);
    while let Some((method, path, body)) = read_request(&mut reader) {
        let parsed = || serde_json::from_slice(&body).unwrap_or(Value::Null);
        if method == "GET" && path.ends_with("/invocation/next") {
            if handed.swap(true, std::sync::atomic::Ordering::SeqCst) {
                std::thread::sleep(Duration::from_secs(3600));
                return;
            }
            let deadline = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap()
                .as_millis()
                + 60_000;
            respond(
                &mut writer,
                "200 OK",
                &[
                    ("Lambda-Runtime-Aws-Request-Id", "req-1".into()),
                    ("Lambda-Runtime-Deadline-Ms", deadline.to_string()),
                    (
                        "Lambda-Runtime-Invoked-Function-Arn",
                        "arn:aws:lambda:us-east-1:123456789012:function:iamjwt".into(),
                    ),
                    ("Content-Type", "application/json".into()),
                ],
                &event,
            );
        } else if method == "POST" && path.ends_with("/response") {
            let _ = tx.send(Outcome::Response(parsed()));
            respond(&mut writer, "202 Accepted", &[], "{}");
        } else if method == "POST" && path.ends_with("/error") {
            let _ = tx.send(Outcome::Error(parsed()));
            respond(&mut writer, "202 Accepted", &[], "{}");
        } else {
            respond(&mut writer, "404 Not Found", &[], "{}");
        }
    }
}

/// Runs `bin` for one invocation of `event` with `env` (plus the moto endpoint and test credentials).
fn invoke(bin: &str, moto: &Moto, env: &[(&str, String)], event: &Value) -> Outcome {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = mpsc::channel();
    let event = event.to_string();
    let handed = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let (tx, event, handed) = (tx.clone(), event.clone(), handed.clone());
            std::thread::spawn(move || serve(stream, event, tx, handed));
        }
    });
    let mut c = Command::new(bin);
    c.env_clear()
        .env("PATH", "/usr/bin:/bin")
        .env("AWS_LAMBDA_RUNTIME_API", addr.to_string())
        .env("AWS_LAMBDA_FUNCTION_NAME", "iamjwt")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "512")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env("AWS_REGION", REGION)
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_ENDPOINT_URL", &moto.endpoint)
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_CONFIG_FILE", "/nonexistent/config")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/credentials")
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    for (k, v) in env {
        c.env(k, v);
    }
    let mut child = c.spawn().unwrap();
    let outcome = rx.recv_timeout(Duration::from_secs(90));
    let _ = child.kill();
    let _ = child.wait();
    outcome.unwrap_or_else(|_| panic!("{bin}: no response within 90 s"))
}

fn settings(algs: &str) -> Vec<(&'static str, String)> {
    vec![
        ("IAMJWT_ISSUER", "https://id.example.com".into()),
        ("IAMJWT_DEFAULT_AUDIENCE", "sts.amazonaws.com".into()),
        ("IAMJWT_KEY_ALIAS_PREFIX", PREFIX.into()),
        ("IAMJWT_BUCKET", BUCKET.into()),
        ("IAMJWT_ALGORITHMS", algs.into()),
        ("IAMJWT_MAX_DURATION", "60".into()),
        ("IAMJWT_JWKS_MAX_AGE", "0".into()),
        ("IAMJWT_KEY_REFRESH_SECONDS", "1".into()),
        ("IAMJWT_MIN_PUBLISH_AGE", "0".into()),
        ("IAMJWT_KEY_DELETION_DAYS", "7".into()),
        // The deployment's bindings: the key policy's roles (rotate) and the fixture event's API and stage (token).
        (
            iamjwt_core::config::TOKEN_ROLE_ARN,
            iamjwt_aws::testing::TOKEN_ROLE.into(),
        ),
        (
            iamjwt_core::config::ROTATE_ROLE_ARN,
            iamjwt_aws::testing::ROTATE_ROLE.into(),
        ),
        (iamjwt_core::config::API_ID, "abc123".into()),
        (iamjwt_core::config::API_STAGE, "prod".into()),
    ]
}

/// One workflow run: each step an invocation of the `rotate` binary. A refused promotion (a previous key still in
/// its window) does not stop the run, as in the state machine.
fn rotate(moto: &Moto, algs: &str) {
    for step in ["retire", "promote", "create", "publish"] {
        match invoke(
            ROTATE,
            moto,
            &settings(algs),
            &json!({"step": step, "emergency": false}),
        ) {
            Outcome::Response(_) => {}
            Outcome::Error(e) if step == "promote" => {
                let t = e["errorType"].as_str().unwrap_or_default();
                assert!(t == "PreviousStillNeeded" || t == "UnsafePromotion", "{e}");
            }
            Outcome::Error(e) => panic!("{step} with {algs}: {e}"),
        }
    }
}

/// `GET /token?alg=…` through the `token` binary: (status, headers, body).
fn token(moto: &Moto, algs: &str, alg: &str) -> (u16, Value, Value) {
    let mut event: Value = serde_json::from_str(include_str!(
        "../../../../tests/fixtures/events/assumed-role.json"
    ))
    .unwrap();
    event["queryStringParameters"] = json!({"alg": alg});
    event["multiValueQueryStringParameters"] = json!({"alg": [alg]});
    match invoke(TOKEN, moto, &settings(algs), &event) {
        Outcome::Response(r) => {
            let body =
                serde_json::from_str(r["body"].as_str().unwrap_or("null")).unwrap_or(Value::Null);
            let mut headers = r["headers"].clone();
            if let Some(m) = r["multiValueHeaders"].as_object() {
                for (k, v) in m {
                    headers[k.to_ascii_lowercase()] = v[0].clone();
                }
            }
            (r["statusCode"].as_u64().unwrap() as u16, headers, body)
        }
        Outcome::Error(e) => panic!("token Lambda failed: {e}"),
    }
}

async fn jwks(conf: &aws_config::SdkConfig) -> Jwks {
    iamjwt_aws::s3::S3Publisher::new(iamjwt_aws::sdk::s3(conf), BUCKET, 0)
        .read_jwks()
        .await
        .unwrap()
        .unwrap()
}

fn kid_of(token: &str) -> String {
    jsonwebtoken::decode_header(token).unwrap().kid.unwrap()
}

fn verifies(jwks: &Jwks, token: &str) -> bool {
    let set: jsonwebtoken::jwk::JwkSet =
        serde_json::from_value(serde_json::to_value(jwks).unwrap()).unwrap();
    let header = jsonwebtoken::decode_header(token).unwrap();
    let Some(jwk) = set.find(header.kid.as_deref().unwrap()) else {
        return false;
    };
    let mut v = jsonwebtoken::Validation::new(header.alg);
    v.set_audience(&["sts.amazonaws.com"]);
    v.set_issuer(&["https://id.example.com"]);
    jsonwebtoken::decode::<Value>(
        token,
        &jsonwebtoken::DecodingKey::from_jwk(jwk).unwrap(),
        &v,
    )
    .is_ok()
}

#[tokio::test]
async fn changing_the_algorithm_set_between_deploys_never_breaks_verification() {
    let moto = Moto::start().unwrap_or_else(|e| panic!("{e}"));
    let conf = iamjwt_aws::testing::moto_with_bucket(&moto, REGION, BUCKET)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let both = "RS256,ES256";
    rotate(&moto, both);
    let (status, _, body) = token(&moto, both, "ES256");
    assert_eq!(status, 200, "{body}");
    let es256_token = body["token"].as_str().unwrap().to_owned();
    let es256_kid = kid_of(&es256_token);

    // Remove ES256: its key stays in the JWKS for the window, and its token keeps verifying.
    rotate(&moto, "RS256");
    let published = jwks(&conf).await;
    assert!(published.kids().any(|k| k.to_string() == es256_kid));
    assert!(verifies(&published, &es256_token));
    let (status, _, body) = token(&moto, "RS256", "ES256");
    assert!(
        (400..500).contains(&status),
        "ES256 is not offered any more: {status} {body}"
    );

    // After the window: out of the JWKS, the key scheduled for deletion.
    tokio::time::sleep(Duration::from_secs(WINDOW + 1)).await;
    rotate(&moto, "RS256");
    let published = jwks(&conf).await;
    assert!(
        !published.kids().any(|k| k.to_string() == es256_kid),
        "retired"
    );
    let kms = iamjwt_aws::sdk::kms(&conf);
    let listed = kms.list_keys().send().await.unwrap();
    let mut pending_deletion = 0;
    for k in listed.keys() {
        let pk = kms
            .get_public_key()
            .key_id(k.key_id().unwrap())
            .send()
            .await;
        let d = kms
            .describe_key()
            .key_id(k.key_id().unwrap())
            .send()
            .await
            .unwrap();
        let state = d.key_metadata().unwrap().key_state().unwrap().clone();
        if state == aws_sdk_kms::types::KeyState::PendingDeletion {
            pending_deletion += 1;
        } else if let Ok(pk) = pk {
            let jwk = iamjwt_core::jwk::PublicJwk::from_spki_der(pk.public_key().unwrap().as_ref())
                .unwrap();
            assert_ne!(
                jwk.kid().to_string(),
                es256_kid,
                "the removed key is not left enabled"
            );
        }
    }
    assert!(
        pending_deletion >= 2,
        "the ES256 current and pending keys are scheduled for deletion"
    );

    // Add ES256 back (and make it the default): 503 with Retry-After until the deploy's rotation bootstraps it.
    let (status, headers, body) = token(&moto, both, "ES256");
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["error"], "temporarily_unavailable");
    assert!(
        headers.get("retry-after").is_some_and(|v| !v.is_null()),
        "{headers}"
    );
    rotate(&moto, both);
    let (status, _, body) = token(&moto, both, "ES256");
    assert_eq!(status, 200, "{body}");
    let fresh = body["token"].as_str().unwrap();
    assert_ne!(kid_of(fresh), es256_kid);
    assert!(verifies(&jwks(&conf).await, fresh));
}
