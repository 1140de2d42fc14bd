//! `iamjwt`: run a local issuer, fetch a token with ambient AWS credentials, verify a token, rotate keys.
//!
//! Wiring only: every behaviour lives in the library crates.

mod agent;
mod console;
mod credentials;
mod decode;
mod describe;
mod error;
mod http;
mod rotate;
mod s3_access;
mod serve;
mod targets;
mod token;
mod trust;
mod verify;

use clap::{Parser, Subcommand};
use std::io::{IsTerminal as _, Write as _};
use std::process::ExitCode;

/// Writes a line to stdout; a closed pipe (`| head`) is not an error worth a panic.
pub(crate) fn print_stdout(line: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

/// `--alg` values: the JOSE names of the core's algorithm table (one source for every command).
pub(crate) fn alg_parser() -> clap::builder::PossibleValuesParser {
    clap::builder::PossibleValuesParser::new(iamjwt_core::Algorithm::ALL.map(|a| a.as_str()))
}

#[derive(Parser)]
#[command(
    name = "iamjwt",
    version,
    about = "Turn an AWS IAM identity into a signed JWT"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the issuer locally: soft keys, a SigV4-verifying gateway, discovery and JWKS.
    Serve(serve::Args),
    /// Fetch a token: SigV4-signed GET /token with your AWS credentials (cached until 80 % of its lifetime).
    Token(token::Args),
    /// Token → STS AssumeRoleWithWebIdentity → AWS credentials (credential_process JSON, export lines, JSON).
    Credentials(credentials::Args),
    /// Token → IAM Identity Center → identity-enhanced session → S3 Access Grants credentials (credential_process
    /// JSON, export lines, JSON).
    S3Access(s3_access::Args),
    /// Token → role credentials → an AWS console sign-in URL.
    Console(console::Args),
    /// Keep token files fresh for SDKs that re-read them (AWS, Azure, GCP).
    Agent(agent::Args),
    /// Verify a token against its issuer's discovery document and JWKS; print its claims, or check the rules of
    /// verifiers (`--for aws`, …).
    Verify(verify::Args),
    /// Print what a verifier (AWS, GCP, Entra, Vault, Kubernetes, Snowflake, Databricks) needs to trust this issuer
    /// for one principal, after checking the issuer's discovery and JWKS.
    Trust(trust::Args),
    /// Rotate the signing keys of a local state directory (retire → promote → create → publish).
    Rotate(rotate::Args),
    /// Print a token's header and claims WITHOUT verifying anything.
    Decode(decode::Args),
    /// Print the algorithms, rotation steps and key slots this build knows (`--json`: machine-readable).
    Describe(describe::Args),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // The SDK's credential/region chain logs every provider it tries; only its errors matter here.
    let default_level = if matches!(cli.command, Command::Serve(_)) {
        "info"
    } else {
        "warn,aws_config=error,aws_runtime=error"
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("RUST_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_level));
    if matches!(cli.command, Command::Agent(_)) {
        // The agent runs under systemd / Kubernetes: JSON lines for the log pipeline.
        let filter = tracing_subscriber::EnvFilter::try_from_env("RUST_LOG").unwrap_or_else(|_| {
            tracing_subscriber::EnvFilter::new("info,aws_config=error,aws_runtime=error")
        });
        tracing_subscriber::fmt()
            .json()
            .flatten_event(true)
            .with_env_filter(filter)
            .with_writer(std::io::stderr)
            .init();
    } else {
        tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_ansi(std::io::stderr().is_terminal())
            .with_writer(std::io::stderr)
            .init();
    }

    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async move {
        match cli.command {
            Command::Serve(a) => serve::run(a).await,
            Command::Token(a) => token::run(a).await,
            Command::Credentials(a) => credentials::run(a).await,
            Command::S3Access(a) => s3_access::run(a).await,
            Command::Console(a) => console::run(a).await,
            Command::Agent(a) => agent::run(a).await,
            Command::Verify(a) => verify::run(a).await,
            Command::Trust(a) => trust::run(a).await,
            Command::Rotate(a) => rotate::run(a).await,
            Command::Decode(a) => decode::run(a),
            Command::Describe(a) => describe::run(&a),
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
