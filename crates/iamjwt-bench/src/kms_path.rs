//! The token handler end to end with the KMS signer against moto: KMS requests per warm token (counted on the
//! wire by an SDK interceptor) and the handler's own time with the KMS round trip (transmit → response) taken out.

use crate::Error;
use crate::moto::{self, Moto};
use crate::path_meter::{Counts, PathMeter, on_request_path};
use crate::stats::Summary;
use iamjwt_aws::kms::KmsSigner;
use iamjwt_aws::published::PublishedOnly;
use iamjwt_aws::s3::S3Publisher;
use iamjwt_aws::testing::WireMeter;
use iamjwt_core::issuer::Issuer;
use iamjwt_core::{Algorithm, UnixTime};
use iamjwt_lambda::token::{RestApiStage, TokenHandler};
use serde::Serialize;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

/// An API Gateway REST proxy event for an assumed-role caller, as the `token` Lambda receives it.
pub const EVENT: &str = include_str!("../../../tests/fixtures/events/assumed-role.json");

#[derive(Debug, Clone, Serialize)]
pub struct KmsPathResult {
    pub alg: String,
    pub tokens: u64,
    /// Wire requests to KMS during warm-up (one `GetPublicKey` per algorithm, by alias, concurrently).
    pub warm_up_requests: u64,
    /// Wire requests to KMS per warm token: must be exactly 1 (`Sign`).
    pub kms_requests_per_token: f64,
    pub handler_ms: Summary,
    /// Transmit → response of the KMS request(s), i.e. moto's time plus loopback.
    pub kms_round_trip_ms: Summary,
    /// Handler time minus the KMS round trip: our code, the SDK's request building and SigV4 signing,
    /// response parsing.
    pub own_ms: Summary,
}

/// A token request for `alg` (the default audience) as API Gateway hands it to the `token` Lambda.
pub fn request(alg: Algorithm) -> Result<lambda_http::Request, Error> {
    let mut v: serde_json::Value =
        serde_json::from_str(EVENT).map_err(|e| Error::Setup(e.to_string()))?;
    v["queryStringParameters"] = serde_json::json!({ "alg": alg.as_str() });
    v["multiValueQueryStringParameters"] = serde_json::json!({ "alg": [alg.as_str()] });
    lambda_http::request::from_str(&v.to_string()).map_err(|e| Error::Setup(e.to_string()))
}

/// Issues `tokens` tokens per algorithm one after another through [`TokenHandler`] with a [`KmsSigner`].
pub async fn run(moto: &Moto, tokens: u64) -> Result<Vec<KmsPathResult>, Error> {
    let conf = moto::config(moto).await;
    let settings = moto::settings()?;
    let meter = WireMeter::default();
    let kms = meter.kms(&conf);
    let signer = Arc::new(KmsSigner::new(kms, moto::PREFIX, Duration::from_secs(300)));
    signer
        .warm(&settings.issue.algorithms)
        .await
        .map_err(|e| Error::Setup(format!("warm-up: {e}")))?;
    let (warm_up_requests, _) = meter.take();
    let handler = TokenHandler::new(Issuer::new(settings.issue.clone(), signer), event_api()?);
    let mut results = Vec::new();
    for alg in [Algorithm::ES256, Algorithm::RS256] {
        let (mut handler_ms, mut wire_ms, mut own_ms) = (Vec::new(), Vec::new(), Vec::new());
        let mut requests = 0;
        for _ in 0..tokens {
            let req = request(alg)?;
            let now = UnixTime::from_system_time(SystemTime::now());
            let started = Instant::now();
            let resp = handler.handle(req, now).await;
            let total = started.elapsed();
            let (n, wire) = meter.take();
            if resp.status() != http::StatusCode::OK {
                return Err(Error::Failed(format!(
                    "{alg}: {} {}",
                    resp.status(),
                    String::from_utf8_lossy(resp.body().as_ref())
                )));
            }
            requests += n;
            handler_ms.push(total.as_secs_f64() * 1e3);
            wire_ms.push(wire.as_secs_f64() * 1e3);
            own_ms.push(total.saturating_sub(wire).as_secs_f64() * 1e3);
        }
        results.push(KmsPathResult {
            alg: alg.as_str().to_owned(),
            tokens,
            warm_up_requests,
            kms_requests_per_token: requests as f64 / tokens as f64,
            handler_ms: Summary::of(handler_ms),
            kms_round_trip_ms: Summary::of(wire_ms),
            own_ms: Summary::of(own_ms),
        });
    }
    Ok(results)
}

