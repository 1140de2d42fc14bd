//! `iamjwt agent`: keeps token files fresh for SDKs that re-read them (`AWS_WEB_IDENTITY_TOKEN_FILE`,
//! `AZURE_FEDERATED_TOKEN_FILE`, GCP `credential_source.file`). DESIGN §10:
//! - refresh at 80 % of the token's lifetime, minus up to 5 % of jitter (or `--refresh-before S` seconds before
//!   `exp`);
//! - on failure, exponential backoff with jitter (1 s doubling to 60 s), never sooner than `Retry-After`;
//! - a file is only replaced by a complete token that parses (temp + fsync + rename, mode 0600 by default); the
//!   last good token stays until it expires;
//! - `--once` writes every file once and exits; SIGTERM/SIGINT exit cleanly; logs are JSON lines on stderr;
//!   exit non-zero when a first token is not written within `--startup-timeout`.

use crate::error::Error;
use iamjwt_client::{Client, ClientOptions, Token, TokenRequest, fsutil};
use serde::Deserialize;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};
use tokio::sync::mpsc;

#[derive(clap::Args)]
pub struct Args {
    /// Token endpoint, or the API base URL (`/token` is appended when missing).
    #[arg(long, env = "IAMJWT_URL")]
    url: Option<String>,
    /// The file to keep fresh (one output; use --config for several).
    #[arg(long, conflicts_with = "config")]
    file: Option<PathBuf>,
    /// Audience; repeat for several (default: the issuer's default audience).
    #[arg(long = "aud")]
    aud: Vec<String>,
    /// Signing algorithm (default: the issuer's).
    #[arg(long, value_parser = crate::alg_parser())]
    alg: Option<String>,
    /// Token lifetime in seconds (default: the issuer's).
    #[arg(long)]
    duration: Option<u64>,
    /// Write `{"FIELD": "<jwt>"}` instead of the bare token (GCP `subject_token_field_name`).
    #[arg(long)]
    json_field: Option<String>,
    /// File mode, octal.
    #[arg(long, default_value = "0600", value_parser = parse_mode)]
    mode: u32,
    /// JSON config with several outputs: {"url": …, "outputs": [{"file": …, "aud": […], "alg": …,
    /// "duration": …, "json_field": …, "mode": "0600"}]}.
    #[arg(long)]
    config: Option<PathBuf>,
    /// Write every file once, then exit (cron jobs, init containers).
    #[arg(long)]
    once: bool,
    /// Exit non-zero if a file has not received its first token within this many seconds.
    #[arg(long, default_value_t = 60)]
    startup_timeout: u64,
    /// Refresh when this many seconds of a token's lifetime remain, instead of at 80 % of it.
    #[arg(long)]
    refresh_before: Option<u64>,
    /// Region to sign for (default: from an execute-api host name, then the AWS config, then us-east-1).
    #[arg(long)]
    region: Option<String>,
    /// AWS profile to take credentials from.
    #[arg(long)]
    profile: Option<String>,
}

