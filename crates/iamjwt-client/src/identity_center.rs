//! S3 Access Grants for workloads: iamjwt as an IAM Identity Center trusted token issuer (DESIGN §10; the rules
//! are VERIFIERS.md's "IAM Identity Center" table). With the workload's own AWS credentials:
//!
//! 1. a **fresh** iamjwt token, never one from the token cache: Identity Center refuses a replayed `jti`;
//! 2. `sso-oauth:CreateTokenWithIAM` (jwt-bearer grant, client = the application ARN) → the identity context;
//! 3. `sts:AssumeRole` on the identity bearer role with `ProvidedContexts` (the IdentityCenter context provider) →
//!    an identity-enhanced session ([`Chain::session`]);
//! 4. `s3control:GetDataAccess` with that session → credentials scoped to the directory user's grants
//!    ([`Chain::data_access`]).
//!
//! The results (the session, the grant credentials) are cached until 5 minutes before they expire, like the AWS CLI
//! caches assumed-role credentials; tokens are not. Endpoints come from the AWS config the SDKs load
//! (`AWS_ENDPOINT_URL_SSO_OIDC`, `AWS_ENDPOINT_URL_STS`, `AWS_ENDPOINT_URL_S3_CONTROL`, a profile's `services`),
//! proxies from the environment ([`crate::sdk_http`]). Every error names its hop and, when the code is a known one,
//! the fix.

use crate::cache::TokenCache;
use crate::client::Client;
use crate::error::Error;
use crate::sdk_http::service_http_client;
use crate::sts::{self, AssumedRole, AssumedRoleUser, AwsCredentials, RoleArn};
use crate::token::TokenRequest;
use aws_config::SdkConfig;
use aws_sdk_s3control::types::Permission;
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::date_time::Format;
use aws_smithy_types::error::display::DisplayErrorContext;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::time::SystemTime;

/// The OAuth grant a trusted token issuer's token is exchanged with (RFC 7523).
pub const JWT_BEARER: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";
/// `GetDataAccess` `Permission` values (the SDK model's enum).
pub const PERMISSIONS: &[&str] = Permission::values();
/// `GetDataAccess` `DurationSeconds` bounds.
pub const DATA_ACCESS_DURATION: std::ops::RangeInclusive<i32> = 900..=43200;

const HOP_OIDC: &str = "Identity Center CreateTokenWithIAM";
const HOP_STS: &str = "STS AssumeRole (identity-enhanced)";
const HOP_GRANTS: &str = "S3 Access Grants GetDataAccess";
const SESSION_KIND: &str = "identity-center-session";
const GRANT_KIND: &str = "access-grants";

/// The context provider STS takes Identity Center's identity context from, in the role's partition.
pub fn context_provider_arn(partition: &str) -> String {
    format!("arn:{partition}:iam::aws:contextProvider/IdentityCenter")
}

/// An Identity Center application ARN, split: `arn:P:sso::ACCOUNT:application/ssoins-…/apl-…`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApplicationArn {
    pub partition: String,
    pub account: String,
    pub instance: String,
    pub application: String,
}

impl ApplicationArn {
    pub fn parse(arn: &str) -> Result<Self, Error> {
        let bad = |why: &str| {
            Error::Usage(format!(
                "--identity-center-app {arn:?} {why}: expected \
                 arn:aws:sso::123456789012:application/ssoins-…/apl-…"
            ))
        };
        let parts: Vec<&str> = arn.splitn(6, ':').collect();
        let [prefix, partition, service, region, account, resource] = parts[..] else {
            return Err(bad("is not an ARN"));
        };
        if prefix != "arn" || service != "sso" || !region.is_empty() || partition.is_empty() {
            return Err(bad("is not an Identity Center ARN"));
        }
        if account.len() != 12 || !account.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad("has no 12-digit account id"));
        }
        let segments: Vec<&str> = resource.split('/').collect();
        let ["application", instance, application] = segments[..] else {
            return Err(bad("is not an application"));
        };
        if instance.is_empty() || application.is_empty() {
            return Err(bad("is not an application"));
        }
        Ok(Self {
            partition: partition.to_owned(),
            account: account.to_owned(),
            instance: instance.to_owned(),
            application: application.to_owned(),
        })
    }
}

