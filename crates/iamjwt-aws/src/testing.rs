//! Support for tests and benchmarks (feature `testing`): SDK configuration for `moto_server` (started by
//! [`iamjwt_testkit::Moto`], the one launcher), an SDK interceptor that counts the requests a client puts on the
//! wire and times their round trips, and a [`fake_kms`] for what moto cannot produce. Shared by this crate's tests
//! and those of the crates above it (the handlers'); never used by the Lambdas.

use aws_config::SdkConfig;
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::interceptors::context::{
    BeforeDeserializationInterceptorContextRef, BeforeTransmitInterceptorContextRef,
};
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

pub use iamjwt_testkit::Moto;

pub mod fake_kms;

/// SDK configuration pointed at `moto`, static dummy credentials.
pub async fn moto_config(moto: &Moto, region: &str) -> SdkConfig {
    crate::sdk::for_endpoint(&moto.endpoint, region).await
}

/// [`moto_config`], with `bucket` created.
pub async fn moto_with_bucket(
    moto: &Moto,
    region: &str,
    bucket: &str,
) -> Result<SdkConfig, String> {
    let conf = moto_config(moto, region).await;
    crate::sdk::s3(&conf)
        .create_bucket()
        .bucket(bucket)
        .send()
        .await
        .map_err(|e| format!("CreateBucket {bucket}: {e}"))?;
    Ok(conf)
}

/// A KMS client whose wire requests are counted.
pub fn counted_kms(conf: &SdkConfig) -> (aws_sdk_kms::Client, WireMeter) {
    let meter = WireMeter::default();
    (meter.kms(conf), meter)
}

/// An STS client for a tag source that only reads its home account: no endpoint, no credentials, so a call
/// it should not make fails.
pub fn idle_sts(region: &str) -> aws_sdk_sts::Client {
    aws_sdk_sts::Client::from_conf(
        aws_sdk_sts::Config::builder()
            .behavior_version(aws_sdk_sts::config::BehaviorVersion::latest())
            .region(aws_sdk_sts::config::Region::new(region.to_owned()))
            .build(),
    )
}

/// Counts wire requests (every attempt) and sums the time from transmit to the response arriving.
#[derive(Debug, Default, Clone)]
pub struct WireMeter {
    requests: Arc<AtomicU64>,
    wire_ns: Arc<AtomicU64>,
    sent_at: Arc<Mutex<Option<Instant>>>,
}

impl WireMeter {
    /// Requests since the last reset.
    pub fn requests(&self) -> u64 {
        self.requests.load(Ordering::SeqCst)
    }

    /// Requests and total round-trip time since the last reset; resets both.
    pub fn take(&self) -> (u64, Duration) {
        (
            self.requests.swap(0, Ordering::SeqCst),
            Duration::from_nanos(self.wire_ns.swap(0, Ordering::SeqCst)),
        )
    }

    pub fn reset(&self) {
        self.take();
    }

    /// An IAM client whose requests this meter sees (and every reader-role client built from its config).
    pub fn iam(&self, conf: &SdkConfig) -> aws_sdk_iam::Client {
        aws_sdk_iam::Client::from_conf(
            aws_sdk_iam::config::Builder::from(conf)
                .interceptor(self.clone())
                .build(),
        )
    }

    /// An STS client whose requests this meter sees.
    pub fn sts(&self, conf: &SdkConfig) -> aws_sdk_sts::Client {
        aws_sdk_sts::Client::from_conf(
            aws_sdk_sts::config::Builder::from(conf)
                .interceptor(self.clone())
                .build(),
        )
    }

    /// An S3 client (path-style, as [`crate::sdk::s3`]) whose requests this meter sees.
    pub fn s3(&self, conf: &SdkConfig) -> aws_sdk_s3::Client {
        let base = crate::sdk::s3(conf);
        aws_sdk_s3::Client::from_conf(base.config().to_builder().interceptor(self.clone()).build())
    }

    /// A KMS client whose requests this meter sees. Round trips are timed one at a time: use it sequentially.
    pub fn kms(&self, conf: &SdkConfig) -> aws_sdk_kms::Client {
        aws_sdk_kms::Client::from_conf(
            aws_sdk_kms::config::Builder::from(conf)
                .interceptor(self.clone())
                .build(),
        )
    }
}

