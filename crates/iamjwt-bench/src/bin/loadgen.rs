//! `iamjwt-loadgen`: raw baseline, gateway load at several concurrencies, and soak, against a fresh local issuer.
//! Prints a table and (for `bench`) writes `target/bench/results.json` (merging what is already there).

use clap::{Parser, Subcommand};
use iamjwt_bench::counting_proxy::CountingProxy;
use iamjwt_bench::load::{self, LoadConfig};
use iamjwt_bench::moto;
use iamjwt_bench::regions_soak::{self, RegionsSoakConfig};
use iamjwt_bench::server::{Server, iamjwt_bin};
use iamjwt_bench::soak::{self, SoakConfig};
use iamjwt_bench::{Error, baseline};
use iamjwt_bench::{kms_path, lambda_init, serve_start, workload};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

#[derive(Parser)]
#[command(name = "iamjwt-loadgen", about = "Measure the local issuer")]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Raw single-core sign rate, then gateway load at each concurrency for each algorithm.
    Bench {
        #[arg(long, default_value = "1,16,64", value_delimiter = ',')]
        concurrency: Vec<usize>,
        #[arg(long, default_value_t = 20)]
        seconds: u64,
        #[arg(long, default_value = "target/bench/results.json")]
        out: PathBuf,
    },
    /// Adds criterion's results (mean ns per id) to the results file and prints them.
    CollectMicro {
        #[arg(long, default_value = "target/criterion")]
        criterion: PathBuf,
        #[arg(long, default_value = "target/bench/results.json")]
        out: PathBuf,
    },
    /// The token handler with the KMS signer against moto: KMS requests per warm token, handler time minus KMS;
    /// then warm tokens across key-TTL expiries (background refresh): KMS requests per token, p50/p99 steady vs
    /// around a refresh.
    Kms {
        #[arg(long, default_value_t = 1000)]
        tokens: u64,
        /// Key TTL of the run across expiries, in milliseconds.
        #[arg(long, default_value_t = 2000)]
        ttl_ms: u64,
        /// Length of the run across expiries, in seconds (≥ 2 TTLs).
        #[arg(long, default_value_t = 6)]
        ttl_run_seconds: u64,
        #[arg(long, default_value = "target/bench/results.json")]
        out: PathBuf,
    },
    /// Cold starts: the `token` Lambda binary under a loopback Runtime API (against moto), `iamjwt serve` start →
    /// first token, and the Lambda zip sizes left by `make lambdas`.
    ColdStart {
        /// The `token` Lambda binary (default: `token` beside this executable).
        #[arg(long)]
        token_bin: Option<PathBuf>,
        #[arg(long, default_value_t = 20)]
        runs: usize,
        #[arg(long, default_value = "target/lambda")]
        lambda_dir: PathBuf,
        #[arg(long, default_value = "target/bench/results.json")]
        out: PathBuf,
    },
    /// The workload side: tokens per second from the client's cache vs from the issuer (library and CLI), and the
    /// agent's issuer calls per hour (its real refresh loop on a virtual clock).
    Workload {
        /// Seconds per in-process run.
        #[arg(long, default_value_t = 3.0)]
        seconds: f64,
        /// `iamjwt token` processes per CLI run.
        #[arg(long, default_value_t = 50)]
        cli_runs: usize,
        /// Token lifetime for the agent's calls per hour, in seconds.
        #[arg(long, default_value_t = 900)]
        agent_token_seconds: u64,
        #[arg(long, default_value = "target/bench/results.json")]
        out: PathBuf,
    },
    /// Sustained load with a rotation in the middle; fails on any error, unverifiable token or memory growth.
    Soak {
        #[arg(long, default_value_t = 60)]
        seconds: u64,
        #[arg(long, default_value_t = 64)]
        concurrency: usize,
    },
    /// An issuer in three regions against moto: rotations on a virtual clock under random regional outages, a token
    /// from every region at every step; fails on an invariant violation, a token that does not verify against the
    /// JWKS of its moment, or a region that is up and does not issue.
    RegionsSoak {
        #[arg(long, default_value_t = 100)]
        rotations: u32,
        /// Replays a run (default: `SOAK_SEED`, else random; the seed is printed), with the same outage settings.
        #[arg(long)]
        seed: Option<u64>,
        /// The chance per step that a region that is up goes down (default: the soak's).
        #[arg(long)]
        outage_chance: Option<f64>,
        /// An outage lasts 1 to this many steps (default: the soak's).
        #[arg(long)]
        max_outage_steps: Option<u32>,
    },
}

