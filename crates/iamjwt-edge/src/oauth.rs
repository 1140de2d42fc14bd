//! Every JSON response the issuer's HTTP edge writes: the RFC 8693 token response and RFC 6749 §5.2-style errors,
//! with `Content-Type: application/json`, `Cache-Control: no-store` and `Pragma: no-cache` (RFC 6749 §5.1) on all of
//! them. Both front doors (the token Lambda and the local gateway) answer through these functions only.

use http::{HeaderValue, StatusCode, header};
use iamjwt_core::{Error as CoreError, PortErrorKind};
use serde::Serialize;

/// A response of the edge: status, headers and a JSON body. Front doors convert it to their own type.
pub type JsonResponse = http::Response<Vec<u8>>;

/// What an `invalid_target` adds to the policy's refusal: the setting that would allow the audience.
pub const AUDIENCE_POLICY_HINT: &str = "an operator allows it with a rule in IAMJWT_AUDIENCE_POLICY (CDK: \
     audiencePolicy; locally: make run's docs/local-audience-policy.json)";

/// Seconds a throttled caller is asked to wait.
pub const RETRY_AFTER_SECONDS: &str = "1";

/// Seconds a caller is asked to wait when no key can sign yet (an algorithm being bootstrapped: one rotation run,
/// a matter of seconds to a minute; see docs/rotation.md "Changing the algorithm set").
pub const RETRY_AFTER_UNAVAILABLE_SECONDS: &str = "30";

/// `issued_token_type` for a JWT (RFC 8693 §3).
pub const TOKEN_TYPE_JWT: &str = "urn:ietf:params:oauth:token-type:jwt";

/// Successful response (RFC 8693 §2.2.1, plus `token` for aws-jwt-sts clients).
#[derive(Serialize)]
struct TokenBody<'a> {
    token: &'a str,
    access_token: &'a str,
    issued_token_type: &'static str,
    token_type: &'static str,
    expires_in: u64,
}

/// Error response (RFC 6749 §5.2 style).
#[derive(Serialize)]
struct ErrorBody<'a> {
    error: &'a str,
    error_description: &'a str,
}

/// Written when a body cannot be serialised: a constant, so a failure can never become an empty 200.
const SERIALISATION_FAILED: &[u8] =
    br#"{"error":"server_error","error_description":"internal error; see the issuer's logs"}"#;

/// A JSON response with the headers every answer of the edge carries.
pub fn json(status: StatusCode, body: Vec<u8>) -> JsonResponse {
    let mut r = http::Response::new(body);
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

/// Serialises `body` as the response; a serialisation failure is a 500, never an empty body.
fn serialised(status: StatusCode, body: &impl Serialize) -> JsonResponse {
    match serde_json::to_vec(body) {
        Ok(bytes) => json(status, bytes),
        Err(e) => {
            tracing::error!(error = %e, "cannot serialise a response body");
            json(
                StatusCode::INTERNAL_SERVER_ERROR,
                SERIALISATION_FAILED.to_vec(),
            )
        }
    }
}

/// `200` with the token (DESIGN.md §1).
pub fn token(token: &str, expires_in: u64) -> JsonResponse {
    serialised(
        StatusCode::OK,
        &TokenBody {
            token,
            access_token: token,
            issued_token_type: TOKEN_TYPE_JWT,
            token_type: "N_A",
            expires_in,
        },
    )
}

/// An error with an OAuth-style code and a description safe to show the caller.
pub fn error(status: StatusCode, code: &str, description: &str) -> JsonResponse {
    serialised(
        status,
        &ErrorBody {
            error: code,
            error_description: description,
        },
    )
}

/// `404` for any path the front door does not serve.
pub fn not_found(description: &str) -> JsonResponse {
    error(StatusCode::NOT_FOUND, "not_found", description)
}

/// `405` with `Allow: GET`.
pub fn method_not_allowed(description: &str) -> JsonResponse {
    let mut r = error(
        StatusCode::METHOD_NOT_ALLOWED,
        "invalid_request",
        description,
    );
    r.headers_mut()
        .insert(header::ALLOW, HeaderValue::from_static("GET"));
    r
}

/// `503 temporarily_unavailable` with `Retry-After: seconds`.
fn retry_later(description: &str, seconds: &'static str) -> JsonResponse {
    let mut r = error(
        StatusCode::SERVICE_UNAVAILABLE,
        "temporarily_unavailable",
        description,
    );
    r.headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from_static(seconds));
    r
}

