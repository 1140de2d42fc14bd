//! Running the real binaries: `iamjwt` from the workspace target dir, awscurl and python from the project venv.
//! A missing tool is a test failure with instructions, never a skip.

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

pub fn iamjwt_bin() -> PathBuf {
    let p = std::env::var_os("IAMJWT_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("target/debug/iamjwt"));
    assert!(
        p.is_file(),
        "{} not found: run `make test` (it builds the binary first) or set IAMJWT_BIN",
        p.display()
    );
    p
}

pub fn venv_bin(name: &str) -> PathBuf {
    iamjwt_testkit::venv_bin(name).unwrap_or_else(|e| panic!("{e}"))
}

/// A command with a clean AWS environment: nothing from this machine's profiles, and never IMDS.
pub fn clean(mut c: Command) -> Command {
    for (k, _) in std::env::vars() {
        if k.starts_with("AWS_") || k.starts_with("IAMJWT_") {
            c.env_remove(k);
        }
    }
    c.env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_CONFIG_FILE", "/nonexistent/iamjwt-test-config")
        .env(
            "AWS_SHARED_CREDENTIALS_FILE",
            "/nonexistent/iamjwt-test-credentials",
        )
        // Never this machine's token cache: a per-run directory (tests that check the cache set their own).
        .env(
            "XDG_CACHE_HOME",
            std::env::temp_dir().join(format!("iamjwt-e2e-cache-{}", std::process::id())),
        )
        .env("NO_PROXY", "127.0.0.1,localhost")
        .env("no_proxy", "127.0.0.1,localhost");
    c
}

pub fn iamjwt(args: &[&str]) -> Command {
    let mut c = clean(Command::new(iamjwt_bin()));
    c.args(args);
    c
}

pub fn run(mut c: Command) -> Output {
    c.output()
        .unwrap_or_else(|e| panic!("cannot run {c:?}: {e}"))
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).trim().to_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).trim().to_owned()
}

