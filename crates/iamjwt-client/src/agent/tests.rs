use super::*;
use crate::jwt::tests::fake_token;
use std::sync::Arc;
use std::sync::Mutex;

#[test]
fn refresh_at_80_percent_with_jitter() {
    let s = Schedule {
        refresh_before: None,
    };
    // 900 s token received at iat: refresh between 675 s (75 %) and 720 s (80 %).
    assert_eq!(
        s.refresh_in(1000, 1900, 1000, 0.0),
        Duration::from_secs(720)
    );
    assert_eq!(s.refresh_in(1000, 1900, 1000, 0.999_999).as_secs(), 675);
    // received late (clock skew / slow issuer): the wait shrinks, never below 1 s.
    assert_eq!(s.refresh_in(1000, 1900, 1700, 0.0), Duration::from_secs(20));
    assert_eq!(s.refresh_in(1000, 1900, 1899, 0.0), Duration::from_secs(1));
    let s = Schedule {
        refresh_before: Some(57),
    };
    assert_eq!(s.refresh_in(1000, 1060, 1000, 0.5), Duration::from_secs(3));
}

#[test]
fn backoff_doubles_to_a_minute_and_honours_retry_after() {
    assert_eq!(Schedule::backoff(1, None, 0.0), Duration::from_millis(500));
    assert_eq!(Schedule::backoff(1, None, 0.999_999).as_millis(), 999);
    assert_eq!(Schedule::backoff(3, None, 0.0), Duration::from_secs(2));
    assert_eq!(Schedule::backoff(7, None, 0.0), Duration::from_secs(30));
    assert_eq!(Schedule::backoff(40, None, 0.0), Duration::from_secs(30));
    assert!(Schedule::backoff(40, None, 0.999) <= BACKOFF_MAX);
    assert_eq!(Schedule::backoff(1, Some(7), 0.0), Duration::from_secs(7));
}

/// A stand-in issuer on the virtual clock: answers from a script (`None` = a 503), records when it was
/// called.
struct Script {
    clock: Arc<VirtualClock>,
    lifetime: u64,
    down: Vec<(u64, u64)>,
    calls: Mutex<Vec<u64>>,
}

