//! Both ports over one real state directory: rotation through the store, signing that follows it, the file format.

use super::*;
use iamjwt_core::UnixTime;
use iamjwt_core::keys::KeyMark;
use iamjwt_core::ports::{KeyStore as _, Signer as _};
use iamjwt_core::rotation::{RotationPolicy, Rotator, Step};
use iamjwt_core::testing::{FaultMode, Harness};
use std::os::unix::fs::PermissionsExt;
use std::time::Duration;

const ALGS: [Algorithm; 2] = [Algorithm::RS256, Algorithm::ES256];
const POLICY: RotationPolicy = RotationPolicy {
    min_publish_age: 100,
    retire_after: 50,
};

async fn run(
    h: &Harness<SoftKeyStore, crate::publisher::DirPublisher>,
    now: u64,
) -> Result<(), iamjwt_core::Error> {
    h.set_now(UnixTime(now));
    let r = Rotator {
        store: h,
        publisher: h,
        issuer: "http://127.0.0.1:1",
        algs: &ALGS,
        policy: POLICY,
    };
    for step in Step::ALL {
        r.run_step(step, false, UnixTime(now)).await?;
    }
    Ok(())
}

fn harness(dir: &Path) -> Harness<SoftKeyStore, crate::publisher::DirPublisher> {
    Harness::new(
        SoftKeyStore::new(dir),
        crate::publisher::DirPublisher::new(layout::public_dir(dir), 3600),
        ALGS.to_vec(),
        POLICY,
    )
}

#[tokio::test]
async fn soft_store_rotates_and_signer_follows() {
    let dir = tempfile::tempdir().unwrap();
    let h = harness(dir.path());
    run(&h, 1000).await.unwrap();
    // Private keys are 0600 PKCS#8 files.
    for entry in std::fs::read_dir(layout::keys_dir(dir.path())).unwrap() {
        let meta = entry.unwrap().metadata().unwrap();
        assert_eq!(meta.permissions().mode() & 0o777, 0o600);
    }
    let signer = SoftSigner::open(dir.path(), Duration::from_millis(0)).unwrap();
    let state = h.store.load(&ALGS).await.unwrap();
    for alg in ALGS {
        let key = signer.signing_key(alg).await.unwrap();
        assert_eq!(key.kid(), &state.algs[&alg].current.as_ref().unwrap().kid);
        let sig = key.sign(b"abc").await.unwrap();
        alg.check_signature(&sig).unwrap();
    }
    let before = signer
        .signing_key(Algorithm::ES256)
        .await
        .unwrap()
        .kid()
        .clone();
    run(&h, 1200).await.unwrap();
    let after = signer
        .signing_key(Algorithm::ES256)
        .await
        .unwrap()
        .kid()
        .clone();
    assert_ne!(before, after, "signer picked up the promoted key");
    assert_eq!(h.violations(), Vec::<String>::new());

    // Retire: the demoted key's file goes.
    run(&h, 1400).await.unwrap();
    let keys = std::fs::read_dir(layout::keys_dir(dir.path()))
        .unwrap()
        .count();
    assert_eq!(
        keys, 6,
        "the first two keys are gone; previous, current and pending remain"
    );
}

#[tokio::test]
async fn crash_injection_on_real_files() {
    // Count mutations of a rotation, then crash at each and resume.
    let dir = tempfile::tempdir().unwrap();
    let h = harness(dir.path());
    run(&h, 1000).await.unwrap();
    h.fail_at(usize::MAX, FaultMode::Before);
    run(&h, 1200).await.unwrap();
    let total = h.calls();
    for n in 0..total {
        let dir = tempfile::tempdir().unwrap();
        let h = harness(dir.path());
        run(&h, 1000).await.unwrap();
        h.fail_at(n, FaultMode::After);
        assert!(run(&h, 1200).await.is_err());
        h.clear_fault();
        // Re-running converges; if the fault hit the run's very last call the run had in fact finished,
        // and the re-run is a second, too-early rotation: refused, changing nothing.
        match run(&h, 1200).await {
            Ok(())
            | Err(iamjwt_core::Error::Refused(iamjwt_core::error::Refusal::UnsafePromotion {
                ..
            })) => {}
            Err(e) => panic!("resume after {n}: {e}"),
        }
        assert_eq!(h.violations(), Vec::<String>::new(), "fault {n}");
        let (state, published) = h.observe().await.unwrap();
        for alg in ALGS {
            let cur = state.algs[&alg].current.as_ref().unwrap();
            assert!(published.contains(&cur.kid));
        }
    }
}

