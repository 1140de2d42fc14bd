//! The token → AWS credentials exchange: `sts:AssumeRoleWithWebIdentity`, an unsigned call. The partition and the
//! default region follow the role ARN, so a workload in `aws` can assume a role in `aws-cn` or `aws-us-gov`.

use crate::cache::TokenCache;
use crate::client::Client;
use crate::error::Error;
use crate::token::TokenRequest;
use aws_sdk_sts::error::{DisplayErrorContext, ProvideErrorMetadata as _};
use aws_smithy_http_client::tls;
use aws_smithy_types::date_time::Format;
use serde::{Deserialize, Serialize};
use std::time::SystemTime;

/// The AWS CLI refreshes cached credentials this long before they expire; so do we.
pub const REFRESH_BEFORE_EXPIRY_SECS: i64 = 300;

/// An IAM role ARN, split.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoleArn {
    pub partition: String,
    pub account: String,
    pub name: String,
}

impl RoleArn {
    /// `arn:PARTITION:iam::ACCOUNT:role/[PATH/]NAME`.
    pub fn parse(arn: &str) -> Result<Self, Error> {
        let bad = |why: &str| {
            Error::Usage(format!(
                "--role-arn {arn:?} {why}: expected arn:aws:iam::123456789012:role/NAME"
            ))
        };
        let parts: Vec<&str> = arn.splitn(6, ':').collect();
        let [prefix, partition, service, region, account, resource] = parts[..] else {
            return Err(bad("is not an ARN"));
        };
        if prefix != "arn" || service != "iam" || !region.is_empty() {
            return Err(bad("is not an IAM ARN"));
        }
        if account.len() != 12 || !account.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad("has no 12-digit account id"));
        }
        let name = resource
            .strip_prefix("role/")
            .and_then(|r| r.rsplit('/').next())
            .filter(|n| !n.is_empty())
            .ok_or_else(|| bad("is not a role"))?;
        Ok(Self {
            partition: partition.to_owned(),
            account: account.to_owned(),
            name: name.to_owned(),
        })
    }

    /// STS's home region in the role's partition (the SDKs' global-endpoint region).
    pub fn default_region(&self) -> Option<&'static str> {
        Some(match self.partition.as_str() {
            "aws" => "us-east-1",
            "aws-cn" => "cn-north-1",
            "aws-us-gov" => "us-gov-west-1",
            "aws-iso" => "us-iso-east-1",
            "aws-iso-b" => "us-isob-east-1",
            "aws-iso-e" => "eu-isoe-west-1",
            "aws-iso-f" => "us-isof-south-1",
            _ => return None,
        })
    }
}

/// The STS endpoint override the AWS SDKs honour: `AWS_ENDPOINT_URL_STS`, else `AWS_ENDPOINT_URL`.
pub fn endpoint_from_env(env: impl Fn(&str) -> Option<String>) -> Option<String> {
    ["AWS_ENDPOINT_URL_STS", "AWS_ENDPOINT_URL"]
        .into_iter()
        .find_map(|k| env(k).filter(|v| !v.trim().is_empty()))
}

/// What to assume.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AssumeRole {
    pub role_arn: String,
    /// `RoleSessionName`; `None` = `iamjwt-<unix time>`.
    pub session_name: Option<String>,
    /// `DurationSeconds` (900 – the role's maximum); `None` = STS's default (1 h).
    pub duration: Option<i32>,
    /// STS region; `None` = the partition's default.
    pub region: Option<String>,
    /// STS endpoint URL; `None` = the SDK's endpoint for the region.
    pub endpoint: Option<String>,
}

/// STS's answer, in the shape of its API (`aws sts assume-role-with-web-identity` output).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct AssumedRole {
    pub credentials: AwsCredentials,
    pub assumed_role_user: AssumedRoleUser,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subject_from_web_identity_token: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub audience: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub provider: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct AwsCredentials {
    pub access_key_id: String,
    pub secret_access_key: String,
    pub session_token: String,
    /// RFC 3339, UTC.
    pub expiration: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct AssumedRoleUser {
    pub arn: String,
    pub assumed_role_id: String,
}

/// AWS `credential_process` output (version 1).
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct CredentialProcess<'a> {
    pub version: u8,
    pub access_key_id: &'a str,
    pub secret_access_key: &'a str,
    pub session_token: &'a str,
    pub expiration: &'a str,
}

impl AwsCredentials {
    /// Seconds since the epoch.
    pub fn expires_at(&self) -> Result<i64, Error> {
        aws_smithy_types::DateTime::from_str(&self.expiration, Format::DateTime)
            .map(|d| d.secs())
            .map_err(|e| Error::Sts {
                code: "BadResponse".into(),
                message: format!("Expiration {:?} is not a date: {e}", self.expiration),
                hint: None,
            })
    }

    pub fn credential_process(&self) -> CredentialProcess<'_> {
        CredentialProcess {
            version: 1,
            access_key_id: &self.access_key_id,
            secret_access_key: &self.secret_access_key,
            session_token: &self.session_token,
            expiration: &self.expiration,
        }
    }
}

