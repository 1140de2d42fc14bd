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
            Endpoints::parse(&s(&[&format!("{bad}=https://a.example.com")]), &[], None).is_err()
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
    let e = Endpoints::parse(&s(&["https://token.example.com"]), &[], Some("eu-west-1")).unwrap();
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

/// What a loopback token endpoint saw of one request: its path and its SigV4 credential-scope region.
type Seen = std::sync::Arc<std::sync::Mutex<Vec<(String, String)>>>;

/// A token endpoint on loopback answering each request with the status `status` gives for its path (a token when
/// 200), and recording each request's path and SigV4 credential-scope region.
async fn endpoint(status: impl Fn(&str) -> u16 + Send + 'static, seen: Seen) -> String {
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
            let head = String::from_utf8_lossy(&buf).into_owned();
            let path = head
                .split_whitespace()
                .nth(1)
                .and_then(|t| t.split('?').next())
                .unwrap_or("")
                .to_owned();
            let region = head
                .to_lowercase()
                .split("credential=")
                .nth(1)
                .and_then(|c| c.split('/').nth(2))
                .unwrap_or("")
                .to_owned();
            let code = status(&path);
            seen.lock().unwrap().push((path, region));
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

/// A [`RegionalClient`] over `endpoints` with test credentials and a 300 ms back-off (doubling up to 1 s).
fn regional_client(endpoints: Endpoints) -> RegionalClient {
    let creds = aws_credential_types::Credentials::new("AKID", "secret", None, None, "test");
    RegionalClient::new(
        crate::Client::with_credentials(creds, "us-east-1"),
        Failover::with_backoff(
            endpoints,
            Duration::from_millis(300),
            Duration::from_secs(1),
        ),
    )
}

/// The regions of the requests `seen` recorded.
fn scopes(seen: &Seen) -> Vec<String> {
    seen.lock()
        .unwrap()
        .iter()
        .map(|(_, r)| r.clone())
        .collect()
}

#[tokio::test]
async fn a_regional_client_signs_for_each_region_fails_over_on_5xx_and_comes_back() {
    use std::sync::atomic::{AtomicU16, Ordering};
    use std::sync::{Arc, Mutex};
    let (us_status, eu_status) = (Arc::new(AtomicU16::new(200)), Arc::new(AtomicU16::new(200)));
    let (us_seen, eu_seen): (Seen, Seen) = (
        Arc::new(Mutex::new(Vec::new())),
        Arc::new(Mutex::new(Vec::new())),
    );
    let answer = |status: &Arc<AtomicU16>| {
        let status = status.clone();
        move |_: &str| status.load(Ordering::SeqCst)
    };
    let us = endpoint(answer(&us_status), us_seen.clone()).await;
    let eu = endpoint(answer(&eu_status), eu_seen.clone()).await;
    let endpoints = Endpoints::parse(
        &s(&[&format!("eu-west-1={eu}"), &format!("us-east-1={us}")]),
        &[],
        Some("us-east-1"),
    )
    .unwrap();
    let client = regional_client(endpoints);
    let request = crate::TokenRequest::new("ignored");

    client.fetch(&request).await.unwrap();
    assert_eq!(client.active().await.region.as_str(), "us-east-1");
    // The own region answers 503: the same call gets its token from eu-west-1, signed for eu-west-1.
    us_status.store(503, Ordering::SeqCst);
    client.fetch(&request).await.unwrap();
    assert_eq!(client.active().await.region.as_str(), "eu-west-1");
    assert_eq!(scopes(&us_seen), ["us-east-1", "us-east-1"]);
    assert_eq!(scopes(&eu_seen), ["eu-west-1"]);
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

/// `--url` holding `{region}` through [`RegionalClient`]: each region's request goes to the URL with that region
/// put in (here in the path, the one place two loopback front doors on one listener can differ), signed for that
/// region; a region that fails is passed over in the same call and tried first again after its back-off.
#[tokio::test]
async fn a_template_routes_each_region_to_its_url_signed_for_it() {
    use std::sync::atomic::{AtomicU16, Ordering};
    use std::sync::{Arc, Mutex};
    let us_status = Arc::new(AtomicU16::new(200));
    let seen: Seen = Arc::new(Mutex::new(Vec::new()));
    let status = us_status.clone();
    let base = endpoint(
        move |path: &str| match path {
            "/us-east-1/token" => status.load(Ordering::SeqCst),
            "/eu-west-1/token" => 200,
            _ => 404,
        },
        seen.clone(),
    )
    .await;
    let endpoints = Endpoints::parse(
        &s(&[&format!("{base}/{{region}}")]),
        &s(&["eu-west-1", "us-east-1"]),
        Some("us-east-1"),
    )
    .unwrap();
    let client = regional_client(endpoints);
    let request = crate::TokenRequest::new("ignored");
    let seen_as = |path: &str, region: &str| (format!("/{path}/token"), region.to_owned());

    client.fetch(&request).await.unwrap();
    us_status.store(503, Ordering::SeqCst);
    client.fetch(&request).await.unwrap();
    assert_eq!(client.active().await.region.as_str(), "eu-west-1");
    us_status.store(200, Ordering::SeqCst);
    client.fetch(&request).await.unwrap();
    tokio::time::sleep(Duration::from_millis(350)).await;
    client.fetch(&request).await.unwrap();
    assert_eq!(client.active().await.region.as_str(), "us-east-1");
    assert_eq!(
        *seen.lock().unwrap(),
        [
            seen_as("us-east-1", "us-east-1"),
            seen_as("us-east-1", "us-east-1"),
            seen_as("eu-west-1", "eu-west-1"),
            seen_as("eu-west-1", "eu-west-1"),
            seen_as("us-east-1", "us-east-1"),
        ]
    );
}
