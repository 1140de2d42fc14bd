//! The local front door: what API Gateway does for us in AWS.
//!
//! `GET /token` is SigV4-verified against the local principals, turned into the same REST proxy event API Gateway
//! sends the Lambda (`requestContext.identity` filled from the verified principal), and answered by the same
//! [`TokenHandler`]. `/.well-known/*` is served from the publish directory, as CloudFront serves the bucket.
//! Everything else is a JSON 404/405.

use crate::principals::LocalPrincipal;
use crate::publisher::DirPublisher;
use crate::sigv4::{RequestParts, Verifier};
use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{ConnectInfo, Request, State};
use axum::response::Response;
use axum::routing::get;
use http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use iamjwt_core::UnixTime;
use iamjwt_core::discovery::{DISCOVERY_PATH, JWKS_PATH};
use iamjwt_core::identity::Principal;
use iamjwt_lambda::token::TokenHandler;
use lambda_http::aws_lambda_events::apigw::{
    ApiGatewayProxyRequest, ApiGatewayProxyRequestContext,
};
use lambda_http::aws_lambda_events::query_map::QueryMap;
use lambda_http::request::LambdaRequest;
use serde::Serialize;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::SystemTime;

/// Largest request body the gateway reads (API Gateway's own limit is 10 MB; `/token` needs none).
const MAX_BODY: usize = 64 * 1024;

/// A clock, so tests can move time.
pub type Clock = Arc<dyn Fn() -> SystemTime + Send + Sync>;

pub struct Gateway {
    pub verifier: Verifier,
    pub handler: TokenHandler,
    pub public: DirPublisher,
    pub clock: Clock,
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    error: &'a str,
    error_description: &'a str,
}

fn json_error(status: StatusCode, error: &str, description: &str) -> Response {
    let body = serde_json::to_vec(&ErrorBody {
        error,
        error_description: description,
    })
    .unwrap_or_default();
    let mut r = Response::new(Body::from(body));
    *r.status_mut() = status;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
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
    json_error(
        StatusCode::NOT_FOUND,
        "not_found",
        "only GET /token and /.well-known/* exist",
    )
}

async fn method_not_allowed() -> Response {
    let mut r = json_error(StatusCode::METHOD_NOT_ALLOWED, "invalid_request", "use GET");
    r.headers_mut()
        .insert(header::ALLOW, HeaderValue::from_static("GET"));
    r
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
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => json_error(
            StatusCode::NOT_FOUND,
            "not_found",
            "not published yet: run `iamjwt rotate`",
        ),
        Err(e) => {
            tracing::error!(error = %e, document = rel, "cannot read published document");
            json_error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "server_error",
                "internal error",
            )
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
        return json_error(
            StatusCode::PAYLOAD_TOO_LARGE,
            "invalid_request",
            "request body too large",
        );
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
    let principal = match verified {
        Ok(p) => p,
        Err(e) => {
            tracing::info!(error = %e, source_ip = peer.as_deref().unwrap_or("-"), "SigV4 verification failed");
            return json_error(StatusCode::FORBIDDEN, "access_denied", &e.to_string());
        }
    };
    let event = proxy_event(
        &parts.method,
        parts.uri.path(),
        parts.uri.query(),
        &parts.headers,
        &body,
        principal,
        peer,
    );
    let request: lambda_http::Request = LambdaRequest::ApiGatewayV1(event).into();
    into_axum(gw.handler.handle(request, now).await)
}

/// The REST API proxy event API Gateway would send for this verified request.
fn proxy_event(
    method: &Method,
    path: &str,
    query: Option<&str>,
    headers: &HeaderMap,
    body: &Bytes,
    principal: &LocalPrincipal,
    source_ip: Option<String>,
) -> ApiGatewayProxyRequest {
    let mut multi: HashMap<String, Vec<String>> = HashMap::new();
    let mut single: HashMap<String, String> = HashMap::new();
    for (k, v) in form_urlencoded::parse(query.unwrap_or("").as_bytes()) {
        multi.entry(k.to_string()).or_default().push(v.to_string());
        single.insert(k.into_owned(), v.into_owned());
    }
    // Credentials stay at the gateway, as they do in API Gateway's logs.
    let mut forwarded = headers.clone();
    forwarded.remove(header::AUTHORIZATION);
    forwarded.remove("x-amz-security-token");

    let mut ctx = ApiGatewayProxyRequestContext::default();
    ctx.stage = Some("local".into());
    ctx.resource_path = Some(path.to_owned());
    ctx.path = Some(format!("/local{path}"));
    ctx.http_method = method.clone();
    ctx.protocol = Some("HTTP/1.1".into());
    ctx.request_id = Some(request_id());
    ctx.request_time_epoch = i64::try_from(
        SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map(|d| d.as_millis())
            .unwrap_or_default(),
    )
    .unwrap_or_default();
    ctx.identity.account_id = Principal::parse(&principal.arn)
        .ok()
        .map(|p| p.account().as_str().to_owned());
    ctx.identity.caller = Some(principal.user_id.clone());
    ctx.identity.user = Some(principal.user_id.clone());
    ctx.identity.user_arn = Some(principal.arn.clone());
    ctx.identity.access_key = Some(principal.access_key_id.clone());
    ctx.identity.source_ip = source_ip;
    ctx.identity.user_agent = headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    if let Some(org) = &principal.org_id {
        ctx.identity
            .other
            .insert("principalOrgId".into(), org.clone().into());
    }

    let mut ev = ApiGatewayProxyRequest::default();
    ev.resource = Some(path.to_owned());
    ev.path = Some(path.to_owned());
    ev.http_method = method.clone();
    ev.headers = forwarded.clone();
    ev.multi_value_headers = forwarded;
    ev.query_string_parameters = QueryMap::from(single);
    ev.multi_value_query_string_parameters = QueryMap::from(multi);
    ev.request_context = ctx;
    ev.body = (!body.is_empty()).then(|| String::from_utf8_lossy(body).into_owned());
    ev
}

fn request_id() -> String {
    let mut b = [0u8; 16];
    let _ = getrandom::fill(&mut b);
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn into_axum(r: lambda_http::Response<lambda_http::Body>) -> Response {
    let (parts, body) = r.into_parts();
    let bytes: Vec<u8> = match body {
        lambda_http::Body::Empty => Vec::new(),
        lambda_http::Body::Text(s) => s.into_bytes(),
        lambda_http::Body::Binary(b) => b,
        _ => Vec::new(),
    };
    Response::from_parts(parts, Body::from(bytes))
}

#[cfg(test)]
mod tests;
