//! The `token` Lambda: API Gateway REST proxy events → tokens signed by KMS. Wiring only.

use iamjwt_aws::kms::KmsSigner;
use iamjwt_aws::published::PublishedOnly;
use iamjwt_aws::s3::S3Publisher;
use iamjwt_aws::{emf, sdk};
use iamjwt_core::UnixTime;
use iamjwt_core::issuer::Issuer;
use iamjwt_core::ports::Signer;
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
    // An issuer in several regions: the bucket whose JWKS this region checks its keys against.
    let jwks_bucket = settings.primary_region().map(|_| {
        settings.bucket.clone().unwrap_or_else(|| wiring::exit_with(
            "invalid configuration: IAMJWT_BUCKET: is required for a token function when IAMJWT_REGIONS names several regions (it checks its keys against the published JWKS); set it to the issuer bucket",
        ))
    });
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
    let signer: Arc<dyn Signer> = match (settings.primary_region(), jwks_bucket) {
        // An issuer in several regions: this region signs only with keys in the one published JWKS.
        (Some(primary), Some(bucket)) => {
            Arc::new(published_only(&settings, &conf, primary, bucket, signer).await)
        }
        _ => signer,
    };
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

/// The signer of one region of an issuer in several (`IAMJWT_REGIONS`): it checks its keys against the JWKS in
/// `bucket`, the issuer bucket (`IAMJWT_BUCKET`, in the primary region). A function outside the configured regions
/// is refused at start.
async fn published_only(
    settings: &iamjwt_core::config::Settings,
    conf: &sdk::SdkConfig,
    primary: &iamjwt_core::region::Region,
    bucket: String,
    signer: Arc<KmsSigner>,
) -> PublishedOnly {
    let here = conf.region().map(ToString::to_string);
    if !settings
        .regions
        .iter()
        .any(|r| Some(r.as_str()) == here.as_deref())
    {
        wiring::exit_with(&format!(
            "invalid configuration: IAMJWT_REGIONS: this token function runs in {}, which is not one of the issuer's regions; add it to IAMJWT_REGIONS (and let rotation replicate into it) or deploy it in one of them",
            here.as_deref().unwrap_or("no region (set AWS_REGION)")
        ));
    }
    let jwks = Arc::new(S3Publisher::new(
        sdk::s3_in(conf, primary.as_str()),
        bucket,
        settings.jwks_max_age,
    ));
    let guarded = PublishedOnly::new(
        signer,
        jwks,
        Duration::from_secs(settings.key_refresh_seconds),
    );
    if let Err(e) = guarded.warm().await {
        // Not fatal: until the JWKS can be read, this region refuses to sign (503) and clients fail over.
        tracing::warn!(error = %e, "could not read the published JWKS at start-up");
    }
    guarded
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
