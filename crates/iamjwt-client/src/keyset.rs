//! Whether the key that signed a token is still published. After `iamjwt rotate --emergency` the compromised key
//! leaves the JWKS and verifiers refuse its tokens at once, though they have not expired: a holder of such a token
//! (the agent) has to notice and fetch another. It asks the issuer the way a verifier does — discovery →
//! `jwks_uri` → the `kid`s — and learns from the JWKS's `Cache-Control: max-age` how soon asking again can tell it
//! anything new.
//!
//! The question is a port ([`KeySet`]): the agent's loop runs against [`HttpKeySet`] in production and a stand-in in
//! tests.

use crate::error::Error;
use crate::http::HttpClient;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Deserialize;
use std::collections::BTreeSet;
use std::future::Future;
use std::time::Duration;

/// What the issuer publishes now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Published {
    /// The `kid` of every key in the JWKS.
    pub kids: BTreeSet<String>,
    /// The JWKS's `Cache-Control: max-age`: asking again sooner can only get the same answer from a cache.
    pub max_age: Option<Duration>,
}

/// Where the agent learns which keys an issuer publishes.
pub trait KeySet: Send + Sync {
    /// The keys `issuer` (a token's `iss`) publishes.
    fn published(&self, issuer: &str) -> impl Future<Output = Result<Published, Error>> + Send;
}

impl<K: KeySet> KeySet for &K {
    fn published(&self, issuer: &str) -> impl Future<Output = Result<Published, Error>> + Send {
        (**self).published(issuer)
    }
}

/// The signing key of a token: its header's `kid` and its claims' `iss`. No signature check (the agent got the
/// token from its issuer over TLS); `None` when the token has no `kid` or no `iss` to look it up with.
pub fn signing_key(token: &str) -> Option<(String, String)> {
    #[derive(Deserialize)]
    struct Header {
        kid: String,
    }
    #[derive(Deserialize)]
    struct Claims {
        iss: String,
    }
    fn part<T: serde::de::DeserializeOwned>(seg: Option<&str>) -> Option<T> {
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(seg?).ok()?).ok()
    }
    let mut parts = token.split('.');
    let header: Header = part(parts.next())?;
    let claims: Claims = part(parts.next())?;
    Some((header.kid, claims.iss))
}

/// `max-age=N` of a `Cache-Control` value.
pub fn max_age(cache_control: &str) -> Option<Duration> {
    cache_control.split(',').find_map(|d| {
        let (k, v) = d.trim().split_once('=')?;
        k.trim().eq_ignore_ascii_case("max-age").then(|| {
            v.trim()
                .trim_matches('"')
                .parse()
                .ok()
                .map(Duration::from_secs)
        })?
    })
}

/// An issuer URL the client may fetch from: https, or http to a loopback host (local mode).
fn fetchable(url: &str) -> Result<(), Error> {
    let uri: http::Uri = url
        .parse()
        .map_err(|e| Error::Usage(format!("issuer URL {url}: {e}")))?;
    let loopback = uri.host().is_some_and(|h| {
        h == "localhost"
            || h.trim_matches(['[', ']'])
                .parse::<std::net::IpAddr>()
                .is_ok_and(|ip| ip.is_loopback())
    });
    match uri.scheme_str() {
        Some("https") => Ok(()),
        Some("http") if loopback => Ok(()),
        _ => Err(Error::Usage(format!(
            "issuer URL {url}: the keys are read over https (plain http only on loopback)"
        ))),
    }
}

/// Discovery → `jwks_uri` → the JWKS, over HTTP(S).
#[derive(Debug, Clone, Default)]
pub struct HttpKeySet {
    http: HttpClient,
}

impl HttpKeySet {
    pub fn new(http: HttpClient) -> Self {
        Self { http }
    }

    async fn get<T: serde::de::DeserializeOwned>(
        &self,
        url: &str,
        what: &str,
    ) -> Result<(T, Option<Duration>), Error> {
        fetchable(url)?;
        let r = self.http.get(url).await?;
        if !r.status.is_success() {
            return Err(Error::Http(format!(
                "GET {url}: {} for the {what}",
                r.status
            )));
        }
        let max_age = r
            .headers
            .get(http::header::CACHE_CONTROL)
            .and_then(|v| v.to_str().ok())
            .and_then(max_age);
        let body = serde_json::from_slice(&r.body).map_err(|e| {
            Error::Http(format!(
                "GET {url}: the {what} is not what it should be: {e}"
            ))
        })?;
        Ok((body, max_age))
    }
}

impl KeySet for HttpKeySet {
    fn published(&self, issuer: &str) -> impl Future<Output = Result<Published, Error>> + Send {
        #[derive(Deserialize)]
        struct Discovery {
            jwks_uri: String,
        }
        #[derive(Deserialize)]
        struct Jwks {
            keys: Vec<Key>,
        }
        #[derive(Deserialize)]
        struct Key {
            kid: Option<String>,
        }
        let discovery = format!(
            "{}/.well-known/openid-configuration",
            issuer.trim_end_matches('/')
        );
        async move {
            let (d, _): (Discovery, _) = self.get(&discovery, "discovery document").await?;
            let (jwks, max_age): (Jwks, _) = self.get(&d.jwks_uri, "JWKS").await?;
            Ok(Published {
                kids: jwks.keys.into_iter().filter_map(|k| k.kid).collect(),
                max_age,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signing_key_of_a_token() {
        let h = URL_SAFE_NO_PAD.encode(br#"{"alg":"ES256","kid":"k1"}"#);
        let c = URL_SAFE_NO_PAD.encode(br#"{"iss":"https://id.example.com","exp":1}"#);
        assert_eq!(
            signing_key(&format!("{h}.{c}.c2ln")),
            Some(("k1".into(), "https://id.example.com".into()))
        );
        let no_kid = URL_SAFE_NO_PAD.encode(br#"{"alg":"ES256"}"#);
        assert_eq!(signing_key(&format!("{no_kid}.{c}.c2ln")), None);
        assert_eq!(signing_key("not a token"), None);
    }

    #[test]
    fn max_age_of_cache_control() {
        assert_eq!(
            max_age("public, max-age=3600"),
            Some(Duration::from_secs(3600))
        );
        assert_eq!(
            max_age("Max-Age = 5 , public"),
            Some(Duration::from_secs(5))
        );
        assert_eq!(max_age("no-store"), None);
        assert_eq!(max_age("max-age=soon"), None);
    }

    #[test]
    fn keys_are_read_over_https_or_loopback_only() {
        assert!(fetchable("https://id.example.com/.well-known/jwks.json").is_ok());
        assert!(fetchable("http://127.0.0.1:8080/.well-known/jwks.json").is_ok());
        assert!(fetchable("http://[::1]:8080/x").is_ok());
        assert!(fetchable("http://id.example.com/.well-known/jwks.json").is_err());
        assert!(fetchable("file:///etc/passwd").is_err());
    }
}
