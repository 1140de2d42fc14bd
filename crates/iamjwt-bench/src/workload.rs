//! The workload side (issue 12): what the token cache and the agent save the issuer.
//!
//! - **Cache vs issuer**: `iamjwt_client::Client::token` one call at a time for a fixed time against a fresh
//!   `iamjwt serve`, without a cache (every call a signed `GET /token` and a signature) and with one (a file read
//!   and parse), in-process; then the `iamjwt token` command run as a process each way (what a
//!   `credential_process` or a shell script pays per call).
//! - **Agent**: the agent's real refresh loop (`iamjwt_client::agent::keep_fresh`) for one virtual day per run
//!   with a stand-in issuer that mints tokens of the given lifetime, counting the issuer calls: calls per hour in
//!   steady state (the first fetch at start-up is one call whatever the lifetime).

use crate::Error;
use crate::server::Server;
use crate::stats::Summary;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use iamjwt_client::agent::{self, Clock as _, Output, Schedule, TokenSource, VirtualClock};
use iamjwt_client::{Client, Token, TokenCache, TokenRequest};
use serde::Serialize;
use std::future::Future;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

#[derive(Debug, Clone, Serialize)]
pub struct Rate {
    pub calls: usize,
    pub per_s: f64,
    /// Latency per call, milliseconds.
    pub ms: Summary,
}

#[derive(Debug, Clone, Serialize)]
pub struct CacheVsIssuer {
    pub alg: String,
    /// `Client::token` without a cache: every call goes to the issuer.
    pub library_issuer: Rate,
    /// `Client::token` with a warm cache.
    pub library_cache: Rate,
    /// `iamjwt token --no-cache` as a process.
    pub cli_issuer: Rate,
    /// `iamjwt token` as a process, warm cache.
    pub cli_cache: Rate,
    /// Requests the issuer answered during the cached runs (must be 0 after the first fill).
    pub issuer_requests_while_cached: u64,
}

