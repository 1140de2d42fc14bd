//! A small HTTP(S) client (hyper + rustls with ring: the same TLS stack the AWS SDK uses here).
//!
//! It is also where the client decides which URLs it may talk to at all ([`check_url`], DESIGN §10 "Trust of the
//! client"): `https://`, or plain `http://` to a loopback host only. Every request this crate sends to an issuer or
//! to the federation endpoint goes through [`HttpClient`], which refuses any other URL before it connects; commands
//! call [`check_url`] at start too, so that a bad URL fails before any other request (credentials, STS).

use crate::error::Error;
use http_body_util::{BodyExt as _, Full, Limited};
use hyper::body::Bytes;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

/// Responses larger than this are refused (JWKS and tokens are a few KiB).
const MAX_RESPONSE: usize = 1024 * 1024;
const TIMEOUT: Duration = Duration::from_secs(15);

type Inner = Client<hyper_rustls::HttpsConnector<HttpConnector>, Full<Bytes>>;

/// Built on first use: loading the system's CA certificates costs milliseconds that a command answered from the
/// token cache should not pay.
#[derive(Clone, Default)]
pub struct HttpClient {
    inner: Arc<OnceLock<Inner>>,
    /// Connecting may take this long (`None`: the system's limit).
    connect_timeout: Option<Duration>,
}

impl std::fmt::Debug for HttpClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("HttpClient")
    }
}

#[derive(Debug)]
pub struct HttpResponse {
    pub status: http::StatusCode,
    pub headers: http::HeaderMap,
    pub body: Bytes,
}

impl HttpClient {
    /// Nothing is loaded until the first request (see the type's docs), so this cannot fail.
    pub fn new() -> Self {
        Self::default()
    }

    /// A client that gives up connecting after `timeout` (a token endpoint with others to fail over to).
    pub fn with_connect_timeout(timeout: Duration) -> Self {
        Self {
            connect_timeout: Some(timeout),
            ..Self::default()
        }
    }

    fn inner(&self) -> Result<&Inner, Error> {
        if let Some(c) = self.inner.get() {
            return Ok(c);
        }
        let mut http = HttpConnector::new();
        http.enforce_http(false);
        http.set_connect_timeout(self.connect_timeout);
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_native_roots()
            .map_err(|e| Error::Http(format!("cannot load the system's CA certificates: {e}")))?
            .https_or_http()
            .enable_http1()
            .wrap_connector(http);
        // Two first uses at once both build; one wins, the other's is dropped.
        Ok(self
            .inner
            .get_or_init(|| Client::builder(TokioExecutor::new()).build(https)))
    }

    /// Sends a request with an empty body.
    pub async fn send(&self, req: http::Request<()>) -> Result<HttpResponse, Error> {
        let (parts, ()) = req.into_parts();
        self.send_body(http::Request::from_parts(parts, Bytes::new()))
            .await
    }

    /// Sends a request; refuses a URL that [`check_url`] refuses, before connecting.
    pub async fn send_body(&self, req: http::Request<Bytes>) -> Result<HttpResponse, Error> {
        check_uri(req.uri())?;
        let what = format!("{} {}", req.method(), redact(req.uri()));
        let (parts, body) = req.into_parts();
        let req = http::Request::from_parts(parts, Full::new(body));
        let resp = tokio::time::timeout(TIMEOUT, self.inner()?.request(req))
            .await
            .map_err(|_| Error::Http(format!("{what}: timed out after {}s", TIMEOUT.as_secs())))?
            .map_err(|e| Error::Http(format!("{what}: {}", chain(&e))))?;
        let status = resp.status();
        let headers = resp.headers().clone();
        let body = Limited::new(resp.into_body(), MAX_RESPONSE)
            .collect()
            .await
            .map_err(|e| Error::Http(format!("{what}: reading the response: {e}")))?
            .to_bytes();
        Ok(HttpResponse {
            status,
            headers,
            body,
        })
    }

    /// `GET url` with `Accept: application/json`.
    pub async fn get(&self, url: &str) -> Result<HttpResponse, Error> {
        let uri: http::Uri = url
            .parse()
            .map_err(|e| Error::Usage(format!("invalid URL {url:?}: {e}")))?;
        let host = uri
            .authority()
            .map(|a| a.to_string())
            .ok_or_else(|| Error::Usage(format!("invalid URL {url:?}: no host")))?;
        let req = http::Request::get(uri)
            .header(http::header::HOST, host)
            .header(http::header::ACCEPT, "application/json")
            .body(())
            .map_err(|e| Error::Usage(format!("invalid URL {url:?}: {e}")))?;
        self.send(req).await
    }
}

