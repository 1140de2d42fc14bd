//! Issue 21, the workload side across regional front doors, with the real binaries (docs/multi-region.md, "The
//! workload side" and "Local mode"):
//!
//! - `iamjwt agent` over two `serve` front doors on one state directory (the owner in us-east-1, a `--replica` in
//!   eu-west-1): the owner is killed, the file keeps being refreshed from eu-west-1 and never holds an expired (or
//!   stale) token; the owner comes back on the same port and the agent returns to it after its back-off. Which
//!   front door issued a token is read from the front doors' own audit logs (each `token_issued` event names the
//!   token's `jti`).
//! - The `{region}` template, driven through the binaries against a loopback stand-in that records each request:
//!   each region's request goes to that region's URL, signed for that region, own region first, and never anywhere
//!   else. The stand-in does not forward to `serve`: the signature covers the path the client sent
//!   (`/us-east-1/token`), and a path-routing proxy that strips the region would hand the front door a request
//!   whose signature no longer verifies (a proxy that re-signed would prove nothing). Issuing through a template is
//!   covered by `iamjwt-client`'s `a_template_routes_each_region_to_its_url_signed_for_it`.
//! - Attacker cases: a region name that is not one, from every place a region comes from, and a set that mixes
//!   `https` and `http`, are refused in one line before anything is sent (a recording listener sees no
//!   connection); an `https` set never sends a plain-text request, whichever endpoint fails.

use crate::support::*;
use std::collections::BTreeSet;
use std::io::{Read as _, Write as _};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

/// A `serve` front door whose stderr (its log, with one audit event per issued token) goes to a file.
struct FrontDoor {
    server: iamjwt_testkit::LocalServer,
    log: PathBuf,
}

impl FrontDoor {
    /// `serve` over `state` on `listen` (`127.0.0.1:0`: a free port), with more flags (`--replica --region R`).
    fn start(state: &Path, log: PathBuf, listen: &str, extra: &[&str]) -> Self {
        let mut c = clean(Command::new(iamjwt_bin()));
        c.stderr(std::fs::File::create(&log).unwrap());
        let server = iamjwt_testkit::LocalServer::start_listening(c, state, listen, extra)
            .unwrap_or_else(|e| panic!("{e}"));
        Self { server, log }
    }

    fn url(&self) -> &str {
        self.server.url()
    }

    /// Whether this front door's audit log has the `token_issued` event of the token whose `jti` this is.
    fn issued(&self, jti: &str) -> bool {
        std::fs::read_to_string(&self.log)
            .unwrap()
            .lines()
            .any(|l| l.contains("token_issued") && l.contains(jti))
    }
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn jti(token: &str) -> String {
    jwt_part(token, 1)["jti"].as_str().unwrap().to_owned()
}

/// Reads the agent's file every 10 ms, checking each read: a whole JWT, unexpired, and issued no more than
/// `max_age` ago (with `--duration 60 --refresh-before 59` the agent refreshes every second, so a token older than
/// that means the file stopped being refreshed, long before it could expire). Keeps each new token with when it
/// was first seen.
struct Sampler {
    stop: Arc<AtomicBool>,
    seen: Arc<Mutex<Vec<(Instant, String)>>>,
    thread: Option<std::thread::JoinHandle<u64>>,
}

impl Sampler {
    fn start(file: PathBuf, max_age: u64) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let seen: Arc<Mutex<Vec<(Instant, String)>>> = Arc::new(Mutex::new(Vec::new()));
        let (st, sn) = (stop.clone(), seen.clone());
        let thread = std::thread::spawn(move || {
            let mut reads = 0;
            while !st.load(Ordering::SeqCst) {
                let t = std::fs::read_to_string(&file).unwrap();
                let claims = jwt_part(&t, 1);
                let (iat, exp, now) = (
                    claims["iat"].as_u64().unwrap(),
                    claims["exp"].as_u64().unwrap(),
                    unix_now(),
                );
                assert!(
                    exp > now,
                    "the file holds an expired token (exp {exp}, now {now})"
                );
                assert!(
                    now.saturating_sub(iat) <= max_age,
                    "the file was not refreshed: its token was issued {} s ago",
                    now - iat
                );
                let mut seen = sn.lock().unwrap();
                if seen.last().is_none_or(|(_, last)| *last != t) {
                    seen.push((Instant::now(), t));
                }
                drop(seen);
                reads += 1;
                std::thread::sleep(Duration::from_millis(10));
            }
            reads
        });
        Self {
            stop,
            seen,
            thread: Some(thread),
        }
    }

