//! Starting `iamjwt serve` on a free loopback port with a fresh state directory, and its dev credentials.

use crate::Error;
use std::io::BufRead as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A running local issuer; killed on drop.
pub struct Server {
    child: Child,
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

    /// Starts on an existing state directory; returns once the banner (address, dev credentials) is printed.
    pub fn start_in(bin: &Path, state: Arc<tempfile::TempDir>) -> Result<Self, Error> {
        let mut child = Command::new(bin)
            .args(["serve", "--listen", "127.0.0.1:0", "--state-dir"])
            .arg(state.path())
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| Error::Setup(format!("cannot start {}: {e}", bin.display())))?;
        let stdout = child
            .stdout
            .take()
            .ok_or_else(|| Error::Setup("no stdout".into()))?;
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stdout)
                .lines()
                .map_while(Result::ok)
            {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let (mut url, mut creds) = (None, None);
        let deadline = Instant::now() + Duration::from_secs(60);
        while url.is_none() || creds.is_none() {
            let line = rx
                .recv_timeout(deadline.saturating_duration_since(Instant::now()))
                .map_err(|_| Error::Setup("iamjwt serve printed no banner within 60 s".into()))?;
            if let Some(u) = line.strip_prefix("iamjwt listening on ") {
                url = Some(u.trim().to_owned());
            }
            if line.trim_start().starts_with("AWS_ACCESS_KEY_ID=") {
                let get = |k: &str| {
                    line.split_whitespace()
                        .find_map(|w| w.strip_prefix(k))
                        .unwrap_or_default()
                        .to_owned()
                };
                creds = Some((
                    get("AWS_ACCESS_KEY_ID="),
                    get("AWS_SECRET_ACCESS_KEY="),
                    get("AWS_SESSION_TOKEN="),
                ));
            }
        }
        let (access_key_id, secret_access_key, session_token) = creds.unwrap_or_default();
        Ok(Self {
            child,
            url: url.unwrap_or_default(),
            access_key_id,
            secret_access_key,
            session_token,
            state,
            bin: bin.to_path_buf(),
        })
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
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

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
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
