//! The composition root of local mode: one state directory → a ready issuer (settings, keys, principals, the
//! gateway's router) and the facts a person or a test needs to use it ([`Ready`]). `iamjwt serve` only binds a
//! socket, calls [`LocalIssuer::open`] and serves [`LocalIssuer::router`].

use crate::error::Error;
use crate::gateway::{self, Clock, Gateway};
use crate::keys::{SoftKeyStore, SoftSigner};
use crate::layout;
use crate::principals::{LocalPrincipal, Principals};
use crate::publisher::DirPublisher;
use crate::runner::LocalRotation;
use crate::settings::serve_settings;
use crate::sigv4::Verifier;
use axum::Router;
use iamjwt_core::UnixTime;
use iamjwt_core::config::Settings;
use iamjwt_core::discovery::{DISCOVERY_PATH, JWKS_PATH};
use iamjwt_core::issuer::{IssuePolicy, Issuer};
use iamjwt_core::ports::KeyStore as _;
use iamjwt_edge::rotate::RotateHandler;
use iamjwt_edge::token::TokenEndpoint;
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

/// The SigV4 service name the gateway accepts, as API Gateway does.
pub const SERVICE: &str = "execute-api";

/// The rotation runner over a state directory (the rotate Lambda's handler over soft keys and a directory).
pub fn rotation(settings: &Settings, state: &Path) -> LocalRotation {
    let store = Arc::new(SoftKeyStore::new(state));
    let publisher = Arc::new(DirPublisher::new(
        layout::public_dir(state),
        settings.jwks_max_age,
    ));
    LocalRotation::new(RotateHandler::new(settings, store, publisher), state)
}

/// A local issuer over one state directory, bootstrapped and ready to serve.
pub struct LocalIssuer {
    settings: Settings,
    state: PathBuf,
    url: String,
    region: String,
    principals: Arc<Principals>,
    dev: Option<LocalPrincipal>,
}

impl LocalIssuer {
    /// Opens (creating if needed) the state directory for an issuer reachable at `url`: records the settings
    /// (defaults, then the `IAMJWT_*` entries of `overrides`), creates keys with one ordinary rotation run when
    /// there is no current key, and loads the principals (writing a dev principal on first start).
    pub async fn open(
        state: &Path,
        url: &str,
        region: &str,
        overrides: impl IntoIterator<Item = (String, String)>,
        now: UnixTime,
    ) -> Result<Self, Error> {
        std::fs::create_dir_all(state).map_err(|e| Error::io(state, e))?;
        let settings = serve_settings(state, url, overrides)?;
        let keys = SoftKeyStore::new(state)
            .load(&settings.algorithms)
            .await
            .map_err(iamjwt_core::Error::from)?;
        if keys.algs.values().any(|s| s.current.is_none()) {
            rotation(&settings, state).run(false, now).await?;
            tracing::info!(state = %state.display(), "bootstrapped signing keys");
        }
        let (principals, created) = Principals::load_or_init(&layout::principals_file(state))?;
        let dev = created.or_else(|| {
            principals
                .all()
                .find(|p| p.arn.contains(":assumed-role/iamjwt-dev/"))
                .cloned()
        });
        Ok(Self {
            settings,
            state: state.to_owned(),
            url: url.to_owned(),
            region: region.to_owned(),
            principals: Arc::new(principals),
            dev,
        })
    }

    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// The gateway: `GET /token` (SigV4) and `/.well-known/*`, on the wall clock.
    pub fn router(&self) -> Result<Router, Error> {
        self.router_with_clock(Arc::new(SystemTime::now))
    }

    /// [`Self::router`] with a clock of the caller's choosing (tests move time).
    pub fn router_with_clock(&self, clock: Clock) -> Result<Router, Error> {
        let signer = SoftSigner::open(
            &self.state,
            Duration::from_secs(self.settings.key_refresh_seconds),
        )?;
        let issuer = Issuer::new(IssuePolicy::from(&self.settings), Arc::new(signer))
            .with_tags(self.principals.clone());
        Ok(gateway::router(Arc::new(Gateway {
            verifier: Verifier::new(self.principals.clone(), self.region.clone()),
            endpoint: TokenEndpoint::new(issuer),
            public: DirPublisher::new(layout::public_dir(&self.state), self.settings.jwks_max_age),
            clock,
        })))
    }

    /// What a person or a program needs to use this issuer.
    pub fn ready(&self) -> Ready {
        let issuer = &self.settings.issuer;
        Ready {
            url: self.url.clone(),
            token_endpoint: format!("{}/token", self.url),
            issuer: issuer.clone(),
            discovery: format!("{issuer}/{DISCOVERY_PATH}"),
            jwks: format!("{issuer}/{JWKS_PATH}"),
            region: self.region.clone(),
            service: SERVICE,
            default_audience: self.settings.policy.default_audience().as_str().to_owned(),
            state_dir: self.state.clone(),
            dev: self.dev.as_ref().map(|p| DevCredentials {
                arn: p.arn.clone(),
                access_key_id: p.access_key_id.clone(),
                secret_access_key: p.secret_access_key.clone(),
                session_token: p.session_token.clone(),
            }),
        }
    }
}

/// Readiness, machine-readable (`iamjwt serve --ready-json` prints it as one JSON line once the socket listens).
#[derive(Debug, Clone, Serialize)]
pub struct Ready {
    pub url: String,
    pub token_endpoint: String,
    pub issuer: String,
    pub discovery: String,
    pub jwks: String,
    pub region: String,
    pub service: &'static str,
    pub default_audience: String,
    pub state_dir: PathBuf,
    /// The local-only dev principal's credentials, when the state directory has one.
    pub dev: Option<DevCredentials>,
}

/// Credentials of the local dev principal (they only open this local gateway).
#[derive(Debug, Clone, Serialize)]
pub struct DevCredentials {
    pub arn: String,
    pub access_key_id: String,
    pub secret_access_key: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub session_token: Option<String>,
}
