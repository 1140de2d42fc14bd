//! The signing algorithms: the one table every other place derives from.
//!
//! Each [`Algorithm`] has one [`AlgorithmSpec`] row: its JOSE name (RFC 7518 §3.1), the KMS key spec and signing
//! algorithm that implement it, the key type (RSA size or EC [`Curve`]), the hash, the JOSE signature length and
//! whether it is enabled by default. The KMS adapter, the soft key store, the JWK builder, the signature checks,
//! configuration, the CLI's value lists and `infra/closed-sets.json` (read by the CDK and the Python tests) all read
//! this table; adding an algorithm is a variant, a row, and — for a new key type — the code that signs with it.

use crate::error::Error;
use serde::{Deserialize, Serialize};
use spki::ObjectIdentifier;
use std::fmt;
use std::str::FromStr;

/// A JWS algorithm this issuer can sign with (RFC 7518 §3.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Algorithm {
    /// RSASSA-PKCS1-v1_5 with SHA-256 on an RSA-2048 key.
    RS256,
    /// ECDSA on P-256 with SHA-256; signature is JOSE `r||s` (64 bytes).
    ES256,
    /// ECDSA on P-384 with SHA-384; signature is JOSE `r||s` (96 bytes). What AWS's own issuer uses for EC.
    ES384,
}

/// The kind of key an algorithm signs with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyType {
    /// RSA with a modulus of this many bits.
    Rsa {
        bits: usize,
    },
    Ec(Curve),
}

/// A NIST curve (SEC 2), as named in SPKI, JWK and KMS.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Curve {
    P256,
    P384,
}

/// One row of the algorithm table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AlgorithmSpec {
    pub alg: Algorithm,
    /// JOSE `alg` (RFC 7518 §3.1).
    pub jose: &'static str,
    /// Lower-case form used in KMS aliases and file names.
    pub lower: &'static str,
    pub key: KeyType,
    /// Digest the signature is computed over (FIPS 180-4 name).
    pub hash: &'static str,
    /// KMS `KeySpec` of the keys (DESIGN.md §5).
    pub kms_key_spec: &'static str,
    /// KMS `SigningAlgorithm` used with `MessageType=RAW`.
    pub kms_signing_algorithm: &'static str,
    /// Length of the JOSE signature in bytes (RSA: the modulus length of the key size above).
    pub signature_len: usize,
    /// Enabled when `IAMJWT_ALGORITHMS` is not set.
    pub default_enabled: bool,
}

const RS256: AlgorithmSpec = AlgorithmSpec {
    alg: Algorithm::RS256,
    jose: "RS256",
    lower: "rs256",
    key: KeyType::Rsa { bits: 2048 },
    hash: "SHA-256",
    kms_key_spec: "RSA_2048",
    kms_signing_algorithm: "RSASSA_PKCS1_V1_5_SHA_256",
    signature_len: 256,
    default_enabled: true,
};

const ES256: AlgorithmSpec = AlgorithmSpec {
    alg: Algorithm::ES256,
    jose: "ES256",
    lower: "es256",
    key: KeyType::Ec(Curve::P256),
    hash: "SHA-256",
    kms_key_spec: "ECC_NIST_P256",
    kms_signing_algorithm: "ECDSA_SHA_256",
    signature_len: 64,
    default_enabled: true,
};

const ES384: AlgorithmSpec = AlgorithmSpec {
    alg: Algorithm::ES384,
    jose: "ES384",
    lower: "es384",
    key: KeyType::Ec(Curve::P384),
    hash: "SHA-384",
    kms_key_spec: "ECC_NIST_P384",
    kms_signing_algorithm: "ECDSA_SHA_384",
    signature_len: 96,
    default_enabled: false,
};

impl Algorithm {
    pub const ALL: [Algorithm; 3] = [Algorithm::RS256, Algorithm::ES256, Algorithm::ES384];
    /// The algorithm when a request names none and `IAMJWT_DEFAULT_ALGORITHM` is not set.
    pub const DEFAULT: Algorithm = Algorithm::RS256;

    pub const fn spec(self) -> &'static AlgorithmSpec {
        match self {
            Self::RS256 => &RS256,
            Self::ES256 => &ES256,
            Self::ES384 => &ES384,
        }
    }

    pub fn as_str(self) -> &'static str {
        self.spec().jose
    }

    /// Lower-case form used in KMS aliases and file names.
    pub fn lower(self) -> &'static str {
        self.spec().lower
    }

    /// The algorithms enabled when `IAMJWT_ALGORITHMS` is not set.
    pub fn defaults() -> Vec<Algorithm> {
        Self::ALL
            .into_iter()
            .filter(|a| a.spec().default_enabled)
            .collect()
    }

    /// The EC algorithm of a curve (each curve has exactly one here).
    pub fn for_curve(curve: Curve) -> Algorithm {
        match curve {
            Curve::P256 => Self::ES256,
            Curve::P384 => Self::ES384,
        }
    }

    /// Checks the shape of a JOSE signature a signer returned before it goes into a token.
    pub fn check_signature(self, sig: &[u8]) -> Result<(), Error> {
        let len = self.spec().signature_len;
        let ok = match self.spec().key {
            // A larger RSA key gives a longer signature; never a shorter one.
            KeyType::Rsa { .. } => sig.len() >= len,
            KeyType::Ec(_) => sig.len() == len,
        };
        if ok {
            Ok(())
        } else {
            Err(Error::KeyMaterial(format!(
                "{self} signature has unexpected length {}",
                sig.len()
            )))
        }
    }

    /// The JOSE form of a signature in the form signers such as KMS return: ECDSA DER → `r||s` (RFC 7518
    /// §3.4), RSA unchanged.
    pub fn jose_signature(self, sig: &[u8]) -> Result<Vec<u8>, Error> {
        match self.spec().key {
            KeyType::Rsa { .. } => Ok(sig.to_vec()),
            KeyType::Ec(curve) => curve.der_to_jose(sig),
        }
    }
}

