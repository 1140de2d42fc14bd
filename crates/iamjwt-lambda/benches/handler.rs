//! Micro-benchmarks for issue 6, target "handler overhead excluding the signer < 50 µs per token".
//!
//! - `handler/noop_signer`: `TokenHandler::handle` on the API Gateway fixture `assumed-role.json` with a signer that
//!   does no crypto (a fixed 64-byte ES256 signature). This is the handler overhead the target bounds: routing,
//!   caller extraction, query parsing, jti randomness, policy, claims, JWS assembly, response JSON and the audit
//!   event (with no subscriber installed, as in `cargo bench`).
//! - `handler/noop_signer_json_log`: the same with the Lambda's JSON log subscriber writing to a sink, so the audit
//!   line's formatting is counted as it is in production.
//! - `handler/noop_signer_shaped`: as `noop_signer`, but the deciding rule has a `sub` template, three extra claims
//!   (one from a principal tag), `session_tags` and `request_tags`, the request carries a request tag, and the
//!   principal's tags come from a warm cache (an in-memory tag source: no I/O, as a warm IAM cache hit).
//! - `handler/soft_es256`: the same with `TestSigner` (real P-256 ECDSA), to set the overhead against signing.
//! - `core/claims_to_compact`: the pure pipeline `Claims::build` → `jws::signing_input` → `jws::compact`.
//! - `core/issuer_documents_6_keys`: JWKS + discovery generation (`KeyState::jwks`, `jwks_json`,
//!   `discovery_json`) for 3 RS256 + 3 ES256 keys, as a rotation publish does it.
//!
//! Building the request from JSON is setup (`iter_batched`), not measured: API Gateway's event decoding happens in
//! `lambda_http` before our handler is called.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use async_trait::async_trait;
use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use iamjwt_core::claims::{Claims, Jti, Lifetime};
use iamjwt_core::discovery::{DiscoveryDocument, IssuerDocuments};
use iamjwt_core::identity::{Caller, CallerFields};
use iamjwt_core::issuer::Issuer;
use iamjwt_core::jws::{self, Header};
use iamjwt_core::policy::AudiencePolicy;
use iamjwt_core::ports::{KeyStore as _, Signer, SigningKey, TagSource};
use iamjwt_core::template::PrincipalTags;
use iamjwt_core::testing::{MemKeyStore, TestSigner};
use iamjwt_core::{Algorithm, Audience, KeySlot, Kid, PortError, UnixTime};
use iamjwt_lambda::token::TokenHandler;
use lambda_http::Request;
use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;
use tokio::runtime::Runtime;

const EVENT: &str = include_str!("../../../tests/fixtures/events/assumed-role.json");
/// The fixture's `requestTimeEpoch`.
const NOW: UnixTime = UnixTime(1_795_456_800);
const ISSUER: &str = "https://id.example.com";

/// A signing key that returns a fixed signature of the right shape: the signer's cost is zero.
struct NoopKey(Kid);

#[async_trait]
impl SigningKey for NoopKey {
    fn alg(&self) -> Algorithm {
        Algorithm::ES256
    }
    fn kid(&self) -> &Kid {
        &self.0
    }
    async fn sign(&self, _input: &[u8]) -> Result<Vec<u8>, PortError> {
        Ok(vec![0x5a; 64])
    }
}

struct NoopSigner(Arc<NoopKey>);

#[async_trait]
impl Signer for NoopSigner {
    async fn signing_key(&self, _alg: Algorithm) -> Result<Arc<dyn SigningKey>, PortError> {
        Ok(self.0.clone())
    }
}

/// A warm tag cache: the principal's tags are already in memory.
struct WarmTags(Arc<PrincipalTags>);

#[async_trait]
impl TagSource for WarmTags {
    async fn principal_tags(&self, _caller: &Caller) -> Result<Arc<PrincipalTags>, PortError> {
        Ok(self.0.clone())
    }
}

fn shaped_handler(signer: Arc<dyn Signer>) -> TokenHandler {
    let policy = AudiencePolicy::from_json(
        Audience::parse("sts.amazonaws.com").unwrap(),
        r#"{"rules":[{"accounts":["111122223333"],"audiences":["sts.amazonaws.com","api://ci"],
            "sub":"{principal_type}/{account}/{name}/{session_name}",
            "claims":{"email":"{name}@ci.example.com","team":"{tag:team|64}","env":"prod"},
            "session_tags":{"keys":["team","cost-*"],"transitive":["team"]},"request_tags":["job"]}]}"#,
        3600,
    )
    .unwrap();
    let tags: PrincipalTags = [("team", "blue"), ("cost-center", "42"), ("owner", "ops")]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
    TokenHandler::new(
        Issuer::new(
            iamjwt_core::testing::issue_policy(ISSUER, policy, &[Algorithm::ES256]),
            signer,
        )
        .with_tags(Arc::new(WarmTags(Arc::new(tags)))),
    )
}

/// The fixture with `tag=job=42` added.
fn tagged_request() -> Request {
    let mut v: serde_json::Value = serde_json::from_str(EVENT).unwrap();
    v["queryStringParameters"]["tag"] = "job=42".into();
    v["multiValueQueryStringParameters"]["tag"] = serde_json::json!(["job=42"]);
    lambda_http::request::from_str(&v.to_string()).unwrap()
}

/// Kid of a real P-256 key, so the header has its production length.
fn real_kid() -> Kid {
    TestSigner::new(5).jwk().kid().clone()
}

