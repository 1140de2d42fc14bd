use aws_config::SdkConfig;
pub use iamjwt_aws::testing::Moto;

pub const REGION: &str = "us-east-1";
pub const BUCKET: &str = "iamjwt-issuer-test";

/// A moto server on a free loopback port, killed on drop. Failing to start is a test failure.
pub fn moto() -> Moto {
    Moto::start().unwrap_or_else(|e| panic!("{e}"))
}

/// Configuration for `moto`, with the test bucket created.
pub async fn with_bucket(moto: &Moto) -> SdkConfig {
    iamjwt_aws::testing::moto_with_bucket(moto, REGION, BUCKET)
        .await
        .unwrap_or_else(|e| panic!("{e}"))
}