/// The identity-enhanced session to obtain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionRequest {
    /// The customer-managed application whose jwt-bearer grant trusts this issuer.
    pub application_arn: String,
    /// The identity bearer role (its trust policy allows `sts:AssumeRole` and `sts:SetContext`).
    pub role_arn: String,
    /// `RoleSessionName`; `None` = `iamjwt-<unix time>`.
    pub session_name: Option<String>,
    /// `DurationSeconds`; `None` = STS's default (1 h).
    pub duration: Option<i32>,
}

impl SessionRequest {
    /// Refuses a malformed application or role ARN before any network call.
    pub fn new(
        application_arn: impl Into<String>,
        role_arn: impl Into<String>,
        session_name: Option<String>,
        duration: Option<i32>,
    ) -> Result<Self, Error> {
        let r = Self {
            application_arn: application_arn.into(),
            role_arn: role_arn.into(),
            session_name,
            duration,
        };
        ApplicationArn::parse(&r.application_arn)?;
        RoleArn::parse(&r.role_arn)?;
        Ok(r)
    }
}

/// What to ask S3 Access Grants for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DataAccessRequest {
    /// `s3://bucket/prefix*` (or one object).
    pub target: String,
    /// `READ`, `WRITE` or `READWRITE` (the SDK model's enum).
    pub permission: String,
    /// 900–43200 s; `None` = the service's default (1 h).
    pub duration: Option<i32>,
}

impl DataAccessRequest {
    pub fn new(
        target: impl Into<String>,
        permission: impl Into<String>,
        duration: Option<i32>,
    ) -> Result<Self, Error> {
        let r = Self {
            target: target.into(),
            permission: permission.into(),
            duration,
        };
        let bucket = r
            .target
            .strip_prefix("s3://")
            .and_then(|rest| rest.split('/').next())
            .filter(|b| !b.is_empty() && !b.contains(char::is_whitespace));
        if bucket.is_none() || r.target.len() > 2000 {
            return Err(Error::Usage(format!(
                "--target {:?} is not an S3 URI: expected s3://bucket/prefix*",
                r.target
            )));
        }
        if !PERMISSIONS.contains(&r.permission.as_str()) {
            return Err(Error::Usage(format!(
                "--permission {:?} must be one of {}",
                r.permission,
                PERMISSIONS.join(", ")
            )));
        }
        if let Some(d) = r.duration.filter(|d| !DATA_ACCESS_DURATION.contains(d)) {
            return Err(Error::Usage(format!(
                "--duration {d} must be within {}–{} seconds",
                DATA_ACCESS_DURATION.start(),
                DATA_ACCESS_DURATION.end()
            )));
        }
        Ok(r)
    }
}

/// `GetDataAccess`'s answer, in the shape of its API (`aws s3control get-data-access` output).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DataAccess {
    pub credentials: AwsCredentials,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub matched_grant_target: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub grantee: Option<Grantee>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Grantee {
    pub grantee_type: String,
    pub grantee_identifier: String,
}

/// The fix for a known `CreateTokenWithIAM` error.
pub fn oidc_hint(code: &str) -> Option<&'static str> {
    Some(match code {
        "InvalidGrantException" => {
            "user not found / audience / issuer mismatch: the token's user claim must name exactly one Identity \
             Store user assigned to the application, its aud be an authorized audience of the application's grant, \
             its iss the trusted token issuer's URL, its alg RS256; each token is exchanged once"
        }
        "InvalidClientException" => {
            "--identity-center-app must be a customer-managed application of the Identity Center instance in \
             --region, with a jwt-bearer grant"
        }
        "UnsupportedGrantTypeException" => {
            "the application has no jwt-bearer grant for this issuer: sso-admin put-application-grant"
        }
        "AccessDeniedException" => {
            "the application's IAM authentication method must allow this caller sso-oauth:CreateTokenWithIAM \
             (sso-admin put-application-authentication-method)"
        }
        "InvalidScopeException" => {
            "the application lacks the access scope: sso-admin put-application-access-scope --scope \
             s3:access_grants:read_write"
        }
        "InvalidRequestRegionException" => "--region must be the Identity Center instance's region",
        "ExpiredTokenException" => {
            "the token had expired when Identity Center saw it: check this machine's clock"
        }
        _ => return None,
    })
}

