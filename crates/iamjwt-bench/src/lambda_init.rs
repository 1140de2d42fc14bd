//! Cold start of the `token` Lambda binary: a minimal Lambda Runtime API on loopback hands the real binary one
//! API Gateway event. Init is process start → its first `GET /runtime/invocation/next` (settings read, SDK
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
    Failed(String),
}

struct Api {
    event: String,
    nexts: AtomicU32,
    tx: mpsc::UnboundedSender<Seen>,
}

async fn next(State(api): State<Arc<Api>>) -> (HeaderMap, String) {
    if api.nexts.fetch_add(1, Ordering::SeqCst) > 0 {
        // One invocation per process: later polls wait until the process is killed.
        std::future::pending::<()>().await;
    }
    let _ = api.tx.send(Seen::Ready(Instant::now()));
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
    h.insert(
        "lambda-runtime-invoked-function-arn",
        HeaderValue::from_static("arn:aws:lambda:us-east-1:000000000000:function:iamjwt-token"),
    );
    if let Ok(v) = HeaderValue::from_str(&deadline.to_string()) {
        h.insert("lambda-runtime-deadline-ms", v);
    }
    (h, api.event.clone())
}

async fn response(State(api): State<Arc<Api>>, body: Bytes) -> StatusCode {
    let _ = api.tx.send(Seen::Response(Instant::now(), body));
    StatusCode::ACCEPTED
}

async fn failed(State(api): State<Arc<Api>>, body: Bytes) -> StatusCode {
    let _ = api
        .tx
        .send(Seen::Failed(String::from_utf8_lossy(&body).into_owned()));
    StatusCode::ACCEPTED
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
    let (tx, mut rx) = mpsc::unbounded_channel();
    let api = Arc::new(Api {
        event: crate::kms_path::EVENT.to_owned(),
        nexts: AtomicU32::new(0),
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

    let mut cmd = tokio::process::Command::new(bin);
    cmd.env_clear()
        .envs(moto::env())
        .env("AWS_LAMBDA_RUNTIME_API", addr.to_string())
        .env("AWS_LAMBDA_FUNCTION_NAME", "iamjwt-token")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "512")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env("AWS_REGION", moto::REGION)
        // The API and stage of the fixture events, which the token function answers (and no others).
        .env(iamjwt_core::config::API_ID, "abc123")
        .env(iamjwt_core::config::API_STAGE, "prod")
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
        .map_err(|e| Error::Setup(format!("cannot start {}: {e}", bin.display())))?;
    let outcome = tokio::time::timeout(Duration::from_secs(30), async {
        let mut ready = None;
        while let Some(seen) = rx.recv().await {
            match seen {
                Seen::Ready(t) => ready = Some(t),
                Seen::Response(t, body) => return Ok((ready, t, body)),
                Seen::Failed(e) => return Err(Error::Failed(format!("token Lambda failed: {e}"))),
            }
        }
        Err(Error::Failed("runtime API closed".into()))
    })
    .await;
    let _ = child.kill().await;
    server.abort();
    let (ready, done, body) =
        outcome.map_err(|_| Error::Failed("token Lambda: no response within 30 s".into()))??;
    let ready = ready.ok_or_else(|| Error::Failed("response before any poll".into()))?;
    let resp: serde_json::Value =
        serde_json::from_slice(&body).map_err(|e| Error::Failed(format!("response: {e}")))?;
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
        init_ms: ready.duration_since(started).as_secs_f64() * 1e3,
        first_token_ms: done.duration_since(started).as_secs_f64() * 1e3,
        response: resp,
        kms_at_init: before(ready),
        kms_before_first_token: before(done),
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
