//! The `/token` query (DESIGN.md §1), parsed strictly: unknown or repeated parameters are errors, never ignored.

use crate::error::Error;
use crate::limits::{MAX_AUDIENCES, MAX_REQUEST_TAGS};
use crate::template::{check_tag_key, check_tag_value};
use crate::types::{Algorithm, Audience, truncate};
use std::collections::BTreeMap;

/// SigV4 query-signing parameters: API Gateway passes them through with a presigned URL; they are not ours.
pub const SIGV4_QUERY_PARAMS: [&str; 7] = [
    "X-Amz-Algorithm",
    "X-Amz-Credential",
    "X-Amz-Date",
    "X-Amz-Expires",
    "X-Amz-SignedHeaders",
    "X-Amz-Signature",
    "X-Amz-Security-Token",
];

/// The query parameters of the contract (besides [`SIGV4_QUERY_PARAMS`]); anything else is refused.
pub const PARAMETERS: [&str; 4] = ["aud", "duration", "alg", "tag"];

/// A parsed, not yet authorised, token request.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TokenRequest {
    /// Empty means "the default audience".
    pub audiences: Vec<Audience>,
    pub duration: Option<u64>,
    pub alg: Option<Algorithm>,
    /// Request tags (`tag=KEY=VALUE`, 0–50); whether the keys are allowed is the deciding rule's call.
    pub tags: BTreeMap<String, String>,
}

impl TokenRequest {
    /// Bound on the number of query pairs looked at, whatever they are: every `aud` and `tag`, `duration`, `alg`
    /// and the SigV4 presign parameters fit.
    pub const MAX_PAIRS: usize = MAX_AUDIENCES + MAX_REQUEST_TAGS + 2 + SIGV4_QUERY_PARAMS.len();

    /// Parses decoded query pairs in order.
    pub fn from_pairs<'a>(
        pairs: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<Self, Error> {
        let mut req = Self::default();
        let mut seen_duration = false;
        let mut seen_alg = false;
        for (i, (name, value)) in pairs.into_iter().enumerate() {
            if i >= Self::MAX_PAIRS {
                return Err(Error::InvalidRequest(format!(
                    "too many query parameters (limit {})",
                    Self::MAX_PAIRS
                )));
            }
            match name {
                "aud" => {
                    if req.audiences.len() == MAX_AUDIENCES {
                        return Err(Error::InvalidRequest(format!(
                            "too many aud parameters (limit {MAX_AUDIENCES})"
                        )));
                    }
                    let aud = Audience::parse(value)?;
                    if !req.audiences.contains(&aud) {
                        req.audiences.push(aud);
                    }
                }
                "duration" => {
                    if std::mem::replace(&mut seen_duration, true) {
                        return Err(Error::InvalidRequest(
                            "duration given more than once".into(),
                        ));
                    }
                    req.duration = Some(parse_seconds(value)?);
                }
                "alg" => {
                    if std::mem::replace(&mut seen_alg, true) {
                        return Err(Error::InvalidRequest("alg given more than once".into()));
                    }
                    req.alg = Some(value.parse()?);
                }
                "tag" => {
                    if req.tags.len() == MAX_REQUEST_TAGS {
                        return Err(Error::InvalidRequest(format!(
                            "too many tag parameters (limit {MAX_REQUEST_TAGS})"
                        )));
                    }
                    let (k, v) = parse_tag(value)?;
                    if req.tags.insert(k.to_owned(), v.to_owned()).is_some() {
                        return Err(Error::InvalidRequest(format!(
                            "tag {:?} given more than once",
                            truncate(k, 40)
                        )));
                    }
                }
                n if SIGV4_QUERY_PARAMS.contains(&n) => {}
                other => {
                    return Err(Error::InvalidRequest(format!(
                        "unknown parameter {:?}: expected one of {}",
                        truncate(other, 40),
                        PARAMETERS.join(", ")
                    )));
                }
            }
        }
        Ok(req)
    }
}

/// `KEY=VALUE`, split at the first `=` (values may contain `=`).
fn parse_tag(v: &str) -> Result<(&str, &str), Error> {
    let bad = |why: String| Error::InvalidRequest(format!("tag: {why}"));
    let (k, val) = v
        .split_once('=')
        .ok_or_else(|| bad(format!("{:?} is not KEY=VALUE", truncate(v, 40))))?;
    check_tag_key(k).map_err(bad)?;
    check_tag_value(k, val).map_err(bad)?;
    Ok((k, val))
}

