//! SigV4 as the local gateway checks it: `parse_authorization` and `Verifier::verify`.
//!
//! Every input starts from a request that `sign_get` signed for the dev principal (fixed credentials, fixed
//! time), in header or presigned form, and applies edits to it: method, path, query, headers, body, the
//! `Authorization` value, single bytes of any of them, and the server clock. The edited request is built into
//! `RequestParts` the way the gateway does (through `http` types, so only what hyper could hand over). The empty
//! input is the signed request itself; every edit keeps the signature recomputation in reach.
//!
//! Never panics. An `Authorization` value that parses renders back to the same parts. Both ways:
//! - the signed request, edited only in ways SigV4 ignores (query order, unsigned headers), verifies while the
//!   clock is in the window;
//! - a request that verifies is the signed request up to what SigV4 leaves unsigned or canonicalises: same
//!   method, same path after dot-segment removal, the same decoded query pairs in any order (presigned: besides
//!   unsigned repeats of the signing parameters), the same values of every signed header up to space folding, the
//!   same credential, date, token and signature, an empty body (header form: or one the signed
//!   `x-amz-content-sha256` vouches for) and a clock in the window. Anything else verifying would be a forgery.
#![no_main]

use aws_credential_types::Credentials;
use http::header::AUTHORIZATION;
use http::{HeaderMap, HeaderName, HeaderValue, Method, Uri};
use iamjwt_core::UnixTime;
use iamjwt_core::request::SIGV4_QUERY_PARAMS;
use iamjwt_local::principals::{LocalPrincipal, Principals};
use iamjwt_local::sigv4::{
    MAX_SKEW_SECONDS, RequestParts, Verifier, parse_amz_date, parse_authorization, sign_get,
};
use libfuzzer_sys::arbitrary::{self, Arbitrary};
use libfuzzer_sys::fuzz_target;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

/// 2026-01-01T00:00:00Z: when the requests are signed.
const SIGNED_AT: u64 = 1_767_225_600;
const PRESIGN_SECONDS: u64 = 900;
const REGION: &str = "us-east-1";
const URL: &str =
    "http://127.0.0.1:8080/token?aud=sts.amazonaws.com&aud=api%3A%2F%2Fci&duration=900";
const DEV_ARN: &str = "arn:aws:sts::000000000000:assumed-role/iamjwt-dev/dev-session";
const EMPTY_SHA256: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
/// The latest instant `parse_amz_date` can return: 9999-12-31T23:59:60Z.
const LATEST_AMZ_DATE: u64 = 253_402_300_800;
/// Headers whose presence changes what the verifier looks at, signed or not.
const SPECIAL: [&str; 5] = [
    "host",
    "authorization",
    "x-amz-date",
    "x-amz-security-token",
    "x-amz-content-sha256",
];

#[derive(Arbitrary, Debug)]
struct Input {
    presigned: bool,
    clock: Clock,
    edits: Vec<Edit>,
}

/// The server clock relative to the signing time.
#[derive(Arbitrary, Debug)]
enum Clock {
    Near(i16),
    /// Anywhere from the epoch to the year 36812.
    Far(i64),
}

#[derive(Arbitrary, Debug)]
enum Name {
    Host,
    Authorization,
    XAmzDate,
    XAmzSecurityToken,
    XAmzContentSha256,
    Other(String),
}

#[derive(Arbitrary, Debug)]
enum Part {
    Method,
    Path,
    Query,
    Header(Name),
}

#[derive(Arbitrary, Debug)]
enum Edit {
    Method(String),
    Path(String),
    /// Replace, add or drop one raw `k=v` segment of the query.
    QuerySegment(u8, String),
    AddQuerySegment(String),
    RemoveQuerySegment(u8),
    /// Reorder the query: SigV4 sorts the pairs, so this never changes the signature.
    SwapQuerySegments(u8, u8),
    /// Replace every value of a header with this one.
    SetHeader(Name, Vec<u8>),
    AddHeader(Name, Vec<u8>),
    RemoveHeader(Name),
    Authorization(String),
    Body(Vec<u8>),
    /// Overwrite, insert or delete one byte of a part (of the first value, for a header).
    Byte(Part, u16, ByteOp),
}

