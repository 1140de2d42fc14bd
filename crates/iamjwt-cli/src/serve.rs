//! `iamjwt serve`: the whole issuer on one machine.

use crate::error::Error;
use crate::local;
use iamjwt_core::UnixTime;
use iamjwt_core::issuer::{IssuePolicy, Issuer};
use iamjwt_core::ports::KeyStore as _;
use iamjwt_lambda::token::TokenHandler;
use iamjwt_local::gateway::{self, Gateway};
use iamjwt_local::keys::{SoftKeyStore, SoftSigner};
use iamjwt_local::layout;
use iamjwt_local::principals::{LocalPrincipal, Principals};
use iamjwt_local::publisher::DirPublisher;
use iamjwt_local::sigv4::Verifier;
use std::io::Write as _;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

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
}

pub async fn run(args: Args) -> Result<(), Error> {
    if !args.listen.ip().is_loopback() {
        return Err(Error::Usage(format!(
            "--listen {} is not a loopback address; local mode stays on this machine",
            args.listen
        )));
    }
    let state = args.state_dir;
    std::fs::create_dir_all(&state).map_err(|source| Error::Io {
        path: state.clone(),
        source,
    })?;
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .map_err(|e| Error::Usage(format!("cannot listen on {}: {e}", args.listen)))?;
    let addr = listener.local_addr().map_err(|source| Error::Io {
        path: state.clone(),
        source,
    })?;
    let url = format!("http://{addr}");
    let settings = local::serve_settings(&state, &url)?;

    // Bootstrap: one ordinary rotation run when there is no current key yet.
    let store = SoftKeyStore::new(&state);
    let keys = store
        .load(&settings.algorithms)
        .await
        .map_err(iamjwt_core::Error::from)?;
    if keys.algs.values().any(|s| s.current.is_none()) {
        local::rotation(&settings, &state)
            .run(false, UnixTime::from_system_time(SystemTime::now()))
            .await?;
        tracing::info!(state = %state.display(), "bootstrapped signing keys");
    }

    let (principals, created) = Principals::load_or_init(&layout::principals_file(&state))?;
    let principals = Arc::new(principals);
    let signer = SoftSigner::open(&state, Duration::from_secs(settings.key_refresh_seconds))?;
    let issuer =
        Issuer::new(IssuePolicy::from(&settings), Arc::new(signer)).with_tags(principals.clone());
    let gw = Gateway {
        verifier: Verifier::new(principals.clone(), args.region.clone()),
        handler: TokenHandler::new(issuer),
        public: DirPublisher::new(layout::public_dir(&state), settings.jwks_max_age),
        clock: Arc::new(SystemTime::now),
    };
    let app = gateway::router(Arc::new(gw)).into_make_service_with_connect_info::<SocketAddr>();

    let dev = created.or_else(|| {
        principals
            .all()
            .find(|p| p.arn.contains(":assumed-role/iamjwt-dev/"))
            .cloned()
    });
    print_banner(
        &url,
        &settings.issuer,
        &args.region,
        &state,
        dev.as_ref(),
        settings.policy.default_audience().as_str(),
    );

    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown())
        .await
        .map_err(|e| Error::Http(format!("server: {e}")))
}

fn print_banner(
    url: &str,
    issuer: &str,
    region: &str,
    state: &std::path::Path,
    dev: Option<&LocalPrincipal>,
    aud: &str,
) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "iamjwt listening on {url}");
    let _ = writeln!(
        out,
        "  token endpoint : {url}/token   (SigV4, service execute-api, region {region})"
    );
    let _ = writeln!(out, "  issuer         : {issuer}");
    let _ = writeln!(
        out,
        "  discovery      : {issuer}/.well-known/openid-configuration"
    );
    let _ = writeln!(out, "  jwks           : {issuer}/.well-known/jwks.json");
    let _ = writeln!(out, "  state          : {}", state.display());
    if let Some(p) = dev {
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
            "    iamjwt token --url {url} --region {region} --aud {aud}"
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
