//! `GET /token` over an API Gateway REST (v1) proxy request.
//!
//! The caller's identity is read only from `requestContext.identity`, which API Gateway fills after verifying
//! SigV4; headers and the query never name the caller. Issuing, the audit event and every response body are the
//! shared edge's ([`iamjwt_edge`]); this module only routes and reads the request context.

use iamjwt_core::Error as CoreError;
use iamjwt_core::UnixTime;
use iamjwt_core::config;
use iamjwt_core::identity::{Caller, CallerFields};
use iamjwt_core::issuer::Issuer;
use iamjwt_edge::oauth::{self, JsonResponse};
use iamjwt_edge::token::TokenEndpoint;
use lambda_http::request::RequestContext;
use lambda_http::{Body, Request, RequestExt, Response};

/// The API Gateway REST API and stage whose events the token function answers ([`config::API_ID`],
/// [`config::API_STAGE`], set by the CDK). Any other event is refused: one for another API or stage, or one that is
/// not an API Gateway REST event at all (a direct invoke with a hand-made payload). A direct invoker can still copy
/// these two values into a forged event: only IAM stops that (docs/security.md).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RestApiStage {
    api_id: String,
    stage: String,
}

impl RestApiStage {
    /// An API id is lowercase letters and digits (API Gateway makes ten); a stage name letters, digits, `-`, `_`.
    pub fn new(api_id: &str, stage: &str) -> Result<Self, CoreError> {
        let api_ok = (1..=64).contains(&api_id.len())
            && api_id
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
        if !api_ok {
            return Err(CoreError::config(
                config::API_ID,
                format!(
                    "{api_id:?} is not an API Gateway REST API id (lowercase letters and digits)"
                ),
            ));
        }
        let stage_ok = (1..=128).contains(&stage.len())
            && stage
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if !stage_ok {
            return Err(CoreError::config(
                config::API_STAGE,
                format!("{stage:?} is not an API Gateway stage name (letters, digits, '-', '_')"),
            ));
        }
        Ok(Self {
            api_id: api_id.to_owned(),
            stage: stage.to_owned(),
        })
    }

    /// Both variables through `lookup`; both are required in the Lambda (local mode has its own gateway and does
    /// not read them).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, CoreError> {
        let why = "for the token function (it answers only events of this API and stage)";
        let required = |name: &str| config::required_setting(&lookup, name, why);
        Self::new(&required(config::API_ID)?, &required(config::API_STAGE)?)
    }

    /// Whether `req` is an API Gateway REST event of this API and stage.
    fn admits(&self, req: &Request) -> bool {
        match req.request_context_ref() {
            Some(RequestContext::ApiGatewayV1(ctx)) => {
                ctx.apiid.as_deref() == Some(self.api_id.as_str())
                    && ctx.stage.as_deref() == Some(self.stage.as_str())
            }
            _ => false,
        }
    }
}

/// The token Lambda's handler: routing and the request context; everything else is [`TokenEndpoint`]. Clone is
/// cheap.
#[derive(Clone)]
pub struct TokenHandler {
    endpoint: TokenEndpoint,
    api: RestApiStage,
}

impl TokenHandler {
    /// Answers events of `api` only.
    pub fn new(issuer: Issuer, api: RestApiStage) -> Self {
        Self {
            endpoint: TokenEndpoint::new(issuer),
            api,
        }
    }

    /// Routes and answers one request. `now` is the wall clock, passed in.
    pub async fn handle(&self, req: Request, now: UnixTime) -> Response<Body> {
        let resp = if !self.api.admits(&req) {
            tracing::warn!(
                api_id = api_id(&req),
                stage = stage(&req),
                "refused an event that is not an API Gateway REST event of this function's API and stage"
            );
            oauth::error(
                http::StatusCode::FORBIDDEN,
                "access_denied",
                "this function answers only API Gateway REST requests of its own API and stage",
            )
        } else if !is_token_path(&req) {
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

/// `requestContext.apiId` of a REST event, for the log.
fn api_id(req: &Request) -> Option<&str> {
    match req.request_context_ref() {
        Some(RequestContext::ApiGatewayV1(ctx)) => ctx.apiid.as_deref(),
        _ => None,
    }
}

/// `requestContext.stage` of a REST event, for the log.
fn stage(req: &Request) -> Option<&str> {
    match req.request_context_ref() {
        Some(RequestContext::ApiGatewayV1(ctx)) => ctx.stage.as_deref(),
        _ => None,
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