    /// The tokens first seen after `since`.
    fn since(&self, since: Instant) -> Vec<(Instant, String)> {
        self.seen
            .lock()
            .unwrap()
            .iter()
            .filter(|(at, _)| *at > since)
            .cloned()
            .collect()
    }

    /// Waits until `n` tokens were first seen after `since`, and returns them.
    #[track_caller]
    fn wait_for(&self, n: usize, since: Instant, within: Duration) -> Vec<(Instant, String)> {
        let deadline = Instant::now() + within;
        loop {
            let got = self.since(since);
            if got.len() >= n {
                return got;
            }
            assert!(
                Instant::now() < deadline,
                "{} new token(s) in the file within {within:?}, not {n}",
                got.len()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Stops reading (a failed check fails the test here); every token seen, and how many reads there were.
    fn finish(mut self) -> (Vec<String>, u64) {
        self.stop.store(true, Ordering::SeqCst);
        let reads = self.thread.take().unwrap().join().unwrap();
        let seen = self
            .seen
            .lock()
            .unwrap()
            .iter()
            .map(|(_, t)| t.clone())
            .collect();
        (seen, reads)
    }
}

impl Drop for Sampler {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

/// Issue 21, "Client failover, locally": the agent's file across a regional outage and back.
#[test]
fn agent_fails_over_to_the_other_front_door_and_returns_after_the_back_off() {
    let state = tempfile::tempdir().unwrap();
    let logs = tempfile::tempdir().unwrap();
    let owner = FrontDoor::start(
        state.path(),
        logs.path().join("us-east-1.log"),
        "127.0.0.1:0",
        &[],
    );
    let replica = FrontDoor::start(
        state.path(),
        logs.path().join("eu-west-1.log"),
        "127.0.0.1:0",
        &["--replica", "--region", "eu-west-1"],
    );
    let issuer = owner.server.ready.issuer.clone();
    assert_eq!(replica.server.ready.issuer, issuer);
    let owner_listen = owner.url().strip_prefix("http://").unwrap().to_owned();
    let dev = owner.server.dev().unwrap().clone();

    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("token");
    let mut c = iamjwt(&[
        "agent",
        "--url",
        &format!("us-east-1={}", owner.url()),
        "--url",
        &format!("eu-west-1={}", replica.url()),
        "--file",
        file.to_str().unwrap(),
        "--duration",
        "60",
        "--refresh-before",
        "59",
        "--failback-after",
        "2",
    ]);
    DevCreds::from(&dev).apply(&mut c);
    c.env("AWS_REGION", "us-east-1");
    let agent = Agent::spawn(c);
    agent.wait_logged("token written", 1, Duration::from_secs(20));
    let sampler = Sampler::start(file.clone(), 10);
    let start = Instant::now() - Duration::from_secs(1);

    // Both regions answer: the own region issues.
    let before = sampler.wait_for(2, start, Duration::from_secs(10));
    for (_, t) in &before {
        assert!(owner.issued(&jti(t)), "not issued by us-east-1");
        assert!(!replica.issued(&jti(t)));
    }

    // us-east-1 goes down (SIGKILL): the file keeps being refreshed, from eu-west-1.
    drop(owner);
    let killed = Instant::now();
    let outage = sampler.wait_for(3, killed, Duration::from_secs(10));
    assert!(
        outage[0].0 - killed < Duration::from_secs(4),
        "first token after the outage came {:?} after it (refresh every 1 s, failover < 3 s)",
        outage[0].0 - killed
    );
    for (_, t) in &outage {
        assert!(replica.issued(&jti(t)), "not issued by eu-west-1");
    }

    // us-east-1 comes back on the same port (serve binds with SO_REUSEADDR, as tokio does by default): the agent
    // stays with eu-west-1 until us-east-1's back-off (2 s, doubling) has passed, then returns to it.
    let restored = FrontDoor::start(
        state.path(),
        logs.path().join("us-east-1-restored.log"),
        &owner_listen,
        &[],
    );
    let back = Instant::now();
    assert_eq!(
        restored.server.ready.issuer, issuer,
        "same port, same issuer"
    );
    let deadline = back + Duration::from_secs(20);
    let returned = loop {
        let found = sampler
            .since(back)
            .into_iter()
            .find(|(_, t)| restored.issued(&jti(t)));
        if let Some(r) = found {
            break r;
        }
        assert!(
            Instant::now() < deadline,
            "the agent did not return to us-east-1 within 20 s of its return"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    // Every token between the outage and the return came from eu-west-1.
    let all_outage = sampler.since(killed);
    let during: Vec<&(Instant, String)> = all_outage
        .iter()
        .take_while(|(at, _)| *at < returned.0)
        .collect();
    for (_, t) in &during {
        assert!(
            replica.issued(&jti(t)),
            "a token during the outage not from eu-west-1"
        );
    }
    // It stayed with eu-west-1 between back-offs instead of trying us-east-1 first at every refresh.
    let failed = |region: &str| {
        agent
            .log
            .lock()
            .unwrap()
            .iter()
            .filter(|l| {
                l.contains("token endpoint failed")
                    && l.contains(&format!("\"region\":\"{region}\""))
            })
            .count()
    };
    let us_failures = failed("us-east-1");
    assert!(
        us_failures >= 1 && us_failures < during.len(),
        "{us_failures} failed attempts on us-east-1 for {} tokens from eu-west-1",
        during.len()
    );
    assert_eq!(failed("eu-west-1"), 0);
    // And it stays back home.
    let after = sampler.wait_for(2, returned.0, Duration::from_secs(10));
    for (_, t) in &after {
        assert!(
            restored.issued(&jti(t)),
            "not issued by the restored us-east-1"
        );
    }

    let (tokens, reads) = sampler.finish();
    assert!(reads > 200, "the file was read {reads} times");
    assert!(agent.terminate().success(), "clean exit on SIGTERM");

    // One issuer, one JWKS: every token the file held verifies against it (our verifier for all, PyJWT through
    // discovery for one from each region).
    let distinct: BTreeSet<&String> = tokens.iter().collect();
    assert!(distinct.len() >= 7, "{} tokens", distinct.len());
    for t in &distinct {
        assert_eq!(jwt_part(t, 1)["iss"], issuer.as_str());
        ok(run(iamjwt(&[
            "verify",
            t,
            "--issuer",
            &issuer,
            "--aud",
            "sts.amazonaws.com",
        ])));
    }
    for t in [&outage[0].1, &returned.1] {
        ok(pyjwt_verify(&issuer, "sts.amazonaws.com", t));
    }
}

/// A loopback listener that records what each connection sends first (a request head, or a TLS ClientHello) and
/// answers an HTTP request with `503 temporarily_unavailable` (a region that is down).
struct Recorder {
    url: String,
    seen: Arc<Mutex<Vec<Vec<u8>>>>,
}

impl Recorder {
    fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let seen: Arc<Mutex<Vec<Vec<u8>>>> = Arc::new(Mutex::new(Vec::new()));
        let s = seen.clone();
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(mut conn) = conn else { continue };
                conn.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
                let mut got = Vec::new();
                let mut buf = [0u8; 4096];
                while let Ok(n) = conn.read(&mut buf) {
                    if n == 0 {
                        break;
                    }
                    got.extend_from_slice(&buf[..n]);
                    // A TLS record, or a whole request head: that is all there is to see.
                    if got[0] == 0x16 || got.windows(4).any(|w| w == b"\r\n\r\n") {
                        break;
                    }
                }
                let tls = got.first() == Some(&0x16);
                s.lock().unwrap().push(got);
                if !tls {
                    let body =
                        r#"{"error":"temporarily_unavailable","error_description":"region down"}"#;
                    let _ = write!(
                        conn,
                        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\
                         connection: close\r\n\r\n{body}",
                        body.len()
                    );
                }
            }
        });
        Self { url, seen }
    }

    /// The port, for an `https://` URL to the same listener.
    fn authority(&self) -> &str {
        self.url.strip_prefix("http://").unwrap()
    }

    fn connections(&self) -> Vec<Vec<u8>> {
        self.seen.lock().unwrap().clone()
    }

    /// Each request as (path, credential-scope region).
    fn requests(&self) -> Vec<(String, String)> {
        self.connections()
            .iter()
            .map(|c| {
                let head = String::from_utf8_lossy(c);
                let path = head
                    .lines()
                    .next()
                    .and_then(|l| l.split_whitespace().nth(1))
                    .unwrap_or("")
                    .split('?')
                    .next()
                    .unwrap()
                    .to_owned();
                let scope = head
                    .split("Credential=")
                    .nth(1)
                    .and_then(|c| c.split('/').nth(2))
                    .unwrap_or("")
                    .to_owned();
                (path, scope)
            })
            .collect()
    }
}

/// `iamjwt token` / `iamjwt agent` as some principal (the credentials need not be valid: nothing here reaches an
/// issuer), with the AWS config file `config` (`None`: none) and more environment.
fn client(args: &[&str], config: Option<&Path>, env: &[(&str, &str)]) -> Command {
    let mut c = iamjwt(args);
    c.env("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE").env(
        "AWS_SECRET_ACCESS_KEY",
        "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
    );
    if let Some(config) = config {
        c.env("AWS_CONFIG_FILE", config);
    }
    c.envs(env.iter().copied());
    c
}

/// Issue 21, "Client failover, locally" with `--url` holding `{region}`: through the real binaries, each region's
/// request goes to that region's URL, signed for that region, the own region first; when every region fails each
/// is tried and named, and nothing outside the configured set is ever asked — the own region included when the set
/// does not name it, and however long the agent keeps retrying.
#[test]
fn a_region_template_sends_each_request_to_its_region_signed_for_it_and_nowhere_else() {
    let stand_in = Recorder::start();
    let template = format!("{}/{{region}}", stand_in.url);
    let scratch = tempfile::tempdir().unwrap();
    let token = |own: &str| {
        let c = client(
            &[
                "token",
                "--url",
                &template,
                "--regions",
                "us-east-1,eu-west-1",
                "--no-cache",
            ],
            None,
            &[("AWS_REGION", own)],
        );
        run_within(c, Duration::from_secs(20))
    };
    let want = |r: &str| (format!("/{r}/token"), r.to_owned());

    // Own region eu-west-1: asked first, then us-east-1; the error names both, in one line.
    let o = token("eu-west-1");
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let err = stderr(&o);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains("no region answered")
            && err.contains("eu-west-1")
            && err.contains("us-east-1"),
        "{err}"
    );
    assert_eq!(stand_in.requests(), [want("eu-west-1"), want("us-east-1")]);

    // Own region not in the set: the configured order, and never the own region's URL.
    let o = token("ap-southeast-2");
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert_eq!(
        stand_in.requests()[2..],
        [want("us-east-1"), want("eu-west-1")]
    );

    // The agent retrying for 3 s: every request to a configured region's URL, signed for it.
    let before = stand_in.requests().len();
    let file = scratch.path().join("token");
    let c = client(
        &[
            "agent",
            "--url",
            &template,
            "--regions",
            "us-east-1,eu-west-1",
            "--file",
            file.to_str().unwrap(),
            "--once",
            "--startup-timeout",
            "3",
        ],
        None,
        &[("AWS_REGION", "ap-southeast-2")],
    );
    let o = run_within(c, Duration::from_secs(20));
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(!file.exists());
    let retried = &stand_in.requests()[before..];
    assert!(retried.len() >= 4, "{retried:?}");
    for pair in retried.chunks(2) {
        assert_eq!(pair, [want("us-east-1"), want("eu-west-1")], "{retried:?}");
    }
}

/// One way a hostile region name reaches the client: where it comes from, the flags, the AWS config file, the
/// environment.
type Case<'a> = (
    &'a str,
    Vec<&'a str>,
    Option<&'a Path>,
    Vec<(&'a str, &'a str)>,
);

