//! `GET /token` over a verified caller: the one request → response function both front doors call.
//!
//! The front door has already established who is calling (API Gateway's `requestContext.identity` in AWS, the
//! local SigV4 verifier in local mode) and decoded the query; this module never looks at headers. It applies the
//! issuing policy through [`Issuer`], writes one audit event per issued token (never the token) and answers through
//! [`crate::oauth`].

use crate::oauth::{self, JsonResponse};
use iamjwt_core::claims::Jti;
use iamjwt_core::identity::Caller;
use iamjwt_core::issuer::{Issued, Issuer};
use iamjwt_core::request::TokenRequest;
use iamjwt_core::{Error as CoreError, PortErrorKind, UnixTime};

/// The token endpoint. Clone is cheap.
#[derive(Clone)]
pub struct TokenEndpoint {
    issuer: Issuer,
}

impl TokenEndpoint {
    pub fn new(issuer: Issuer) -> Self {
        Self { issuer }
    }

    pub fn issuer(&self) -> &Issuer {
        &self.issuer
    }

    /// Answers one token request. `caller` is the front door's verdict on the identity (an error is a 403 or
    /// whatever the error maps to); `query` is the decoded query string in order; `now` is the wall clock.
    pub async fn respond<'a>(
        &self,
        caller: Result<Caller, CoreError>,
        query: impl IntoIterator<Item = (&'a str, &'a str)>,
        now: UnixTime,
    ) -> JsonResponse {
        let caller = match caller {
            Ok(c) => c,
            Err(e) => {
                tracing::info!(error = %e, "token request refused");
                return oauth::from_error(&e);
            }
        };
        match self.issue(&caller, query, now).await {
            Ok(issued) => {
                audit(&issued, &caller);
                oauth::token(&issued.token, issued.expires_in)
            }
            Err(e) => {
                log_failure(&e, &caller);
                oauth::from_error(&e)
            }
        }
    }

    async fn issue<'a>(
        &self,
        caller: &Caller,
        query: impl IntoIterator<Item = (&'a str, &'a str)>,
        now: UnixTime,
    ) -> Result<Issued, CoreError> {
        let request = TokenRequest::from_pairs(query)?;
        let mut random = [0u8; 16];
        getrandom::fill(&mut random)
            .map_err(|e| CoreError::KeyMaterial(format!("no randomness for jti: {e}")))?;
        self.issuer
            .issue(caller, request, now, Jti::from_random(random))
            .await
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
fn audit(issued: &Issued, caller: &Caller) {
    tracing::info!(
        target: "audit",
        event = "token_issued",
        sub = %issued.sub,
        aud = ?issued.aud,
        alg = %issued.alg,
        kid = %issued.kid,
        jti = %issued.jti,
        exp = issued.exp.0,
        source_ip = caller.source_ip.as_deref().unwrap_or("-"),
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use iamjwt_core::identity::CallerFields;
    use iamjwt_core::policy::AudiencePolicy;
    use iamjwt_core::testing::TestSigner;
    use iamjwt_core::types::{Algorithm, Audience};
    use std::sync::Arc;

    const NOW: UnixTime = UnixTime(1_795_456_800);

    fn endpoint() -> TokenEndpoint {
        let policy = AudiencePolicy::from_json(
            Audience::parse("sts.amazonaws.com").unwrap(),
            r#"{"rules":[{"accounts":["111122223333"],"audiences":["api://ci"]}]}"#,
            3600,
        )
        .unwrap();
        let ip = iamjwt_core::testing::issue_policy(
            "https://id.example.com",
            policy,
            &[Algorithm::ES256],
        );
        TokenEndpoint::new(Issuer::new(ip, Arc::new(TestSigner::new(5))))
    }

    fn caller() -> Caller {
        Caller::from_fields(&CallerFields {
            user_arn: Some("arn:aws:sts::111122223333:assumed-role/ci/run"),
            source_ip: Some("192.0.2.1"),
            ..CallerFields::default()
        })
        .unwrap()
    }

    fn body(r: &JsonResponse) -> serde_json::Value {
        serde_json::from_slice(r.body()).unwrap()
    }

    #[tokio::test]
    async fn a_verified_caller_gets_a_token() {
        let r = endpoint()
            .respond(Ok(caller()), [("aud", "api://ci")], NOW)
            .await;
        assert_eq!(r.status(), 200, "{:?}", body(&r));
        let token = body(&r)["token"].as_str().unwrap().to_owned();
        assert_eq!(token.split('.').count(), 3);
    }

    #[tokio::test]
    async fn the_front_doors_verdict_and_the_query_decide_the_error() {
        let e = endpoint();
        let denied = e
            .respond(Err(CoreError::AccessDenied("no".into())), [], NOW)
            .await;
        assert_eq!(denied.status(), 403);
        assert_eq!(body(&denied)["error"], "access_denied");
        let bad = e.respond(Ok(caller()), [("scope", "x")], NOW).await;
        assert_eq!(bad.status(), 400);
        assert_eq!(body(&bad)["error"], "invalid_request");
        let target = e.respond(Ok(caller()), [("aud", "api://other")], NOW).await;
        assert_eq!(body(&target)["error"], "invalid_target");
    }
}
