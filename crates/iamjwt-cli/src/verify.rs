//! `iamjwt verify`: what an external verifier does — discovery → JWKS → signature, `iss`, `aud`, `exp`/`nbf`.

use crate::error::Error;
use crate::http::HttpClient;
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{DecodingKey, Validation};
use serde::Deserialize;
use std::io::Read as _;

#[derive(clap::Args)]
pub struct Args {
    /// The token, or `-` to read it from stdin.
    token: String,
    /// The issuer you trust (the token's own `iss` is never used to find keys).
    #[arg(long, env = "IAMJWT_ISSUER")]
    issuer: String,
    /// Audience you accept; repeat for several (any one must match).
    #[arg(long = "aud", required = true)]
    aud: Vec<String>,
    /// Clock skew tolerated for `exp`/`nbf`, seconds.
    #[arg(long, default_value_t = 60)]
    leeway: u64,
}

#[derive(Deserialize)]
struct Discovery {
    issuer: String,
    jwks_uri: String,
}

async fn get_json<T: serde::de::DeserializeOwned>(
    http: &HttpClient,
    url: &str,
    what: &str,
) -> Result<T, Error> {
    let r = http.get(url).await?;
    if !r.status.is_success() {
        return Err(Error::Http(format!(
            "{what} at {url}: HTTP {}",
            r.status.as_u16()
        )));
    }
    serde_json::from_slice(&r.body)
        .map_err(|e| Error::Http(format!("{what} at {url} is not valid: {e}")))
}

pub async fn run(args: Args) -> Result<(), Error> {
    let token = if args.token == "-" {
        let mut s = String::new();
        std::io::stdin()
            .read_to_string(&mut s)
            .map_err(|source| Error::Io {
                path: "<stdin>".into(),
                source,
            })?;
        s.trim().to_owned()
    } else {
        args.token.trim().to_owned()
    };
    let claims = verify(&token, &args.issuer, &args.aud, args.leeway).await?;
    crate::print_stdout(&serde_json::to_string_pretty(&claims).unwrap_or_default());
    Ok(())
}

pub async fn verify(
    token: &str,
    issuer: &str,
    aud: &[String],
    leeway: u64,
) -> Result<serde_json::Value, Error> {
    let issuer = issuer.trim_end_matches('/');
    let header = jsonwebtoken::decode_header(token)
        .map_err(|e| Error::Invalid(format!("malformed token: {e}")))?;
    // Only what this issuer signs with (the core's table), never `none` or an HMAC algorithm.
    let ours = iamjwt_core::Algorithm::ALL
        .iter()
        .any(|a| format!("{:?}", header.alg) == a.as_str());
    if !ours {
        let names: Vec<&str> = iamjwt_core::Algorithm::ALL.map(|a| a.as_str()).to_vec();
        return Err(Error::Invalid(format!(
            "algorithm {:?} is not accepted ({} only)",
            header.alg,
            names.join(", ")
        )));
    }
    let kid = header
        .kid
        .ok_or_else(|| Error::Invalid("token has no kid".into()))?;

    let http = HttpClient::new()?;
    let discovery: Discovery = get_json(
        &http,
        &format!("{issuer}/.well-known/openid-configuration"),
        "discovery document",
    )
    .await?;
    if discovery.issuer.trim_end_matches('/') != issuer {
        return Err(Error::Invalid(format!(
            "discovery says issuer {:?}, expected {issuer:?}",
            discovery.issuer
        )));
    }
    let jwks: JwkSet = get_json(&http, &discovery.jwks_uri, "JWKS").await?;
    let jwk = jwks
        .find(&kid)
        .ok_or_else(|| Error::Invalid(format!("kid {kid} is not in the issuer's JWKS")))?;
    if let Some(key_alg) = jwk.common.key_algorithm
        && format!("{key_alg:?}") != format!("{:?}", header.alg)
    {
        return Err(Error::Invalid(format!(
            "key {kid} is for {key_alg:?}, token says {:?}",
            header.alg
        )));
    }
    let key = DecodingKey::from_jwk(jwk)
        .map_err(|e| Error::Invalid(format!("unusable key {kid}: {e}")))?;
    let mut v = Validation::new(header.alg);
    v.set_issuer(&[issuer]);
    v.set_audience(aud);
    v.validate_nbf = true;
    v.leeway = leeway;
    v.set_required_spec_claims(&["exp", "iat", "nbf", "iss", "sub", "aud"]);
    let data = jsonwebtoken::decode::<serde_json::Value>(token, &key, &v)
        .map_err(|e| Error::Invalid(e.to_string()))?;
    Ok(data.claims)
}
