//! What both Lambda binaries share at start-up: JSON logs and configuration from the environment.

use iamjwt_core::config::Settings;

/// JSON logs (CloudWatch-friendly), level from `RUST_LOG` (default `info`).
pub fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("RUST_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,aws_config=warn"));
    tracing_subscriber::fmt()
        .json()
        .with_env_filter(filter)
        .with_current_span(false)
        .with_ansi(false)
        .without_time() // Lambda stamps every line itself
        .init();
}

/// `Settings` from the process environment; an invalid value is one clear line naming the variable.
pub fn settings_from_env() -> Result<Settings, String> {
    Settings::from_lookup(|k| std::env::var(k).ok()).map_err(|e| e.to_string())
}

/// [`settings_from_env`], or the one-line error on stderr and exit status 1 (a Lambda init failure).
pub fn settings_or_exit() -> Settings {
    match settings_from_env() {
        Ok(s) => s,
        Err(e) => exit_with(&e),
    }
}

/// True when the binary was run as `<binary> --check-config`: parse the configuration exactly as at
/// start-up, then exit 0 silently instead of serving (cdk/check.sh feeds it the synthesized Lambda
/// environment). Any other argument is refused: a Lambda bootstrap is started without arguments.
pub fn check_config_requested() -> bool {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.as_slice() {
        [] => false,
        [flag] if flag == "--check-config" => true,
        _ => exit_with(&format!(
            "unexpected arguments {args:?}: the only one accepted is --check-config (check the environment's configuration and exit)"
        )),
    }
}

/// Prints `error: {message}` and exits 1.
pub fn exit_with(message: &str) -> ! {
    eprintln!("error: {message}");
    std::process::exit(1)
}
