//! A small HTTP(S) client (hyper + rustls with ring: the same TLS stack the AWS SDK uses here).

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

    pub async fn send_body(&self, req: http::Request<Bytes>) -> Result<HttpResponse, Error> {
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