/// Whether `host` (as a URI holds it: IPv6 in brackets) is loopback: `localhost`, 127.0.0.0/8 or `::1`.
pub fn is_loopback(host: &str) -> bool {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    bare.eq_ignore_ascii_case("localhost")
        || bare
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// The one rule for every URL the client fetches from (issuer, token endpoint, discovery, JWKS, federation
/// endpoint): `https://`, or `http://` to a loopback host only. A token, a role's credentials or a sign-in token
/// sent in clear text can be read and replayed by anyone on the path, and an answer received in clear text (a
/// token, a JWKS) can be forged. Returns the parsed URI.
pub fn check_url(url: &str) -> Result<http::Uri, Error> {
    let uri: http::Uri = url.parse().map_err(|e| {
        Error::Usage(format!(
            "invalid URL {url:?}: {e} (expected https://host/…)"
        ))
    })?;
    check_uri(&uri)?;
    Ok(uri)
}

/// [`check_url`] on a parsed URI.
pub fn check_uri(uri: &http::Uri) -> Result<(), Error> {
    let Some(host) = uri.host().filter(|h| !h.is_empty()) else {
        return Err(Error::Usage(format!(
            "invalid URL {:?}: no host (expected https://host/…)",
            redact(uri)
        )));
    };
    match uri.scheme_str() {
        Some("https") => Ok(()),
        Some("http") if is_loopback(host) => Ok(()),
        Some("http") => Err(Error::Usage(format!(
            "{} uses plain http to a host that is not loopback: use https:// (http:// only for 127.0.0.0/8, ::1 \
             or localhost)",
            redact(uri)
        ))),
        _ => Err(Error::Usage(format!(
            "invalid URL {:?}: use https:// (http:// only for 127.0.0.0/8, ::1 or localhost)",
            redact(uri)
        ))),
    }
}

/// The URL without its query (which may carry credentials, e.g. the federation endpoint's `Session`).
fn redact(uri: &http::Uri) -> String {
    match (uri.scheme_str(), uri.authority()) {
        (Some(s), Some(a)) => format!("{s}://{a}{}", uri.path()),
        _ => uri.path().to_owned(),
    }
}

/// An error and its sources in one line, each message once: "error sending request" (or the SDK's "dispatch
/// failure") alone hides the cause (connection refused, DNS…), and the SDK's `DisplayErrorContext` ends in a Debug
/// dump nobody should read.
pub fn chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        let m = c.to_string();
        if !m.is_empty() && !s.contains(&m) {
            s.push_str(": ");
            s.push_str(&m);
        }
        cur = c.source();
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Issue 19 §6: an attacker on the path reads a token (or a role's credentials in the federation endpoint's
    /// query) sent over plain http, and forges what comes back. 192.0.2.1 (TEST-NET-1) is not loopback: a client
    /// that tried would fail with a transport error (or a timeout); it must refuse before connecting.
    #[tokio::test]
    async fn plain_http_off_loopback_is_refused_before_connecting() {
        let http = HttpClient::new();
        for url in [
            "http://192.0.2.1:9/.well-known/openid-configuration",
            "http://issuer.example.com/token",
            "http://[2001:db8::1]/federation?Action=getSigninToken&Session=secret",
            "http://localhost.example.com/",
            "http://127.0.0.1.example.com/",
        ] {
            let started = std::time::Instant::now();
            let e = http.get(url).await.unwrap_err();
            assert!(matches!(e, Error::Usage(_)), "{url}: {e:?}");
            let m = e.to_string();
            assert!(m.contains("use https://") && !m.contains('\n'), "{m}");
            assert!(
                !m.contains("secret"),
                "the query (credentials) stays out: {m}"
            );
            assert!(
                started.elapsed() < Duration::from_secs(1),
                "{url}: no connection attempt"
            );
        }
        assert!(matches!(
            http.get("ftp://127.0.0.1/").await.unwrap_err(),
            Error::Usage(_)
        ));
    }

    #[test]
    fn https_anywhere_http_on_loopback_only() {
        for ok in [
            "https://issuer.example.com",
            "http://127.0.0.1:8080/token",
            "http://127.1.2.3/",
            "http://[::1]:8080/",
            "http://localhost:8080",
            "http://LOCALHOST/",
        ] {
            check_url(ok).unwrap_or_else(|e| panic!("{ok}: {e}"));
        }
        for bad in [
            "http://10.0.0.1/",
            "http://[::2]/",
            "http://0.0.0.0:8080/",
            "http://169.254.169.254/",
            "127.0.0.1:8080",
            "https:///x",
        ] {
            assert!(check_url(bad).is_err(), "{bad}");
        }
    }
}
