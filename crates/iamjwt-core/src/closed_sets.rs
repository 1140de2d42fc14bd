//! The closed sets other languages need — algorithms, rotation steps, key slots — as one serialisable document,
//! with the version of the build that wrote it (the one version of the crates, the CLI, the Lambda zips and the CDK
//! construct, which reads it from here as `IamJwtIssuer.VERSION`).
//!
//! `iamjwt describe --json` prints it; `infra/closed-sets.json` is its committed copy, which the CDK (TypeScript)
//! and the Python workflow tests read instead of keeping lists of their own. A test below fails when the copy and
//! the core's tables differ (regenerate with `iamjwt describe --json > infra/closed-sets.json`).

use crate::alg::Algorithm;
use crate::rotation::Step;
use crate::types::KeySlot;
use serde::Serialize;

/// What the CDK and Python read about one algorithm.
#[derive(Debug, Clone, Serialize)]
pub struct AlgorithmRow {
    pub jose: &'static str,
    pub kms_key_spec: &'static str,
    pub kms_signing_algorithm: &'static str,
    pub signature_bytes: usize,
    pub default_enabled: bool,
}

/// The document.
#[derive(Debug, Clone, Serialize)]
pub struct ClosedSets {
    pub comment: &'static str,
    /// The workspace version (`[workspace.package] version` in Cargo.toml).
    pub version: &'static str,
    pub algorithms: Vec<AlgorithmRow>,
    pub default_algorithm: &'static str,
    pub rotation_steps: Vec<&'static str>,
    pub key_slots: Vec<&'static str>,
}

const COMMENT: &str = "Generated from iamjwt-core (iamjwt describe --json); a Rust test fails when this file and the core tables differ. The CDK and the Python workflow tests read their lists from here.";

pub fn closed_sets() -> ClosedSets {
    ClosedSets {
        comment: COMMENT,
        version: env!("CARGO_PKG_VERSION"),
        algorithms: Algorithm::ALL
            .iter()
            .map(|a| {
                let s = a.spec();
                AlgorithmRow {
                    jose: s.jose,
                    kms_key_spec: s.kms_key_spec,
                    kms_signing_algorithm: s.kms_signing_algorithm,
                    signature_bytes: s.signature_len,
                    default_enabled: s.default_enabled,
                }
            })
            .collect(),
        default_algorithm: Algorithm::DEFAULT.as_str(),
        rotation_steps: Step::ALL.iter().map(|s| s.as_str()).collect(),
        key_slots: KeySlot::ALL.iter().map(|s| s.as_str()).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_committed_copy_matches_the_core() {
        let committed: serde_json::Value =
            serde_json::from_str(include_str!("../../../infra/closed-sets.json")).unwrap();
        let ours = serde_json::to_value(closed_sets()).unwrap();
        assert_eq!(
            committed,
            ours,
            "infra/closed-sets.json is stale: regenerate it with `iamjwt describe --json > infra/closed-sets.json`\n{}",
            serde_json::to_string_pretty(&ours).unwrap()
        );
    }
}