const HEADER: &str = "alg    conc   tokens/s    p50 ms    p99 ms    max ms  errors  raw×cores  server µs/tok  loadgen µs/tok";

fn row(r: &load::LoadResult, ratio: Option<f64>) -> String {
    let opt = |v: Option<f64>, width: usize| match v {
        Some(v) => format!("{v:>width$.0}"),
        None => format!("{:>width$}", "-"),
    };
    format!(
        "{:<6} {:>4} {:>10.0} {:>9.2} {:>9.2} {:>9.2} {:>7} {:>10} {:>14} {:>15}",
        r.alg,
        r.concurrency,
        r.tokens_per_s,
        r.p50_ms,
        r.p99_ms,
        r.max_ms,
        r.errors,
        ratio
            .map(|x| format!("{:.0}%", x * 100.0))
            .unwrap_or_default(),
        opt(r.server_cpu_us_per_token, 14),
        opt(r.loadgen_cpu_us_per_token, 15),
    )
}

async fn bench(concurrency: Vec<usize>, seconds: u64, out: PathBuf) -> Result<(), Error> {
    let base = tokio::task::spawn_blocking(|| baseline::measure(Duration::from_secs(3)))
        .await
        .map_err(|e| Error::Failed(e.to_string()))??;
    println!(
        "raw single-core sign rate: ES256 {:.0}/s, RS256 {:.0}/s ({} cores)",
        base.es256_sign_per_s, base.rs256_sign_per_s, base.cores
    );
    let server = Server::start(&iamjwt_bin()?)?;
    println!("{HEADER}");
    let mut results = Vec::new();
    for alg in ["ES256", "RS256"] {
        let raw = if alg == "ES256" {
            base.es256_sign_per_s
        } else {
            base.rs256_sign_per_s
        } * base.cores as f64;
        for &c in &concurrency {
            let cfg = LoadConfig {
                url: server.url.clone(),
                credentials: server.credentials(),
                region: "us-east-1".into(),
                alg: alg.into(),
                concurrency: c,
                duration: Duration::from_secs(seconds),
                sample_every: 0,
                server_pid: Some(server.pid()),
            };
            let r = load::run(&cfg).await?;
            let ratio = r.tokens_per_s / raw;
            println!("{}", row(&r, Some(ratio)));
            let mut v = to_json(&r)?;
            v["ratio_of_raw_times_cores"] = ratio.into();
            results.push(v);
        }
    }
    let mut doc = read_results(&out);
    doc["baseline"] = to_json(&base)?;
    doc["gateway"] = serde_json::Value::Array(results);
    write_results(&out, &doc)?;
    println!("wrote {}", out.display());
    Ok(())
}

fn read_results(out: &std::path::Path) -> serde_json::Value {
    std::fs::read(out)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_else(|| serde_json::json!({}))
}

fn write_results(out: &std::path::Path, doc: &serde_json::Value) -> Result<(), Error> {
    if let Some(dir) = out.parent() {
        std::fs::create_dir_all(dir).map_err(|e| Error::Setup(e.to_string()))?;
    }
    let bytes = serde_json::to_vec_pretty(doc).map_err(|e| Error::Failed(e.to_string()))?;
    std::fs::write(out, bytes).map_err(|e| Error::Setup(format!("{}: {e}", out.display())))
}

/// `target/criterion/<group>/<id>/new/estimates.json` → `{"group/id": mean_ns}`.
fn collect_micro(criterion: PathBuf, out: PathBuf) -> Result<(), Error> {
    let mut micro = serde_json::Map::new();
    let groups = std::fs::read_dir(&criterion)
        .map_err(|e| Error::Setup(format!("{}: {e}", criterion.display())))?;
    for group in groups.flatten() {
        let Ok(ids) = std::fs::read_dir(group.path()) else {
            continue;
        };
        for id in ids.flatten() {
            let est = id.path().join("new/estimates.json");
            let Some(v) = std::fs::read(&est)
                .ok()
                .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
            else {
                continue;
            };
            if let Some(mean) = v["mean"]["point_estimate"].as_f64() {
                let key = format!(
                    "{}/{}",
                    group.file_name().to_string_lossy(),
                    id.file_name().to_string_lossy()
                );
                micro.insert(key, mean.into());
            }
        }
    }
    if micro.is_empty() {
        return Err(Error::Setup(format!(
            "no criterion results under {}",
            criterion.display()
        )));
    }
    println!("{:<40} {:>12}", "micro benchmark", "mean");
    for (k, v) in &micro {
        let ns = v.as_f64().unwrap_or_default();
        let shown = if ns >= 1e6 {
            format!("{:.2} ms", ns / 1e6)
        } else {
            format!("{:.2} µs", ns / 1e3)
        };
        println!("{k:<40} {shown:>12}");
    }
    let mut doc = read_results(&out);
    doc["micro_mean_ns"] = serde_json::Value::Object(micro);
    write_results(&out, &doc)
}

