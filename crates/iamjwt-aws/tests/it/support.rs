use aws_config::SdkConfig;
pub use iamjwt_aws::testing::{Moto, WireMeter};

pub const REGION: &str = "us-east-1";
pub const BUCKET: &str = "iamjwt-issuer-test";

/// A moto server on a free loopback port, killed on drop. Failing to start is a test failure.
pub fn moto() -> Moto {
    Moto::start().unwrap_or_else(|e| panic!("{e}"))
}

/// Configuration for `moto`, with the test bucket created.
pub async fn with_bucket(moto: &Moto) -> SdkConfig {
    let conf = iamjwt_aws::testing::moto_config(moto, REGION).await;
    iamjwt_aws::sdk::s3(&conf)
        .create_bucket()
        .bucket(BUCKET)
        .send()
        .await
        .unwrap();
    conf
}

/// A KMS client whose wire requests are counted.
pub fn counted_kms(conf: &SdkConfig) -> (aws_sdk_kms::Client, WireMeter) {
    let meter = WireMeter::default();
    (meter.kms(conf), meter)
}
