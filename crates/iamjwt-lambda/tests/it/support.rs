use aws_config::SdkConfig;
use iamjwt_aws::testing::Moto;
use iamjwt_core::UnixTime;
use iamjwt_core::config::Settings;

pub const REGION: &str = "us-east-1";
pub const BUCKET: &str = "iamjwt-issuer-test";

/// A moto server on a free loopback port (killed when the returned `Moto` drops) with what a token handler needs:
/// a current, published KMS key per algorithm of `settings` under `prefix`, made by the real rotation code.
/// Failing to start is a test failure.
pub async fn moto_with_keys(settings: &Settings, prefix: &str) -> (Moto, SdkConfig) {
    let moto = Moto::start().unwrap_or_else(|e| panic!("{e}"));
    let conf = iamjwt_aws::testing::moto_with_bucket(&moto, REGION, BUCKET)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    iamjwt_aws::testing::current_keys_published(&conf, settings, prefix, BUCKET)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    (moto, conf)
}

pub fn now() -> UnixTime {
    UnixTime::from_system_time(std::time::SystemTime::now())
}
