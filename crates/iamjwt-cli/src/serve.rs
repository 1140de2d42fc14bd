//! `iamjwt serve`: the whole issuer on one machine. Wiring only: [`LocalIssuer`] composes it.

use crate::error::Error;
use iamjwt_core::UnixTime;
use iamjwt_local::compose::{LocalIssuer, Ready};
use std::io::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

#[derive(clap::Args)]
pub struct Args {
    /// Where keys, published documents and local credentials live.
    #[arg(long, default_value = ".iamjwt", env = "IAMJWT_STATE_DIR")]
    state_dir: PathBuf,
    /// Address to listen on (loopback only; port 0 picks a free port).
    #[arg(long, default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// Region the gateway accepts in SigV4 credential scopes.
    #[arg(long, default_value = "us-east-1")]
    region: String,
    /// A read-only front door of a state directory another `serve` owns (one more region: give it its own
    /// --region): it never rotates, bootstraps or republishes, and issues under the owner's issuer URL.
    #[arg(long)]
    replica: bool,
    /// Once listening, print one JSON line (endpoints, region, dev credentials) instead of the banner: for
    /// programs that start `serve` and wait for it.
    #[arg(long)]
    ready_json: bool,
}

pub async fn run(args: Args) -> Result<(), Error> {
    if !args.listen.ip().is_loopback() {
        return Err(Error::Usage(format!(
            "--listen {} is not a loopback address; local mode stays on this machine",
            args.listen
        )));
    }
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .map_err(|e| Error::Usage(format!("cannot listen on {}: {e}", args.listen)))?;
    let addr = listener.local_addr().map_err(|source| Error::Io {
        path: args.state_dir.clone(),
        source,
    })?;
    let url = format!("http://{addr}");
    let issuer = if args.replica {
        LocalIssuer::open_replica(&args.state_dir, &url, &args.region).await?
    } else {
        LocalIssuer::open(
            &args.state_dir,
            &url,
            &args.region,
            std::env::vars(),
            UnixTime::from_system_time(SystemTime::now()),
        )
        .await?
    };
    let app = issuer
        .router()?
        .into_make_service_with_connect_info::<SocketAddr>();
    let ready = issuer.ready();
    if args.ready_json {
        let line = serde_json::to_string(&ready).map_err(|e| Error::Usage(e.to_string()))?;
        crate::print_stdout(&line);
    } else {
        print_banner(&ready);
    }
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown())
        .await
        .map_err(|e| Error::Http(format!("server: {e}")))
}

/// This binary as a command that runs from the current directory (`./target/debug/iamjwt` after `make run`).
fn this_command() -> String {
    let exe = std::env::current_exe().ok();
    let cwd = std::env::current_dir().ok();
    match (exe, cwd) {
        (Some(exe), Some(cwd)) => match exe.strip_prefix(&cwd) {
            Ok(rel) => Path::new(".").join(rel).display().to_string(),
            Err(_) => exe.display().to_string(),
        },
        _ => "iamjwt".to_owned(),
    }
}

fn print_banner(r: &Ready) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "iamjwt listening on {}", r.url);
    let _ = writeln!(
        out,
        "  token endpoint : {}   (SigV4, service {}, region {})",
        r.token_endpoint, r.service, r.region
    );
    let _ = writeln!(out, "  issuer         : {}", r.issuer);
    let _ = writeln!(out, "  discovery      : {}", r.discovery);
    let _ = writeln!(out, "  jwks           : {}", r.jwks);
    let _ = writeln!(out, "  state          : {}", r.state_dir.display());
    if let Some(was) = &r.republished_from {
        let _ = writeln!(
            out,
            "  republished    : discovery and JWKS for {} (they named {was}); verifiers holding the old documents \
             fetch them again",
            r.issuer
        );
    }
    if let Some(p) = &r.dev {
        let _ = writeln!(out, "local-only dev credentials ({}):", p.arn);
        let token = p
            .session_token
            .as_deref()
            .map(|t| format!(" AWS_SESSION_TOKEN={t}"))
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "  AWS_ACCESS_KEY_ID={} AWS_SECRET_ACCESS_KEY={}{token} \\",
            p.access_key_id, p.secret_access_key
        );
        let _ = writeln!(
            out,
            "    {} token --url {} --region {} --aud {}",
            this_command(),
            r.url,
            r.region,
            r.default_audience
        );
    }
    let _ = out.flush();
}

async fn shutdown() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
    tracing::info!("shutting down");
}
