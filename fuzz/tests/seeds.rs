//! Every fuzz target's oracle, run on its committed seeds (`fuzz/seeds/<target>/`) as a plain test: no libFuzzer,
//! no sanitizer, no nightly. `make test` runs it, so an oracle that no longer matches the code it checks (a new
//! parameter, a raised limit) fails CI instead of being found as a false crash by the next `make fuzz`.
//!
//! The target files are compiled here unchanged: this crate names itself `libfuzzer_sys`, so their
//! `use libfuzzer_sys::fuzz_target;` finds the macro below, which turns the target's body into `run(bytes)` (typed
//! inputs are built from the bytes with `arbitrary`, as libFuzzer's own macro does).
#![allow(unused_attributes, unused_imports)]

extern crate libfuzzer_sys as real_libfuzzer_sys;
extern crate self as libfuzzer_sys;

pub use real_libfuzzer_sys::arbitrary;

/// `fuzz_target!` as a plain function: `run(bytes)` runs the target's body on one input.
#[macro_export]
macro_rules! fuzz_target {
    (|$bytes:ident: &[u8]| $body:expr) => {
        pub fn run($bytes: &[u8]) {
            $body;
        }
    };
    (|$data:ident: $dty:ty| $body:expr) => {
        pub fn run(bytes: &[u8]) {
            use $crate::arbitrary::{Arbitrary, Unstructured};
            if let Ok($data) = <$dty as Arbitrary>::arbitrary_take_rest(Unstructured::new(bytes)) {
                $body;
            }
        }
    };
}

#[path = "../fuzz_targets/audience_policy.rs"]
mod audience_policy;
#[path = "../fuzz_targets/policy_oracle.rs"]
mod policy_oracle;
#[path = "../fuzz_targets/principal_arn.rs"]
mod principal_arn;
#[path = "../fuzz_targets/sigv4.rs"]
mod sigv4;
#[path = "../fuzz_targets/spki_jwk.rs"]
mod spki_jwk;
#[path = "../fuzz_targets/token_query.rs"]
mod token_query;

/// Every target with its oracle. A target added to `fuzz_targets/` must be added here (and given
/// `required-features = ["libfuzzer"]` in Cargo.toml): [`every_target_is_run`] says so.
const TARGETS: &[(&str, fn(&[u8]))] = &[
    ("audience_policy", audience_policy::run),
    ("policy_oracle", policy_oracle::run),
    ("principal_arn", principal_arn::run),
    ("sigv4", sigv4::run),
    ("spki_jwk", spki_jwk::run),
    ("token_query", token_query::run),
];

fn dir(rel: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)
}

#[test]
fn every_seed_passes_its_targets_oracle() {
    let mut ran = 0;
    for (target, run) in TARGETS {
        let seeds = dir("seeds").join(target);
        let mut files: Vec<_> = std::fs::read_dir(&seeds)
            .unwrap_or_else(|e| panic!("{}: {e}", seeds.display()))
            .map(|e| e.unwrap().path())
            .collect();
        files.sort();
        assert!(!files.is_empty(), "{} has no seeds", seeds.display());
        for f in files {
            let bytes = std::fs::read(&f).unwrap();
            if std::panic::catch_unwind(|| run(&bytes)).is_err() {
                panic!("fuzz target {target} fails on its seed {}", f.display());
            }
            ran += 1;
        }
    }
    assert!(ran >= TARGETS.len());
}

#[test]
fn every_target_is_run() {
    let mut on_disk: Vec<String> = std::fs::read_dir(dir("fuzz_targets"))
        .unwrap()
        .map(|e| {
            e.unwrap()
                .path()
                .file_stem()
                .unwrap()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    on_disk.sort();
    let listed: Vec<&str> = TARGETS.iter().map(|(t, _)| *t).collect();
    assert_eq!(
        on_disk, listed,
        "list every fuzz target in fuzz/tests/seeds.rs (TARGETS and a #[path] module)"
    );
    let manifest = std::fs::read_to_string(dir("Cargo.toml")).unwrap();
    for bin in manifest.split("[[bin]]").skip(1) {
        assert!(
            bin.contains(r#"required-features = ["libfuzzer"]"#),
            "every [[bin]] in fuzz/Cargo.toml needs required-features = [\"libfuzzer\"] (so this test builds \
             without libFuzzer): {bin}"
        );
    }
}