fn handler(signer: Arc<dyn Signer>) -> TokenHandler {
    let policy = AudiencePolicy::from_json(
        Audience::parse("sts.amazonaws.com").unwrap(),
        r#"{"rules":[{"accounts":["111122223333"],"audiences":["api://ci","https://*.example.com"],"max_duration":1800}]}"#,
        3600,
    )
    .unwrap();
    TokenHandler::new(Issuer::new(
        iamjwt_core::testing::issue_policy(ISSUER, policy, &[Algorithm::ES256]),
        signer,
    ))
}

fn request() -> Request {
    lambda_http::request::from_str(EVENT).unwrap()
}

fn runtime() -> Runtime {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
}

fn bench_handler(c: &mut Criterion) {
    let rt = runtime();
    let noop = handler(Arc::new(NoopSigner(Arc::new(NoopKey(real_kid())))));
    let soft = handler(Arc::new(TestSigner::new(5)));
    let shaped = shaped_handler(Arc::new(NoopSigner(Arc::new(NoopKey(real_kid())))));
    // Guard against measuring an error path.
    for h in [&noop, &soft] {
        assert_eq!(rt.block_on(h.handle(request(), NOW)).status(), 200);
    }
    let resp = rt.block_on(shaped.handle(tagged_request(), NOW));
    assert_eq!(resp.status(), 200);
    let body: serde_json::Value = serde_json::from_slice(resp.body().as_ref()).unwrap();
    let payload = body["token"]
        .as_str()
        .unwrap()
        .split('.')
        .nth(1)
        .unwrap()
        .to_owned();
    use base64::Engine as _;
    let claims: serde_json::Value = serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .unwrap(),
    )
    .unwrap();
    assert_eq!(claims["sub"], "AssumedRole/111122223333/ci-deploy/build-42");
    assert_eq!(claims["team"], "blue");
    assert_eq!(claims["request_tags"]["job"], "42");

    let mut g = c.benchmark_group("handler");
    g.bench_function("noop_signer", |b| {
        b.iter_batched(
            request,
            |req| rt.block_on(noop.handle(req, NOW)),
            BatchSize::SmallInput,
        );
    });
    g.bench_function("noop_signer_json_log", |b| {
        // The subscriber `wiring::init_logging` installs in Lambda, minus stdout.
        let subscriber = tracing_subscriber::fmt()
            .json()
            .with_env_filter(tracing_subscriber::EnvFilter::new("info"))
            .with_current_span(false)
            .with_ansi(false)
            .without_time()
            .with_writer(std::io::sink)
            .finish();
        tracing::subscriber::with_default(subscriber, || {
            b.iter_batched(
                request,
                |req| rt.block_on(noop.handle(req, NOW)),
                BatchSize::SmallInput,
            );
        });
    });
    g.bench_function("noop_signer_shaped", |b| {
        b.iter_batched(
            tagged_request,
            |req| rt.block_on(shaped.handle(req, NOW)),
            BatchSize::SmallInput,
        );
    });
    g.bench_function("soft_es256", |b| {
        b.iter_batched(
            request,
            |req| rt.block_on(soft.handle(req, NOW)),
            BatchSize::SmallInput,
        );
    });
    g.finish();
}

fn bench_core(c: &mut Criterion) {
    let caller = Caller::from_fields(&CallerFields {
        user_arn: Some("arn:aws:sts::111122223333:assumed-role/ci-deploy/build-42"),
        account_id: Some("111122223333"),
        user: Some("AROAEXAMPLEROLEID1234:build-42"),
        principal_org_id: Some("o-a1b2c3d4e5"),
        source_ip: Some("203.0.113.10"),
    })
    .unwrap();
    let aud = Audience::parse("sts.amazonaws.com").unwrap();
    let kid = real_kid();
    let signature = [0x5a_u8; 64];
    let lifetime = Lifetime {
        now: NOW,
        duration: 900,
        nbf_skew: 30,
    };

    let mut g = c.benchmark_group("core");
    g.bench_function("claims_to_compact", |b| {
        b.iter(|| {
            let claims = Claims::build(
                ISSUER,
                black_box(&caller),
                vec![aud.clone()],
                lifetime,
                Jti::from_random([7; 16]),
                None,
            );
            let input = jws::signing_input(&Header::new(Algorithm::ES256, &kid), &claims).unwrap();
            jws::compact(input, black_box(&signature))
        });
    });

    // 3 RS256 + 3 ES256 keys (RSA moduli of 2048 bits), one in every slot: the largest steady-state JWKS.
    let store = MemKeyStore::new();
    let rt = runtime();
    let algs = [Algorithm::RS256, Algorithm::ES256];
    let state = rt.block_on(async {
        for alg in algs {
            for slot in [KeySlot::Pending, KeySlot::Current, KeySlot::Previous] {
                store.create_key(alg, slot, NOW).await.unwrap();
            }
        }
        store.load(&algs).await.unwrap()
    });
    assert_eq!(state.jwks().keys.len(), 6);
    g.bench_function("issuer_documents_6_keys", |b| {
        b.iter(|| {
            let docs = IssuerDocuments {
                discovery: DiscoveryDocument::new(ISSUER, &algs),
                jwks: black_box(&state).jwks(),
            };
            (docs.jwks_json().unwrap(), docs.discovery_json().unwrap())
        });
    });
    g.finish();
}

fn config() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
}

criterion_group! {
    name = benches;
    config = config();
    targets = bench_handler, bench_core
}
criterion_main!(benches);
