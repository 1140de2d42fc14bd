//! Which KMS calls a request waited for: an SDK interceptor counts every request put on the wire by operation,
//! split by whether it was made from inside [`on_request_path`] (the task serving a token) or elsewhere (the
//! signer's background refresh and its warm-up run in tasks of their own, so they never count as the request's).

use aws_config::SdkConfig;
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::interceptors::context::BeforeTransmitInterceptorContextRef;
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;
use serde::Serialize;
use std::collections::BTreeMap;
use std::future::Future;
use std::sync::{Arc, Mutex, PoisonError};

tokio::task_local! {
    static ON_REQUEST_PATH: ();
}

/// Runs `fut` (one token request) so that the KMS calls it makes count as on the request path.
pub async fn on_request_path<F: Future>(fut: F) -> F::Output {
    ON_REQUEST_PATH.scope((), fut).await
}

/// Wire requests per operation.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct Counts {
    /// Made by the task serving a token.
    pub request_path: BTreeMap<String, u64>,
    /// Made anywhere else (background refresh, warm-up).
    pub background: BTreeMap<String, u64>,
}

impl Counts {
    pub fn request_path_total(&self) -> u64 {
        self.request_path.values().sum()
    }
    pub fn background_total(&self) -> u64 {
        self.background.values().sum()
    }
    pub fn get(&self, path: bool, operation: &str) -> u64 {
        let m = if path {
            &self.request_path
        } else {
            &self.background
        };
        m.get(operation).copied().unwrap_or(0)
    }
}

#[derive(Debug, Default, Clone)]
pub struct PathMeter {
    counts: Arc<Mutex<Counts>>,
}

impl PathMeter {
    /// A KMS client whose requests this meter sees.
    pub fn kms(&self, conf: &SdkConfig) -> aws_sdk_kms::Client {
        aws_sdk_kms::Client::from_conf(
            aws_sdk_kms::config::Builder::from(conf)
                .interceptor(self.clone())
                .build(),
        )
    }

    /// The counts so far.
    pub fn peek(&self) -> Counts {
        self.counts
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// The counts so far; resets them.
    pub fn take(&self) -> Counts {
        std::mem::take(&mut *self.counts.lock().unwrap_or_else(PoisonError::into_inner))
    }
}

impl Intercept for PathMeter {
    fn name(&self) -> &'static str {
        "PathMeter"
    }

    fn read_before_transmit(
        &self,
        _ctx: &BeforeTransmitInterceptorContextRef<'_>,
        _rc: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let operation = cfg
            .load::<Metadata>()
            .map_or("unknown", Metadata::name)
            .to_owned();
        let on_path = ON_REQUEST_PATH.try_with(|_| ()).is_ok();
        let mut counts = self.counts.lock().unwrap_or_else(PoisonError::into_inner);
        let m = if on_path {
            &mut counts.request_path
        } else {
            &mut counts.background
        };
        *m.entry(operation).or_default() += 1;
        Ok(())
    }
}