/// The fix for a known `AssumeRole` (with `ProvidedContexts`) error.
pub fn assume_role_hint(code: &str, message: &str) -> Option<String> {
    match code {
        "AccessDenied" => Some(
            "the identity bearer role's trust policy must allow this caller sts:AssumeRole and sts:SetContext"
                .into(),
        ),
        "InvalidParameterValue" if message.to_ascii_lowercase().contains("context") => Some(
            "STS refused the identity context: it must come from the same region's Identity Center, unaltered"
                .into(),
        ),
        _ => sts::hint(code, message, ""),
    }
}

/// The fix for a known `GetDataAccess` error.
pub fn grants_hint(code: &str) -> Option<&'static str> {
    Some(match code {
        "AccessDenied" => {
            "no grant for this user and prefix: an Access Grant must give this directory user (or one of their \
             groups) --permission on a location covering --target, in the Identity Center instance's region"
        }
        "InvalidRequest" | "ValidationException" => {
            "check --target (s3://bucket/prefix*), --permission and --duration (900–43200)"
        }
        _ => return None,
    })
}

/// One line out of an AWS error: the code, the message (or OAuth's `error_description`), the hint.
fn aws_error<E>(
    hop: &'static str,
    e: SdkError<E, HttpResponse>,
    hint: impl Fn(&str, &str) -> Option<String>,
) -> Error
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    let Some(se) = e.as_service_error() else {
        return Error::Http(format!("{hop}: {}", DisplayErrorContext(&e)));
    };
    let code = se.code().unwrap_or("Unknown").to_owned();
    let message = se
        .message()
        .map(str::to_owned)
        .or_else(|| {
            // OAuth errors carry `error_description`, which the SDK does not surface as the message.
            let body = e.raw_response()?.body().bytes()?;
            let v: serde_json::Value = serde_json::from_slice(body).ok()?;
            v.get("error_description")?.as_str().map(str::to_owned)
        })
        .unwrap_or_default()
        .replace(['\r', '\n'], " ");
    Error::Aws {
        hint: hint(&code, &message),
        hop,
        code,
        message,
    }
}

fn bad_response(hop: &'static str, what: &str) -> Error {
    Error::Aws {
        hop,
        code: "BadResponse".into(),
        message: format!("the response has no {what}"),
        hint: None,
    }
}

fn now_secs() -> i64 {
    crate::unix(SystemTime::now()) as i64
}

/// What an identity-enhanced session is for: another issuer, caller, audience, region or role is a miss.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct SessionKey {
    url: String,
    access_key_id: String,
    audiences: Vec<String>,
    alg: Option<String>,
    token_duration: Option<u64>,
    region: String,
    session: SessionRequest,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct GrantKey {
    session: SessionKey,
    account: String,
    grant: DataAccessRequest,
}

/// The chain, over the workload's AWS config (credentials, region, endpoints) and an iamjwt issuer client.
#[derive(Debug, Clone, Copy)]
pub struct Chain<'a> {
    pub client: &'a Client,
    pub aws: &'a SdkConfig,
    pub cache: Option<&'a TokenCache>,
}