impl Curve {
    /// `namedCurve` OIDs (RFC 5480 §2.1.1.1).
    pub const fn oid(self) -> ObjectIdentifier {
        match self {
            Self::P256 => ObjectIdentifier::new_unwrap("1.2.840.10045.3.1.7"),
            Self::P384 => ObjectIdentifier::new_unwrap("1.3.132.0.34"),
        }
    }

    pub fn from_oid(oid: ObjectIdentifier) -> Option<Curve> {
        [Self::P256, Self::P384]
            .into_iter()
            .find(|c| c.oid() == oid)
    }

    /// JWK `crv` (RFC 7518 §6.2.1.1).
    pub const fn jwk_crv(self) -> &'static str {
        match self {
            Self::P256 => "P-256",
            Self::P384 => "P-384",
        }
    }

    /// Bytes of one coordinate (and of `r` and `s`), leading zeros kept.
    pub const fn coordinate_len(self) -> usize {
        match self {
            Self::P256 => 32,
            Self::P384 => 48,
        }
    }

    /// Checks that SEC1 bytes are a point on this curve.
    pub fn check_point(self, sec1: &[u8]) -> Result<(), Error> {
        let ok = match self {
            Self::P256 => p256::PublicKey::from_sec1_bytes(sec1).is_ok(),
            Self::P384 => p384::PublicKey::from_sec1_bytes(sec1).is_ok(),
        };
        if ok {
            Ok(())
        } else {
            Err(Error::KeyMaterial(format!(
                "invalid {} point",
                self.jwk_crv()
            )))
        }
    }

    /// ASN.1 DER ECDSA signature → JOSE `r||s` of `2 × coordinate_len` bytes.
    pub fn der_to_jose(self, der: &[u8]) -> Result<Vec<u8>, Error> {
        let bad = |e: &dyn fmt::Display| {
            Error::KeyMaterial(format!("ECDSA signature is not valid DER: {e}"))
        };
        match self {
            Self::P256 => p256::ecdsa::Signature::from_der(der)
                .map(|s| s.to_bytes().to_vec())
                .map_err(|e| bad(&e)),
            Self::P384 => p384::ecdsa::Signature::from_der(der)
                .map(|s| s.to_bytes().to_vec())
                .map_err(|e| bad(&e)),
        }
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Algorithm {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        Self::ALL
            .into_iter()
            .find(|a| a.as_str() == s)
            .ok_or_else(|| {
                let names: Vec<&str> = Self::ALL.iter().map(|a| a.as_str()).collect();
                Error::InvalidRequest(format!(
                    "unsupported alg {:?}: expected one of {}",
                    crate::types::truncate(s, 32),
                    names.join(", ")
                ))
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_row_belongs_to_its_variant_and_is_consistent() {
        for a in Algorithm::ALL {
            let s = a.spec();
            assert_eq!(s.alg, a);
            assert_eq!(s.lower, s.jose.to_lowercase());
            assert_eq!(s.jose.parse::<Algorithm>().unwrap(), a);
            match s.key {
                KeyType::Rsa { bits } => assert_eq!(s.signature_len, bits / 8),
                KeyType::Ec(c) => {
                    assert_eq!(s.signature_len, 2 * c.coordinate_len());
                    assert_eq!(Algorithm::for_curve(c), a);
                    assert_eq!(Curve::from_oid(c.oid()), Some(c));
                }
            }
        }
        assert_eq!(
            Algorithm::defaults(),
            vec![Algorithm::RS256, Algorithm::ES256]
        );
        assert!(Algorithm::DEFAULT.spec().default_enabled);
    }

    #[test]
    fn parse_is_exact() {
        assert_eq!("ES384".parse::<Algorithm>().ok(), Some(Algorithm::ES384));
        for bad in ["HS256", "rs256", "none", "ES512", ""] {
            let e = bad.parse::<Algorithm>().unwrap_err().to_string();
            assert!(e.contains("RS256, ES256, ES384"), "{e}");
        }
    }

    #[test]
    fn der_to_jose_per_curve() {
        use p256::ecdsa::signature::Signer as _;
        let k256 = p256::ecdsa::SigningKey::from_slice(&[0x11; 32]).unwrap();
        let s: p256::ecdsa::Signature = k256.sign(b"m");
        let jose = Algorithm::ES256
            .jose_signature(s.to_der().as_bytes())
            .unwrap();
        assert_eq!(jose, s.to_bytes().to_vec());
        Algorithm::ES256.check_signature(&jose).unwrap();

        let k384 = p384::ecdsa::SigningKey::from_slice(&[0x22; 48]).unwrap();
        let s: p384::ecdsa::Signature = k384.sign(b"m");
        let jose = Algorithm::ES384
            .jose_signature(s.to_der().as_bytes())
            .unwrap();
        assert_eq!(jose.len(), 96);
        assert_eq!(jose, s.to_bytes().to_vec());
        Algorithm::ES384.check_signature(&jose).unwrap();
        assert!(Algorithm::ES384.check_signature(&jose[..64]).is_err());
        // A P-256 DER signature is not a P-384 one.
        assert!(Algorithm::ES384.jose_signature(b"\x30\x00").is_err());
        assert!(Algorithm::ES256.check_signature(&[0; 63]).is_err());
        assert!(Algorithm::RS256.check_signature(&[0; 255]).is_err());
        assert!(Algorithm::RS256.check_signature(&[0; 384]).is_ok());
    }
}
