//! `iamjwt s3-access`: S3 Access Grants credentials for a workload, through IAM Identity Center (fresh token →
//! `CreateTokenWithIAM` → identity-enhanced `AssumeRole` → `GetDataAccess`), printed for `credential_process`
//! (default), as shell `export` lines, or as `GetDataAccess`'s full answer; and the identity-enhanced session alone
//! for `iamjwt credentials --identity-center-app`. Wiring over `iamjwt_client::identity_center`.

use crate::credentials::RoleArgs;
use crate::error::Error;
use crate::token::IssuerArgs;
use iamjwt_client::identity_center::{
    Chain, DATA_ACCESS_DURATION, DataAccess, DataAccessRequest, PERMISSIONS, SessionRequest,
};
use iamjwt_client::sts::{AssumedRole, AwsCredentials};
use iamjwt_client::{Client, TokenRequest};

/// The token audience when `--aud` is not given: the one `iamjwt trust identity-center` authorizes by default.
pub const DEFAULT_AUDIENCE: &str = "identity-center";
/// Identity Center accepts RS256 tokens only (VERIFIERS.md).
const ALG: &str = "RS256";

/// How to obtain the identity-enhanced session.
#[derive(clap::Args)]
pub struct SessionArgs {
    #[command(flatten)]
    pub issuer: IssuerArgs,
    /// The Identity Center customer-managed application whose jwt-bearer grant trusts this issuer
    /// (arn:aws:sso::ACCOUNT:application/ssoins-…/apl-…).
    #[arg(long = "identity-center-app")]
    pub app: String,
    /// The identity bearer role: its trust policy allows this caller sts:AssumeRole and sts:SetContext.
    #[arg(long)]
    pub role_arn: String,
    /// Token audience: one of the application grant's authorized audiences.
    #[arg(long = "aud", default_value = DEFAULT_AUDIENCE)]
    pub aud: String,
    /// Token signing algorithm (Identity Center accepts RS256 only).
    #[arg(long, default_value = ALG, value_parser = crate::alg_parser())]
    pub alg: String,
    /// Token lifetime in seconds (default: the issuer's; Identity Center wants at most 3600).
    #[arg(long)]
    pub token_duration: Option<u64>,
    /// RoleSessionName (default: iamjwt-<unix time>).
    #[arg(long)]
    pub session_name: Option<String>,
    /// The region of the Identity Center instance, which S3 Access Grants and STS are called in too (default: the
    /// AWS config's). AWS_ENDPOINT_URL_SSO_OIDC / _STS / _S3_CONTROL override the endpoints, as in the AWS SDKs.
    #[arg(long)]
    pub region: Option<String>,
}

impl SessionArgs {
    /// `iamjwt credentials --identity-center-app APP`: the role arguments, with Identity Center's defaults for the
    /// audience and the algorithm.
    pub fn from_role(role: &RoleArgs, app: String) -> Self {
        Self {
            issuer: role.issuer.clone(),
            app,
            role_arn: role.role_arn.clone(),
            aud: role
                .aud
                .clone()
                .unwrap_or_else(|| DEFAULT_AUDIENCE.to_owned()),
            alg: role.alg.clone().unwrap_or_else(|| ALG.to_owned()),
            token_duration: role.token_duration,
            session_name: role.session_name.clone(),
            region: role.region.clone(),
        }
    }

    fn token(&self) -> TokenRequest {
        let mut t = TokenRequest::new(&self.issuer.url);
        t.audiences = vec![self.aud.clone()];
        t.duration = self.token_duration;
        t.alg = Some(self.alg.clone());
        t
    }

    fn request(&self, duration: Option<i32>) -> Result<SessionRequest, Error> {
        Ok(SessionRequest::new(
            &self.app,
            &self.role_arn,
            self.session_name.clone(),
            duration,
        )?)
    }

