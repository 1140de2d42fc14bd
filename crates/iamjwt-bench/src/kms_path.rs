//! The token handler end to end with the KMS signer against moto: KMS requests per warm token (counted on the
//! wire by an SDK interceptor) and the handler's own time with the KMS round trip (transmit → response) taken out.

use crate::Error;
use crate::moto::{self, Moto};
use crate::stats::Summary;
use iamjwt_aws::kms::KmsSigner;
use iamjwt_aws::testing::WireMeter;
use iamjwt_core::issuer::{IssuePolicy, Issuer};
use iamjwt_core::{Algorithm, UnixTime};
use iamjwt_lambda::token::TokenHandler;
use serde::Serialize;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

/// An API Gateway REST proxy event for an assumed-role caller, as the `token` Lambda receives it.
pub const EVENT: &str = include_str!("../../../tests/fixtures/events/assumed-role.json");

#[derive(Debug, Clone, Serialize)]
pub struct KmsPathResult {
    pub alg: String,
    pub tokens: u64,
    /// Wire requests to KMS during warm-up (`DescribeKey` + `GetPublicKey`).
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

fn request(alg: Algorithm) -> Result<lambda_http::Request, Error> {
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
        .warm(&settings.algorithms)
        .await
        .map_err(|e| Error::Setup(format!("warm-up: {e}")))?;
    let (warm_up_requests, _) = meter.take();
    let handler = TokenHandler::new(Issuer::new(IssuePolicy::from(&settings), signer));
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
