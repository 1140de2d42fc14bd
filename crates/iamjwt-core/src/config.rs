//! Deployment configuration (DESIGN.md §9), read from a key/value lookup so the same parser serves the Lambda
//! environment, local mode and tests. Invalid values fail here, at start-up, naming the variable.

use crate::error::Error;
use crate::limits::{IAM_NAME_CHARS, IAM_PATH_MAX_CHARS, MIN_DURATION};
use crate::policy::AudiencePolicy;
use crate::region::Region;
use crate::rotation::RotationPolicy;
use crate::types::{Algorithm, Audience};

/// The issuing rules: what the token endpoint applies to every request ([`crate::issuer::Issuer`] holds them).
#[derive(Debug, Clone)]
pub struct IssuePolicy {
    pub issuer: String,
    pub policy: AudiencePolicy,
    pub algorithms: Vec<Algorithm>,
    pub default_algorithm: Algorithm,
    pub default_duration: u64,
    pub max_duration: u64,
    pub nbf_skew: u64,
    pub allow_root: bool,
    /// `IAMJWT_SESSION_TAGS`: every principal tag goes to the session-tags claim unless the deciding rule has its
    /// own `session_tags`.
    pub session_tags: bool,
}

impl IssuePolicy {
    /// Whether any request can need the principal's tags (a rule's `sub`/`claims`/`session_tags`, or
    /// `IAMJWT_SESSION_TAGS`): the token function then needs a tag source (and, in AWS, IAM read permissions).
    pub fn needs_tags(&self) -> bool {
        self.session_tags || self.policy.needs_tags()
    }
}

/// Every setting, typed and validated.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The issuing rules, as the token endpoint takes them.
    pub issue: IssuePolicy,
    pub key_alias_prefix: String,
    pub bucket: Option<String>,
    pub jwks_max_age: u64,
    pub min_publish_age: u64,
    pub key_deletion_days: u32,
    /// How long a principal's tags are reused before they are looked up again (`IAMJWT_TAG_CACHE_SECONDS`).
    pub tag_cache_seconds: u64,
    /// Role name assumed in a caller's account to read tags of principals in other accounts
    /// (`IAMJWT_TAG_READER_ROLE`); `None`: tags of other accounts cannot be read.
    pub tag_reader_role: Option<String>,
    pub key_refresh_seconds: u64,
    /// The regions the issuer signs in, the primary (rotation, bucket) first (`IAMJWT_REGIONS`); keys are KMS
    /// multi-Region keys replicated into the others. Empty: one region, single-Region keys, as always.
    pub regions: Vec<Region>,
}

/// The token function's role ARN (rotate function only): the one principal a signing key's policy lets sign.
pub const TOKEN_ROLE_ARN: &str = "IAMJWT_TOKEN_ROLE_ARN";
/// The rotate function's role ARN (rotate function only): runs the keys' lifecycle and keeps their policy.
pub const ROTATE_ROLE_ARN: &str = "IAMJWT_ROTATE_ROLE_ARN";

/// The API Gateway REST API id whose events the token function answers (token function only).
pub const API_ID: &str = "IAMJWT_API_ID";
/// The stage of [`API_ID`] whose events the token function answers (token function only).
pub const API_STAGE: &str = "IAMJWT_API_STAGE";

/// A setting one binary requires, through `lookup`, trimmed: unset or blank is refused, naming `name` and `why` it is
/// required (for example the rotate function's [`TOKEN_ROLE_ARN`]).
pub fn required_setting(
    lookup: &impl Fn(&str) -> Option<String>,
    name: &str,
    why: &str,
) -> Result<String, Error> {
    lookup(name)
        .map(|v| v.trim().to_owned())
        .filter(|v| !v.is_empty())
        .ok_or_else(|| Error::config(name, format!("is required {why}")))
}

/// What a boolean setting may be, for the messages that refuse anything else.
pub const BOOL_EXPECTED: &str = "expected 1/0, true/false or yes/no";

