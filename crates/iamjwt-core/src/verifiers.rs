//! What each verifier requires of our tokens, discovery and JWKS, as ONE table of rules ([`RULES`]).
//!
//! The facts come from `VERIFIERS.md` (each row below cites its source; "(obs.)" marks observed behaviour rather
//! than a documented promise). `iamjwt verify --for TARGET` evaluates the table against a token it has already
//! verified cryptographically; `iamjwt trust TARGET` evaluates it against the token the issuer *will* emit (its
//! `sub` and audience are known, its algorithm is one of discovery's) to warn before anyone runs the output.
//!
//! Pure: parsed facts in, per-rule outcomes out. No I/O, no clock (`now` is a parameter). Algorithms are compared
//! as JOSE `alg` strings, so tokens signed with algorithms this issuer never uses (ES384, RS512, EdDSA…) are judged
//! too.

use crate::error::Error;
use crate::time::UnixTime;
use crate::types::truncate;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::Value;
use std::fmt;
use std::str::FromStr;

/// The verifiers `trust` and `verify --for` know: a closed set (the CLI derives its value list from [`Target::ALL`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Target {
    /// AWS IAM OIDC identity provider + `sts:AssumeRoleWithWebIdentity`.
    Aws,
    /// GCP Workload Identity Federation (OIDC provider).
    Gcp,
    /// Microsoft Entra workload identity federation (federated identity credential).
    Azure,
    /// HashiCorp Vault JWT auth method.
    Vault,
    /// Kubernetes structured authentication (`AuthenticationConfiguration`).
    Kubernetes,
    /// Snowflake workload identity federation (`TYPE = OIDC`).
    Snowflake,
    /// Databricks service principal federation policy.
    Databricks,
}

impl Target {
    pub const ALL: [Target; 7] = [
        Self::Aws,
        Self::Gcp,
        Self::Azure,
        Self::Vault,
        Self::Kubernetes,
        Self::Snowflake,
        Self::Databricks,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Aws => "aws",
            Self::Gcp => "gcp",
            Self::Azure => "azure",
            Self::Vault => "vault",
            Self::Kubernetes => "kubernetes",
            Self::Snowflake => "snowflake",
            Self::Databricks => "databricks",
        }
    }

    /// The verifier's own name, for messages.
    pub fn title(self) -> &'static str {
        match self {
            Self::Aws => "AWS STS",
            Self::Gcp => "GCP Workload Identity Federation",
            Self::Azure => "Microsoft Entra",
            Self::Vault => "Vault",
            Self::Kubernetes => "Kubernetes",
            Self::Snowflake => "Snowflake",
            Self::Databricks => "Databricks",
        }
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Target {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        Self::ALL
            .into_iter()
            .find(|t| t.as_str() == s)
            .ok_or_else(|| {
                Error::InvalidRequest(format!(
                    "unknown verifier {:?}: expected one of {}",
                    truncate(s, 32),
                    Self::ALL.map(Self::as_str).join(", ")
                ))
            })
    }
}

/// Which Entra cloud: each has its own token-exchange audience (VERIFIERS.md, Entra "audience").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AzureCloud {
    #[default]
    Public,
    UsGov,
    China,
}

impl AzureCloud {
    pub const ALL: [AzureCloud; 3] = [Self::Public, Self::UsGov, Self::China];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Public => "public",
            Self::UsGov => "usgov",
            Self::China => "china",
        }
    }

    /// The one audience Entra accepts in this cloud.
    pub fn audience(self) -> &'static str {
        match self {
            Self::Public => "api://AzureADTokenExchange",
            Self::UsGov => "api://AzureADTokenExchangeUSGov",
            Self::China => "api://AzureADTokenExchangeChina",
        }
    }
}

impl FromStr for AzureCloud {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        Self::ALL
            .into_iter()
            .find(|c| c.as_str() == s)
            .ok_or_else(|| {
                Error::InvalidRequest(format!(
                    "unknown Azure cloud {:?}: expected public, usgov or china",
                    truncate(s, 32)
                ))
            })
    }
}

/// A rule's verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Status {
    Ok,
    /// Holds only because the issuer is local (`http` on loopback), or a soft recommendation.
    Warn,
    Fail,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::Warn => "warn",
            Self::Fail => "FAIL",
        }
    }
}

/// What a rule looks at: the issuer's documents (a failure makes `trust` refuse: the verifier would not accept the
/// issuer at all) or the token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    Issuer,
    Token,
}