/// The fix for a known STS error, given the audience the token carried.
pub fn hint(code: &str, message: &str, audience: &str) -> Option<String> {
    let m = message.to_ascii_lowercase();
    Some(match code {
        "InvalidIdentityToken" if m.contains("audience") => format!(
            "audience {audience} is not in the OIDC provider's client ID list: add it \
             (aws iam add-client-id-to-open-id-connect-provider) or pass --aud with a listed one"
        ),
        "InvalidIdentityToken" if m.contains("provider") || m.contains("issuer") => {
            "no IAM OIDC provider matches the token's iss: create one for this issuer URL in the role's account"
                .into()
        }
        "InvalidIdentityToken" => {
            "check that the OIDC provider's URL equals the token's iss and that its JWKS holds the token's kid".into()
        }
        "ExpiredTokenException" => {
            "the token had expired when STS saw it: check this machine's clock, or retry with --no-cache".into()
        }
        "IDPCommunicationError" => {
            "STS could not fetch the issuer's discovery document or JWKS: they must be public over https".into()
        }
        "IDPRejectedClaim" => "the issuer's token was rejected: check its claims (sub, aud, exp)".into(),
        "AccessDenied" => {
            "the role's trust policy does not allow this token: check its Federated principal and the \
             <issuer>:sub / <issuer>:aud conditions"
                .into()
        }
        "ValidationError" if m.contains("duration") => {
            "--duration must be 900 or more and at most the role's MaxSessionDuration".into()
        }
        "RegionDisabledException" => {
            "STS is not activated in this region for the role's account: pass --region with an active one".into()
        }
        _ => return None,
    })
}

fn now_secs() -> i64 {
    crate::unix(SystemTime::now()) as i64
}

/// Exchanges `token` for the role's credentials.
pub async fn assume_role_with_web_identity(
    token: &str,
    audience: &str,
    role: &AssumeRole,
) -> Result<AssumedRole, Error> {
    let arn = RoleArn::parse(&role.role_arn)?;
    let region = match (&role.region, arn.default_region()) {
        (Some(r), _) => r.clone(),
        (None, Some(r)) => r.to_owned(),
        (None, None) => {
            return Err(Error::Usage(format!(
                "unknown partition {:?} in the role ARN: pass --region",
                arn.partition
            )));
        }
    };
    let http_client = aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(
            tls::rustls_provider::CryptoMode::Ring,
        ))
        .build_https();
    let mut conf = aws_sdk_sts::Config::builder()
        .behavior_version(aws_sdk_sts::config::BehaviorVersion::latest())
        .region(aws_sdk_sts::config::Region::new(region))
        .http_client(http_client);
    if let Some(e) = &role.endpoint {
        conf = conf.endpoint_url(e.clone());
    }
    let sts = aws_sdk_sts::Client::from_conf(conf.build());
    let session_name = role
        .session_name
        .clone()
        .unwrap_or_else(|| format!("iamjwt-{}", now_secs()));
    let out = sts
        .assume_role_with_web_identity()
        .role_arn(&role.role_arn)
        .role_session_name(session_name)
        .web_identity_token(token)
        .set_duration_seconds(role.duration)
        .send()
        .await
        .map_err(|e| match e.as_service_error() {
            Some(se) => {
                let code = se.code().unwrap_or("Unknown").to_owned();
                let message = se.message().unwrap_or_default().to_owned();
                Error::Sts {
                    hint: hint(&code, &message, audience),
                    code,
                    message,
                }
            }
            None => Error::Http(format!(
                "STS AssumeRoleWithWebIdentity: {}",
                DisplayErrorContext(&e)
            )),
        })?;
    let missing = |what: &str| Error::Sts {
        code: "BadResponse".into(),
        message: format!("the response has no {what}"),
        hint: None,
    };
    let c = out.credentials().ok_or_else(|| missing("Credentials"))?;
    let user = out
        .assumed_role_user()
        .ok_or_else(|| missing("AssumedRoleUser"))?;
    let expiration = c
        .expiration()
        .fmt(Format::DateTime)
        .map_err(|_| missing("valid Expiration"))?;
    Ok(AssumedRole {
        credentials: AwsCredentials {
            access_key_id: c.access_key_id().to_owned(),
            secret_access_key: c.secret_access_key().to_owned(),
            session_token: c.session_token().to_owned(),
            expiration,
        },
        assumed_role_user: AssumedRoleUser {
            arn: user.arn().to_owned(),
            assumed_role_id: user.assumed_role_id().to_owned(),
        },
        subject_from_web_identity_token: out.subject_from_web_identity_token().map(str::to_owned),
        audience: out.audience().map(str::to_owned),
        provider: out.provider().map(str::to_owned),
    })
}

#[derive(Debug, PartialEq, Eq, Serialize, Deserialize)]
struct CredentialsKey {
    url: String,
    access_key_id: String,
    audiences: Vec<String>,
    alg: Option<String>,
    token_duration: Option<u64>,
    role: AssumeRole,
}