fn parse_seconds(v: &str) -> Result<u64, Error> {
    if v.is_empty() || v.len() > 9 || !v.bytes().all(|b| b.is_ascii_digit()) {
        return Err(Error::InvalidRequest(format!(
            "duration {:?} is not a whole number of seconds",
            truncate(v, 20)
        )));
    }
    v.parse()
        .map_err(|_| Error::InvalidRequest("duration is not a number".into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(q: &[(&str, &str)]) -> Result<TokenRequest, Error> {
        TokenRequest::from_pairs(q.iter().copied())
    }

    #[test]
    fn accepts_the_contract() {
        let r = parse(&[
            ("aud", "a"),
            ("aud", "b"),
            ("duration", "600"),
            ("alg", "ES256"),
        ])
        .unwrap();
        assert_eq!(r.audiences.len(), 2);
        assert_eq!(r.duration, Some(600));
        assert_eq!(r.alg, Some(Algorithm::ES256));
        assert_eq!(parse(&[]).unwrap(), TokenRequest::default());
        // duplicates of the same audience collapse
        assert_eq!(
            parse(&[("aud", "a"), ("aud", "a")])
                .unwrap()
                .audiences
                .len(),
            1
        );
        // presign parameters pass through
        assert!(parse(&[("X-Amz-Signature", "abc"), ("X-Amz-Date", "x")]).is_ok());
    }

    #[test]
    fn request_tags() {
        let r = parse(&[
            ("tag", "job=42"),
            ("tag", "expr=a=b"),
            ("tag", "empty="),
            ("tag", "équipe=bleu vert"),
        ])
        .unwrap();
        assert_eq!(r.tags["job"], "42");
        assert_eq!(r.tags["expr"], "a=b", "split at the first =");
        assert_eq!(r.tags["empty"], "");
        assert_eq!(r.tags["équipe"], "bleu vert");
        let fifty: Vec<(String, String)> =
            (0..50).map(|i| ("tag".into(), format!("k{i}=v"))).collect();
        let mut q: Vec<(&str, &str)> = fifty
            .iter()
            .map(|(a, b)| (a.as_str(), b.as_str()))
            .collect();
        q.extend((0..10).map(|_| ("aud", "a")));
        q.extend([("duration", "60"), ("alg", "ES256")]);
        q.extend(SIGV4_QUERY_PARAMS.map(|p| (p, "x")));
        assert_eq!(
            parse(&q).unwrap().tags.len(),
            50,
            "50 tags with everything else still fit"
        );
        q.push(("tag", "k50=v"));
        assert!(matches!(parse(&q), Err(Error::InvalidRequest(m)) if m.contains("too many")));
        let long_key = format!("{}=v", "k".repeat(129));
        let long_val = format!("k={}", "v".repeat(257));
        for bad in [
            "job",
            "=v",
            long_key.as_str(),
            long_val.as_str(),
            "aws:x=1",
            "k=a,b",
            "k=a\nb",
            "k!=1",
        ] {
            assert!(
                matches!(parse(&[("tag", bad)]), Err(Error::InvalidRequest(_))),
                "{bad:?}"
            );
        }
        assert!(
            matches!(parse(&[("tag", "a=1"), ("tag", "a=2")]), Err(Error::InvalidRequest(m)) if m.contains("more than once"))
        );
        assert!(parse(&[("tag", &format!("{}={}", "k".repeat(128), "v".repeat(256)))]).is_ok());
    }

    #[test]
    fn rejects_everything_else() {
        let eleven: Vec<(String, String)> = (0..11)
            .map(|i| ("aud".to_owned(), format!("a{i}")))
            .collect();
        let eleven: Vec<(&str, &str)> = eleven
            .iter()
            .map(|(a, b)| (a.as_str(), b.as_str()))
            .collect();
        let long = "x".repeat(1001);
        for q in [
            eleven.as_slice(),
            &[("aud", long.as_str())],
            &[("aud", "a\u{1}")],
            &[("aud", "")],
            &[("duration", "abc")],
            &[("duration", "-60")],
            &[("duration", "60.5")],
            &[("duration", "")],
            &[("duration", "9999999999")],
            &[("duration", "60"), ("duration", "60")],
            &[("alg", "HS256")],
            &[("alg", "none")],
            &[("alg", "ES256"), ("alg", "ES256")],
            &[("scope", "x")],
            &[("AUD", "x")],
            &[("x-amz-signature", "lowercase is not the SigV4 name")],
        ] {
            assert!(matches!(parse(q), Err(Error::InvalidRequest(_))), "{q:?}");
        }
    }
}
