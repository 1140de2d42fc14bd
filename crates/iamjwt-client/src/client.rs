//! `GET /token`, SigV4-signed (service `execute-api`) with the standard AWS credential chain: environment,
//! profile, SSO, web identity, ECS/EKS container credentials, IMDS.

use crate::cache::{CacheKey, TokenCache};
use crate::error::Error;
use crate::http::HttpClient;
use crate::token::{Token, TokenRequest};
use aws_config::{BehaviorVersion, SdkConfig};
use aws_credential_types::Credentials;
use aws_credential_types::provider::{ProvideCredentials as _, SharedCredentialsProvider};
use aws_smithy_http_client::tls;
use serde::Deserialize;
use std::time::SystemTime;

/// How the client finds its AWS credentials and region.
#[derive(Debug, Clone, Default)]
pub struct ClientOptions {
    /// A named profile from `~/.aws/config` (`None`: `AWS_PROFILE` or `default`).
    pub profile: Option<String>,
    /// The region to sign for. `None`: the AWS config's region, else `us-east-1`. Use [`region_from_url`] first
    /// for an `execute-api` URL.
    pub region: Option<String>,
}

/// Fetches tokens from an iamjwt issuer.
#[derive(Debug, Clone)]
pub struct Client {
    http: HttpClient,
    provider: SharedCredentialsProvider,
    region: String,
}

/// The AWS config the SDKs load (credentials: environment, profile — `profile`, else `AWS_PROFILE` or `default` —,
/// SSO, web identity, ECS/EKS container credentials, IMDS; endpoints: `AWS_ENDPOINT_URL_<SERVICE>` and the profile's
/// `services` section). A `region` we already know is set explicitly, so the SDK does not go looking for one (IMDS).
pub async fn load_aws_config(profile: Option<&str>, region: Option<&str>) -> SdkConfig {
    let http_client = aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(
            tls::rustls_provider::CryptoMode::Ring,
        ))
        .build_https();
    let mut loader = aws_config::defaults(BehaviorVersion::latest()).http_client(http_client);
    if let Some(p) = profile {
        loader = loader.profile_name(p);
    }
    if let Some(r) = region {
        loader = loader.region(aws_config::Region::new(r.to_owned()));
    }
    loader.load().await
}

/// `https://abc.execute-api.eu-west-1.amazonaws.com/prod` → `eu-west-1`.
pub fn region_from_url(url: &str) -> Option<String> {
    let uri: http::Uri = url.parse().ok()?;
    let host = uri.host()?;
    let rest = host.split_once(".execute-api.")?.1;
    let region = rest.split('.').next()?;
    (!region.is_empty()).then(|| region.to_owned())
}

#[derive(Deserialize)]
struct ErrorResponse {
    error: String,
    #[serde(default)]
    error_description: String,
}

impl Client {
    /// A client with the standard AWS credential chain.
    pub async fn from_environment(options: ClientOptions) -> Result<Self, Error> {
        let config = load_aws_config(options.profile.as_deref(), options.region.as_deref()).await;
        Self::from_sdk_config(&config, options.region)
    }

    /// A client that signs with `config`'s credentials provider, for `region` (else the config's region, else
    /// us-east-1): for a caller that also calls AWS services with the same config. A region that is not a region
    /// name (`evil.example/x`) is refused: it would go into the credential scope of every request.
    pub fn from_sdk_config(config: &SdkConfig, region: Option<String>) -> Result<Self, Error> {
        let region = region
            .or_else(|| config.region().map(ToString::to_string))
            .unwrap_or_else(|| "us-east-1".to_owned());
        iamjwt_core::region::Region::parse(&region).map_err(|e| {
            Error::Usage(format!(
                "the region to sign for (--region, AWS_REGION or the profile's region): {e}"
            ))
        })?;
        let provider = config
            .credentials_provider()
            .ok_or_else(|| Error::Credentials("no AWS credential provider is configured".into()))?;
        Ok(Self {
            http: HttpClient::with_connect_timeout(crate::regions::CONNECT_TIMEOUT),
            provider,
            region,
        })
    }

    /// A client that signs with fixed credentials.
    pub fn with_credentials(credentials: Credentials, region: impl Into<String>) -> Self {
        Self {
            http: HttpClient::with_connect_timeout(crate::regions::CONNECT_TIMEOUT),
            provider: SharedCredentialsProvider::new(credentials),
            region: region.into(),
        }
    }

    pub fn region(&self) -> &str {
        &self.region
    }

