//! Key material from a signer: `PublicJwk::from_spki_der` (SPKI DER → JWK) and `Curve::P256.der_to_jose`
//! (DER ECDSA signature → JOSE `r||s`) on arbitrary bytes.
//!
//! Never panics. A JWK it builds has the RFC 7638 thumbprint of its own members as `kid`, the algorithm its key
//! type implies, members of the right size (P-256/P-384 coordinates of 32/48 bytes on the curve, an RSA modulus of
//! at least 2048 bits), and survives a JSON round trip. A signature it converts is a valid P-256 signature whose DER re-encoding
//! converts to the same 64 bytes.
#![no_main]

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use iamjwt_core::Algorithm;
use iamjwt_core::alg::Curve;
use iamjwt_core::jwk::{KeyParams, PublicJwk, thumbprint};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    check_jwk(data);
    check_signature(data);
});

fn check_jwk(der: &[u8]) {
    let Ok(jwk) = PublicJwk::from_spki_der(der) else {
        return;
    };
    assert_eq!(Some(jwk.kid()), thumbprint(jwk.params()).ok().as_ref());
    assert_eq!(jwk.kid().as_str().len(), 43, "base64url of a SHA-256");
    let b64 = |s: &str| match URL_SAFE_NO_PAD.decode(s) {
        Ok(bytes) => bytes,
        Err(e) => panic!("member {s:?} is not base64url: {e}"),
    };
    match jwk.params() {
        KeyParams::Rsa { n, e } => {
            assert_eq!(jwk.alg(), Algorithm::RS256);
            let n = b64(n);
            assert!(
                n.len() >= 256 && n.first().is_some_and(|b| *b != 0),
                "modulus"
            );
            assert!(!b64(e).is_empty());
        }
        KeyParams::Ec { crv, x, y } => {
            let Some(curve) = [Curve::P256, Curve::P384]
                .into_iter()
                .find(|c| c.jwk_crv() == crv)
            else {
                panic!("unknown crv {crv:?}");
            };
            assert_eq!(jwk.alg(), Algorithm::for_curve(curve));
            let (x, y) = (b64(x), b64(y));
            let len = curve.coordinate_len();
            assert_eq!((x.len(), y.len()), (len, len));
            let point = [&[0x04][..], &x, &y].concat();
            assert!(curve.check_point(&point).is_ok(), "point off the curve");
        }
    }
    assert_eq!(
        PublicJwk::from_params(jwk.params().clone(), jwk.alg()).ok(),
        Some(jwk.clone())
    );
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
    let Ok(jose) = Curve::P256.der_to_jose(der) else {
        return;
    };
    let sig = match p256::ecdsa::Signature::from_slice(&jose) {
        Ok(sig) => sig,
        Err(e) => panic!("converted signature is not a P-256 signature: {e}"),
    };
    let again = Curve::P256.der_to_jose(sig.to_der().as_bytes());
    assert_eq!(
        again.ok(),
        Some(jose),
        "DER re-encoding converts differently"
    );
}
