//! Public keys as JWKs (RFC 7517), their RFC 7638 thumbprint `kid`, and the JWKS document.
//!
//! The key type comes from the SubjectPublicKeyInfo algorithm OID, never from a service's `KeySpec` field
//! (emulators omit it).

use crate::alg::{Algorithm, Curve};
use crate::error::Error;
use crate::types::Kid;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use spki::ObjectIdentifier;
use spki::der::Decode as _;

const RSA_ENCRYPTION: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");
const ID_EC_PUBLIC_KEY: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.2.1");

/// Key-type specific members.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kty")]
pub enum KeyParams {
    /// RFC 7518 §6.3.1.
    #[serde(rename = "RSA")]
    Rsa { n: String, e: String },
    /// RFC 7518 §6.2.1.
    #[serde(rename = "EC")]
    Ec { crv: String, x: String, y: String },
}

/// A public signing key as published in the JWKS.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublicJwk {
    #[serde(flatten)]
    params: KeyParams,
    kid: Kid,
    alg: Algorithm,
    #[serde(rename = "use")]
    use_: String,
}

/// RFC 7638 §3.2: required members only, lexicographic order, no whitespace. serde writes struct fields in
/// declaration order, so these structs *are* the canonical form.
#[derive(Serialize)]
struct RsaThumbprint<'a> {
    e: &'a str,
    kty: &'static str,
    n: &'a str,
}

#[derive(Serialize)]
struct EcThumbprint<'a> {
    crv: &'a str,
    kty: &'static str,
    x: &'a str,
    y: &'a str,
}

impl PublicJwk {
    /// Builds the JWK (with thumbprint `kid`) from DER SubjectPublicKeyInfo: RSA ≥ 2048 bits, or a curve of
    /// [`Curve`].
    pub fn from_spki_der(der: &[u8]) -> Result<Self, Error> {
        let bad = |why: String| Error::KeyMaterial(format!("SubjectPublicKeyInfo: {why}"));
        let spki = spki::SubjectPublicKeyInfoRef::from_der(der).map_err(|e| bad(e.to_string()))?;
        let key_bytes = spki
            .subject_public_key
            .as_bytes()
            .ok_or_else(|| bad("unaligned bit string".into()))?;
        let (params, alg) = if spki.algorithm.oid == RSA_ENCRYPTION {
            let rsa = pkcs1::RsaPublicKey::<spki::der::asn1::UintRef<'_>>::from_der(key_bytes)
                .map_err(|e| bad(format!("RSA key: {e}")))?;
            let n = rsa.modulus.as_bytes();
            let bits = n.len() * 8 - n.first().map_or(8, |b| b.leading_zeros() as usize);
            if bits < 2048 {
                return Err(bad(format!("RSA modulus of {bits} bits is below 2048")));
            }
            (
                KeyParams::Rsa {
                    n: URL_SAFE_NO_PAD.encode(n),
                    e: URL_SAFE_NO_PAD.encode(rsa.public_exponent.as_bytes()),
                },
                Algorithm::RS256,
            )
        } else if spki.algorithm.oid == ID_EC_PUBLIC_KEY {
            let curve = spki
                .algorithm
                .parameters_oid()
                .map_err(|e| bad(format!("EC curve: {e}")))?;
            let curve = Curve::from_oid(curve)
                .ok_or_else(|| bad(format!("unsupported EC curve {curve}")))?;
            // Reject points that are not on the curve before they reach a verifier.
            curve
                .check_point(key_bytes)
                .map_err(|e| bad(e.to_string()))?;
            let [0x04, coords @ ..] = key_bytes else {
                return Err(bad(format!(
                    "{} point must be uncompressed",
                    curve.jwk_crv()
                )));
            };
            let (x, y) = coords.split_at(curve.coordinate_len());
            (
                KeyParams::Ec {
                    crv: curve.jwk_crv().into(),
                    x: URL_SAFE_NO_PAD.encode(x),
                    y: URL_SAFE_NO_PAD.encode(y),
                },
                Algorithm::for_curve(curve),
            )
        } else {
            return Err(bad(format!(
                "unsupported key algorithm {}",
                spki.algorithm.oid
            )));
        };
        Self::from_params(params, alg)
    }

    /// Builds a JWK from already-validated members (the `kid` is computed, never supplied).
    pub fn from_params(params: KeyParams, alg: Algorithm) -> Result<Self, Error> {
        let kid = thumbprint(&params)?;
        Ok(Self {
            params,
            kid,
            alg,
            use_: "sig".into(),
        })
    }

    pub fn kid(&self) -> &Kid {
        &self.kid
    }
    pub fn alg(&self) -> Algorithm {
        self.alg
    }
    pub fn params(&self) -> &KeyParams {
        &self.params
    }
}

/// RFC 7638 JWK thumbprint with SHA-256, base64url.
pub fn thumbprint(params: &KeyParams) -> Result<Kid, Error> {
    let canonical = match params {
        KeyParams::Rsa { n, e } => serde_json::to_vec(&RsaThumbprint { e, kty: "RSA", n }),
        KeyParams::Ec { crv, x, y } => serde_json::to_vec(&EcThumbprint {
            crv,
            kty: "EC",
            x,
            y,
        }),
    }
    .map_err(|e| Error::KeyMaterial(format!("JWK thumbprint: {e}")))?;
    Ok(Kid::new(URL_SAFE_NO_PAD.encode(Sha256::digest(&canonical))))
}

/// JWK Set (RFC 7517 §5).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Jwks {
    pub keys: Vec<PublicJwk>,
}

