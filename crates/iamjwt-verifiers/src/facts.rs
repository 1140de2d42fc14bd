//! The facts a rule reads: the issuer as the verifier sees it ([`IssuerFacts`], [`JwkFacts`]), and the token —
//! a real one ([`TokenFacts`]) or the one `trust` plans for ([`PlannedToken`]) — gathered in a [`Context`].
//!
//! Built from raw JSON on purpose: a malformed key or claim is still judged, where typed parsing would hide it.

use crate::Error;
use crate::targets::azure::cloud::AzureCloud;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use iamjwt_core::UnixTime;
use serde_json::Value;

/// A published JWK, reduced to what the rules need. Built from raw JSON so a malformed key is still judged.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct JwkFacts {
    pub kty: String,
    pub kid: Option<String>,
    pub use_: Option<String>,
    pub crv: Option<String>,
    /// Decoded byte lengths of `x` and `y` (EC); `None` when absent or not base64url.
    pub x_len: Option<usize>,
    pub y_len: Option<usize>,
    /// Decoded `n` (RSA): its length and first byte.
    pub n_len: Option<usize>,
    pub n_first: Option<u8>,
}

fn b64_bytes(v: &Value) -> Option<Vec<u8>> {
    v.as_str().and_then(|s| URL_SAFE_NO_PAD.decode(s).ok())
}

fn string(v: &Value) -> Option<String> {
    v.as_str().map(str::to_owned)
}

impl JwkFacts {
    pub fn from_json(v: &Value) -> Self {
        let n = b64_bytes(&v["n"]);
        Self {
            kty: v["kty"].as_str().unwrap_or_default().to_owned(),
            kid: string(&v["kid"]),
            use_: string(&v["use"]),
            crv: string(&v["crv"]),
            x_len: b64_bytes(&v["x"]).map(|b| b.len()),
            y_len: b64_bytes(&v["y"]).map(|b| b.len()),
            n_len: n.as_ref().map(Vec::len),
            n_first: n.as_ref().and_then(|b| b.first().copied()),
        }
    }
}

/// The issuer as the verifier sees it: the URL it is configured with, discovery and the JWKS.
#[derive(Debug, Clone, PartialEq)]
pub struct IssuerFacts {
    /// Exactly what the verifier is told to trust (no normalisation: verifiers compare case-sensitively).
    pub issuer: String,
    pub discovery: Value,
    pub jwks: Vec<JwkFacts>,
}

impl IssuerFacts {
    /// `jwks` is the JWKS document (`{"keys": [...]}`).
    pub fn new(issuer: &str, discovery: Value, jwks: &Value) -> Self {
        Self {
            issuer: issuer.to_owned(),
            discovery,
            jwks: jwks["keys"]
                .as_array()
                .map(|keys| keys.iter().map(JwkFacts::from_json).collect())
                .unwrap_or_default(),
        }
    }

    /// The algorithms discovery says tokens are signed with.
    pub fn offered_algs(&self) -> Vec<&str> {
        self.discovery["id_token_signing_alg_values_supported"]
            .as_array()
            .map(|a| a.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default()
    }
}

/// A compact JWS, decoded WITHOUT verification: the caller verifies it first (the rules judge form, not trust).
#[derive(Debug, Clone, PartialEq)]
pub struct TokenFacts {
    pub alg: String,
    pub kid: Option<String>,
    /// The claims as JSON: the rules look at forms (a fractional `iat`, an array `aud`) typed claims would hide.
    pub claims: Value,
    /// Length of the compact serialisation, in characters.
    pub compact_len: usize,
    /// Decoded signature length in bytes.
    pub signature_len: usize,
}

impl TokenFacts {
    pub fn from_compact(token: &str) -> Result<Self, Error> {
        let bad = |why: &str| Error::MalformedToken(why.to_owned());
        let mut parts = token.split('.');
        let (Some(h), Some(p), Some(s), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(bad("expected three dot-separated parts"));
        };
        let json = |seg: &str, what: &str| -> Result<Value, Error> {
            let bytes = URL_SAFE_NO_PAD
                .decode(seg)
                .map_err(|_| bad(&format!("{what} is not base64url")))?;
            serde_json::from_slice(&bytes).map_err(|_| bad(&format!("{what} is not JSON")))
        };
        let header = json(h, "header")?;
        let claims = json(p, "payload")?;
        let signature = URL_SAFE_NO_PAD
            .decode(s)
            .map_err(|_| bad("signature is not base64url"))?;
        Ok(Self {
            alg: header["alg"]
                .as_str()
                .ok_or_else(|| bad("header has no alg"))?
                .to_owned(),
            kid: string(&header["kid"]),
            claims,
            compact_len: token.len(),
            signature_len: signature.len(),
        })
    }
}

/// The token the issuer will emit for a principal, as far as `trust` knows it before any token exists.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedToken {
    pub sub: String,
    pub aud: Vec<String>,
}

/// What the rules judge: a real token, or the planned one.
#[derive(Debug, Clone, Copy)]
pub enum Subject<'a> {
    Token(&'a TokenFacts),
    Planned(&'a PlannedToken),
}

/// Everything a rule may look at.
#[derive(Debug, Clone, Copy)]
pub struct Context<'a> {
    pub issuer: &'a IssuerFacts,
    pub subject: Subject<'a>,
    /// The audiences the verifier is configured to accept (`--aud`): AWS's client ID list, GCP's allowed audiences.
    pub accepted_audiences: &'a [String],
    pub now: UnixTime,
    /// Clock skew tolerated for "in the past" checks, seconds.
    pub leeway: u64,
    pub azure_cloud: AzureCloud,
    /// identity-center: the claim the trusted token issuer maps to a directory user (`ClaimAttributePath`).
    pub user_claim: Option<&'a str>,
}

impl Context<'_> {
    pub(crate) fn token(&self) -> Option<&TokenFacts> {
        match self.subject {
            Subject::Token(t) => Some(t),
            Subject::Planned(_) => None,
        }
    }
    pub(crate) fn sub(&self) -> Option<&str> {
        match self.subject {
            Subject::Token(t) => t.claims["sub"].as_str(),
            Subject::Planned(p) => Some(&p.sub),
        }
    }
    /// The audiences and whether `aud` is a JSON array (the planned token uses an array for several).
    pub(crate) fn aud(&self) -> (Vec<&str>, bool) {
        match self.subject {
            Subject::Token(t) => match &t.claims["aud"] {
                Value::String(s) => (vec![s.as_str()], false),
                Value::Array(a) => (a.iter().filter_map(Value::as_str).collect(), true),
                _ => (Vec::new(), false),
            },
            Subject::Planned(p) => (p.aud.iter().map(String::as_str).collect(), p.aud.len() > 1),
        }
    }
}
