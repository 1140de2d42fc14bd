//! The engine of `iamjwt agent`: keeps a token file fresh for SDKs that re-read it (`AWS_WEB_IDENTITY_TOKEN_FILE`,
//! `AZURE_FEDERATED_TOKEN_FILE`, GCP `credential_source.file`). DESIGN §10:
//! - refresh at 80 % of the token's lifetime, minus up to 5 % of jitter (or `refresh_before` seconds before
//!   `exp`);
//! - on failure, exponential backoff with jitter (1 s doubling to 60 s), never sooner than `Retry-After`;
//! - a file is only replaced by a complete token that parses, is unexpired and has the algorithm asked for
//!   ([`iamjwt_fs::write_atomic`]: temp + fsync + rename); the last good token stays until it expires;
//! - while it waits, [`keep_fresh_watching`] checks that the token's `kid` is still in the issuer's JWKS, no more
//!   often than the JWKS's `max-age` allows ([`KEY_CHECK_DEFAULT`] when it names none); a key that left (an
//!   emergency rotation) means a new token at once.
//!
//! Where tokens come from ([`TokenSource`]), which keys are published ([`KeySet`]) and what time it is ([`Clock`])
//! are parameters: the CLI passes the [`Client`], the [`crate::keyset::HttpKeySet`] and the [`SystemClock`]; tests
//! and `make bench` pass stand-ins and a [`VirtualClock`], which runs an hour of refreshes in microseconds through
//! this same loop.

use crate::keyset::{KeySet, Published};
use crate::{Client, Error, Token, TokenRequest};
pub use iamjwt_fs::Owner;
use std::future::Future;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};
use tokio::sync::{Notify, mpsc};

/// One file to keep fresh.
#[derive(Debug, Clone)]
pub struct Output {
    pub file: PathBuf,
    pub request: TokenRequest,
    /// Write `{"FIELD": "<jwt>"}` instead of the bare token (GCP `subject_token_field_name`).
    pub json_field: Option<String>,
    /// File mode (e.g. `0o600`).
    pub mode: u32,
    /// File owner (default: the agent's user and group).
    pub owner: Owner,
}

impl Output {
    /// The bytes the file holds for `token`.
    pub fn contents(&self, token: &Token) -> Result<Vec<u8>, Error> {
        Ok(match &self.json_field {
            None => token.jwt.clone().into_bytes(),
            Some(f) => serde_json::to_vec(&serde_json::json!({ f.as_str(): token.jwt }))
                .map_err(|e| Error::Usage(format!("cannot encode the token file: {e}")))?,
        })
    }

    /// Refuses, at start, a file whose directory does not exist or is one another user could plant or swap the
    /// file in ([`iamjwt_fs::check_trusted_dir`]: not the agent's user's or root's, or writable by others without
    /// the sticky bit). The file itself is only ever replaced by rename, which never follows a symlink.
    pub fn check_dir(&self) -> Result<(), Error> {
        let dir = iamjwt_fs::parent(&self.file);
        iamjwt_fs::check_trusted_dir(dir).map_err(|e| {
            if let Some(u) = iamjwt_fs::Untrusted::of(&e) {
                Error::Untrusted(format!("{}: its directory {u}", self.file.display()))
            } else if e.kind() == std::io::ErrorKind::NotFound {
                Error::Usage(format!(
                    "{}: directory {} does not exist",
                    self.file.display(),
                    dir.display()
                ))
            } else {
                Error::io(dir, e)
            }
        })
    }

    /// Checks a token before it may replace the file: complete (parsed when it was received), unexpired at `now`,
    /// and of the algorithm asked for.
    pub fn accept(&self, token: &Token, now: u64) -> Result<(), String> {
        if token.times.expires_at <= now {
            return Err(format!(
                "the issuer returned a token that expired at {}",
                token.times.expires_at
            ));
        }
        if let Some(a) = &self.request.alg
            && *a != token.times.alg
        {
            return Err(format!(
                "asked for {a}, the issuer signed with {}",
                token.times.alg
            ));
        }
        Ok(())
    }
}

