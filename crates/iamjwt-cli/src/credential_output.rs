//! How `credentials` and `s3-access` print AWS credentials: `credential_process` JSON (default), shell `export`
//! lines, or the service's whole answer.

use crate::error::Error;
use iamjwt_client::sts::AwsCredentials;

#[derive(Clone, Copy, clap::ValueEnum)]
pub enum Output {
    /// AWS `credential_process` JSON (Version 1).
    Process,
    /// `export AWS_ACCESS_KEY_ID=…` lines for a shell's `eval`.
    Env,
    /// The service's whole answer (credentials: STS's Credentials, AssumedRoleUser, …; s3-access: GetDataAccess's
    /// Credentials, MatchedGrantTarget, Grantee).
    Json,
}

/// A value safe inside single quotes in a POSIX shell.
fn shell_quote(v: &str) -> String {
    format!("'{}'", v.replace('\'', r"'\''"))
}

/// `credentials` in the chosen shape; `full` is the service's whole answer, for `json`.
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
