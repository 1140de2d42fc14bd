//! One issuer, several regional token endpoints (DESIGN.md §10 "Regions"): which endpoints a client may use, in
//! which order, and when it moves between them.
//!
//! - [`Endpoints`] is the configured set: one `--url` holding `{region}` plus the regions to put into it, or one
//!   or more URLs, each with the region it is in (`REGION=URL`, or an `execute-api` host name that says it). Every
//!   region name is checked ([`Region`]) *before* it is substituted, so a hostile `AWS_REGION` cannot move a
//!   request to another host or path. The set is fixed here: failover only ever picks from it, never builds a
//!   new URL, and the whole set is one scheme (plain `http` only on loopback), so no failover downgrades to
//!   `http://`.
//! - [`Failover`] orders the set for each request: the preferred endpoint (the caller's own region, from its AWS
//!   config) first, then the one that answered last, then the rest in configured order; an endpoint that failed
//!   is tried again only after a back-off (doubling, capped), last of all while it waits. Time is a parameter.
//! - [`Failover::call`] runs one request over that order: it moves on after a connection error, a timeout
//!   ([`CONNECT_TIMEOUT`], [`REQUEST_TIMEOUT`]), a 5xx or an unusable 2xx, and stops at any other answer. The
//!   caller's closure gets the [`Endpoint`], whose region is the one to sign for: a SigV4 signature is scoped to
//!   one region, so a request is signed for the region it goes to ([`signed_request`]).

use crate::error::Error;
use iamjwt_core::region::Region;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::future::Future;
use std::time::{Duration, SystemTime};

/// Connecting to one endpoint may take this long before the next is tried.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// One request to one endpoint (connect, send, whole answer) may take this long.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a failed endpoint is skipped at first; each further failure doubles it up to [`MAX_BACKOFF`].
pub const FIRST_BACKOFF: Duration = Duration::from_secs(30);
pub const MAX_BACKOFF: Duration = Duration::from_secs(300);

/// The placeholder a `--url` template holds.
pub const PLACEHOLDER: &str = "{region}";

/// One regional token endpoint: the base URL and the region its requests are signed for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    pub region: Region,
    pub url: String,
}

/// The configured endpoints of one issuer, the preferred one first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoints {
    list: Vec<Endpoint>,
}

fn usage(msg: impl Into<String>) -> Error {
    Error::Usage(msg.into())
}

fn region(raw: &str, from: &str) -> Result<Region, Error> {
    Region::parse(raw).map_err(|e| usage(format!("{from}: {e}")))
}

impl Endpoints {
    /// The endpoint set from the `--url` values, the `--regions` list (for a template only) and the caller's own
    /// region (`own`: from `AWS_REGION`/the profile; checked here like any other region name).
    ///
    /// - one URL with `{region}`: that URL for each of `regions`, in order; with no `regions`, for `own` alone;
    /// - URLs without it: each `REGION=URL`, or a URL whose `execute-api` host name holds its region; a single URL
    ///   that says neither is in `own`'s region.
    ///
    /// The endpoints of `own`'s region come first, the others keep their order. `own` never adds an endpoint to a
    /// list of regions that does not name it.
    pub fn parse(urls: &[String], regions: &[String], own: Option<&str>) -> Result<Self, Error> {
        let own = own
            .map(|r| {
                region(
                    r,
                    "the AWS config's region (AWS_REGION or the profile's region)",
                )
            })
            .transpose()?;
        let mut list = match urls {
            [] => return Err(usage(crate::NO_ISSUER_URL)),
            [one] if one.contains(PLACEHOLDER) => from_template(one, regions, own.as_ref())?,
            _ => {
                if let Some(t) = urls.iter().find(|u| u.contains(PLACEHOLDER)) {
                    return Err(usage(format!(
                        "--url {t:?} holds {PLACEHOLDER}: give it alone (with --regions), not among other URLs"
                    )));
                }
                if !regions.is_empty() {
                    return Err(usage(
                        "--regions only applies to a --url that holds {region}; give each URL as REGION=URL instead",
                    ));
                }
                let single = urls.len() == 1;
                urls.iter()
                    .map(|u| from_url(u, single.then_some(own.as_ref()).flatten()))
                    .collect::<Result<Vec<_>, _>>()?
            }
        };
        for (i, e) in list.iter().enumerate() {
            if list[..i].contains(e) {
                return Err(usage(format!(
                    "{} ({}) is configured twice: list each region once",
                    e.url, e.region
                )));
            }
        }
        one_scheme(&list)?;
        if let Some(own) = &own {
            // Stable: the own region's endpoints first, each group in configured order.
            list.sort_by_key(|e| &e.region != own);
        }
        Ok(Self { list })
    }

