//! SigV4 verification as API Gateway's `AWS_IAM` authorization performs it (DESIGN.md §8).
//!
//! We parse the `Authorization` header (or the presigned query), check the credential scope, the clock skew and
//! the session token, then let `aws-sigv4` recompute the signature over exactly the headers the client signed —
//! no hand-written canonicalisation — and compare in constant time.
//!
//! The payload hash of a presigned request is the SHA-256 of its body (empty for `GET`), as for a header-signed
//! one: `UNSIGNED-PAYLOAD` is S3's convention for presigned URLs, not SigV4's. botocore's `SigV4QueryAuth`, the AWS
//! CRT and therefore the AWS CLI and SDKs sign `execute-api` URLs that way (docs/http-api.md, issue 10).

use crate::error::Error;
use crate::principals::{LocalPrincipal, Principals};
use aws_credential_types::Credentials;
use aws_sigv4::http_request::{
    SignableBody, SignableRequest, SignatureLocation, SigningSettings, sign,
};
use aws_sigv4::sign::v4;
use http::HeaderMap;
use iamjwt_core::UnixTime;
use iamjwt_core::request::SIGV4_QUERY_PARAMS;
use iamjwt_sigv4::presigned_payload;
use std::sync::Arc;
use std::time::Duration;
use subtle::ConstantTimeEq as _;

const ALGORITHM: &str = "AWS4-HMAC-SHA256";
/// API Gateway accepts requests signed within 5 minutes of its clock.
pub const MAX_SKEW_SECONDS: u64 = 300;
/// SigV4 caps presigned URL lifetime at 7 days.
const MAX_EXPIRES_SECONDS: u64 = 604_800;

/// The parts of a request that SigV4 covers.
#[derive(Debug, Clone, Copy)]
pub struct RequestParts<'a> {
    pub method: &'a str,
    pub path: &'a str,
    pub query: Option<&'a str>,
    pub headers: &'a HeaderMap,
    pub body: &'a [u8],
}

/// A parsed `Authorization` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authorization<'a> {
    pub access_key_id: &'a str,
    pub date: &'a str,
    pub region: &'a str,
    pub service: &'a str,
    pub signed_headers: Vec<&'a str>,
    pub signature: &'a str,
}

fn deny(msg: impl Into<String>) -> Error {
    Error::Denied(msg.into())
}

/// Parses `AWS4-HMAC-SHA256 Credential=…, SignedHeaders=…, Signature=…`.
pub fn parse_authorization(value: &str) -> Result<Authorization<'_>, Error> {
    let rest = value
        .strip_prefix(ALGORITHM)
        .and_then(|r| r.strip_prefix(' '))
        .ok_or_else(|| deny("Authorization header must use AWS4-HMAC-SHA256"))?;
    let (mut credential, mut signed, mut signature) = (None, None, None);
    for part in rest.split(',') {
        let (k, v) = part
            .trim()
            .split_once('=')
            .ok_or_else(|| deny("malformed Authorization header"))?;
        let slot = match k {
            "Credential" => &mut credential,
            "SignedHeaders" => &mut signed,
            "Signature" => &mut signature,
            _ => return Err(deny("malformed Authorization header: unexpected component")),
        };
        if slot.replace(v).is_some() {
            return Err(deny("malformed Authorization header: repeated component"));
        }
    }
    let (Some(credential), Some(signed), Some(signature)) = (credential, signed, signature) else {
        return Err(deny(
            "Authorization header needs Credential, SignedHeaders and Signature",
        ));
    };
    let (access_key_id, date, region, service) = parse_credential(credential)?;
    Ok(Authorization {
        access_key_id,
        date,
        region,
        service,
        signed_headers: parse_signed_headers(signed)?,
        signature: parse_signature(signature)?,
    })
}

/// `AKID/YYYYMMDD/region/service/aws4_request`.
fn parse_credential(c: &str) -> Result<(&str, &str, &str, &str), Error> {
    let mut it = c.split('/');
    let (Some(akid), Some(date), Some(region), Some(service), Some("aws4_request"), None) = (
        it.next(),
        it.next(),
        it.next(),
        it.next(),
        it.next(),
        it.next(),
    ) else {
        return Err(deny("malformed credential scope"));
    };
    if akid.is_empty() || akid.len() > 128 || !akid.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err(deny("malformed access key id"));
    }
    if date.len() != 8 || !date.bytes().all(|b| b.is_ascii_digit()) {
        return Err(deny("malformed credential scope date"));
    }
    Ok((akid, date, region, service))
}