#[derive(Arbitrary, Debug)]
enum ByteOp {
    Set(u8),
    Insert(u8),
    Delete,
}

impl Name {
    fn as_bytes(&self) -> &[u8] {
        match self {
            Name::Host => b"host",
            Name::Authorization => b"authorization",
            Name::XAmzDate => b"x-amz-date",
            Name::XAmzSecurityToken => b"x-amz-security-token",
            Name::XAmzContentSha256 => b"x-amz-content-sha256",
            Name::Other(n) => n.as_bytes(),
        }
    }

    /// A header the verifier never looks at (not signed, not one that switches form, date, token or payload).
    fn is_ignored(&self) -> bool {
        match self {
            Name::Other(n) => !SPECIAL.contains(&n.to_ascii_lowercase().as_str()),
            _ => false,
        }
    }
}

impl Edit {
    /// Whether SigV4 leaves the edit out of the signature, so the request must still verify.
    /// Never the body: presigned URLs sign its SHA-256 too (issue 10), like the header form.
    fn is_neutral(&self) -> bool {
        match self {
            Edit::SwapQuerySegments(..) => true,
            Edit::SetHeader(n, _) | Edit::AddHeader(n, _) | Edit::RemoveHeader(n) => n.is_ignored(),
            Edit::Byte(Part::Header(n), ..) => n.is_ignored(),
            _ => false,
        }
    }
}

/// The dev principal of `principals.rs`, with fixed credentials so runs are reproducible.
fn dev() -> LocalPrincipal {
    LocalPrincipal {
        access_key_id: "ASIAFUZZFUZZFUZZFUZZ".into(),
        secret_access_key: "fuzzSecretKey/fuzzSecretKey+fuzzSecretKe".into(),
        session_token: Some(
            "IQoJb3JpZ2luX2VjEFUZZ//////////wEaCXVzLWVhc3QtMSJHMEUCIFUZZ+fuzz/FUZZ=fuzzFUZZfuzzFUZZfuzz"
                .into(),
        ),
        arn: DEV_ARN.into(),
        user_id: "AROAFUZZFUZZFUZZFUZZF:dev-session".into(),
        org_id: None,
        tags: None,
    }
}

/// A request as raw parts, before `http` validates it.
#[derive(Clone)]
struct Draft {
    method: Vec<u8>,
    path: String,
    query: Vec<String>,
    headers: Vec<(Vec<u8>, Vec<u8>)>,
    body: Vec<u8>,
}

/// What the signer covered in one signed request, to compare accepted requests against.
struct Original {
    draft: Draft,
    authorization: Option<String>,
    /// Signed header names with their canonical values (SigV4 folds spaces).
    signed: Vec<(String, Vec<u8>)>,
    /// Decoded query pairs, sorted; presigned: without the signing parameters.
    query: Pairs,
    /// Presigned: the decoded signing parameters, sorted.
    amz: Pairs,
}

struct Harness {
    verifier: Verifier,
    header: Original,
    presigned: Original,
}

fn harness() -> &'static Harness {
    static HARNESS: OnceLock<Harness> = OnceLock::new();
    HARNESS.get_or_init(|| {
        let principal = dev();
        let credentials = Credentials::new(
            principal.access_key_id.clone(),
            principal.secret_access_key.clone(),
            principal.session_token.clone(),
            None,
            "fuzz",
        );
        let verifier = match Principals::new(vec![principal]) {
            Ok(p) => Verifier::new(Arc::new(p), REGION),
            Err(e) => panic!("dev principal: {e}"),
        };
        let Ok(uri) = URL.parse::<Uri>() else {
            panic!("{URL} is not a URI");
        };
        let time = UnixTime(SIGNED_AT).to_system_time();
        let sign = |presign: Option<u64>| {
            let presign = presign.map(Duration::from_secs);
            match sign_get(&uri, &credentials, REGION, "execute-api", time, presign) {
                Ok(req) => original(&req, presign.is_some()),
                Err(e) => panic!("sign_get: {e}"),
            }
        };
        Harness {
            verifier,
            header: sign(None),
            presigned: sign(Some(PRESIGN_SECONDS)),
        }
    })
}