    /// In the order to prefer them.
    pub fn list(&self) -> &[Endpoint] {
        &self.list
    }

    /// The endpoint to come back to.
    pub fn preferred(&self) -> &Endpoint {
        // `parse` never builds an empty set.
        &self.list[0]
    }
}

fn from_template(
    template: &str,
    regions: &[String],
    own: Option<&Region>,
) -> Result<Vec<Endpoint>, Error> {
    let rest = template.replace(PLACEHOLDER, "");
    if rest.contains(['{', '}']) {
        return Err(usage(format!(
            "--url {template:?}: the only placeholder is {PLACEHOLDER}"
        )));
    }
    let regions: Vec<Region> = if regions.is_empty() {
        vec![own.cloned().ok_or_else(|| {
            usage(format!(
                "--url {template:?} holds {PLACEHOLDER} but no region is known: set AWS_REGION or --regions"
            ))
        })?]
    } else {
        regions
            .iter()
            .map(|r| region(r, "--regions"))
            .collect::<Result<_, _>>()?
    };
    regions
        .into_iter()
        .map(|r| {
            let url = template.replace(PLACEHOLDER, r.as_str());
            check_url(&url)?;
            Ok(Endpoint { region: r, url })
        })
        .collect()
}

fn from_url(raw: &str, fallback: Option<&Region>) -> Result<Endpoint, Error> {
    // `REGION=URL`: what comes before the first '=' is a region only if it holds no scheme.
    let (named, url) = match raw.split_once('=') {
        Some((r, u)) if !r.contains("://") => (Some(region(r, &format!("--url {raw:?}"))?), u),
        _ => (None, raw),
    };
    check_url(url)?;
    let in_host = crate::region_from_url(url)
        .map(|r| region(&r, &format!("--url {url:?}")))
        .transpose()?;
    let region = match (named, in_host) {
        (Some(n), Some(h)) if n != h => {
            return Err(usage(format!(
                "--url {raw:?} names {n} but its host is in {h}: a signature for {n} would not verify there"
            )));
        }
        (Some(n), _) => n,
        (None, Some(h)) => h,
        (None, None) => fallback.cloned().ok_or_else(|| {
            usage(format!(
                "--url {url:?}: cannot tell which region it is in; write it as REGION={url}"
            ))
        })?,
    };
    Ok(Endpoint {
        region,
        url: url.to_owned(),
    })
}

/// `https://host[:port][/path]` (plain `http` only on a loopback host: [`crate::http::check_url`]), no user info,
/// query or fragment.
fn check_url(url: &str) -> Result<(), Error> {
    let bad = |why: &str| usage(format!("--url {url:?}: {why}"));
    let uri = crate::http::check_url(url).map_err(|e| usage(format!("--url {e}")))?;
    if uri.authority().is_some_and(|a| a.as_str().contains('@')) {
        return Err(bad("must not hold user info"));
    }
    if uri.query().is_some() || url.contains('#') {
        return Err(bad("must not hold a query or fragment"));
    }
    Ok(())
}

