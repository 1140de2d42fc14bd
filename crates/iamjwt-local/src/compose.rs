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
use iamjwt_core::discovery::{DISCOVERY_PATH, DiscoveryDocument, JWKS_PATH};
use iamjwt_core::issuer::Issuer;
use iamjwt_core::ports::{KeyStore as _, Publisher as _};
use iamjwt_core::rotation::Step;
use iamjwt_edge::rotate::RotateHandler;
use iamjwt_edge::token::TokenEndpoint;
use serde::Serialize;
use std::fs::File;
use std::io::{Seek as _, Write as _};
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

/// The state directory's serve lock, held for as long as the [`LocalIssuer`] lives: a second `serve` on the same
/// directory would overwrite `settings.json` under the first one's feet. The lock file holds the holder's PID so the
/// refusal can name it.
struct ServeLock(#[allow(dead_code)] File);

impl ServeLock {
    fn acquire(state: &Path) -> Result<Self, Error> {
        let path = layout::serve_lock(state);
        let Some(mut f) = crate::fsutil::try_lock(&path)? else {
            let holder = std::fs::read_to_string(&path)
                .ok()
                .and_then(|s| s.trim().parse().ok());
            return Err(Error::InUse {
                state: state.to_owned(),
                holder,
            });
        };
        let pid = std::process::id().to_string();
        f.set_len(0)
            .and_then(|()| f.rewind())
            .and_then(|()| f.write_all(pid.as_bytes()))
            .map_err(|e| Error::io(&path, e))?;
        Ok(Self(f))
    }
}

/// A local issuer over one state directory, bootstrapped and ready to serve.
pub struct LocalIssuer {
    settings: Settings,
    state: PathBuf,
    url: String,
    region: String,
    principals: Arc<Principals>,
    dev: Option<LocalPrincipal>,
    republished_from: Option<String>,
    /// `None` for a read-only regional front door ([`LocalIssuer::open_replica`]).
    _lock: Option<ServeLock>,
}

impl LocalIssuer {
    /// Opens (creating if needed) the state directory for an issuer reachable at `url`: locks it against a second
    /// `serve`, records the settings (defaults, then the `IAMJWT_*` entries of `overrides`), creates keys with one
    /// ordinary rotation run when there is no current key, republishes the documents when they were published for
    /// another issuer (a restart at another address) or other algorithms, and loads the principals (writing a dev
    /// principal on first start).
    pub async fn open(
        state: &Path,
        url: &str,
        region: &str,
        overrides: impl IntoIterator<Item = (String, String)>,
        now: UnixTime,
    ) -> Result<Self, Error> {
        // Refused before anything is created or locked.
        let overrides: std::collections::BTreeMap<String, String> =
            crate::settings::iamjwt_vars(overrides).collect();
        crate::settings::refuse_unsupported(&overrides)?;
        std::fs::create_dir_all(state).map_err(|e| Error::io(state, e))?;
        let lock = ServeLock::acquire(state)?;
        let settings = serve_settings(state, url, overrides)?;
        let keys = SoftKeyStore::new(state)
            .load(&settings.issue.algorithms)
            .await
            .map_err(iamjwt_core::Error::from)?;
        if keys.algs.values().any(|s| s.current.is_none()) {
            rotation(&settings, state).run(false, now).await?;
            tracing::info!(state = %state.display(), "bootstrapped signing keys");
        }
        let republished_from = republish_if_stale(&settings, state, now).await?;
        let mut this = Self::with_principals(settings, state, url, region, Some(lock))?;
        this.republished_from = republished_from;
        Ok(this)
    }

    /// Loads the principals (writing a dev principal on first start) and assembles the issuer.
    fn with_principals(
        settings: Settings,
        state: &Path,
        url: &str,
        region: &str,
        lock: Option<ServeLock>,
    ) -> Result<Self, Error> {
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
            republished_from: None,
            _lock: lock,
        })
    }

    /// Opens a state directory another `serve` owns ([`Self::open`]) as one more regional front door at `url`,
    /// accepting SigV4 scopes for `region`: read-only. It takes neither the serve lock nor the rotation lock,
    /// never writes settings, keys or documents, and issues under the owner's issuer with the keys the owner's
    /// rotation made (re-read every `IAMJWT_KEY_REFRESH_SECONDS`). Killing it is a regional outage; the owner
    /// and the other front doors go on.
    pub async fn open_replica(state: &Path, url: &str, region: &str) -> Result<Self, Error> {
        let settings = crate::settings::recorded_settings(state, [])?;
        let keys = SoftKeyStore::new(state)
            .load(&settings.issue.algorithms)
            .await
            .map_err(iamjwt_core::Error::from)?;
        if !layout::key_state_file(state).is_file()
            || keys.algs.values().any(|s| s.current.is_none())
        {
            return Err(Error::NoKeys {
                state: state.to_owned(),
            });
        }
        Self::with_principals(settings, state, url, region, None)
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
        )?
        .with_confirmation_limit(Duration::from_secs(
            self.settings.signing_key_confirmation_limit(),
        ));
        let issuer = Issuer::new(self.settings.issue.clone(), Arc::new(signer))
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
        let issuer = &self.settings.issue.issuer;
        Ready {
            url: self.url.clone(),
            token_endpoint: format!("{}/token", self.url),
            issuer: issuer.clone(),
            discovery: format!("{issuer}/{DISCOVERY_PATH}"),
            jwks: format!("{issuer}/{JWKS_PATH}"),
            region: self.region.clone(),
            service: SERVICE,
            default_audience: self
                .settings
                .issue
                .policy
                .default_audience()
                .as_str()
                .to_owned(),
            state_dir: self.state.clone(),
            republished_from: self.republished_from.clone(),
            dev: self.dev.as_ref().map(|p| DevCredentials {
                arn: p.arn.clone(),
                access_key_id: p.access_key_id.clone(),
                secret_access_key: p.secret_access_key.clone(),
                session_token: p.session_token.clone(),
            }),
        }
    }
}

