//! A small HTTP(S) client (hyper + rustls with ring: the same TLS stack the AWS SDK uses here).

use crate::error::Error;
use http_body_util::{BodyExt as _, Empty, Limited};
use hyper::body::Bytes;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use std::time::Duration;

/// Responses larger than this are refused (JWKS and tokens are a few KiB).
const MAX_RESPONSE: usize = 1024 * 1024;
const TIMEOUT: Duration = Duration::from_secs(15);

pub struct HttpClient {
    inner: Client<hyper_rustls::HttpsConnector<HttpConnector>, Empty<Bytes>>,
}

pub struct HttpResponse {
    pub status: http::StatusCode,
    pub body: Bytes,
}

impl HttpClient {
    pub fn new() -> Result<Self, Error> {
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_native_roots()
            .map_err(|e| Error::Http(format!("cannot load the system's CA certificates: {e}")))?
            .https_or_http()
            .enable_http1()
            .build();
        Ok(Self {
            inner: Client::builder(TokioExecutor::new()).build(https),
        })
    }

    pub async fn send(&self, req: http::Request<()>) -> Result<HttpResponse, Error> {
        let uri = req.uri().clone();
        let (parts, ()) = req.into_parts();
        let req = http::Request::from_parts(parts, Empty::new());
        let resp = tokio::time::timeout(TIMEOUT, self.inner.request(req))
            .await
            .map_err(|_| Error::Http(format!("GET {uri}: timed out after {}s", TIMEOUT.as_secs())))?
            .map_err(|e| Error::Http(format!("GET {uri}: {e}")))?;
        let status = resp.status();
        let body = Limited::new(resp.into_body(), MAX_RESPONSE)
            .collect()
            .await
            .map_err(|e| Error::Http(format!("GET {uri}: reading the response: {e}")))?
            .to_bytes();
        Ok(HttpResponse { status, body })
    }

    pub async fn get(&self, url: &str) -> Result<HttpResponse, Error> {
        let uri: http::Uri = url
            .parse()
            .map_err(|e| Error::Usage(format!("invalid URL {url:?}: {e}")))?;
        let host = uri.authority().map(|a| a.to_string()).unwrap_or_default();
        let req = http::Request::get(uri)
            .header(http::header::HOST, host)
            .header(http::header::ACCEPT, "application/json")
            .body(())
            .map_err(|e| Error::Usage(format!("invalid URL {url:?}: {e}")))?;
        self.send(req).await
    }
}
