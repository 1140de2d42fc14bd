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
mod tests;