/// One region of an issuer in several: warm tokens from that region's token handler, signing with its local
/// replica through [`PublishedOnly`] (the JWKS read from the issuer bucket in the primary region), as the token
/// function there does.
#[derive(Debug, Clone, Serialize)]
pub struct RegionalPathResult {
    pub region: String,
    pub alg: String,
    pub tokens: u64,
    /// KMS and S3 requests during warm-up (`GetPublicKey` per algorithm, one `GetObject` of the JWKS).
    pub warm_up_requests: u64,
    /// KMS requests per warm token: must be exactly 1 (`Sign`, in this region).
    pub kms_requests_per_token: f64,
    /// S3 requests per warm token (the JWKS is read at start and after its TTL): must be 0.
    pub s3_requests_per_token: f64,
    pub handler_ms: Summary,
}

/// Issues `tokens` tokens per algorithm in each of `regions` (the primary first), one region after another, on a
/// moto with one backend per region whose issuer [`moto::with_keys_in_regions`] set up.
pub async fn run_regions(moto: &Moto, tokens: u64) -> Result<Vec<RegionalPathResult>, Error> {
    let primary = moto::config(moto).await;
    let settings = moto::settings()?;
    let mut results = Vec::new();
    for region in moto::REGIONS {
        let conf = iamjwt_aws::testing::moto_config(moto, region).await;
        let (kms_meter, s3_meter) = (WireMeter::default(), WireMeter::default());
        let signer = Arc::new(KmsSigner::new(
            kms_meter.kms(&conf),
            moto::PREFIX,
            Duration::from_secs(300),
        ));
        let jwks = Arc::new(S3Publisher::new(s3_meter.s3(&primary), moto::BUCKET, 3600));
        let guarded = PublishedOnly::new(signer.clone(), jwks, Duration::from_secs(300));
        signer
            .warm(&settings.issue.algorithms)
            .await
            .map_err(|e| Error::Setup(format!("{region}: warm-up: {e}")))?;
        guarded
            .warm()
            .await
            .map_err(|e| Error::Setup(format!("{region}: JWKS: {e}")))?;
        let warm_up_requests = kms_meter.take().0 + s3_meter.take().0;
        let handler = TokenHandler::new(
            Issuer::new(settings.issue.clone(), Arc::new(guarded)),
            event_api()?,
        );
        for alg in [Algorithm::ES256, Algorithm::RS256] {
            let (mut handler_ms, mut kms, mut s3) = (Vec::new(), 0, 0);
            for _ in 0..tokens {
                let req = request(alg)?;
                let now = UnixTime::from_system_time(SystemTime::now());
                let started = Instant::now();
                let resp = handler.handle(req, now).await;
                handler_ms.push(started.elapsed().as_secs_f64() * 1e3);
                if resp.status() != http::StatusCode::OK {
                    return Err(Error::Failed(format!(
                        "{region} {alg}: {} {}",
                        resp.status(),
                        String::from_utf8_lossy(resp.body().as_ref())
                    )));
                }
                kms += kms_meter.take().0;
                s3 += s3_meter.take().0;
            }
            results.push(RegionalPathResult {
                region: region.to_owned(),
                alg: alg.as_str().to_owned(),
                tokens,
                warm_up_requests,
                kms_requests_per_token: kms as f64 / tokens as f64,
                s3_requests_per_token: s3 as f64 / tokens as f64,
                handler_ms: Summary::of(handler_ms),
            });
        }
    }
    Ok(results)
}