/// The one reading of a boolean variable, for every binary (`IAMJWT_SESSION_TAGS`, `IAMJWT_NO_CACHE`, …): `1`/`0`,
/// `true`/`false`, `yes`/`no`, in any case; `None` for anything else.
pub fn parse_bool(raw: &str) -> Option<bool> {
    match raw.trim().to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" => Some(true),
        "0" | "false" | "no" => Some(false),
        _ => None,
    }
}

/// Hard bounds; values outside them are configuration errors.
const MAX_MAX_DURATION: u64 = 43_200;

impl Settings {
    /// Reads every `IAMJWT_*` variable through `lookup` (for example `|k| std::env::var(k).ok()`).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, Error> {
        let get = |name: &str| {
            lookup(name)
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
        };
        let required = |name: &str| get(name).ok_or_else(|| Error::config(name, "is required"));
        let num = |name: &str, default: u64, min: u64, max: u64| -> Result<u64, Error> {
            let Some(raw) = get(name) else {
                return Ok(default);
            };
            let v: u64 = raw
                .parse()
                .map_err(|_| Error::config(name, format!("{raw:?} is not a whole number")))?;
            if (min..=max).contains(&v) {
                Ok(v)
            } else {
                Err(Error::config(name, format!("{v} is outside {min}..={max}")))
            }
        };
        let boolean = |name: &str| -> Result<bool, Error> {
            match get(name) {
                None => Ok(false),
                Some(raw) => parse_bool(&raw).ok_or_else(|| Error::config(name, BOOL_EXPECTED)),
            }
        };

        let issuer = parse_issuer(&required("IAMJWT_ISSUER")?)?;
        let default_audience = Audience::parse(&required("IAMJWT_DEFAULT_AUDIENCE")?)
            .map_err(|e| Error::config("IAMJWT_DEFAULT_AUDIENCE", e.to_string()))?;

        let algorithms = match get("IAMJWT_ALGORITHMS") {
            None => Algorithm::defaults(),
            Some(raw) => {
                let mut algs = Vec::new();
                for part in raw.split(',').map(str::trim) {
                    let alg: Algorithm = part
                        .parse()
                        .map_err(|e: Error| Error::config("IAMJWT_ALGORITHMS", e.to_string()))?;
                    if !algs.contains(&alg) {
                        algs.push(alg);
                    }
                }
                algs
            }
        };
        let default_algorithm = match get("IAMJWT_DEFAULT_ALGORITHM") {
            None if algorithms.contains(&Algorithm::DEFAULT) => Algorithm::DEFAULT,
            None => algorithms[0],
            Some(raw) => raw
                .parse()
                .map_err(|e: Error| Error::config("IAMJWT_DEFAULT_ALGORITHM", e.to_string()))?,
        };
        if !algorithms.contains(&default_algorithm) {
            return Err(Error::config(
                "IAMJWT_DEFAULT_ALGORITHM",
                format!("{default_algorithm} is not in IAMJWT_ALGORITHMS"),
            ));
        }

        let max_duration = num("IAMJWT_MAX_DURATION", 3600, MIN_DURATION, MAX_MAX_DURATION)?;
        let default_duration = num(
            "IAMJWT_DEFAULT_DURATION",
            900.min(max_duration),
            MIN_DURATION,
            max_duration,
        )?;
        let policy = match get("IAMJWT_AUDIENCE_POLICY") {
            None => AudiencePolicy::default_only(default_audience),
            Some(json) => AudiencePolicy::from_json(default_audience, &json, max_duration)?,
        };

