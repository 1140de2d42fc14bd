//! Local-mode configuration: the same `IAMJWT_*` variables as in Lambda, with embedded defaults, recorded in the
//! state directory by `serve` so that `rotate` publishes documents for the same issuer and algorithms.
//!
//! The caller passes the `IAMJWT_*` overrides in (the CLI reads them from its environment); this module never reads
//! the process environment itself.

use crate::error::Error;
use crate::fsutil::{read_optional, write_atomic};
use iamjwt_core::config::{self, Settings};
use std::collections::BTreeMap;
use std::path::Path;

const SETTINGS_FILE: &str = "settings.json";

/// The issuer `rotate` publishes for when `serve` never ran in the state directory.
pub const DEFAULT_LOCAL_ISSUER: &str = "http://127.0.0.1:8080";

/// Defaults that make sense on one machine.
fn defaults(issuer: &str) -> BTreeMap<String, String> {
    BTreeMap::from([
        ("IAMJWT_ISSUER".to_owned(), issuer.to_owned()),
        (
            "IAMJWT_DEFAULT_AUDIENCE".to_owned(),
            "sts.amazonaws.com".to_owned(),
        ),
        // Rotations from another process show up within a second.
        ("IAMJWT_KEY_REFRESH_SECONDS".to_owned(), "1".to_owned()),
    ])
}

/// The settings only the AWS adapters honour, each with why local mode cannot: set for `serve` or `rotate`, they are
/// refused at start, never ignored. The one list of them (add a setting here when only Lambda reads it).
pub const NOT_IN_LOCAL_MODE: &[(&str, &str)] = &[
    (
        "IAMJWT_TAG_READER_ROLE",
        "local mode reads principal tags from the principals file; it assumes no role in other accounts",
    ),
    (
        "IAMJWT_TAG_CACHE_SECONDS",
        "local mode reads principal tags from the principals file; there are no IAM tag lookups to cache",
    ),
    (
        "IAMJWT_KEY_ALIAS_PREFIX",
        "local mode keeps its keys in the state directory (--state-dir), not under KMS aliases",
    ),
    (
        "IAMJWT_BUCKET",
        "local mode publishes discovery and the JWKS from the state directory (--state-dir), not to S3",
    ),
    (
        "IAMJWT_REGIONS",
        "local mode has no KMS multi-Region keys to replicate; run one `iamjwt serve --replica --region R` per extra region on the same state directory instead",
    ),
    (
        config::TOKEN_ROLE_ARN,
        "it names the only signer in each KMS key policy, and local mode's software keys have no key policy",
    ),
    (
        config::ROTATE_ROLE_ARN,
        "it names the key lifecycle's role in each KMS key policy, and local mode's software keys have no key policy",
    ),
    (
        config::API_ID,
        "it names the API Gateway REST API whose events the token Lambda answers, and local mode is its own gateway",
    ),
    (
        config::API_STAGE,
        "it names the API Gateway stage whose events the token Lambda answers, and local mode is its own gateway",
    ),
];

/// Refuses every variable of [`NOT_IN_LOCAL_MODE`] that `vars` sets (set but empty is unset, as for every
/// setting): one line each, naming it, why, and the fix.
pub fn refuse_unsupported(vars: &BTreeMap<String, String>) -> Result<(), Error> {
    let refused: Vec<String> = NOT_IN_LOCAL_MODE
        .iter()
        .filter(|(name, _)| vars.get(*name).is_some_and(|v| !v.trim().is_empty()))
        .map(|(name, why)| {
            format!("{name} is set but cannot be honoured: {why}; unset it for local mode")
        })
        .collect();
    if refused.is_empty() {
        Ok(())
    } else {
        Err(Error::Unsupported(refused))
    }
}

/// Only the `IAMJWT_*` variables of an environment.
pub fn iamjwt_vars(
    env: impl IntoIterator<Item = (String, String)>,
) -> impl Iterator<Item = (String, String)> {
    env.into_iter().filter(|(k, _)| k.starts_with("IAMJWT_"))
}

fn parse(map: &BTreeMap<String, String>) -> Result<Settings, Error> {
    Ok(Settings::from_lookup(|k| map.get(k).cloned())?)
}

/// For `serve`: defaults, then `overrides`; recorded in the state directory (atomically, 0600).
pub fn serve_settings(
    state: &Path,
    issuer: &str,
    overrides: impl IntoIterator<Item = (String, String)>,
) -> Result<Settings, Error> {
    let overrides: BTreeMap<String, String> = iamjwt_vars(overrides).collect();
    refuse_unsupported(&overrides)?;
    let mut map = defaults(issuer);
    map.extend(overrides);
    let settings = parse(&map)?;
    let path = state.join(SETTINGS_FILE);
    let bytes = serde_json::to_vec_pretty(&map).map_err(|e| Error::Corrupt {
        path: path.clone(),
        reason: e.to_string(),
    })?;
    write_atomic(&path, &bytes, 0o600)?;
    Ok(settings)
}

