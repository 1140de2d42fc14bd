//! Paths moto cannot produce: throttling, a key disabled under a warm signer, the alias moving while the signer is
//! warm (background refresh past the TTL), an ARN as the key id.

use aws_sdk_kms::Client;
use aws_sdk_kms::operation::get_public_key::{GetPublicKeyInput, GetPublicKeyOutput};
use aws_sdk_kms::operation::sign::{SignError, SignInput, SignOutput};
use aws_sdk_kms::primitives::Blob;
use aws_sdk_kms::types::error::{DisabledException, KmsInvalidStateException};
use aws_sdk_kms::types::{KeyMetadata, KeySpec, KeyState, KeyUsageType, SigningAlgorithmSpec};
use aws_smithy_mocks::{RuleMode, mock, mock_client};
use iamjwt_aws::kms::KmsSigner;
use iamjwt_core::config::Settings;
use iamjwt_core::issuer::Issuer;
use iamjwt_core::jwk::PublicJwk;
use iamjwt_core::ports::Signer as _;
use iamjwt_core::{Algorithm, Kid, UnixTime};
use iamjwt_lambda::token::TokenHandler;
use p256::ecdsa::signature::{Signer as _, Verifier as _};
use p256::pkcs8::EncodePublicKey as _;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const ES256_ALIAS: &str = "alias/iamjwt/es256/current";

fn ec_key(n: u8) -> p256::ecdsa::SigningKey {
    p256::ecdsa::SigningKey::from_slice(&[n; 32]).unwrap()
}

fn spki_of(n: u8) -> Vec<u8> {
    ec_key(n)
        .verifying_key()
        .to_public_key_der()
        .unwrap()
        .as_bytes()
        .to_vec()
}

fn spki() -> Vec<u8> {
    spki_of(7)
}

fn kid_of(n: u8) -> Kid {
    PublicJwk::from_spki_der(&spki_of(n)).unwrap().kid().clone()
}

/// Key `n`'s ARN, as real KMS answers `GetPublicKey` (moto answers the bare id).
fn arn(n: u8) -> String {
    format!("arn:aws:kms:us-east-1:111122223333:key/00000000-0000-4000-8000-0000000000{n:02}")
}

fn key_number(key_id: &str) -> u8 {
    key_id.rsplit('-').next().unwrap().parse().unwrap()
}

/// What KMS answers `GetPublicKey` on the alias when it points at key `n`.
fn public_key(n: u8) -> GetPublicKeyOutput {
    GetPublicKeyOutput::builder()
        .key_id(arn(n))
        .public_key(Blob::new(spki_of(n)))
        .key_usage(KeyUsageType::SignVerify)
        .key_spec(KeySpec::EccNistP256)
        .signing_algorithms(SigningAlgorithmSpec::EcdsaSha256)
        .build()
}

/// `GetPublicKey` on the ES256 alias only: a request by any other id matches no rule and fails.
fn by_alias() -> aws_smithy_mocks::RuleBuilder<
    GetPublicKeyInput,
    GetPublicKeyOutput,
    aws_sdk_kms::operation::get_public_key::GetPublicKeyError,
> {
    mock!(Client::get_public_key).match_requests(|r| r.key_id() == Some(ES256_ALIAS))
}