        let key_alias_prefix =
            get("IAMJWT_KEY_ALIAS_PREFIX").unwrap_or_else(|| "alias/iamjwt".into());
        let prefix_ok = key_alias_prefix.starts_with("alias/")
            && !key_alias_prefix.starts_with("alias/aws/")
            && !key_alias_prefix.ends_with('/')
            && key_alias_prefix.len() <= 200
            && key_alias_prefix
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"/_-".contains(&b));
        if !prefix_ok {
            return Err(Error::config(
                "IAMJWT_KEY_ALIAS_PREFIX",
                format!(
                    "{key_alias_prefix:?} must look like alias/name (not alias/aws/…, no trailing /)"
                ),
            ));
        }

        Ok(Self {
            issue: IssuePolicy {
                issuer,
                policy,
                algorithms,
                default_algorithm,
                default_duration,
                max_duration,
                nbf_skew: num("IAMJWT_NBF_SKEW", 30, 0, 300)?,
                allow_root: boolean("IAMJWT_ALLOW_ROOT")?,
                session_tags: boolean("IAMJWT_SESSION_TAGS")?,
            },
            key_alias_prefix,
            bucket: get("IAMJWT_BUCKET"),
            jwks_max_age: num("IAMJWT_JWKS_MAX_AGE", 3600, 0, 86_400)?,
            min_publish_age: num("IAMJWT_MIN_PUBLISH_AGE", 86_400, 0, 90 * 86_400)?,
            key_deletion_days: u32::try_from(num("IAMJWT_KEY_DELETION_DAYS", 30, 7, 30)?)
                .unwrap_or(30),
            tag_cache_seconds: num("IAMJWT_TAG_CACHE_SECONDS", 300, 1, 86_400)?,
            tag_reader_role: get("IAMJWT_TAG_READER_ROLE")
                .map(|r| parse_role_name(&r))
                .transpose()?,
            key_refresh_seconds: num("IAMJWT_KEY_REFRESH_SECONDS", 300, 1, 3600)?,
            regions: get("IAMJWT_REGIONS")
                .map(|r| parse_regions(&r))
                .transpose()?
                .unwrap_or_default(),
        })
    }

    /// The primary region when the issuer signs in several ([`Settings::regions`]), else `None`.
    pub fn primary_region(&self) -> Option<&Region> {
        (self.regions.len() > 1).then(|| &self.regions[0])
    }

    /// The regions keys are replicated into (all but the primary).
    pub fn replica_regions(&self) -> &[Region] {
        self.regions.get(1..).unwrap_or_default()
    }

    /// The rotation timings these settings imply.
    pub fn rotation_policy(&self) -> RotationPolicy {
        RotationPolicy {
            min_publish_age: self.min_publish_age,
            // A key that stopped signing may still be cached by signers for one refresh interval, and tokens it
            // signed live max_duration; verifiers may hold a JWKS for jwks_max_age.
            retire_after: self.issue.max_duration + self.jwks_max_age + self.key_refresh_seconds,
        }
    }

    /// How long after a signer last confirmed its cached key current it may still sign with it: the key may have
    /// been demoted right after, and it stays in the JWKS `retire_after` from then; a token signed later than
    /// `retire_after - max_duration` after the confirmation could outlive the key in the JWKS.
    pub fn signing_key_confirmation_limit(&self) -> u64 {
        self.rotation_policy().retire_after - self.issue.max_duration
    }
}

/// `us-east-1,eu-west-1,…`: region names, each once; the first is the primary.
fn parse_regions(raw: &str) -> Result<Vec<Region>, Error> {
    let mut regions: Vec<Region> = Vec::new();
    for part in raw.split(',').map(str::trim) {
        let region =
            Region::parse(part).map_err(|e| Error::config("IAMJWT_REGIONS", e.to_string()))?;
        if regions.contains(&region) {
            return Err(Error::config(
                "IAMJWT_REGIONS",
                format!("{region} is listed twice"),
            ));
        }
        regions.push(region);
    }
    Ok(regions)
}

