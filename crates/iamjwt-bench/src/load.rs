//! Closed-loop load: `concurrency` workers each send pre-signed `GET /token` requests back to back over
//! keep-alive connections for `duration`; latency per request, errors counted, every Nth token kept for checks.

use crate::Error;
use http_body_util::{BodyExt as _, Empty};
use hyper::body::Bytes;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde::Serialize;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime};

pub struct LoadConfig {
    pub url: String,
    pub credentials: aws_credential_types::Credentials,
    pub region: String,
    pub alg: String,
    pub concurrency: usize,
    pub duration: Duration,
    /// Keep every Nth successful token (0: none).
    pub sample_every: u64,
    /// The server's pid, to account its CPU time (Linux `/proc`).
    pub server_pid: Option<u32>,
}

#[derive(Debug, Clone, Serialize)]
pub struct LoadResult {
    pub alg: String,
    pub concurrency: usize,
    pub seconds: f64,
    pub requests: u64,
    pub errors: u64,
    pub tokens_per_s: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    /// CPU time (user + system) per token of the server process and of this load generator, which share the
    /// machine's cores.
    pub server_cpu_us_per_token: Option<f64>,
    pub loadgen_cpu_us_per_token: Option<f64>,
    #[serde(skip)]
    pub samples: Vec<String>,
    #[serde(skip)]
    pub error_examples: Vec<String>,
}

type HttpClient = Client<HttpConnector, Empty<Bytes>>;

pub(crate) struct Template {
    uri: http::Uri,
    headers: http::HeaderMap,
}

pub(crate) fn sign(cfg: &LoadConfig) -> Result<Arc<Template>, Error> {
    let uri: http::Uri = format!("{}/token?alg={}", cfg.url, cfg.alg)
        .parse()
        .map_err(|e| Error::Setup(format!("{e}")))?;
    let req = iamjwt_local::sigv4::sign_get(
        &uri,
        &cfg.credentials,
        &cfg.region,
        "execute-api",
        SystemTime::now(),
        None,
    )
    .map_err(|e| Error::Setup(e.to_string()))?;
    Ok(Arc::new(Template {
        uri,
        headers: req.headers().clone(),
    }))
}

/// One signed `GET /token` on a new connection: the status and body.
pub async fn fetch_once(cfg: &LoadConfig) -> Result<(http::StatusCode, Bytes), Error> {
    let template = sign(cfg)?;
    let mut req = http::Request::new(Empty::<Bytes>::new());
    *req.uri_mut() = template.uri.clone();
    *req.headers_mut() = template.headers.clone();
    send_once(req).await
}

/// `req` on a new loopback connection: the status and the whole body.
pub async fn send_once<B>(req: http::Request<B>) -> Result<(http::StatusCode, Bytes), Error>
where
    B: hyper::body::Body + Send + Unpin + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let client: Client<HttpConnector, B> =
        Client::builder(TokioExecutor::new()).build(HttpConnector::new());
    let resp = client
        .request(req)
        .await
        .map_err(|e| Error::Http(e.to_string()))?;
    let status = resp.status();
    let body = resp
        .into_body()
        .collect()
        .await
        .map_err(|e| Error::Http(e.to_string()))?
        .to_bytes();
    Ok((status, body))
}

#[derive(Default)]
struct WorkerOut {
    latencies_us: Vec<u32>,
    errors: u64,
    ok: u64,
    samples: Vec<String>,
    error_examples: Vec<String>,
}