/// `Sign` as KMS does it: with the key named by the request's key id (an ARN), DER-encoded.
fn sign_as_kms(signed_with: Arc<Mutex<Vec<String>>>) -> impl Fn(&SignInput) -> SignOutput {
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

fn handler(client: Client) -> TokenHandler {
    let s = Settings::from_lookup(|k| match k {
        "IAMJWT_ISSUER" => Some("https://id.example.com".into()),
        "IAMJWT_DEFAULT_AUDIENCE" => Some("sts.amazonaws.com".into()),
        "IAMJWT_ALGORITHMS" => Some("ES256".into()),
        _ => None,
    })
    .unwrap();
    let signer = KmsSigner::new(client, "alias/iamjwt", Duration::from_secs(300));
    TokenHandler::new(Issuer::new(s.issue.clone(), Arc::new(signer)))
}

fn request() -> lambda_http::Request {
    lambda_http::request::from_str(include_str!(
        "../../../../tests/fixtures/events/assumed-role.json"
    ))
    .unwrap()
}

fn now() -> UnixTime {
    UnixTime::from_system_time(std::time::SystemTime::now())
}

fn mock_kms(rules: &[&aws_smithy_mocks::Rule]) -> Client {
    mock_client!(
        aws_sdk_kms,
        RuleMode::MatchAny,
        rules.iter().copied(),
        |c| { c.retry_config(iamjwt_aws::sdk::retry_config()) }
    )
}

#[tokio::test]
async fn a_cold_signer_resolves_the_alias_with_one_call_and_signs_by_the_key_arn() {
    let public = by_alias().then_output(|| public_key(3));
    let signed_with = Arc::new(Mutex::new(Vec::new()));
    let sign = mock!(Client::sign).then_compute_output(sign_as_kms(signed_with.clone()));
    let h = handler(mock_kms(&[&public, &sign]));
    let resp = h.handle(request(), now()).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(
        public.num_calls(),
        1,
        "GetPublicKey on the alias, nothing else"
    );
    assert_eq!(sign.num_calls(), 1);
    assert_eq!(
        *signed_with.lock().unwrap(),
        vec![arn(3)],
        "Sign by the key ARN, never by the alias"
    );
    let body: serde_json::Value = serde_json::from_slice(resp.body().as_ref()).unwrap();
    let token = body["token"].as_str().unwrap();
    assert_eq!(
        jsonwebtoken::decode_header(token).unwrap().kid.unwrap(),
        kid_of(3).to_string()
    );
    // Warm: one more token is one more Sign, no GetPublicKey.
    assert_eq!(h.handle(request(), now()).await.status(), 200);
    assert_eq!((public.num_calls(), sign.num_calls()), (1, 2));
}

#[tokio::test]
async fn an_alias_on_a_key_that_cannot_sign_es256_is_refused() {
    let cases = [
        GetPublicKeyOutput::builder()
            .key_id(arn(1))
            .public_key(Blob::new(spki()))
            .key_usage(KeyUsageType::EncryptDecrypt)
            .build(),
        GetPublicKeyOutput::builder()
            .key_id(arn(1))
            .public_key(Blob::new(spki()))
            .key_spec(KeySpec::EccNistP384)
            .build(),
        GetPublicKeyOutput::builder()
            .key_id(arn(1))
            .public_key(Blob::new(spki()))
            .signing_algorithms(SigningAlgorithmSpec::EcdsaSha384)
            .build(),
        GetPublicKeyOutput::builder()
            .key_id(ES256_ALIAS)
            .public_key(Blob::new(spki()))
            .build(),
    ];
    for (i, out) in cases.into_iter().enumerate() {
        let public = by_alias().then_output(move || out.clone());
        let signer = KmsSigner::new(
            mock_kms(&[&public]),
            "alias/iamjwt",
            Duration::from_secs(300),
        );
        let err = signer.warm(&[Algorithm::ES256]).await.unwrap_err();
        assert!(err.to_string().contains(ES256_ALIAS), "case {i}: {err}");
        assert_eq!(public.num_calls(), 1, "case {i}");
    }
}

#[tokio::test]
async fn throttling_is_retried_a_bounded_number_of_times_then_503() {
    let public = by_alias().then_output(|| public_key(7));
    let sign = mock!(Client::sign)
        .sequence()
        .http_status(
            400,
            Some(r#"{"__type":"ThrottlingException","message":"Rate exceeded"}"#.into()),
        )
        .repeatedly()
        .build();
    let resp = handler(mock_kms(&[&public, &sign]))
        .handle(request(), now())
        .await;
    assert_eq!(resp.status(), 503);
    assert_eq!(resp.headers()["retry-after"], "1");
    let body: serde_json::Value = serde_json::from_slice(resp.body().as_ref()).unwrap();
    assert_eq!(body["error"], "temporarily_unavailable");
    assert_eq!(
        sign.num_calls(),
        iamjwt_aws::sdk::MAX_ATTEMPTS as usize,
        "bounded retries"
    );
}

#[tokio::test]
async fn a_disabled_or_pending_deletion_key_refreshes_the_signer_and_fails_with_500() {
    // Warm with an enabled key; Sign then says disabled (or pending deletion: KMSInvalidStateException); the alias
    // still points at it, and KMS refuses GetPublicKey on such a key with the same error.
    let disabled = || {
        SignError::DisabledException(
            DisabledException::builder()
                .message("key is disabled")
                .build(),
        )
    };
    let invalid_state = || {
        SignError::KmsInvalidStateException(
            KmsInvalidStateException::builder()
                .message("arn:aws:kms:…:key/… is pending deletion.")
                .build(),
        )
    };
    let disabled_public = r#"{"__type":"DisabledException","message":"key is disabled"}"#;
    let invalid_public =
        r#"{"__type":"KMSInvalidStateException","message":"key is pending deletion"}"#;
    for (name, sign_error, public_error) in [
        (
            "disabled",
            &disabled as &dyn Fn() -> SignError,
            disabled_public,
        ),
        ("pending deletion", &invalid_state, invalid_public),
    ] {
        let public = by_alias()
            .sequence()
            .output(|| public_key(7))
            .http_status(400, Some(public_error.to_owned()))
            .repeatedly()
            .build();
        let err = sign_error();
        let sign = mock!(Client::sign).then_error(move || match &err {
            SignError::DisabledException(e) => SignError::DisabledException(e.clone()),
            SignError::KmsInvalidStateException(e) => {
                SignError::KmsInvalidStateException(e.clone())
            }
            other => panic!("{other:?}"),
        });
        let h = handler(mock_kms(&[&public, &sign]));
        let first = h.handle(request(), now()).await;
        assert_eq!(first.status(), 500, "{name}");
        let body: serde_json::Value = serde_json::from_slice(first.body().as_ref()).unwrap();
        assert_eq!(body["error"], "server_error", "{name}");
        assert_eq!(sign.num_calls(), 1, "{name}: a disabled key is not retried");
        assert_eq!(public.num_calls(), 1, "{name}");
        // Next request re-resolves at once (no 300 s wait) and finds the alias still on an unusable key.
        let second = h.handle(request(), now()).await;
        assert_eq!(second.status(), 500, "{name}");
        assert_eq!(
            public.num_calls(),
            2,
            "{name}: the signer re-resolved the alias immediately"
        );
        assert_eq!(
            sign.num_calls(),
            1,
            "{name}: no Sign against a key known to be unusable"
        );
    }
}

/// Lets the background refresh run to its end (the test runtime is single-threaded).
async fn settle(signer: &KmsSigner) {
    for _ in 0..10_000 {
        tokio::task::yield_now().await;
        if !signer.refreshing() {
            return;
        }
    }
    panic!("background refresh did not finish");
}

/// One token's signature through the port, checked against the key its kid names.
async fn token(signer: &KmsSigner, message: &[u8]) -> Kid {
    let key = signer.signing_key(Algorithm::ES256).await.unwrap();
    let sig = key.sign(message).await.unwrap();
    let kid = key.kid().clone();
    let n = (1..=9).find(|n| kid_of(*n) == kid).unwrap();
    ec_key(n)
        .verifying_key()
        .verify(message, &p256::ecdsa::Signature::from_slice(&sig).unwrap())
        .unwrap_or_else(|e| panic!("signature does not verify under kid {kid}: {e}"));
    kid
}

#[tokio::test(start_paused = true)]
async fn past_the_ttl_the_cached_key_signs_while_one_background_refresh_reads_the_alias() {
    const TTL: Duration = Duration::from_secs(300);
    // The key the alias points at; rotation moves it while the signer is warm.
    let current = Arc::new(AtomicU8::new(1));
    let public = {
        let current = current.clone();
        by_alias().then_compute_output(move |_| public_key(current.load(Ordering::SeqCst)))
    };
    let signed_with = Arc::new(Mutex::new(Vec::new()));
    let sign = mock!(Client::sign).then_compute_output(sign_as_kms(signed_with.clone()));
    let signer = KmsSigner::new(mock_kms(&[&public, &sign]), "alias/iamjwt", TTL);
    signer.warm(&[Algorithm::ES256]).await.unwrap();
    assert_eq!(public.num_calls(), 1);

    // 35 tokens, one every 30 s: the TTL expires at tokens 10, 20 and 30, and the alias moves before each expiry.
    let mut kids = Vec::new();
    let mut refreshes = 0;
    for i in 0..35u32 {
        if i % 10 == 5 {
            current.fetch_add(1, Ordering::SeqCst);
        }
        let gets = public.num_calls();
        let expired = i > 0 && i % 10 == 0;
        if expired {
            // Past the TTL: the key known so far answers at once, not the one the alias now names (that would mean
            // resolving on the request path); one refresh starts beside it and more requests start no other.
            for _ in 0..5 {
                let key = signer.signing_key(Algorithm::ES256).await.unwrap();
                assert_eq!(key.kid(), kids.last().unwrap(), "token {i}: the cached key");
                assert!(signer.refreshing(), "token {i}: a refresh started");
            }
        }
        let kid = token(&signer, format!("token {i}").as_bytes()).await;
        assert_eq!(
            sign.num_calls(),
            i as usize + 1,
            "token {i}: exactly one Sign"
        );
        if expired {
            assert_eq!(
                kid,
                *kids.last().unwrap(),
                "token {i}: signed by the cached key"
            );
            settle(&signer).await;
            refreshes += 1;
            assert_eq!(
                public.num_calls(),
                gets + 1,
                "token {i}: exactly one GetPublicKey"
            );
        } else {
            assert_eq!(public.num_calls(), gets, "token {i}: no GetPublicKey");
            assert!(!signer.refreshing(), "token {i}");
        }
        kids.push(kid);
        tokio::time::advance(TTL / 10).await;
    }
    assert_eq!(refreshes, 3);
    assert_eq!(public.num_calls(), 1 + refreshes);
    assert_eq!(sign.num_calls(), 35);
    // Tokens 0..=10 by key 1, 11..=20 by key 2, 21..=30 by key 3, then key 4: each change after its expiry.
    let by_key: Vec<u8> = kids
        .iter()
        .map(|k| (1..=9).find(|n| kid_of(*n) == *k).unwrap())
        .collect();
    let expected: Vec<u8> = (0..35)
        .map(|i| 1 + u8::try_from(i.max(1) - 1).unwrap() / 10)
        .collect();
    assert_eq!(by_key, expected);
    // Sign always by the ARN of the key whose kid went into the token.
    let signed = signed_with.lock().unwrap();
    for (i, id) in signed.iter().enumerate() {
        assert_eq!(*id, arn(by_key[i]), "token {i}");
    }
}

#[tokio::test(start_paused = true)]
async fn a_failed_background_refresh_keeps_the_cached_key_and_retries_later() {
    const TTL: Duration = Duration::from_secs(300);
    let denied = r#"{"__type":"AccessDeniedException","message":"not authorized"}"#;
    let public = by_alias()
        .sequence()
        .output(|| public_key(1))
        .http_status(400, Some(denied.into()))
        .output(|| public_key(2))
        .build();
    let sign = mock!(Client::sign).then_compute_output(sign_as_kms(Arc::default()));
    let signer = KmsSigner::new(mock_kms(&[&public, &sign]), "alias/iamjwt", TTL);
    signer.warm(&[Algorithm::ES256]).await.unwrap();
    tokio::time::advance(TTL).await;
    assert_eq!(token(&signer, b"a").await, kid_of(1));
    settle(&signer).await;
    assert_eq!(public.num_calls(), 2, "the refresh was tried and failed");
    // Still signing with key 1, and not one refresh per request: the next try comes 10 s later.
    for _ in 0..5 {
        assert_eq!(token(&signer, b"b").await, kid_of(1));
        assert!(!signer.refreshing());
        tokio::time::advance(Duration::from_secs(1)).await;
    }
    assert_eq!(public.num_calls(), 2);
    tokio::time::advance(Duration::from_secs(5)).await;
    assert_eq!(token(&signer, b"c").await, kid_of(1));
    settle(&signer).await;
    assert_eq!(public.num_calls(), 3);
    assert_eq!(token(&signer, b"d").await, kid_of(2));
    assert_eq!(sign.num_calls(), 8);
}

#[tokio::test]
async fn a_new_key_waits_for_its_tags_to_authorise_it() {
    use aws_sdk_kms::operation::create_alias::CreateAliasOutput;
    use aws_sdk_kms::operation::create_key::CreateKeyOutput;
    use aws_sdk_kms::operation::tag_resource::TagResourceOutput;
    use iamjwt_core::ports::KeyStore as _;
    use iamjwt_core::{Algorithm, KeySlot};
    let create = mock!(Client::create_key).then_output(|| {
        CreateKeyOutput::builder()
            .key_metadata(
                KeyMetadata::builder()
                    .key_id("key-new")
                    .key_state(KeyState::Enabled)
                    .build()
                    .unwrap(),
            )
            .build()
    });
    let denied = r#"{"__type":"AccessDeniedException","message":"not authorized"}"#;
    let public = mock!(Client::get_public_key)
        .sequence()
        .http_status(400, Some(denied.into()))
        .times(2)
        .output(|| {
            GetPublicKeyOutput::builder()
                .public_key(Blob::new(spki()))
                .build()
        })
        .build();
    let tag = mock!(Client::tag_resource).then_output(|| TagResourceOutput::builder().build());
    let alias = mock!(Client::create_alias).then_output(|| CreateAliasOutput::builder().build());
    let client = mock_client!(
        aws_sdk_kms,
        RuleMode::MatchAny,
        [&create, &public, &tag, &alias],
        |c| { c.retry_config(iamjwt_aws::sdk::retry_config()) }
    );
    let store = iamjwt_aws::kms::KmsKeyStore::new(client, "alias/iamjwt", 7)
        .with_propagation_waits(vec![Duration::from_millis(1); 3]);
    let id = store
        .create_key(Algorithm::ES256, KeySlot::Pending, UnixTime(1))
        .await
        .unwrap();
    assert_eq!(id.as_str(), "key-new");
    assert_eq!(
        public.num_calls(),
        3,
        "two denials while tags propagate, then success"
    );
    assert_eq!(create.num_calls(), 1, "no second key");
    assert_eq!(alias.num_calls(), 1);
}