impl TokenSource for Script {
    fn fetch(&self, _r: &TokenRequest) -> impl Future<Output = Result<Token, Error>> + Send {
        let now = self.clock.now();
        self.calls.lock().unwrap().push(now);
        let result = if self.down.iter().any(|&(a, b)| (a..b).contains(&now)) {
            Err(Error::Server {
                status: 503,
                error: "temporarily_unavailable".into(),
                description: String::new(),
                retry_after: None,
            })
        } else {
            let jwt = fake_token(now, now + self.lifetime, "");
            Token::from_response(format!(r#"{{"token":"{jwt}"}}"#).as_bytes())
        };
        std::future::ready(result)
    }
}

/// Runs the real loop for `hours` of virtual time; returns the issuer's call times (s since start) and the
/// file's contents at the end.
async fn simulate(lifetime: u64, hours: u64, down: Vec<(u64, u64)>) -> (Vec<u64>, String) {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(VirtualClock::new(0, Duration::from_secs(hours * 3600)));
    let script = Script {
        clock: clock.clone(),
        lifetime,
        down,
        calls: Mutex::new(Vec::new()),
    };
    let output = Output {
        file: dir.path().join("token"),
        request: TokenRequest::new("http://127.0.0.1:9/token"),
        json_field: None,
        mode: 0o600,
        owner: Owner::default(),
    };
    let (tx, _rx) = mpsc::channel(1);
    tokio::select! {
        () = keep_fresh(&script, &*clock, output.clone(), Schedule::default(), tx, false) => {
            panic!("keep_fresh returned without --once")
        }
        () = clock.reached() => {}
    }
    let contents = std::fs::read_to_string(&output.file).unwrap();
    (script.calls.into_inner().unwrap(), contents)
}

#[tokio::test]
async fn five_to_six_issuer_calls_an_hour_for_a_15_minute_token() {
    let (calls, file) = simulate(900, 1, vec![]).await;
    assert!((5..=6).contains(&calls.len()), "{calls:?}");
    // every refresh between 75 % and 80 % of the previous token's lifetime
    for w in calls.windows(2) {
        assert!((675..=720).contains(&(w[1] - w[0])), "{calls:?}");
    }
    let times = crate::jwt::parse(&file).unwrap();
    assert_eq!(times.issued_at, *calls.last().unwrap());
}

#[tokio::test]
async fn an_outage_backs_off_within_a_minute_and_recovers() {
    // down from 700 s to 800 s: the refresh at 675–720 s fails, retries back off (1, 2, 4 … s, capped at a
    // minute), the first one after 800 s succeeds.
    let (calls, _) = simulate(900, 1, vec![(600, 800)]).await;
    let failed: Vec<u64> = calls
        .iter()
        .copied()
        .filter(|t| (600..800).contains(t))
        .collect();
    assert!(failed.len() >= 4, "{calls:?}");
    for w in failed.windows(2) {
        assert!(w[1] - w[0] <= BACKOFF_MAX.as_secs(), "{calls:?}");
    }
    let recovered = calls.iter().find(|&&t| t >= 800).unwrap();
    assert!(*recovered < 800 + BACKOFF_MAX.as_secs(), "{calls:?}");
}

/// Issue 19 §6: a token file in a directory where another user could swap it for theirs is refused at start.
#[test]
fn an_output_directory_others_can_write_is_refused() {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = tempfile::tempdir().unwrap();
    let shared = dir.path().join("shared");
    std::fs::create_dir(&shared).unwrap();
    let output = |file: std::path::PathBuf| Output {
        file,
        request: TokenRequest::new("http://127.0.0.1:9/token"),
        json_field: None,
        mode: 0o600,
        owner: Owner::default(),
    };
    let o = output(shared.join("t.jwt"));
    o.check_dir().unwrap();
    std::fs::set_permissions(&shared, std::fs::Permissions::from_mode(0o777)).unwrap();
    let e = o.check_dir().unwrap_err();
    assert!(matches!(e, Error::Untrusted(_)), "{e:?}");
    assert!(e.to_string().contains("chmod go-w"), "{e}");
    std::fs::set_permissions(&shared, std::fs::Permissions::from_mode(0o1777)).unwrap();
    o.check_dir().unwrap();
    let e = output(dir.path().join("missing/t.jwt"))
        .check_dir()
        .unwrap_err();
    assert!(e.to_string().contains("does not exist"), "{e}");
}

#[tokio::test]
async fn once_writes_and_returns() {
    let dir = tempfile::tempdir().unwrap();
    let clock = VirtualClock::new(5000, Duration::from_secs(10));
    let script = Script {
        clock: Arc::new(VirtualClock::new(5000, Duration::from_secs(10))),
        lifetime: 300,
        down: vec![],
        calls: Mutex::new(Vec::new()),
    };
    let output = Output {
        file: dir.path().join("t.json"),
        request: TokenRequest::new("http://127.0.0.1:9/token"),
        json_field: Some("access_token".into()),
        mode: 0o640,
        owner: Owner::default(),
    };
    let (tx, mut rx) = mpsc::channel(1);
    keep_fresh(
        &script,
        &clock,
        output.clone(),
        Schedule::default(),
        tx,
        true,
    )
    .await;
    assert_eq!(rx.recv().await, Some(output.file.clone()));
    let v: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&output.file).unwrap()).unwrap();
    crate::jwt::parse(v["access_token"].as_str().unwrap()).unwrap();
    use std::os::unix::fs::PermissionsExt as _;
    let mode = std::fs::metadata(&output.file)
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o640);
}

