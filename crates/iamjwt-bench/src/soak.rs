//! Soak: sustained load on `iamjwt serve` with a key rotation in the middle. Passes only if there were no errors,
//! every sampled token verifies against the published JWKS (tokens from before and after the rotation), the
//! rotation actually changed the signing key, and resident memory at the end is within a tolerance of its size
//! after warm-up.

use crate::Error;
use crate::load::{self, LoadConfig, LoadResult};
use crate::server::Server;
use serde::Serialize;
use std::collections::BTreeSet;
use std::time::Duration;

pub struct SoakConfig {
    pub duration: Duration,
    pub concurrency: usize,
    /// RSS growth allowed between the end of warm-up (30 % of the run) and the end.
    pub rss_tolerance: f64,
}

#[derive(Debug, Serialize)]
pub struct SoakReport {
    pub es256: LoadResult,
    pub rs256: LoadResult,
    pub rss_after_warmup_kib: u64,
    pub rss_end_kib: u64,
    pub sampled: usize,
    pub verified: usize,
    pub kids_seen: usize,
}

fn verify_all(server: &Server, tokens: &[String]) -> Result<usize, Error> {
    let (status, body) = http_get(&format!("{}/.well-known/jwks.json", server.url))?;
    if status != 200 {
        return Err(Error::Http(format!("JWKS: HTTP {status}")));
    }
    let jwks: jsonwebtoken::jwk::JwkSet =
        serde_json::from_str(&body).map_err(|e| Error::Http(e.to_string()))?;
    Ok(tokens
        .iter()
        .filter(|t| verify(&jwks, t, &server.url, true).is_ok())
        .count())
}

/// `token` verifies against `jwks`: a key its `kid` names, its signature, `iss`, `aud` (the bench audience), and,
/// with `check_time`, `exp`/`nbf` against the wall clock (a soak on a virtual clock checks those elsewhere).
pub fn verify(
    jwks: &jsonwebtoken::jwk::JwkSet,
    token: &str,
    issuer: &str,
    check_time: bool,
) -> Result<(), String> {
    let header = jsonwebtoken::decode_header(token).map_err(|e| e.to_string())?;
    let kid = header.kid.as_deref().unwrap_or_default();
    let jwk = jwks
        .find(kid)
        .ok_or_else(|| format!("no key {kid:?} in the JWKS"))?;
    let key = jsonwebtoken::DecodingKey::from_jwk(jwk).map_err(|e| e.to_string())?;
    let mut v = jsonwebtoken::Validation::new(header.alg);
    v.set_audience(&[crate::moto::AUDIENCE]);
    v.set_issuer(&[issuer]);
    v.validate_exp = check_time;
    v.validate_nbf = check_time;
    jsonwebtoken::decode::<serde_json::Value>(token, &key, &v)
        .map(|_| ())
        .map_err(|e| format!("kid {kid}: {e}"))
}

/// Minimal loopback GET (the JWKS check must not depend on the client under test).
fn http_get(url: &str) -> Result<(u16, String), Error> {
    use std::io::{Read as _, Write as _};
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| Error::Http(format!("not a loopback URL: {url}")))?;
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let mut s = std::net::TcpStream::connect(authority).map_err(|e| Error::Http(e.to_string()))?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {authority}\r\nConnection: close\r\n\r\n"
    )
    .map_err(|e| Error::Http(e.to_string()))?;
    let mut resp = String::new();
    s.read_to_string(&mut resp)
        .map_err(|e| Error::Http(e.to_string()))?;
    let status = resp
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    Ok((
        status,
        resp.split_once("\r\n\r\n")
            .map(|(_, b)| b.to_owned())
            .unwrap_or_default(),
    ))
}

pub async fn run(server: &Server, cfg: &SoakConfig) -> Result<SoakReport, Error> {
    let half = (cfg.concurrency / 2).max(1);
    let load_cfg = |alg: &str| LoadConfig {
        url: server.url.clone(),
        credentials: server.credentials(),
        region: "us-east-1".into(),
        alg: alg.into(),
        concurrency: half,
        duration: cfg.duration,
        sample_every: 20,
        // Two loads share the server: its CPU per token is not attributable to either.
        server_pid: None,
    };
    let (es_cfg, rs_cfg) = (load_cfg("ES256"), load_cfg("RS256"));
    let es = tokio::spawn(async move { load::run(&es_cfg).await });
    let rs = tokio::spawn(async move { load::run(&rs_cfg).await });

    tokio::time::sleep(cfg.duration.mul_f64(0.3)).await;
    let rss_after_warmup_kib = server
        .rss_kib()
        .ok_or_else(|| Error::Setup("cannot read the server's RSS".into()))?;
    tokio::time::sleep(cfg.duration.mul_f64(0.2)).await;
    // The rotation runs in another process, as an operator's would; the server picks the new key up within ~1 s.
    server.rotate("+25h")?;

    let es256 = es.await.map_err(|e| Error::Failed(e.to_string()))??;
    let rs256 = rs.await.map_err(|e| Error::Failed(e.to_string()))??;
    let rss_end_kib = server.rss_kib().unwrap_or(u64::MAX);

    let samples: Vec<String> = es256
        .samples
        .iter()
        .chain(&rs256.samples)
        .cloned()
        .collect();
    let kids: BTreeSet<String> = samples
        .iter()
        .filter_map(|t| jsonwebtoken::decode_header(t).ok().and_then(|h| h.kid))
        .collect();
    let verified = verify_all(server, &samples)?;
    let report = SoakReport {
        rss_after_warmup_kib,
        rss_end_kib,
        sampled: samples.len(),
        verified,
        kids_seen: kids.len(),
        es256,
        rs256,
    };

    let mut problems = Vec::new();
    let errors = report.es256.errors + report.rs256.errors;
    if errors > 0 {
        let examples: Vec<&String> = report
            .es256
            .error_examples
            .iter()
            .chain(&report.rs256.error_examples)
            .collect();
        problems.push(format!("{errors} failed requests (e.g. {examples:?})"));
    }
    if report.sampled == 0 || report.verified != report.sampled {
        problems.push(format!(
            "{} of {} sampled tokens verified",
            report.verified, report.sampled
        ));
    }
    if report.kids_seen < 4 {
        problems.push(format!(
            "only {} signing keys seen: the rotation did not take effect",
            report.kids_seen
        ));
    }
    let limit = (report.rss_after_warmup_kib as f64 * (1.0 + cfg.rss_tolerance)) as u64;
    if report.rss_end_kib > limit {
        problems.push(format!(
            "resident memory grew from {} KiB after warm-up to {} KiB (limit {limit} KiB)",
            report.rss_after_warmup_kib, report.rss_end_kib
        ));
    }
    if problems.is_empty() {
        Ok(report)
    } else {
        Err(Error::Failed(problems.join("; ")))
    }
}