fn original(req: &http::Request<()>, presigned: bool) -> Original {
    let draft = Draft {
        method: b"GET".to_vec(),
        path: req.uri().path().to_owned(),
        query: req
            .uri()
            .query()
            .map(|q| q.split('&').map(str::to_owned).collect())
            .unwrap_or_default(),
        headers: req
            .headers()
            .iter()
            .map(|(n, v)| (n.as_str().as_bytes().to_vec(), v.as_bytes().to_vec()))
            .collect(),
        body: Vec::new(),
    };
    let authorization = req
        .headers()
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let (query, amz) = split_query(req.uri().query(), presigned);
    let names: Vec<String> = match &authorization {
        Some(a) => match parse_authorization(a) {
            Ok(a) => a.signed_headers.iter().map(|s| (*s).to_owned()).collect(),
            Err(e) => panic!("sign_get wrote an Authorization we cannot parse: {e}"),
        },
        None => amz
            .iter()
            .find(|(k, _)| k == "X-Amz-SignedHeaders")
            .map(|(_, v)| v.split(';').map(str::to_owned).collect())
            .unwrap_or_default(),
    };
    assert!(names.iter().any(|n| n == "host"), "host is signed");
    let signed = names
        .into_iter()
        .map(|n| {
            let v = canonical_value(req.headers(), &n);
            (n, v)
        })
        .collect();
    Original {
        draft,
        authorization,
        signed,
        query,
        amz,
    }
}

fn apply(d: &mut Draft, edit: &Edit) {
    let pick = |len: usize, i: u8| usize::from(i) % len.max(1);
    match edit {
        Edit::Method(m) => d.method = m.as_bytes().to_vec(),
        Edit::Path(p) => d.path.clone_from(p),
        Edit::QuerySegment(i, s) => match d.query.len() {
            0 => d.query.push(s.clone()),
            n => d.query[pick(n, *i)].clone_from(s),
        },
        Edit::AddQuerySegment(s) => d.query.push(s.clone()),
        Edit::RemoveQuerySegment(i) => {
            if !d.query.is_empty() {
                d.query.remove(pick(d.query.len(), *i));
            }
        }
        Edit::SwapQuerySegments(i, j) => {
            let n = d.query.len();
            if n > 0 {
                d.query.swap(pick(n, *i), pick(n, *j));
            }
        }
        Edit::SetHeader(n, v) => {
            remove_header(d, n);
            d.headers.push((n.as_bytes().to_vec(), v.clone()));
        }
        Edit::AddHeader(n, v) => d.headers.push((n.as_bytes().to_vec(), v.clone())),
        Edit::RemoveHeader(n) => remove_header(d, n),
        Edit::Authorization(a) => {
            remove_header(d, &Name::Authorization);
            d.headers
                .push((b"authorization".to_vec(), a.as_bytes().to_vec()));
        }
        Edit::Body(b) => d.body.clone_from(b),
        Edit::Byte(part, at, op) => {
            let mut bytes = match part {
                Part::Method => std::mem::take(&mut d.method),
                Part::Path => std::mem::take(&mut d.path).into_bytes(),
                Part::Query => std::mem::take(&mut d.query).join("&").into_bytes(),
                Part::Header(n) => match d.headers.iter_mut().find(|(k, _)| k == n.as_bytes()) {
                    Some((_, v)) => std::mem::take(v),
                    None => return,
                },
            };
            let at = usize::from(*at);
            match op {
                ByteOp::Set(b) if !bytes.is_empty() => {
                    let i = at % bytes.len();
                    bytes[i] = *b;
                }
                ByteOp::Insert(b) => bytes.insert(at % (bytes.len() + 1), *b),
                ByteOp::Delete if !bytes.is_empty() => {
                    bytes.remove(at % bytes.len());
                }
                _ => {}
            }
            let text = || String::from_utf8_lossy(&bytes).into_owned();
            match part {
                Part::Method => d.method = bytes,
                Part::Path => d.path = text(),
                Part::Query => {
                    let q = text();
                    d.query = if q.is_empty() {
                        Vec::new()
                    } else {
                        q.split('&').map(str::to_owned).collect()
                    };
                }
                Part::Header(n) => {
                    if let Some((_, v)) = d.headers.iter_mut().find(|(k, _)| k == n.as_bytes()) {
                        *v = bytes;
                    }
                }
            }
        }
    }
}

