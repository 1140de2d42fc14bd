//! Cold start of the `token` Lambda binary: a minimal Lambda Runtime API on loopback hands the real binary one
//! API Gateway event ([`run_events`] hands any function binary a sequence of events, in any region). Init is process start → its first `GET /runtime/invocation/next` (settings read, SDK
//! config and KMS client built, both algorithms' keys resolved); first token is process start → the response.
//! The binary's `AWS_ENDPOINT_URL` is a [`CountingProxy`] in front of moto, so the KMS calls it made before its
//! first token are counted on the wire.

use crate::Error;
use crate::counting_proxy::{Call, CountingProxy};
use crate::moto;
use crate::stats::Summary;
use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::routing::{get, post};
use serde::Serialize;
use std::path::Path;
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio::sync::mpsc;

const REQUEST_ID: &str = "8476a536-e9f4-11e8-9739-2dfe598c3fcd";

#[derive(Debug)]
enum Seen {
    Ready(Instant),
    Response(Instant, Bytes),
    Failed(Instant, String),
}

struct Api {
    /// The events still to hand out, in order.
    events: std::sync::Mutex<std::collections::VecDeque<String>>,
    nexts: AtomicU32,
    function: String,
    tx: mpsc::UnboundedSender<Seen>,
}

async fn next(State(api): State<Arc<Api>>) -> (HeaderMap, String) {
    let event = api
        .events
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .pop_front();
    let Some(event) = event else {
        // No more events: later polls wait until the process is killed.
        std::future::pending::<()>().await;
        return (HeaderMap::new(), String::new());
    };
    if api.nexts.fetch_add(1, Ordering::SeqCst) == 0 {
        let _ = api.tx.send(Seen::Ready(Instant::now()));
    }
    let deadline = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_millis()
        + 30_000;
    let mut h = HeaderMap::new();
    h.insert(
        "lambda-runtime-aws-request-id",
        HeaderValue::from_static(REQUEST_ID),
    );
    if let Ok(v) = HeaderValue::from_str(&format!(
        "arn:aws:lambda:us-east-1:000000000000:function:{}",
        api.function
    )) {
        h.insert("lambda-runtime-invoked-function-arn", v);
    }
    if let Ok(v) = HeaderValue::from_str(&deadline.to_string()) {
        h.insert("lambda-runtime-deadline-ms", v);
    }
    (h, event)
}

async fn response(State(api): State<Arc<Api>>, body: Bytes) -> StatusCode {
    let _ = api.tx.send(Seen::Response(Instant::now(), body));
    StatusCode::ACCEPTED
}

async fn failed(State(api): State<Arc<Api>>, body: Bytes) -> StatusCode {
    let _ = api.tx.send(Seen::Failed(
        Instant::now(),
        String::from_utf8_lossy(&body).into_owned(),
    ));
    StatusCode::ACCEPTED
}

/// A Lambda function binary to run under the loopback Runtime API.
#[derive(Debug, Clone)]
pub struct Function<'a> {
    pub bin: &'a Path,
    /// `token` or `rotate` (the function name it is told).
    pub name: &'a str,
    /// `AWS_REGION`: the region its SDK clients sign for.
    pub region: &'a str,
    /// Settings besides [`moto::env`] (which always applies).
    pub env: Vec<(String, String)>,
}

/// What the function answered to one event.
#[derive(Debug, Clone)]
pub struct Answer {
    pub at: Instant,
    /// The response payload, or the function error's payload (`errorType`, `errorMessage`).
    pub result: Result<serde_json::Value, serde_json::Value>,
}

/// One process of `function` handed `events` in turn (warm after the first): process start, the first poll and
/// each answer, in order.
#[derive(Debug)]
pub struct Run {
    pub started: Instant,
    pub ready: Instant,
    pub answers: Vec<Answer>,
}