async fn library_rate(
    client: &Client,
    request: &TokenRequest,
    cache: Option<&TokenCache>,
    seconds: f64,
) -> Result<(Rate, u64), Error> {
    let mut lat = Vec::new();
    let mut from_issuer = 0;
    let started = Instant::now();
    while started.elapsed().as_secs_f64() < seconds {
        let t = Instant::now();
        let (_, cached) = client
            .token(request, cache)
            .await
            .map_err(|e| Error::Failed(format!("token: {e}")))?;
        lat.push(t.elapsed().as_secs_f64() * 1e3);
        if !cached {
            from_issuer += 1;
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    Ok((
        Rate {
            calls: lat.len(),
            per_s: lat.len() as f64 / elapsed,
            ms: Summary::of(lat),
        },
        from_issuer,
    ))
}

fn cli_rate(
    server: &Server,
    alg: &str,
    cache_home: &Path,
    no_cache: bool,
    runs: usize,
) -> Result<Rate, Error> {
    let mut lat = Vec::new();
    let started = Instant::now();
    for _ in 0..runs {
        let mut c = Command::new(&server.bin);
        c.args(["token", "--url", &server.url, "--alg", alg])
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("XDG_CACHE_HOME", cache_home)
            .env("AWS_ACCESS_KEY_ID", &server.access_key_id)
            .env("AWS_SECRET_ACCESS_KEY", &server.secret_access_key)
            .env("AWS_SESSION_TOKEN", &server.session_token)
            .env("AWS_REGION", "us-east-1")
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env("AWS_CONFIG_FILE", "/dev/null")
            .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        if no_cache {
            c.arg("--no-cache");
        }
        let t = Instant::now();
        let out = c
            .output()
            .map_err(|e| Error::Setup(format!("{}: {e}", server.bin.display())))?;
        lat.push(t.elapsed().as_secs_f64() * 1e3);
        if !out.status.success() {
            return Err(Error::Failed(format!(
                "iamjwt token: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            )));
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    Ok(Rate {
        calls: lat.len(),
        per_s: lat.len() as f64 / elapsed,
        ms: Summary::of(lat),
    })
}

/// Tokens per second from the issuer vs from the cache, in-process and as processes, for `alg`.
pub async fn cache_vs_issuer(
    server: &Server,
    alg: &str,
    seconds: f64,
    cli_runs: usize,
) -> Result<CacheVsIssuer, Error> {
    let client = Client::with_credentials(server.credentials(), "us-east-1");
    let mut request = TokenRequest::new(server.url.clone());
    request.alg = Some(alg.to_owned());
    let dir = tempfile::tempdir().map_err(|e| Error::Setup(e.to_string()))?;
    let cache =
        TokenCache::open(dir.path().join("lib")).map_err(|e| Error::Setup(e.to_string()))?;

    let (library_issuer, _) = library_rate(&client, &request, None, seconds).await?;
    // Fill, then measure the warm cache.
    client
        .token(&request, Some(&cache))
        .await
        .map_err(|e| Error::Failed(format!("token: {e}")))?;
    let (library_cache, lib_misses) =
        library_rate(&client, &request, Some(&cache), seconds).await?;

    let cli_home = dir.path().join("cli");
    let cli_issuer = cli_rate(server, alg, &cli_home, true, cli_runs)?;
    cli_rate(server, alg, &cli_home, false, 1)?; // fill
    let cli_cache = cli_rate(server, alg, &cli_home, false, cli_runs)?;
    Ok(CacheVsIssuer {
        alg: alg.to_owned(),
        library_issuer,
        library_cache,
        cli_issuer,
        cli_cache,
        issuer_requests_while_cached: lib_misses,
    })
}

#[derive(Debug, Clone, Serialize)]
pub struct AgentPerHour {
    pub token_seconds: u64,
    pub runs: usize,
    /// Issuer calls per hour of the agent's loop (calls in a virtual day / 24), over `runs` runs with random
    /// jitter.
    pub calls_per_hour: Summary,
}

/// A stand-in issuer on the virtual clock: every call a token from now, `lifetime` seconds long.
struct Mint {
    clock: Arc<VirtualClock>,
    lifetime: u64,
    calls: AtomicU64,
}

impl TokenSource for Mint {
    fn fetch(
        &self,
        _request: &TokenRequest,
    ) -> impl Future<Output = Result<Token, iamjwt_client::Error>> + Send {
        self.calls.fetch_add(1, Ordering::Relaxed);
        let now = self.clock.now();
        let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"ES256","typ":"JWT"}"#);
        let claims = URL_SAFE_NO_PAD.encode(format!(
            r#"{{"iat":{now},"exp":{},"sub":"bench"}}"#,
            now + self.lifetime
        ));
        let body = format!(r#"{{"token":"{header}.{claims}.c2ln"}}"#);
        std::future::ready(Token::from_response(body.as_bytes()))
    }
}

const HOURS: u64 = 24;

/// Issuer calls per hour made by the agent's refresh loop for a token of `token_seconds`, `runs` times.
pub async fn agent_per_hour(token_seconds: u64, runs: usize) -> Result<AgentPerHour, Error> {
    let dir = tempfile::tempdir().map_err(|e| Error::Setup(e.to_string()))?;
    let mut calls = Vec::new();
    for _ in 0..runs {
        let clock = Arc::new(VirtualClock::new(
            1_800_000_000,
            Duration::from_secs(HOURS * 3600),
        ));
        let mint = Mint {
            clock: clock.clone(),
            lifetime: token_seconds,
            calls: AtomicU64::new(0),
        };
        let output = Output {
            file: dir.path().join("token"),
            request: TokenRequest::new("http://127.0.0.1:9/token"),
            json_field: None,
            mode: 0o600,
            owner: agent::Owner::default(),
        };
        let (tx, _rx) = tokio::sync::mpsc::channel(1);
        tokio::select! {
            () = agent::keep_fresh(&mint, &*clock, output, Schedule::default(), tx, false) => {
                return Err(Error::Failed("the agent loop returned on its own".into()));
            }
            () = clock.reached() => {}
        }
        calls.push(mint.calls.load(Ordering::Relaxed) as f64 / HOURS as f64);
    }
    Ok(AgentPerHour {
        token_seconds,
        runs,
        calls_per_hour: Summary::of(calls),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn about_five_calls_an_hour_for_15_minutes() {
        // refreshes 675–720 s apart: 5.0–5.33 per hour, plus the start-up fetch spread over the day
        let r = agent_per_hour(900, 20).await.unwrap();
        assert!(
            r.calls_per_hour.min >= 5.0 && r.calls_per_hour.max <= 5.4,
            "{r:?}"
        );
        // 45–48 s apart: 75–80 per hour
        let r = agent_per_hour(60, 1).await.unwrap();
        assert!(
            r.calls_per_hour.min >= 75.0 && r.calls_per_hour.max <= 80.1,
            "{r:?}"
        );
    }
}