fn remove_header(d: &mut Draft, n: &Name) {
    let name = n.as_bytes().to_ascii_lowercase();
    d.headers.retain(|(k, _)| k.to_ascii_lowercase() != name);
}

/// The request as hyper would deliver it, or `None` if it could not.
struct Request {
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Vec<u8>,
}

fn build(d: &Draft) -> Option<Request> {
    let mut target = d.path.clone();
    if !d.query.is_empty() {
        target.push('?');
        target.push_str(&d.query.join("&"));
    }
    let mut headers = HeaderMap::new();
    for (name, value) in &d.headers {
        headers.append(
            HeaderName::from_bytes(name).ok()?,
            HeaderValue::from_bytes(value.trim_ascii()).ok()?,
        );
    }
    Some(Request {
        method: Method::from_bytes(&d.method).ok()?,
        uri: Uri::try_from(target).ok()?,
        headers,
        body: d.body.clone(),
    })
}

/// Decoded query pairs.
type Pairs = Vec<(String, String)>;

/// Decoded pairs, sorted; presigned form separates the signing parameters, which the verifier takes apart (any
/// other `X-Amz-*` parameter is an ordinary, signed one).
fn split_query(query: Option<&str>, presigned: bool) -> (Pairs, Pairs) {
    let (mut rest, mut amz): (Vec<_>, Vec<_>) =
        form_urlencoded::parse(query.unwrap_or("").as_bytes())
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .partition(|(k, _)| !presigned || !SIGV4_QUERY_PARAMS.contains(&k.as_str()));
    rest.sort();
    amz.sort();
    (rest, amz)
}

/// All values of a header joined with `,`, then SigV4's space folding (trim, runs of spaces to one).
fn canonical_value(headers: &HeaderMap, name: &str) -> Vec<u8> {
    let joined = headers
        .get_all(name)
        .iter()
        .map(HeaderValue::as_bytes)
        .collect::<Vec<_>>()
        .join(&b","[..]);
    let mut out = Vec::with_capacity(joined.len());
    for &b in joined.iter() {
        if !(b == b' ' && out.last().is_none_or(|l| *l == b' ')) {
            out.push(b);
        }
    }
    while out.last() == Some(&b' ') {
        out.pop();
    }
    out
}

/// RFC 3986 §5.2.4 dot-segment removal plus empty-segment dropping, as aws-sigv4 normalises the path.
fn normalize_path(path: &str) -> String {
    let mut segments: Vec<&str> = Vec::new();
    for s in path.split('/') {
        match s {
            "" | "." => {}
            ".." => {
                segments.pop();
            }
            s => segments.push(s),
        }
    }
    let mut out = format!("/{}", segments.join("/"));
    if ["/", "/.", "/./", "/..", "/../"]
        .iter()
        .any(|e| path.ends_with(e))
        && !out.ends_with('/')
    {
        out.push('/');
    }
    out
}

fn in_window(presigned: bool, now: UnixTime) -> bool {
    if presigned {
        now.0 + MAX_SKEW_SECONDS >= SIGNED_AT && now.0 <= SIGNED_AT + PRESIGN_SECONDS
    } else {
        now.0.abs_diff(SIGNED_AT) <= MAX_SKEW_SECONDS
    }
}

