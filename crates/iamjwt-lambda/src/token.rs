//! `GET /token` over an API Gateway REST (v1) proxy request.
//!
//! The caller's identity is read only from `requestContext.identity`, which API Gateway fills after verifying
//! SigV4; headers and the query never name the caller. Errors become OAuth-style JSON with a safe description;
//! the detail of a 500 goes to the log only. Never logs a token.

use http::{HeaderValue, Method, StatusCode, header};
use iamjwt_core::claims::Jti;
use iamjwt_core::identity::{Caller, CallerFields};
use iamjwt_core::issuer::{Issued, Issuer};
use iamjwt_core::request::TokenRequest;
use iamjwt_core::{Error as CoreError, PortErrorKind, UnixTime};
use lambda_http::request::RequestContext;
use lambda_http::{Body, Request, RequestExt, Response};
use serde::Serialize;

/// Successful response (RFC 8693 §2.2.1, plus `token` for aws-jwt-sts clients).
#[derive(Serialize)]
struct TokenResponse<'a> {
    token: &'a str,
    access_token: &'a str,
    issued_token_type: &'static str,
    token_type: &'static str,
    expires_in: u64,
}

/// Error response (RFC 6749 §5.2 style).
#[derive(Serialize)]
struct ErrorResponse<'a> {
    error: &'static str,
    error_description: &'a str,
}

/// Seconds a throttled caller is asked to wait.
const RETRY_AFTER_SECONDS: &str = "1";

/// Handles token requests. Clone is cheap.
#[derive(Clone)]
pub struct TokenHandler {
    issuer: Issuer,
}

impl TokenHandler {
    pub fn new(issuer: Issuer) -> Self {
        Self { issuer }
    }

    /// Routes and answers one request. `now` is the wall clock, passed in.
    pub async fn handle(&self, req: Request, now: UnixTime) -> Response<Body> {
        if !is_token_path(&req) {
            return error(StatusCode::NOT_FOUND, "not_found", "only GET /token exists");
        }
        if req.method() != Method::GET {
            let mut r = error(
                StatusCode::METHOD_NOT_ALLOWED,
                "invalid_request",
                "use GET /token",
            );
            r.headers_mut()
                .insert(header::ALLOW, HeaderValue::from_static("GET"));
            return r;
        }
        match self.issue(&req, now).await {
            Ok(issued) => {
                audit(&issued, &req);
                ok(&issued)
            }
            Err(e) => error_response(&e),
        }
    }

    async fn issue(&self, req: &Request, now: UnixTime) -> Result<Issued, CoreError> {
        let caller = caller(req)?;
        let token_request = match req.query_string_parameters_ref() {
            Some(q) => TokenRequest::from_pairs(q.iter())?,
            None => TokenRequest::default(),
        };
        let mut random = [0u8; 16];
        getrandom::fill(&mut random)
            .map_err(|e| CoreError::KeyMaterial(format!("no randomness for jti: {e}")))?;
        let issued = self
            .issuer
            .issue(&caller, token_request, now, Jti::from_random(random))
            .await;
        if let Err(e) = &issued {
            log_failure(e, &caller);
        }
        issued
    }
}

/// `/token` as the resource path (REST API), or the raw path without the stage.
fn is_token_path(req: &Request) -> bool {
    let resource = match req.request_context_ref() {
        Some(RequestContext::ApiGatewayV1(ctx)) => ctx.resource_path.as_deref(),
        _ => None,
    };
    let path = resource.unwrap_or_else(|| req.raw_http_path());
    let path = if path.is_empty() {
        req.uri().path()
    } else {
        path
    };
    path == "/token"
}

/// The verified caller from `requestContext.identity`.
fn caller(req: &Request) -> Result<Caller, CoreError> {
    let Some(RequestContext::ApiGatewayV1(ctx)) = req.request_context_ref() else {
        return Err(CoreError::AccessDenied(
            "no API Gateway request context: is AWS_IAM auth on?".into(),
        ));
    };
    let id = &ctx.identity;
    let org = id.other.get("principalOrgId").and_then(|v| v.as_str());
    Caller::from_fields(&CallerFields {
        user_arn: id.user_arn.as_deref(),
        account_id: id.account_id.as_deref(),
        user: id.user.as_deref(),
        principal_org_id: org,
        source_ip: id.source_ip.as_deref(),
    })
}

fn json_response(status: StatusCode, body: Vec<u8>) -> Response<Body> {
    let mut r = Response::new(Body::Binary(body));
    *r.status_mut() = status;
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    r
}

fn ok(issued: &Issued) -> Response<Body> {
    let body = serde_json::to_vec(&TokenResponse {
        token: &issued.token,
        access_token: &issued.token,
        issued_token_type: "urn:ietf:params:oauth:token-type:jwt",
        token_type: "N_A",
        expires_in: issued.expires_in,
    })
    .unwrap_or_default();
    json_response(StatusCode::OK, body)
}

fn error(status: StatusCode, code: &'static str, description: &str) -> Response<Body> {
    let body = serde_json::to_vec(&ErrorResponse {
        error: code,
        error_description: description,
    })
    .unwrap_or_default();
    json_response(status, body)
}

/// Maps a domain error to its HTTP form (DESIGN.md §1 error table).
pub fn error_response(e: &CoreError) -> Response<Body> {
    match e {
        CoreError::InvalidRequest(m) => error(StatusCode::BAD_REQUEST, "invalid_request", m),
        CoreError::TokenTooLarge { .. } => {
            error(StatusCode::BAD_REQUEST, "invalid_request", &e.to_string())
        }
        CoreError::InvalidTarget(m) => error(StatusCode::BAD_REQUEST, "invalid_target", m),
        CoreError::AccessDenied(m) => error(StatusCode::FORBIDDEN, "access_denied", m),
        CoreError::Port(p) if p.kind == PortErrorKind::Throttled => {
            let mut r = error(
                StatusCode::SERVICE_UNAVAILABLE,
                "temporarily_unavailable",
                "the signing service is busy; retry shortly",
            );
            r.headers_mut().insert(
                header::RETRY_AFTER,
                HeaderValue::from_static(RETRY_AFTER_SECONDS),
            );
            r
        }
        _ => error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "server_error",
            "internal error; see the issuer's logs",
        ),
    }
}

fn log_failure(e: &CoreError, caller: &Caller) {
    let sub = caller.principal.sub();
    match e {
        CoreError::Port(p) if p.kind == PortErrorKind::Disabled => {
            tracing::error!(alarm = true, %sub, error = %e, "signing key disabled or pending deletion");
        }
        CoreError::Port(_) | CoreError::KeyMaterial(_) | CoreError::InconsistentState(_) => {
            tracing::error!(%sub, error = %e, "token issuance failed");
        }
        _ => tracing::info!(%sub, error = %e, "token request refused"),
    }
}

/// One audit event per issued token: who, for whom, with which key, until when. Never the token.
fn audit(issued: &Issued, req: &Request) {
    let source_ip = match req.request_context_ref() {
        Some(RequestContext::ApiGatewayV1(ctx)) => ctx.identity.source_ip.as_deref(),
        _ => None,
    };
    tracing::info!(
        target: "audit",
        event = "token_issued",
        sub = %issued.sub,
        aud = ?issued.aud,
        alg = %issued.alg,
        kid = %issued.kid,
        jti = %issued.jti,
        exp = issued.exp.0,
        source_ip = source_ip.unwrap_or("-"),
    );
}

#[cfg(test)]
mod tests;
