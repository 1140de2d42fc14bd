//! `iamjwt verify`: what an external verifier does — discovery → JWKS → signature, `iss`, `aud`, `exp`/`nbf` — and,
//! with `--for TARGET`, that target's own rules (`iamjwt-verifiers`) on top.

use crate::error::Error;
use crate::http::HttpClient;
use crate::targets::{CloudArg, TargetArg};
use iamjwt_client::issuer::fetch_issuer;
use iamjwt_core::UnixTime;
use iamjwt_verifiers::{Context, IssuerFacts, Status, Subject, TokenFacts, evaluate};
use jsonwebtoken::errors::ErrorKind;
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
        for o in evaluate(target.0, &ctx) {
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
    if token.is_empty() {
        return Err(Error::Usage(
            "empty token: give the token as the argument, or - and the token on stdin".into(),
        ));
    }
    let header = jsonwebtoken::decode_header(token).map_err(|_| {
        Error::Invalid(
            "malformed token: not a compact JWS (three base64url parts, a JSON header with alg)"
                .into(),
        )
    })?;
    if !asymmetric(header.alg) {
        return Err(Error::Invalid(format!(
            "algorithm {:?} is not accepted (asymmetric JWS algorithms only)",
            header.alg
        )));
    }
    let (discovery, jwks) = fetch_issuer(&HttpClient::new(), issuer).await?;
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
        let key = DecodingKey::from_jwk(jwk).map_err(|e| {
            Error::Invalid(format!(
                "unusable key {}: {e}",
                jwk.common.key_id.as_deref().unwrap_or("without kid")
            ))
        })?;
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
        |e| rejection(&e, token, issuer, aud, leeway),
    )))
}

/// One line naming what failed, the values involved and the fix, for jsonwebtoken's error kinds (whose own
/// Display is the variant's name).
fn rejection(
    e: &jsonwebtoken::errors::Error,
    token: &str,
    issuer: &str,
    aud: &[String],
    leeway: u64,
) -> String {
    // The claims, unverified, only to name them in the message: the token has already been refused.
    let claims = TokenFacts::from_compact(token)
        .map(|t| t.claims)
        .unwrap_or_default();
    let shown = |v: &Value| match v {
        Value::Null => "none".to_owned(),
        v => v.to_string(),
    };
    let accepted = aud.join(", ");
    match e.kind() {
        ErrorKind::InvalidAudience => format!(
            "the token's audience {} is not one you accept ({accepted}): request a token for your audience (iamjwt token --aud AUD), or pass its audience with --aud",
            shown(&claims["aud"])
        ),
        ErrorKind::InvalidIssuer => format!(
            "the token's issuer {} is not the one you trust ({issuer}): pass --issuer with the issuer that signed it",
            shown(&claims["iss"])
        ),
        ErrorKind::ExpiredSignature => format!(
            "the token expired (exp {}, leeway {leeway} s): fetch a new one",
            shown(&claims["exp"])
        ),
        ErrorKind::ImmatureSignature => format!(
            "the token is not valid yet (nbf {}, leeway {leeway} s): check this machine's clock",
            shown(&claims["nbf"])
        ),
        ErrorKind::InvalidSignature => {
            "the signature does not verify with the issuer's key: the token was altered or signed by another issuer".to_owned()
        }
        ErrorKind::MissingRequiredClaim(c) => {
            format!("the token has no {c} claim: every verifier requires it")
        }
        ErrorKind::InvalidClaimFormat(c) => {
            format!("the token's {c} claim has the wrong type")
        }
        _ => format!("the token does not verify: {e}"),
    }
}