/// Runs the `publish` step when the published discovery document is not the one `settings` imply; returns the
/// issuer the old document named. Verifiers find keys through discovery, so a stale one sends them to an address
/// nobody serves.
async fn republish_if_stale(
    settings: &Settings,
    state: &Path,
    now: UnixTime,
) -> Result<Option<String>, Error> {
    let published = DirPublisher::new(layout::public_dir(state), settings.jwks_max_age)
        .read_discovery()
        .await
        .map_err(iamjwt_core::Error::from)?;
    let want = DiscoveryDocument::new(&settings.issue.issuer, &settings.issue.algorithms);
    if published.as_ref() == Some(&want) {
        return Ok(None);
    }
    rotation(settings, state)
        .run_step(Step::Publish, false, now)
        .await?;
    let was = published.map(|d| d.issuer);
    tracing::info!(
        was = was.as_deref().unwrap_or("nothing published"),
        now = settings.issue.issuer,
        "republished discovery and JWKS for this issuer"
    );
    Ok(was)
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
    /// Set when the documents published in the state directory named another issuer (or other algorithms) and were
    /// republished at start: the issuer they named before.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub republished_from: Option<String>,
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

#[cfg(test)]
mod tests {
    use super::*;

    async fn open(state: &Path, url: &str) -> Result<LocalIssuer, Error> {
        LocalIssuer::open(state, url, "us-east-1", [], UnixTime(1_700_000_000)).await
    }

    fn published_discovery(state: &Path) -> serde_json::Value {
        let bytes = std::fs::read(layout::public_dir(state).join(DISCOVERY_PATH)).unwrap();
        serde_json::from_slice(&bytes).unwrap()
    }

    #[tokio::test]
    async fn a_replica_front_door_serves_the_owners_issuer_and_writes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let e = LocalIssuer::open_replica(dir.path(), "http://127.0.0.1:2222", "eu-west-1")
            .await
            .err()
            .expect("no keys yet");
        assert!(matches!(e, Error::NoKeys { .. }), "{e}");
        let owner = open(dir.path(), "http://127.0.0.1:1111").await.unwrap();
        let before: Vec<_> = ["settings.json", "keys.json", "serve.lock"]
            .iter()
            .map(|f| std::fs::read(dir.path().join(f)).unwrap())
            .collect();
        let replica = LocalIssuer::open_replica(dir.path(), "http://127.0.0.1:2222", "eu-west-1")
            .await
            .unwrap();
        let ready = replica.ready();
        assert_eq!(ready.issuer, owner.ready().issuer);
        assert_eq!(ready.region, "eu-west-1");
        assert_eq!(ready.url, "http://127.0.0.1:2222");
        assert!(ready.dev.is_some());
        let _router = replica.router().unwrap();
        let after: Vec<_> = ["settings.json", "keys.json", "serve.lock"]
            .iter()
            .map(|f| std::fs::read(dir.path().join(f)).unwrap())
            .collect();
        assert_eq!(before, after);
        // The owner still holds the serve lock: another owner is refused while replicas come and go.
        drop(replica);
        assert!(open(dir.path(), "http://127.0.0.1:3333").await.is_err());
    }

    #[tokio::test]
    async fn a_second_serve_on_the_same_state_is_refused_naming_the_holder() {
        let dir = tempfile::tempdir().unwrap();
        let first = open(dir.path(), "http://127.0.0.1:1111").await.unwrap();
        let before = std::fs::read(dir.path().join("settings.json")).unwrap();
        let e = open(dir.path(), "http://127.0.0.1:2222")
            .await
            .err()
            .expect("refused");
        let line = e.to_string();
        assert!(
            line.contains(&format!("pid {}", std::process::id()))
                && line.contains("--state-dir")
                && !line.contains("Some(")
                && !line.contains('\n'),
            "{line}"
        );
        // the refused one changed nothing
        assert_eq!(
            std::fs::read(dir.path().join("settings.json")).unwrap(),
            before
        );
        drop(first);
        open(dir.path(), "http://127.0.0.1:2222").await.unwrap();
    }

    #[tokio::test]
    async fn a_restart_at_another_address_republishes_discovery() {
        let dir = tempfile::tempdir().unwrap();
        let first = open(dir.path(), "http://127.0.0.1:1111").await.unwrap();
        assert_eq!(first.ready().republished_from, None);
        drop(first);
        let again = open(dir.path(), "http://127.0.0.1:2222").await.unwrap();
        let d = published_discovery(dir.path());
        assert_eq!(d["issuer"], "http://127.0.0.1:2222");
        assert_eq!(d["jwks_uri"], "http://127.0.0.1:2222/.well-known/jwks.json");
        assert_eq!(
            again.ready().republished_from.as_deref(),
            Some("http://127.0.0.1:1111")
        );
        drop(again);
        // the same address again: nothing to republish
        let same = open(dir.path(), "http://127.0.0.1:2222").await.unwrap();
        assert_eq!(same.ready().republished_from, None);
    }
}