impl Chain<'_> {
    /// An identity-enhanced session for the directory user the token names: from the cache while more than
    /// 5 minutes remain, else fresh token → `CreateTokenWithIAM` → `AssumeRole` with the identity context.
    /// Returns it and whether it came from the cache.
    pub async fn session(
        &self,
        token: &TokenRequest,
        request: &SessionRequest,
    ) -> Result<(AssumedRole, bool), Error> {
        let key = self.session_key(token, request).await?;
        self.session_for(&key, token).await
    }

    /// Access Grants credentials for `grant`: from the cache while more than 5 minutes remain, else
    /// `GetDataAccess` with the identity-enhanced session (itself cached). `x-amz-account-id` is the bearer
    /// role's account. Returns them and whether they came from the cache.
    pub async fn data_access(
        &self,
        token: &TokenRequest,
        request: &SessionRequest,
        grant: &DataAccessRequest,
    ) -> Result<(DataAccess, bool), Error> {
        let key = GrantKey {
            session: self.session_key(token, request).await?,
            account: RoleArn::parse(&request.role_arn)?.account,
            grant: grant.clone(),
        };
        if let Some(hit) = self.cached::<_, DataAccess>(GRANT_KIND, &key, |d| &d.credentials) {
            return Ok((hit, true));
        }
        let (session, _) = self.session_for(&key.session, token).await?;
        let access = self
            .get_data_access(&session.credentials, &key.account, grant)
            .await?;
        self.store(GRANT_KIND, &key, &access);
        Ok((access, false))
    }

    async fn session_key(
        &self,
        token: &TokenRequest,
        request: &SessionRequest,
    ) -> Result<SessionKey, Error> {
        ApplicationArn::parse(&request.application_arn)?;
        RoleArn::parse(&request.role_arn)?;
        let region = self.aws.region().map(ToString::to_string).ok_or_else(|| {
            Error::Usage(
                "no region for Identity Center: pass --region (the region of the Identity Center and Access \
                 Grants instances) or set AWS_REGION"
                    .into(),
            )
        })?;
        let caller = self.client.credentials().await?;
        Ok(SessionKey {
            url: token.url.trim_end_matches('/').to_owned(),
            access_key_id: caller.access_key_id().to_owned(),
            audiences: token.audiences.clone(),
            alg: token.alg.clone(),
            token_duration: token.duration,
            region,
            session: request.clone(),
        })
    }

    async fn session_for(
        &self,
        key: &SessionKey,
        token: &TokenRequest,
    ) -> Result<(AssumedRole, bool), Error> {
        if let Some(hit) = self.cached::<_, AssumedRole>(SESSION_KIND, key, |a| &a.credentials) {
            return Ok((hit, true));
        }
        let role = RoleArn::parse(&key.session.role_arn)?;
        // Fresh: a token from the cache may already have been exchanged, and a replayed jti is refused.
        let jwt = self.client.fetch(token).await?;
        let context = self
            .create_token_with_iam(&key.session.application_arn, &jwt.jwt)
            .await?;
        let assumed = self.assume_role(&role, &key.session, &context).await?;
        self.store(SESSION_KIND, key, &assumed);
        Ok((assumed, false))
    }

    /// `CreateTokenWithIAM` (jwt-bearer) → `awsAdditionalDetails.identityContext`.
    async fn create_token_with_iam(&self, application: &str, jwt: &str) -> Result<String, Error> {
        let conf = aws_sdk_ssooidc::config::Builder::from(self.aws)
            .http_client(service_http_client())
            .build();
        let out = aws_sdk_ssooidc::Client::from_conf(conf)
            .create_token_with_iam()
            .client_id(application)
            .grant_type(JWT_BEARER)
            .assertion(jwt)
            .send()
            .await
            .map_err(|e| aws_error(HOP_OIDC, e, |c, _| oidc_hint(c).map(str::to_owned)))?;
        out.aws_additional_details()
            .and_then(|d| d.identity_context())
            .filter(|c| !c.is_empty())
            .map(str::to_owned)
            .ok_or_else(|| bad_response(HOP_OIDC, "awsAdditionalDetails.identityContext"))
    }

    async fn assume_role(
        &self,
        role: &RoleArn,
        request: &SessionRequest,
        context: &str,
    ) -> Result<AssumedRole, Error> {
        let conf = aws_sdk_sts::config::Builder::from(self.aws)
            .http_client(service_http_client())
            .build();
        let provided = aws_sdk_sts::types::ProvidedContext::builder()
            .provider_arn(context_provider_arn(&role.partition))
            .context_assertion(context)
            .build();
        let out = aws_sdk_sts::Client::from_conf(conf)
            .assume_role()
            .role_arn(&request.role_arn)
            .role_session_name(
                request
                    .session_name
                    .clone()
                    .unwrap_or_else(|| format!("iamjwt-{}", now_secs())),
            )
            .set_duration_seconds(request.duration)
            .provided_contexts(provided)
            .send()
            .await
            .map_err(|e| aws_error(HOP_STS, e, assume_role_hint))?;
        let c = out
            .credentials()
            .ok_or_else(|| bad_response(HOP_STS, "Credentials"))?;
        let user = out
            .assumed_role_user()
            .ok_or_else(|| bad_response(HOP_STS, "AssumedRoleUser"))?;
        Ok(AssumedRole {
            credentials: AwsCredentials {
                access_key_id: c.access_key_id().to_owned(),
                secret_access_key: c.secret_access_key().to_owned(),
                session_token: c.session_token().to_owned(),
                expiration: c
                    .expiration()
                    .fmt(Format::DateTime)
                    .map_err(|_| bad_response(HOP_STS, "valid Expiration"))?,
            },
            assumed_role_user: AssumedRoleUser {
                arn: user.arn().to_owned(),
                assumed_role_id: user.assumed_role_id().to_owned(),
            },
            subject_from_web_identity_token: None,
            audience: None,
            provider: None,
        })
    }

    async fn get_data_access(
        &self,
        session: &AwsCredentials,
        account: &str,
        grant: &DataAccessRequest,
    ) -> Result<DataAccess, Error> {
        let expires = SystemTime::UNIX_EPOCH
            + std::time::Duration::from_secs(u64::try_from(session.expires_at()?).unwrap_or(0));
        let credentials = aws_credential_types::Credentials::new(
            &session.access_key_id,
            &session.secret_access_key,
            Some(session.session_token.clone()),
            Some(expires),
            "iamjwt-identity-center",
        );
        let conf = aws_sdk_s3control::config::Builder::from(self.aws)
            .credentials_provider(credentials)
            .http_client(service_http_client())
            .build();
        let out = aws_sdk_s3control::Client::from_conf(conf)
            .get_data_access()
            .account_id(account)
            .target(&grant.target)
            .permission(Permission::from(grant.permission.as_str()))
            .set_duration_seconds(grant.duration)
            .send()
            .await
            .map_err(|e| aws_error(HOP_GRANTS, e, |c, _| grants_hint(c).map(str::to_owned)))?;
        let c = out
            .credentials()
            .ok_or_else(|| bad_response(HOP_GRANTS, "Credentials"))?;
        let field = |v: Option<&str>, what: &str| {
            v.filter(|s| !s.is_empty())
                .map(str::to_owned)
                .ok_or_else(|| bad_response(HOP_GRANTS, what))
        };
        Ok(DataAccess {
            credentials: AwsCredentials {
                access_key_id: field(c.access_key_id(), "AccessKeyId")?,
                secret_access_key: field(c.secret_access_key(), "SecretAccessKey")?,
                session_token: field(c.session_token(), "SessionToken")?,
                expiration: c
                    .expiration()
                    .and_then(|d| d.fmt(Format::DateTime).ok())
                    .ok_or_else(|| bad_response(HOP_GRANTS, "valid Expiration"))?,
            },
            matched_grant_target: out.matched_grant_target().map(str::to_owned),
            grantee: out.grantee().and_then(|g| {
                Some(Grantee {
                    grantee_type: g.grantee_type()?.as_str().to_owned(),
                    grantee_identifier: g.grantee_identifier()?.to_owned(),
                })
            }),
        })
    }

    /// A cached value for exactly `key` whose credentials have more than 5 minutes left.
    fn cached<K, V>(
        &self,
        kind: &str,
        key: &K,
        credentials: impl Fn(&V) -> &AwsCredentials,
    ) -> Option<V>
    where
        K: Serialize + DeserializeOwned + PartialEq,
        V: DeserializeOwned,
    {
        let hit: V = self.cache?.read(kind, key)?;
        credentials(&hit)
            .expires_at()
            .is_ok_and(|exp| sts::credentials_are_fresh(exp, now_secs()))
            .then_some(hit)
    }

    fn store<K: Serialize, V: Serialize>(&self, kind: &str, key: &K, value: &V) {
        if let Some(c) = self.cache
            && let Err(e) = c.write(kind, key, value)
        {
            // A cache we cannot write costs a new exchange next time, nothing more.
            tracing::warn!("{kind} cache: {e}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const APP: &str =
        "arn:aws:sso::123456789012:application/ssoins-1111222233334444/apl-5555666677778888";

    #[test]
    fn application_arns() {
        let a = ApplicationArn::parse(APP).unwrap();
        assert_eq!(a.partition, "aws");
        assert_eq!(a.account, "123456789012");
        assert_eq!(a.instance, "ssoins-1111222233334444");
        assert_eq!(a.application, "apl-5555666677778888");
        for bad in [
            "",
            "apl-1",
            "arn:aws:sso:::instance/ssoins-1",
            "arn:aws:sso::123:application/ssoins-1/apl-1",
            "arn:aws:sso:us-east-1:123456789012:application/ssoins-1/apl-1",
            "arn:aws:iam::123456789012:application/ssoins-1/apl-1",
            "arn:aws:sso::123456789012:application/ssoins-1",
            "arn:aws:sso::123456789012:application//apl-1",
            "arn:aws:sso::123456789012:application/ssoins-1/apl-1/x",
        ] {
            let e = ApplicationArn::parse(bad).unwrap_err().to_string();
            assert!(e.starts_with("--identity-center-app"), "{bad}: {e}");
        }
        assert_eq!(
            context_provider_arn("aws"),
            "arn:aws:iam::aws:contextProvider/IdentityCenter"
        );
    }

    #[test]
    fn data_access_requests() {
        let ok = DataAccessRequest::new("s3://bucket/data/*", "READ", Some(900)).unwrap();
        assert_eq!(ok.permission, "READ");
        DataAccessRequest::new("s3://bucket", "READWRITE", Some(43200)).unwrap();
        for (target, permission, duration, flag) in [
            ("bucket/data/*", "READ", None, "--target"),
            ("s3:///data", "READ", None, "--target"),
            ("s3://bu cket/x", "READ", None, "--target"),
            ("s3://bucket/*", "read", None, "--permission"),
            ("s3://bucket/*", "LIST", None, "--permission"),
            ("s3://bucket/*", "WRITE", Some(899), "--duration"),
            ("s3://bucket/*", "WRITE", Some(43201), "--duration"),
        ] {
            let e = DataAccessRequest::new(target, permission, duration)
                .unwrap_err()
                .to_string();
            assert!(e.starts_with(flag), "{target} {permission}: {e}");
        }
        assert!(
            DataAccessRequest::new("s3://b/x", "LIST", None)
                .unwrap_err()
                .to_string()
                .ends_with("must be one of READ, READWRITE, WRITE")
        );
    }

    #[test]
    fn hints_name_the_fix_in_one_line() {
        let e = Error::Aws {
            hop: HOP_OIDC,
            code: "InvalidGrantException".into(),
            message: "no user".into(),
            hint: oidc_hint("InvalidGrantException").map(str::to_owned),
        };
        let line = e.to_string();
        assert!(
            line.starts_with(
                "Identity Center CreateTokenWithIAM InvalidGrantException: no user (user not found / audience / issuer mismatch"
            ),
            "{line}"
        );
        assert!(!line.contains('\n'));
        assert!(
            grants_hint("AccessDenied")
                .unwrap()
                .starts_with("no grant for this user and prefix")
        );
        assert!(
            assume_role_hint("AccessDenied", "not authorized")
                .unwrap()
                .contains("sts:SetContext")
        );
        // the web-identity hints still apply where they fit
        assert!(
            assume_role_hint("RegionDisabledException", "")
                .unwrap()
                .contains("--region")
        );
        assert!(oidc_hint("SomethingNew").is_none());
    }

    #[test]
    fn grant_credentials_keep_the_api_shape() {
        let d = DataAccess {
            credentials: AwsCredentials {
                access_key_id: "ASIA1".into(),
                secret_access_key: "S".into(),
                session_token: "T".into(),
                expiration: "2026-12-03T10:00:00Z".into(),
            },
            matched_grant_target: Some("s3://b/p*".into()),
            grantee: Some(Grantee {
                grantee_type: "DIRECTORY_USER".into(),
                grantee_identifier: "u-1".into(),
            }),
        };
        let j = serde_json::to_value(&d).unwrap();
        assert_eq!(j["Credentials"]["AccessKeyId"], "ASIA1");
        assert_eq!(j["Grantee"]["GranteeType"], "DIRECTORY_USER");
        assert_eq!(j.as_object().unwrap().len(), 3);
        let back: DataAccess = serde_json::from_value(j).unwrap();
        assert_eq!(back, d);
    }
}
