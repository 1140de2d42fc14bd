//! A counting proxy on loopback in front of moto: a process under measurement gets `AWS_ENDPOINT_URL` pointing
//! here, every request it sends is forwarded unchanged and logged with its operation (`X-Amz-Target`, e.g.
//! `TrentService.Sign`) and the moment it arrived. Counts what the process really put on the wire, whatever SDK
//! or client built the request.
//!
//! It also plays a regional outage: [`CountingProxy::fail_region`] makes it answer `503` to every request whose
//! SigV4 credential scope names that region (the region a request is for, whichever endpoint it is sent to).

use crate::Error;
use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderName, StatusCode, Uri};
use axum::response::Response;
use http_body_util::{BodyExt as _, Full};
use hyper::body::Bytes;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use std::collections::BTreeSet;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

/// One request seen by the proxy.
#[derive(Debug, Clone)]
pub struct Call {
    pub at: Instant,
    /// `X-Amz-Target` without the service prefix (`Sign`, `GetPublicKey`), else `METHOD /path`.
    pub operation: String,
    /// The region of the request's SigV4 credential scope, if it is signed.
    pub region: Option<String>,
    /// Answered `503` by a simulated outage of that region, never forwarded.
    pub failed: bool,
}

struct Upstream {
    authority: String,
    client: Client<HttpConnector, Full<Bytes>>,
    log: Arc<Mutex<Vec<Call>>>,
    down: Arc<Mutex<BTreeSet<String>>>,
}

pub struct CountingProxy {
    /// `http://127.0.0.1:<port>`.
    pub endpoint: String,
    log: Arc<Mutex<Vec<Call>>>,
    down: Arc<Mutex<BTreeSet<String>>>,
    server: tokio::task::JoinHandle<()>,
}

const TARGET: HeaderName = HeaderName::from_static("x-amz-target");

fn operation(req: &Request) -> String {
    match req.headers().get(TARGET).and_then(|v| v.to_str().ok()) {
        Some(t) => t.rsplit('.').next().unwrap_or(t).to_owned(),
        None => format!("{} {}", req.method(), req.uri().path()),
    }
}

/// `Credential=AKID/DATE/REGION/SERVICE/aws4_request` from the `Authorization` header (how the SDKs sign).
fn scope_region(req: &Request) -> Option<String> {
    let auth = req
        .headers()
        .get(axum::http::header::AUTHORIZATION)?
        .to_str()
        .ok()?;
    let (_, credential) = auth.split_once("Credential=")?;
    credential.split('/').nth(2).map(str::to_owned)
}

async fn forward(State(up): State<Arc<Upstream>>, req: Request) -> Response {
    let region = scope_region(&req);
    let failed = region.as_ref().is_some_and(|r| {
        up.down
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .contains(r)
    });
    let call = Call {
        at: Instant::now(),
        operation: operation(&req),
        region,
        failed,
    };
    up.log
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .push(call);
    if failed {
        let mut resp = Response::new(Body::from(
            r#"{"__type":"ServiceUnavailableException","message":"counting proxy: simulated regional outage"}"#,
        ));
        *resp.status_mut() = StatusCode::SERVICE_UNAVAILABLE;
        return resp;
    }
    match relay(&up, req).await {
        Ok(resp) => resp,
        Err(e) => {
            let mut resp = Response::new(Body::from(format!("counting proxy: {e}")));
            *resp.status_mut() = StatusCode::BAD_GATEWAY;
            resp
        }
    }
}

async fn relay(up: &Upstream, req: Request) -> Result<Response, String> {
    let (mut parts, body) = req.into_parts();
    let body = body.collect().await.map_err(|e| e.to_string())?.to_bytes();
    let path = parts
        .uri
        .path_and_query()
        .map_or("/", |p| p.as_str())
        .to_owned();
    parts.uri = Uri::builder()
        .scheme("http")
        .authority(up.authority.as_str())
        .path_and_query(path)
        .build()
        .map_err(|e| e.to_string())?;
    let resp = up
        .client
        .request(hyper::Request::from_parts(parts, Full::new(body)))
        .await
        .map_err(|e| e.to_string())?;
    let (parts, body) = resp.into_parts();
    let body = body.collect().await.map_err(|e| e.to_string())?.to_bytes();
    Ok(Response::from_parts(parts, Body::from(body)))
}

impl CountingProxy {
    /// Listens on a free loopback port and forwards to `upstream` (`http://127.0.0.1:<port>`).
    pub async fn start(upstream: &str) -> Result<Self, Error> {
        let authority = upstream
            .strip_prefix("http://")
            .filter(|a| a.starts_with("127.0.0.1:"))
            .ok_or_else(|| Error::Setup(format!("{upstream}: not a loopback http:// endpoint")))?
            .to_owned();
        let log = Arc::new(Mutex::new(Vec::new()));
        let down = Arc::new(Mutex::new(BTreeSet::new()));
        let up = Arc::new(Upstream {
            authority,
            client: Client::builder(TokioExecutor::new()).build(HttpConnector::new()),
            log: log.clone(),
            down: down.clone(),
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(|e| Error::Setup(format!("counting proxy: {e}")))?;
        let addr = listener
            .local_addr()
            .map_err(|e| Error::Setup(e.to_string()))?;
        let app = Router::new().fallback(forward).with_state(up);
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(Self {
            endpoint: format!("http://{addr}"),
            log,
            down,
            server,
        })
    }

    /// Starts (`true`) or ends a simulated outage of `region`: requests signed for it are answered `503`.
    pub fn fail_region(&self, region: &str, down: bool) {
        let mut set = self.down.lock().unwrap_or_else(PoisonError::into_inner);
        if down {
            set.insert(region.to_owned());
        } else {
            set.remove(region);
        }
    }

    /// Every request so far, oldest first; the log is emptied.
    pub fn take(&self) -> Vec<Call> {
        std::mem::take(&mut *self.log.lock().unwrap_or_else(PoisonError::into_inner))
    }
}

impl Drop for CountingProxy {
    fn drop(&mut self) {
        self.server.abort();
    }
}
