//! Paths of the signer and key store that moto cannot produce (an alias on a key of the wrong kind, the alias
//! moving while the signer is warm, a background refresh failing, a new key's tags propagating), against the fake
//! KMS of [`iamjwt_aws::testing::fake_kms`]. Throttling and a key disabled under a warm signer are seen through the
//! token handler: iamjwt-lambda's tests.

use aws_sdk_kms::Client;
use aws_sdk_kms::operation::get_public_key::GetPublicKeyOutput;
use aws_sdk_kms::primitives::Blob;
use aws_sdk_kms::types::{KeyMetadata, KeySpec, KeyState, KeyUsageType, SigningAlgorithmSpec};
use aws_smithy_mocks::{RuleMode, mock, mock_client};
use iamjwt_aws::kms::KmsSigner;
use iamjwt_aws::testing::fake_kms::{
    ES256_ALIAS, arn, by_alias, ec_key, kid_of, mock_kms, public_key, sign_as_kms, spki,
};
use iamjwt_core::ports::Signer as _;
use iamjwt_core::{Algorithm, Kid, UnixTime};
use p256::ecdsa::signature::Verifier as _;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

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
