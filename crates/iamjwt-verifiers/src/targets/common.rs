//! Rows several targets share (OIDC Discovery, JOSE encodings, the https issuer, OIDC's `sub`), and the checks the
//! target modules build their own rows from (an algorithm list, a `sub` length, the issuer URL's form).

use crate::facts::{Context, JwkFacts, Subject};
use crate::rule::{Check, Rule, Scope};

/// The rows every target's table starts with, in this order (a target's own [`crate::targets::Spec::rules`] follow).
pub(crate) static EVERY: [&Rule; 4] = [
    &DISCOVERY,
    &JWK_EC_COORDINATES,
    &JWK_RSA_MODULUS,
    &SIGNATURE_LENGTH,
];

// OIDC Discovery 1.0 §3 (required metadata) and §4.3 (issuer identical to the configured one); every verifier
// here starts from discovery.
pub(crate) static DISCOVERY: Rule = Rule {
    id: "discovery",
    scope: Scope::Issuer,
    fix: "publish an OIDC Discovery 1.0 document (issuer, jwks_uri, response_types_supported, subject_types_supported, id_token_signing_alg_values_supported) whose issuer is exactly the issuer URL",
    check: discovery,
};

// RFC 7518 §6.2.1.2/§6.2.1.3: EC x and y are the full coordinate length (32 bytes for P-256, 48 for P-384, 66
// for P-521), leading zeros kept (VERIFIERS.md, JOSE row).
pub(crate) static JWK_EC_COORDINATES: Rule = Rule {
    id: "jwk-ec-coordinates",
    scope: Scope::Issuer,
    fix: "encode EC x and y with their leading zero bytes (32 bytes for P-256, 48 for P-384)",
    check: jwk_ec_coordinates,
};

// RFC 7518 §6.3.1.1: `n` is the unsigned big-endian modulus, no leading zero byte (VERIFIERS.md, JOSE row).
pub(crate) static JWK_RSA_MODULUS: Rule = Rule {
    id: "jwk-rsa-modulus",
    scope: Scope::Issuer,
    fix: "strip the leading zero byte from the RSA modulus n",
    check: jwk_rsa_modulus,
};

// RFC 7518 §3.4: an ECDSA JWS signature is r‖s of fixed length (64 bytes ES256, 96 ES384, 132 ES512), never DER.
pub(crate) static SIGNATURE_LENGTH: Rule = Rule {
    id: "signature-length",
    scope: Scope::Token,
    fix: "convert the DER ECDSA signature to JOSE r||s (fixed length, leading zeros kept)",
    check: signature_length,
};

// VERIFIERS.md GCP/Entra/Kubernetes and OIDC Discovery §3: the issuer is an https URL without query or
// fragment (Databricks and Snowflake document https issuer URLs too).
pub(crate) static HTTPS_ISSUER: Rule = Rule {
    id: "https-issuer",
    scope: Scope::Issuer,
    fix: "serve the issuer over https (CloudFront in the AWS deployment), without query or fragment",
    check: https_issuer,
};

// VERIFIERS.md OIDC row (OIDC Core 1.0 §2): sub ≤ 255 ASCII characters.
pub(crate) static OIDC_SUBJECT: Rule = Rule {
    id: "oidc-subject",
    scope: Scope::Token,
    fix: "keep sub to at most 255 ASCII characters (a shorter sub template in the audience policy)",
    check: oidc_subject,
};

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
pub(crate) fn https_form(url: &str, allow_port: bool, who: &str) -> Check {
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

pub(crate) fn kid_name(k: &JwkFacts) -> String {
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

fn https_issuer(ctx: &Context<'_>) -> Check {
    https_form(&ctx.issuer.issuer, true, "this verifier")
}

/// An algorithm rule: a token's alg must be allowed; for the planned token, discovery's algorithms are judged.
pub(crate) fn alg_allowed(ctx: &Context<'_>, allowed: &[&str], who: &str) -> Check {
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

/// `sub` within `max` bytes (`bytes`) or characters.
pub(crate) fn max_sub(ctx: &Context<'_>, max: usize, bytes: bool, who: &str) -> Check {
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