/// What a deployment binds each function to: the roles every key policy names (the rotate function requires them)
/// and the API and stage of the fixture events (the token function answers no others).
fn deployment_env() -> [(&'static str, &'static str); 4] {
    [
        (
            iamjwt_core::config::TOKEN_ROLE_ARN,
            iamjwt_aws::testing::TOKEN_ROLE,
        ),
        (
            iamjwt_core::config::ROTATE_ROLE_ARN,
            iamjwt_aws::testing::ROTATE_ROLE,
        ),
        (iamjwt_core::config::API_ID, "abc123"),
        (iamjwt_core::config::API_STAGE, "prod"),
    ]
}

/// Starts `function` with `AWS_ENDPOINT_URL` at `proxy`, hands it `events` one by one, and kills it after the
/// last answer (or 30 s without one).
pub async fn run_events(
    function: &Function<'_>,
    proxy: &CountingProxy,
    events: Vec<String>,
) -> Result<Run, Error> {
    let want = events.len();
    let (tx, mut rx) = mpsc::unbounded_channel();
    let api = Arc::new(Api {
        events: std::sync::Mutex::new(events.into()),
        nexts: AtomicU32::new(0),
        function: format!("iamjwt-{}", function.name),
        tx,
    });
    let app = Router::new()
        .route("/2018-06-01/runtime/invocation/next", get(next))
        .route(
            "/2018-06-01/runtime/invocation/{id}/response",
            post(response),
        )
        .route("/2018-06-01/runtime/invocation/{id}/error", post(failed))
        .route("/2018-06-01/runtime/init/error", post(failed))
        .with_state(api);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|e| Error::Setup(e.to_string()))?;
    let addr = listener
        .local_addr()
        .map_err(|e| Error::Setup(e.to_string()))?;
    let server = tokio::spawn(async move { axum::serve(listener, app).await });

    let mut cmd = tokio::process::Command::new(function.bin);
    cmd.env_clear()
        .envs(moto::env())
        .envs(deployment_env())
        .envs(function.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .env("AWS_LAMBDA_RUNTIME_API", addr.to_string())
        .env(
            "AWS_LAMBDA_FUNCTION_NAME",
            format!("iamjwt-{}", function.name),
        )
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "512")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env("AWS_REGION", function.region)
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_SESSION_TOKEN", "test")
        .env("AWS_ENDPOINT_URL", &proxy.endpoint)
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_CONFIG_FILE", "/nonexistent/iamjwt-bench/config")
        .env(
            "AWS_SHARED_CREDENTIALS_FILE",
            "/nonexistent/iamjwt-bench/credentials",
        )
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true);
    let started = Instant::now();
    let mut child = cmd
        .spawn()
        .map_err(|e| Error::Setup(format!("cannot start {}: {e}", function.bin.display())))?;
    let outcome = tokio::time::timeout(Duration::from_secs(30), async {
        let mut ready = None;
        let mut answers = Vec::with_capacity(want);
        while answers.len() < want {
            let Some(seen) = rx.recv().await else {
                return Err(Error::Failed("runtime API closed".into()));
            };
            let parse = |body: &[u8]| {
                serde_json::from_slice::<serde_json::Value>(body)
                    .map_err(|e| Error::Failed(format!("{} answered non-JSON: {e}", function.name)))
            };
            match seen {
                Seen::Ready(t) => ready = Some(t),
                Seen::Response(at, body) => answers.push(Answer {
                    at,
                    result: Ok(parse(&body)?),
                }),
                // An init error has no invocation to answer: the run is over.
                Seen::Failed(_, e) if ready.is_none() => {
                    return Err(Error::Failed(format!(
                        "{} failed to start: {e}",
                        function.name
                    )));
                }
                Seen::Failed(at, body) => answers.push(Answer {
                    at,
                    result: Err(parse(body.as_bytes())?),
                }),
            }
        }
        Ok((ready, answers))
    })
    .await;
    let _ = child.kill().await;
    server.abort();
    let (ready, answers) = outcome
        .map_err(|_| Error::Failed(format!("{}: no answer within 30 s", function.name)))??;
    Ok(Run {
        started,
        ready: ready.ok_or_else(|| Error::Failed("an answer before any poll".into()))?,
        answers,
    })
}

