//! The raw single-core signing rate of the crypto the local signer uses (rsa 0.10 PKCS#1 v1.5 with blinding,
//! p256 ECDSA with precomputed base-point tables, RSA keys of `iamjwt_local::keys::RSA_BITS`): what the gateway's throughput is judged against.

use serde::Serialize;
use std::hint::black_box;
use std::time::{Duration, Instant};

#[derive(Debug, Clone, Serialize)]
pub struct Baseline {
    pub es256_sign_per_s: f64,
    pub rs256_sign_per_s: f64,
    pub cores: usize,
}

fn rate(duration: Duration, mut f: impl FnMut()) -> f64 {
    // Warm up, then count.
    let warm = Instant::now();
    while warm.elapsed() < duration / 4 {
        f();
    }
    let started = Instant::now();
    let mut n = 0u64;
    while started.elapsed() < duration {
        f();
        n += 1;
    }
    n as f64 / started.elapsed().as_secs_f64()
}

/// Measures on the calling thread (one core), signing a 600-byte message like a typical signing input.
pub fn measure(duration: Duration) -> Result<Baseline, crate::Error> {
    use rsa::signature::Signer as _;
    let msg = vec![b'a'; 600];
    let es = p256::ecdsa::SigningKey::from_slice(&[0x42; 32])
        .map_err(|e| crate::Error::Setup(e.to_string()))?;
    // The size local mode and KMS `RSA_2048` use (not the rsa crate's default).
    let rsa_key = rsa::PrivateKey::new(&mut getrandom::SysRng, iamjwt_local::keys::RSA_BITS)
        .map_err(|e| crate::Error::Setup(format!("RSA keygen: {e}")))?;
    let rs = rsa::pkcs1v15::SigningKey::<sha2::Sha256>::new(rsa_key);
    let es256 = rate(duration, || {
        let sig: p256::ecdsa::Signature = es.sign(black_box(&msg));
        black_box(sig);
    });
    let rs256 = rate(duration, || {
        black_box(rs.try_sign(black_box(&msg)).ok());
    });
    Ok(Baseline {
        es256_sign_per_s: es256,
        rs256_sign_per_s: rs256,
        cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
    })
}
