//! Local RSA keys are RSA-2048, like KMS `RSA_2048` in AWS mode (DESIGN.md §5): checked on the JWKS a fresh
//! `iamjwt serve` publishes, by decoding `n` ourselves and by an independent library (PyJWT's
//! `RSAAlgorithm.from_jwk`, backed by `cryptography`).

use crate::support::*;
use base64::Engine as _;
use std::collections::BTreeMap;
use std::process::Command;

#[test]
fn fresh_local_jwks_has_only_2048_bit_rsa_keys() {
    let s = Server::start();
    let discovery = s.get_json("/.well-known/openid-configuration");
    let jwks_uri = discovery["jwks_uri"].as_str().unwrap();
    let (status, body) = http_get(jwks_uri);
    assert_eq!(status, 200, "GET {jwks_uri}: {body}");
    let jwks: serde_json::Value = serde_json::from_str(&body).unwrap();

    let mut ours = BTreeMap::new();
    for k in jwks["keys"].as_array().unwrap() {
        if k["kty"] != "RSA" {
            continue;
        }
        let kid = k["kid"].as_str().unwrap().to_owned();
        let n = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(k["n"].as_str().unwrap())
            .unwrap();
        assert_eq!(
            n.len(),
            256,
            "RSA key {kid}: n is {} bytes, want 256 (2048 bits)",
            n.len()
        );
        assert!(n[0] >= 0x80, "RSA key {kid}: n has leading zero bits");
        ours.insert(kid, 2048u64);
    }
    assert!(!ours.is_empty(), "no RSA key in the JWKS: {body}");

    let mut c = clean(Command::new(venv_bin("python")));
    c.arg(root().join("tests/interop/jwks_rsa_key_sizes.py"))
        .arg(&s.url);
    let theirs: BTreeMap<String, u64> = serde_json::from_str(&ok(run(c))).unwrap();
    assert_eq!(
        theirs, ours,
        "PyJWT's key sizes for the RSA keys of the JWKS"
    );
}
