//! A fake KMS for the paths moto cannot produce (throttling, a key disabled under a warm signer, the alias moving
//! while the signer is warm, an ARN as the key id): `aws-smithy-mocks` rules that answer as KMS does for P-256 keys
//! numbered 1 to 99, each derived from its number, so a test can tell which key signed.
//!
//! Fixtures built from constants: a failure here is a broken test, so it panics in that test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use aws_sdk_kms::Client;
use aws_sdk_kms::operation::get_public_key::{
    GetPublicKeyError, GetPublicKeyInput, GetPublicKeyOutput,
};
use aws_sdk_kms::operation::sign::{SignInput, SignOutput};
use aws_sdk_kms::primitives::Blob;
use aws_sdk_kms::types::{KeySpec, KeyUsageType, SigningAlgorithmSpec};
use aws_smithy_mocks::{RuleBuilder, RuleMode, mock, mock_client};
use iamjwt_core::Kid;
use iamjwt_core::jwk::PublicJwk;
use p256::ecdsa::signature::Signer as _;
use p256::pkcs8::EncodePublicKey as _;
use std::sync::{Arc, Mutex};

/// The alias of the current ES256 key under the prefix `alias/iamjwt`.
pub const ES256_ALIAS: &str = "alias/iamjwt/es256/current";

/// Key `n`'s private key.
pub fn ec_key(n: u8) -> p256::ecdsa::SigningKey {
    p256::ecdsa::SigningKey::from_slice(&[n; 32]).unwrap()
}

/// Key `n`'s SubjectPublicKeyInfo (DER), as `GetPublicKey` returns it.
pub fn spki_of(n: u8) -> Vec<u8> {
    ec_key(n)
        .verifying_key()
        .to_public_key_der()
        .unwrap()
        .as_bytes()
        .to_vec()
}

/// A valid P-256 public key, when which key does not matter.
pub fn spki() -> Vec<u8> {
    spki_of(7)
}

/// Key `n`'s kid.
pub fn kid_of(n: u8) -> Kid {
    PublicJwk::from_spki_der(&spki_of(n)).unwrap().kid().clone()
}

/// Key `n`'s ARN, as real KMS answers `GetPublicKey` (moto answers the bare id).
pub fn arn(n: u8) -> String {
    format!("arn:aws:kms:us-east-1:111122223333:key/00000000-0000-4000-8000-0000000000{n:02}")
}

fn key_number(key_id: &str) -> u8 {
    key_id.rsplit('-').next().unwrap().parse().unwrap()
}

/// What KMS answers `GetPublicKey` on the alias when it points at key `n`.
pub fn public_key(n: u8) -> GetPublicKeyOutput {
    GetPublicKeyOutput::builder()
        .key_id(arn(n))
        .public_key(Blob::new(spki_of(n)))
        .key_usage(KeyUsageType::SignVerify)
        .key_spec(KeySpec::EccNistP256)
        .signing_algorithms(SigningAlgorithmSpec::EcdsaSha256)
        .build()
}

/// `GetPublicKey` on the ES256 alias only: a request by any other id matches no rule and fails.
pub fn by_alias() -> RuleBuilder<GetPublicKeyInput, GetPublicKeyOutput, GetPublicKeyError> {
    mock!(Client::get_public_key).match_requests(|r| r.key_id() == Some(ES256_ALIAS))
}

/// `Sign` as KMS does it: with the key named by the request's key id (an ARN), DER-encoded. Every key id signed
/// with is pushed to `signed_with`.
pub fn sign_as_kms(signed_with: Arc<Mutex<Vec<String>>>) -> impl Fn(&SignInput) -> SignOutput {
    move |input| {
        let key_id = input.key_id().unwrap().to_owned();
        let sig: p256::ecdsa::Signature =
            ec_key(key_number(&key_id)).sign(input.message().unwrap().as_ref());
        signed_with.lock().unwrap().push(key_id.clone());
        SignOutput::builder()
            .key_id(key_id)
            .signature(Blob::new(sig.to_der().as_bytes()))
            .signing_algorithm(SigningAlgorithmSpec::EcdsaSha256)
            .build()
    }
}

/// A KMS client answered by `rules`, retrying as the Lambdas' clients do ([`crate::sdk::retry_config`]).
pub fn mock_kms(rules: &[&aws_smithy_mocks::Rule]) -> Client {
    mock_client!(
        aws_sdk_kms,
        RuleMode::MatchAny,
        rules.iter().copied(),
        |c| { c.retry_config(crate::sdk::retry_config()) }
    )
}
