//! `iamjwt verify`: what an external verifier does — discovery → JWKS → signature, `iss`, `aud`, `exp`/`nbf` — and,
//! with `--for TARGET`, that target's own rules (`iamjwt_core::verifiers`) on top.

use crate::error::Error;
use crate::http::HttpClient;
use crate::trust::{CloudArg, TargetArg};
use iamjwt_core::UnixTime;
use iamjwt_core::verifiers::{self, Context, IssuerFacts, Status, Subject, TokenFacts};
use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::Value;
use std::io::Read as _;
use std::time::SystemTime;

#[derive(clap::Args)]
pub struct Args {
    /// The token, or `-` to read it from stdin.
    token: String,
    /// The issuer you trust (the token's own `iss` is never used to find keys).
    #[arg(long, env = "IAMJWT_ISSUER")]
    issuer: String,
    /// Audience you accept; repeat for several (any one must match). For `--for aws` this is the OIDC provider's
    /// client ID list.
    #[arg(long = "aud", required = true)]
    aud: Vec<String>,
    /// Clock skew tolerated for `exp`/`nbf`, seconds.
    #[arg(long, default_value_t = 60)]
    leeway: u64,
    /// Also check the rules of this verifier (repeat for several); prints one line per rule, fails if any fails.
    #[arg(long = "for", value_enum)]
    targets: Vec<TargetArg>,
    /// Entra cloud whose audience `--for azure` expects.
    #[arg(long, value_enum, default_value = "public")]
    cloud: CloudArg,
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
    let issuer = args.issuer.trim().trim_end_matches('/');
    let verified = verify(&token, issuer, &args.aud, args.leeway).await?;
    if args.targets.is_empty() {
        crate::print_stdout(
            &serde_json::to_string_pretty(&verified.claims)
                .map_err(|e| Error::Usage(e.to_string()))?,
        );
        return Ok(());
    }

    let facts = TokenFacts::from_compact(&token)?;
    let issuer_facts = IssuerFacts::new(issuer, verified.discovery, &verified.jwks);
    let ctx = Context {
        issuer: &issuer_facts,
        subject: Subject::Token(&facts),
        accepted_audiences: &args.aud,
        now: UnixTime::from_system_time(SystemTime::now()),
        leeway: args.leeway,
        azure_cloud: args.cloud.0,
    };
    let mut failed = Vec::new();
    for target in &args.targets {
        for o in verifiers::evaluate(target.0, &ctx) {
            let mut line = format!(
                "{:<10} {:<4} {}: {}",
                o.target.as_str(),
                o.status.as_str(),
                o.rule,
                o.detail
            );
            if o.status != Status::Ok {
                line.push_str(&format!(" — fix: {}", o.fix));
            }
            crate::print_stdout(&line);
            if o.status == Status::Fail {
                failed.push(format!("{}/{}", o.target, o.rule));
            }
        }
    }
    if failed.is_empty() {
        Ok(())
    } else {
        Err(Error::Invalid(format!(
            "{} verifier rule(s) failed: {} (fixes above)",
            failed.len(),
            failed.join(", ")
        )))
    }
}

/// A token that passed the cryptographic checks, with the issuer documents it was checked against.
pub struct Verified {
    pub claims: Value,
    pub discovery: Value,
    pub jwks: Value,
}

