//! The workload side (issue 12): token cache, `gcp-executable` with google-auth, `credentials` with the AWS CLI
//! and moto's STS, `console` against a stand-in federation endpoint, `agent` with botocore and under faults.
//! Requests reaching the issuer are counted by a recording proxy in front of `iamjwt serve`.
use crate::support::*;
use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const ROLE: &str = "arn:aws:iam::123456789012:role/workload";
const GCP_AUD: &str = "//iam.googleapis.com/projects/123/locations/global/workloadIdentityPools/pool/providers/iamjwt";

/// A TCP proxy that records what clients send and can play "issuer down" (refuses and cuts connections).
/// Bytes are recorded before they are forwarded, so a request is counted before the issuer can answer it (a client
/// that has its answer has been counted); each connection has its own record, so concurrent ones never interleave.
struct Proxy {
    url: String,
    sent: Arc<Mutex<Vec<Vec<u8>>>>,
    down: Arc<AtomicBool>,
    conns: Arc<Mutex<Vec<TcpStream>>>,
}

impl Proxy {
    fn start(upstream: &str) -> Self {
        let upstream = upstream.strip_prefix("http://").unwrap().to_owned();
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let sent = Arc::new(Mutex::new(Vec::new()));
        let down = Arc::new(AtomicBool::new(false));
        let conns: Arc<Mutex<Vec<TcpStream>>> = Arc::new(Mutex::new(Vec::new()));
        let (s, d, c) = (sent.clone(), down.clone(), conns.clone());
        std::thread::spawn(move || {
            for client in listener.incoming() {
                let Ok(client) = client else { continue };
                if d.load(Ordering::SeqCst) {
                    let _ = client.shutdown(Shutdown::Both);
                    continue;
                }
                let Ok(server) = TcpStream::connect(&upstream) else {
                    continue;
                };
                c.lock().unwrap().push(client.try_clone().unwrap());
                let (mut c_r, mut c_w) = (client.try_clone().unwrap(), client);
                let (mut s_r, mut s_w) = (server.try_clone().unwrap(), server);
                let rec = s.clone();
                let slot = {
                    let mut all = rec.lock().unwrap();
                    all.push(Vec::new());
                    all.len() - 1
                };
                std::thread::spawn(move || {
                    let mut buf = [0u8; 16384];
                    while let Ok(n) = c_r.read(&mut buf) {
                        if n == 0 {
                            break;
                        }
                        rec.lock().unwrap()[slot].extend_from_slice(&buf[..n]);
                        if s_w.write_all(&buf[..n]).is_err() {
                            break;
                        }
                    }
                    let _ = s_w.shutdown(Shutdown::Write);
                });
                std::thread::spawn(move || {
                    let _ = std::io::copy(&mut s_r, &mut c_w);
                    let _ = c_w.shutdown(Shutdown::Both);
                });
            }
        });
        Self {
            url,
            sent,
            down,
            conns,
        }
    }

    fn count(&self, needle: &str) -> usize {
        self.sent
            .lock()
            .unwrap()
            .iter()
            .map(|c| String::from_utf8_lossy(c).matches(needle).count())
            .sum()
    }

    fn token_requests(&self) -> usize {
        self.count("GET /token")
    }

    fn set_down(&self, down: bool) {
        self.down.store(down, Ordering::SeqCst);
        if down {
            for c in self.conns.lock().unwrap().drain(..) {
                let _ = c.shutdown(Shutdown::Both);
            }
        }
    }

    fn text(&self) -> String {
        let all = self.sent.lock().unwrap();
        all.iter().map(|c| String::from_utf8_lossy(c)).collect()
    }
}