/// One rule's outcome for one target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub target: Target,
    pub rule: &'static str,
    pub scope: Scope,
    pub status: Status,
    /// What was found.
    pub detail: String,
    /// How to fix it (shown with a failure or warning).
    pub fix: &'static str,
}

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
        let bad = |why: &str| Error::InvalidRequest(format!("malformed token: {why}"));
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
}

impl Context<'_> {
    fn token(&self) -> Option<&TokenFacts> {
        match self.subject {
            Subject::Token(t) => Some(t),
            Subject::Planned(_) => None,
        }
    }
    fn sub(&self) -> Option<&str> {
        match self.subject {
            Subject::Token(t) => t.claims["sub"].as_str(),
            Subject::Planned(p) => Some(&p.sub),
        }
    }
    /// The audiences and whether `aud` is a JSON array (the planned token uses an array for several).
    fn aud(&self) -> (Vec<&str>, bool) {
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

/// A rule's raw verdict, before the table attaches its name and fix.
enum Check {
    Pass(String),
    Warn(String),
    Fail(String),
    /// Nothing to judge (the planned token has no such fact yet).
    Skip,
}

/// One row of the table.
pub struct Rule {
    pub id: &'static str,
    pub targets: &'static [Target],
    pub scope: Scope,
    pub fix: &'static str,
    check: fn(&Context<'_>) -> Check,
}

impl fmt::Debug for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Rule")
            .field("id", &self.id)
            .field("targets", &self.targets)
            .finish()
    }
}

use Target::{Aws, Azure, Databricks, Gcp, Kubernetes, Snowflake, Vault};
const EVERY: &[Target] = &Target::ALL;