/// Failover never changes scheme: a set that mixes `https` and `http` is refused.
fn one_scheme(list: &[Endpoint]) -> Result<(), Error> {
    let https = |e: &Endpoint| e.url.starts_with("https://");
    match list.split_first() {
        Some((first, rest)) if rest.iter().any(|e| https(e) != https(first)) => Err(usage(
            "the --url values mix https and http: failover must never downgrade, use https for all",
        )),
        _ => Ok(()),
    }
}

/// Whether a failed request should move on to the next endpoint: the endpoint (or the path to it) failed, as
/// opposed to an answer that every region would give alike (4xx: denied, bad request; no credentials).
pub fn fails_over(e: &Error) -> bool {
    match e {
        // Connection refused or reset, DNS, TLS, timeout.
        Error::Http(_) => true,
        Error::Server { status, .. } => *status >= 500,
        // A 2xx that is not a token: that region is broken, not the request.
        Error::BadToken(_) => true,
        _ => false,
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Health {
    /// Skipped (tried last) until then.
    down_until: Option<SystemTime>,
    /// The next skip after a failure.
    backoff: Duration,
}

/// Which endpoint to try when, for one client (an agent keeps one for its life; a one-shot command can carry
/// it between runs with [`Failover::memory`]).
#[derive(Debug, Clone)]
pub struct Failover {
    endpoints: Endpoints,
    health: Vec<Health>,
    /// The endpoint that answered last.
    active: usize,
    first_backoff: Duration,
    max_backoff: Duration,
}

/// What [`Failover`] remembers, keyed by URL so that a changed configuration never applies it to another
/// endpoint (or adds one).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FailoverMemory {
    /// The URL that answered last.
    pub active: Option<String>,
    /// URL → (skipped until, Unix seconds; next back-off, seconds).
    pub down: BTreeMap<String, (u64, u64)>,
}

impl Failover {
    pub fn new(endpoints: Endpoints) -> Self {
        Self::with_backoff(endpoints, FIRST_BACKOFF, MAX_BACKOFF)
    }

    /// With another back-off (tests and `--failback-after`); `max` below `first` is raised to it.
    pub fn with_backoff(endpoints: Endpoints, first: Duration, max: Duration) -> Self {
        let health = vec![
            Health {
                down_until: None,
                backoff: first,
            };
            endpoints.list.len()
        ];
        Self {
            endpoints,
            health,
            active: 0,
            first_backoff: first,
            max_backoff: max.max(first),
        }
    }

    pub fn endpoints(&self) -> &Endpoints {
        &self.endpoints
    }

    /// The endpoint that answered last (the preferred one before any answer).
    pub fn active(&self) -> &Endpoint {
        &self.endpoints.list[self.active]
    }

    fn waiting(&self, i: usize, now: SystemTime) -> bool {
        self.health[i].down_until.is_some_and(|t| now < t)
    }

    /// The endpoints to try for a request at `now`, in order: the preferred one unless it is waiting out a
    /// back-off, the one that answered last, the others in configured order, and last those still waiting.
    pub fn order(&self, now: SystemTime) -> Vec<&Endpoint> {
        let n = self.endpoints.list.len();
        let mut idx: Vec<usize> = Vec::with_capacity(n);
        let push = |i: usize, idx: &mut Vec<usize>| {
            if !idx.contains(&i) {
                idx.push(i);
            }
        };
        for i in [0, self.active].into_iter().chain(0..n) {
            if !self.waiting(i, now) {
                push(i, &mut idx);
            }
        }
        let mut waiting: Vec<usize> = (0..n).filter(|i| self.waiting(*i, now)).collect();
        waiting.sort_by_key(|i| self.health[*i].down_until);
        for i in waiting {
            push(i, &mut idx);
        }
        idx.into_iter().map(|i| &self.endpoints.list[i]).collect()
    }

    fn index(&self, endpoint: &Endpoint) -> Option<usize> {
        self.endpoints.list.iter().position(|e| e == endpoint)
    }

    /// `endpoint` answered: stay with it, and forget its failures.
    pub fn answered(&mut self, endpoint: &Endpoint) {
        if let Some(i) = self.index(endpoint) {
            self.active = i;
            self.health[i] = Health {
                down_until: None,
                backoff: self.first_backoff,
            };
        }
    }

    /// `endpoint` failed at `now`: skip it for its back-off, and double the next one.
    pub fn failed(&mut self, endpoint: &Endpoint, now: SystemTime) {
        if let Some(i) = self.index(endpoint) {
            let h = &mut self.health[i];
            h.down_until = Some(now + h.backoff);
            h.backoff = (h.backoff * 2).min(self.max_backoff);
        }
    }

    /// Sends one request over [`Self::order`]: `attempt` gets each endpoint in turn (sign for its region!) until
    /// one answers. Moves on only when [`fails_over`] says so; any other error is the answer. `clock` is read
    /// when each attempt ends. The endpoints that failed before one answered are logged (a warning each); when
    /// every endpoint failed, nothing is logged and the error names each, so a command prints one line.
    pub async fn call<T, F, Fut>(
        &mut self,
        clock: impl Fn() -> SystemTime,
        mut attempt: F,
    ) -> Result<(T, Endpoint), Error>
    where
        F: FnMut(Endpoint) -> Fut,
        Fut: Future<Output = Result<T, Error>>,
    {
        let order: Vec<Endpoint> = self.order(clock()).into_iter().cloned().collect();
        let mut failures: Vec<(Endpoint, Error)> = Vec::new();
        for endpoint in order {
            match attempt(endpoint.clone()).await {
                Ok(value) => {
                    warn_failed(&failures);
                    self.answered(&endpoint);
                    return Ok((value, endpoint));
                }
                Err(e) if fails_over(&e) => {
                    self.failed(&endpoint, clock());
                    failures.push((endpoint, e));
                }
                Err(e) => {
                    warn_failed(&failures);
                    self.answered(&endpoint);
                    return Err(e);
                }
            }
        }
        Err(match failures.len() {
            1 => failures.remove(0).1,
            _ => Error::Http(format!(
                "no region answered: {}",
                failures
                    .iter()
                    .map(|(ep, e)| format!("{} ({}): {e}", ep.region, ep.url))
                    .collect::<Vec<_>>()
                    .join("; ")
            )),
        })
    }

    /// What to carry to the next run of a one-shot command.
    pub fn memory(&self) -> FailoverMemory {
        let secs = |t: SystemTime| crate::unix(t);
        FailoverMemory {
            active: Some(self.active().url.clone()),
            down: self
                .endpoints
                .list
                .iter()
                .zip(&self.health)
                .filter_map(|(e, h)| {
                    h.down_until
                        .map(|t| (e.url.clone(), (secs(t), h.backoff.as_secs())))
                })
                .collect(),
        }
    }

    /// Takes back what an earlier run remembered; URLs that are not in this set are ignored, and a back-off is
    /// never longer than this client allows.
    pub fn restore(&mut self, memory: &FailoverMemory) {
        for (i, e) in self.endpoints.list.iter().enumerate() {
            if let Some(&(until, backoff)) = memory.down.get(&e.url) {
                // A remembered time that cannot be a time means: not waiting.
                let until = SystemTime::UNIX_EPOCH.checked_add(Duration::from_secs(until));
                self.health[i] = Health {
                    down_until: until,
                    backoff: Duration::from_secs(backoff)
                        .clamp(self.first_backoff, self.max_backoff),
                };
            }
            if memory.active.as_deref() == Some(e.url.as_str()) {
                self.active = i;
            }
        }
    }
}

/// The endpoints passed over on the way to an answer.
fn warn_failed(failures: &[(Endpoint, Error)]) {
    for (endpoint, e) in failures {
        tracing::warn!(region = %endpoint.region, url = %endpoint.url, "token endpoint failed: {e}");
    }
}

/// `GET /token` at `endpoint`, signed for the endpoint's region.
pub fn signed_request(
    endpoint: &Endpoint,
    request: &crate::TokenRequest,
    credentials: &aws_credential_types::Credentials,
    now: SystemTime,
) -> Result<http::Request<()>, Error> {
    let at = crate::TokenRequest {
        url: endpoint.url.clone(),
        ..request.clone()
    };
    crate::sign_get(&at.uri()?, credentials, endpoint.region.as_str(), now)
}

/// A token client over regional endpoints: each request goes over [`Failover::call`], signed for the region of
/// the endpoint it goes to, each attempt bounded by [`REQUEST_TIMEOUT`] (the client's connections by
/// [`CONNECT_TIMEOUT`]). Keeps its [`Failover`] for its life: `iamjwt agent` stays with the region that answered
/// and comes back to the preferred one after the back-off. Clones share one [`Failover`].
#[derive(Clone)]
pub struct RegionalClient {
    client: crate::Client,
    failover: std::sync::Arc<tokio::sync::Mutex<Failover>>,
    request_timeout: Duration,
}

impl RegionalClient {
    pub fn new(client: crate::Client, failover: Failover) -> Self {
        Self {
            client,
            failover: std::sync::Arc::new(tokio::sync::Mutex::new(failover)),
            request_timeout: REQUEST_TIMEOUT,
        }
    }

    /// The endpoint that answered last.
    pub async fn active(&self) -> Endpoint {
        self.failover.lock().await.active().clone()
    }

    /// A fresh token (never the cache) from the first endpoint that answers; `request.url` is ignored.
    pub async fn fetch(&self, request: &crate::TokenRequest) -> Result<crate::Token, Error> {
        let credentials = self.client.credentials().await?;
        self.fetch_with(&credentials, request).await
    }

    async fn fetch_with(
        &self,
        credentials: &aws_credential_types::Credentials,
        request: &crate::TokenRequest,
    ) -> Result<crate::Token, Error> {
        let client = &self.client;
        let limit = self.request_timeout;
        let mut failover = self.failover.lock().await;
        let (token, endpoint) = failover
            .call(SystemTime::now, |endpoint| async move {
                let signed = signed_request(&endpoint, request, credentials, SystemTime::now())?;
                tokio::time::timeout(limit, client.send_signed(signed))
                    .await
                    .map_err(|_| {
                        Error::Http(format!(
                            "{} ({}): no answer within {} s",
                            endpoint.url,
                            endpoint.region,
                            limit.as_secs()
                        ))
                    })?
            })
            .await?;
        tracing::debug!(region = %endpoint.region, url = %endpoint.url, "token endpoint answered");
        Ok(token)
    }

    /// A token from `cache` when one is fresh (the cache entry is the preferred endpoint's, whichever region
    /// issued it: one issuer), else from the endpoints, then cached. Returns whether it came from the cache.
    pub async fn token(
        &self,
        request: &crate::TokenRequest,
        cache: Option<&crate::TokenCache>,
    ) -> Result<(crate::Token, bool), Error> {
        let credentials = self.client.credentials().await?;
        let Some(cache) = cache else {
            return Ok((self.fetch_with(&credentials, request).await?, false));
        };
        let preferred = crate::TokenRequest {
            url: self
                .failover
                .lock()
                .await
                .endpoints()
                .preferred()
                .url
                .clone(),
            ..request.clone()
        };
        let key = crate::CacheKey::new(&preferred, credentials.access_key_id());
        if let Some(t) = cache.get(&key, crate::unix(SystemTime::now())) {
            return Ok((t, true));
        }
        let token = self.fetch_with(&credentials, request).await?;
        if let Err(e) = cache.put(&key, &token) {
            tracing::warn!("token cache: {e}");
        }
        Ok((token, false))
    }
}

impl crate::agent::TokenSource for RegionalClient {
    fn fetch(
        &self,
        request: &crate::TokenRequest,
    ) -> impl Future<Output = Result<crate::Token, Error>> + Send {
        RegionalClient::fetch(self, request)
    }
}

#[cfg(test)]
mod tests;
