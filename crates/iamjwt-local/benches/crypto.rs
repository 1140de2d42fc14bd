//! Micro-benchmarks for issue 6: software signing and SigV4 verification in local mode.
//!
//! - `local/sign_rs256`, `local/sign_es256`: one token's signature through the signing port as the gateway uses
//!   it — `SoftSigner::signing_key(alg)` (cache lookup) then `SigningKey::sign` — over a real ~600-byte signing
//!   input, with keys made by `SoftKeyStore` in a temporary state directory.
//! - `raw/sign_rs256`, `raw/sign_es256`: the same keys signed with the same crates directly
//!   (`rsa::pkcs1v15::SigningKey<Sha256>::try_sign`, `p256::ecdsa::SigningKey::sign`): the single-core baseline
//!   the gateway's throughput target is a ratio of. `local/*` minus `raw/*` is the port's overhead.
//! - `local/sigv4_verify`: `sigv4::Verifier::verify` of one header-signed `GET /token` with a session token, the
//!   check the gateway does before every token (API Gateway's `AWS_IAM` auth).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use aws_credential_types::Credentials;
use criterion::{Criterion, criterion_group, criterion_main};
use iamjwt_core::claims::{Claims, Jti, Lifetime};
use iamjwt_core::identity::{Caller, CallerFields};
use iamjwt_core::jws::{self, Header};
use iamjwt_core::ports::{KeyStore as _, Signer as _};
use iamjwt_core::{Algorithm, Audience, KeyId, KeySlot, Kid, UnixTime};
use iamjwt_local::keys::{SoftKeyStore, SoftSigner};
use iamjwt_local::principals::{LocalPrincipal, Principals};
use iamjwt_local::sigv4::{RequestParts, Verifier, sign_get};
use p256::pkcs8::DecodePrivateKey as _;
use rsa::signature::{SignatureEncoding as _, Signer as _};
use std::hint::black_box;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

const NOW: UnixTime = UnixTime(1_795_457_700);

/// A production-shaped signing input: the fixture caller's claims under a real-length kid.
fn signing_input() -> String {
    let caller = Caller::from_fields(&CallerFields {
        user_arn: Some("arn:aws:sts::111122223333:assumed-role/ci-deploy/build-42"),
        account_id: Some("111122223333"),
        user: Some("AROAEXAMPLEROLEID1234:build-42"),
        principal_org_id: Some("o-a1b2c3d4e5"),
        source_ip: Some("203.0.113.10"),
    })
    .unwrap();
    let claims = Claims::build(
        "https://id.example.com",
        &caller,
        vec![Audience::parse("https://api.example.com/ci").unwrap()],
        Lifetime {
            now: NOW,
            duration: 900,
            nbf_skew: 30,
        },
        Jti::from_random([7; 16]),
        None,
    );
    let kid = Kid::new("NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs");
    jws::signing_input(&Header::new(Algorithm::ES256, &kid), &claims).unwrap()
}

/// The PKCS#8 file `SoftKeyStore` wrote for `id` (layout: `keys/<id>.pk8`).
fn pkcs8(state: &Path, id: &KeyId) -> Vec<u8> {
    std::fs::read(iamjwt_local::layout::keys_dir(state).join(format!("{id}.pk8"))).unwrap()
}

fn bench_sign(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let store = SoftKeyStore::new(dir.path());
    let (rs_id, es_id) = rt.block_on(async {
        let rs = store.create_key(Algorithm::RS256, KeySlot::Current, NOW);
        let rs = rs.await.unwrap();
        let es = store.create_key(Algorithm::ES256, KeySlot::Current, NOW);
        (rs, es.await.unwrap())
    });
    let signer = SoftSigner::open(dir.path(), Duration::from_secs(3600)).unwrap();
    let raw_rs = rsa::pkcs1v15::SigningKey::<sha2::Sha256>::new(
        rsa::PrivateKey::from_pkcs8_der(&pkcs8(dir.path(), &rs_id)).unwrap(),
    );
    let raw_es = p256::ecdsa::SigningKey::from_pkcs8_der(&pkcs8(dir.path(), &es_id)).unwrap();

    let input = signing_input();
    assert!(
        (500..800).contains(&input.len()),
        "signing input is {} bytes",
        input.len()
    );
    let input = input.as_bytes();

    let mut g = c.benchmark_group("local");
    for (id, alg) in [
        ("sign_rs256", Algorithm::RS256),
        ("sign_es256", Algorithm::ES256),
    ] {
        g.bench_function(id, |b| {
            b.iter(|| {
                rt.block_on(async {
                    let key = signer.signing_key(alg).await.unwrap();
                    key.sign(black_box(input)).await.unwrap()
                })
            });
        });
    }
    g.finish();

    let mut g = c.benchmark_group("raw");
    g.bench_function("sign_rs256", |b| {
        b.iter(|| raw_rs.try_sign(black_box(input)).unwrap().to_vec());
    });
    g.bench_function("sign_es256", |b| {
        b.iter(|| {
            let sig: p256::ecdsa::Signature = raw_es.sign(black_box(input));
            sig
        });
    });
    g.finish();
}

fn bench_sigv4(c: &mut Criterion) {
    let (akid, secret, token) = (
        "ASIAEXAMPLE000000001",
        "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
        "IQoJb3JpZ2luX2VjEXAMPLESESSIONTOKEN",
    );
    let principals = Principals::new(vec![LocalPrincipal {
        access_key_id: akid.into(),
        secret_access_key: secret.into(),
        session_token: Some(token.into()),
        arn: "arn:aws:sts::111122223333:assumed-role/ci-deploy/build-42".into(),
        user_id: "AROAEXAMPLEROLEID1234:build-42".into(),
        org_id: None,
        tags: None,
    }])
    .unwrap();
    let verifier = Verifier::new(Arc::new(principals), "us-east-1");
    let creds = Credentials::new(akid, secret, Some(token.into()), None, "bench");
    let uri: http::Uri = "http://127.0.0.1:8080/token?aud=https%3A%2F%2Fapi.example.com%2Fci"
        .parse()
        .unwrap();
    let signed = sign_get(
        &uri,
        &creds,
        "us-east-1",
        "execute-api",
        NOW.to_system_time(),
        None,
    )
    .unwrap();
    let req = RequestParts {
        method: "GET",
        path: signed.uri().path(),
        query: signed.uri().query(),
        headers: signed.headers(),
        body: &[],
    };
    let at = NOW.plus(1);
    assert!(verifier.verify(&req, at).is_ok());

    let mut g = c.benchmark_group("local");
    g.bench_function("sigv4_verify", |b| {
        b.iter(|| verifier.verify(black_box(&req), at).is_ok());
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
    targets = bench_sign, bench_sigv4
}
criterion_main!(benches);