/// The table: evaluated in this order, filtered by target.
pub static RULES: &[Rule] = &[
    // OIDC Discovery 1.0 §3 (required metadata) and §4.3 (issuer identical to the configured one); every verifier
    // here starts from discovery.
    Rule {
        id: "discovery",
        targets: EVERY,
        scope: Scope::Issuer,
        fix: "publish an OIDC Discovery 1.0 document (issuer, jwks_uri, response_types_supported, subject_types_supported, id_token_signing_alg_values_supported) whose issuer is exactly the issuer URL",
        check: discovery,
    },
    // RFC 7518 §6.2.1.2/§6.2.1.3: EC x and y are the full coordinate length (32 bytes for P-256, 48 for P-384, 66
    // for P-521), leading zeros kept (VERIFIERS.md, JOSE row).
    Rule {
        id: "jwk-ec-coordinates",
        targets: EVERY,
        scope: Scope::Issuer,
        fix: "encode EC x and y with their leading zero bytes (32 bytes for P-256, 48 for P-384)",
        check: jwk_ec_coordinates,
    },
    // RFC 7518 §6.3.1.1: `n` is the unsigned big-endian modulus, no leading zero byte (VERIFIERS.md, JOSE row).
    Rule {
        id: "jwk-rsa-modulus",
        targets: EVERY,
        scope: Scope::Issuer,
        fix: "strip the leading zero byte from the RSA modulus n",
        check: jwk_rsa_modulus,
    },
    // RFC 7518 §3.4: an ECDSA JWS signature is r‖s of fixed length (64 bytes ES256, 96 ES384, 132 ES512), never DER.
    Rule {
        id: "signature-length",
        targets: EVERY,
        scope: Scope::Token,
        fix: "convert the DER ECDSA signature to JOSE r||s (fixed length, leading zeros kept)",
        check: signature_length,
    },
    // VERIFIERS.md AWS "issuer": https, host + optional path, no port, no query; case-sensitive, equals iss.
    Rule {
        id: "aws-issuer",
        targets: &[Aws],
        scope: Scope::Issuer,
        fix: "serve the issuer over https on the default port (CloudFront in the AWS deployment), without query or fragment",
        check: aws_issuer,
    },
    // VERIFIERS.md AWS "algorithms": RS256/384/512, ES256/384/512 (no EdDSA, no PS*).
    Rule {
        id: "aws-alg",
        targets: &[Aws],
        scope: Scope::Token,
        fix: "request RS256 or ES256 (--alg)",
        check: aws_alg,
    },
    // VERIFIERS.md AWS "claims": iss, sub, aud, iat, exp required; integer timestamps (fractional fail, obs.).
    Rule {
        id: "aws-claims",
        targets: &[Aws],
        scope: Scope::Token,
        fix: "issue iss, sub, aud, iat and exp, with whole-second integer timestamps",
        check: aws_claims,
    },
    // VERIFIERS.md AWS "several aud values": azp required and matched against the client ID list (obs.).
    Rule {
        id: "aws-azp",
        targets: &[Aws],
        scope: Scope::Token,
        fix: "with several audiences put the one registered in the OIDC provider's client ID list FIRST (iamjwt sets azp = the first audience), or request only that audience",
        check: aws_azp,
    },
    // VERIFIERS.md AWS "kid": required unless the JWKS holds exactly one usable key.
    Rule {
        id: "aws-kid",
        targets: &[Aws],
        scope: Scope::Token,
        fix: "put the signing key's kid in the header",
        check: aws_kid,
    },
    // VERIFIERS.md AWS "kid": a JWK `use`, if present, must be `sig` (obs.).
    Rule {
        id: "aws-jwk-use",
        targets: &[Aws],
        scope: Scope::Issuer,
        fix: "publish signing keys with \"use\": \"sig\" (or no use member)",
        check: aws_jwk_use,
    },
    // VERIFIERS.md AWS "JWKS": at most 100 RSA and 100 EC keys.
    Rule {
        id: "aws-jwks-size",
        targets: &[Aws],
        scope: Scope::Issuer,
        fix: "retire old keys: AWS reads at most 100 RSA and 100 EC keys",
        check: aws_jwks_size,
    },
    // VERIFIERS.md AWS "token size": WebIdentityToken ≤ 20,000 characters.
    Rule {
        id: "aws-token-size",
        targets: &[Aws],
        scope: Scope::Token,
        fix: "drop extra claims or session tags: AWS takes at most 20000 characters",
        check: aws_token_size,
    },
    // VERIFIERS.md AWS "session tags claim": shape and limits (single-element arrays, ≤ 50 tags, key ≤ 128, value
    // ≤ 256, transitive keys among the tags).
    Rule {
        id: "aws-session-tags",
        targets: &[Aws],
        scope: Scope::Token,
        fix: "emit https://aws.amazon.com/tags as {\"principal_tags\": {\"k\": [\"v\"]}, \"transitive_tag_keys\": [\"k\"]} within AWS's limits",
        check: aws_session_tags,
    },
    // VERIFIERS.md GCP/Entra/Kubernetes and OIDC Discovery §3: the issuer is an https URL without query or
    // fragment (Databricks and Snowflake document https issuer URLs too).
    Rule {
        id: "https-issuer",
        targets: &[Gcp, Azure, Kubernetes, Snowflake, Databricks],
        scope: Scope::Issuer,
        fix: "serve the issuer over https (CloudFront in the AWS deployment), without query or fragment",
        check: https_issuer,
    },
    // VERIFIERS.md GCP "header": alg RS256 or ES256 only (ES384 is rejected).
    Rule {
        id: "gcp-alg",
        targets: &[Gcp],
        scope: Scope::Token,
        fix: "request RS256 or ES256 (--alg)",
        check: gcp_alg,
    },
    // VERIFIERS.md GCP "header": kid required.
    Rule {
        id: "gcp-kid",
        targets: &[Gcp],
        scope: Scope::Token,
        fix: "put the signing key's kid in the header",
        check: gcp_kid,
    },
    // VERIFIERS.md GCP "lifetime": iat in the past, exp − iat < 48 h.
    Rule {
        id: "gcp-lifetime",
        targets: &[Gcp],
        scope: Scope::Token,
        fix: "issue tokens with iat <= now and a lifetime under 48 hours (--duration)",
        check: gcp_lifetime,
    },
    // VERIFIERS.md GCP "audiences": a provider allows ≤ 10 audiences of ≤ 256 characters each.
    Rule {
        id: "gcp-audiences",
        targets: &[Gcp],
        scope: Scope::Token,
        fix: "use at most 10 allowed audiences of at most 256 characters",
        check: gcp_audiences,
    },
    // VERIFIERS.md GCP "mapping": google.subject (= assertion.sub) ≤ 127 bytes.
    Rule {
        id: "gcp-subject",
        targets: &[Gcp],
        scope: Scope::Token,
        fix: "shorten sub to at most 127 bytes (a shorter sub template in the audience policy), or map google.subject from a shorter claim",
        check: gcp_subject,
    },
    // VERIFIERS.md Entra "algorithm": RS256 is the only supported one.
    Rule {
        id: "azure-alg",
        targets: &[Azure],
        scope: Scope::Token,
        fix: "request RS256 (the default; do not pass --alg ES256 for Entra)",
        check: azure_alg,
    },
    // VERIFIERS.md Entra "audience": exactly one, api://AzureADTokenExchange (US Gov / China variants).
    Rule {
        id: "azure-audience",
        targets: &[Azure],
        scope: Scope::Token,
        fix: "request exactly one audience, Entra's token-exchange audience (--aud api://AzureADTokenExchange; US Gov/China: --cloud), and allow it in the audience policy",
        check: azure_audience,
    },
    // VERIFIERS.md Entra "issuer, subject": each ≤ 600 characters, matched exactly.
    Rule {
        id: "azure-lengths",
        targets: &[Azure],
        scope: Scope::Token,
        fix: "keep the issuer URL and sub within 600 characters each",
        check: azure_lengths,
    },
    // VERIFIERS.md Kubernetes: every RFC 7518 asymmetric algorithm (RS*, PS*, ES*; EdDSA is RFC 8037, not listed).
    Rule {
        id: "kubernetes-alg",
        targets: &[Kubernetes],
        scope: Scope::Token,
        fix: "request RS256 or ES256 (--alg)",
        check: kubernetes_alg,
    },
    // VERIFIERS.md Snowflake: SUBJECT ≤ 255 characters.
    Rule {
        id: "snowflake-subject",
        targets: &[Snowflake],
        scope: Scope::Token,
        fix: "shorten sub to at most 255 characters (a shorter sub template in the audience policy)",
        check: snowflake_subject,
    },
    // VERIFIERS.md OIDC row (OIDC Core 1.0 §2): sub ≤ 255 ASCII characters.
    Rule {
        id: "oidc-subject",
        targets: &[Aws, Vault, Kubernetes, Databricks],
        scope: Scope::Token,
        fix: "keep sub to at most 255 ASCII characters (a shorter sub template in the audience policy)",
        check: oidc_subject,
    },
];

