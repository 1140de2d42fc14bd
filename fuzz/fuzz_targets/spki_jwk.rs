//! Key material from a signer: `PublicJwk::from_spki_der` (SPKI DER → JWK) and `Curve::der_to_jose` (DER ECDSA
//! signature → JOSE `r||s`) on arbitrary bytes, for every curve of the algorithm table.
//!
//! Never panics. A JWK it builds has the RFC 7638 thumbprint of its own members as `kid`, the algorithm its key
//! type implies, members of the size the table gives (EC coordinates of `coordinate_len` bytes on the curve, an RSA
//! modulus of at least the table's bits), and survives a JSON round trip. A signature it converts has the table's
//! JOSE length; a P-256 one re-encoded as DER converts to the same bytes. Every bound comes from
//! `iamjwt_core::alg`, so a new algorithm or curve is checked without editing this file.
#![no_main]

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use iamjwt_core::Algorithm;
use iamjwt_core::alg::{Curve, KeyType};
use iamjwt_core::jwk::{KeyParams, PublicJwk, thumbprint};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    check_jwk(data);
    check_signature(data);
});

/// The curves of the algorithm table, with their algorithm.
fn curves() -> impl Iterator<Item = (Algorithm, Curve)> {
    Algorithm::ALL.into_iter().filter_map(|a| match a.spec().key {
        KeyType::Ec(c) => Some((a, c)),
        KeyType::Rsa { .. } => None,
    })
}

fn check_jwk(der: &[u8]) {
    let Ok(jwk) = PublicJwk::from_spki_der(der) else {
        return;
    };
    match thumbprint(jwk.params()) {
        Ok(kid) => assert_eq!(jwk.kid(), &kid),
        Err(e) => panic!("a built JWK has no thumbprint: {e}"),
    }
    assert_eq!(jwk.kid().as_str().len(), 43, "base64url of a SHA-256");
    let b64 = |s: &str| match URL_SAFE_NO_PAD.decode(s) {
        Ok(bytes) => bytes,
        Err(e) => panic!("member {s:?} is not base64url: {e}"),
    };
    match jwk.params() {
        KeyParams::Rsa { n, e } => {
            let KeyType::Rsa { bits } = jwk.alg().spec().key else {
                panic!("an RSA JWK for {}", jwk.alg());
            };
            let n = b64(n);
            assert!(
                n.len() * 8 >= bits && n.first().is_some_and(|b| *b != 0),
                "modulus of {} bytes",
                n.len()
            );
            assert!(!b64(e).is_empty());
        }
        KeyParams::Ec { crv, x, y } => {
            let Some((alg, curve)) = curves().find(|(_, c)| c.jwk_crv() == crv) else {
                panic!("a JWK on curve {crv:?}, which the table does not have");
            };
            assert_eq!(jwk.alg(), alg);
            let (x, y) = (b64(x), b64(y));
            let len = curve.coordinate_len();
            assert_eq!((x.len(), y.len()), (len, len));
            let point = [&[0x04][..], &x, &y].concat();
            assert!(curve.check_point(&point).is_ok(), "point off the curve");
        }
    }
    match PublicJwk::from_params(jwk.params().clone(), jwk.alg()) {
        Ok(again) => assert_eq!(again, jwk),
        Err(e) => panic!("its own members do not rebuild the JWK: {e}"),
    }
    let json = match serde_json::to_string(&jwk) {
        Ok(json) => json,
        Err(e) => panic!("JWK does not serialize: {e}"),
    };
    match serde_json::from_str::<PublicJwk>(&json) {
        Ok(back) => assert_eq!(back, jwk),
        Err(e) => panic!("JWK does not read back: {e}: {json}"),
    }
}

fn check_signature(der: &[u8]) {
    for (alg, curve) in curves() {
        let Ok(jose) = curve.der_to_jose(der) else {
            continue;
        };
        assert!(
            alg.check_signature(&jose).is_ok(),
            "{alg}: converted to {} bytes",
            jose.len()
        );
        if curve == Curve::P256 {
            let sig = match p256::ecdsa::Signature::from_slice(&jose) {
                Ok(sig) => sig,
                Err(e) => panic!("converted signature is not a P-256 signature: {e}"),
            };
            let again = curve.der_to_jose(sig.to_der().as_bytes());
            assert_eq!(again.ok(), Some(jose), "DER re-encoding converts differently");
        }
    }
}
