//! One SDK configuration for every client: rustls with ring (no aws-lc, no second TLS stack), standard bounded
//! retries, and `AWS_ENDPOINT_URL` honoured (that is how tests point clients at an emulator).

use aws_config::BehaviorVersion;
pub use aws_config::SdkConfig;
use aws_config::retry::RetryConfig;
use aws_smithy_http_client::tls;
use std::time::Duration;

/// Attempts per SDK call (first try + retries). Throttling beyond this becomes `503 temporarily_unavailable`.
pub const MAX_ATTEMPTS: u32 = 3;

pub fn retry_config() -> RetryConfig {
    RetryConfig::standard()
        .with_max_attempts(MAX_ATTEMPTS)
        .with_initial_backoff(Duration::from_millis(50))
        .with_max_backoff(Duration::from_millis(500))
}

fn http_client() -> aws_smithy_runtime_api::client::http::SharedHttpClient {
    aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(
            tls::rustls_provider::CryptoMode::Ring,
        ))
        .build_https()
}

/// Loads the shared configuration from the environment (region, credentials, `AWS_ENDPOINT_URL`).
pub async fn load() -> SdkConfig {
    load_in(None).await
}

/// As [`load`], with the region fixed when the caller knows it (so the SDK does not go looking for one).
pub async fn load_in(region: Option<&str>) -> SdkConfig {
    let mut loader = aws_config::defaults(BehaviorVersion::latest())
        .http_client(http_client())
        .retry_config(retry_config());
    if let Some(r) = region {
        loader = loader.region(aws_config::Region::new(r.to_owned()));
    }
    loader.load().await
}

/// A configuration pointed at an emulator with static credentials (tests, local experiments).
pub async fn for_endpoint(endpoint: &str, region: &str) -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .http_client(http_client())
        .retry_config(retry_config())
        .endpoint_url(endpoint)
        .region(aws_config::Region::new(region.to_owned()))
        .credentials_provider(aws_credential_types::Credentials::new(
            "test", "test", None, None, "static",
        ))
        .load()
        .await
}

pub fn kms(conf: &SdkConfig) -> aws_sdk_kms::Client {
    aws_sdk_kms::Client::new(conf)
}

/// KMS in another region than the configuration's (same credentials, endpoint and retries): requests are signed
/// for `region`.
pub fn kms_in(conf: &SdkConfig, region: &str) -> aws_sdk_kms::Client {
    aws_sdk_kms::Client::from_conf(
        aws_sdk_kms::config::Builder::from(conf)
            .region(aws_config::Region::new(region.to_owned()))
            .build(),
    )
}

/// S3 with path-style addressing when an endpoint override is in use (emulators don't do virtual hosts).
pub fn s3(conf: &SdkConfig) -> aws_sdk_s3::Client {
    aws_sdk_s3::Client::from_conf(s3_config(conf).build())
}

/// S3 as [`s3`], with requests signed for `region` (the issuer bucket's, from another region's function).
pub fn s3_in(conf: &SdkConfig, region: &str) -> aws_sdk_s3::Client {
    aws_sdk_s3::Client::from_conf(
        s3_config(conf)
            .region(aws_config::Region::new(region.to_owned()))
            .build(),
    )
}

fn s3_config(conf: &SdkConfig) -> aws_sdk_s3::config::Builder {
    let path_style = conf.endpoint_url().is_some();
    aws_sdk_s3::config::Builder::from(conf).force_path_style(path_style)
}

pub fn sfn(conf: &SdkConfig) -> aws_sdk_sfn::Client {
    aws_sdk_sfn::Client::new(conf)
}

pub fn iam(conf: &SdkConfig) -> aws_sdk_iam::Client {
    aws_sdk_iam::Client::new(conf)
}

pub fn sts(conf: &SdkConfig) -> aws_sdk_sts::Client {
    aws_sdk_sts::Client::new(conf)
}