/// The rules for one target, in table order.
pub fn rules_for(target: Target) -> impl Iterator<Item = &'static Rule> {
    RULES.iter().filter(move |r| r.targets.contains(&target))
}

/// Evaluates every rule of `target`; skipped rules (nothing to judge yet) are left out.
pub fn evaluate(target: Target, ctx: &Context<'_>) -> Vec<Outcome> {
    rules_for(target)
        .filter_map(|rule| {
            let (status, detail) = match (rule.check)(ctx) {
                Check::Pass(d) => (Status::Ok, d),
                Check::Warn(d) => (Status::Warn, d),
                Check::Fail(d) => (Status::Fail, d),
                Check::Skip => return None,
            };
            Some(Outcome {
                target,
                rule: rule.id,
                scope: rule.scope,
                status,
                detail,
                fix: rule.fix,
            })
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------------------------
// URL form

/// The parts of an issuer URL the rules look at.
#[derive(Debug, PartialEq, Eq)]
struct UrlForm<'a> {
    scheme: &'a str,
    host: &'a str,
    port: Option<&'a str>,
    has_query_or_fragment: bool,
}

fn url_form(url: &str) -> Option<UrlForm<'_>> {
    let (scheme, rest) = url.split_once("://")?;
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = &rest[..end];
    let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
        let (h, after) = v6.split_once(']')?;
        (h, after.strip_prefix(':'))
    } else {
        match authority.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (authority, None),
        }
    };
    (!host.is_empty()).then_some(UrlForm {
        scheme,
        host,
        port,
        has_query_or_fragment: rest.contains(['?', '#']),
    })
}

/// Local mode: `http` on a loopback host. Only such issuers get a warning instead of a failure for https rules.
pub fn is_loopback_http(url: &str) -> bool {
    url_form(url).is_some_and(|u| {
        u.scheme == "http"
            && (u.host == "localhost"
                || u.host == "::1"
                || u.host
                    .parse::<std::net::Ipv4Addr>()
                    .is_ok_and(|ip| ip.is_loopback()))
    })
}

