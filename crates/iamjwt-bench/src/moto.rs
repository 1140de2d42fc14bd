//! moto with keys and a bucket made by the real rotation code, so the KMS path is measured against the keys
//! production would have.

use crate::Error;
use iamjwt_aws::kms::KmsKeyStore;
use iamjwt_aws::s3::S3Publisher;
pub use iamjwt_aws::testing::Moto;
use iamjwt_core::UnixTime;
use iamjwt_core::config::Settings;
use iamjwt_core::rotation::{Rotator, Step};

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

/// SDK configuration for `moto` in [`REGION`].
pub async fn config(moto: &Moto) -> aws_config::SdkConfig {
    moto.config(REGION).await
}

/// A bucket, then every rotation step once: a current key per algorithm, published.
pub async fn with_keys(moto: &Moto) -> Result<aws_config::SdkConfig, Error> {
    let conf = config(moto).await;
    iamjwt_aws::sdk::s3(&conf)
        .create_bucket()
        .bucket(BUCKET)
        .send()
        .await
        .map_err(|e| Error::Setup(format!("CreateBucket: {e}")))?;
    let s = settings()?;
    let store = KmsKeyStore::new(iamjwt_aws::sdk::kms(&conf), PREFIX, 7);
    let publisher = S3Publisher::new(iamjwt_aws::sdk::s3(&conf), BUCKET, 3600);
    let rotator = Rotator {
        store: &store,
        publisher: &publisher,
        issuer: &s.issuer,
        algs: &s.algorithms,
        policy: s.rotation_policy(),
    };
    let now = UnixTime::from_system_time(std::time::SystemTime::now());
    for step in Step::ALL {
        rotator
            .run_step(step, false, now)
            .await
            .map_err(|e| Error::Setup(format!("rotation step {step:?}: {e}")))?;
    }
    Ok(conf)
}
