//! `iamjwt agent`: keeps token files fresh for SDKs that re-read them (`AWS_WEB_IDENTITY_TOKEN_FILE`,
//! `AZURE_FEDERATED_TOKEN_FILE`, GCP `credential_source.file`). The refresh loop (80 % with jitter, backoff,
//! atomic replacement, last good token kept) is `iamjwt_client::agent`; this is the wiring: flags or a config
//! file → outputs, one task per file, `--once`, `--startup-timeout`, SIGTERM/SIGINT, JSON logs on stderr.

use crate::error::Error;
use iamjwt_client::agent::{self, Output, Owner, Schedule, SystemClock};
use iamjwt_client::keyset::HttpKeySet;
use iamjwt_client::{ClientOptions, TokenRequest};
use serde::Deserialize;
use std::path::PathBuf;
use std::time::Duration;
use tokio::sync::mpsc;

#[derive(clap::Args)]
pub struct Args {
    /// Token endpoint, or the API base URL (`/token` is appended when missing). For an issuer in several
    /// regions: one URL holding `{region}` (with --regions), or repeat it (`REGION=URL`, or execute-api URLs).
    #[arg(long, env = "IAMJWT_URL")]
    url: Vec<String>,
    /// Regions to put into a --url holding `{region}`, comma-separated, in order of preference after the own
    /// region (the AWS config's, or --region).
    #[arg(long, value_delimiter = ',')]
    regions: Vec<String>,
    /// Seconds a region that failed is passed over before it is tried first again (doubling, up to 10×).
    #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..=3600))]
    failback_after: u64,
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
    /// File owner: USER, USER:GROUP or :GROUP, names or numeric ids (default: the agent's). Another user needs
    /// root or CAP_CHOWN; it is tried at start.
    #[arg(long, value_parser = Owner::parse)]
    owner: Option<Owner>,
    /// JSON config with several outputs: {"url": …, "outputs": [{"file": …, "aud": […], "alg": …,
    /// "duration": …, "json_field": …, "mode": "0600", "owner": "app:app"}]}.
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
    #[serde(default)]
    regions: Vec<String>,
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
    owner: Option<String>,
}

/// What the flags and the config file say.
struct Built {
    /// Their requests' URL is the first `--url`; [`run`] sets the endpoint's.
    outputs: Vec<Output>,
    options: ClientOptions,
    urls: Vec<String>,
    regions: Vec<String>,
}

fn build_outputs(args: &Args) -> Result<Built, Error> {
    let mut options = ClientOptions {
        profile: args.profile.clone(),
        region: args.region.clone(),
    };
    let mut urls = args.url.clone();
    let mut regions = args.regions.clone();
    let outputs = if let Some(path) = &args.config {
        let bytes = std::fs::read(path).map_err(|source| Error::Io {
            path: path.clone(),
            source,
        })?;
        let cfg: ConfigFile = serde_json::from_slice(&bytes).map_err(|e| {
            Error::Usage(format!("{}: not a valid agent config: {e}", path.display()))
        })?;
        if urls.is_empty() {
            urls.extend(cfg.url);
        }
        if regions.is_empty() {
            regions = cfg.regions;
        }
        let url = urls
            .first()
            .cloned()
            .ok_or_else(|| Error::Usage(format!("{}: no \"url\" and no --url", path.display())))?;
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
                        tags: Vec::new(),
                    },
                    json_field: o.json_field,
                    mode: match o.mode {
                        Some(m) => parse_mode(&m).map_err(Error::Usage)?,
                        None => 0o600,
                    },
                    owner: match o.owner {
                        Some(s) => Owner::parse(&s)
                            .map_err(|e| Error::Usage(format!("{}: owner {e}", path.display())))?,
                        None => Owner::default(),
                    },
                })
            })
            .collect::<Result<Vec<_>, Error>>()?
    } else {
        let file = args.file.clone().ok_or_else(|| {
            Error::Usage("give --file PATH (one output) or --config FILE (several)".into())
        })?;
        let url = match urls.first() {
            Some(u) => u.clone(),
            // No implicit issuer: this refuses, naming --url and IAMJWT_URL.
            None => iamjwt_client::issuer_url(None)?,
        };
        vec![Output {
            file,
            request: TokenRequest {
                url,
                audiences: args.aud.clone(),
                duration: args.duration,
                alg: args.alg.clone(),
                tags: Vec::new(),
            },
            json_field: args.json_field.clone(),
            mode: args.mode,
            owner: args.owner.unwrap_or_default(),
        }]
    };
    // Refuse at start what cannot work later.
    let regional = urls.len() > 1
        || !regions.is_empty()
        || urls
            .iter()
            .any(|u| u.contains(iamjwt_client::regions::PLACEHOLDER));
    for (i, o) in outputs.iter().enumerate() {
        // A regional set is checked as a whole when its endpoints are parsed.
        if !regional {
            o.request.uri()?;
        }
        o.check_dir()?;
        let dir = iamjwt_fs::parent(&o.file);
        // A file the agent could not write (directory not writable, an owner it may not give) fails now.
        iamjwt_fs::probe_dir(dir, o.mode, o.owner).map_err(|e| {
            let fix = if o.owner.is_writer() {
                "make the directory writable by the agent's user".to_owned()
            } else {
                format!("--owner ({}) needs root or CAP_CHOWN for another user, or run the agent as that user", o.owner)
            };
            Error::Usage(format!(
                "{}: cannot write a file in {}: {e}; {fix}",
                o.file.display(),
                dir.display()
            ))
        })?;
        if outputs[..i].iter().any(|p| p.file == o.file) {
            return Err(Error::Usage(format!(
                "{} is listed twice",
                o.file.display()
            )));
        }
    }
    Ok(Built {
        outputs,
        options,
        urls,
        regions,
    })
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
    let Built {
        mut outputs,
        options,
        urls,
        regions,
    } = build_outputs(&args)?;
    let schedule = Schedule {
        refresh_before: args.refresh_before,
    };
    let (client, url) = crate::regional::Target {
        urls: &urls,
        regions: &regions,
        region: options.region,
        profile: options.profile,
        failback_after: Duration::from_secs(args.failback_after),
    }
    .source()
    .await?;
    for o in &mut outputs {
        o.request.url = url.clone();
        o.request.uri()?;
    }
    let (tx, mut rx) = mpsc::channel(outputs.len());
    let mut pending: Vec<PathBuf> = outputs.iter().map(|o| o.file.clone()).collect();
    let mut tasks = tokio::task::JoinSet::new();
    let keys = HttpKeySet::default();
    for o in outputs {
        tasks.spawn(agent::keep_fresh_watching(
            client.clone(),
            keys.clone(),
            SystemClock,
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
    fn modes() {
        assert_eq!(parse_mode("0600"), Ok(0o600));
        assert_eq!(parse_mode("644"), Ok(0o644));
        assert!(parse_mode("0400").is_err());
        assert!(parse_mode("rw").is_err());
        assert!(parse_mode("1777").is_err());
    }
}