/// https, no query or fragment; `allow_port` false for AWS. Loopback http (local mode) is a warning.
fn https_form(url: &str, allow_port: bool, who: &str) -> Check {
    let Some(u) = url_form(url) else {
        return Check::Fail(format!("issuer {url:?} is not an absolute URL"));
    };
    if u.has_query_or_fragment {
        return Check::Fail(format!("issuer {url:?} has a query or fragment"));
    }
    if is_loopback_http(url) {
        return Check::Warn(format!(
            "issuer {url} is local-mode http on loopback; {who} needs a public https issuer"
        ));
    }
    if u.scheme != "https" {
        return Check::Fail(format!("issuer {url} is not https; {who} requires https"));
    }
    if !allow_port && u.port.is_some() {
        return Check::Fail(format!(
            "issuer {url} has a port; {who} accepts host and path only"
        ));
    }
    Check::Pass(format!("issuer {url} is https"))
}

// ---------------------------------------------------------------------------------------------------------------
// Checks

fn discovery(ctx: &Context<'_>) -> Check {
    let d = &ctx.issuer.discovery;
    if !d.is_object() {
        return Check::Fail("discovery is not a JSON object".into());
    }
    let mut problems = Vec::new();
    match d["issuer"].as_str() {
        Some(i) if i == ctx.issuer.issuer => {}
        Some(i) => problems.push(format!(
            "issuer {i:?} is not exactly {:?}",
            ctx.issuer.issuer
        )),
        None => problems.push("no issuer".to_owned()),
    }
    if !d["jwks_uri"]
        .as_str()
        .is_some_and(|u| u.starts_with("https://") || u.starts_with("http://"))
    {
        problems.push("no http(s) jwks_uri".to_owned());
    }
    for member in [
        "response_types_supported",
        "subject_types_supported",
        "id_token_signing_alg_values_supported",
    ] {
        if d[member].as_array().is_none_or(Vec::is_empty) {
            problems.push(format!("no {member}"));
        }
    }
    if !problems.is_empty() {
        return Check::Fail(format!("discovery: {}", problems.join("; ")));
    }
    if !ctx.issuer.offered_algs().contains(&"RS256") {
        return Check::Warn(
            "discovery does not list RS256, which OIDC Discovery 1.0 requires; strict verifiers may refuse".into(),
        );
    }
    Check::Pass("discovery is OIDC Discovery 1.0 conformant".into())
}

fn jwk_ec_coordinates(ctx: &Context<'_>) -> Check {
    let mut bad = Vec::new();
    let mut n = 0;
    for k in ctx.issuer.jwks.iter().filter(|k| k.kty == "EC") {
        n += 1;
        let want = match k.crv.as_deref() {
            Some("P-256") => 32,
            Some("P-384") => 48,
            Some("P-521") => 66,
            other => {
                bad.push(format!("{}: unknown curve {other:?}", kid_name(k)));
                continue;
            }
        };
        if k.x_len != Some(want) || k.y_len != Some(want) {
            bad.push(format!(
                "{}: x is {} and y {} bytes, {want} expected",
                kid_name(k),
                len_name(k.x_len),
                len_name(k.y_len)
            ));
        }
    }
    if bad.is_empty() {
        Check::Pass(format!("{n} EC key(s) with full-length coordinates"))
    } else {
        Check::Fail(bad.join("; "))
    }
}

fn jwk_rsa_modulus(ctx: &Context<'_>) -> Check {
    let mut bad = Vec::new();
    let mut n = 0;
    for k in ctx.issuer.jwks.iter().filter(|k| k.kty == "RSA") {
        n += 1;
        match k.n_first {
            None => bad.push(format!("{}: no valid n", kid_name(k))),
            Some(0) => bad.push(format!("{}: n has a leading zero byte", kid_name(k))),
            Some(_) => {}
        }
    }
    if bad.is_empty() {
        Check::Pass(format!("{n} RSA key(s) with a minimal modulus"))
    } else {
        Check::Fail(bad.join("; "))
    }
}

fn kid_name(k: &JwkFacts) -> String {
    k.kid
        .as_deref()
        .map_or_else(|| "key without kid".to_owned(), |kid| format!("key {kid}"))
}

fn len_name(l: Option<usize>) -> String {
    l.map_or_else(|| "missing".to_owned(), |l| l.to_string())
}

