//! moto with keys and a bucket made by the real rotation code, so the KMS path is measured against the keys
//! production would have.

use crate::Error;
pub use iamjwt_aws::testing::Moto;
use iamjwt_core::config::Settings;

pub const REGION: &str = "us-east-1";
pub const BUCKET: &str = "iamjwt-bench";
pub const PREFIX: &str = "alias/iamjwt-bench";
pub const ISSUER: &str = "https://id.example.com";
pub const AUDIENCE: &str = "sts.amazonaws.com";

/// The environment the `token` Lambda (and the in-process handler) is configured with.
pub fn env() -> [(&'static str, &'static str); 3] {
    [
        ("IAMJWT_ISSUER", ISSUER),
        ("IAMJWT_DEFAULT_AUDIENCE", AUDIENCE),
        ("IAMJWT_KEY_ALIAS_PREFIX", PREFIX),
    ]
}

pub fn settings() -> Result<Settings, Error> {
    Settings::from_lookup(|k| {
        env()
            .iter()
            .find(|(name, _)| *name == k)
            .map(|(_, v)| (*v).to_owned())
    })
    .map_err(|e| Error::Setup(e.to_string()))
}

/// Starts `moto_server` (see [`iamjwt_aws::testing::Moto`]).
pub fn start() -> Result<Moto, Error> {
    Moto::start().map_err(Error::Setup)
}

/// Starts `moto_server` with one backend per region and KMS multi-Region keys as AWS documents them
/// ([`iamjwt_testkit::Moto::start_multi_region`]).
pub fn start_multi_region() -> Result<Moto, Error> {
    Moto::start_multi_region().map_err(Error::Setup)
}

/// SDK configuration for `moto` in [`REGION`].
pub async fn config(moto: &Moto) -> aws_config::SdkConfig {
    iamjwt_aws::testing::moto_config(moto, REGION).await
}

/// A bucket, then every rotation step once: a current key per algorithm, published.
pub async fn with_keys(moto: &Moto) -> Result<aws_config::SdkConfig, Error> {
    let conf = with_bucket(moto).await?;
    iamjwt_aws::testing::current_keys_published(&conf, &settings()?, PREFIX, BUCKET)
        .await
        .map_err(Error::Setup)?;
    Ok(conf)
}

/// The regions of [`with_keys_in_regions`]: [`REGION`] (the primary) first.
pub const REGIONS: [&str; 3] = [REGION, "eu-west-1", "ap-southeast-2"];

/// [`with_keys`] for an issuer in [`REGIONS`], on a moto with one backend per region
/// ([`iamjwt_testkit::Moto::start_multi_region`]): multi-Region keys, replicated, each region's aliases set.
pub async fn with_keys_in_regions(moto: &Moto) -> Result<aws_config::SdkConfig, Error> {
    let conf = with_bucket(moto).await?;
    iamjwt_aws::testing::current_keys_published_in_regions(
        &conf,
        &settings()?,
        PREFIX,
        BUCKET,
        &REGIONS[1..],
    )
    .await
    .map_err(Error::Setup)?;
    Ok(conf)
}

async fn with_bucket(moto: &Moto) -> Result<aws_config::SdkConfig, Error> {
    let conf = config(moto).await;
    iamjwt_aws::sdk::s3(&conf)
        .create_bucket()
        .bucket(BUCKET)
        .send()
        .await
        .map_err(|e| Error::Setup(format!("CreateBucket: {e}")))?;
    Ok(conf)
}