fn parse_mode(s: &str) -> Result<u32, String> {
    let m = u32::from_str_radix(s.trim_start_matches("0o"), 8)
        .map_err(|_| format!("{s:?} is not an octal mode like 0600"))?;
    if m > 0o777 || m & 0o600 != 0o600 {
        return Err(format!(
            "{s:?}: the owner must be able to read and write the file (e.g. 0600, 0640, 0644)"
        ));
    }
    Ok(m)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ConfigFile {
    url: Option<String>,
    region: Option<String>,
    profile: Option<String>,
    outputs: Vec<OutputConfig>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct OutputConfig {
    file: PathBuf,
    #[serde(default)]
    aud: Vec<String>,
    alg: Option<String>,
    duration: Option<u64>,
    json_field: Option<String>,
    mode: Option<String>,
}

/// One file to keep fresh.
#[derive(Debug, Clone)]
struct Output {
    file: PathBuf,
    request: TokenRequest,
    json_field: Option<String>,
    mode: u32,
}

/// Timing rules, as data (unit-tested without a clock).
#[derive(Debug, Clone, Copy)]
struct Schedule {
    refresh_before: Option<u64>,
}

const BACKOFF_START: Duration = Duration::from_secs(1);
const BACKOFF_MAX: Duration = Duration::from_secs(60);

impl Schedule {
    /// How long to wait after receiving a token with these times at `now` (seconds), given a jitter draw
    /// `r` in [0, 1).
    fn refresh_in(&self, iat: u64, exp: u64, now: u64, r: f64) -> Duration {
        let lifetime = exp.saturating_sub(iat) as f64;
        let at = match self.refresh_before {
            Some(b) => exp.saturating_sub(b) as f64,
            // 80 % of the lifetime, up to 5 % earlier.
            None => iat as f64 + lifetime * (0.80 - 0.05 * r),
        };
        Duration::from_secs_f64((at - now as f64).max(1.0))
    }

    /// The wait before retry number `attempt` (1-based): 1 s doubling to 60 s, "equal jitter" (half fixed, half
    /// random), never sooner than the server's `Retry-After`.
    fn backoff(attempt: u32, retry_after: Option<u64>, r: f64) -> Duration {
        let cap = BACKOFF_START
            .saturating_mul(1u32 << attempt.saturating_sub(1).min(16))
            .min(BACKOFF_MAX);
        let d = cap.mul_f64(0.5 + 0.5 * r);
        d.max(Duration::from_secs(retry_after.unwrap_or(0)))
    }
}

fn jitter() -> f64 {
    (iamjwt_client::random_u64() >> 11) as f64 / (1u64 << 53) as f64
}

fn now() -> u64 {
    iamjwt_client::unix(SystemTime::now())
}

impl Output {
    fn contents(&self, token: &Token) -> Result<Vec<u8>, Error> {
        Ok(match &self.json_field {
            None => token.jwt.clone().into_bytes(),
            Some(f) => serde_json::to_vec(&serde_json::json!({ f.as_str(): token.jwt }))
                .map_err(|e| Error::Usage(format!("cannot encode the token file: {e}")))?,
        })
    }

    /// Checks the token before it may replace the file: complete (parsed by the client), unexpired, and of the
    /// algorithm asked for.
    fn accept(&self, token: &Token, now: u64) -> Result<(), String> {
        if token.times.expires_at <= now {
            return Err(format!(
                "the issuer returned a token that expired at {}",
                token.times.expires_at
            ));
        }
        if let Some(a) = &self.request.alg
            && *a != token.times.alg
        {
            return Err(format!(
                "asked for {a}, the issuer signed with {}",
                token.times.alg
            ));
        }
        Ok(())
    }
}

fn build_outputs(args: &Args) -> Result<(Vec<Output>, ClientOptions), Error> {
    let mut options = ClientOptions {
        profile: args.profile.clone(),
        region: args.region.clone(),
    };
    let outputs = if let Some(path) = &args.config {
        let bytes = std::fs::read(path).map_err(|source| Error::Io {
            path: path.clone(),
            source,
        })?;
        let cfg: ConfigFile = serde_json::from_slice(&bytes).map_err(|e| {
            Error::Usage(format!("{}: not a valid agent config: {e}", path.display()))
        })?;
        let url =
            args.url.clone().or(cfg.url).ok_or_else(|| {
                Error::Usage(format!("{}: no \"url\" and no --url", path.display()))
            })?;
        options.region = options.region.or(cfg.region);
        options.profile = options.profile.or(cfg.profile);
        if cfg.outputs.is_empty() {
            return Err(Error::Usage(format!(
                "{}: \"outputs\" is empty",
                path.display()
            )));
        }
        cfg.outputs
            .into_iter()
            .map(|o| {
                Ok(Output {
                    file: o.file,
                    request: TokenRequest {
                        url: url.clone(),
                        audiences: o.aud,
                        duration: o.duration,
                        alg: match o.alg {
                            // Refused at start, like a bad --alg, not at the first refresh.
                            Some(a) => Some(
                                a.parse::<iamjwt_core::Algorithm>()
                                    .map_err(|e| Error::Usage(format!("{}: {e}", path.display())))?
                                    .as_str()
                                    .to_owned(),
                            ),
                            None => None,
                        },
                    },
                    json_field: o.json_field,
                    mode: match o.mode {
                        Some(m) => parse_mode(&m).map_err(Error::Usage)?,
                        None => 0o600,
                    },
                })
            })
            .collect::<Result<Vec<_>, Error>>()?
    } else {
        let file = args.file.clone().ok_or_else(|| {
            Error::Usage("give --file PATH (one output) or --config FILE (several)".into())
        })?;
        let url = args
            .url
            .clone()
            .ok_or_else(|| Error::Usage("give --url (or IAMJWT_URL)".into()))?;
        vec![Output {
            file,
            request: TokenRequest {
                url,
                audiences: args.aud.clone(),
                duration: args.duration,
                alg: args.alg.clone(),
            },
            json_field: args.json_field.clone(),
            mode: args.mode,
        }]
    };
    // Refuse at start what cannot work later.
    for (i, o) in outputs.iter().enumerate() {
        o.request.uri()?;
        let dir = match o.file.parent() {
            Some(d) if !d.as_os_str().is_empty() => d,
            _ => Path::new("."),
        };
        if !dir.is_dir() {
            return Err(Error::Usage(format!(
                "{}: directory {} does not exist",
                o.file.display(),
                dir.display()
            )));
        }
        if outputs[..i].iter().any(|p| p.file == o.file) {
            return Err(Error::Usage(format!(
                "{} is listed twice",
                o.file.display()
            )));
        }
    }
    if options.region.is_none()
        && let Some(o) = outputs.first()
    {
        options.region = iamjwt_client::region_from_url(&o.request.url);
    }
    Ok((outputs, options))
}

/// Keeps one file fresh; sends on `first` once its first token is written. With `once`, returns after that.
async fn keep_fresh(
    client: Client,
    output: Output,
    schedule: Schedule,
    first: mpsc::Sender<PathBuf>,
    once: bool,
) {
    let path = output.file.display().to_string();
    let mut attempt: u32 = 0;
    let mut last_good_exp: Option<u64> = None;
    let mut announced = false;
    loop {
        let result: Result<Token, (String, Option<u64>)> = match client.fetch(&output.request).await
        {
            Ok(token) => match output.accept(&token, now()) {
                Ok(()) => output
                    .contents(&token)
                    .and_then(|bytes| Ok(fsutil::write_atomic(&output.file, &bytes, output.mode)?))
                    .map(|()| token)
                    .map_err(|e| (format!("cannot write the file: {e}"), None)),
                Err(why) => Err((format!("refused the issuer's token: {why}"), None)),
            },
            Err(e) if e.is_transient() => Err((e.to_string(), e.retry_after())),
            Err(e) => Err((
                format!(
                    "{e} (not transient: check the issuer's audience policy, the caller's identity and the request)"
                ),
                e.retry_after(),
            )),
        };
        match result {
            Ok(token) => {
                attempt = 0;
                last_good_exp = Some(token.times.expires_at);
                let wait = schedule.refresh_in(
                    token.times.issued_at,
                    token.times.expires_at,
                    now(),
                    jitter(),
                );
                tracing::info!(
                    path,
                    iat = token.times.issued_at,
                    exp = token.times.expires_at,
                    next_refresh_in_s = wait.as_secs(),
                    "token written"
                );
                if !announced {
                    announced = true;
                    let _ = first.send(output.file.clone()).await;
                }
                if once {
                    return;
                }
                tokio::time::sleep(wait).await;
            }
            Err((message, retry_after)) => {
                attempt = attempt.saturating_add(1);
                let wait = Schedule::backoff(attempt, retry_after, jitter());
                let kept = match last_good_exp {
                    Some(exp) if exp > now() => "the file keeps the last good token",
                    Some(_) => "the file's last token has EXPIRED",
                    None => "no token written yet",
                };
                tracing::error!(
                    path,
                    attempt,
                    retry_in_ms = wait.as_millis() as u64,
                    error = message,
                    "token refresh failed; {kept}"
                );
                tokio::time::sleep(wait).await;
            }
        }
    }
}

async fn shutdown_signal() -> &'static str {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => tokio::select! {
                _ = term.recv() => "SIGTERM",
                _ = tokio::signal::ctrl_c() => "SIGINT",
            },
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
                "SIGINT"
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
        "SIGINT"
    }
}