fn signature_length(ctx: &Context<'_>) -> Check {
    let Some(t) = ctx.token() else {
        return Check::Skip;
    };
    let want = match t.alg.as_str() {
        "ES256" => 64,
        "ES384" => 96,
        "ES512" => 132,
        other => return Check::Pass(format!("{other}: no fixed signature length")),
    };
    if t.signature_len == want {
        Check::Pass(format!("{} signature is {want}-byte r||s", t.alg))
    } else {
        Check::Fail(format!(
            "{} signature is {} bytes, {want} expected (DER instead of r||s?)",
            t.alg, t.signature_len
        ))
    }
}

fn aws_issuer(ctx: &Context<'_>) -> Check {
    https_form(&ctx.issuer.issuer, false, "AWS IAM")
}

fn https_issuer(ctx: &Context<'_>) -> Check {
    https_form(&ctx.issuer.issuer, true, "this verifier")
}

/// An algorithm rule: a token's alg must be allowed; for the planned token, discovery's algorithms are judged.
fn alg_allowed(ctx: &Context<'_>, allowed: &[&str], who: &str) -> Check {
    let list = allowed.join(", ");
    match ctx.subject {
        Subject::Token(t) if allowed.contains(&t.alg.as_str()) => {
            Check::Pass(format!("{} is accepted by {who}", t.alg))
        }
        Subject::Token(t) => {
            Check::Fail(format!("{} is not accepted by {who} (only {list})", t.alg))
        }
        Subject::Planned(_) => {
            let offered = ctx.issuer.offered_algs();
            let (ok, not): (Vec<&str>, Vec<&str>) =
                offered.iter().partition(|a| allowed.contains(a));
            if ok.is_empty() {
                Check::Fail(format!(
                    "none of the issuer's algorithms ({}) is accepted by {who} (only {list})",
                    offered.join(", ")
                ))
            } else if !not.is_empty() {
                Check::Warn(format!(
                    "{who} accepts only {list}: the workload must request --alg {} ({} would be refused)",
                    ok.first().copied().unwrap_or_default(),
                    not.join(", ")
                ))
            } else {
                Check::Pass(format!("the issuer's {} accepted by {who}", ok.join(", ")))
            }
        }
    }
}

fn aws_alg(ctx: &Context<'_>) -> Check {
    alg_allowed(
        ctx,
        &["RS256", "RS384", "RS512", "ES256", "ES384", "ES512"],
        "AWS STS",
    )
}

fn gcp_alg(ctx: &Context<'_>) -> Check {
    alg_allowed(ctx, &["RS256", "ES256"], "GCP")
}

fn azure_alg(ctx: &Context<'_>) -> Check {
    alg_allowed(ctx, &["RS256"], "Entra")
}

fn kubernetes_alg(ctx: &Context<'_>) -> Check {
    alg_allowed(
        ctx,
        &[
            "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512",
        ],
        "Kubernetes",
    )
}

fn aws_claims(ctx: &Context<'_>) -> Check {
    let Some(t) = ctx.token() else {
        return Check::Skip;
    };
    let c = &t.claims;
    let missing: Vec<&str> = ["iss", "sub", "aud", "iat", "exp"]
        .into_iter()
        .filter(|k| c[*k].is_null())
        .collect();
    if !missing.is_empty() {
        return Check::Fail(format!("missing {}", missing.join(", ")));
    }
    for k in ["iat", "exp", "nbf"] {
        if !(c[k].is_null() || c[k].is_u64() || c[k].is_i64()) {
            return Check::Fail(format!(
                "{k} is {}: AWS refuses timestamps that are not whole seconds (obs.)",
                c[k]
            ));
        }
    }
    Check::Pass("iss, sub, aud, iat, exp present; integer timestamps".into())
}

fn aws_azp(ctx: &Context<'_>) -> Check {
    let (aud, is_array) = ctx.aud();
    if !is_array {
        return Check::Pass(
            "aud is a single string: AWS matches it against the client ID list".into(),
        );
    }
    let azp = match ctx.subject {
        Subject::Token(t) => t.claims["azp"].as_str().map(str::to_owned),
        // iamjwt sets azp = the first audience when there are several.
        Subject::Planned(_) => aud.first().map(|a| (*a).to_owned()),
    };
    let Some(azp) = azp else {
        return Check::Fail(
            "aud is an array and there is no azp: AWS answers InvalidIdentityToken: Incorrect token audience (obs.)".into(),
        );
    };
    if ctx.accepted_audiences.contains(&azp) {
        Check::Pass(format!("azp {azp} is in the client ID list"))
    } else {
        Check::Fail(format!(
            "aud is an array, so AWS matches azp ({azp}) against the client ID list ({}), not aud: Incorrect token audience (obs.)",
            ctx.accepted_audiences.join(", ")
        ))
    }
}

