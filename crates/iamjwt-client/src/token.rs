//! The values exchanged with the issuer: what to ask for ([`TokenRequest`]) and what came back ([`Token`]).
//! Plain data with their parsing and encoding; no HTTP, no credentials, no cache (those import these, never the
//! reverse).

use crate::error::Error;
use crate::jwt::{self, TokenTimes};
use serde::Deserialize;

/// What to ask the issuer for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenRequest {
    /// The token endpoint, or the API base URL (`/token` is appended when missing).
    pub url: String,
    /// Audiences, in order; empty = the issuer's default audience.
    pub audiences: Vec<String>,
    /// Lifetime in seconds; `None` = the issuer's default.
    pub duration: Option<u64>,
    /// Signing algorithm (`RS256`, `ES256`, …); `None` = the issuer's default.
    pub alg: Option<String>,
}

impl TokenRequest {
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            audiences: Vec::new(),
            duration: None,
            alg: None,
        }
    }

    /// The full `GET` URI: `…/token?aud=…&duration=…&alg=…`, encoded the way SigV4 canonicalises it.
    pub fn uri(&self) -> Result<http::Uri, Error> {
        let base = self.url.trim_end_matches('/');
        let endpoint = if base.ends_with("/token") {
            base.to_owned()
        } else {
            format!("{base}/token")
        };
        let mut query = form_urlencoded::Serializer::new(String::new());
        for a in &self.audiences {
            query.append_pair("aud", a);
        }
        if let Some(d) = self.duration {
            query.append_pair("duration", &d.to_string());
        }
        if let Some(a) = &self.alg {
            query.append_pair("alg", a);
        }
        // form encoding writes spaces as '+'; SigV4's canonical form wants %20 (a literal '+' is already %2B).
        let query = query.finish().replace('+', "%20");
        let url = if query.is_empty() {
            endpoint
        } else {
            format!("{endpoint}?{query}")
        };
        let uri: http::Uri = url
            .parse()
            .map_err(|e| Error::Usage(format!("invalid issuer URL {base:?}: {e}")))?;
        if uri.host().is_none() || !matches!(uri.scheme_str(), Some("http" | "https")) {
            return Err(Error::Usage(format!(
                "invalid issuer URL {base:?}: expected http(s)://host[/stage]"
            )));
        }
        Ok(uri)
    }
}

/// A token the issuer returned.
#[derive(Debug, Clone)]
pub struct Token {
    /// The compact JWT.
    pub jwt: String,
    /// Its `alg`, `iat` and `exp`.
    pub times: TokenTimes,
    /// The issuer's whole JSON response (`token`, `access_token`, `expires_in`, …).
    pub response: serde_json::Value,
}

impl Token {
    /// Builds a token from the issuer's JSON response body; refuses anything without a complete JWT.
    pub fn from_response(body: &[u8]) -> Result<Self, Error> {
        #[derive(Deserialize)]
        struct R {
            token: String,
        }
        let response: serde_json::Value = serde_json::from_slice(body)
            .map_err(|e| Error::BadToken(format!("the response is not JSON: {e}")))?;
        let r: R = serde_json::from_value(response.clone())
            .map_err(|e| Error::BadToken(format!("the response has no token: {e}")))?;
        let times = jwt::parse(&r.token)?;
        Ok(Self {
            jwt: r.token,
            times,
            response,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        let r = TokenRequest {
            url: "https://abc.execute-api.eu-west-1.amazonaws.com/prod/".into(),
            audiences: vec!["a b".into(), "x+y".into()],
            duration: Some(60),
            alg: Some("ES256".into()),
        };
        assert_eq!(
            r.uri().unwrap().to_string(),
            "https://abc.execute-api.eu-west-1.amazonaws.com/prod/token?aud=a%20b&aud=x%2By&duration=60&alg=ES256"
        );
        assert_eq!(
            TokenRequest::new("http://127.0.0.1:8080/token")
                .uri()
                .unwrap()
                .to_string(),
            "http://127.0.0.1:8080/token"
        );
        assert!(TokenRequest::new("127.0.0.1:8080").uri().is_err());
        assert!(TokenRequest::new("ftp://x/").uri().is_err());
    }

    #[test]
    fn response_must_hold_a_complete_token() {
        let t = crate::jwt::tests::fake_token(10, 910, "");
        let ok = Token::from_response(format!(r#"{{"token":"{t}","expires_in":900}}"#).as_bytes())
            .unwrap();
        assert_eq!(ok.times.expires_at, 910);
        assert_eq!(ok.response["expires_in"], 900);
        assert!(Token::from_response(b"{}").is_err());
        assert!(Token::from_response(br#"{"token":"a.b"}"#).is_err());
        assert!(Token::from_response(b"<html>").is_err());
    }
}
