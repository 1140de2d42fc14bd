//! `iamjwt credentials`: token → STS `AssumeRoleWithWebIdentity` → AWS credentials, printed for
//! `credential_process` (default), as shell `export` lines, or as STS's full answer. Cached like the AWS CLI
//! caches assumed-role credentials (0600 JSON, refreshed 5 minutes before `Expiration`).

use crate::error::Error;
use crate::token::IssuerArgs;
use iamjwt_client::TokenRequest;
use iamjwt_client::sts::{self, AssumeRole, AssumedRole};

#[derive(Clone, Copy, clap::ValueEnum)]
enum Output {
    /// AWS `credential_process` JSON (Version 1).
    Process,
    /// `export AWS_ACCESS_KEY_ID=…` lines for a shell's `eval`.
    Env,
    /// STS's whole answer (Credentials, AssumedRoleUser, SubjectFromWebIdentityToken, Audience, Provider).
    Json,
}

/// The role to assume with an iamjwt token; shared by `credentials` and `console`.
#[derive(clap::Args)]
pub struct RoleArgs {
    #[command(flatten)]
    pub issuer: IssuerArgs,
    /// The role to assume (its partition picks the STS endpoint: aws, aws-cn, aws-us-gov, …).
    #[arg(long)]
    pub role_arn: String,
    /// Token audience: one of the OIDC provider's client IDs (default: sts.amazonaws.com; with
    /// --identity-center-app: identity-center).
    #[arg(long = "aud")]
    pub aud: Option<String>,
    /// Token signing algorithm (default: the issuer's).
    #[arg(long, value_parser = crate::alg_parser())]
    pub alg: Option<String>,
    /// Token lifetime in seconds (default: the issuer's).
    #[arg(long)]
    pub token_duration: Option<u64>,
    /// RoleSessionName (default: iamjwt-<unix time>).
    #[arg(long)]
    pub session_name: Option<String>,
    /// STS region (default: the partition's: us-east-1, cn-north-1, us-gov-west-1, …).
    /// AWS_ENDPOINT_URL_STS / AWS_ENDPOINT_URL override the endpoint, as in the AWS SDKs.
    #[arg(long)]
    pub region: Option<String>,
}

impl RoleArgs {
    /// Role credentials (from the cache while more than 5 minutes remain).
    pub async fn assume(&self, duration: Option<i32>) -> Result<AssumedRole, Error> {
        let request = TokenRequest {
            url: self.issuer.url.clone(),
            audiences: vec![
                self.aud
                    .clone()
                    .unwrap_or_else(|| "sts.amazonaws.com".to_owned()),
            ],
            duration: self.token_duration,
            alg: self.alg.clone(),
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
        let (assumed, from_cache) =
            sts::credentials(&client, &request, &role, cache.as_ref()).await?;
        tracing::debug!(from_cache, "role credentials");
        Ok(assumed)
    }
}

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    role: RoleArgs,
    /// Session duration in seconds (900 up to the role's MaxSessionDuration; default: STS's, 1 h).
    #[arg(long, value_parser = clap::value_parser!(i32).range(900..=43200))]
    duration: Option<i32>,
    #[arg(long, value_enum, default_value = "process")]
    output: Output,
    /// Instead: an identity-enhanced session through this IAM Identity Center application (token →
    /// CreateTokenWithIAM → AssumeRole with the identity context; --role-arn is the identity bearer role).
    #[arg(long)]
    identity_center_app: Option<String>,
}

/// A value safe inside single quotes in a POSIX shell.
fn shell_quote(v: &str) -> String {
    format!("'{}'", v.replace('\'', r"'\''"))
}

fn render(assumed: &AssumedRole, output: Output) -> Result<String, Error> {
    let c = &assumed.credentials;
    Ok(match output {
        Output::Process => to_json(&c.credential_process())?,
        Output::Json => to_json(assumed)?,
        Output::Env => [
            ("AWS_ACCESS_KEY_ID", c.access_key_id.as_str()),
            ("AWS_SECRET_ACCESS_KEY", &c.secret_access_key),
            ("AWS_SESSION_TOKEN", &c.session_token),
            ("AWS_CREDENTIAL_EXPIRATION", &c.expiration),
        ]
        .iter()
        .map(|(k, v)| format!("export {k}={}", shell_quote(v)))
        .collect::<Vec<_>>()
        .join("\n"),
    })
}

fn to_json<T: serde::Serialize>(v: &T) -> Result<String, Error> {
    serde_json::to_string(v).map_err(|e| Error::Usage(format!("cannot encode the output: {e}")))
}

pub async fn run(args: Args) -> Result<(), Error> {
    let assumed = match args.identity_center_app {
        Some(app) => {
            crate::s3_access::SessionArgs::from_role(&args.role, app)
                .session(args.duration)
                .await?
        }
        None => args.role.assume(args.duration).await?,
    };
    crate::print_stdout(&render(&assumed, args.output)?);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use iamjwt_client::sts::{AssumedRoleUser, AwsCredentials};

    #[test]
    fn outputs() {
        let a = AssumedRole {
            credentials: AwsCredentials {
                access_key_id: "ASIA1".into(),
                secret_access_key: "se'cret".into(),
                session_token: "tok".into(),
                expiration: "2026-12-03T10:00:00Z".into(),
            },
            assumed_role_user: AssumedRoleUser {
                arn: "arn:aws:sts::123456789012:assumed-role/r/s".into(),
                assumed_role_id: "AROA:s".into(),
            },
            subject_from_web_identity_token: Some("sub".into()),
            audience: Some("sts.amazonaws.com".into()),
            provider: None,
        };
        let p: serde_json::Value =
            serde_json::from_str(&render(&a, Output::Process).unwrap()).unwrap();
        assert_eq!(p["Version"], 1);
        assert_eq!(p["SecretAccessKey"], "se'cret");
        let j: serde_json::Value =
            serde_json::from_str(&render(&a, Output::Json).unwrap()).unwrap();
        assert_eq!(
            j["AssumedRoleUser"]["Arn"],
            "arn:aws:sts::123456789012:assumed-role/r/s"
        );
        assert_eq!(j["Credentials"]["SessionToken"], "tok");
        let e = render(&a, Output::Env).unwrap();
        assert!(
            e.contains(r"export AWS_SECRET_ACCESS_KEY='se'\''cret'"),
            "{e}"
        );
        assert_eq!(e.lines().count(), 4);
    }
}
