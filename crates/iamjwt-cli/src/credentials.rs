//! `iamjwt credentials`: token → STS `AssumeRoleWithWebIdentity` → AWS credentials, printed for
//! `credential_process` (default), as shell `export` lines, or as STS's full answer. Cached like the AWS CLI
//! caches assumed-role credentials (0600 JSON, refreshed 5 minutes before `Expiration`).
//!
//! It runs under the loop guard of [`crate::credential_process`].

use crate::credential_output::Output;
use crate::error::Error;
use crate::role::RoleArgs;
use iamjwt_client::sts::AssumedRole;

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

fn render(assumed: &AssumedRole, output: Output) -> Result<String, Error> {
    crate::credential_output::render(&assumed.credentials, assumed, output)
}

impl Args {
    pub fn role(&self) -> &RoleArgs {
        &self.role
    }
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