/// Issue 21, "Attacker cases": a region name that is not a region, wherever it comes from (`AWS_REGION`, the AWS
/// config file's profile, `--region`, `--regions`, `REGION=URL`; with a regional set or one URL), and a set that
/// mixes `https` and `http`, are refused by `token` and `agent` in one line, exit 1, before anything is sent: the listener the URLs point at sees
/// no connection.
#[test]
fn hostile_region_names_and_mixed_schemes_are_refused_before_anything_is_sent() {
    let listener = Recorder::start();
    let scratch = tempfile::tempdir().unwrap();
    let template = format!("{}/{{region}}", listener.url);
    let eu = format!("eu-west-1={}/eu", listener.url);
    let file = scratch.path().join("token");
    let config = |name: &str, body: &str| {
        let p = scratch.path().join(name);
        std::fs::write(&p, body).unwrap();
        p
    };

    for bad in ["evil.example/x", "us-east-1.evil.example"] {
        let default_profile = config("default", &format!("[default]\nregion = {bad}\n"));
        let named_profile = config("named", &format!("[profile work]\nregion = {bad}\n"));
        let named = format!("{bad}={}/x", listener.url);
        let regions = format!("us-east-1,{bad}");
        let cases: Vec<Case> = vec![
            (
                "AWS_REGION",
                vec!["--url", &template],
                None,
                vec![("AWS_REGION", bad)],
            ),
            (
                "the default profile",
                vec!["--url", &template],
                Some(&default_profile),
                vec![],
            ),
            (
                "a named profile",
                vec!["--url", &template, "--profile", "work"],
                Some(&named_profile),
                vec![],
            ),
            (
                "AWS_PROFILE",
                vec!["--url", &template],
                Some(&named_profile),
                vec![("AWS_PROFILE", "work")],
            ),
            (
                "--region",
                vec!["--url", &template, "--region", bad],
                None,
                vec![],
            ),
            (
                "--regions",
                vec!["--url", &template, "--regions", &regions],
                None,
                vec![],
            ),
            (
                "REGION=URL",
                vec!["--url", &named, "--url", &eu],
                None,
                vec![],
            ),
            // One URL, no regional set: the region only signs, and a scope that is not a region is refused too.
            (
                "AWS_REGION, one URL",
                vec!["--url", &listener.url],
                None,
                vec![("AWS_REGION", bad)],
            ),
            (
                "the default profile, one URL",
                vec!["--url", &listener.url],
                Some(&default_profile),
                vec![],
            ),
            (
                "--region, one URL",
                vec!["--url", &listener.url, "--region", bad],
                None,
                vec![],
            ),
        ];
        for (from, flags, cfg, env) in cases {
            for command in ["token", "agent"] {
                let mut args = vec![command];
                args.extend(flags.iter().copied());
                if command == "agent" {
                    args.extend(["--file", file.to_str().unwrap(), "--once"]);
                }
                let o = run_within(client(&args, cfg, &env), Duration::from_secs(20));
                let err = stderr(&o);
                assert_eq!(
                    o.status.code(),
                    Some(1),
                    "{command}, {bad} from {from}: {err}"
                );
                assert_eq!(
                    err.lines().count(),
                    1,
                    "{command}, {bad} from {from}: {err}"
                );
                assert!(
                    err.contains("region") && err.contains(bad),
                    "{command}, {bad} from {from}: {err}"
                );
                assert!(
                    listener.connections().is_empty(),
                    "{command}, {bad} from {from}: something was sent"
                );
                assert!(!file.exists());
            }
        }
    }

    // https and http in one set: refused, whichever comes first.
    let https = format!("us-east-1=https://{}/us", listener.authority());
    let http = format!("us-east-1={}/us", listener.url);
    let https_eu = format!("eu-west-1=https://{}/eu", listener.authority());
    for set in [[&https, &eu], [&http, &https_eu]] {
        for command in ["token", "agent"] {
            let mut args = vec![command, "--url", set[0], "--url", set[1]];
            if command == "agent" {
                args.extend(["--file", file.to_str().unwrap(), "--once"]);
            }
            let o = run_within(
                client(&args, None, &[("AWS_REGION", "us-east-1")]),
                Duration::from_secs(20),
            );
            let err = stderr(&o);
            assert_eq!(o.status.code(), Some(1), "{command} {set:?}: {err}");
            assert_eq!(err.lines().count(), 1, "{err}");
            assert!(err.contains("mix https and http"), "{err}");
            assert!(
                listener.connections().is_empty(),
                "{command} {set:?}: something was sent"
            );
        }
    }
}

/// Issue 21, "a failover never downgrades to `http://`": an `https` set whose endpoints all fail (here: the TLS
/// handshake) is tried endpoint by endpoint, and each listener only ever sees a TLS handshake, never a request in
/// plain text.
#[test]
fn an_https_set_never_fails_over_to_plain_http() {
    let (us, eu) = (Recorder::start(), Recorder::start());
    let o = run_within(
        client(
            &[
                "token",
                "--url",
                &format!("us-east-1=https://{}", us.authority()),
                "--url",
                &format!("eu-west-1=https://{}", eu.authority()),
                "--no-cache",
            ],
            None,
            &[("AWS_REGION", "us-east-1")],
        ),
        Duration::from_secs(20),
    );
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("no region answered"), "{err}");
    for (region, l) in [("us-east-1", &us), ("eu-west-1", &eu)] {
        let conns = l.connections();
        assert!(!conns.is_empty(), "{region} was not tried");
        for c in conns {
            assert_eq!(
                c.first(),
                Some(&0x16),
                "{region}: not a TLS handshake: {:?}",
                String::from_utf8_lossy(&c)
            );
        }
    }
}