/// `keys.json` as the soft store wrote it before it stored the core's `KeyRecord` (iamjwt-cli at 3178405:
/// `iamjwt rotate`, then `--now +25h`, then `--now +26h --emergency`): every slot filled, demoted keys,
/// compromised keys pending deletion with no public key, 3072-bit RSA keys.
const KEYS_V1: &str = include_str!("../../tests/fixtures/keys-v1.json");

#[tokio::test]
async fn loads_and_rewrites_keys_json_in_the_original_format() {
    let fixture: serde_json::Value = serde_json::from_str(KEYS_V1).unwrap();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(layout::key_state_file(dir.path()), KEYS_V1).unwrap();
    let store = SoftKeyStore::new(dir.path());
    let state = store.load(&ALGS).await.unwrap();
    let t = |v: &serde_json::Value| v.as_u64().map(UnixTime);
    for alg in ALGS {
        let alg_name = serde_json::to_value(alg).unwrap();
        for slot in [KeySlot::Pending, KeySlot::Current, KeySlot::Previous] {
            let slot_name = serde_json::to_value(slot).unwrap();
            let id = fixture["slots"][alg_name.as_str().unwrap()][slot_name.as_str().unwrap()]
                .as_str()
                .unwrap();
            let want = &fixture["keys"][id];
            let got = state.algs[&alg].get(slot).unwrap();
            assert_eq!(got.id.as_str(), id);
            assert_eq!(serde_json::to_value(got.alg).unwrap(), want["alg"]);
            assert_eq!(got.kid.as_str(), want["kid"].as_str().unwrap());
            assert_eq!(serde_json::to_value(&got.jwk).unwrap(), want["jwk"]);
            assert_eq!(Some(got.created_at), t(&want["created_at"]));
            assert_eq!(got.published_at, t(&want["published_at"]));
            assert_eq!(got.demoted_at, t(&want["demoted_at"]));
            assert_eq!(got.compromised, want["compromised"].as_bool().unwrap());
            assert_eq!(
                got.pending_deletion,
                want["pending_deletion"].as_bool().unwrap()
            );
        }
        let prev = state.algs[&alg].previous.as_ref().unwrap();
        assert!(prev.demoted_at.is_some() && prev.jwk.is_some());
    }
    // The file also holds keys outside every slot (the compromised ones), which must survive a rewrite.
    let compromised: Vec<_> = fixture["keys"]
        .as_object()
        .unwrap()
        .values()
        .filter(|k| k["compromised"] == true && k["pending_deletion"] == true && k["jwk"].is_null())
        .collect();
    assert_eq!(compromised.len(), 2);

    // A write that changes nothing (re-marking a key published at its recorded time) rewrites the file with
    // the same names and values: today's format, not a new one.
    let cur = state.algs[&Algorithm::RS256].current.clone().unwrap();
    store
        .mark(&cur.id, KeyMark::Published(cur.published_at.unwrap()))
        .await
        .unwrap();
    let rewritten: serde_json::Value =
        serde_json::from_slice(&std::fs::read(layout::key_state_file(dir.path())).unwrap())
            .unwrap();
    assert_eq!(rewritten, fixture);
}

#[test]
fn rsa_keys_are_2048_bit() {
    use base64::Engine as _;
    assert_eq!(RSA_BITS, 2048);
    let m = Material::generate(Algorithm::RS256).unwrap();
    let jwk = m.public_jwk().unwrap();
    let iamjwt_core::jwk::KeyParams::Rsa { n, .. } = jwk.params() else {
        panic!("RS256 key with a non-RSA JWK: {jwk:?}");
    };
    let n = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(n)
        .unwrap();
    assert_eq!(n.len() * 8, RSA_BITS, "modulus of {} bytes", n.len());
    assert!(n[0] & 0x80 != 0, "top bit of the modulus is set");
    // And the key survives its PKCS#8 file.
    let again = Material::from_pkcs8(Algorithm::RS256, &m.to_pkcs8().unwrap()).unwrap();
    assert_eq!(again.public_jwk().unwrap(), jwk);
}

#[test]
fn corrupt_state_file_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(layout::key_state_file(dir.path()), b"{not json").unwrap();
    let err = SoftSigner::open(dir.path(), Duration::from_secs(1))
        .err()
        .unwrap();
    assert!(err.to_string().contains("keys.json"), "{err}");
}
