//! The local front door: what API Gateway and CloudFront do for us in AWS.
//!
//! `GET /token` is SigV4-verified against the local principals; the verified principal becomes the same
//! [`Caller`] the token Lambda reads from `requestContext.identity`, and the shared edge
//! ([`TokenEndpoint::respond`]) answers. `/.well-known/*` is served from the publish directory, as CloudFront serves
//! the bucket. Everything else is a JSON 404/405 from [`iamjwt_edge::oauth`].
//!
//! [`Caller`]: iamjwt_core::identity::Caller

use crate::publisher::DirPublisher;
use crate::sigv4::{RequestParts, Verifier};
use axum::Router;
use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::response::Response;
use axum::routing::get;
use http::{HeaderValue, StatusCode, header};
use iamjwt_core::discovery::{DISCOVERY_PATH, JWKS_PATH};
use iamjwt_core::{Error as CoreError, UnixTime};
use iamjwt_edge::oauth::{self, JsonResponse};
use iamjwt_edge::token::TokenEndpoint;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::SystemTime;

/// Largest request body the gateway reads (API Gateway's own limit is 10 MB; `/token` needs none).
const MAX_BODY: usize = 64 * 1024;

/// A clock, so tests can move time.
pub type Clock = Arc<dyn Fn() -> SystemTime + Send + Sync>;

pub struct Gateway {
    pub verifier: Verifier,
    pub endpoint: TokenEndpoint,
    pub public: DirPublisher,
    pub clock: Clock,
}

/// An edge response as an axum response.
fn into_axum(r: JsonResponse) -> Response {
    let (parts, body) = r.into_parts();
    Response::from_parts(parts, Body::from(body))
}

pub fn router(gw: Arc<Gateway>) -> Router {
    Router::new()
        .route("/token", get(token).fallback(method_not_allowed))
        .route(
            &format!("/{DISCOVERY_PATH}"),
            get(discovery).fallback(method_not_allowed),
        )
        .route(
            &format!("/{JWKS_PATH}"),
            get(jwks).fallback(method_not_allowed),
        )
        .fallback(not_found)
        .with_state(gw)
}

async fn not_found() -> Response {
    into_axum(oauth::not_found("only GET /token and /.well-known/* exist"))
}

async fn method_not_allowed() -> Response {
    into_axum(oauth::method_not_allowed("use GET"))
}

async fn discovery(State(gw): State<Arc<Gateway>>) -> Response {
    serve_document(&gw, DISCOVERY_PATH).await
}

async fn jwks(State(gw): State<Arc<Gateway>>) -> Response {
    serve_document(&gw, JWKS_PATH).await
}

async fn serve_document(gw: &Gateway, rel: &str) -> Response {
    match tokio::fs::read(gw.public.root().join(rel)).await {
        Ok(bytes) => {
            let mut r = Response::new(Body::from(bytes));
            r.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
            if let Ok(v) = HeaderValue::from_str(&gw.public.cache_control()) {
                r.headers_mut().insert(header::CACHE_CONTROL, v);
            }
            r
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            into_axum(oauth::not_found("not published yet: run `iamjwt rotate`"))
        }
        Err(e) => {
            tracing::error!(error = %e, document = rel, "cannot read published document");
            into_axum(oauth::error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "server_error",
                "internal error",
            ))
        }
    }
}

async fn token(State(gw): State<Arc<Gateway>>, req: Request) -> Response {
    let peer = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip().to_string());
    let (parts, body) = req.into_parts();
    let Ok(body) = axum::body::to_bytes(body, MAX_BODY).await else {
        return into_axum(oauth::error(
            StatusCode::PAYLOAD_TOO_LARGE,
            "invalid_request",
            "request body too large",
        ));
    };
    let now = UnixTime::from_system_time((gw.clock)());
    let verified = gw.verifier.verify(
        &RequestParts {
            method: parts.method.as_str(),
            path: parts.uri.path(),
            query: parts.uri.query(),
            headers: &parts.headers,
            body: &body,
        },
        now,
    );
    // A refused signature is a caller the edge refuses, exactly as the Lambda hands it an unusable request
    // context: the edge logs it and writes the one `access_denied` body.
    let caller = match verified {
        Ok(p) => p.caller(peer.as_deref()),
        Err(e) => {
            tracing::debug!(
                source_ip = peer.as_deref().unwrap_or("-"),
                "SigV4 verification failed"
            );
            Err(CoreError::AccessDenied(e.to_string()))
        }
    };
    // Decoded as API Gateway decodes it for the Lambda: repeats kept, in order.
    let query: Vec<(String, String)> =
        form_urlencoded::parse(parts.uri.query().unwrap_or("").as_bytes())
            .into_owned()
            .collect();
    let pairs = query.iter().map(|(k, v)| (k.as_str(), v.as_str()));
    into_axum(gw.endpoint.respond(caller, pairs, now).await)
}

#[cfg(test)]
mod tests;