fn parse_signed_headers(s: &str) -> Result<Vec<&str>, Error> {
    let names: Vec<&str> = s.split(';').collect();
    let valid = |n: &&str| {
        !n.is_empty()
            && n.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
    };
    if names.len() > 64 || !names.iter().all(valid) || !names.windows(2).all(|w| w[0] < w[1]) {
        return Err(deny(
            "SignedHeaders must be sorted, unique, lower-case header names",
        ));
    }
    if !names.contains(&"host") {
        return Err(deny("the host header must be signed"));
    }
    Ok(names)
}

fn parse_signature(s: &str) -> Result<&str, Error> {
    if s.len() == 64
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    {
        Ok(s)
    } else {
        Err(deny("malformed signature"))
    }
}

/// `YYYYMMDDTHHMMSSZ` → seconds since the epoch.
pub fn parse_amz_date(s: &str) -> Option<UnixTime> {
    let b = s.as_bytes();
    if b.len() != 16 || b[8] != b'T' || b[15] != b'Z' {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<u64> {
        let part = s.get(r)?;
        part.bytes()
            .all(|c| c.is_ascii_digit())
            .then(|| part.parse().ok())?
    };
    let (y, mo, d, h, mi, se) = (
        num(0..4)?,
        num(4..6)?,
        num(6..8)?,
        num(9..11)?,
        num(11..13)?,
        num(13..15)?,
    );
    if !(1970..=9999).contains(&y)
        || !(1..=12).contains(&mo)
        || !(1..=31).contains(&d)
        || h > 23
        || mi > 59
        || se > 60
    {
        return None;
    }
    // Days from civil (H. Hinnant), for the proleptic Gregorian calendar.
    let y = if mo <= 2 { y - 1 } else { y };
    let era = y / 400;
    let yoe = y - era * 400;
    let mp = (mo + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(UnixTime(days * 86_400 + h * 3600 + mi * 60 + se))
}

/// Verifies SigV4 requests against the local principals.
#[derive(Debug, Clone)]
pub struct Verifier {
    principals: Arc<Principals>,
    region: String,
    service: String,
}

/// What was presented, whichever form it came in.
struct Presented {
    access_key_id: String,
    scope_date: String,
    region: String,
    service: String,
    signed_headers: Vec<String>,
    signature: String,
    amz_date: String,
    security_token: Option<String>,
    /// Presigned: the query without the signing parameters, and the lifetime.
    presigned: Option<(String, u64)>,
}

impl Presented {
    fn from_parts(
        credential: &str,
        signed: &str,
        signature: &str,
        amz_date: &str,
        security_token: Option<String>,
        presigned: Option<(String, u64)>,
    ) -> Result<Self, Error> {
        let (akid, scope_date, region, service) = parse_credential(credential)?;
        Ok(Self {
            access_key_id: akid.to_owned(),
            scope_date: scope_date.to_owned(),
            region: region.to_owned(),
            service: service.to_owned(),
            signed_headers: parse_signed_headers(signed)?
                .into_iter()
                .map(str::to_owned)
                .collect(),
            signature: parse_signature(signature)?.to_owned(),
            amz_date: amz_date.to_owned(),
            security_token,
            presigned,
        })
    }
}

impl Verifier {
    pub fn new(principals: Arc<Principals>, region: impl Into<String>) -> Self {
        Self {
            principals,
            region: region.into(),
            service: "execute-api".into(),
        }
    }

    /// For checking against AWS's published test vectors, which use other service names.
    pub fn with_service(mut self, service: impl Into<String>) -> Self {
        self.service = service.into();
        self
    }

    pub fn region(&self) -> &str {
        &self.region
    }

    /// Returns the principal whose credentials signed the request, or why not.
    pub fn verify(&self, req: &RequestParts<'_>, now: UnixTime) -> Result<&LocalPrincipal, Error> {
        let p = self.presented(req)?;
        if p.region != self.region {
            return Err(deny(format!(
                "credential scope region {:?} is not {:?}",
                clip(&p.region),
                self.region
            )));
        }
        if p.service != self.service {
            return Err(deny(format!(
                "credential scope service {:?} is not {:?}",
                clip(&p.service),
                self.service
            )));
        }
        let signed_at = parse_amz_date(&p.amz_date).ok_or_else(|| deny("malformed X-Amz-Date"))?;
        if !p.amz_date.starts_with(&p.scope_date) {
            return Err(deny("credential scope date does not match X-Amz-Date"));
        }
        match p.presigned {
            None if signed_at.0.abs_diff(now.0) > MAX_SKEW_SECONDS => {
                return Err(deny(
                    "signature expired: request time is more than 5 minutes from the server time",
                ));
            }
            Some((_, expires))
                if now.0 + MAX_SKEW_SECONDS < signed_at.0 || now.0 > signed_at.0 + expires =>
            {
                return Err(deny("presigned URL is expired or not yet valid"));
            }
            _ => {}
        }
        let principal = self.principals.get(&p.access_key_id).ok_or_else(|| {
            deny("the security token included in the request is invalid (unknown access key)")
        })?;
        match (&principal.session_token, &p.security_token) {
            (Some(want), Some(got)) if bool::from(want.as_bytes().ct_eq(got.as_bytes())) => {}
            (Some(_), Some(_)) => {
                return Err(deny(
                    "the security token included in the request is invalid",
                ));
            }
            (Some(_), None) => return Err(deny("temporary credentials need X-Amz-Security-Token")),
            (None, Some(_)) => {
                return Err(deny("X-Amz-Security-Token given for long-term credentials"));
            }
            (None, None) => {}
        }
        let matches = |payload: Option<SignableBody<'_>>| -> Result<bool, Error> {
            let expected = self.recompute(req, &p, principal, signed_at, payload)?;
            Ok(bool::from(
                expected.as_bytes().ct_eq(p.signature.as_bytes()),
            ))
        };
        if matches(None)? {
            return Ok(principal);
        }
        // Refused either way; only the message differs, for clients that presign the S3 way.
        if p.presigned.is_some() && matches(Some(SignableBody::UnsignedPayload))? {
            return Err(deny(format!(
                "the request signature we calculated does not match the signature you provided: it was computed \
                 over the payload UNSIGNED-PAYLOAD, which only S3 accepts; presigned URLs for {} sign the SHA-256 \
                 of the body (botocore SigV4QueryAuth, not S3SigV4QueryAuth)",
                self.service
            )));
        }
        Err(deny(
            "the request signature we calculated does not match the signature you provided",
        ))
    }

    fn presented(&self, req: &RequestParts<'_>) -> Result<Presented, Error> {
        // aws-sigv4 writes its own X-Amz-Date and X-Amz-Security-Token (these values) into the canonical request,
        // so a second value of either would go unsigned: at most one.
        let header = |name: &str| -> Result<Option<&str>, Error> {
            let mut values = req.headers.get_all(name).iter();
            match (values.next(), values.next()) {
                (None, _) => Ok(None),
                (Some(v), None) => v
                    .to_str()
                    .map(Some)
                    .map_err(|_| deny(format!("malformed {name} header"))),
                (Some(_), Some(_)) => Err(deny(format!("repeated {name} header"))),
            }
        };
        if let Some(auth) = req.headers.get(http::header::AUTHORIZATION) {
            let auth = auth
                .to_str()
                .map_err(|_| deny("malformed Authorization header"))?;
            let a = parse_authorization(auth)?;
            return Ok(Presented {
                access_key_id: a.access_key_id.to_owned(),
                scope_date: a.date.to_owned(),
                region: a.region.to_owned(),
                service: a.service.to_owned(),
                signed_headers: a.signed_headers.into_iter().map(str::to_owned).collect(),
                signature: a.signature.to_owned(),
                amz_date: header("x-amz-date")?
                    .ok_or_else(|| deny("missing X-Amz-Date header"))?
                    .to_owned(),
                security_token: header("x-amz-security-token")?.map(str::to_owned),
                presigned: None,
            });
        }
        let query = req.query.unwrap_or("");
        // The signing parameters. Any other parameter, `X-Amz-Content-Sha256` included, is an ordinary one: it stays
        // in the canonical query string and never changes the payload hash.
        let signing = |k: &str| SIGV4_QUERY_PARAMS.contains(&k);
        let mut q: Vec<(String, String)> = Vec::new();
        for (k, v) in form_urlencoded::parse(query.as_bytes()) {
            if signing(&k) {
                if q.iter().any(|(seen, _)| *seen == *k) {
                    return Err(deny(format!("repeated {k}")));
                }
                q.push((k.into_owned(), v.into_owned()));
            }
        }
        let get = |name: &str| q.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str());
        let Some(signature) = get("X-Amz-Signature") else {
            return Err(deny(
                "missing authentication: sign the request with SigV4 (AWS_IAM)",
            ));
        };
        if get("X-Amz-Algorithm") != Some(ALGORITHM) {
            return Err(deny("X-Amz-Algorithm must be AWS4-HMAC-SHA256"));
        }
        let expires: u64 = get("X-Amz-Expires")
            .and_then(|e| e.parse().ok())
            .filter(|e| (1..=MAX_EXPIRES_SECONDS).contains(e))
            .ok_or_else(|| deny("X-Amz-Expires must be 1..=604800"))?;
        // The query minus the signing parameters (aws-sigv4 adds back all but the signature), kept byte-for-byte as
        // the client encoded it.
        let rest: Vec<&str> = query
            .split('&')
            .filter(|kv| !kv.is_empty())
            .filter(|kv| {
                let key = kv.split('=').next().unwrap_or_default();
                !form_urlencoded::parse(key.as_bytes()).any(|(k, _)| signing(&k))
            })
            .collect();
        Presented::from_parts(
            get("X-Amz-Credential").ok_or_else(|| deny("missing X-Amz-Credential"))?,
            get("X-Amz-SignedHeaders").ok_or_else(|| deny("missing X-Amz-SignedHeaders"))?,
            signature,
            get("X-Amz-Date").ok_or_else(|| deny("missing X-Amz-Date"))?,
            get("X-Amz-Security-Token").map(str::to_owned),
            Some((rest.join("&"), expires)),
        )
    }

    /// The signature the request should carry; `payload` overrides the payload hash the request implies.
    fn recompute(
        &self,
        req: &RequestParts<'_>,
        p: &Presented,
        principal: &LocalPrincipal,
        signed_at: UnixTime,
        payload: Option<SignableBody<'_>>,
    ) -> Result<String, Error> {
        let mut headers: Vec<(&str, String)> = Vec::with_capacity(p.signed_headers.len());
        for name in &p.signed_headers {
            // A value that is not visible ASCII cannot be canonicalised; skipping it would leave it unsigned.
            let values = req
                .headers
                .get_all(name.as_str())
                .iter()
                .map(|v| v.to_str())
                .collect::<Result<Vec<&str>, _>>()
                .map_err(|_| deny(format!("signed header {name} is not visible ASCII")))?;
            if values.is_empty() {
                return Err(deny(format!("signed header {name} is missing")));
            }
            headers.push((name.as_str(), values.join(",")));
        }
        let mut settings = SigningSettings::default();
        settings.excluded_headers = Some(Vec::new());
        let (uri, body) = match &p.presigned {
            None => {
                let uri = match req.query {
                    Some(q) if !q.is_empty() => format!("{}?{q}", req.path),
                    _ => req.path.to_owned(),
                };
                let body = match req
                    .headers
                    .get("x-amz-content-sha256")
                    .and_then(|v| v.to_str().ok())
                {
                    Some("UNSIGNED-PAYLOAD") => SignableBody::UnsignedPayload,
                    Some(h) => SignableBody::Precomputed(h.to_owned()),
                    None => SignableBody::Bytes(req.body),
                };
                (uri, body)
            }
            Some((rest, expires)) => {
                settings.signature_location = SignatureLocation::QueryParams;
                settings.expires_in = Some(Duration::from_secs(*expires));
                let uri = if rest.is_empty() {
                    req.path.to_owned()
                } else {
                    format!("{}?{rest}", req.path)
                };
                (uri, presigned_payload(&self.service, req.body))
            }
        };
        let body = payload.unwrap_or(body);
        let identity = Credentials::new(
            principal.access_key_id.clone(),
            principal.secret_access_key.clone(),
            p.security_token.clone(),
            None,
            "iamjwt-local",
        )
        .into();
        let params = v4::SigningParams::builder()
            .identity(&identity)
            .region(&self.region)
            .name(&self.service)
            .time(signed_at.to_system_time())
            .settings(settings)
            .build()
            .map_err(|e| deny(format!("cannot verify: {e}")))?
            .into();
        let signable = SignableRequest::new(
            req.method,
            uri,
            headers.iter().map(|(k, v)| (*k, v.as_str())),
            body,
        )
        .map_err(|e| deny(format!("cannot canonicalise request: {e}")))?;
        let out = sign(signable, &params).map_err(|e| deny(format!("cannot verify: {e}")))?;
        Ok(out.signature().to_owned())
    }
}

fn clip(s: &str) -> String {
    s.chars().take(40).collect()
}

#[cfg(test)]
mod tests;

/// The client side (header or presigned form), for tests and tools that drive the gateway.
pub use iamjwt_sigv4::sign_get;