/// For `rotate`: what `serve` recorded (or the defaults), then `overrides`.
pub fn recorded_settings(
    state: &Path,
    overrides: impl IntoIterator<Item = (String, String)>,
) -> Result<Settings, Error> {
    let path = state.join(SETTINGS_FILE);
    let mut map = match read_optional(&path)? {
        Some(bytes) => serde_json::from_slice(&bytes).map_err(|e| Error::Corrupt {
            path: path.clone(),
            reason: e.to_string(),
        })?,
        None => defaults(DEFAULT_LOCAL_ISSUER),
    };
    let overrides: BTreeMap<String, String> = iamjwt_vars(overrides).collect();
    refuse_unsupported(&overrides)?;
    map.extend(overrides);
    parse(&map)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serve_records_what_rotate_reads() {
        let dir = tempfile::tempdir().unwrap();
        let env = [
            ("IAMJWT_ALGORITHMS".to_owned(), "ES256".to_owned()),
            ("HOME".to_owned(), "/ignored".to_owned()),
        ];
        let s = serve_settings(dir.path(), "http://127.0.0.1:9999", env).unwrap();
        assert_eq!(s.issue.issuer, "http://127.0.0.1:9999");
        let again = recorded_settings(dir.path(), []).unwrap();
        assert_eq!(again.issue.issuer, "http://127.0.0.1:9999");
        assert_eq!(again.issue.algorithms, s.issue.algorithms);
        assert_eq!(again.key_refresh_seconds, 1);
    }

    /// Issue 19 §6: settings only AWS honours were parsed and then ignored by `serve` and `rotate`.
    #[test]
    fn settings_local_mode_cannot_honour_are_refused_one_line_each() {
        let dir = tempfile::tempdir().unwrap();
        for (name, _) in NOT_IN_LOCAL_MODE {
            let one = [((*name).to_owned(), "x".to_owned())];
            let e = serve_settings(dir.path(), "http://127.0.0.1:1", one.clone())
                .unwrap_err()
                .to_string();
            assert!(
                e.starts_with(name) && e.contains("unset it") && !e.contains('\n'),
                "{e}"
            );
            let e = recorded_settings(dir.path(), one).unwrap_err().to_string();
            assert!(e.starts_with(name), "{e}");
        }
        let all: Vec<(String, String)> = NOT_IN_LOCAL_MODE
            .iter()
            .map(|(n, _)| ((*n).to_owned(), "300".to_owned()))
            .collect();
        let e = serve_settings(dir.path(), "http://127.0.0.1:1", all)
            .unwrap_err()
            .to_string();
        assert_eq!(e.lines().count(), NOT_IN_LOCAL_MODE.len(), "{e}");
        // nothing was recorded by a refused start
        assert!(!dir.path().join(SETTINGS_FILE).exists());
    }

    #[test]
    fn a_corrupt_record_is_an_error_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(SETTINGS_FILE), b"{").unwrap();
        let e = recorded_settings(dir.path(), []).unwrap_err().to_string();
        assert!(e.contains(SETTINGS_FILE), "{e}");
    }

    #[test]
    fn lambda_only_settings_are_refused_naming_the_variable_and_why() {
        // Software keys have no key policy: a role meant to be the only signer cannot be honoured here.
        for name in [config::TOKEN_ROLE_ARN, config::ROTATE_ROLE_ARN] {
            let dir = tempfile::tempdir().unwrap();
            let env = [(
                name.to_owned(),
                "arn:aws:iam::111122223333:role/iamjwt-token".to_owned(),
            )];
            let e = serve_settings(dir.path(), "http://127.0.0.1:1", env.clone())
                .unwrap_err()
                .to_string();
            assert!(e.contains(name) && e.contains("key policy"), "{e}");
            assert_eq!(e.lines().count(), 1, "{e}");
            assert!(!dir.path().join(SETTINGS_FILE).exists(), "nothing recorded");
            let e = recorded_settings(dir.path(), env).unwrap_err().to_string();
            assert!(e.contains(name), "{e}");
            // Set but empty is unset, as everywhere else.
            serve_settings(
                dir.path(),
                "http://127.0.0.1:1",
                [(name.to_owned(), " ".to_owned())],
            )
            .unwrap();
        }
    }

    #[test]
    fn the_api_gateway_binding_is_refused_local_mode_is_its_own_gateway() {
        for name in [config::API_ID, config::API_STAGE] {
            let dir = tempfile::tempdir().unwrap();
            let env = [(name.to_owned(), "prod".to_owned())];
            let e = serve_settings(dir.path(), "http://127.0.0.1:1", env)
                .unwrap_err()
                .to_string();
            assert!(e.contains(name) && e.contains("gateway"), "{e}");
            assert_eq!(e.lines().count(), 1, "{e}");
        }
    }

    #[test]
    fn a_bad_override_names_the_variable() {
        let dir = tempfile::tempdir().unwrap();
        let e = serve_settings(
            dir.path(),
            "http://127.0.0.1:1",
            [("IAMJWT_MAX_DURATION".to_owned(), "forever".to_owned())],
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("IAMJWT_MAX_DURATION"), "{e}");
    }
}