async fn worker(
    client: HttpClient,
    template: Arc<Template>,
    until: Instant,
    sample_every: u64,
    ok_total: Arc<AtomicU64>,
) -> WorkerOut {
    let mut out = WorkerOut::default();
    while Instant::now() < until {
        let mut req = http::Request::new(Empty::<Bytes>::new());
        *req.uri_mut() = template.uri.clone();
        *req.headers_mut() = template.headers.clone();
        let started = Instant::now();
        let result = async {
            let resp = client.request(req).await.map_err(|e| e.to_string())?;
            let status = resp.status();
            let body = resp
                .into_body()
                .collect()
                .await
                .map_err(|e| e.to_string())?
                .to_bytes();
            Ok::<_, String>((status, body))
        }
        .await;
        let micros = u32::try_from(started.elapsed().as_micros()).unwrap_or(u32::MAX);
        match result {
            Ok((status, body)) if status == http::StatusCode::OK => {
                out.latencies_us.push(micros);
                out.ok += 1;
                // Sampling counts across all workers, so slow runs still sample evenly over time.
                let n = ok_total.fetch_add(1, Ordering::Relaxed) + 1;
                if sample_every > 0 && n.is_multiple_of(sample_every) {
                    let token = serde_json::from_slice::<serde_json::Value>(&body)
                        .ok()
                        .and_then(|v| v["token"].as_str().map(str::to_owned));
                    out.samples.extend(token);
                }
            }
            Ok((status, body)) => {
                out.errors += 1;
                if out.error_examples.len() < 3 {
                    out.error_examples
                        .push(format!("{status}: {}", String::from_utf8_lossy(&body)));
                }
            }
            Err(e) => {
                out.errors += 1;
                if out.error_examples.len() < 3 {
                    out.error_examples.push(e);
                }
            }
        }
    }
    out
}

fn per_token(before: Option<f64>, after: Option<f64>, tokens: u64) -> Option<f64> {
    if tokens == 0 {
        return None;
    }
    Some((after? - before?) * 1e6 / tokens as f64)
}

fn percentile(sorted: &[u32], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let idx = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    f64::from(sorted[idx.min(sorted.len() - 1)]) / 1000.0
}

/// User + system CPU time of a process, from `/proc/<pid>/stat` (in USER_HZ ticks, 100 per second on Linux).
fn cpu_seconds(pid: &str) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let mut fields = stat.rsplit_once(')')?.1.split_whitespace().skip(11);
    let utime: u64 = fields.next()?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some((utime + stime) as f64 / 100.0)
}

/// Runs one load phase. Signatures are refreshed every minute (they stay valid for five).
pub async fn run(cfg: &LoadConfig) -> Result<LoadResult, Error> {
    let client: HttpClient = Client::builder(TokioExecutor::new())
        .pool_max_idle_per_host(cfg.concurrency)
        .build(HttpConnector::new());
    let server_pid = cfg.server_pid.map(|p| p.to_string());
    let cpu = || {
        (
            server_pid.as_deref().and_then(cpu_seconds),
            cpu_seconds("self"),
        )
    };
    let cpu_before = cpu();
    let started = Instant::now();
    let end = started + cfg.duration;
    let mut outs = Vec::new();
    let mut phase_start = started;
    let ok_total = Arc::new(AtomicU64::new(0));
    while phase_start < end {
        let phase_end = (phase_start + Duration::from_secs(60)).min(end);
        let template = sign(cfg)?;
        let handles: Vec<_> = (0..cfg.concurrency)
            .map(|_| {
                tokio::spawn(worker(
                    client.clone(),
                    template.clone(),
                    phase_end,
                    cfg.sample_every,
                    ok_total.clone(),
                ))
            })
            .collect();
        for h in handles {
            outs.push(h.await.map_err(|e| Error::Failed(format!("worker: {e}")))?);
        }
        phase_start = phase_end;
    }
    let seconds = started.elapsed().as_secs_f64();
    let cpu_after = cpu();
    let mut lat: Vec<u32> = outs
        .iter()
        .flat_map(|o| o.latencies_us.iter().copied())
        .collect();
    lat.sort_unstable();
    let requests: u64 = outs.iter().map(|o| o.ok + o.errors).sum();
    let ok: u64 = outs.iter().map(|o| o.ok).sum();
    Ok(LoadResult {
        alg: cfg.alg.clone(),
        concurrency: cfg.concurrency,
        seconds,
        requests,
        errors: outs.iter().map(|o| o.errors).sum(),
        tokens_per_s: ok as f64 / seconds,
        p50_ms: percentile(&lat, 0.50),
        p99_ms: percentile(&lat, 0.99),
        max_ms: lat.last().map_or(0.0, |m| f64::from(*m) / 1000.0),
        server_cpu_us_per_token: per_token(cpu_before.0, cpu_after.0, ok),
        loadgen_cpu_us_per_token: per_token(cpu_before.1, cpu_after.1, ok),
        samples: outs
            .iter_mut()
            .flat_map(|o| std::mem::take(&mut o.samples))
            .collect(),
        error_examples: outs
            .iter_mut()
            .flat_map(|o| std::mem::take(&mut o.error_examples))
            .take(5)
            .collect(),
    })
}
