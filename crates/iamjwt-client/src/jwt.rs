//! Just enough of a JWT to decide whether a token is usable and until when: three base64url parts, a JSON header
//! with an `alg`, JSON claims with integer `iat` and `exp`. No signature check: the client trusts the issuer it
//! asked over TLS; verifiers check signatures.

use crate::error::Error;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Deserialize;

/// What the client needs to know about a token it holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenTimes {
    pub alg: String,
    /// `iat`, seconds since the epoch.
    pub issued_at: u64,
    /// `exp`, seconds since the epoch.
    pub expires_at: u64,
}

impl TokenTimes {
    pub fn lifetime(&self) -> u64 {
        self.expires_at.saturating_sub(self.issued_at)
    }
}

#[derive(Deserialize)]
struct Header {
    alg: String,
}

#[derive(Deserialize)]
struct Claims {
    iat: u64,
    exp: u64,
}

fn part<T: serde::de::DeserializeOwned>(seg: &str, name: &str) -> Result<T, Error> {
    let bytes = URL_SAFE_NO_PAD
        .decode(seg)
        .map_err(|e| Error::BadToken(format!("the {name} is not base64url: {e}")))?;
    serde_json::from_slice(&bytes)
        .map_err(|e| Error::BadToken(format!("the {name} is not what a JWT holds: {e}")))
}

/// Parses a compact JWS's header and timing claims; refuses anything that is not a complete token.
pub fn parse(token: &str) -> Result<TokenTimes, Error> {
    let mut parts = token.split('.');
    let (Some(h), Some(c), Some(s), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(Error::BadToken(
            "not a compact JWS (three dot-separated parts)".into(),
        ));
    };
    if s.is_empty()
        || !s
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        return Err(Error::BadToken(
            "the signature is missing or not base64url".into(),
        ));
    }
    let header: Header = part(h, "header")?;
    let claims: Claims = part(c, "claims")?;
    if claims.exp <= claims.iat {
        return Err(Error::BadToken(format!(
            "exp {} is not after iat {}",
            claims.exp, claims.iat
        )));
    }
    Ok(TokenTimes {
        alg: header.alg,
        issued_at: claims.iat,
        expires_at: claims.exp,
    })
}

/// A token's `aud`, as a list (a single string is a list of one; none is empty). For checks the client makes on
/// tokens it holds (a cache entry must be for the audiences it is filed under), not a verification.
pub fn audiences(token: &str) -> Result<Vec<String>, Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Aud {
        One(String),
        Many(Vec<String>),
    }
    #[derive(Deserialize)]
    struct WithAud {
        aud: Option<Aud>,
    }
    let claims = token
        .split('.')
        .nth(1)
        .ok_or_else(|| Error::BadToken("not a compact JWS (three dot-separated parts)".into()))?;
    let c: WithAud = part(claims, "claims")?;
    Ok(match c.aud {
        None => Vec::new(),
        Some(Aud::One(a)) => vec![a],
        Some(Aud::Many(a)) => a,
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// An unsigned-looking but well-formed token for tests (the signature bytes are not checked by the client).
    pub fn fake_token(iat: u64, exp: u64, extra: &str) -> String {
        let h = URL_SAFE_NO_PAD.encode(br#"{"alg":"ES256","kid":"k1","typ":"JWT"}"#);
        let c = URL_SAFE_NO_PAD.encode(format!(r#"{{"iat":{iat},"exp":{exp},"sub":"s{extra}"}}"#));
        format!("{h}.{c}.c2lnbmF0dXJl")
    }

    #[test]
    fn audiences_one_or_many() {
        assert_eq!(
            audiences(&fake_token(1, 2, r#"","aud":"a"#)).unwrap(),
            ["a"]
        );
        assert_eq!(
            audiences(&fake_token(1, 2, r#"","aud":["a","b"],"x":""#)).unwrap(),
            ["a", "b"]
        );
        assert!(audiences(&fake_token(1, 2, "")).unwrap().is_empty());
        assert!(audiences(&fake_token(1, 2, r#"","aud":7,"x":""#)).is_err());
    }

    #[test]
    fn parses_a_complete_token() {
        let t = parse(&fake_token(100, 1000, "")).unwrap();
        assert_eq!(
            t,
            TokenTimes {
                alg: "ES256".into(),
                issued_at: 100,
                expires_at: 1000
            }
        );
        assert_eq!(t.lifetime(), 900);
    }

    #[test]
    fn refuses_partial_or_odd_tokens() {
        let good = fake_token(100, 1000, "");
        for bad in [
            String::new(),
            good[..good.len() / 2].to_owned(),
            good.rsplit_once('.').unwrap().0.to_owned(),
            format!("{good}."),
            format!("{good}.x"),
            fake_token(1000, 1000, ""),
            "a.b.c".to_owned(),
            format!("{}.e30.c2ln", good.split('.').next().unwrap()),
        ] {
            assert!(parse(&bad).is_err(), "{bad:?} was accepted");
        }
    }
}
