//! What tests and benchmarks of every crate need to run real servers on loopback — one copy of each:
//! [`Moto`] (`moto_server` from the project venv) and [`LocalServer`] (`iamjwt serve --ready-json`).
//!
//! A missing tool is an error with instructions for the caller to turn into a failure, never a skip. Servers bind
//! 127.0.0.1 on a free port and are killed on drop.

use serde::Deserialize;
use std::io::BufRead as _;
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The checkout this crate was built from.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// `$IAMJWT_VENV`, else `.venv` in the checkout (`make venv` creates it).
pub fn venv_dir() -> PathBuf {
    std::env::var_os("IAMJWT_VENV").map_or_else(|| repo_root().join(".venv"), PathBuf::from)
}

/// A program from the project venv (`python`, `moto_server`, `awscurl`, …).
pub fn venv_bin(name: &str) -> Result<PathBuf, String> {
    let p = venv_dir().join("bin").join(name);
    if p.is_file() {
        Ok(p)
    } else {
        Err(format!(
            "{} not found: run `make venv` (it installs the Python tools into .venv) or set IAMJWT_VENV",
            p.display()
        ))
    }
}

/// A free loopback port (bound, then released for the child to bind).
pub fn free_port() -> Result<u16, String> {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| format!("no free loopback port: {e}"))
}

/// A child process killed (and reaped) on drop.
#[derive(Debug)]
struct Guard(Child);

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A `moto_server` on a free loopback port.
#[derive(Debug)]
pub struct Moto {
    child: Guard,
    pub endpoint: String,
}

impl Moto {
    /// Starts it and waits (up to 30 s) until it accepts connections.
    pub fn start() -> Result<Self, String> {
        Self::spawn(Command::new(venv_bin("moto_server")?))
    }

    /// As [`Moto::start`], with KMS multi-Region keys behaving as AWS documents them (regional aliases,
    /// `ReplicateKey` tags and policy, `PendingReplicaDeletion`): `tests/moto_server_mrk.py`.
    pub fn start_multi_region() -> Result<Self, String> {
        let mut c = Command::new(venv_bin("python")?);
        c.arg(repo_root().join("tests/moto_server_mrk.py"));
        Self::spawn(c)
    }

    fn spawn(mut c: Command) -> Result<Self, String> {
        let port = free_port()?;
        c.args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .env("MOTO_PORT", port.to_string())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let child = Guard(
            c.spawn()
                .map_err(|e| format!("cannot start moto_server: {e}"))?,
        );
        let deadline = Instant::now() + Duration::from_secs(30);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            if Instant::now() > deadline {
                return Err(format!(
                    "moto_server did not accept connections on port {port} within 30 s"
                ));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(Self {
            child,
            endpoint: format!("http://127.0.0.1:{port}"),
        })
    }

    pub fn pid(&self) -> u32 {
        self.child.0.id()
    }
}

/// What `iamjwt serve --ready-json` prints (the fields tests use).
#[derive(Debug, Clone, Deserialize)]
pub struct Ready {
    pub url: String,
    pub token_endpoint: String,
    pub issuer: String,
    pub region: String,
    pub default_audience: String,
    pub dev: Option<DevCredentials>,
}

/// The local dev principal's credentials.
#[derive(Debug, Clone, Deserialize)]
pub struct DevCredentials {
    pub arn: String,
    pub access_key_id: String,
    pub secret_access_key: String,
    pub session_token: Option<String>,
}

/// `iamjwt serve` on a free loopback port, started with `--ready-json` and returned once it listens.
#[derive(Debug)]
pub struct LocalServer {
    child: Guard,
    pub ready: Ready,
}

impl LocalServer {
    /// Runs `command` (an `iamjwt` command with its environment set by the caller) as
    /// `serve --listen 127.0.0.1:0 --ready-json --state-dir <state>` and waits up to 60 s for the ready line.
    pub fn start(command: Command, state: &Path) -> Result<Self, String> {
        Self::start_with(command, state, &[])
    }

    /// [`Self::start`] with more `serve` flags (`--replica`, `--region R`).
    pub fn start_with(command: Command, state: &Path, extra: &[&str]) -> Result<Self, String> {
        Self::start_listening(command, state, "127.0.0.1:0", extra)
    }

    /// [`Self::start_with`] on a given loopback address (a front door restarted on the port it had).
    pub fn start_listening(
        mut command: Command,
        state: &Path,
        listen: &str,
        extra: &[&str],
    ) -> Result<Self, String> {
        command
            .args(["serve", "--listen", listen, "--ready-json", "--state-dir"])
            .arg(state)
            .args(extra)
            .stdout(Stdio::piped());
        let mut child = Guard(
            command
                .spawn()
                .map_err(|e| format!("cannot start iamjwt serve: {e}"))?,
        );
        let stdout = child
            .0
            .stdout
            .take()
            .ok_or_else(|| "iamjwt serve: no stdout".to_owned())?;
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let got = std::io::BufReader::new(stdout).read_line(&mut line);
            let _ = tx.send(got.map(|_| line));
        });
        let line = match rx.recv_timeout(Duration::from_secs(60)) {
            Ok(Ok(line)) if !line.is_empty() => line,
            Ok(Ok(_)) => return Err("iamjwt serve exited before it was ready".to_owned()),
            Ok(Err(e)) => return Err(format!("reading iamjwt serve's output: {e}")),
            Err(_) => return Err("iamjwt serve was not ready within 60 s".to_owned()),
        };
        let ready: Ready = serde_json::from_str(&line)
            .map_err(|e| format!("iamjwt serve's ready line {line:?}: {e}"))?;
        Ok(Self { child, ready })
    }

    pub fn url(&self) -> &str {
        &self.ready.url
    }

    /// The dev principal's credentials (a fresh state directory always has one).
    pub fn dev(&self) -> Result<&DevCredentials, String> {
        self.ready
            .dev
            .as_ref()
            .ok_or_else(|| "the state directory has no dev principal".to_owned())
    }

    pub fn pid(&self) -> u32 {
        self.child.0.id()
    }
}
