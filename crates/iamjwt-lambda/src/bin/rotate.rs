//! The `rotate` Lambda: one rotation step per invocation, driven by the workflow in `infra/`. Wiring only.

use iamjwt_aws::kms::{KeyAccess, KmsKeyStore, KmsRegions};
use iamjwt_aws::s3::S3Publisher;
use iamjwt_aws::sdk;
use iamjwt_core::UnixTime;
use iamjwt_core::error::StepErrorType;
use iamjwt_edge::rotate::{RotateHandler, StepEvent};
use iamjwt_lambda::wiring;
use lambda_runtime::{Diagnostic, LambdaEvent, service_fn};
use std::sync::Arc;
use std::time::SystemTime;

fn diagnostic(e: &iamjwt_edge::Error) -> Diagnostic {
    Diagnostic {
        error_type: e.error_type().to_owned(),
        error_message: e.to_string(),
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    let check_config = wiring::check_config_requested();
    wiring::init_logging();
    let settings = wiring::settings_or_exit();
    let Some(bucket) = settings.bucket.clone() else {
        eprintln!(
            "error: invalid configuration: IAMJWT_BUCKET: is required for the rotate function"
        );
        std::process::exit(1);
    };
    // The roles every key policy names: without them keys would get KMS's default policy, which lets any
    // principal with kms:Sign in IAM sign tokens.
    let access = KeyAccess::from_lookup(|k| std::env::var(k).ok())
        .unwrap_or_else(|e| wiring::exit_with(&e.to_string()));
    if check_config {
        return Ok(());
    }
    let conf = sdk::load().await;
    let primary = settings.primary_region();
    if let Some(primary) = primary {
        // The workflow, the bucket and the primary keys live in the primary region: rotating from anywhere else
        // would create keys there.
        let here = conf.region().map(ToString::to_string);
        if here.as_deref() != Some(primary.as_str()) {
            wiring::exit_with(&format!(
                "invalid configuration: IAMJWT_REGIONS: the first region ({primary}) is the primary, where the rotate function must run; it runs in {}",
                here.as_deref().unwrap_or("no region (set AWS_REGION)")
            ));
        }
    }
    let store = Arc::new(
        KmsKeyStore::new(
            sdk::kms(&conf),
            &settings.key_alias_prefix,
            settings.key_deletion_days,
            access,
        )
        .with_multi_region(primary.is_some()),
    );
    let publisher = Arc::new(S3Publisher::new(
        sdk::s3(&conf),
        bucket,
        settings.jwks_max_age,
    ));
    let mut handler = RotateHandler::new(&settings, store, publisher);
    if primary.is_some() {
        let replicas = settings
            .replica_regions()
            .iter()
            .map(|r| (r.clone(), sdk::kms_in(&conf, r.as_str())))
            .collect();
        handler = handler.with_regions(Arc::new(KmsRegions::new(
            sdk::kms(&conf),
            replicas,
            &settings.key_alias_prefix,
            settings.key_deletion_days,
        )));
    }
    lambda_runtime::run(service_fn(move |event: LambdaEvent<serde_json::Value>| {
        let handler = handler.clone();
        async move {
            let step = StepEvent::from_json(event.payload).map_err(|e| diagnostic(&e))?;
            let report = handler
                .handle(step, UnixTime::from_system_time(SystemTime::now()))
                .await
                .map_err(|e| diagnostic(&e))?;
            // A report that cannot be serialised is a failed step, never an empty success.
            serde_json::to_value(report).map_err(|e| Diagnostic {
                error_type: StepErrorType::InternalError.as_str().to_owned(),
                error_message: format!("cannot serialise the step report: {e}"),
            })
        }
    }))
    .await
}