/// Timing rules, as data (unit-tested without a clock).
#[derive(Debug, Clone, Copy, Default)]
pub struct Schedule {
    /// Refresh when this many seconds of a token's lifetime remain, instead of at 80 % of it.
    pub refresh_before: Option<u64>,
}

const BACKOFF_START: Duration = Duration::from_secs(1);
/// The longest wait between two failed attempts (unless the issuer's `Retry-After` asks for more).
pub const BACKOFF_MAX: Duration = Duration::from_secs(60);

impl Schedule {
    /// How long to wait after receiving a token with these times at `now` (seconds), given a jitter draw
    /// `r` in [0, 1).
    pub fn refresh_in(&self, iat: u64, exp: u64, now: u64, r: f64) -> Duration {
        let lifetime = exp.saturating_sub(iat) as f64;
        let at = match self.refresh_before {
            Some(b) => exp.saturating_sub(b) as f64,
            // 80 % of the lifetime, up to 5 % earlier.
            None => iat as f64 + lifetime * (0.80 - 0.05 * r),
        };
        Duration::from_secs_f64((at - now as f64).max(1.0))
    }

    /// The wait before retry number `attempt` (1-based): 1 s doubling to 60 s, "equal jitter" (half fixed, half
    /// random), never sooner than the server's `Retry-After`.
    pub fn backoff(attempt: u32, retry_after: Option<u64>, r: f64) -> Duration {
        let cap = BACKOFF_START
            .saturating_mul(1u32 << attempt.saturating_sub(1).min(16))
            .min(BACKOFF_MAX);
        let d = cap.mul_f64(0.5 + 0.5 * r);
        d.max(Duration::from_secs(retry_after.unwrap_or(0)))
    }
}

/// How often the agent checks the JWKS when the issuer's answer names no `max-age`.
pub const KEY_CHECK_DEFAULT: Duration = Duration::from_secs(300);
/// The shortest wait between two checks, whatever `max-age` says (`max-age=0` asks for no caching, not a busy loop).
pub const KEY_CHECK_MIN: Duration = Duration::from_secs(1);

/// How long until asking the JWKS again can tell something new.
fn key_check_interval(answer: Option<&Published>) -> Duration {
    answer
        .and_then(|p| p.max_age)
        .unwrap_or(KEY_CHECK_DEFAULT)
        .max(KEY_CHECK_MIN)
}

/// A [`KeySet`] that is never asked: [`keep_fresh`] does not watch the JWKS. It has no values.
#[derive(Debug, Clone, Copy)]
pub enum NoKeyCheck {}

impl KeySet for NoKeyCheck {
    #[allow(unreachable_code)]
    fn published(&self, _: &str) -> impl Future<Output = Result<Published, Error>> + Send {
        std::future::ready(match *self {})
    }
}

/// A jitter draw in [0, 1).
pub fn jitter() -> f64 {
    (crate::random_u64() >> 11) as f64 / (1u64 << 53) as f64
}

/// Where the agent gets tokens: the issuer ([`Client::fetch`], never a cache) or a stand-in.
pub trait TokenSource: Send + Sync {
    fn fetch(&self, request: &TokenRequest) -> impl Future<Output = Result<Token, Error>> + Send;
}

impl<S: TokenSource> TokenSource for &S {
    fn fetch(&self, request: &TokenRequest) -> impl Future<Output = Result<Token, Error>> + Send {
        (**self).fetch(request)
    }
}

impl TokenSource for Client {
    fn fetch(&self, request: &TokenRequest) -> impl Future<Output = Result<Token, Error>> + Send {
        Client::fetch(self, request)
    }
}

/// What time it is (seconds since the epoch) and how to wait.
pub trait Clock: Send + Sync {
    fn now(&self) -> u64;
    fn sleep(&self, d: Duration) -> impl Future<Output = ()> + Send;
}