#[derive(Debug, Clone, Serialize)]
pub struct LambdaInit {
    pub runs: usize,
    /// Process start → first poll for an invocation.
    pub init_ms: Summary,
    /// The same, run by run, in order (the first run after the moto setup has been the slow one).
    pub init_ms_per_run: Vec<f64>,
    /// Process start → first token returned (init plus one warm `Sign`).
    pub first_token_ms: Summary,
    /// KMS requests on the wire before the first poll (most over the runs).
    pub kms_calls_at_init: usize,
    /// KMS requests on the wire before the first token was returned (most over the runs).
    pub kms_calls_before_first_token: usize,
    /// Those requests' operations, in order of arrival, in the run that made the most.
    pub kms_operations_before_first_token: Vec<String>,
}

/// What one cold start of the `token` binary did.
#[derive(Debug, Clone)]
pub struct Invocation {
    pub init_ms: f64,
    pub first_token_ms: f64,
    /// The API Gateway proxy response the function returned (`statusCode`, `headers`, `body`).
    pub response: serde_json::Value,
    /// Operations of the KMS requests that reached the proxy before the first poll for an invocation.
    pub kms_at_init: Vec<String>,
    /// Operations of the KMS requests that reached the proxy before the response was posted.
    pub kms_before_first_token: Vec<String>,
}

/// One cold start against moto behind `proxy`: spawn, wait for the poll and the response, kill. Fails unless the
/// response is a 200.
pub async fn invoke_once(bin: &Path, proxy: &CountingProxy) -> Result<Invocation, Error> {
    proxy.take();
    let function = Function {
        bin,
        name: "token",
        region: moto::REGION,
        env: Vec::new(),
    };
    let run = run_events(&function, proxy, vec![crate::kms_path::EVENT.to_owned()]).await?;
    let answer = run
        .answers
        .into_iter()
        .next()
        .ok_or_else(|| Error::Failed("no answer".into()))?;
    let resp = answer
        .result
        .map_err(|e| Error::Failed(format!("token Lambda failed: {e}")))?;
    if resp["statusCode"] != 200 {
        return Err(Error::Failed(format!("token Lambda answered {resp}")));
    }
    let calls = proxy.take();
    let before = |t: Instant| -> Vec<String> {
        calls
            .iter()
            .filter(|c: &&Call| c.at < t)
            .map(|c| c.operation.clone())
            .collect()
    };
    Ok(Invocation {
        init_ms: run.ready.duration_since(run.started).as_secs_f64() * 1e3,
        first_token_ms: answer.at.duration_since(run.started).as_secs_f64() * 1e3,
        response: resp,
        kms_at_init: before(run.ready),
        kms_before_first_token: before(answer.at),
    })
}

/// `runs` cold starts of the `token` binary against moto behind `proxy` (keys already made by
/// [`crate::moto::with_keys`]).
pub async fn run(bin: &Path, proxy: &CountingProxy, runs: usize) -> Result<LambdaInit, Error> {
    let (mut init, mut first) = (Vec::new(), Vec::new());
    let (mut at_init, mut most) = (0, Vec::new());
    for _ in 0..runs {
        let inv = invoke_once(bin, proxy).await?;
        init.push(inv.init_ms);
        first.push(inv.first_token_ms);
        at_init = at_init.max(inv.kms_at_init.len());
        if inv.kms_before_first_token.len() > most.len() {
            most = inv.kms_before_first_token;
        }
    }
    Ok(LambdaInit {
        runs,
        init_ms: Summary::of(init.clone()),
        init_ms_per_run: init,
        first_token_ms: Summary::of(first),
        kms_calls_at_init: at_init,
        kms_calls_before_first_token: most.len(),
        kms_operations_before_first_token: most,
    })
}