    /// Runs `f` over the chain: one AWS config (one credential chain) for the issuer and every AWS hop.
    async fn with_chain<T, F>(&self, f: F) -> Result<T, Error>
    where
        F: AsyncFnOnce(Chain<'_>) -> Result<T, iamjwt_client::Error>,
    {
        let aws =
            iamjwt_client::load_aws_config(self.issuer.profile.as_deref(), self.region.as_deref())
                .await;
        let client = Client::from_sdk_config(
            &aws,
            self.issuer
                .signing_region
                .clone()
                .or_else(|| iamjwt_client::region_from_url(&self.issuer.url)),
        )?;
        let cache = self.issuer.cache()?;
        Ok(f(Chain {
            client: &client,
            aws: &aws,
            cache: cache.as_ref(),
        })
        .await?)
    }

    /// The identity-enhanced session (`duration`: its `DurationSeconds`).
    pub async fn session(&self, duration: Option<i32>) -> Result<AssumedRole, Error> {
        let request = self.request(duration)?;
        let token = self.token();
        let (assumed, from_cache) = self
            .with_chain(async |chain| chain.session(&token, &request).await)
            .await?;
        tracing::debug!(from_cache, "identity-enhanced session");
        Ok(assumed)
    }
}

#[derive(Clone, Copy, clap::ValueEnum)]
pub enum Output {
    /// AWS `credential_process` JSON (Version 1).
    Process,
    /// `export AWS_ACCESS_KEY_ID=…` lines for a shell's `eval`.
    Env,
    /// The service's whole answer.
    Json,
}

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    session: SessionArgs,
    /// The S3 data to reach: s3://bucket/prefix* (or one object).
    #[arg(long)]
    target: String,
    /// What to do with it.
    #[arg(long, value_parser = clap::builder::PossibleValuesParser::new(PERMISSIONS))]
    permission: String,
    /// Lifetime of the Access Grants credentials in seconds (900–43200; default: the service's, 1 h).
    #[arg(long, value_parser = clap::value_parser!(i32).range(
        i64::from(*DATA_ACCESS_DURATION.start())..=i64::from(*DATA_ACCESS_DURATION.end())
    ))]
    duration: Option<i32>,
    /// Lifetime of the identity-enhanced session in seconds (default: STS's, 1 h).
    #[arg(long, value_parser = clap::value_parser!(i32).range(900..=43200))]
    session_duration: Option<i32>,
    #[arg(long, value_enum, default_value = "process")]
    output: Output,
}

/// A value safe inside single quotes in a POSIX shell.
fn shell_quote(v: &str) -> String {
    format!("'{}'", v.replace('\'', r"'\''"))
}

/// Credentials in the chosen shape; `full` is the service's whole answer for `json`.
pub fn render<T: serde::Serialize>(
    credentials: &AwsCredentials,
    full: &T,
    output: Output,
) -> Result<String, Error> {
    let c = credentials;
    Ok(match output {
        Output::Process => to_json(&c.credential_process())?,
        Output::Json => to_json(full)?,
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
    let grant = DataAccessRequest::new(&args.target, &args.permission, args.duration)?;
    let request = args.session.request(args.session_duration)?;
    let token = args.session.token();
    let (access, from_cache): (DataAccess, bool) = args
        .session
        .with_chain(async |chain| chain.data_access(&token, &request, &grant).await)
        .await?;
    tracing::debug!(from_cache, "access grants credentials");
    crate::print_stdout(&render(&access.credentials, &access, args.output)?);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use iamjwt_client::identity_center::Grantee;

    #[test]
    fn outputs() {
        let a = DataAccess {
            credentials: AwsCredentials {
                access_key_id: "ASIA1".into(),
                secret_access_key: "se'cret".into(),
                session_token: "tok".into(),
                expiration: "2026-12-03T10:00:00Z".into(),
            },
            matched_grant_target: Some("s3://b/p/*".into()),
            grantee: Some(Grantee {
                grantee_type: "DIRECTORY_USER".into(),
                grantee_identifier: "u-1".into(),
            }),
        };
        let p: serde_json::Value =
            serde_json::from_str(&render(&a.credentials, &a, Output::Process).unwrap()).unwrap();
        assert_eq!(p["Version"], 1);
        assert_eq!(p["SecretAccessKey"], "se'cret");
        let j: serde_json::Value =
            serde_json::from_str(&render(&a.credentials, &a, Output::Json).unwrap()).unwrap();
        assert_eq!(j["MatchedGrantTarget"], "s3://b/p/*");
        assert_eq!(j["Grantee"]["GranteeIdentifier"], "u-1");
        let e = render(&a.credentials, &a, Output::Env).unwrap();
        assert!(
            e.contains(r"export AWS_SECRET_ACCESS_KEY='se'\''cret'"),
            "{e}"
        );
        assert_eq!(e.lines().count(), 4);
    }
}
