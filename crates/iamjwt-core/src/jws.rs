//! JWS compact serialisation (RFC 7515 §7.1): header, signing input, signature conversion, assembly.
//!
//! The signer itself lives behind [`crate::ports::SigningKey`]; this module only prepares bytes for it and
//! assembles what comes back.

use crate::claims::Claims;
use crate::error::Error;
use crate::types::{Algorithm, Kid};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Serialize;
use sha2::{Digest, Sha256};

/// KMS `Sign` with `MessageType=RAW` accepts at most 4096 bytes (DESIGN.md §5); we apply it everywhere so local
/// mode and AWS agree on what is too large.
pub const MAX_SIGNING_INPUT: usize = 4096;

/// JOSE header (RFC 7515 §4.1), serialised as `{"alg","typ","kid"}`.
#[derive(Debug, Clone, Serialize)]
pub struct Header<'a> {
    pub alg: Algorithm,
    pub typ: &'static str,
    pub kid: &'a Kid,
}

impl<'a> Header<'a> {
    pub fn new(alg: Algorithm, kid: &'a Kid) -> Self {
        Self {
            alg,
            typ: "JWT",
            kid,
        }
    }
}

/// `BASE64URL(header) || '.' || BASE64URL(payload)`, refused if larger than [`MAX_SIGNING_INPUT`].
pub fn signing_input(header: &Header<'_>, claims: &Claims) -> Result<String, Error> {
    let h = serde_json::to_vec(header).map_err(|e| Error::KeyMaterial(e.to_string()))?;
    let p = serde_json::to_vec(claims).map_err(|e| Error::KeyMaterial(e.to_string()))?;
    let mut out = String::with_capacity((h.len() + p.len()) * 4 / 3 + 4);
    URL_SAFE_NO_PAD.encode_string(&h, &mut out);
    out.push('.');
    URL_SAFE_NO_PAD.encode_string(&p, &mut out);
    if out.len() > MAX_SIGNING_INPUT {
        return Err(Error::TokenTooLarge {
            size: out.len(),
            limit: MAX_SIGNING_INPUT,
        });
    }
    Ok(out)
}

/// SHA-256 of the signing input, for signers that take a digest.
pub fn digest(signing_input: &[u8]) -> [u8; 32] {
    Sha256::digest(signing_input).into()
}