impl Jwks {
    pub fn contains(&self, kid: &Kid) -> bool {
        self.keys.iter().any(|k| &k.kid == kid)
    }
    pub fn kids(&self) -> impl Iterator<Item = &Kid> {
        self.keys.iter().map(|k| &k.kid)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use p256::pkcs8::EncodePublicKey as _;

    /// RFC 7638 §3.1's worked example.
    const RFC7638_N: &str = "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw";
    const RFC7638_KID: &str = "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs";

    #[test]
    fn rfc7638_example_thumbprint() {
        let params = KeyParams::Rsa {
            n: RFC7638_N.into(),
            e: "AQAB".into(),
        };
        assert_eq!(thumbprint(&params).unwrap().as_str(), RFC7638_KID);
    }

    #[test]
    fn rfc7638_example_through_spki() {
        let n = URL_SAFE_NO_PAD.decode(RFC7638_N).unwrap();
        let key = rsa::PublicKey::new(
            rsa::BoxedUint::from_be_slice_vartime(&n),
            rsa::BoxedUint::from_be_slice_vartime(&[1, 0, 1]),
        )
        .unwrap();
        let der = key.to_public_key_der().unwrap();
        let jwk = PublicJwk::from_spki_der(der.as_bytes()).unwrap();
        assert_eq!(jwk.kid().as_str(), RFC7638_KID);
        assert_eq!(jwk.alg(), Algorithm::RS256);
        let v = serde_json::to_value(&jwk).unwrap();
        assert_eq!(v["kty"], "RSA");
        assert_eq!(v["n"], RFC7638_N);
        assert_eq!(v["e"], "AQAB");
        assert_eq!(v["use"], "sig");
        assert_eq!(v["alg"], "RS256");
    }

    #[test]
    fn p256_jwk() {
        let sk = p256::ecdsa::SigningKey::from_slice(&[0x11; 32]).unwrap();
        let der = sk.verifying_key().to_public_key_der().unwrap();
        let jwk = PublicJwk::from_spki_der(der.as_bytes()).unwrap();
        assert_eq!(jwk.alg(), Algorithm::ES256);
        let KeyParams::Ec { crv, x, y } = jwk.params() else {
            panic!("not EC")
        };
        assert_eq!(crv, "P-256");
        assert_eq!(URL_SAFE_NO_PAD.decode(x).unwrap().len(), 32);
        assert_eq!(URL_SAFE_NO_PAD.decode(y).unwrap().len(), 32);
        // Thumbprint over the canonical EC members.
        let canonical = format!(r#"{{"crv":"P-256","kty":"EC","x":"{x}","y":"{y}"}}"#);
        assert_eq!(
            jwk.kid().as_str(),
            URL_SAFE_NO_PAD.encode(Sha256::digest(canonical.as_bytes()))
        );
        // Round-trips through JSON.
        let back: PublicJwk = serde_json::from_str(&serde_json::to_string(&jwk).unwrap()).unwrap();
        assert_eq!(back, jwk);
    }

    #[test]
    fn p384_jwk_keeps_48_byte_coordinates_and_verifies_with_jsonwebtoken() {
        use p384::ecdsa::signature::Signer as _;
        // A scalar whose public point has a leading zero byte in a coordinate would still encode 48 bytes.
        for seed in 1u8..=8 {
            let sk = p384::ecdsa::SigningKey::from_slice(&[seed; 48]).unwrap();
            let der = sk.verifying_key().to_public_key_der().unwrap();
            let jwk = PublicJwk::from_spki_der(der.as_bytes()).unwrap();
            assert_eq!(jwk.alg(), Algorithm::ES384);
            let KeyParams::Ec { crv, x, y } = jwk.params() else {
                panic!("not EC")
            };
            assert_eq!(crv, "P-384");
            assert_eq!(URL_SAFE_NO_PAD.decode(x).unwrap().len(), 48);
            assert_eq!(URL_SAFE_NO_PAD.decode(y).unwrap().len(), 48);
            // An independent library accepts the JWK and a JOSE signature made with it.
            let input = "eyJhbGciOiJFUzM4NCJ9.e30";
            let sig: p384::ecdsa::Signature = sk.sign(input.as_bytes());
            let jose = Algorithm::ES384
                .jose_signature(sig.to_der().as_bytes())
                .unwrap();
            let theirs: jsonwebtoken::jwk::Jwk =
                serde_json::from_value(serde_json::to_value(&jwk).unwrap()).unwrap();
            let key = jsonwebtoken::DecodingKey::from_jwk(&theirs).unwrap();
            assert!(
                jsonwebtoken::crypto::verify(
                    &URL_SAFE_NO_PAD.encode(&jose),
                    input.as_bytes(),
                    &key,
                    jsonwebtoken::Algorithm::ES384
                )
                .unwrap()
            );
        }
    }

    #[test]
    fn rejects_bad_spki() {
        assert!(PublicJwk::from_spki_der(b"").is_err());
        assert!(PublicJwk::from_spki_der(&[0x30, 0x00]).is_err());
        // A 1024-bit RSA key is refused.
        let small = rsa::PublicKey::new(
            rsa::BoxedUint::from_be_slice_vartime(&[0xC3; 128]),
            rsa::BoxedUint::from_be_slice_vartime(&[1, 0, 1]),
        )
        .unwrap();
        let der = small.to_public_key_der().unwrap();
        assert!(PublicJwk::from_spki_der(der.as_bytes()).is_err());
        // A P-256 SPKI with a corrupted point is refused.
        let sk = p256::ecdsa::SigningKey::from_slice(&[0x11; 32]).unwrap();
        let mut der = sk
            .verifying_key()
            .to_public_key_der()
            .unwrap()
            .as_bytes()
            .to_vec();
        let last = der.len() - 1;
        der[last] ^= 0x01;
        assert!(PublicJwk::from_spki_der(&der).is_err());
    }
}
