//! The `/token` query (DESIGN.md §1), parsed strictly: unknown or repeated parameters are errors, never ignored.

use crate::error::Error;
use crate::types::{Algorithm, Audience, truncate};

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

/// A parsed, not yet authorised, token request.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TokenRequest {
    /// Empty means "the default audience".
    pub audiences: Vec<Audience>,
    pub duration: Option<u64>,
    pub alg: Option<Algorithm>,
}

impl TokenRequest {
    pub const MAX_AUDIENCES: usize = 10;
    /// Bound on the number of query pairs looked at, whatever they are.
    const MAX_PAIRS: usize = 32;

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
                    if req.audiences.len() == Self::MAX_AUDIENCES {
                        return Err(Error::InvalidRequest(format!(
                            "too many aud parameters (limit {})",
                            Self::MAX_AUDIENCES
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
                n if SIGV4_QUERY_PARAMS.contains(&n) => {}
                other => {
                    return Err(Error::InvalidRequest(format!(
                        "unknown parameter {:?}: expected aud, duration or alg",
                        truncate(other, 40)
                    )));
                }
            }
        }
        Ok(req)
    }
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