/// `signing_input || '.' || BASE64URL(signature)`.
pub fn compact(signing_input: String, signature: &[u8]) -> String {
    let mut token = signing_input;
    token.reserve(signature.len() * 4 / 3 + 2);
    token.push('.');
    URL_SAFE_NO_PAD.encode_string(signature, &mut token);
    token
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::claims::{Jti, Lifetime};
    use crate::identity::{Caller, Principal};
    use crate::jwk::PublicJwk;
    use crate::time::UnixTime;
    use crate::types::Audience;
    use jsonwebtoken::{DecodingKey, Validation, decode};
    use p256::pkcs8::EncodePublicKey as _;
    use rsa::signature::{SignatureEncoding as _, Signer as _};

    fn claims(now: u64, aud: &str) -> Claims {
        let caller = Caller {
            principal: Principal::parse("arn:aws:sts::111122223333:assumed-role/r/s1").unwrap(),
            principal_id: None,
            org_id: None,
            source_ip: None,
        };
        Claims::build(
            "https://issuer.example.com",
            &caller,
            vec![Audience::parse(aud).unwrap()],
            Lifetime {
                now: UnixTime(now),
                duration: 600,
                nbf_skew: 5,
            },
            Jti::from_random([1; 16]),
            None,
        )
    }

    fn now() -> u64 {
        UnixTime::from_system_time(std::time::SystemTime::now()).0
    }

    fn verify(token: &str, alg: jsonwebtoken::Algorithm, jwk: &PublicJwk) -> serde_json::Value {
        let jwk: jsonwebtoken::jwk::Jwk =
            serde_json::from_value(serde_json::to_value(jwk).unwrap()).unwrap();
        let key = DecodingKey::from_jwk(&jwk).unwrap();
        let mut v = Validation::new(alg);
        v.set_audience(&["api://x"]);
        v.set_issuer(&["https://issuer.example.com"]);
        decode::<serde_json::Value>(token, &key, &v).unwrap().claims
    }

    #[test]
    fn es256_round_trip_verified_by_jsonwebtoken() {
        let sk = p256::ecdsa::SigningKey::from_slice(&[0x42; 32]).unwrap();
        let spki = sk.verifying_key().to_public_key_der().unwrap();
        let jwk = PublicJwk::from_spki_der(spki.as_bytes()).unwrap();
        let c = claims(now(), "api://x");
        let input = signing_input(&Header::new(Algorithm::ES256, jwk.kid()), &c).unwrap();
        // What KMS does: DER signature over the message.
        let sig: p256::ecdsa::Signature = sk.sign(input.as_bytes());
        let der = sig.to_der();
        let jose = Algorithm::ES256.jose_signature(der.as_bytes()).unwrap();
        Algorithm::ES256.check_signature(&jose).unwrap();
        let token = compact(input, &jose);
        let got = verify(&token, jsonwebtoken::Algorithm::ES256, &jwk);
        assert_eq!(got["sub"], "arn:aws:iam::111122223333:role/r");
        let header = jsonwebtoken::decode_header(&token).unwrap();
        assert_eq!(header.kid.as_deref(), Some(jwk.kid().as_str()));
        assert_eq!(header.typ.as_deref(), Some("JWT"));
    }

    #[test]
    fn rs256_round_trip_verified_by_jsonwebtoken() {
        let sk = rsa_key();
        let spki = sk.as_ref().to_public_key().to_public_key_der().unwrap();
        let jwk = PublicJwk::from_spki_der(spki.as_bytes()).unwrap();
        let input = signing_input(
            &Header::new(Algorithm::RS256, jwk.kid()),
            &claims(now(), "api://x"),
        )
        .unwrap();
        let sig = sk.sign(input.as_bytes()).to_vec();
        Algorithm::RS256.check_signature(&sig).unwrap();
        let token = compact(input, &sig);
        let got = verify(&token, jsonwebtoken::Algorithm::RS256, &jwk);
        assert_eq!(got["iss"], "https://issuer.example.com");
    }

    #[test]
    fn tampered_token_fails_verification() {
        let sk = p256::ecdsa::SigningKey::from_slice(&[0x43; 32]).unwrap();
        let jwk =
            PublicJwk::from_spki_der(sk.verifying_key().to_public_key_der().unwrap().as_bytes())
                .unwrap();
        let input = signing_input(
            &Header::new(Algorithm::ES256, jwk.kid()),
            &claims(now(), "api://x"),
        )
        .unwrap();
        let sig: p256::ecdsa::Signature = sk.sign(input.as_bytes());
        let forged = compact(input.replacen('.', ".e", 1), &sig.to_bytes());
        let jwk: jsonwebtoken::jwk::Jwk =
            serde_json::from_value(serde_json::to_value(&jwk).unwrap()).unwrap();
        let mut v = Validation::new(jsonwebtoken::Algorithm::ES256);
        v.set_audience(&["api://x"]);
        assert!(
            decode::<serde_json::Value>(&forged, &DecodingKey::from_jwk(&jwk).unwrap(), &v)
                .is_err()
        );
    }

    #[test]
    fn oversized_signing_input_is_refused() {
        let kid = Kid::new("k");
        let big = claims(1, &"a".repeat(1000));
        let mut c = big.clone();
        c.aud = crate::claims::AudClaim::Many(vec![Audience::parse(&"a".repeat(1000)).unwrap(); 4]);
        assert!(signing_input(&Header::new(Algorithm::RS256, &kid), &big).is_ok());
        assert!(matches!(
            signing_input(&Header::new(Algorithm::RS256, &kid), &c),
            Err(Error::TokenTooLarge { limit: 4096, .. })
        ));
    }

    #[test]
    fn der_conversion_rejects_garbage() {
        assert!(Algorithm::ES256.jose_signature(b"").is_err());
        assert!(
            Algorithm::ES256
                .jose_signature(&[0x30, 0x02, 0x02, 0x00])
                .is_err()
        );
        assert!(Algorithm::ES256.check_signature(&[0; 63]).is_err());
        assert_eq!(digest(b"abc")[..4], [0xba, 0x78, 0x16, 0xbf]);
    }

    fn rsa_key() -> rsa::pkcs1v15::SigningKey<sha2::Sha256> {
        use rsa::pkcs8::DecodePrivateKey as _;
        let der = include_bytes!("../tests/fixtures/rsa2048.pk8");
        rsa::pkcs1v15::SigningKey::new(rsa::PrivateKey::from_pkcs8_der(der).unwrap())
    }
}