fn to_json(v: &impl serde::Serialize) -> Result<serde_json::Value, Error> {
    serde_json::to_value(v).map_err(|e| Error::Failed(e.to_string()))
}

async fn kms(tokens: u64, ttl_ms: u64, ttl_run_seconds: u64, out: PathBuf) -> Result<(), Error> {
    let ttl = Duration::from_millis(ttl_ms);
    let run = Duration::from_secs(ttl_run_seconds);
    if ttl.is_zero() || run < ttl * 2 {
        return Err(Error::Setup(format!(
            "--ttl-run-seconds {ttl_run_seconds} must cover at least two TTLs of {ttl_ms} ms"
        )));
    }
    let moto = moto::start()?;
    moto::with_keys(&moto).await?;
    let results = kms_path::run(&moto, tokens).await?;
    println!(
        "{:<6} {:>6} {:>13} {:>12} {:>12} {:>12} {:>12}",
        "alg", "tokens", "KMS req/token", "handler p50", "KMS rt p50", "own p50 ms", "own p99 ms"
    );
    for r in &results {
        println!(
            "{:<6} {:>6} {:>13.3} {:>12.3} {:>12.3} {:>12.3} {:>12.3}",
            r.alg,
            r.tokens,
            r.kms_requests_per_token,
            r.handler_ms.p50,
            r.kms_round_trip_ms.p50,
            r.own_ms.p50,
            r.own_ms.p99
        );
    }
    let across = kms_path::run_across_ttl(&moto, ttl, run).await?;
    println!(
        "across the key TTL ({ttl_ms} ms TTL, {} ms run, {} expiries, ES256/RS256 alternately): {} tokens, \
         {:.3} KMS requests per token on the request path {:?}, background {:?} ({} refreshes)",
        across.run_ms,
        across.ttl_expiries,
        across.tokens,
        across.kms_requests_per_token,
        across.requests.request_path,
        across.requests.background,
        across.background_refreshes,
    );
    println!(
        "{:<30} {:>6} {:>9} {:>9} {:>9}",
        "handler ms", "n", "p50", "p99", "max"
    );
    for (name, s) in [
        ("steady", &across.steady_ms),
        ("around a refresh", &across.around_refresh_ms),
    ] {
        println!(
            "{name:<30} {:>6} {:>9.3} {:>9.3} {:>9.3}",
            s.n, s.p50, s.p99, s.max
        );
    }
    // An issuer in three regions: each region's warm tokens, signed with its local replica.
    let regional_moto = moto::start_multi_region()?;
    moto::with_keys_in_regions(&regional_moto).await?;
    let regional = kms_path::run_regions(&regional_moto, tokens.min(200)).await?;
    println!(
        "{:<15} {:<6} {:>6} {:>13} {:>12} {:>12}",
        "region", "alg", "tokens", "KMS req/token", "S3 req/token", "handler p50"
    );
    for r in &regional {
        println!(
            "{:<15} {:<6} {:>6} {:>13.3} {:>12.3} {:>12.3}",
            r.region,
            r.alg,
            r.tokens,
            r.kms_requests_per_token,
            r.s3_requests_per_token,
            r.handler_ms.p50
        );
    }
    let mut doc = read_results(&out);
    doc["kms_path"] = to_json(&results)?;
    doc["kms_across_ttl"] = to_json(&across)?;
    doc["kms_path_regions"] = to_json(&regional)?;
    write_results(&out, &doc)?;
    if let Some(r) = regional
        .iter()
        .find(|r| r.kms_requests_per_token != 1.0 || r.s3_requests_per_token != 0.0)
    {
        return Err(Error::Failed(format!(
            "{} {}: {} KMS and {} S3 requests per warm token, expected exactly 1 and 0",
            r.region, r.alg, r.kms_requests_per_token, r.s3_requests_per_token
        )));
    }
    if let Some(r) = results.iter().find(|r| r.kms_requests_per_token != 1.0) {
        return Err(Error::Failed(format!(
            "{}: {} KMS requests per warm token, expected exactly 1",
            r.alg, r.kms_requests_per_token
        )));
    }
    if across.kms_requests_per_token != 1.0 || across.requests.get(true, "Sign") != across.tokens {
        return Err(Error::Failed(format!(
            "across the TTL: {:.3} KMS requests per token on the request path ({:?}), expected exactly 1 Sign",
            across.kms_requests_per_token, across.requests.request_path
        )));
    }
    if across.background_refreshes < 2 {
        return Err(Error::Failed(format!(
            "across the TTL: {} background refreshes in {} expiries, expected at least 2",
            across.background_refreshes, across.ttl_expiries
        )));
    }
    Ok(())
}

