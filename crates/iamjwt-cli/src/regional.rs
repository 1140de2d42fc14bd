//! The issuer's token endpoints for `token` and `agent`: one `--url` as always, or a regional set (`--url` holding
//! `{region}` with `--regions`, or repeated) that fails over ([`iamjwt_client::regions`]).

use crate::error::Error;
use iamjwt_client::regions::{Endpoints, Failover, PLACEHOLDER, RegionalClient};
use iamjwt_client::{Client, ClientOptions, Token, TokenCache, TokenRequest};
use std::time::Duration;

/// Where tokens come from.
#[derive(Clone)]
pub enum Source {
    /// One endpoint, signed for its region.
    Single(Client),
    /// Regional endpoints, the caller's own region first, with failover.
    Regional(RegionalClient),
}

/// How to reach the issuer, from the flags.
pub struct Target<'a> {
    pub urls: &'a [String],
    pub regions: &'a [String],
    /// `--region`: the region to sign for (one URL), or the own region to prefer (a regional set).
    pub region: Option<String>,
    pub profile: Option<String>,
    /// How long a failed region is skipped before it is tried again first (doubling up to 10×).
    pub failback_after: Duration,
}

impl Target<'_> {
    fn regional(&self) -> bool {
        self.urls.len() > 1
            || self.urls.iter().any(|u| u.contains(PLACEHOLDER))
            || !self.regions.is_empty()
    }

    /// The source, and the URL requests are made for (the preferred endpoint's, for a regional set). Region
    /// names (`--regions`, `REGION=URL`, `--region`, `AWS_REGION`/the profile's) are checked before any is put
    /// into a URL.
    pub async fn source(&self) -> Result<(Source, String), Error> {
        if !self.regional() {
            // No implicit issuer: a missing or unusable URL is refused before any request.
            let url = iamjwt_client::issuer_url(self.urls.first().map(String::as_str))?;
            let client = Client::from_environment(ClientOptions {
                profile: self.profile.clone(),
                region: self
                    .region
                    .clone()
                    .or_else(|| iamjwt_client::region_from_url(&url)),
            })
            .await?;
            return Ok((Source::Single(client), url));
        }
        let config =
            iamjwt_client::load_aws_config(self.profile.as_deref(), self.region.as_deref()).await;
        let own = self
            .region
            .clone()
            .or_else(|| config.region().map(ToString::to_string));
        let endpoints = Endpoints::parse(self.urls, self.regions, own.as_deref())?;
        let preferred = endpoints.preferred().clone();
        let client = Client::from_sdk_config(&config, Some(preferred.region.as_str().to_owned()))?;
        let failover =
            Failover::with_backoff(endpoints, self.failback_after, self.failback_after * 10);
        Ok((
            Source::Regional(RegionalClient::new(client, failover)),
            preferred.url,
        ))
    }
}

impl Source {
    /// A token from the cache when fresh, else from the issuer; whether it came from the cache.
    pub async fn token(
        &self,
        request: &TokenRequest,
        cache: Option<&TokenCache>,
    ) -> Result<(Token, bool), Error> {
        Ok(match self {
            Self::Single(c) => c.token(request, cache).await?,
            Self::Regional(c) => c.token(request, cache).await?,
        })
    }
}

impl iamjwt_client::agent::TokenSource for Source {
    async fn fetch(&self, request: &TokenRequest) -> Result<Token, iamjwt_client::Error> {
        match self {
            Self::Single(c) => c.fetch(request).await,
            Self::Regional(c) => c.fetch(request).await,
        }
    }
}
