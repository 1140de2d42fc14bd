//! The `token` Lambda: API Gateway REST proxy events → tokens signed by KMS. Wiring only.

use iamjwt_aws::kms::KmsSigner;
use iamjwt_aws::{emf, sdk};
use iamjwt_core::UnixTime;
use iamjwt_core::issuer::Issuer;
use iamjwt_lambda::token::{RestApiStage, TokenHandler};
use iamjwt_lambda::wiring;
use lambda_http::{Request, service_fn};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    let check_config = wiring::check_config_requested();
    wiring::init_logging();
    let settings = wiring::settings_or_exit();
    // The one API and stage whose events this function answers (set by the CDK).
    let api = RestApiStage::from_lookup(|k| std::env::var(k).ok())
        .unwrap_or_else(|e| wiring::exit_with(&e.to_string()));
    if check_config {
        return Ok(());
    }
    // Clients and keys are built once per execution environment, never per request.
    let conf = sdk::load().await;
    let signer = Arc::new(
        KmsSigner::new(
            sdk::kms(&conf),
            &settings.key_alias_prefix,
            Duration::from_secs(settings.key_refresh_seconds),
        )
        .with_confirmation_limit(Duration::from_secs(
            settings.signing_key_confirmation_limit(),
        ))
        .with_metrics(true),
    );
    // Every algorithm's key in one concurrent round of GetPublicKey (by alias).
    if let Err(e) = signer.warm(&settings.issue.algorithms).await {
        // Not fatal: the keys may not exist yet (first deploy), requests will resolve them.
        tracing::warn!(error = %e, "could not resolve signing keys at start-up");
    }
    let mut issuer = Issuer::new(settings.issue.clone(), signer);
    if settings.issue.needs_tags() {
        issuer = issuer.with_tags(tag_source(&settings, &conf).await);
    }
    let handler = TokenHandler::new(issuer, api);
    lambda_http::run(service_fn(move |req: Request| {
        let handler = handler.clone();
        async move {
            // One EMF document per request: TokensIssued and the signer's KmsSignLatency together.
            let (resp, sign) = emf::request_scope(
                handler.handle(req, UnixTime::from_system_time(SystemTime::now())),
            )
            .await;
            if let Some(line) = emf::token_request("token", resp.status().is_success(), sign) {
                emf::write(&line);
            }
            Ok::<_, std::convert::Infallible>(resp)
        }
    }))
    .await
}

/// IAM principal tags, wired only when a rule or `IAMJWT_SESSION_TAGS` uses them (no IAM calls otherwise).
async fn tag_source(
    settings: &iamjwt_core::config::Settings,
    conf: &sdk::SdkConfig,
) -> Arc<iamjwt_aws::iam_tags::IamTagSource> {
    let tags = iamjwt_aws::iam_tags::IamTagSource::new(
        sdk::iam(conf),
        sdk::sts(conf),
        settings.tag_reader_role.clone(),
        Duration::from_secs(settings.tag_cache_seconds),
    );
    if let Err(e) = tags.warm().await {
        // Not fatal here: requests that need tags will fail (and log) until STS answers.
        tracing::error!(alarm = true, error = %e, "could not resolve this function's account for tag lookups");
    }
    Arc::new(tags)
}