struct Moto {
    child: Child,
    endpoint: String,
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn moto() -> Moto {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = clean(Command::new(venv_bin("moto_server")))
        .args(["-H", "127.0.0.1", "-p", &port.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start moto_server");
    // generous: the machine may be busy with other tests
    let deadline = Instant::now() + Duration::from_secs(120);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "moto_server did not start");
        std::thread::sleep(Duration::from_millis(100));
    }
    Moto {
        child,
        endpoint: format!("http://127.0.0.1:{port}"),
    }
}

/// `iamjwt serve` that grants every audience (GCP and Azure audiences included).
fn server() -> Server {
    Server::start_with(&[(
        "IAMJWT_AUDIENCE_POLICY",
        r#"{"rules":[{"audiences":["*"]}]}"#,
    )])
}

/// `iamjwt ARGS` as the dev principal with its cache in `cache`.
fn as_dev(s: &Server, cache: &Path, args: &[&str]) -> Command {
    let mut c = iamjwt(args);
    s.creds.apply(&mut c);
    c.env("XDG_CACHE_HOME", cache);
    c
}

fn mode(p: &Path) -> u32 {
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

#[test]
fn token_cache_reuses_until_the_key_changes_and_ignores_corrupt_files() {
    let s = server();
    let p = Proxy::start(&s.url);
    let cache = tempfile::tempdir().unwrap();
    let token = |extra: &[&str]| {
        let mut args = vec!["token", "--url", &p.url, "--region", "us-east-1"];
        args.extend_from_slice(extra);
        ok(run(as_dev(&s, cache.path(), &args)))
    };
    let t1 = token(&[]);
    assert_eq!(p.token_requests(), 1);
    assert_eq!(
        token(&[]),
        t1,
        "second call within the window: the cached token"
    );
    assert_eq!(p.token_requests(), 1, "and no request");
    // --output json from the cache is the issuer's response
    let j: serde_json::Value = serde_json::from_str(&token(&["--output", "json"])).unwrap();
    assert_eq!(j["token"], t1.as_str());
    assert_eq!(p.token_requests(), 1);
    // another audience, algorithm, duration: new requests
    token(&["--aud", "api://AzureADTokenExchange"]);
    assert_eq!(p.token_requests(), 2);
    token(&["--alg", "ES256"]);
    assert_eq!(p.token_requests(), 3);
    token(&["--duration", "600"]);
    assert_eq!(p.token_requests(), 4);
    // other credentials: a new request (the gateway refuses them, proving it was asked)
    let mut c = as_dev(
        &s,
        cache.path(),
        &["token", "--url", &p.url, "--region", "us-east-1"],
    );
    c.env("AWS_ACCESS_KEY_ID", "ASIAOTHERCALLER00000");
    assert!(!run(c).status.success());
    assert_eq!(p.token_requests(), 5);
    // --no-cache always asks
    assert_ne!(token(&["--no-cache"]), "");
    assert_eq!(p.token_requests(), 6);
    // modes
    let dir = cache.path().join("iamjwt");
    assert_eq!(mode(&dir), 0o700);
    let files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(files.len(), 4, "{files:?}");
    for f in &files {
        assert_eq!(mode(f), 0o600, "{}", f.display());
    }
    // corrupt every cache file: ignored, a new request, the file replaced by a good one
    for f in &files {
        std::fs::write(
            f,
            b"{\"version\":1,\"kind\":\"token\",\"key\":{},\"value\":",
        )
        .unwrap();
    }
    let t2 = token(&[]);
    assert_eq!(p.token_requests(), 7);
    assert_eq!(token(&[]), t2);
    assert_eq!(p.token_requests(), 7);
    assert_eq!(
        pyjwt_verify(&s.url, "sts.amazonaws.com", &t2).status.code(),
        Some(0)
    );
}

#[test]
fn gcp_executable_and_file_sourced_credentials_with_google_auth() {
    let s = server();
    let cache = tempfile::tempdir().unwrap();
    let want_aud = format!("https:{GCP_AUD}");
    // executable-sourced: google-auth runs `iamjwt token --output gcp-executable`; no --aud, so the audience
    // comes from GOOGLE_EXTERNAL_ACCOUNT_AUDIENCE (set by google-auth).
    let command = format!(
        "{} token --url {} --region us-east-1 --output gcp-executable",
        iamjwt_bin().display(),
        s.url
    );
    let mut c = clean(Command::new(venv_bin("python")));
    c.arg(root().join("tests/interop/google_auth_exchange.py"))
        .args(["executable", &command, GCP_AUD])
        .env("GOOGLE_EXTERNAL_ACCOUNT_ALLOW_EXECUTABLES", "1")
        .env("XDG_CACHE_HOME", cache.path());
    s.creds.apply(&mut c);
    let subject = ok(run(c));
    let claims: serde_json::Value =
        serde_json::from_str(&ok(pyjwt_verify(&s.url, &want_aud, &subject))).unwrap();
    assert_eq!(claims["claims"]["aud"], want_aud.as_str());

    // the failure form: issuer unreachable → GCP's failure JSON on stdout, one line on stderr, exit 1
    let mut c = as_dev(
        &s,
        cache.path(),
        &[
            "token",
            "--url",
            "http://127.0.0.1:9",
            "--output",
            "gcp-executable",
        ],
    );
    c.env("GOOGLE_EXTERNAL_ACCOUNT_AUDIENCE", GCP_AUD);
    let o = run(c);
    assert_eq!(o.status.code(), Some(1));
    let f: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(f["version"], 1);
    assert_eq!(f["success"], false);
    assert_eq!(f["code"], "ISSUER_UNREACHABLE");
    assert!(f["message"].as_str().unwrap().contains("127.0.0.1:9"));
    assert_eq!(stderr(&o).lines().count(), 1, "{}", stderr(&o));

    // file-sourced, text and JSON (subject_token_field_name) formats, written by the agent
    let dir = tempfile::tempdir().unwrap();
    for (file, field) in [("gcp.jwt", None), ("gcp.json", Some("id_token"))] {
        let path = dir.path().join(file);
        let path_s = path.to_str().unwrap().to_owned();
        let mut args = vec![
            "agent",
            "--once",
            "--url",
            &s.url,
            "--region",
            "us-east-1",
            "--file",
            &path_s,
            "--aud",
            &want_aud,
            "--alg",
            "RS256",
        ];
        if let Some(f) = field {
            args.extend(["--json-field", f]);
        }
        ok(run(as_dev(&s, cache.path(), &args)));
        let mut c = clean(Command::new(venv_bin("python")));
        c.arg(root().join("tests/interop/google_auth_exchange.py"))
            .args(["file", &path_s, GCP_AUD]);
        if let Some(f) = field {
            c.arg(f);
        }
        let subject = ok(run(c));
        let claims: serde_json::Value =
            serde_json::from_str(&ok(pyjwt_verify(&s.url, &want_aud, &subject))).unwrap();
        assert_eq!(claims["claims"]["aud"], want_aud.as_str());
        assert_eq!(mode(&path), 0o600);
    }
}

/// The web identity tokens that reached STS (form field `WebIdentityToken` of each request body).
fn web_identity_tokens(p: &Proxy) -> Vec<String> {
    let raw = p.text();
    let mut rest = raw.as_str();
    let mut out = Vec::new();
    while let Some((head, after)) = rest.split_once("\r\n\r\n") {
        let len = head
            .lines()
            .find_map(|l| {
                let (k, v) = l.split_once(':')?;
                k.eq_ignore_ascii_case("content-length")
                    .then(|| v.trim().parse::<usize>().ok())?
            })
            .unwrap_or(0);
        let body = &after[..len.min(after.len())];
        out.extend(
            body.split('&')
                .filter_map(|kv| kv.strip_prefix("WebIdentityToken=").map(form_decode)),
        );
        rest = &after[len.min(after.len())..];
    }
    out
}

fn form_decode(v: &str) -> String {
    let bytes = v.replace('+', " ").into_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() + 1 {
            let h = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap();
            out.push(u8::from_str_radix(h, 16).unwrap());
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).unwrap()
}

#[test]
fn credentials_for_the_aws_cli_cached_and_console_url() {
    let s = server();
    let issuer = Proxy::start(&s.url);
    let m = moto();
    let sts = Proxy::start(&m.endpoint);
    let cache = tempfile::tempdir().unwrap();
    let home = tempfile::tempdir().unwrap();
    // credential_process carries its own environment: the AWS CLI's own has no AWS credentials at all.
    let process = format!(
        "/usr/bin/env AWS_ACCESS_KEY_ID={} AWS_SECRET_ACCESS_KEY={} AWS_SESSION_TOKEN={} XDG_CACHE_HOME={} \
         AWS_ENDPOINT_URL_STS={} AWS_EC2_METADATA_DISABLED=true {} credentials --url {} --signing-region us-east-1 \
         --role-arn {ROLE} --session-name cli",
        s.creds.access_key_id,
        s.creds.secret_access_key,
        s.creds.session_token,
        cache.path().display(),
        sts.url,
        iamjwt_bin().display(),
        issuer.url
    );
    let config = home.path().join("config");
    std::fs::write(
        &config,
        format!("[profile p]\ncredential_process = {process}\nregion = us-east-1\n"),
    )
    .unwrap();
    let aws = || {
        let mut c = clean(Command::new(venv_bin("aws")));
        c.args([
            "sts",
            "get-caller-identity",
            "--profile",
            "p",
            "--endpoint-url",
            &m.endpoint,
            "--output",
            "json",
        ])
        .env("AWS_CONFIG_FILE", &config);
        let id: serde_json::Value = serde_json::from_str(&ok(run(c))).unwrap();
        id["Arn"].as_str().unwrap().to_owned()
    };
    assert_eq!(aws(), "arn:aws:sts::123456789012:assumed-role/workload/cli");
    assert_eq!(issuer.token_requests(), 1);
    assert_eq!(web_identity_tokens(&sts).len(), 1);
    // within the cache window: neither the issuer nor STS is asked again
    assert_eq!(aws(), "arn:aws:sts::123456789012:assumed-role/workload/cli");
    assert_eq!(issuer.token_requests(), 1);
    assert_eq!(web_identity_tokens(&sts).len(), 1);
    // what reached STS is a token of ours for sts.amazonaws.com
    let sent = &web_identity_tokens(&sts)[0];
    ok(pyjwt_verify(&s.url, "sts.amazonaws.com", sent));
    let creds_files: Vec<_> = std::fs::read_dir(cache.path().join("iamjwt"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.file_name()
                .unwrap()
                .to_str()
                .unwrap()
                .starts_with("credentials-")
        })
        .collect();
    assert_eq!(creds_files.len(), 1);
    assert_eq!(mode(&creds_files[0]), 0o600);

    // env and json outputs (from the cache: same credentials)
    let base = [
        "credentials",
        "--url",
        &issuer.url,
        "--signing-region",
        "us-east-1",
        "--role-arn",
        ROLE,
        "--session-name",
        "cli",
    ];
    let cmd = |output: &str| {
        let mut args = base.to_vec();
        args.extend(["--output", output]);
        let mut c = as_dev(&s, cache.path(), &args);
        c.env("AWS_ENDPOINT_URL_STS", &sts.url);
        ok(run(c))
    };
    let full: serde_json::Value = serde_json::from_str(&cmd("json")).unwrap();
    let key = full["Credentials"]["AccessKeyId"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(cmd("env").contains(&format!("export AWS_ACCESS_KEY_ID='{key}'")));
    assert_eq!(issuer.token_requests(), 1);

    // console: a stand-in federation endpoint records the getSigninToken call
    let fed = TcpListener::bind("127.0.0.1:0").unwrap();
    let fed_url = format!("http://{}/federation", fed.local_addr().unwrap());
    let seen = std::thread::spawn(move || {
        let (mut conn, _) = fed.accept().unwrap();
        let mut line = String::new();
        BufReader::new(conn.try_clone().unwrap())
            .read_line(&mut line)
            .unwrap();
        let body = r#"{"SigninToken":"stand-in-signin-token"}"#;
        write!(conn, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len()).unwrap();
        line
    });
    let mut args = base.to_vec();
    args.extend([
        "--federation-endpoint",
        &fed_url,
        "--destination",
        "https://console.aws.amazon.com/s3/",
        "--duration",
        "3600",
    ]);
    args[0] = "console";
    let mut c = as_dev(&s, cache.path(), &args);
    c.env("AWS_ENDPOINT_URL_STS", &sts.url);
    let login = ok(run(c));
    let request_line = seen.join().unwrap();
    let query = request_line
        .split_whitespace()
        .nth(1)
        .unwrap()
        .split_once('?')
        .unwrap()
        .1;
    let q: std::collections::HashMap<String, String> = query
        .split('&')
        .map(|kv| {
            let (k, v) = kv.split_once('=').unwrap();
            (k.to_owned(), form_decode(v))
        })
        .collect();
    assert_eq!(q["Action"], "getSigninToken");
    assert_eq!(q["SessionDuration"], "3600");
    let session: serde_json::Value = serde_json::from_str(&q["Session"]).unwrap();
    assert_eq!(session["sessionId"], full["Credentials"]["AccessKeyId"]);
    assert_eq!(
        session["sessionKey"],
        full["Credentials"]["SecretAccessKey"]
    );
    assert_eq!(session["sessionToken"], full["Credentials"]["SessionToken"]);
    assert!(
        login.starts_with(&format!("{fed_url}?Action=login&")),
        "{login}"
    );
    assert!(
        login.contains("&SigninToken=stand-in-signin-token"),
        "{login}"
    );
    assert!(
        login.contains("&Destination=https%3A%2F%2Fconsole.aws.amazon.com%2Fs3%2F&"),
        "{login}"
    );

    // an STS refusal is one line with the code and, for a known one, the fix
    let mut c = as_dev(
        &s,
        cache.path(),
        &[
            "credentials",
            "--url",
            &issuer.url,
            "--signing-region",
            "us-east-1",
            "--role-arn",
            "arn:aws:iam::123456789012:user/nope",
        ],
    );
    c.env("AWS_ENDPOINT_URL_STS", &sts.url);
    let o = run(c);
    assert!(!o.status.success());
    assert!(
        stderr(&o).starts_with("error: --role-arn"),
        "{}",
        stderr(&o)
    );
    assert_eq!(stderr(&o).lines().count(), 1);
}

impl Agent {
    /// `iamjwt agent` acting as the dev principal of `s`.
    fn start(s: &Server, cache: &Path, args: &[&str]) -> Self {
        Self::spawn(as_dev(s, cache, args))
    }
}

#[test]
fn agent_file_is_read_by_botocore_and_refreshed() {
    let s = server();
    let m = moto();
    let sts = Proxy::start(&m.endpoint);
    let cache = tempfile::tempdir().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("aws-token");
    let file_s = file.to_str().unwrap();
    let agent = Agent::start(
        &s,
        cache.path(),
        &[
            "agent",
            "--url",
            &s.url,
            "--region",
            "us-east-1",
            "--file",
            file_s,
            "--duration",
            "60",
            "--refresh-before",
            "54",
        ],
    );
    agent.wait_logged("token written", 1, Duration::from_secs(30));
    let mut c = clean(Command::new(venv_bin("python")));
    c.arg(root().join("tests/interop/boto3_web_identity.py"))
        .env("AWS_WEB_IDENTITY_TOKEN_FILE", &file)
        .env("AWS_ROLE_ARN", ROLE)
        .env("AWS_ROLE_SESSION_NAME", "botocore")
        .env("AWS_ENDPOINT_URL_STS", &sts.url);
    let out: serde_json::Value = serde_json::from_str(&ok(run(c))).unwrap();
    for arn in out["arns"].as_array().unwrap() {
        assert_eq!(
            arn,
            "arn:aws:sts::123456789012:assumed-role/workload/botocore"
        );
    }
    let (t1, t2) = (
        out["tokens"][0].as_str().unwrap(),
        out["tokens"][1].as_str().unwrap(),
    );
    assert!(jwt_part(t2, 1)["exp"].as_u64() > jwt_part(t1, 1)["exp"].as_u64());
    // botocore sent the file's contents each time: the old token, then the new one (a call the script repeated
    // because the agent replaced the file during it may add a token in between; usually there is none)
    let sent = web_identity_tokens(&sts);
    let first = sent.iter().position(|t| t == t1);
    assert!(
        first.is_some()
            && first < Some(sent.len() - 1)
            && sent.last().map(String::as_str) == Some(t2),
        "STS saw {} tokens, not t1 … t2",
        sent.len()
    );
    ok(pyjwt_verify(&s.url, "sts.amazonaws.com", t2));
    assert_eq!(mode(&file), 0o600);
    assert!(agent.terminate().success(), "clean exit on SIGTERM");
}

#[test]
fn agent_keeps_the_last_good_token_through_an_outage_and_never_exposes_a_partial_file() {
    let s = server();
    let p = Proxy::start(&s.url);
    let cache = tempfile::tempdir().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("token");
    let file_s = file.to_str().unwrap().to_owned();
    let agent = Agent::start(
        &s,
        cache.path(),
        &[
            "agent",
            "--url",
            &p.url,
            "--region",
            "us-east-1",
            "--file",
            &file_s,
            "--duration",
            "60",
            "--refresh-before",
            "58",
        ],
    );
    agent.wait_logged("token written", 1, Duration::from_secs(30));
    // a reader that reads the file continuously: every read is a complete JWT
    let stop = Arc::new(AtomicBool::new(false));
    let (st, f) = (stop.clone(), file.clone());
    let reader = std::thread::spawn(move || {
        let mut reads = 0u64;
        while !st.load(Ordering::SeqCst) {
            let t = std::fs::read_to_string(&f).unwrap();
            let parts: Vec<&str> = t.split('.').collect();
            assert_eq!(parts.len(), 3, "partial read: {t:?}");
            assert!(parts.iter().all(|p| !p.is_empty()), "partial read: {t:?}");
            assert!(jwt_part(&t, 1)["exp"].is_u64());
            reads += 1;
        }
        reads
    });
    agent.wait_logged("token written", 2, Duration::from_secs(30));
    // issuer down: refreshes fail, the agent backs off, the file keeps the last good token
    p.set_down(true);
    let before = std::fs::read_to_string(&file).unwrap();
    agent.wait_logged(
        "token refresh failed; the file keeps the last good token",
        2,
        Duration::from_secs(30),
    );
    assert_eq!(std::fs::read_to_string(&file).unwrap(), before);
    let failures = agent
        .log
        .lock()
        .unwrap()
        .iter()
        .filter(|l| l.contains("refresh failed"))
        .cloned()
        .collect::<Vec<_>>();
    let retry: Vec<u64> = failures
        .iter()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["retry_in_ms"]
                .as_u64()
                .unwrap()
        })
        .collect();
    assert!(
        retry[1] >= 1000 || retry[1] > retry[0] / 2,
        "backoff grows: {retry:?}"
    );
    // issuer back: the agent recovers
    let written = agent.logged("token written");
    p.set_down(false);
    agent.wait_logged("token written", written + 1, Duration::from_secs(30));
    assert_ne!(std::fs::read_to_string(&file).unwrap(), before);
    stop.store(true, Ordering::SeqCst);
    let reads = reader.join().unwrap();
    assert!(reads > 100, "the reader read {reads} times");
    assert!(agent.terminate().success());

    // 403 (bad credentials): a clear log line, the file is not touched, --once gives up at --startup-timeout
    let untouched = std::fs::read_to_string(&file).unwrap();
    let mut c = as_dev(
        &s,
        cache.path(),
        &[
            "agent",
            "--once",
            "--startup-timeout",
            "3",
            "--url",
            &p.url,
            "--region",
            "us-east-1",
            "--file",
            &file_s,
        ],
    );
    c.env("AWS_SECRET_ACCESS_KEY", "x".repeat(40));
    let o = run(c);
    assert_eq!(o.status.code(), Some(1));
    let err = stderr(&o);
    assert!(err.contains("403 access_denied"), "{err}");
    assert!(err.contains("not transient"), "{err}");
    assert!(
        err.lines()
            .last()
            .unwrap()
            .starts_with("error: no first token within --startup-timeout 3s"),
        "{err}"
    );
    assert_eq!(std::fs::read_to_string(&file).unwrap(), untouched);
}

#[test]
fn agent_once_gives_the_file_the_owner_and_mode_asked_or_refuses_at_start() {
    use std::os::unix::fs::MetadataExt as _;
    let s = server();
    let cache = tempfile::tempdir().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("token");
    // root may give the file to nobody; anyone else may not give it to root
    let root = std::fs::metadata(dir.path()).unwrap().uid() == 0;
    let other = if root { "65534" } else { "0" };
    let owner = format!("{other}:{other}");
    let o = run(as_dev(
        &s,
        cache.path(),
        &[
            "agent",
            "--once",
            "--url",
            &s.url,
            "--region",
            "us-east-1",
            "--file",
            file.to_str().unwrap(),
            "--mode",
            "0640",
            "--owner",
            &owner,
        ],
    ));
    if root {
        assert!(o.status.success(), "{}", stderr(&o));
        let m = std::fs::metadata(&file).unwrap();
        assert_eq!((m.uid(), m.gid()), (65534, 65534));
        assert_eq!(mode(&file), 0o640);
        ok(pyjwt_verify(
            &s.url,
            "sts.amazonaws.com",
            std::fs::read_to_string(&file).unwrap().trim(),
        ));
    } else {
        assert_eq!(o.status.code(), Some(1));
        assert!(
            stderr(&o).contains("needs root or CAP_CHOWN"),
            "{}",
            stderr(&o)
        );
        assert!(!file.exists());
    }
}

/// Issue 23 §2: a profile whose `credential_process` is `iamjwt credentials`, with `AWS_PROFILE` naming that same
/// profile, made every call start another (137 processes in 3 s). Now the second one stops at once and its one
/// line, naming the cause and `--source-profile`, is what the caller (iamjwt itself, or the AWS CLI) reports.
#[test]
fn a_credential_process_that_would_run_itself_stops_at_once_in_one_line() {
    let args = [
        "credentials",
        "--url",
        "http://127.0.0.1:9",
        "--signing-region",
        "us-east-1",
        "--role-arn",
        ROLE,
    ];
    credential_process_loop_stops(&args);
}

/// Issue 20: `iamjwt s3-access` runs as a credential_process too (S3 Access Grants through a profile). Signing with
/// the profile whose credential_process runs it started it again without end; it now stops at once, in the same
/// one line as `credentials` (one guard for both), and the AWS CLI shows that line.
#[test]
fn an_s3_access_credential_process_that_would_run_itself_stops_at_once_in_one_line() {
    let args = [
        "s3-access",
        "--url",
        "http://127.0.0.1:9",
        "--signing-region",
        "us-east-1",
        "--region",
        "us-east-1",
        "--role-arn",
        ROLE,
        "--identity-center-app",
        "arn:aws:sso::123456789012:application/ssoins-1/apl-1",
        "--target",
        "s3://lake/reports/q1.csv",
        "--permission",
        "READ",
    ];
    credential_process_loop_stops(&args);
}

/// `iamjwt ARGS` (a command that runs as a credential_process, against an issuer where nothing listens) as the
/// credential_process of the profile it signs with: it stops at once, in one line naming itself, the AWS CLI shows
/// that line, and `--source-profile` breaks the loop.
fn credential_process_loop_stops(args: &[&str]) {
    let home = tempfile::tempdir().unwrap();
    let config = home.path().join("config");
    std::fs::write(
        &config,
        format!(
            "[profile loop]\ncredential_process = {} {}\nregion = us-east-1\n\n\
             [profile base]\naws_access_key_id = AKIDBASE\naws_secret_access_key = base-secret\n",
            iamjwt_bin().display(),
            args.join(" ")
        ),
    )
    .unwrap();
    let looped = |c: &mut Command| {
        c.env("AWS_CONFIG_FILE", &config).env("AWS_PROFILE", "loop");
    };
    // iamjwt as the AWS CLI starts it, AWS_PROFILE exported
    let mut c = iamjwt(args);
    looped(&mut c);
    let o = run_within(c, Duration::from_secs(30));
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let err = stderr(&o);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.starts_with(&format!(
            "error: `iamjwt {}` is running inside itself",
            args[0]
        )) && err.contains("(loop)")
            && err.contains("--source-profile"),
        "{err}"
    );
    // the AWS CLI itself gets the same line back
    let mut c = clean(Command::new(venv_bin("aws")));
    c.args(["sts", "get-caller-identity"]);
    looped(&mut c);
    let o = run_within(c, Duration::from_secs(60));
    assert!(!o.status.success());
    assert!(stderr(&o).contains("--source-profile"), "{}", stderr(&o));
    // --source-profile names the credentials to sign with: no loop (the call then fails at the absent issuer)
    let mut c = iamjwt(args);
    c.args(["--source-profile", "base"]);
    looped(&mut c);
    let o = run_within(c, Duration::from_secs(30));
    assert_eq!(o.status.code(), Some(1));
    let err = stderr(&o);
    assert!(
        !err.contains("inside itself") && err.contains("127.0.0.1:9"),
        "{err}"
    );
}

