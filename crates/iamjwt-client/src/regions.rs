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
            [] => return Err(usage("no issuer URL: set --url or IAMJWT_URL")),
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

/// `https://host[:port][/path]` (plain `http` only on a loopback host), no user info, query or fragment.
fn check_url(url: &str) -> Result<(), Error> {
    let bad = |why: &str| usage(format!("--url {url:?}: {why}"));
    let uri: http::Uri = url.parse().map_err(|_| bad("not a URL"))?;
    let host = uri.host().ok_or_else(|| bad("no host"))?;
    if uri.authority().is_some_and(|a| a.as_str().contains('@')) {
        return Err(bad("must not hold user info"));
    }
    if uri.query().is_some() || url.contains('#') {
        return Err(bad("must not hold a query or fragment"));
    }
    match uri.scheme_str() {
        Some("https") => Ok(()),
        Some("http") if is_loopback(host) => Ok(()),
        Some("http") => Err(bad("must use https (plain http only on loopback)")),
        _ => Err(bad("must start with https://")),
    }
}

fn is_loopback(host: &str) -> bool {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    bare == "localhost"
        || bare
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
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
    /// when each attempt ends. When every endpoint failed, the error names each.
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
                    self.answered(&endpoint);
                    return Ok((value, endpoint));
                }
                Err(e) if fails_over(&e) => {
                    tracing::warn!(region = %endpoint.region, url = %endpoint.url, "token endpoint failed: {e}");
                    self.failed(&endpoint, clock());
                    failures.push((endpoint, e));
                }
                Err(e) => {
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
mod tests {
    use super::*;
    use std::cell::RefCell;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| (*x).to_owned()).collect()
    }

    fn regions_of(e: &Endpoints) -> Vec<&str> {
        e.list().iter().map(|e| e.region.as_str()).collect()
    }

    const TEMPLATE: &str = "https://token.{region}.example.com/prod";

    #[test]
    fn a_template_gives_one_endpoint_per_region_own_region_first() {
        let e = Endpoints::parse(
            &s(&[TEMPLATE]),
            &s(&["us-east-1", "eu-west-1", "ap-southeast-2"]),
            Some("eu-west-1"),
        )
        .unwrap();
        assert_eq!(regions_of(&e), ["eu-west-1", "us-east-1", "ap-southeast-2"]);
        assert_eq!(
            e.preferred().url,
            "https://token.eu-west-1.example.com/prod"
        );
        // No own region: configured order.
        let e = Endpoints::parse(&s(&[TEMPLATE]), &s(&["us-east-1", "eu-west-1"]), None).unwrap();
        assert_eq!(regions_of(&e), ["us-east-1", "eu-west-1"]);
        // No list: the own region alone.
        let e = Endpoints::parse(&s(&[TEMPLATE]), &[], Some("us-gov-west-1")).unwrap();
        assert_eq!(
            e.list(),
            [Endpoint {
                region: Region::parse("us-gov-west-1").unwrap(),
                url: "https://token.us-gov-west-1.example.com/prod".into()
            }]
        );
        assert!(Endpoints::parse(&s(&[TEMPLATE]), &[], None).is_err());
    }

    #[test]
    fn the_own_region_never_adds_an_endpoint() {
        let e = Endpoints::parse(
            &s(&[TEMPLATE]),
            &s(&["us-east-1", "eu-west-1"]),
            Some("ap-southeast-4"),
        )
        .unwrap();
        assert_eq!(regions_of(&e), ["us-east-1", "eu-west-1"]);
        let e = Endpoints::parse(
            &s(&[
                "us-east-1=https://a.example.com",
                "eu-west-1=https://b.example.com",
            ]),
            &[],
            Some("cn-north-1"),
        )
        .unwrap();
        assert_eq!(regions_of(&e), ["us-east-1", "eu-west-1"]);
    }

    #[test]
    fn hostile_region_names_are_refused_before_substitution() {
        for bad in [
            "evil.example/x",
            "us-east-1.evil.example",
            "",
            "US-EAST-1",
            "us-east-1/../x",
            "us-east-1@evil.example",
            "us-east-1:8443",
            "us-east-1#",
        ] {
            // From the AWS config.
            let e = Endpoints::parse(&s(&[TEMPLATE]), &[], Some(bad));
            assert!(e.is_err(), "own region {bad:?} accepted: {e:?}");
            // Even when a list is given and the own region would only pick the order.
            assert!(Endpoints::parse(&s(&[TEMPLATE]), &s(&["us-east-1"]), Some(bad)).is_err());
            // From the list.
            assert!(Endpoints::parse(&s(&[TEMPLATE]), &s(&["us-east-1", bad]), None).is_err());
            // Named with a URL.
            assert!(
                Endpoints::parse(&s(&[&format!("{bad}=https://a.example.com")]), &[], None)
                    .is_err()
            );
        }
        let msg = Endpoints::parse(&s(&[TEMPLATE]), &[], Some("evil.example/x"))
            .unwrap_err()
            .to_string();
        assert!(
            msg.contains("AWS_REGION") && msg.contains("not an AWS region"),
            "{msg}"
        );
    }

    #[test]
    fn urls_name_their_region_or_take_it_from_the_host() {
        let e = Endpoints::parse(
            &s(&[
                "https://abc.execute-api.eu-west-1.amazonaws.com/prod",
                "us-east-1=https://token.example.com",
                "ap-southeast-2=https://def.execute-api.ap-southeast-2.amazonaws.com/prod",
            ]),
            &[],
            Some("us-east-1"),
        )
        .unwrap();
        assert_eq!(regions_of(&e), ["us-east-1", "eu-west-1", "ap-southeast-2"]);
        // A single plain URL is in the own region (what a one-region client always did).
        let e =
            Endpoints::parse(&s(&["https://token.example.com"]), &[], Some("eu-west-1")).unwrap();
        assert_eq!(regions_of(&e), ["eu-west-1"]);
        // Several plain URLs must say their region.
        let err = Endpoints::parse(
            &s(&["https://a.example.com", "https://b.example.com"]),
            &[],
            Some("eu-west-1"),
        )
        .unwrap_err();
        assert!(
            err.to_string().contains("REGION=https://a.example.com"),
            "{err}"
        );
        // A name that contradicts the host would sign for the wrong region.
        assert!(
            Endpoints::parse(
                &s(&["us-east-1=https://abc.execute-api.eu-west-1.amazonaws.com/prod"]),
                &[],
                None
            )
            .is_err()
        );
        // A template stands alone, and --regions is for templates only.
        assert!(
            Endpoints::parse(
                &s(&[TEMPLATE, "us-east-1=https://a.example.com"]),
                &[],
                None
            )
            .is_err()
        );
        assert!(
            Endpoints::parse(
                &s(&["us-east-1=https://a.example.com"]),
                &s(&["us-east-1"]),
                None
            )
            .is_err()
        );
        assert!(
            Endpoints::parse(
                &s(&[
                    "us-east-1=https://a.example.com",
                    "us-east-1=https://a.example.com"
                ]),
                &[],
                None
            )
            .is_err()
        );
    }

    #[test]
    fn no_set_downgrades_to_http_or_leaves_its_hosts() {
        // http only on loopback.
        for bad in [
            "http://token.{region}.example.com",
            "http://{region}.127.0.0.1.nip.io",
            "ftp://{region}.example.com",
            "token.{region}.example.com",
            "https://user@{region}.example.com",
            "https://{region}.example.com/?x=1",
            "https://{region}.example.com/#x",
            "https://{region}.example.com/{stage}",
            "{region}://example.com",
        ] {
            assert!(
                Endpoints::parse(&s(&[bad]), &s(&["us-east-1"]), None).is_err(),
                "{bad}"
            );
        }
        assert!(
            Endpoints::parse(
                &s(&["http://127.0.0.1:8080/{region}"]),
                &s(&["us-east-1"]),
                None
            )
            .is_ok()
        );
        assert!(Endpoints::parse(&s(&["us-east-1=http://[::1]:8080"]), &[], None).is_ok());
        assert!(Endpoints::parse(&s(&["us-east-1=http://localhost:8080"]), &[], None).is_ok());
        // Mixing schemes, even on loopback, is refused.
        let err = Endpoints::parse(
            &s(&[
                "us-east-1=https://127.0.0.1:8443",
                "eu-west-1=http://127.0.0.1:8080",
            ]),
            &[],
            None,
        )
        .unwrap_err();
        assert!(err.to_string().contains("downgrade"), "{err}");
        // Every URL of a template's set has the template's host, with one region label in it.
        let e = Endpoints::parse(
            &s(&[TEMPLATE]),
            &s(&["us-east-1", "eu-central-2", "il-central-1"]),
            None,
        )
        .unwrap();
        for ep in e.list() {
            let uri: http::Uri = ep.url.parse().unwrap();
            assert_eq!(
                uri.host(),
                Some(format!("token.{}.example.com", ep.region).as_str())
            );
            assert_eq!(uri.path(), "/prod");
        }
    }

    fn t(secs: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000 + secs)
    }

    fn three() -> Endpoints {
        Endpoints::parse(
            &s(&[TEMPLATE]),
            &s(&["us-east-1", "eu-west-1", "ap-southeast-2"]),
            Some("us-east-1"),
        )
        .unwrap()
    }

    fn order(f: &Failover, now: SystemTime) -> Vec<&str> {
        f.order(now).iter().map(|e| e.region.as_str()).collect()
    }

    /// A fake transport: which regions are down, what each attempt was signed for, and the time.
    struct Fake {
        down: RefCell<Vec<&'static str>>,
        status: RefCell<BTreeMap<&'static str, u16>>,
        calls: RefCell<Vec<(String, String)>>,
        now: RefCell<SystemTime>,
    }

    impl Fake {
        fn new() -> Self {
            Self {
                down: RefCell::new(Vec::new()),
                status: RefCell::new(BTreeMap::new()),
                calls: RefCell::new(Vec::new()),
                now: RefCell::new(t(0)),
            }
        }

        fn clock(&self) -> impl Fn() -> SystemTime + '_ {
            || *self.now.borrow()
        }

        /// Signs the request for the endpoint's region, as the real transport does, and "sends" it.
        async fn send(&self, ep: Endpoint) -> Result<String, Error> {
            let creds = aws_credential_types::Credentials::new("AKIDEXAMPLE", "s", None, None, "t");
            let req = signed_request(&ep, &crate::TokenRequest::new("unused"), &creds, t(0))?;
            let auth = req.headers()["authorization"].to_str().unwrap().to_owned();
            let scope = auth
                .split("Credential=")
                .nth(1)
                .unwrap()
                .split('/')
                .nth(2)
                .unwrap()
                .to_owned();
            self.calls
                .borrow_mut()
                .push((req.uri().host().unwrap().to_owned(), scope));
            let region = ep.region.as_str();
            if self.down.borrow().contains(&region) {
                // A refused connection or a connect timeout, as the HTTP client reports it.
                return Err(Error::Http(format!("{}: connection refused", ep.url)));
            }
            match self.status.borrow().get(region) {
                Some(&status) => Err(Error::Server {
                    status,
                    error: "e".into(),
                    description: String::new(),
                    retry_after: None,
                }),
                None => Ok(region.to_owned()),
            }
        }
    }

    fn call(f: &mut Failover, fake: &Fake) -> Result<String, Error> {
        futures_block_on(f.call(fake.clock(), |ep| fake.send(ep))).map(|(v, _)| v)
    }

    fn futures_block_on<F: Future>(fut: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(fut)
    }

    #[test]
    fn each_request_is_signed_for_the_region_it_goes_to() {
        let fake = Fake::new();
        let mut f = Failover::new(three());
        fake.down.borrow_mut().extend(["us-east-1", "eu-west-1"]);
        assert_eq!(call(&mut f, &fake).unwrap(), "ap-southeast-2");
        let calls = fake.calls.borrow().clone();
        assert_eq!(calls.len(), 3);
        for (host, scope) in calls {
            assert_eq!(host, format!("token.{scope}.example.com"));
        }
    }

    #[test]
    fn fails_over_on_connection_errors_and_5xx_and_stays_with_the_answer() {
        let fake = Fake::new();
        let mut f = Failover::new(three());
        assert_eq!(call(&mut f, &fake).unwrap(), "us-east-1");
        fake.down.borrow_mut().push("us-east-1");
        assert_eq!(call(&mut f, &fake).unwrap(), "eu-west-1");
        // It stays with eu-west-1: us-east-1 is not tried again during its back-off.
        fake.calls.borrow_mut().clear();
        *fake.now.borrow_mut() = t(10);
        assert_eq!(call(&mut f, &fake).unwrap(), "eu-west-1");
        assert_eq!(fake.calls.borrow().len(), 1);
        // A 5xx moves on too, and then the third region answers.
        fake.status.borrow_mut().insert("eu-west-1", 503);
        assert_eq!(call(&mut f, &fake).unwrap(), "ap-southeast-2");
        assert_eq!(f.active().region.as_str(), "ap-southeast-2");
    }

    #[test]
    fn a_4xx_is_an_answer_not_a_failover() {
        let fake = Fake::new();
        let mut f = Failover::new(three());
        fake.status.borrow_mut().insert("us-east-1", 403);
        let err = call(&mut f, &fake).unwrap_err();
        assert!(matches!(err, Error::Server { status: 403, .. }));
        assert_eq!(fake.calls.borrow().len(), 1);
        fake.status.borrow_mut().insert("us-east-1", 429);
        assert!(call(&mut f, &fake).is_err());
        assert_eq!(fake.calls.borrow().len(), 2);
        assert!(!fails_over(&Error::Credentials("none".into())));
        assert!(!fails_over(&Error::Usage("bad".into())));
        assert!(fails_over(&Error::BadToken("html".into())));
    }

    #[test]
    fn returns_to_the_preferred_region_after_its_back_off() {
        let fake = Fake::new();
        let mut f = Failover::new(three());
        fake.down.borrow_mut().push("us-east-1");
        assert_eq!(call(&mut f, &fake).unwrap(), "eu-west-1");
        assert_eq!(
            order(&f, t(29)),
            ["eu-west-1", "ap-southeast-2", "us-east-1"]
        );
        // After the back-off the preferred region is first again; still down: back-off doubles.
        assert_eq!(
            order(&f, t(30)),
            ["us-east-1", "eu-west-1", "ap-southeast-2"]
        );
        *fake.now.borrow_mut() = t(30);
        assert_eq!(call(&mut f, &fake).unwrap(), "eu-west-1");
        assert_eq!(order(&f, t(89)).first().copied(), Some("eu-west-1"));
        assert_eq!(order(&f, t(90)).first().copied(), Some("us-east-1"));
        // It is back: the next request after the back-off goes there, and stays.
        fake.down.borrow_mut().clear();
        *fake.now.borrow_mut() = t(90);
        assert_eq!(call(&mut f, &fake).unwrap(), "us-east-1");
        assert_eq!(
            order(&f, t(91)),
            ["us-east-1", "eu-west-1", "ap-southeast-2"]
        );
        // And its back-off starts from the first one again.
        fake.down.borrow_mut().push("us-east-1");
        *fake.now.borrow_mut() = t(100);
        call(&mut f, &fake).unwrap();
        assert_eq!(order(&f, t(130)).first().copied(), Some("us-east-1"));
    }

    #[test]
    fn back_off_is_capped() {
        let mut f = Failover::with_backoff(three(), Duration::from_secs(1), Duration::from_secs(4));
        let us = f.endpoints().preferred().clone();
        let mut now = t(0);
        for _ in 0..10 {
            f.failed(&us, now);
            now += Duration::from_secs(100);
        }
        f.failed(&us, t(0));
        assert_eq!(order(&f, t(3)).last().copied(), Some("us-east-1"));
        assert_eq!(order(&f, t(4)).first().copied(), Some("us-east-1"));
    }

    #[test]
    fn when_every_region_fails_each_is_tried_once_and_named() {
        let fake = Fake::new();
        let mut f = Failover::new(three());
        fake.down.borrow_mut().extend(["us-east-1", "eu-west-1"]);
        fake.status.borrow_mut().insert("ap-southeast-2", 500);
        let err = call(&mut f, &fake).unwrap_err();
        assert_eq!(fake.calls.borrow().len(), 3);
        let msg = err.to_string();
        for r in ["us-east-1", "eu-west-1", "ap-southeast-2"] {
            assert!(msg.contains(r), "{msg}");
        }
        assert!(err.is_transient());
        // All are waiting now, and are still all tried (soonest back first): the agent never gives up on a set
        // while any region might answer.
        fake.down.borrow_mut().clear();
        fake.status.borrow_mut().clear();
        *fake.now.borrow_mut() = t(1);
        assert_eq!(call(&mut f, &fake).unwrap(), "us-east-1");
    }

    #[test]
    fn memory_round_trips_and_never_adds_an_endpoint() {
        let fake = Fake::new();
        let mut f = Failover::new(three());
        fake.down.borrow_mut().push("us-east-1");
        call(&mut f, &fake).unwrap();
        let mut memory = f.memory();
        assert_eq!(
            memory.active.as_deref(),
            Some("https://token.eu-west-1.example.com/prod")
        );
        let json = serde_json::to_string(&memory).unwrap();
        let back: FailoverMemory = serde_json::from_str(&json).unwrap();
        let mut g = Failover::new(three());
        g.restore(&back);
        assert_eq!(order(&g, t(1)), order(&f, t(1)));
        // A URL that is not in the set is ignored, and an absurd back-off is capped.
        memory.active = Some("https://evil.example.com".into());
        memory
            .down
            .insert("https://evil.example.com".into(), (0, 0));
        memory.down.insert(
            "https://token.us-east-1.example.com/prod".into(),
            (crate::unix(t(0)) + 10, u64::MAX / 4),
        );
        memory.down.insert(
            "https://token.eu-west-1.example.com/prod".into(),
            (u64::MAX, 1),
        );
        let mut h = Failover::new(three());
        h.restore(&memory);
        assert!(
            h.order(t(0))
                .iter()
                .all(|e| e.url.contains(".example.com/prod"))
        );
        assert_eq!(h.order(t(0)).len(), 3);
        h.failed(&h.endpoints().preferred().clone(), t(100));
        assert_eq!(order(&h, t(100 + 300)).first().copied(), Some("us-east-1"));
    }

    /// A token endpoint on loopback answering every request with `status` (a token when 200), and recording
    /// each request's SigV4 credential-scope region.
    async fn endpoint(
        status: std::sync::Arc<std::sync::atomic::AtomicU16>,
        seen: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
    ) -> String {
        use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move {
            loop {
                let Ok((mut sock, _)) = listener.accept().await else {
                    return;
                };
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                    let n = sock.read(&mut chunk).await.unwrap_or(0);
                    if n == 0 {
                        break;
                    }
                    buf.extend_from_slice(&chunk[..n]);
                }
                let head = String::from_utf8_lossy(&buf).to_lowercase();
                let region = head
                    .split("credential=")
                    .nth(1)
                    .and_then(|c| c.split('/').nth(2))
                    .unwrap_or("")
                    .to_owned();
                seen.lock().unwrap().push(region);
                let code = status.load(std::sync::atomic::Ordering::SeqCst);
                let body = if code == 200 {
                    let now = crate::unix(SystemTime::now());
                    format!(
                        r#"{{"token":"{}"}}"#,
                        crate::jwt::tests::fake_token(now, now + 900, "")
                    )
                } else {
                    r#"{"error":"temporarily_unavailable","error_description":"down"}"#.to_owned()
                };
                let resp = format!(
                    "HTTP/1.1 {code} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = sock.write_all(resp.as_bytes()).await;
            }
        });
        url
    }

    #[tokio::test]
    async fn a_regional_client_signs_for_each_region_fails_over_on_5xx_and_comes_back() {
        use std::sync::atomic::{AtomicU16, Ordering};
        use std::sync::{Arc, Mutex};
        let (us_status, eu_status) = (Arc::new(AtomicU16::new(200)), Arc::new(AtomicU16::new(200)));
        let (us_seen, eu_seen) = (
            Arc::new(Mutex::new(Vec::new())),
            Arc::new(Mutex::new(Vec::new())),
        );
        let us = endpoint(us_status.clone(), us_seen.clone()).await;
        let eu = endpoint(eu_status.clone(), eu_seen.clone()).await;
        let endpoints = Endpoints::parse(
            &s(&[&format!("eu-west-1={eu}"), &format!("us-east-1={us}")]),
            &[],
            Some("us-east-1"),
        )
        .unwrap();
        let creds = aws_credential_types::Credentials::new("AKID", "secret", None, None, "test");
        let client = RegionalClient::new(
            crate::Client::with_credentials(creds, "us-east-1"),
            Failover::with_backoff(
                endpoints,
                Duration::from_millis(300),
                Duration::from_secs(1),
            ),
        );
        let request = crate::TokenRequest::new("ignored");

        client.fetch(&request).await.unwrap();
        assert_eq!(client.active().await.region.as_str(), "us-east-1");
        // The own region answers 503: the same call gets its token from eu-west-1, signed for eu-west-1.
        us_status.store(503, Ordering::SeqCst);
        client.fetch(&request).await.unwrap();
        assert_eq!(client.active().await.region.as_str(), "eu-west-1");
        assert_eq!(*us_seen.lock().unwrap(), ["us-east-1", "us-east-1"]);
        assert_eq!(*eu_seen.lock().unwrap(), ["eu-west-1"]);
        // Within the back-off it stays with eu-west-1 even though us-east-1 is back.
        us_status.store(200, Ordering::SeqCst);
        client.fetch(&request).await.unwrap();
        assert_eq!(us_seen.lock().unwrap().len(), 2);
        // After it, the preferred region first again.
        tokio::time::sleep(Duration::from_millis(350)).await;
        client.fetch(&request).await.unwrap();
        assert_eq!(client.active().await.region.as_str(), "us-east-1");
        assert_eq!(us_seen.lock().unwrap().len(), 3);
        // A 4xx is the answer: no failover.
        us_status.store(403, Ordering::SeqCst);
        let e = client.fetch(&request).await.unwrap_err();
        assert!(matches!(e, Error::Server { status: 403, .. }), "{e}");
        assert_eq!(eu_seen.lock().unwrap().len(), 2);
    }
}