/// Maps a domain error to its HTTP form (DESIGN.md §1 error table). The detail of a 500 stays in the log.
pub fn from_error(e: &CoreError) -> JsonResponse {
    match e {
        CoreError::InvalidRequest(m) => error(StatusCode::BAD_REQUEST, "invalid_request", m),
        CoreError::TokenTooLarge { .. } => {
            error(StatusCode::BAD_REQUEST, "invalid_request", &e.to_string())
        }
        CoreError::InvalidTarget(m) => error(
            StatusCode::BAD_REQUEST,
            "invalid_target",
            &format!("{m}; {AUDIENCE_POLICY_HINT}"),
        ),
        CoreError::AccessDenied(m) => error(StatusCode::FORBIDDEN, "access_denied", m),
        CoreError::Port(p) if p.kind == PortErrorKind::Throttled => retry_later(
            "the signing service is busy; retry shortly",
            RETRY_AFTER_SECONDS,
        ),
        CoreError::Port(p) if p.kind == PortErrorKind::Unavailable => retry_later(
            "no signing key is ready for this algorithm yet; retry later",
            RETRY_AFTER_UNAVAILABLE_SECONDS,
        ),
        // Unavailable here for now (a regional outage, a key not yet in the JWKS): a client with other regions
        // fails over, any client may retry.
        CoreError::Port(p) if p.kind == PortErrorKind::Transient => retry_later(
            "the signing service is unavailable here; retry shortly or use another region",
            RETRY_AFTER_SECONDS,
        ),
        _ => error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "server_error",
            "internal error; see the issuer's logs",
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use iamjwt_core::PortError;

    fn body(r: &JsonResponse) -> serde_json::Value {
        serde_json::from_slice(r.body()).unwrap()
    }

    #[test]
    fn every_response_has_the_oauth_headers() {
        for r in [
            token("a.b.c", 900),
            not_found("x"),
            method_not_allowed("use GET"),
            from_error(&CoreError::InvalidTarget("no".into())),
        ] {
            assert_eq!(r.headers()[header::CONTENT_TYPE], "application/json");
            assert_eq!(r.headers()[header::CACHE_CONTROL], "no-store");
            assert_eq!(r.headers()[header::PRAGMA], "no-cache");
        }
    }

    #[test]
    fn token_body_shape() {
        let r = token("a.b.c", 900);
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(
            body(&r),
            serde_json::json!({"token": "a.b.c", "access_token": "a.b.c",
                "issued_token_type": TOKEN_TYPE_JWT, "token_type": "N_A", "expires_in": 900})
        );
    }

    #[test]
    fn error_table() {
        let cases = [
            (
                CoreError::InvalidRequest("bad".into()),
                400,
                "invalid_request",
            ),
            (
                CoreError::TokenTooLarge {
                    size: 5000,
                    limit: 4096,
                },
                400,
                "invalid_request",
            ),
            (CoreError::InvalidTarget("no".into()), 400, "invalid_target"),
            (CoreError::AccessDenied("no".into()), 403, "access_denied"),
            (
                CoreError::Port(PortError::new(PortErrorKind::Throttled, "slow")),
                503,
                "temporarily_unavailable",
            ),
            (
                CoreError::Port(PortError::new(PortErrorKind::Transient, "secret detail")),
                503,
                "temporarily_unavailable",
            ),
            (
                CoreError::Port(PortError::new(PortErrorKind::Disabled, "secret detail")),
                500,
                "server_error",
            ),
        ];
        for (e, status, code) in cases {
            let r = from_error(&e);
            assert_eq!(r.status().as_u16(), status, "{e}");
            let b = body(&r);
            assert_eq!(b["error"], code);
            assert!(!b["error_description"].as_str().unwrap().contains("secret"));
        }
        let throttled = from_error(&CoreError::Port(PortError::new(
            PortErrorKind::Throttled,
            "",
        )));
        assert_eq!(throttled.headers()[header::RETRY_AFTER], "1");
        // Issue 19 §4: an algorithm whose key is not bootstrapped yet is a 503 to retry, not a 500.
        let not_ready = from_error(&CoreError::Port(PortError::new(
            PortErrorKind::Unavailable,
            "no current ES256 key (secret detail)",
        )));
        assert_eq!(not_ready.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(not_ready.headers()[header::RETRY_AFTER], "30");
        assert_eq!(
            not_ready.headers()[header::CONTENT_TYPE],
            "application/json"
        );
        let b = body(&not_ready);
        assert_eq!(b["error"], "temporarily_unavailable");
        assert!(!b["error_description"].as_str().unwrap().contains("secret"));
        let m = method_not_allowed("use GET");
        assert_eq!(m.status(), StatusCode::METHOD_NOT_ALLOWED);
        assert_eq!(m.headers()[header::ALLOW], "GET");
    }

    /// Issue 23 §7: the documented examples got `400 invalid_target` locally, and neither the docs nor the error
    /// named the setting that would allow them.
    #[test]
    fn invalid_target_names_the_setting_that_allows_the_audience() {
        let r = from_error(&CoreError::InvalidTarget(
            "the audience policy does not allow \"api://x\" for arn:aws:iam::1:role/r".into(),
        ));
        let d = body(&r)["error_description"].as_str().unwrap().to_owned();
        assert!(d.starts_with("the audience policy does not allow"), "{d}");
        assert!(
            d.contains("IAMJWT_AUDIENCE_POLICY") && d.contains("audiencePolicy"),
            "{d}"
        );
    }

    #[test]
    fn the_fallback_body_is_json() {
        let v: serde_json::Value = serde_json::from_slice(SERIALISATION_FAILED).unwrap();
        assert_eq!(v["error"], "server_error");
    }
}
