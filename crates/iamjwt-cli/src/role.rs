//! The role to assume with an iamjwt token: the arguments `credentials`, `console` and `s3-access` share.

use crate::credential_process::loop_below;
use crate::error::Error;
use crate::token::IssuerArgs;
use iamjwt_client::TokenRequest;
use iamjwt_client::sts::{self, AssumeRole, AssumedRole};

/// The role to assume with an iamjwt token.
#[derive(clap::Args)]
pub struct RoleArgs {
    #[command(flatten)]
    pub issuer: IssuerArgs,
    /// The role to assume (its partition picks the STS endpoint: aws, aws-cn, aws-us-gov, …); with
    /// --identity-center-app, the identity bearer role.
    #[arg(long)]
    pub role_arn: String,
    /// Token audience: one of the OIDC provider's client IDs (default: sts.amazonaws.com; with
    /// --identity-center-app: identity-center).
    #[arg(long = "aud")]
    pub aud: Option<String>,
    /// Token signing algorithm (default: the issuer's; with --identity-center-app: RS256, all it accepts).
    #[arg(long, value_parser = crate::alg_parser())]
    pub alg: Option<String>,
    /// Token lifetime in seconds (default: the issuer's).
    #[arg(long)]
    pub token_duration: Option<u64>,
    /// RoleSessionName (default: iamjwt-<unix time>).
    #[arg(long)]
    pub session_name: Option<String>,
    /// STS region (default: the partition's: us-east-1, cn-north-1, us-gov-west-1, …; with --identity-center-app:
    /// the Identity Center instance's, default the AWS config's). AWS_ENDPOINT_URL_STS (_SSO_OIDC, _S3_CONTROL) /
    /// AWS_ENDPOINT_URL override the endpoint, as in the AWS SDKs.
    #[arg(long)]
    pub region: Option<String>,
}

impl RoleArgs {
    /// Role credentials (from the cache while more than 5 minutes remain).
    pub async fn assume(&self, duration: Option<i32>) -> Result<AssumedRole, Error> {
        let request = TokenRequest {
            url: self.issuer.url()?,
            audiences: vec![
                self.aud
                    .clone()
                    .unwrap_or_else(|| "sts.amazonaws.com".to_owned()),
            ],
            duration: self.token_duration,
            alg: self.alg.clone(),
            tags: Vec::new(),
        };
        let role = AssumeRole {
            role_arn: self.role_arn.clone(),
            session_name: self.session_name.clone(),
            duration,
            region: self.region.clone(),
            endpoint: sts::endpoint_from_env(|k| std::env::var(k).ok()),
        };
        // Refuse a bad ARN before any network call.
        sts::RoleArn::parse(&role.role_arn)?;
        let client = self.issuer.client().await?;
        let cache = self.issuer.cache()?;
        let (assumed, from_cache) = sts::credentials(&client, &request, &role, cache.as_ref())
            .await
            .map_err(loop_below)?;
        tracing::debug!(from_cache, "role credentials");
        Ok(assumed)
    }
}
