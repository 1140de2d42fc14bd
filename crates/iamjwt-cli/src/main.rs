//! `iamjwt`: run a local issuer, fetch a token with ambient AWS credentials, verify a token, rotate keys.
//!
//! Wiring only: every behaviour lives in the library crates.

mod agent;
mod cache;
mod console;
mod credential_output;
mod credential_process;
mod credentials;
mod decode;
mod describe;
mod error;
mod http;
mod regional;
mod role;
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

/// Boolean flags that an environment variable may set (`IAMJWT_NO_CACHE=1`): the server's reading of a boolean
/// setting ([`iamjwt_core::config::parse_bool`]), so one set of words means yes and no everywhere.
pub(crate) fn bool_value(s: &str) -> Result<bool, String> {
    iamjwt_core::config::parse_bool(s)
        .ok_or_else(|| format!("{s:?}: {}", iamjwt_core::config::BOOL_EXPECTED))
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
    /// Manage the token cache of `token`, `credentials` and `console` (`cache clear`).
    Cache(cache::Args),
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
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let args: Vec<String> = std::env::args_os()
                .map(|a| a.to_string_lossy().into_owned())
                .collect();
            if let Some(failure) = token::gcp_usage_failure(&args, &e) {
                print_stdout(&failure);
            }
            e.exit()
        }
    };
    // The commands that run as a credential_process: a loop is stopped before anything else.
    let credential_process = match &cli.command {
        Command::Credentials(a) => Some(("credentials", a.role())),
        Command::S3Access(a) => Some(("s3-access", a.role())),
        _ => None,
    };
    if let Some((name, role)) = credential_process
        && let Some(code) = credential_process::guard_process(name, role.issuer.profile.as_deref())
    {
        return code;
    }
    // The SDK's credential/region chain logs every provider it tries; only its errors matter here.
    let default_level = match cli.command {
        Command::Serve(_) => "info",
        // The rotate handler logs its failures for CloudWatch; here the command's one error line reports them.
        Command::Rotate(_) => "warn,iamjwt_edge=off,aws_config=error,aws_runtime=error",
        _ => "warn,aws_config=error,aws_runtime=error",
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
            Command::Cache(a) => cache::run(&a),
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
            eprintln!("error: {}", one_line(&e.to_string()));
            ExitCode::FAILURE
        }
    }
}

/// Every CLI error is one line: a message that carries another program's output (the AWS SDK quoting a credential
/// process's stderr, a server's body) has its lines joined.
fn one_line(message: &str) -> String {
    message
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join("; ")
}

#[cfg(test)]
mod tests {
    #[test]
    fn errors_print_as_one_line() {
        assert_eq!(
            super::one_line("credentials: process failed. Stderr: error: loop\n\n  more\n"),
            "credentials: process failed. Stderr: error: loop; more"
        );
    }
}