/// Fetches an issuer's discovery document and the JWKS it points to; both must be JSON objects, the discovery's
/// `issuer` must be exactly `issuer`, and the JWKS must hold keys.
pub async fn fetch_issuer(issuer: &str) -> Result<(Value, Value), Error> {
    let http = HttpClient::new();
    let url = format!("{issuer}/.well-known/openid-configuration");
    let discovery: Value = get_json(&http, &url, "discovery document").await?;
    match discovery["issuer"].as_str() {
        Some(i) if i == issuer => {}
        other => {
            return Err(Error::Invalid(format!(
                "discovery at {url} says issuer {other:?}, expected {issuer:?}: configure the issuer URL exactly as published"
            )));
        }
    }
    let jwks_uri = discovery["jwks_uri"].as_str().ok_or_else(|| {
        Error::Invalid(format!("discovery at {url} has no jwks_uri: publish one"))
    })?;
    let jwks: Value = get_json(&http, jwks_uri, "JWKS").await?;
    if jwks["keys"].as_array().is_none_or(Vec::is_empty) {
        return Err(Error::Invalid(format!(
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

/// Asymmetric JWS algorithms only: an `HS*` token "verified" with a public key as the secret is the classic attack.
fn asymmetric(alg: Algorithm) -> bool {
    matches!(
        alg,
        Algorithm::RS256
            | Algorithm::RS384
            | Algorithm::RS512
            | Algorithm::PS256
            | Algorithm::PS384
            | Algorithm::PS512
            | Algorithm::ES256
            | Algorithm::ES384
            | Algorithm::EdDSA
    )
}

/// Whether a JWK can verify `alg` at all (type and curve).
fn fits(jwk: &Jwk, alg: Algorithm) -> bool {
    match &jwk.algorithm {
        AlgorithmParameters::RSA(_) => matches!(
            alg,
            Algorithm::RS256
                | Algorithm::RS384
                | Algorithm::RS512
                | Algorithm::PS256
                | Algorithm::PS384
                | Algorithm::PS512
        ),
        AlgorithmParameters::EllipticCurve(ec) => matches!(
            (alg, &ec.curve),
            (Algorithm::ES256, EllipticCurve::P256) | (Algorithm::ES384, EllipticCurve::P384)
        ),
        AlgorithmParameters::OctetKeyPair(_) => alg == Algorithm::EdDSA,
        _ => false,
    }
}

pub async fn verify(
    token: &str,
    issuer: &str,
    aud: &[String],
    leeway: u64,
) -> Result<Verified, Error> {
    let issuer = issuer.trim_end_matches('/');
    let header = jsonwebtoken::decode_header(token)
        .map_err(|e| Error::Invalid(format!("malformed token: {e}")))?;
    if !asymmetric(header.alg) {
        return Err(Error::Invalid(format!(
            "algorithm {:?} is not accepted (asymmetric JWS algorithms only)",
            header.alg
        )));
    }
    let (discovery, jwks) = fetch_issuer(issuer).await?;
    // Keys one by one: a key this library cannot parse (another curve, a malformed member) must not hide the rest;
    // the verifier rules judge those keys.
    let keys: Vec<Jwk> = jwks["keys"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|k| serde_json::from_value(k.clone()).ok())
                .collect()
        })
        .unwrap_or_default();
    // With a kid, that key; without one (allowed by some verifiers when the JWKS has one usable key), every key of
    // the right type is tried.
    let candidates: Vec<&Jwk> = match &header.kid {
        Some(kid) => {
            let jwk = keys
                .iter()
                .find(|k| k.common.key_id.as_deref() == Some(kid))
                .ok_or_else(|| Error::Invalid(format!("kid {kid} is not in the issuer's JWKS")))?;
            if let Some(key_alg) = jwk.common.key_algorithm
                && format!("{key_alg:?}") != format!("{:?}", header.alg)
            {
                return Err(Error::Invalid(format!(
                    "key {kid} is for {key_alg:?}, token says {:?}",
                    header.alg
                )));
            }
            vec![jwk]
        }
        None => keys.iter().filter(|k| fits(k, header.alg)).collect(),
    };
    if candidates.is_empty() {
        return Err(Error::Invalid(format!(
            "the token has no kid and the issuer's JWKS has no {:?} key",
            header.alg
        )));
    }
    let mut v = Validation::new(header.alg);
    v.set_issuer(&[issuer]);
    v.set_audience(aud);
    v.validate_nbf = true;
    v.leeway = leeway;
    v.set_required_spec_claims(&["exp", "iat", "nbf", "iss", "sub", "aud"]);
    let mut last = None;
    for jwk in candidates {
        let key = DecodingKey::from_jwk(jwk)
            .map_err(|e| Error::Invalid(format!("unusable key {:?}: {e}", jwk.common.key_id)))?;
        match jsonwebtoken::decode::<Value>(token, &key, &v) {
            Ok(data) => {
                return Ok(Verified {
                    claims: data.claims,
                    discovery,
                    jwks,
                });
            }
            Err(e) => last = Some(e),
        }
    }
    Err(Error::Invalid(last.map_or_else(
        || "no key verified the token".to_owned(),
        |e| e.to_string(),
    )))
}