    /// Resolves the caller's credentials now (providers refresh expiring ones).
    pub async fn credentials(&self) -> Result<Credentials, Error> {
        self.provider.provide_credentials().await.map_err(|e| {
            Error::Credentials(format!(
                "no AWS credentials found (environment, profile, SSO, web identity, container, IMDS): {}",
                crate::http::chain(&e)
            ))
        })
    }

    /// A fresh token from the issuer (never the cache).
    pub async fn fetch(&self, request: &TokenRequest) -> Result<Token, Error> {
        // A URL the client refuses fails before the credential chain runs (it may itself make requests: IMDS, SSO).
        request.uri()?;
        let credentials = self.credentials().await?;
        self.fetch_with(&credentials, request, SystemTime::now())
            .await
    }

    /// A fresh token, signed with `credentials` at `now`.
    pub async fn fetch_with(
        &self,
        credentials: &Credentials,
        request: &TokenRequest,
        now: SystemTime,
    ) -> Result<Token, Error> {
        let uri = request.uri()?;
        self.send_signed(sign_get(&uri, credentials, &self.region, now)?)
            .await
    }

    /// Sends a signed `GET /token` and reads the token (or the issuer's error) from the answer.
    pub async fn send_signed(&self, signed: http::Request<()>) -> Result<Token, Error> {
        let response = self.http.send(signed).await?;
        if !response.status.is_success() {
            let status = response.status.as_u16();
            let retry_after = response
                .headers
                .get(http::header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse().ok());
            return Err(
                match serde_json::from_slice::<ErrorResponse>(&response.body) {
                    Ok(e) => Error::Server {
                        status,
                        error: e.error,
                        description: e.error_description,
                        retry_after,
                    },
                    Err(_) => Error::Server {
                        status,
                        error: "unexpected response".into(),
                        description: String::from_utf8_lossy(&response.body)
                            .chars()
                            .take(200)
                            .collect(),
                        retry_after,
                    },
                },
            );
        }
        Token::from_response(&response.body)
    }

    /// A token from `cache` when one is fresh for this caller and request (DESIGN §10: until 80 % of its
    /// lifetime has passed and at least 60 s remain), else from the issuer, then cached.
    /// Returns the token and whether it came from the cache.
    pub async fn token(
        &self,
        request: &TokenRequest,
        cache: Option<&TokenCache>,
    ) -> Result<(Token, bool), Error> {
        request.uri()?;
        let credentials = self.credentials().await?;
        let now = SystemTime::now();
        let Some(cache) = cache else {
            return Ok((self.fetch_with(&credentials, request, now).await?, false));
        };
        let key = CacheKey::new(request, credentials.access_key_id());
        if let Some(t) = cache.get(&key, crate::unix(now)) {
            return Ok((t, true));
        }
        let token = self.fetch_with(&credentials, request, now).await?;
        if let Err(e) = cache.put(&key, &token) {
            // A cache we cannot write costs a KMS signature next time, nothing more.
            tracing::warn!("token cache: {e}");
        }
        Ok((token, false))
    }
}

/// Signs `GET uri` for API Gateway (`execute-api`) with SigV4 headers (the workspace's one signer,
/// [`iamjwt_sigv4::sign_get`]) and asks for JSON.
pub fn sign_get(
    uri: &http::Uri,
    credentials: &Credentials,
    region: &str,
    time: SystemTime,
) -> Result<http::Request<()>, Error> {
    let mut request = iamjwt_sigv4::sign_get(uri, credentials, region, "execute-api", time, None)
        .map_err(|e| Error::Usage(e.to_string()))?;
    request.headers_mut().insert(
        http::header::ACCEPT,
        http::HeaderValue::from_static("application/json"),
    );
    Ok(request)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regions_from_urls() {
        assert_eq!(
            region_from_url("https://abc.execute-api.eu-west-1.amazonaws.com/prod/").as_deref(),
            Some("eu-west-1")
        );
        assert_eq!(region_from_url("http://127.0.0.1:8080/token"), None);
    }

    #[test]
    fn signed_request_carries_sigv4_headers() {
        let creds = Credentials::new("AKIDEXAMPLE", "secret", Some("tok".into()), None, "test");
        let uri: http::Uri = "http://127.0.0.1:1/token?aud=x".parse().unwrap();
        let r = sign_get(&uri, &creds, "us-east-1", SystemTime::UNIX_EPOCH).unwrap();
        let auth = r.headers()["authorization"].to_str().unwrap();
        assert!(auth.starts_with(
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/19700101/us-east-1/execute-api/aws4_request"
        ));
        assert_eq!(r.headers()["x-amz-security-token"], "tok");
    }
}
