//! Paths moto cannot produce: throttling and a key disabled under a warm signer.

use aws_sdk_kms::Client;
use aws_sdk_kms::operation::describe_key::DescribeKeyOutput;
use aws_sdk_kms::operation::get_public_key::GetPublicKeyOutput;
use aws_sdk_kms::operation::sign::SignError;
use aws_sdk_kms::primitives::Blob;
use aws_sdk_kms::types::error::DisabledException;
use aws_sdk_kms::types::{KeyMetadata, KeyState};
use aws_smithy_mocks::{RuleMode, mock, mock_client};
use iamjwt_aws::kms::KmsSigner;
use iamjwt_core::UnixTime;
use iamjwt_core::config::Settings;
use iamjwt_core::issuer::{IssuePolicy, Issuer};
use iamjwt_lambda::token::TokenHandler;
use p256::pkcs8::EncodePublicKey as _;
use std::sync::Arc;
use std::time::Duration;

fn spki() -> Vec<u8> {
    let sk = p256::ecdsa::SigningKey::from_slice(&[7; 32]).unwrap();
    sk.verifying_key()
        .to_public_key_der()
        .unwrap()
        .as_bytes()
        .to_vec()
}

fn metadata(state: KeyState) -> DescribeKeyOutput {
    DescribeKeyOutput::builder()
        .key_metadata(
            KeyMetadata::builder()
                .key_id("key-1")
                .key_state(state)
                .build()
                .unwrap(),
        )
        .build()
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
    TokenHandler::new(Issuer::new(IssuePolicy::from(&s), Arc::new(signer)))
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

#[tokio::test]
async fn throttling_is_retried_a_bounded_number_of_times_then_503() {
    let describe = mock!(Client::describe_key).then_output(|| metadata(KeyState::Enabled));
    let public = mock!(Client::get_public_key).then_output(|| {
        GetPublicKeyOutput::builder()
            .public_key(Blob::new(spki()))
            .build()
    });
    let sign = mock!(Client::sign)
        .sequence()
        .http_status(
            400,
            Some(r#"{"__type":"ThrottlingException","message":"Rate exceeded"}"#.into()),
        )
        .repeatedly()
        .build();
    let client = mock_client!(
        aws_sdk_kms,
        RuleMode::MatchAny,
        [&describe, &public, &sign],
        |c| { c.retry_config(iamjwt_aws::sdk::retry_config()) }
    );
    let resp = handler(client).handle(request(), now()).await;
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
async fn a_disabled_key_refreshes_the_signer_and_fails_with_500() {
    // Warm with an enabled key; Sign then says disabled; the alias now resolves to a disabled key.
    let describe = mock!(Client::describe_key)
        .sequence()
        .output(|| metadata(KeyState::Enabled))
        .output(|| metadata(KeyState::Disabled))
        .repeatedly()
        .build();
    let public = mock!(Client::get_public_key).then_output(|| {
        GetPublicKeyOutput::builder()
            .public_key(Blob::new(spki()))
            .build()
    });
    let sign = mock!(Client::sign).then_error(|| {
        SignError::DisabledException(
            DisabledException::builder()
                .message("key is disabled")
                .build(),
        )
    });
    let client = mock_client!(
        aws_sdk_kms,
        RuleMode::MatchAny,
        [&describe, &public, &sign],
        |c| { c.retry_config(iamjwt_aws::sdk::retry_config()) }
    );
    let h = handler(client);
    let first = h.handle(request(), now()).await;
    assert_eq!(first.status(), 500);
    let body: serde_json::Value = serde_json::from_slice(first.body().as_ref()).unwrap();
    assert_eq!(body["error"], "server_error");
    assert_eq!(sign.num_calls(), 1, "a disabled key is not retried");
    assert_eq!(describe.num_calls(), 1);
    // Next request re-resolves at once (no 300 s wait) and finds the alias still on a disabled key.
    let second = h.handle(request(), now()).await;
    assert_eq!(second.status(), 500);
    assert_eq!(
        describe.num_calls(),
        2,
        "the signer re-resolved the alias immediately"
    );
    assert_eq!(
        sign.num_calls(),
        1,
        "no Sign against a key known to be disabled"
    );
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