impl<C: Clock> Clock for &C {
    fn now(&self) -> u64 {
        (**self).now()
    }
    fn sleep(&self, d: Duration) -> impl Future<Output = ()> + Send {
        (**self).sleep(d)
    }
}

/// The wall clock and tokio's timer.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> u64 {
        crate::unix(SystemTime::now())
    }
    fn sleep(&self, d: Duration) -> impl Future<Output = ()> + Send {
        tokio::time::sleep(d)
    }
}

/// A clock that moves only when slept on, up to a horizon; a sleep that would pass the horizon never returns
/// and wakes [`VirtualClock::reached`] instead. Runs hours of the agent's schedule in microseconds.
#[derive(Debug)]
pub struct VirtualClock {
    now_ms: AtomicU64,
    horizon_ms: u64,
    reached: Notify,
}

impl VirtualClock {
    /// Starts at `start` seconds since the epoch and stops `horizon` later.
    pub fn new(start: u64, horizon: Duration) -> Self {
        let start_ms = start.saturating_mul(1000);
        Self {
            now_ms: AtomicU64::new(start_ms),
            horizon_ms: start_ms.saturating_add(horizon.as_millis().try_into().unwrap_or(u64::MAX)),
            reached: Notify::new(),
        }
    }

    /// Resolves once a sleep reached the horizon.
    pub async fn reached(&self) {
        self.reached.notified().await;
    }
}

impl Clock for VirtualClock {
    fn now(&self) -> u64 {
        self.now_ms.load(Ordering::SeqCst) / 1000
    }
    fn sleep(&self, d: Duration) -> impl Future<Output = ()> + Send {
        let to = self
            .now_ms
            .load(Ordering::SeqCst)
            .saturating_add(d.as_millis().try_into().unwrap_or(u64::MAX));
        let past_horizon = to >= self.horizon_ms;
        if past_horizon {
            self.now_ms.store(self.horizon_ms, Ordering::SeqCst);
            self.reached.notify_one();
        } else {
            self.now_ms.store(to, Ordering::SeqCst);
        }
        async move {
            if past_horizon {
                std::future::pending::<()>().await;
            }
        }
    }
}

/// Keeps `output.file` fresh until the task is dropped: fetch, check, write, sleep until the refresh, repeat; on
/// failure, back off and keep the last good file. Sends the file's path on `first` once its first token is
/// written; with `once`, returns right after that. Does not watch the JWKS (see [`keep_fresh_watching`]).
pub async fn keep_fresh<S: TokenSource, C: Clock>(
    source: S,
    clock: C,
    output: Output,
    schedule: Schedule,
    first: mpsc::Sender<PathBuf>,
    once: bool,
) {
    keep_fresh_inner(
        source,
        None::<NoKeyCheck>,
        clock,
        output,
        schedule,
        first,
        once,
    )
    .await;
}

/// [`keep_fresh`], and while it waits for a refresh, checks through `keys` that the key which signed the file's
/// token is still published; when it is not, refreshes at once. Checks are spaced by the JWKS's `max-age`.
pub async fn keep_fresh_watching<S: TokenSource, K: KeySet, C: Clock>(
    source: S,
    keys: K,
    clock: C,
    output: Output,
    schedule: Schedule,
    first: mpsc::Sender<PathBuf>,
    once: bool,
) {
    keep_fresh_inner(source, Some(keys), clock, output, schedule, first, once).await;
}