/// Issue 23 §3 end to end: `iamjwt rotate --emergency` on the running issuer; the agent, whose token would be good
/// for an hour, notices within one JWKS max-age (1 s here) that its kid left the JWKS and writes a token signed by
/// the replacement, which PyJWT verifies through discovery. `iamjwt cache clear` empties the token cache.
#[test]
fn after_an_emergency_rotation_the_agent_replaces_its_token_and_the_cache_can_be_cleared() {
    let s = Server::start_with(&[("IAMJWT_JWKS_MAX_AGE", "1")]);
    let cache = tempfile::tempdir().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("token");
    let agent = Agent::start(
        &s,
        cache.path(),
        &[
            "agent",
            "--url",
            &s.url,
            "--region",
            "us-east-1",
            "--file",
            file.to_str().unwrap(),
            "--duration",
            "3600",
        ],
    );
    agent.wait_logged("token written", 1, Duration::from_secs(30));
    let before = std::fs::read_to_string(&file).unwrap();
    let old_kid = jwt_part(&before, 0)["kid"].as_str().unwrap().to_owned();
    // a cached token too
    ok(run(as_dev(
        &s,
        cache.path(),
        &["token", "--url", &s.url, "--region", "us-east-1"],
    )));

    let out = ok(run(iamjwt(&[
        "rotate",
        "--state-dir",
        s.state.path().to_str().unwrap(),
        "--emergency",
    ])));
    assert!(out.contains("compromised"), "{out}");
    agent.wait_logged("left the issuer's JWKS", 1, Duration::from_secs(30));
    // the issuer's signer picks up the replacement within its 1 s key refresh; until then a refetched token may still
    // carry the old kid, and the agent's next check (1 s later) replaces it again
    let deadline = Instant::now() + Duration::from_secs(30);
    let after = loop {
        let t = std::fs::read_to_string(&file).unwrap();
        if jwt_part(&t, 0)["kid"] != old_kid.as_str() {
            break t;
        }
        assert!(
            Instant::now() < deadline,
            "the file still holds a token of the compromised key"
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    ok(pyjwt_verify(&s.url, "sts.amazonaws.com", &after));
    assert!(
        !pyjwt_verify(&s.url, "sts.amazonaws.com", &before)
            .status
            .success(),
        "the compromised key's token no longer verifies"
    );
    assert!(agent.terminate().success());

    let mut c = iamjwt(&["cache", "clear"]);
    c.env("XDG_CACHE_HOME", cache.path());
    let cleared = ok(run(c));
    assert!(cleared.starts_with("removed 1 cached entry"), "{cleared}");
}
