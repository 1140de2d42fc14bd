//! The closed sets other languages need — algorithms, rotation steps, key slots, the KMS key tags, the audience policy
//! rule fields and the rotate step error types — as one serialisable document, with the version of the build that
//! wrote it (the one version of the crates, the CLI, the Lambda zips and the CDK construct, which reads it from here
//! as `IamJwtIssuer.VERSION`).
//!
//! `iamjwt describe --json` prints it; `infra/closed-sets.json` is its committed copy, which the CDK (TypeScript)
//! and the Python workflow tests read instead of keeping lists of their own. A test below fails when the copy and
//! the core's tables differ (regenerate with `iamjwt describe --json > infra/closed-sets.json`).

use crate::alg::Algorithm;
use crate::error::StepErrorType;
use crate::keys::tags;
use crate::policy::RULE_FIELDS;
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

/// The tags the KMS key store writes on each key ([`tags`]): the CDK's IAM conditions name them.
#[derive(Debug, Clone, Serialize)]
pub struct KmsKeyTags {
    pub issuer: &'static str,
    pub facts: Vec<&'static str>,
}

/// The `errorType`s of a failed rotate step ([`StepErrorType`]): the workflow Retries the first, Catches the second.
#[derive(Debug, Clone, Serialize)]
pub struct RotateErrorTypes {
    pub retryable: Vec<&'static str>,
    pub not_retryable: Vec<&'static str>,
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
    pub kms_key_tags: KmsKeyTags,
    pub policy_rule_fields: Vec<&'static str>,
    pub rotate_error_types: RotateErrorTypes,
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
        kms_key_tags: KmsKeyTags {
            issuer: tags::ISSUER,
            facts: tags::FACTS.to_vec(),
        },
        policy_rule_fields: RULE_FIELDS.to_vec(),
        rotate_error_types: {
            let names = |retryable: bool| {
                StepErrorType::ALL
                    .iter()
                    .filter(|t| t.is_retryable() == retryable)
                    .map(|t| t.as_str())
                    .collect()
            };
            RotateErrorTypes {
                retryable: names(true),
                not_retryable: names(false),
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::AudiencePolicy;
    use crate::types::Audience;
    use std::collections::BTreeSet;

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

    /// The names serde lists after "expected" in its unknown-field error.
    fn expected_fields(message: &str) -> BTreeSet<String> {
        let (_, expected) = message.split_once("expected").unwrap();
        expected
            .split('`')
            .skip(1)
            .step_by(2)
            .map(str::to_owned)
            .collect()
    }

    #[test]
    fn the_policy_rule_fields_are_the_ones_the_parser_accepts() {
        // The parser refuses an unknown field and names every field it knows; that list is RULE_FIELDS.
        let err = AudiencePolicy::from_json(
            Audience::parse("aud").unwrap(),
            r#"{"rules": [{"audiences": ["a"], "no_such_field": 1}]}"#,
            3600,
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("unknown field `no_such_field`"), "{err}");
        let known = expected_fields(&err);
        let listed: BTreeSet<String> = RULE_FIELDS.iter().map(|f| f.to_string()).collect();
        assert_eq!(
            known, listed,
            "RULE_FIELDS differs from the rule's serde fields"
        );
        assert_eq!(
            listed.len(),
            RULE_FIELDS.len(),
            "RULE_FIELDS lists a field twice"
        );
    }

    #[test]
    fn every_step_error_type_is_named_once_and_only_retryable_is_retried() {
        let names: BTreeSet<&str> = StepErrorType::ALL.iter().map(|t| t.as_str()).collect();
        assert_eq!(names.len(), StepErrorType::ALL.len());
        let sets = closed_sets().rotate_error_types;
        assert_eq!(sets.retryable, ["Retryable"]);
        assert!(sets.not_retryable.contains(&"KeyStoreError"));
    }

    #[test]
    fn the_kms_tags_are_distinct_and_scoped_to_iamjwt() {
        let all: BTreeSet<&str> = std::iter::once(tags::ISSUER).chain(tags::FACTS).collect();
        assert_eq!(all.len(), 1 + tags::FACTS.len());
        assert!(all.iter().all(|t| t.starts_with("iamjwt:")), "{all:?}");
    }
}
