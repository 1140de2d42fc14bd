//! Audience policy (DESIGN.md §4): which audiences a caller may ask for, and for how long.
//!
//! Parsed and validated once at start-up; [`AudiencePolicy::decide`] is a pure function of the caller and the
//! requested audiences. The default audience is always allowed; rules grant more. Secure default: no rules.
//! A rule may also shape the token it grants ([`crate::shape`]).
//!
//! Matching is by structure, never one glob over a string: principal patterns field by field
//! ([`crate::principal_pattern`]), audience patterns one URL component at a time ([`AudiencePattern`]). A rule's
//! `sub` template must keep apart every principal the rule admits ([`crate::subject`]).

use crate::error::Error;
use crate::glob::AudiencePattern;
use crate::identity::Caller;
use crate::limits::{ACCOUNT_ID_DIGITS, MIN_DURATION, ORG_ID_SUFFIX_CHARS};
use crate::principal_pattern::PrincipalPattern;
use crate::shape::{SessionTagsDoc, Shape, ShapeDoc};
use crate::subject::{self, Admitted};
use crate::types::Audience;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct PolicyDoc {
    rules: Vec<RuleDoc>,
}

/// The JSON fields of a rule, as `RuleDoc` names them (a test in [`crate::closed_sets`] keeps the two equal).
pub const RULE_FIELDS: [&str; 9] = [
    "principals",
    "accounts",
    "org_ids",
    "audiences",
    "max_duration",
    "sub",
    "claims",
    "session_tags",
    "request_tags",
];

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleDoc {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    principals: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    accounts: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    org_ids: Option<Vec<String>>,
    audiences: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    max_duration: Option<u64>,
    // The shaping fields (listed here, not flattened, so unknown fields stay an error).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    sub: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    claims: Option<BTreeMap<String, serde_json::Value>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    session_tags: Option<SessionTagsDoc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    request_tags: Option<Vec<String>>,
}

/// One validated rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    principals: Option<Vec<PrincipalPattern>>,
    accounts: Option<Vec<String>>,
    org_ids: Option<Vec<String>>,
    audiences: Vec<AudiencePattern>,
    max_duration: Option<u64>,
    shape: Shape,
}

impl Rule {
    /// How this rule shapes the tokens it grants.
    pub fn shape(&self) -> &Shape {
        &self.shape
    }

    fn applies_to(&self, caller: &Caller) -> bool {
        self.principals
            .as_ref()
            .is_none_or(|ps| ps.iter().any(|p| p.matches(&caller.principal)))
            && self
                .accounts
                .as_ref()
                .is_none_or(|a| a.iter().any(|a| a == caller.principal.account().as_str()))
            && self.org_ids.as_ref().is_none_or(|o| {
                caller
                    .org_id
                    .as_deref()
                    .is_some_and(|org| o.iter().any(|x| x == org))
            })
    }

    fn grants(&self, aud: &Audience) -> bool {
        self.audiences.iter().any(|g| g.matches(aud.as_str()))
    }
}

/// The decision for one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Grant {
    /// The rule's lifetime cap, if the deciding rule has one.
    pub max_duration: Option<u64>,
    /// Index of the deciding rule; `None` when only the default audience was asked for.
    pub rule: Option<usize>,
}

/// The deployment's audience policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AudiencePolicy {
    default_audience: Audience,
    rules: Vec<Rule>,
}

impl AudiencePolicy {
    /// Only the default audience, for everyone.
    pub fn default_only(default_audience: Audience) -> Self {
        Self {
            default_audience,
            rules: Vec::new(),
        }
    }