impl Intercept for WireMeter {
    fn name(&self) -> &'static str {
        "WireMeter"
    }

    fn read_before_transmit(
        &self,
        _ctx: &BeforeTransmitInterceptorContextRef<'_>,
        _rc: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        self.requests.fetch_add(1, Ordering::SeqCst);
        *self.sent_at.lock().unwrap_or_else(PoisonError::into_inner) = Some(Instant::now());
        Ok(())
    }

    fn read_before_deserialization(
        &self,
        _ctx: &BeforeDeserializationInterceptorContextRef<'_>,
        _rc: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let sent = self
            .sent_at
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(sent) = sent {
            let ns = u64::try_from(sent.elapsed().as_nanos()).unwrap_or(u64::MAX);
            self.wire_ns.fetch_add(ns, Ordering::SeqCst);
        }
        Ok(())
    }
}

/// The token role the test key policies name, in moto's account (that of its static credentials).
pub const TOKEN_ROLE: &str = "arn:aws:iam::123456789012:role/iamjwt-token";
/// The rotate role the test key policies name.
pub const ROTATE_ROLE: &str = "arn:aws:iam::123456789012:role/iamjwt-rotate";

/// [`TOKEN_ROLE`] and [`ROTATE_ROLE`], for a key store.
pub fn key_access() -> Result<crate::kms::KeyAccess, String> {
    use crate::kms::key_policy::{self, RoleArn};
    let role = |variable, arn| RoleArn::parse(variable, arn).map_err(|e| e.to_string());
    crate::kms::KeyAccess::new(
        role(key_policy::TOKEN_ROLE_ARN, TOKEN_ROLE)?,
        role(key_policy::ROTATE_ROLE_ARN, ROTATE_ROLE)?,
    )
    .map_err(|e| e.to_string())
}

/// Every rotation step once, with the real key store and publisher: a current KMS key per configured algorithm
/// under `alias_prefix`, published to `bucket` (which must exist).
pub async fn current_keys_published(
    conf: &SdkConfig,
    settings: &iamjwt_core::config::Settings,
    alias_prefix: &str,
    bucket: &str,
) -> Result<(), String> {
    use iamjwt_core::rotation::{Rotator, Step};
    let store = crate::kms::KmsKeyStore::new(crate::sdk::kms(conf), alias_prefix, 7, key_access()?);
    let publisher = crate::s3::S3Publisher::new(crate::sdk::s3(conf), bucket, 3600);
    let rotator = Rotator {
        store: &store,
        publisher: &publisher,
        issuer: &settings.issue.issuer,
        algs: &settings.issue.algorithms,
        policy: settings.rotation_policy(),
    };
    let now = iamjwt_core::UnixTime::from_system_time(std::time::SystemTime::now());
    for step in Step::ALL {
        rotator
            .run_step(step, false, now)
            .await
            .map_err(|e| format!("rotation step {step:?}: {e}"))?;
    }
    Ok(())
}

/// [`current_keys_published`] for an issuer in several regions: multi-Region keys created in `conf`'s region (the
/// primary), replicated into each of `replicas`, and every region's `current` aliases pointed at them once they
/// are published.
pub async fn current_keys_published_in_regions(
    conf: &SdkConfig,
    settings: &iamjwt_core::config::Settings,
    alias_prefix: &str,
    bucket: &str,
    replicas: &[&str],
) -> Result<(), String> {
    use iamjwt_core::region::Region;
    use iamjwt_core::rotation::regions::RegionalRotator;
    use iamjwt_core::rotation::{Rotator, Step};
    let store = crate::kms::KmsKeyStore::new(crate::sdk::kms(conf), alias_prefix, 7, key_access()?)
        .with_multi_region(true);
    let publisher = crate::s3::S3Publisher::new(crate::sdk::s3(conf), bucket, 3600);
    let clients = replicas
        .iter()
        .map(|r| {
            Ok((
                Region::parse(r).map_err(|e| e.to_string())?,
                crate::sdk::kms_in(conf, r),
            ))
        })
        .collect::<Result<Vec<_>, String>>()?;
    let regions = crate::kms::KmsRegions::new(crate::sdk::kms(conf), clients, alias_prefix, 7);
    let rotator = RegionalRotator {
        primary: Rotator {
            store: &store,
            publisher: &publisher,
            issuer: &settings.issue.issuer,
            algs: &settings.issue.algorithms,
            policy: settings.rotation_policy(),
        },
        regions: &regions,
    };
    let now = iamjwt_core::UnixTime::from_system_time(std::time::SystemTime::now());
    // The first pass creates, replicates, promotes and publishes; the regions follow a published key on the next
    // step.
    for step in Step::ALL.into_iter().chain([Step::Retire]) {
        let report = rotator
            .run_step(step, false, now)
            .await
            .map_err(|e| format!("rotation step {step:?}: {e}"))?;
        if let Some((region, e)) = report.region_errors.iter().next() {
            return Err(format!("rotation step {step:?} in {region}: {e}"));
        }
    }
    Ok(())
}