/// Warm tokens across key-TTL expiries: the cached key keeps signing while one background task re-reads the
/// aliases, so the request path stays at one KMS call (`Sign`) per token and its tail does not move.
#[derive(Debug, Clone, Serialize)]
pub struct AcrossTtlResult {
    pub ttl_ms: u64,
    pub run_ms: u64,
    /// ES256 and RS256 alternately, one at a time.
    pub tokens: u64,
    /// TTL expiries the run crossed (run time / TTL, rounded down).
    pub ttl_expiries: u64,
    /// KMS wire requests made by the task serving a token, per token: must be exactly 1 (`Sign`).
    pub kms_requests_per_token: f64,
    /// Wire requests by operation, on the request path and in the background (refresh), after warm-up.
    pub requests: Counts,
    /// Background refreshes that ran: background `GetPublicKey` calls / algorithms (each refresh re-reads every
    /// expired alias, concurrently).
    pub background_refreshes: u64,
    /// Tokens served while no refresh was scheduled or running.
    pub steady_ms: Summary,
    /// Tokens that started or ended while a refresh was scheduled or running, or during which a background request
    /// went out (the token that started the refresh included).
    pub around_refresh_ms: Summary,
}

/// Issues tokens for `run` with a key TTL of `ttl` (warm-up first, not counted).
pub async fn run_across_ttl(
    moto: &Moto,
    ttl: Duration,
    run: Duration,
) -> Result<AcrossTtlResult, Error> {
    let conf = moto::config(moto).await;
    let settings = moto::settings()?;
    let meter = PathMeter::default();
    let signer = Arc::new(KmsSigner::new(meter.kms(&conf), moto::PREFIX, ttl));
    signer
        .warm(&settings.issue.algorithms)
        .await
        .map_err(|e| Error::Setup(format!("warm-up: {e}")))?;
    meter.take();
    let handler = TokenHandler::new(
        Issuer::new(settings.issue.clone(), signer.clone()),
        event_api()?,
    );
    let reqs = [request(Algorithm::ES256)?, request(Algorithm::RS256)?];
    let (mut steady, mut around) = (Vec::new(), Vec::new());
    let mut tokens = 0u64;
    let started = Instant::now();
    while started.elapsed() < run {
        let req = reqs[usize::from(tokens % 2 == 1)].clone();
        let (refreshing, background) = (signer.refreshing(), meter.peek().background_total());
        let now = UnixTime::from_system_time(SystemTime::now());
        let t = Instant::now();
        let resp = on_request_path(handler.handle(req, now)).await;
        let ms = t.elapsed().as_secs_f64() * 1e3;
        if resp.status() != http::StatusCode::OK {
            return Err(Error::Failed(format!(
                "token {tokens}: {} {}",
                resp.status(),
                String::from_utf8_lossy(resp.body().as_ref())
            )));
        }
        if refreshing || signer.refreshing() || meter.peek().background_total() != background {
            around.push(ms);
        } else {
            steady.push(ms);
        }
        tokens += 1;
    }
    let run_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    // Let the last refresh (if any) finish so its calls are counted.
    let deadline = Instant::now() + Duration::from_secs(10);
    while signer.refreshing() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let requests = meter.take();
    let background_refreshes =
        requests.get(false, "GetPublicKey") / settings.issue.algorithms.len().max(1) as u64;
    Ok(AcrossTtlResult {
        ttl_ms: u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX),
        run_ms,
        tokens,
        ttl_expiries: run_ms / u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1),
        kms_requests_per_token: requests.request_path_total() as f64 / tokens.max(1) as f64,
        requests,
        background_refreshes,
        steady_ms: Summary::of(steady),
        around_refresh_ms: Summary::of(around),
    })
}

/// The API and stage of [`EVENT`] (tests/fixtures/events): the handler answers only those.
pub fn event_api() -> Result<RestApiStage, Error> {
    RestApiStage::new("abc123", "prod").map_err(|e| Error::Setup(format!("fixture API: {e}")))
}
