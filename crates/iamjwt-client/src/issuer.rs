//! An issuer as a verifier fetches it: the discovery document at `ISSUER/.well-known/openid-configuration`, then
//! the JWKS its `jwks_uri` names (OIDC Discovery 1.0 §4). `iamjwt verify` and `iamjwt trust` start here; the
//! rules that judge the two documents live in `iamjwt-verifiers`.

use crate::error::Error;
use crate::http::HttpClient;
use serde_json::Value;

/// Fetches an issuer's discovery document and the JWKS it points to; both must be JSON objects, the discovery's
/// `issuer` must be exactly `issuer`, and the JWKS must hold keys.
pub async fn fetch_issuer(http: &HttpClient, issuer: &str) -> Result<(Value, Value), Error> {
    crate::http::check_url(issuer)?;
    let url = format!("{issuer}/.well-known/openid-configuration");
    let discovery = get_json(http, &url, "discovery document").await?;
    match discovery["issuer"].as_str() {
        Some(i) if i == issuer => {}
        Some(other) => {
            // Two causes, two fixes: documents published when the issuer had another address (a local issuer
            // restarted elsewhere republishes at start), or a URL that is not the issuer's.
            return Err(Error::Usage(format!(
                "discovery at {url} names issuer {other:?}, not {issuer:?}: either the issuer's documents are out of \
                 date (published for another address: `iamjwt serve` republishes them at start, `iamjwt rotate \
                 --step publish` on demand; in AWS the rotation workflow's publish step), or {issuer:?} is not the \
                 issuer's URL (use the one it names, if that is the issuer you mean)"
            )));
        }
        None => {
            return Err(Error::Http(format!(
                "discovery at {url} names no issuer: publish an OIDC discovery document"
            )));
        }
    }
    let jwks_uri = discovery["jwks_uri"]
        .as_str()
        .ok_or_else(|| Error::Http(format!("discovery at {url} has no jwks_uri: publish one")))?;
    let jwks = get_json(http, jwks_uri, "JWKS").await?;
    if jwks["keys"].as_array().is_none_or(Vec::is_empty) {
        return Err(Error::Http(format!(
            "JWKS at {jwks_uri} holds no keys: publish the signing keys (iamjwt rotate)"
        )));
    }
    Ok((discovery, jwks))
}

async fn get_json(http: &HttpClient, url: &str, what: &str) -> Result<Value, Error> {
    let r = http.get(url).await?;
    if !r.status.is_success() {
        return Err(Error::Http(format!(
            "{what} at {url}: HTTP {}",
            r.status.as_u16()
        )));
    }
    let v: Value = serde_json::from_slice(&r.body)
        .map_err(|e| Error::Http(format!("{what} at {url} is not JSON: {e}")))?;
    if !v.is_object() {
        return Err(Error::Http(format!("{what} at {url} is not a JSON object")));
    }
    Ok(v)
}
