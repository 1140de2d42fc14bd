//! The workload side of iamjwt.
//!
//! - [`Client`]: SigV4-signed `GET /token` with the standard AWS credential chain (environment, profile, SSO, web
//!   identity, ECS/EKS container credentials, IMDS).
//! - [`TokenCache`]: reuse a token until 80 % of its lifetime has passed and at least 60 s remain.
//! - [`sts`]: the token → `AssumeRoleWithWebIdentity` → AWS credentials exchange (cached like the AWS CLI does).
//! - [`federation`]: those credentials → an AWS console sign-in URL.
//! - [`identity_center`]: token → IAM Identity Center → an identity-enhanced session → S3 Access Grants credentials.
//! - [`agent`]: keeps token files fresh for SDKs that re-read them (the engine of `iamjwt agent`); files are
//!   replaced with [`iamjwt_fs::write_atomic`] (temp + fsync + rename).
//!
//! ```no_run
//! use iamjwt_client::{Client, ClientOptions, TokenCache, TokenRequest};
//!
//! # async fn example() -> Result<(), iamjwt_client::Error> {
//! let url = "https://abc123.execute-api.eu-west-1.amazonaws.com/prod";
//! let client = Client::from_environment(ClientOptions {
//!     region: iamjwt_client::region_from_url(url),
//!     ..ClientOptions::default()
//! })
//! .await?;
//! let mut request = TokenRequest::new(url);
//! request.audiences = vec!["sts.amazonaws.com".into()];
//! let cache = TokenCache::open(TokenCache::default_dir()?)?;
//! let (token, from_cache) = client.token(&request, Some(&cache)).await?;
//! println!("{} (expires {}, cached: {from_cache})", token.jwt, token.times.expires_at);
//! # Ok(())
//! # }
//! ```

pub mod agent;
pub mod cache;
mod client;
mod error;
pub mod federation;
pub mod http;
pub mod identity_center;
pub mod issuer;
pub mod jwt;
pub mod regions;
pub mod sdk_http;
pub mod sts;
mod token;

pub use cache::{CacheKey, TokenCache};
pub use client::{Client, ClientOptions, load_aws_config, region_from_url, sign_get};
pub use error::Error;
pub use token::{Token, TokenRequest};

/// Seconds since the epoch (0 for a clock before 1970).
pub fn unix(t: std::time::SystemTime) -> u64 {
    t.duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// A random u64 for temp names and jitter (the clock's nanoseconds if the OS has no randomness to give).
pub fn random_u64() -> u64 {
    getrandom::u64().unwrap_or_else(|_| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos().into())
            .unwrap_or(0)
    })
}