fn usable(k: &JwkFacts) -> bool {
    (k.kty == "RSA" || k.kty == "EC") && k.use_.as_deref().is_none_or(|u| u == "sig")
}

fn aws_kid(ctx: &Context<'_>) -> Check {
    let Some(t) = ctx.token() else {
        return Check::Skip;
    };
    if let Some(kid) = &t.kid {
        return Check::Pass(format!("kid {kid}"));
    }
    let n = ctx.issuer.jwks.iter().filter(|k| usable(k)).count();
    if n == 1 {
        Check::Pass("no kid, but the JWKS holds exactly one usable key".into())
    } else {
        Check::Fail(format!(
            "no kid and the JWKS holds {n} usable keys: AWS cannot pick one"
        ))
    }
}

fn aws_jwk_use(ctx: &Context<'_>) -> Check {
    let bad: Vec<String> = ctx
        .issuer
        .jwks
        .iter()
        .filter(|k| k.use_.as_deref().is_some_and(|u| u != "sig"))
        .map(|k| {
            format!(
                "{} has use {:?}",
                kid_name(k),
                k.use_.as_deref().unwrap_or_default()
            )
        })
        .collect();
    if bad.is_empty() {
        Check::Pass("every key is for signatures".into())
    } else {
        Check::Fail(format!("{} (obs.)", bad.join("; ")))
    }
}

fn aws_jwks_size(ctx: &Context<'_>) -> Check {
    let count = |kty: &str| ctx.issuer.jwks.iter().filter(|k| k.kty == kty).count();
    let (rsa, ec) = (count("RSA"), count("EC"));
    if rsa <= 100 && ec <= 100 {
        Check::Pass(format!("{rsa} RSA and {ec} EC keys (limit 100 each)"))
    } else {
        Check::Fail(format!(
            "{rsa} RSA and {ec} EC keys: AWS reads at most 100 of each"
        ))
    }
}

fn aws_token_size(ctx: &Context<'_>) -> Check {
    let Some(t) = ctx.token() else {
        return Check::Skip;
    };
    if t.compact_len <= 20_000 {
        Check::Pass(format!("{} characters (limit 20000)", t.compact_len))
    } else {
        Check::Fail(format!(
            "{} characters: WebIdentityToken takes at most 20000",
            t.compact_len
        ))
    }
}

fn aws_session_tags(ctx: &Context<'_>) -> Check {
    let Some(t) = ctx.token() else {
        return Check::Skip;
    };
    let tags = &t.claims["https://aws.amazon.com/tags"];
    if tags.is_null() {
        return Check::Pass("no session tags".into());
    }
    match session_tags_problem(tags) {
        None => {
            Check::Pass("session tags in AWS's shape; the trust policy needs sts:TagSession".into())
        }
        Some(p) => Check::Fail(format!("https://aws.amazon.com/tags: {p}")),
    }
}

fn session_tags_problem(tags: &Value) -> Option<String> {
    let Some(principal) = tags["principal_tags"].as_object() else {
        return Some("principal_tags is not an object".into());
    };
    if principal.len() > 50 {
        return Some(format!("{} tags, at most 50", principal.len()));
    }
    for (k, v) in principal {
        if k.is_empty() || k.chars().count() > 128 {
            return Some(format!(
                "tag key {:?} is not 1-128 characters",
                truncate(k, 40)
            ));
        }
        match v.as_array().map(Vec::as_slice) {
            Some([Value::String(s)]) if s.chars().count() <= 256 => {}
            Some([Value::String(_)]) => return Some(format!("tag {k}: value over 256 characters")),
            _ => {
                return Some(format!(
                    "tag {k}: value must be an array of exactly one string"
                ));
            }
        }
    }
    match &tags["transitive_tag_keys"] {
        Value::Null => None,
        Value::Array(keys) => keys.iter().find_map(|k| match k.as_str() {
            Some(s) if principal.contains_key(s) => None,
            _ => Some(format!("transitive tag key {k} is not a principal tag")),
        }),
        _ => Some("transitive_tag_keys is not an array".into()),
    }
}