    /// Parses policy JSON. `max_duration` of every rule must lie in `MIN_DURATION..=max_duration`.
    pub fn from_json(
        default_audience: Audience,
        json: &str,
        max_duration: u64,
    ) -> Result<Self, Error> {
        let bad = |reason: String| Error::config("IAMJWT_AUDIENCE_POLICY", reason);
        let doc: PolicyDoc = serde_json::from_str(json).map_err(|e| bad(e.to_string()))?;
        let mut rules = Vec::with_capacity(doc.rules.len());
        for (i, r) in doc.rules.into_iter().enumerate() {
            let ctx = |what: &str| bad(format!("rule {i}: {what}"));
            let non_empty = |name: &str, v: &Option<Vec<String>>| match v {
                Some(list) if list.is_empty() => {
                    Err(ctx(&format!("{name} must not be an empty list")))
                }
                _ => Ok(()),
            };
            non_empty("principals", &r.principals)?;
            non_empty("accounts", &r.accounts)?;
            non_empty("org_ids", &r.org_ids)?;
            if r.audiences.is_empty() {
                return Err(ctx("audiences must list at least one audience"));
            }
            for a in r.accounts.iter().flatten() {
                if a.len() != ACCOUNT_ID_DIGITS || !a.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(ctx(&format!("account {a:?} is not a 12-digit account id")));
                }
            }
            for o in r.org_ids.iter().flatten() {
                let ok = o.strip_prefix("o-").is_some_and(|rest| {
                    ORG_ID_SUFFIX_CHARS.contains(&rest.len())
                        && rest
                            .bytes()
                            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
                });
                if !ok {
                    return Err(ctx(&format!(
                        "org id {o:?} is not of the form o-[a-z0-9]{{{},{}}}",
                        ORG_ID_SUFFIX_CHARS.start(),
                        ORG_ID_SUFFIX_CHARS.end()
                    )));
                }
            }
            let principals = r
                .principals
                .map(|ps| {
                    ps.iter()
                        .map(|p| PrincipalPattern::parse(p))
                        .collect::<Result<Vec<_>, _>>()
                })
                .transpose()
                .map_err(|e| ctx(&e))?;
            for a in &r.audiences {
                Audience::parse(a).map_err(|e| ctx(&format!("audience {a:?}: {e}")))?;
            }
            if let Some(d) = r.max_duration
                && !(MIN_DURATION..=max_duration).contains(&d)
            {
                return Err(ctx(&format!(
                    "max_duration {d} must be between {MIN_DURATION} and {max_duration}"
                )));
            }
            let shape = Shape::parse(ShapeDoc {
                sub: r.sub,
                claims: r.claims,
                session_tags: r.session_tags,
                request_tags: r.request_tags,
            })
            .map_err(|e| ctx(&e))?;
            if let Some(sub) = shape.sub() {
                let admitted = Admitted::of(principals.as_deref(), r.accounts.as_deref());
                subject::check(sub, &admitted).map_err(|e| ctx(&e))?;
            }
            rules.push(Rule {
                principals,
                accounts: r.accounts,
                org_ids: r.org_ids,
                audiences: r
                    .audiences
                    .iter()
                    .map(|s| AudiencePattern::new(s))
                    .collect(),
                max_duration: r.max_duration,
                shape,
            });
        }
        Ok(Self {
            default_audience,
            rules,
        })
    }

    /// The policy as JSON that [`AudiencePolicy::from_json`] reads back to an equal policy.
    pub fn to_json(&self) -> String {
        let audiences = |a: &[AudiencePattern]| a.iter().map(|a| a.pattern().to_owned()).collect();
        let principals = |p: &[PrincipalPattern]| p.iter().map(|p| p.source().to_owned()).collect();
        let doc = PolicyDoc {
            rules: self
                .rules
                .iter()
                .map(|r| {
                    let shape = r.shape.to_doc();
                    RuleDoc {
                        principals: r.principals.as_deref().map(principals),
                        accounts: r.accounts.clone(),
                        org_ids: r.org_ids.clone(),
                        audiences: audiences(&r.audiences),
                        max_duration: r.max_duration,
                        sub: shape.sub,
                        claims: shape.claims,
                        session_tags: shape.session_tags,
                        request_tags: shape.request_tags,
                    }
                })
                .collect(),
        };
        // Only strings, numbers and JSON values: serialisation cannot fail.
        serde_json::to_string(&doc).unwrap_or_default()
    }

    pub fn default_audience(&self) -> &Audience {
        &self.default_audience
    }

    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    /// The rule that decided `grant`, if any.
    pub fn rule(&self, grant: &Grant) -> Option<&Rule> {
        grant.rule.and_then(|i| self.rules.get(i))
    }

    /// Whether any rule needs the principal's tags.
    pub fn needs_tags(&self) -> bool {
        self.rules.iter().any(|r| r.shape.needs_tags())
    }

    /// The first applicable rule that grants every requested non-default audience decides.
    ///
    /// A request for only the default audience needs no rule; it is decided by the first applicable rule that
    /// shapes tokens and lists the default audience among its own, if there is one (rules that do not shape
    /// tokens are never consulted for it, as before shaping existed).
    pub fn decide(&self, caller: &Caller, requested: &[Audience]) -> Result<Grant, Error> {
        let extra: Vec<&Audience> = requested
            .iter()
            .filter(|a| **a != self.default_audience)
            .collect();
        let sub = caller.principal.sub();
        if extra.is_empty() {
            let shaping = self.rules.iter().enumerate().find(|(_, r)| {
                !r.shape.is_empty() && r.applies_to(caller) && requested.iter().all(|a| r.grants(a))
            });
            return Ok(Grant {
                max_duration: shaping.and_then(|(_, r)| r.max_duration),
                rule: shaping.map(|(i, _)| i),
            });
        }
        self.rules
            .iter()
            .enumerate()
            .find(|(_, r)| r.applies_to(caller) && extra.iter().all(|a| r.grants(a)))
            .map(|(i, r)| Grant {
                max_duration: r.max_duration,
                rule: Some(i),
            })
            .ok_or_else(|| {
                Error::InvalidTarget(format!(
                    "the audience policy does not allow {} for {sub}",
                    extra
                        .iter()
                        .map(|a| format!("{:?}", a.as_str()))
                        .collect::<Vec<_>>()
                        .join(", ")
                ))
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::{Caller, Principal};

    fn caller(arn: &str, org: Option<&str>) -> Caller {
        Caller {
            principal: Principal::parse(arn).unwrap(),
            principal_id: None,
            org_id: org.map(str::to_owned),
            source_ip: None,
        }
    }
    fn aud(s: &str) -> Audience {
        Audience::parse(s).unwrap()
    }
    const DOC: &str = r#"{"rules": [
        {"principals": ["arn:aws:iam::111122223333:role/ci-*"], "audiences": ["api://ci", "https://*.example.com"], "max_duration": 900},
        {"accounts": ["444455556666"], "audiences": ["api://acct"]},
        {"org_ids": ["o-a1b2c3d4e5"], "audiences": ["api://org"], "max_duration": 300},
        {"audiences": ["api://public"]}
    ]}"#;

    fn policy() -> AudiencePolicy {
        AudiencePolicy::from_json(aud("sts.amazonaws.com"), DOC, 3600).unwrap()
    }

    #[test]
    fn default_audience_always_allowed() {
        let p = AudiencePolicy::default_only(aud("sts.amazonaws.com"));
        let c = caller("arn:aws:iam::999999999999:user/u", None);
        assert_eq!(
            p.decide(&c, &[aud("sts.amazonaws.com")]).unwrap(),
            Grant {
                max_duration: None,
                rule: None
            }
        );
        assert!(matches!(
            p.decide(&c, &[aud("api://x")]),
            Err(Error::InvalidTarget(_))
        ));
    }

    #[test]
    fn rules_select_and_grant() {
        let p = policy();
        let ci = caller(
            "arn:aws:sts::111122223333:assumed-role/ci-deploy/run-1",
            None,
        );
        let g = p
            .decide(&ci, &[aud("api://ci"), aud("https://svc.example.com")])
            .unwrap();
        assert_eq!(
            g,
            Grant {
                max_duration: Some(900),
                rule: Some(0)
            }
        );
        // the default audience mixed in needs no grant
        assert!(
            p.decide(&ci, &[aud("api://ci"), aud("sts.amazonaws.com")])
                .is_ok()
        );
        // not every audience from one rule: rule 0 grants api://ci, rule 3 api://public; no single rule both
        assert!(matches!(
            p.decide(&ci, &[aud("api://ci"), aud("api://public")]),
            Err(Error::InvalidTarget(_))
        ));
        // falls through to the selector-less rule
        assert_eq!(p.decide(&ci, &[aud("api://public")]).unwrap().rule, Some(3));

        let prod = caller("arn:aws:sts::111122223333:assumed-role/prod/run-1", None);
        assert!(matches!(
            p.decide(&prod, &[aud("api://ci")]),
            Err(Error::InvalidTarget(_))
        ));

        let acct = caller("arn:aws:iam::444455556666:user/bob", None);
        assert_eq!(
            p.decide(&acct, &[aud("api://acct")]).unwrap(),
            Grant {
                max_duration: None,
                rule: Some(1)
            }
        );
        assert!(p.decide(&ci, &[aud("api://acct")]).is_err());

        let in_org = caller("arn:aws:iam::777777777777:user/x", Some("o-a1b2c3d4e5"));
        assert_eq!(
            p.decide(&in_org, &[aud("api://org")]).unwrap().max_duration,
            Some(300)
        );
        let no_org = caller("arn:aws:iam::777777777777:user/x", None);
        assert!(p.decide(&no_org, &[aud("api://org")]).is_err());
    }

    #[test]
    fn json_round_trip_with_shaping_fields() {
        let shaped = r#"{"rules": [
            {"principals": ["arn:aws:iam::111122223333:role/ci-*"], "accounts": ["111122223333"],
             "org_ids": ["o-a1b2c3d4e5"], "audiences": ["api://ci", "https://*.example.com"], "max_duration": 900,
             "sub": "{account}/{name}", "claims": {"email": "{name}@ci.example.com", "env": "prod", "n": [1, {"x": null}]},
             "session_tags": {"keys": ["team", "cost-*"], "transitive": ["team"]}, "request_tags": ["job", "pipeline-*"]},
            {"audiences": ["api://public"]}
        ]}"#;
        for doc in [DOC, shaped] {
            let p = AudiencePolicy::from_json(aud("d"), doc, 3600).unwrap();
            let again = AudiencePolicy::from_json(aud("d"), &p.to_json(), 3600).unwrap();
            assert_eq!(again, p);
            let a: serde_json::Value = serde_json::from_str(doc).unwrap();
            let b: serde_json::Value = serde_json::from_str(&p.to_json()).unwrap();
            assert_eq!(a, b, "the JSON written back is the JSON read");
        }
        let p = AudiencePolicy::from_json(aud("d"), shaped, 3600).unwrap();
        assert!(p.needs_tags() && !policy().needs_tags());
    }

    #[test]
    fn malformed_policies_fail_at_start() {
        let d = aud("d");
        for bad in [
            "",
            "{}",
            "[]",
            r#"{"rules": [{"audiences": ["a"], "surprise": 1}]}"#,
            r#"{"rules": [], "extra": true}"#,
            r#"{"rules": [{"audiences": []}]}"#,
            r#"{"rules": [{"accounts": [], "audiences": ["a"]}]}"#,
            r#"{"rules": [{"accounts": ["12"], "audiences": ["a"]}]}"#,
            r#"{"rules": [{"org_ids": ["org-1"], "audiences": ["a"]}]}"#,
            r#"{"rules": [{"principals": ["role/x"], "audiences": ["a"]}]}"#,
            r#"{"rules": [{"audiences": ["a"], "max_duration": 59}]}"#,
            r#"{"rules": [{"audiences": ["a"], "max_duration": 3601}]}"#,
            r#"{"rules": [{"audiences": ["bad\u0001"]}]}"#,
            r#"{"rules": [{"audiences": ["a"], "sub": "{nope}"}]}"#,
            r#"{"rules": [{"audiences": ["a"], "claims": {"iss": "x"}}]}"#,
            r#"{"rules": [{"audiences": ["a"], "session_tags": {"keys": ["a"], "extra": 1}}]}"#,
            r#"{"rules": [{"audiences": ["a"], "session_tags": ["a"]}]}"#,
            r#"{"rules": [{"audiences": ["a"], "request_tags": "job"}]}"#,
        ] {
            match AudiencePolicy::from_json(d.clone(), bad, 3600) {
                Err(Error::Config { name, .. }) => assert_eq!(name, "IAMJWT_AUDIENCE_POLICY"),
                other => panic!("{bad:?} gave {other:?}"),
            }
        }
    }
}