fn zip_sizes(dir: &std::path::Path) -> serde_json::Value {
    let mut sizes = serde_json::Map::new();
    for f in ["token", "rotate"] {
        let path = dir.join(format!("{f}.zip"));
        if let Ok(m) = std::fs::metadata(&path) {
            println!("{:<40} {:>9.2} MB", path.display(), m.len() as f64 / 1e6);
            sizes.insert(f.to_owned(), m.len().into());
        } else {
            println!("{:<40} not built (run `make lambdas`)", path.display());
        }
    }
    serde_json::Value::Object(sizes)
}

async fn cold_start(
    token_bin: Option<PathBuf>,
    runs: usize,
    lambda_dir: PathBuf,
    out: PathBuf,
) -> Result<(), Error> {
    let token_bin = match token_bin {
        Some(p) => p,
        None => std::env::current_exe()
            .ok()
            .and_then(|e| e.parent().map(|d| d.join("token")))
            .filter(|p| p.is_file())
            .ok_or_else(|| Error::Setup("token binary not found: pass --token-bin".into()))?,
    };
    let moto = moto::start()?;
    moto::with_keys(&moto).await?;
    let proxy = CountingProxy::start(&moto.endpoint).await?;
    let lambda = lambda_init::run(&token_bin, &proxy, runs).await?;
    let serve = serve_start::run(&iamjwt_bin()?, runs.div_ceil(4)).await?;
    println!(
        "{:<44} {:>9} {:>9} {:>9}",
        "cold start (ms)", "p50", "p99", "max"
    );
    let line = |name: &str, s: &iamjwt_bench::stats::Summary| {
        println!("{name:<44} {:>9.1} {:>9.1} {:>9.1}", s.p50, s.p99, s.max);
    };
    line("token Lambda init (start → first poll)", &lambda.init_ms);
    line("token Lambda start → first token", &lambda.first_token_ms);
    let per_run: Vec<String> = lambda
        .init_ms_per_run
        .iter()
        .map(|ms| format!("{ms:.1}"))
        .collect();
    println!("token Lambda init per run (ms): {}", per_run.join(" "));
    println!(
        "token Lambda KMS requests: {} at init, {} before the first token ({})",
        lambda.kms_calls_at_init,
        lambda.kms_calls_before_first_token,
        lambda.kms_operations_before_first_token.join(", ")
    );
    line(
        "iamjwt serve → first token, new state",
        &serve.fresh_state_ms,
    );
    line(
        "iamjwt serve → first token, existing state",
        &serve.existing_state_ms,
    );
    let mut doc = read_results(&out);
    doc["cold_start"] = serde_json::json!({
        "token_lambda": to_json(&lambda)?,
        "serve": to_json(&serve)?,
        "lambda_zip_bytes": zip_sizes(&lambda_dir),
    });
    write_results(&out, &doc)?;
    // One GetPublicKey per algorithm, then the Sign.
    let floor = moto::settings()?.issue.algorithms.len() + 1;
    if lambda.kms_calls_before_first_token > floor {
        return Err(Error::Failed(format!(
            "token Lambda: {} KMS requests before the first token ({}), expected at most {floor}",
            lambda.kms_calls_before_first_token,
            lambda.kms_operations_before_first_token.join(", ")
        )));
    }
    Ok(())
}