fuzz_target!(|input: Input| {
    let h = harness();
    let original = if input.presigned {
        &h.presigned
    } else {
        &h.header
    };
    let now = match input.clock {
        Clock::Near(s) => UnixTime(SIGNED_AT.saturating_add_signed(i64::from(s))),
        Clock::Far(s) => UnixTime((i128::from(SIGNED_AT) + i128::from(s)).clamp(0, 1 << 40) as u64),
    };
    let mut draft = original.draft.clone();
    for edit in &input.edits {
        apply(&mut draft, edit);
    }
    let Some(req) = build(&draft) else {
        return;
    };
    for v in req.headers.get_all(AUTHORIZATION) {
        if let Ok(v) = v.to_str() {
            check_authorization(v);
        }
    }
    for v in req.headers.get_all("x-amz-date") {
        if let Ok(v) = v.to_str() {
            check_amz_date(v);
        }
    }
    let result = h.verifier.verify(
        &RequestParts {
            method: req.method.as_str(),
            path: req.uri.path(),
            query: req.uri.query(),
            headers: &req.headers,
            body: &req.body,
        },
        now,
    );
    if input.edits.iter().all(|e| e.is_neutral()) && in_window(input.presigned, now) {
        assert!(
            result.is_ok(),
            "rejected at {now}: {result:?} after {input:?}"
        );
    }
    if let Ok(principal) = result {
        assert_eq!(principal.arn, DEV_ARN);
        check_accepted(&req, now, h, &input);
    }
});

/// Parsed parts render back to a header that parses to the same parts.
fn check_authorization(value: &str) {
    let Ok(a) = parse_authorization(value) else {
        return;
    };
    assert!(
        !a.access_key_id.is_empty() && a.access_key_id.bytes().all(|b| b.is_ascii_alphanumeric())
    );
    assert!(a.date.len() == 8 && a.date.bytes().all(|b| b.is_ascii_digit()));
    assert!(a.signed_headers.contains(&"host"));
    assert!(
        a.signed_headers.windows(2).all(|w| w[0] < w[1]),
        "sorted and unique"
    );
    assert!(
        a.signature.len() == 64
            && a.signature
                .bytes()
                .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
    );
    let rendered = format!(
        "AWS4-HMAC-SHA256 Credential={}/{}/{}/{}/aws4_request, SignedHeaders={}, Signature={}",
        a.access_key_id,
        a.date,
        a.region,
        a.service,
        a.signed_headers.join(";"),
        a.signature
    );
    assert_eq!(parse_authorization(&rendered).ok(), Some(a), "{value:?}");
}

fn check_amz_date(value: &str) {
    if let Some(t) = parse_amz_date(value) {
        assert!(
            value.len() == 16 && t.0 <= LATEST_AMZ_DATE,
            "{value:?} → {t}"
        );
    }
}

/// A request that verified must be the signed request, up to what SigV4 does not sign or canonicalises.
fn check_accepted(req: &Request, now: UnixTime, h: &Harness, input: &Input) {
    let presigned = !req.headers.contains_key(AUTHORIZATION);
    let o = if presigned { &h.presigned } else { &h.header };
    assert_eq!(req.method, Method::GET, "{input:?}");
    assert_eq!(normalize_path(req.uri.path()), "/token", "{input:?}");
    for (name, value) in &o.signed {
        assert_eq!(
            &canonical_value(&req.headers, name),
            value,
            "signed header {name} differs after {input:?}"
        );
    }
    let (query, amz) = split_query(req.uri.query(), presigned);
    assert_eq!(query, o.query, "{input:?}");
    assert!(in_window(presigned, now), "accepted at {now}: {input:?}");
    if presigned {
        // Unsigned repeats of signing parameters are refused; the signing parameters must be the signed ones.
        let signing: Pairs = amz
            .into_iter()
            .filter(|(k, _)| o.amz.iter().any(|(ok, _)| ok == k))
            .collect();
        assert_eq!(signing, o.amz, "{input:?}");
        assert!(req.body.is_empty(), "signed empty body, got one: {input:?}");
    } else {
        let presented = req.headers.get(AUTHORIZATION).and_then(|v| v.to_str().ok());
        assert_eq!(
            presented.and_then(|a| parse_authorization(a).ok()),
            o.authorization
                .as_deref()
                .and_then(|a| parse_authorization(a).ok()),
            "{input:?}"
        );
        let claimed = req
            .headers
            .get("x-amz-content-sha256")
            .and_then(|v| v.to_str().ok());
        match claimed {
            Some(hash) => assert_eq!(hash, EMPTY_SHA256, "{input:?}"),
            None => assert!(req.body.is_empty(), "signed empty body, got one: {input:?}"),
        }
    }
}
