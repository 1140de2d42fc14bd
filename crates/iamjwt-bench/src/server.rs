//! Starting `iamjwt serve` on a free loopback port with a fresh state directory, and its dev credentials.

use crate::Error;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;

/// A running local issuer; killed on drop.
pub struct Server {
    inner: iamjwt_testkit::LocalServer,
    pub url: String,
    pub access_key_id: String,
    pub secret_access_key: String,
    pub session_token: String,
    /// Shared so a restarted server ([`Server::start_in`]) can find the same keys.
    pub state: Arc<tempfile::TempDir>,
    pub bin: PathBuf,
}

impl Server {
    /// Starts with a fresh state directory (new keys).
    pub fn start(bin: &Path) -> Result<Self, Error> {
        let state = tempfile::tempdir().map_err(|e| Error::Setup(e.to_string()))?;
        Self::start_in(bin, Arc::new(state))
    }

    /// Starts on an existing state directory; returns once it listens (`serve --ready-json`).
    pub fn start_in(bin: &Path, state: Arc<tempfile::TempDir>) -> Result<Self, Error> {
        let mut command = Command::new(bin);
        command.env("RUST_LOG", "warn").stderr(Stdio::null());
        let inner =
            iamjwt_testkit::LocalServer::start(command, state.path()).map_err(Error::Setup)?;
        let dev = inner.dev().map_err(Error::Setup)?.clone();
        Ok(Self {
            url: inner.url().to_owned(),
            access_key_id: dev.access_key_id,
            secret_access_key: dev.secret_access_key,
            session_token: dev
                .session_token
                .ok_or_else(|| Error::Setup("the dev principal has no session token".into()))?,
            inner,
            state,
            bin: bin.to_path_buf(),
        })
    }

    pub fn pid(&self) -> u32 {
        self.inner.pid()
    }

    /// Resident set size of the server process, in KiB (Linux `/proc`).
    pub fn rss_kib(&self) -> Option<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid())).ok()?;
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
    }

    pub fn credentials(&self) -> aws_credential_types::Credentials {
        aws_credential_types::Credentials::new(
            &self.access_key_id,
            &self.secret_access_key,
            Some(self.session_token.clone()),
            None,
            "iamjwt-bench",
        )
    }

    /// `iamjwt rotate --state-dir <state> --now <now>` against this server's state.
    pub fn rotate(&self, now: &str) -> Result<(), Error> {
        let out = Command::new(&self.bin)
            .args(["rotate", "--now", now, "--state-dir"])
            .arg(self.state.path())
            .output()
            .map_err(|e| Error::Setup(e.to_string()))?;
        if out.status.success() {
            Ok(())
        } else {
            Err(Error::Failed(format!(
                "rotation failed: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            )))
        }
    }
}

/// The `iamjwt` binary: `$IAMJWT_BIN`, else next to this executable, else `target/{release,debug}/iamjwt`.
pub fn iamjwt_bin() -> Result<PathBuf, Error> {
    if let Some(p) = std::env::var_os("IAMJWT_BIN") {
        return Ok(PathBuf::from(p));
    }
    let beside = std::env::current_exe()
        .ok()
        .and_then(|e| e.parent().map(|d| d.join("iamjwt")));
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    [
        beside,
        Some(root.join("target/release/iamjwt")),
        Some(root.join("target/debug/iamjwt")),
    ]
    .into_iter()
    .flatten()
    .find(|p| p.is_file())
    .ok_or_else(|| {
        Error::Setup(
            "iamjwt binary not found: build it (cargo build -p iamjwt-cli) or set IAMJWT_BIN"
                .into(),
        )
    })
}