/// Sleeps `wait` on `clock`, asking `keys` on the way whether `kid` is still published by `issuer`; returns early
/// (true) when it is not. `next_check` (the time left until the next question) and `interval` carry over from one
/// token to the next, so the JWKS is asked no more often than its `max-age` allows, however often tokens change.
async fn wait_watching<K: KeySet, C: Clock>(
    keys: &K,
    clock: &C,
    (kid, issuer): (&str, &str),
    wait: Duration,
    next_check: &mut Duration,
    path: &str,
) -> bool {
    let mut remaining = wait;
    loop {
        if remaining < *next_check {
            *next_check -= remaining;
            clock.sleep(remaining).await;
            return false;
        }
        clock.sleep(*next_check).await;
        remaining -= *next_check;
        match keys.published(issuer).await {
            Ok(p) => {
                *next_check = key_check_interval(Some(&p));
                if !p.kids.contains(kid) {
                    tracing::warn!(
                        path,
                        kid,
                        issuer,
                        "the key that signed the file's token left the issuer's JWKS (an emergency rotation?): \
                         fetching a new token now"
                    );
                    return true;
                }
            }
            Err(e) => {
                *next_check = key_check_interval(None);
                tracing::warn!(path, issuer, error = %e, "cannot read the issuer's JWKS; the token stays");
            }
        }
    }
}

async fn keep_fresh_inner<S: TokenSource, K: KeySet, C: Clock>(
    source: S,
    keys: Option<K>,
    clock: C,
    output: Output,
    schedule: Schedule,
    first: mpsc::Sender<PathBuf>,
    once: bool,
) {
    let path = output.file.display().to_string();
    let mut attempt: u32 = 0;
    let mut last_good_exp: Option<u64> = None;
    let mut announced = false;
    // The first check comes with the first token: it learns the JWKS's max-age, which spaces the others.
    let mut next_check = Duration::ZERO;
    loop {
        let result: Result<Token, (String, Option<u64>)> = match source.fetch(&output.request).await
        {
            Ok(token) => match output.accept(&token, clock.now()) {
                Ok(()) => output
                    .contents(&token)
                    .and_then(|bytes| {
                        iamjwt_fs::write_atomic_as(&output.file, &bytes, output.mode, output.owner)
                            .map_err(|e| Error::io(&output.file, e))
                    })
                    .map(|()| token)
                    .map_err(|e| (format!("cannot write the file: {e}"), None)),
                Err(why) => Err((format!("refused the issuer's token: {why}"), None)),
            },
            Err(e) if e.is_transient() => Err((e.to_string(), e.retry_after())),
            Err(e) => Err((
                format!(
                    "{e} (not transient: check the issuer's audience policy, the caller's identity and the request)"
                ),
                e.retry_after(),
            )),
        };
        match result {
            Ok(token) => {
                attempt = 0;
                last_good_exp = Some(token.times.expires_at);
                let wait = schedule.refresh_in(
                    token.times.issued_at,
                    token.times.expires_at,
                    clock.now(),
                    jitter(),
                );
                tracing::info!(
                    path,
                    iat = token.times.issued_at,
                    exp = token.times.expires_at,
                    next_refresh_in_s = wait.as_secs(),
                    "token written"
                );
                if !announced {
                    announced = true;
                    // The receiver is gone only when nobody waits for first tokens any more.
                    let _ = first.send(output.file.clone()).await;
                }
                if once {
                    return;
                }
                match (&keys, crate::keyset::signing_key(&token.jwt)) {
                    (Some(keys), Some((kid, issuer))) => {
                        wait_watching(keys, &clock, (&kid, &issuer), wait, &mut next_check, &path)
                            .await;
                    }
                    _ => clock.sleep(wait).await,
                }
            }
            Err((message, retry_after)) => {
                attempt = attempt.saturating_add(1);
                let wait = Schedule::backoff(attempt, retry_after, jitter());
                let kept = match last_good_exp {
                    Some(exp) if exp > clock.now() => "the file keeps the last good token",
                    Some(_) => "the file's last token has EXPIRED",
                    None => "no token written yet",
                };
                tracing::error!(
                    path,
                    attempt,
                    retry_in_ms = wait.as_millis() as u64,
                    error = message,
                    "token refresh failed; {kept}"
                );
                clock.sleep(wait).await;
            }
        }
    }
}

#[cfg(test)]
mod tests {
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
}