fn gcp_kid(ctx: &Context<'_>) -> Check {
    let Some(t) = ctx.token() else {
        return Check::Skip;
    };
    match &t.kid {
        Some(kid) => Check::Pass(format!("kid {kid}")),
        None => Check::Fail("no kid in the header: GCP requires it".into()),
    }
}

fn gcp_lifetime(ctx: &Context<'_>) -> Check {
    const MAX: f64 = 48.0 * 3600.0;
    let Some(t) = ctx.token() else {
        return Check::Skip;
    };
    let (Some(iat), Some(exp)) = (t.claims["iat"].as_f64(), t.claims["exp"].as_f64()) else {
        return Check::Fail("iat and exp are required".into());
    };
    if iat > ctx.now.plus(ctx.leeway).0 as f64 {
        return Check::Fail(format!("iat {iat} is in the future (now {})", ctx.now));
    }
    let lifetime = exp - iat;
    if lifetime >= MAX {
        return Check::Fail(format!(
            "lifetime exp - iat = {lifetime} s: GCP requires less than 48 h ({MAX} s)"
        ));
    }
    Check::Pass(format!("lifetime {lifetime} s (< 48 h), iat in the past"))
}

fn gcp_audiences(ctx: &Context<'_>) -> Check {
    let accepted = ctx.accepted_audiences;
    if accepted.len() > 10 {
        return Check::Fail(format!(
            "{} allowed audiences: a GCP provider takes at most 10",
            accepted.len()
        ));
    }
    if let Some(long) = accepted.iter().find(|a| a.chars().count() > 256) {
        return Check::Fail(format!(
            "audience {:?} is over 256 characters: GCP refuses it as an allowed audience",
            truncate(long, 40)
        ));
    }
    Check::Pass(format!(
        "{} allowed audience(s), each ≤ 256 characters",
        accepted.len()
    ))
}

fn gcp_subject(ctx: &Context<'_>) -> Check {
    max_sub(ctx, 127, true, "GCP's google.subject")
}

fn snowflake_subject(ctx: &Context<'_>) -> Check {
    max_sub(ctx, 255, false, "Snowflake's SUBJECT")
}

/// `sub` within `max` bytes (`bytes`) or characters.
fn max_sub(ctx: &Context<'_>, max: usize, bytes: bool, who: &str) -> Check {
    let Some(sub) = ctx.sub() else {
        return Check::Fail("no sub claim".into());
    };
    let (len, unit) = if bytes {
        (sub.len(), "bytes")
    } else {
        (sub.chars().count(), "characters")
    };
    if len <= max {
        Check::Pass(format!("sub is {len} {unit} (limit {max})"))
    } else {
        Check::Fail(format!("sub is {len} {unit}: {who} takes at most {max}"))
    }
}

fn azure_audience(ctx: &Context<'_>) -> Check {
    let want = ctx.azure_cloud.audience();
    match ctx.aud().0.as_slice() {
        [one] if *one == want => Check::Pass(format!("aud is {want}")),
        [one] => Check::Fail(format!(
            "aud is {one:?}; Entra ({} cloud) accepts only {want}",
            ctx.azure_cloud.as_str()
        )),
        many => Check::Fail(format!(
            "{} audiences; Entra requires exactly one, {want}",
            many.len()
        )),
    }
}

fn azure_lengths(ctx: &Context<'_>) -> Check {
    let iss = ctx.issuer.issuer.chars().count();
    let sub = ctx.sub().map_or(0, |s| s.chars().count());
    if ctx.sub().is_none() {
        return Check::Fail("no sub claim".into());
    }
    if iss > 600 || sub > 600 {
        return Check::Fail(format!(
            "issuer is {iss} and sub {sub} characters: Entra takes at most 600 each"
        ));
    }
    Check::Pass(format!(
        "issuer {iss} and sub {sub} characters (limit 600 each)"
    ))
}

fn oidc_subject(ctx: &Context<'_>) -> Check {
    match ctx.sub() {
        None | Some("") => Check::Fail("no sub claim".into()),
        Some(s) if !s.is_ascii() => Check::Fail("sub is not ASCII (OIDC Core §2)".into()),
        Some(s) if s.len() > 255 => Check::Fail(format!(
            "sub is {} characters: OIDC Core limits it to 255",
            s.len()
        )),
        Some(s) => Check::Pass(format!("sub is {} ASCII characters (limit 255)", s.len())),
    }
}

#[cfg(test)]
#[path = "verifiers/tests.rs"]
mod tests;