/// Runs `c` to its end in a process group of its own. A command that should answer at once and still runs after
/// `limit` fails the test, and its whole group is killed (a process that keeps starting copies of itself must not
/// outlive the test, nor hang the suite).
#[track_caller]
pub fn run_within(mut c: Command, limit: Duration) -> Output {
    use std::os::unix::process::CommandExt as _;
    let mut child = c
        .process_group(0)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {c:?}: {e}"));
    let start = std::time::Instant::now();
    while child.try_wait().unwrap().is_none() {
        if start.elapsed() > limit {
            let _ = Command::new("kill")
                .args(["-KILL", "--", &format!("-{}", child.id())])
                .status();
            let out = child.wait_with_output().unwrap();
            panic!(
                "{c:?} still ran after {limit:?} (its process group was killed); stdout: {} stderr: {}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    child.wait_with_output().unwrap()
}

#[track_caller]
pub fn ok(o: Output) -> String {
    assert!(
        o.status.success(),
        "exit {:?}\nstdout: {}\nstderr: {}",
        o.status,
        stdout(&o),
        stderr(&o)
    );
    stdout(&o)
}

/// The credentials `serve` printed.
#[derive(Debug, Clone)]
pub struct DevCreds {
    pub access_key_id: String,
    pub secret_access_key: String,
    pub session_token: String,
}

impl From<&iamjwt_testkit::DevCredentials> for DevCreds {
    fn from(dev: &iamjwt_testkit::DevCredentials) -> Self {
        Self {
            access_key_id: dev.access_key_id.clone(),
            secret_access_key: dev.secret_access_key.clone(),
            session_token: dev.session_token.clone().unwrap_or_default(),
        }
    }
}

impl DevCreds {
    pub fn apply(&self, c: &mut Command) {
        c.env("AWS_ACCESS_KEY_ID", &self.access_key_id)
            .env("AWS_SECRET_ACCESS_KEY", &self.secret_access_key)
            .env("AWS_SESSION_TOKEN", &self.session_token);
    }
}

/// `iamjwt serve` on a free loopback port with a fresh state directory; killed on drop.
pub struct Server {
    _inner: iamjwt_testkit::LocalServer,
    pub url: String,
    pub creds: DevCreds,
    pub state: tempfile::TempDir,
}

impl Server {
    pub fn start() -> Self {
        Self::start_with(&[])
    }

    pub fn start_with(env: &[(&str, &str)]) -> Self {
        Self::start_in(tempfile::tempdir().unwrap(), env, None)
    }

    /// `iamjwt serve` over a state directory whose `principals.json` is `principals` (written before the start, so
    /// no dev principal is made); `creds` are those of the principal the tests act as.
    pub fn start_with_principals(
        env: &[(&str, &str)],
        principals: &serde_json::Value,
        creds: DevCreds,
    ) -> Self {
        use std::os::unix::fs::PermissionsExt as _;
        let state = tempfile::tempdir().unwrap();
        let file = state.path().join("principals.json");
        std::fs::write(&file, principals.to_string()).unwrap();
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();
        Self::start_in(state, env, Some(creds))
    }

    /// `serve` over `state`, acting as `creds` (`None`: the dev principal a fresh state directory gets).
    fn start_in(state: tempfile::TempDir, env: &[(&str, &str)], creds: Option<DevCreds>) -> Self {
        let mut c = clean(Command::new(iamjwt_bin()));
        c.stderr(Stdio::null());
        for (k, v) in env {
            c.env(k, v);
        }
        let inner =
            iamjwt_testkit::LocalServer::start(c, state.path()).unwrap_or_else(|e| panic!("{e}"));
        let creds =
            creds.unwrap_or_else(|| DevCreds::from(inner.dev().unwrap_or_else(|e| panic!("{e}"))));
        Self {
            url: inner.url().to_owned(),
            creds,
            _inner: inner,
            state,
        }
    }

    /// `iamjwt token` as the dev principal (always from the issuer: `--no-cache`).
    pub fn token(&self, extra: &[&str]) -> Output {
        let mut c = iamjwt(&[
            "token",
            "--url",
            &self.url,
            "--region",
            "us-east-1",
            "--no-cache",
        ]);
        c.args(extra);
        self.creds.apply(&mut c);
        run(c)
    }

    pub fn get_json(&self, path: &str) -> serde_json::Value {
        let (status, body) = http_get(&format!("{}{path}", self.url));
        assert_eq!(status, 200, "GET {path}: {body}");
        serde_json::from_str(&body).unwrap()
    }
}

/// Minimal HTTP/1.1 GET over loopback.
pub fn http_get(url: &str) -> (u16, String) {
    let rest = url.strip_prefix("http://").expect("loopback http URL");
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let path = if path.is_empty() { "/" } else { path };
    let mut s = TcpStream::connect(authority).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {authority}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut resp = String::new();
    s.read_to_string(&mut resp).unwrap();
    let status = resp
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = resp
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    (status, body)
}

/// Decodes a JWT part without verifying (for assertions only).
pub fn jwt_part(token: &str, i: usize) -> serde_json::Value {
    use base64::Engine as _;
    let seg = token.split('.').nth(i).unwrap();
    serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(seg)
            .unwrap(),
    )
    .unwrap()
}

/// PyJWT + PyJWKClient verdict on a token.
pub fn pyjwt_verify(issuer: &str, aud: &str, token: &str) -> Output {
    let mut c = clean(Command::new(venv_bin("python")));
    c.arg(root().join("tests/interop/pyjwt_verify.py"))
        .args([issuer, aud, token]);
    run(c)
}

/// A running `iamjwt agent`, its JSON log lines collected; killed on drop.
pub struct Agent {
    child: std::process::Child,
    pub log: Arc<Mutex<Vec<String>>>,
}

impl Agent {
    /// Runs `c` (an `iamjwt agent …` command, its environment set), its stderr collected line by line.
    pub fn spawn(mut c: Command) -> Self {
        c.stdout(Stdio::null()).stderr(Stdio::piped());
        let mut child = c.spawn().unwrap();
        let err = child.stderr.take().unwrap();
        let log = Arc::new(Mutex::new(Vec::new()));
        let l = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(err).lines().map_while(Result::ok) {
                l.lock().unwrap().push(line);
            }
        });
        Self { child, log }
    }

    pub fn logged(&self, msg: &str) -> usize {
        self.log
            .lock()
            .unwrap()
            .iter()
            .filter(|l| l.contains(msg))
            .count()
    }

    pub fn wait_logged(&self, msg: &str, n: usize, within: Duration) {
        let deadline = Instant::now() + within;
        while self.logged(msg) < n {
            assert!(
                Instant::now() < deadline,
                "no {n} × {msg:?} in the log: {:#?}",
                self.log.lock().unwrap()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// SIGTERM, and the exit status.
    pub fn terminate(mut self) -> std::process::ExitStatus {
        let ok = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(ok.success());
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(st) = self.child.try_wait().unwrap() {
                return st;
            }
            assert!(Instant::now() < deadline, "agent did not exit on SIGTERM");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