/// Whether cached credentials may still be handed out at `now` (more than 5 minutes left, like the AWS CLI).
pub fn credentials_are_fresh(expires_at: i64, now: i64) -> bool {
    expires_at - now > REFRESH_BEFORE_EXPIRY_SECS
}

/// Role credentials for the caller: from `cache` while more than 5 minutes remain, else token (itself cached) →
/// STS → cache. Returns them and whether they came from the cache.
pub async fn credentials(
    client: &Client,
    request: &TokenRequest,
    role: &AssumeRole,
    cache: Option<&TokenCache>,
) -> Result<(AssumedRole, bool), Error> {
    let caller = client.credentials().await?;
    let key = CredentialsKey {
        url: request.url.trim_end_matches('/').to_owned(),
        access_key_id: caller.access_key_id().to_owned(),
        audiences: request.audiences.clone(),
        alg: request.alg.clone(),
        token_duration: request.duration,
        role: role.clone(),
    };
    if let Some(hit) = cache.and_then(|c| c.read::<_, AssumedRole>("credentials", &key))
        && hit
            .credentials
            .expires_at()
            .is_ok_and(|exp| credentials_are_fresh(exp, now_secs()))
    {
        return Ok((hit, true));
    }
    let (token, _) = client.token(request, cache).await?;
    let audience = request
        .audiences
        .first()
        .cloned()
        .unwrap_or_else(|| "(the issuer's default)".into());
    let assumed = assume_role_with_web_identity(&token.jwt, &audience, role).await?;
    if let Some(c) = cache
        && let Err(e) = c.write("credentials", &key, &assumed)
    {
        tracing::warn!("credentials cache: {e}");
    }
    Ok((assumed, false))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn role_arns() {
        let r = RoleArn::parse("arn:aws-us-gov:iam::123456789012:role/path/to/Deploy").unwrap();
        assert_eq!(r.partition, "aws-us-gov");
        assert_eq!(r.name, "Deploy");
        assert_eq!(r.default_region(), Some("us-gov-west-1"));
        assert_eq!(
            RoleArn::parse("arn:aws-cn:iam::123456789012:role/x")
                .unwrap()
                .default_region(),
            Some("cn-north-1")
        );
        assert_eq!(
            RoleArn::parse("arn:aws:iam::123456789012:role/x")
                .unwrap()
                .default_region(),
            Some("us-east-1")
        );
        for bad in [
            "",
            "role/x",
            "arn:aws:iam::123:role/x",
            "arn:aws:iam::123456789012:user/x",
            "arn:aws:s3:::bucket",
            "arn:aws:iam:us-east-1:123456789012:role/x",
            "arn:aws:iam::123456789012:role/",
        ] {
            assert!(RoleArn::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn endpoint_env() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |k: &str| {
                pairs
                    .iter()
                    .find(|(n, _)| *n == k)
                    .map(|(_, v)| (*v).to_owned())
            }
        };
        assert_eq!(
            endpoint_from_env(env(&[
                ("AWS_ENDPOINT_URL", "http://a"),
                ("AWS_ENDPOINT_URL_STS", "http://s")
            ])),
            Some("http://s".into())
        );
        assert_eq!(
            endpoint_from_env(env(&[("AWS_ENDPOINT_URL", "http://a")])),
            Some("http://a".into())
        );
        assert_eq!(
            endpoint_from_env(env(&[("AWS_ENDPOINT_URL_STS", " ")])),
            None
        );
    }

    #[test]
    fn hints() {
        let h = hint(
            "InvalidIdentityToken",
            "Incorrect token audience",
            "sts.amazonaws.com",
        )
        .unwrap();
        assert!(h.starts_with(
            "audience sts.amazonaws.com is not in the OIDC provider's client ID list"
        ));
        assert!(
            hint(
                "AccessDenied",
                "Not authorized to perform sts:AssumeRoleWithWebIdentity",
                "a"
            )
            .unwrap()
            .contains("trust policy")
        );
        assert!(hint("SomethingNew", "x", "a").is_none());
        let e = Error::Sts {
            code: "InvalidIdentityToken".into(),
            message: "Incorrect token audience".into(),
            hint: Some(h),
        };
        let line = e.to_string();
        assert!(line.starts_with(
            "STS InvalidIdentityToken: Incorrect token audience (audience sts.amazonaws.com"
        ));
        assert!(!line.contains('\n'));
    }

    #[test]
    fn five_minute_refresh() {
        assert!(credentials_are_fresh(1000 + 301, 1000));
        assert!(!credentials_are_fresh(1000 + 300, 1000));
        let c = AwsCredentials {
            access_key_id: "A".into(),
            secret_access_key: "S".into(),
            session_token: "T".into(),
            expiration: "2026-12-03T10:00:00Z".into(),
        };
        assert_eq!(c.expires_at().unwrap(), 1_796_292_000);
        let j = serde_json::to_value(c.credential_process()).unwrap();
        assert_eq!(
            j,
            serde_json::json!({"Version":1,"AccessKeyId":"A","SecretAccessKey":"S","SessionToken":"T",
                "Expiration":"2026-12-03T10:00:00Z"})
        );
    }
}