pub async fn run(args: Args) -> Result<(), Error> {
    let (outputs, options) = build_outputs(&args)?;
    let schedule = Schedule {
        refresh_before: args.refresh_before,
    };
    let client = Client::from_environment(options).await?;
    let (tx, mut rx) = mpsc::channel(outputs.len());
    let mut pending: Vec<PathBuf> = outputs.iter().map(|o| o.file.clone()).collect();
    let mut tasks = tokio::task::JoinSet::new();
    for o in outputs {
        tasks.spawn(keep_fresh(
            client.clone(),
            o,
            schedule,
            tx.clone(),
            args.once,
        ));
    }
    drop(tx);
    let shutdown = shutdown_signal();
    tokio::pin!(shutdown);
    let startup = tokio::time::sleep(Duration::from_secs(args.startup_timeout));
    tokio::pin!(startup);
    while !pending.is_empty() {
        tokio::select! {
            Some(done) = rx.recv() => pending.retain(|p| *p != done),
            () = &mut startup => {
                let list: Vec<String> = pending.iter().map(|p| p.display().to_string()).collect();
                return Err(Error::Usage(format!(
                    "no first token within --startup-timeout {}s for {} (the log lines above say why)",
                    args.startup_timeout,
                    list.join(", ")
                )));
            }
            sig = &mut shutdown => {
                tracing::info!(signal = sig, "stopping before every file had a token");
                return Ok(());
            }
        }
    }
    if args.once {
        tracing::info!("every file written once; exiting (--once)");
        return Ok(());
    }
    let sig = shutdown.await;
    tasks.abort_all();
    tracing::info!(signal = sig, "stopping");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refresh_at_80_percent_with_jitter() {
        let s = Schedule {
            refresh_before: None,
        };
        // 900 s token received at iat: refresh between 675 s (75 %) and 720 s (80 %).
        assert_eq!(
            s.refresh_in(1000, 1900, 1000, 0.0),
            Duration::from_secs(720)
        );
        assert_eq!(s.refresh_in(1000, 1900, 1000, 0.999_999).as_secs(), 675);
        // received late (clock skew / slow issuer): the wait shrinks, never below 1 s.
        assert_eq!(s.refresh_in(1000, 1900, 1700, 0.0), Duration::from_secs(20));
        assert_eq!(s.refresh_in(1000, 1900, 1899, 0.0), Duration::from_secs(1));
        let s = Schedule {
            refresh_before: Some(57),
        };
        assert_eq!(s.refresh_in(1000, 1060, 1000, 0.5), Duration::from_secs(3));
    }

    #[test]
    fn backoff_doubles_to_a_minute_and_honours_retry_after() {
        assert_eq!(Schedule::backoff(1, None, 0.0), Duration::from_millis(500));
        assert_eq!(Schedule::backoff(1, None, 0.999_999).as_millis(), 999);
        assert_eq!(Schedule::backoff(3, None, 0.0), Duration::from_secs(2));
        assert_eq!(Schedule::backoff(7, None, 0.0), Duration::from_secs(30));
        assert_eq!(Schedule::backoff(40, None, 0.0), Duration::from_secs(30));
        assert!(Schedule::backoff(40, None, 0.999) <= BACKOFF_MAX);
        assert_eq!(Schedule::backoff(1, Some(7), 0.0), Duration::from_secs(7));
    }

    #[test]
    fn about_five_fetches_an_hour_for_a_15_minute_token() {
        let s = Schedule {
            refresh_before: None,
        };
        for seed in 0..100u64 {
            // deterministic jitter draws spread over [0, 1)
            let mut r = seed as f64 / 100.0;
            let (mut t, mut fetches) = (0u64, 0);
            while t < 3600 {
                fetches += 1;
                t += s.refresh_in(t, t + 900, t, r).as_secs();
                r = (r + 0.618_034) % 1.0;
            }
            assert!((5..=6).contains(&fetches), "{fetches} fetches in an hour");
        }
    }

    #[test]
    fn modes() {
        assert_eq!(parse_mode("0600"), Ok(0o600));
        assert_eq!(parse_mode("644"), Ok(0o644));
        assert!(parse_mode("0400").is_err());
        assert!(parse_mode("rw").is_err());
        assert!(parse_mode("1777").is_err());
    }
}
