//! `GET /token` over an API Gateway REST (v1) proxy request.
//!
//! The caller's identity is read only from `requestContext.identity`, which API Gateway fills after verifying
//! SigV4; headers and the query never name the caller. Issuing, the audit event and every response body are the
//! shared edge's ([`iamjwt_edge`]); this module only routes and reads the request context.

use iamjwt_core::Error as CoreError;
use iamjwt_core::UnixTime;
use iamjwt_core::identity::{Caller, CallerFields};
use iamjwt_core::issuer::Issuer;
use iamjwt_edge::oauth::{self, JsonResponse};
use iamjwt_edge::token::TokenEndpoint;
use lambda_http::request::RequestContext;
use lambda_http::{Body, Request, RequestExt, Response};

/// The token Lambda's handler: routing and the request context; everything else is [`TokenEndpoint`]. Clone is
/// cheap.
#[derive(Clone)]
pub struct TokenHandler {
    endpoint: TokenEndpoint,
}

impl TokenHandler {
    pub fn new(issuer: Issuer) -> Self {
        Self {
            endpoint: TokenEndpoint::new(issuer),
        }
    }

    /// Routes and answers one request. `now` is the wall clock, passed in.
    pub async fn handle(&self, req: Request, now: UnixTime) -> Response<Body> {
        let resp = if !is_token_path(&req) {
            oauth::not_found("only GET /token exists")
        } else if req.method() != http::Method::GET {
            oauth::method_not_allowed("use GET /token")
        } else {
            let query = req.query_string_parameters_ref();
            let pairs = query.into_iter().flat_map(|q| q.iter());
            self.endpoint.respond(caller(&req), pairs, now).await
        };
        into_lambda(resp)
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

fn into_lambda(r: JsonResponse) -> Response<Body> {
    let (parts, body) = r.into_parts();
    Response::from_parts(parts, Body::Binary(body))
}

#[cfg(test)]
mod tests;