/// An issuer on the virtual clock whose current key changes at `emergency_at` (an emergency rotation): tokens
/// are signed by `old` before and `new` after, and the JWKS (max-age `max_age`) drops `old` then. Records when
/// tokens were fetched and when the JWKS was read.
struct Rotating {
    clock: Arc<VirtualClock>,
    emergency_at: u64,
    max_age: Duration,
    fetches: Mutex<Vec<u64>>,
    checks: Mutex<Vec<u64>>,
}

impl Rotating {
    fn kid(&self, now: u64) -> &'static str {
        if now < self.emergency_at {
            "old"
        } else {
            "new"
        }
    }
}

impl TokenSource for Rotating {
    fn fetch(&self, _r: &TokenRequest) -> impl Future<Output = Result<Token, Error>> + Send {
        use base64::Engine as _;
        let b64 = |s: String| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s);
        let now = self.clock.now();
        self.fetches.lock().unwrap().push(now);
        let h = b64(format!(r#"{{"alg":"ES256","kid":"{}"}}"#, self.kid(now)));
        let c = b64(format!(
            r#"{{"iss":"https://id.example.com","iat":{now},"exp":{}}}"#,
            now + 3600
        ));
        std::future::ready(Token::from_response(
            format!(r#"{{"token":"{h}.{c}.c2ln"}}"#).as_bytes(),
        ))
    }
}

impl KeySet for Rotating {
    fn published(&self, issuer: &str) -> impl Future<Output = Result<Published, Error>> + Send {
        assert_eq!(issuer, "https://id.example.com");
        let now = self.clock.now();
        self.checks.lock().unwrap().push(now);
        std::future::ready(Ok(Published {
            kids: [self.kid(now).to_owned()].into(),
            max_age: Some(self.max_age),
        }))
    }
}

/// Issue 23 §3: after `rotate --emergency` the agent kept writing the compromised key's token until its normal
/// refresh (80 % of an hour here), while verifiers refused it. Now it notices within one JWKS max-age, and never
/// reads the JWKS more often than that max-age.
#[tokio::test]
async fn a_token_whose_key_left_the_jwks_is_replaced_within_one_max_age() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(VirtualClock::new(0, Duration::from_secs(2 * 3600)));
    let issuer = Rotating {
        clock: clock.clone(),
        emergency_at: 1000,
        max_age: Duration::from_secs(60),
        fetches: Mutex::new(Vec::new()),
        checks: Mutex::new(Vec::new()),
    };
    let output = Output {
        file: dir.path().join("token"),
        request: TokenRequest::new("https://issuer.example.com/token"),
        json_field: None,
        mode: 0o600,
        owner: Owner::default(),
    };
    let (tx, _rx) = mpsc::channel(1);
    let run = keep_fresh_watching(
        &issuer,
        &issuer,
        &*clock,
        output.clone(),
        Schedule::default(),
        tx,
        false,
    );
    tokio::select! {
        () = run => panic!("keep_fresh_watching returned without --once"),
        () = clock.reached() => {}
    }
    let fetches = issuer.fetches.into_inner().unwrap();
    let replaced = fetches
        .iter()
        .copied()
        .find(|&t| t >= 1000)
        .expect("a new token after the emergency");
    assert!(
        replaced < 1000 + 60 + 1,
        "replaced at {replaced}: {fetches:?}"
    );
    // the normal refresh (75–80 % of 3600 s) comes later, counted from the new token
    assert!(
        fetches
            .iter()
            .all(|&t| t == 0 || t == replaced || t >= replaced + 2700),
        "{fetches:?}"
    );
    let checks = issuer.checks.into_inner().unwrap();
    assert!(!checks.is_empty());
    // (the clock reads whole seconds of a millisecond timeline: 59 is 60 s rounded down)
    for w in checks.windows(2) {
        assert!(
            w[1] - w[0] >= 59,
            "JWKS read more often than its max-age: {checks:?}"
        );
    }
    let (kid, _) =
        crate::keyset::signing_key(&std::fs::read_to_string(&output.file).unwrap()).unwrap();
    assert_eq!(kid, "new");
}