/// An IAM role name, optionally with a path (`path/to/name`): `[\w+=,.@-]{1,64}` for the name, and the path's
/// segments of the same characters; the whole at most 512 characters.
fn parse_role_name(raw: &str) -> Result<String, Error> {
    let name_ok = |s: &str, max: usize| {
        (1..=max).contains(&s.len())
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"_+=,.@-".contains(&b))
    };
    let (path, name) = raw.rsplit_once('/').unwrap_or(("", raw));
    let ok = raw.len() <= IAM_PATH_MAX_CHARS
        && name_ok(name, *IAM_NAME_CHARS.end())
        && (!raw.contains('/') || path.split('/').all(|seg| name_ok(seg, IAM_PATH_MAX_CHARS)));
    if ok {
        Ok(raw.to_owned())
    } else {
        Err(Error::config(
            "IAMJWT_TAG_READER_ROLE",
            format!(
                "{raw:?} is not an IAM role name (letters, digits and _+=,.@- ; optional path/ prefix)"
            ),
        ))
    }
}

/// `https://host[:port][/path]` without query, fragment or trailing slash; plain `http` only on loopback.
fn parse_issuer(raw: &str) -> Result<String, Error> {
    let bad = |why: &str| Error::config("IAMJWT_ISSUER", format!("{raw:?} {why}"));
    let trimmed = raw.trim_end_matches('/');
    let rest = if let Some(r) = trimmed.strip_prefix("https://") {
        r
    } else if let Some(r) = trimmed.strip_prefix("http://") {
        let host = r.split(['/', ':']).next().unwrap_or_default();
        let host = if r.starts_with("[::1]") {
            "[::1]"
        } else {
            host
        };
        if !matches!(host, "127.0.0.1" | "localhost" | "[::1]") {
            return Err(bad(
                "must use https (plain http is only allowed on loopback)",
            ));
        }
        r
    } else {
        return Err(bad("must start with https://"));
    };
    if rest.is_empty() || rest.starts_with('/') {
        return Err(bad("has no host"));
    }
    if trimmed.contains(['?', '#', ' ']) || trimmed.chars().any(char::is_control) {
        return Err(bad("must not contain a query, fragment or spaces"));
    }
    Ok(trimmed.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn settings(pairs: &[(&str, &str)]) -> Result<Settings, Error> {
        let mut m: HashMap<String, String> = HashMap::from([
            ("IAMJWT_ISSUER".into(), "https://id.example.com/".into()),
            ("IAMJWT_DEFAULT_AUDIENCE".into(), "sts.amazonaws.com".into()),
        ]);
        for (k, v) in pairs {
            m.insert((*k).into(), (*v).into());
        }
        Settings::from_lookup(|k| m.get(k).cloned())
    }

    fn err_name(r: Result<Settings, Error>) -> String {
        match r {
            Err(Error::Config { name, .. }) => name,
            other => format!("not a config error: {other:?}"),
        }
    }

    #[test]
    fn defaults() {
        let s = settings(&[]).unwrap();
        assert_eq!(s.issue.issuer, "https://id.example.com");
        assert_eq!(s.issue.algorithms, vec![Algorithm::RS256, Algorithm::ES256]);
        assert_eq!(s.issue.default_algorithm, Algorithm::RS256);
        assert_eq!(
            (s.issue.default_duration, s.issue.max_duration),
            (900, 3600)
        );
        assert_eq!(s.key_alias_prefix, "alias/iamjwt");
        assert_eq!(
            (s.jwks_max_age, s.min_publish_age, s.key_deletion_days),
            (3600, 86_400, 30)
        );
        assert!(!s.issue.session_tags && !s.issue.allow_root);
        assert_eq!(s.key_refresh_seconds, 300);
        assert_eq!(
            (s.tag_cache_seconds, s.tag_reader_role.as_deref()),
            (300, None)
        );
        assert!(!s.issue.needs_tags());
        assert_eq!(s.rotation_policy().retire_after, 3600 + 3600 + 300);
    }

    #[test]
    fn each_bad_value_names_its_variable() {
        assert_eq!(
            err_name(settings(&[("IAMJWT_ISSUER", "")])),
            "IAMJWT_ISSUER"
        );
        assert_eq!(
            err_name(settings(&[("IAMJWT_ISSUER", "http://id.example.com")])),
            "IAMJWT_ISSUER"
        );
        assert_eq!(
            err_name(settings(&[("IAMJWT_ISSUER", "https://x?y=1")])),
            "IAMJWT_ISSUER"
        );
        assert_eq!(
            err_name(settings(&[("IAMJWT_ISSUER", "ftp://x")])),
            "IAMJWT_ISSUER"
        );
        assert_eq!(
            err_name(settings(&[("IAMJWT_DEFAULT_AUDIENCE", "")])),
            "IAMJWT_DEFAULT_AUDIENCE"
        );
        assert_eq!(
            err_name(settings(&[("IAMJWT_ALGORITHMS", "RS256,HS256")])),
            "IAMJWT_ALGORITHMS"
        );
        assert_eq!(
            err_name(settings(&[
                ("IAMJWT_ALGORITHMS", "ES256"),
                ("IAMJWT_DEFAULT_ALGORITHM", "RS256")
            ])),
            "IAMJWT_DEFAULT_ALGORITHM"
        );
        assert_eq!(
            err_name(settings(&[("IAMJWT_MAX_DURATION", "59")])),
            "IAMJWT_MAX_DURATION"
        );
        assert_eq!(
            err_name(settings(&[("IAMJWT_DEFAULT_DURATION", "4000")])),
            "IAMJWT_DEFAULT_DURATION"
        );
        assert_eq!(
            err_name(settings(&[("IAMJWT_DEFAULT_DURATION", "abc")])),
            "IAMJWT_DEFAULT_DURATION"
        );
        assert_eq!(
            err_name(settings(&[("IAMJWT_KEY_DELETION_DAYS", "6")])),
            "IAMJWT_KEY_DELETION_DAYS"
        );
        assert_eq!(
            err_name(settings(&[("IAMJWT_KEY_ALIAS_PREFIX", "alias/aws/x")])),
            "IAMJWT_KEY_ALIAS_PREFIX"
        );
        assert_eq!(
            err_name(settings(&[("IAMJWT_KEY_ALIAS_PREFIX", "iamjwt")])),
            "IAMJWT_KEY_ALIAS_PREFIX"
        );
        assert_eq!(
            err_name(settings(&[("IAMJWT_SESSION_TAGS", "maybe")])),
            "IAMJWT_SESSION_TAGS"
        );
        assert_eq!(
            err_name(settings(&[("IAMJWT_AUDIENCE_POLICY", "{")])),
            "IAMJWT_AUDIENCE_POLICY"
        );
        for bad in ["0", "86401", "x"] {
            assert_eq!(
                err_name(settings(&[("IAMJWT_TAG_CACHE_SECONDS", bad)])),
                "IAMJWT_TAG_CACHE_SECONDS"
            );
        }
        for bad in ["arn:aws:iam::1:role/x", "a b", "/x", "x/", &"r".repeat(65)] {
            assert_eq!(
                err_name(settings(&[("IAMJWT_TAG_READER_ROLE", bad)])),
                "IAMJWT_TAG_READER_ROLE",
                "{bad:?}"
            );
        }
        // A rule with an unknown template variable fails at start, naming the policy and the rule.
        match settings(&[(
            "IAMJWT_AUDIENCE_POLICY",
            r#"{"rules": [{"audiences": ["a"]}, {"audiences": ["b"], "sub": "{nope}"}]}"#,
        )]) {
            Err(Error::Config { name, reason }) => {
                assert_eq!(name, "IAMJWT_AUDIENCE_POLICY");
                assert!(
                    reason.starts_with("rule 1: sub: unknown variable {nope}"),
                    "{reason}"
                );
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn tag_settings() {
        let s = settings(&[
            ("IAMJWT_TAG_CACHE_SECONDS", "60"),
            ("IAMJWT_TAG_READER_ROLE", "iamjwt/tag-reader"),
        ])
        .unwrap();
        assert_eq!(s.tag_cache_seconds, 60);
        assert_eq!(s.tag_reader_role.as_deref(), Some("iamjwt/tag-reader"));
        assert!(
            settings(&[("IAMJWT_SESSION_TAGS", "true")])
                .unwrap()
                .issue
                .needs_tags()
        );
        let templ = r#"{"rules": [{"audiences": ["b"], "sub": "{principal_type}/{account}/{name}/{tag:team|32}"}]}"#;
        assert!(
            settings(&[("IAMJWT_AUDIENCE_POLICY", templ)])
                .unwrap()
                .issue
                .needs_tags()
        );
        let no_tags =
            r#"{"rules": [{"audiences": ["b"], "sub": "{principal_type}/{account}/{name}"}]}"#;
        assert!(
            !settings(&[("IAMJWT_AUDIENCE_POLICY", no_tags)])
                .unwrap()
                .issue
                .needs_tags()
        );
    }

    #[test]
    fn regions_primary_first_each_once_and_real() {
        assert!(settings(&[]).unwrap().regions.is_empty());
        let s = settings(&[("IAMJWT_REGIONS", "us-east-1, eu-west-1,ap-southeast-2")]).unwrap();
        let names: Vec<&str> = s.regions.iter().map(Region::as_str).collect();
        assert_eq!(names, ["us-east-1", "eu-west-1", "ap-southeast-2"]);
        assert_eq!(s.primary_region().map(Region::as_str), Some("us-east-1"));
        assert_eq!(s.replica_regions().len(), 2);
        // One region is a single-region deployment.
        let one = settings(&[("IAMJWT_REGIONS", "eu-west-1")]).unwrap();
        assert!(one.primary_region().is_none() && one.replica_regions().is_empty());
        for bad in [
            "us-east-1,us-east-1",
            "us-east-1,evil.example/x",
            "us-east-1,",
            "US-EAST-1",
        ] {
            assert_eq!(
                err_name(settings(&[("IAMJWT_REGIONS", bad)])),
                "IAMJWT_REGIONS",
                "{bad}"
            );
        }
    }

    #[test]
    fn loopback_http_and_choices() {
        let s = settings(&[
            ("IAMJWT_ISSUER", "http://127.0.0.1:8080"),
            ("IAMJWT_ALGORITHMS", "ES256"),
            ("IAMJWT_SESSION_TAGS", "TRUE"),
            ("IAMJWT_MAX_DURATION", "600"),
        ])
        .unwrap();
        assert_eq!(s.issue.issuer, "http://127.0.0.1:8080");
        assert_eq!(s.issue.default_algorithm, Algorithm::ES256);
        assert!(s.issue.session_tags);
        assert_eq!(s.issue.default_duration, 600);
        assert!(settings(&[("IAMJWT_ISSUER", "http://localhost:9")]).is_ok());
        assert!(settings(&[("IAMJWT_ISSUER", "http://[::1]:9")]).is_ok());
    }

    #[test]
    fn booleans_read_the_same_everywhere() {
        for (raw, want) in [
            ("1", true),
            ("TRUE", true),
            ("yes", true),
            ("0", false),
            ("False", false),
            ("no", false),
        ] {
            assert_eq!(parse_bool(raw), Some(want), "{raw}");
            for name in ["IAMJWT_SESSION_TAGS", "IAMJWT_ALLOW_ROOT"] {
                let s = settings(&[(name, raw)]).unwrap();
                assert_eq!(
                    if name == "IAMJWT_ALLOW_ROOT" {
                        s.issue.allow_root
                    } else {
                        s.issue.session_tags
                    },
                    want
                );
            }
        }
        for bad in ["maybe", "2", "on"] {
            assert_eq!(parse_bool(bad), None, "{bad}");
        }
    }
}