async fn run_workload(
    seconds: f64,
    cli_runs: usize,
    agent_token_seconds: u64,
    out: PathBuf,
) -> Result<(), Error> {
    let server = Server::start(&iamjwt_bin()?)?;
    println!(
        "{:<6} {:<28} {:>8} {:>11} {:>9} {:>9}",
        "alg", "tokens from", "calls", "tokens/s", "p50 ms", "p99 ms"
    );
    let mut rows = Vec::new();
    for alg in ["ES256", "RS256"] {
        let r = workload::cache_vs_issuer(&server, alg, seconds, cli_runs).await?;
        for (name, rate) in [
            ("issuer (Client::token)", &r.library_issuer),
            ("cache (Client::token)", &r.library_cache),
            ("issuer (iamjwt token)", &r.cli_issuer),
            ("cache (iamjwt token)", &r.cli_cache),
        ] {
            println!(
                "{alg:<6} {name:<28} {:>8} {:>11.0} {:>9.3} {:>9.3}",
                rate.calls, rate.per_s, rate.ms.p50, rate.ms.p99
            );
        }
        if r.issuer_requests_while_cached != 0 {
            return Err(Error::Failed(format!(
                "{alg}: {} issuer requests while the cache was warm, expected 0",
                r.issuer_requests_while_cached
            )));
        }
        rows.push(to_json(&r)?);
    }
    let agent = workload::agent_per_hour(agent_token_seconds, 20).await?;
    println!(
        "agent, {} s tokens: {:.2} issuer calls per hour (min {:.2}, max {:.2}; {} runs of one virtual day)",
        agent.token_seconds,
        agent.calls_per_hour.mean,
        agent.calls_per_hour.min,
        agent.calls_per_hour.max,
        agent.runs
    );
    let mut doc = read_results(&out);
    doc["workload"] = serde_json::json!({ "cache_vs_issuer": rows, "agent": to_json(&agent)? });
    write_results(&out, &doc)
}

async fn run_soak(seconds: u64, concurrency: usize) -> Result<(), Error> {
    let server = Server::start(&iamjwt_bin()?)?;
    let cfg = SoakConfig {
        duration: Duration::from_secs(seconds),
        concurrency,
        rss_tolerance: 0.10,
    };
    let r = soak::run(&server, &cfg).await?;
    println!("{}", row(&r.es256, None));
    println!("{}", row(&r.rs256, None));
    println!(
        "soak ok: {} sampled tokens verified across {} keys; RSS {} KiB after warm-up, {} KiB at the end",
        r.verified, r.kids_seen, r.rss_after_warmup_kib, r.rss_end_kib
    );
    Ok(())
}

async fn run_regions_soak(
    rotations: u32,
    seed: Option<u64>,
    outage_chance: Option<f64>,
    max_outage_steps: Option<u32>,
) -> Result<(), Error> {
    let seed = seed
        .map(|s| s.to_string())
        .or_else(|| std::env::var("SOAK_SEED").ok());
    let mut cfg = RegionsSoakConfig::new(rotations, seed.as_deref())?;
    cfg.outage_chance = outage_chance.unwrap_or(cfg.outage_chance);
    cfg.max_outage_steps = max_outage_steps.unwrap_or(cfg.max_outage_steps);
    cfg.progress_every = Some(10);
    println!(
        "multi-region soak: {rotations} rotations, SOAK_SEED={} --outage-chance {} --max-outage-steps {}",
        cfg.seed, cfg.outage_chance, cfg.max_outage_steps
    );
    let report = regions_soak::run(&cfg).await?;
    println!("{}", report.table());
    println!("requests by operation: {:?}", report.requests);
    report.check()?;
    println!("multi-region soak ok");
    Ok(())
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Cmd::Bench {
            concurrency,
            seconds,
            out,
        } => bench(concurrency, seconds, out).await,
        Cmd::Soak {
            seconds,
            concurrency,
        } => run_soak(seconds, concurrency).await,
        Cmd::RegionsSoak {
            rotations,
            seed,
            outage_chance,
            max_outage_steps,
        } => run_regions_soak(rotations, seed, outage_chance, max_outage_steps).await,
        Cmd::Workload {
            seconds,
            cli_runs,
            agent_token_seconds,
            out,
        } => run_workload(seconds, cli_runs, agent_token_seconds, out).await,
        Cmd::CollectMicro { criterion, out } => collect_micro(criterion, out),
        Cmd::Kms {
            tokens,
            ttl_ms,
            ttl_run_seconds,
            out,
        } => kms(tokens, ttl_ms, ttl_run_seconds, out).await,
        Cmd::ColdStart {
            token_bin,
            runs,
            lambda_dir,
            out,
        } => cold_start(token_bin, runs, lambda_dir, out).await,
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
