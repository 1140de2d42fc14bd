//! How a policy rule shapes the token it grants (DESIGN.md §4): a `sub` template, extra claims, which principal
//! tags become AWS session tags, and which request tags a caller may send.
//!
//! Everything that can be checked without a caller is checked in [`Shape::parse`], at start-up: unknown variables,
//! reserved claim names, templates whose longest output exceeds a verifier's limit, session-tag selections that can
//! never fit AWS's limits. What depends on the caller is decided in [`Shape::apply`], failing closed: a `sub` that
//! cannot be rendered denies the request, an extra claim that cannot be rendered is left out, session tags that do
//! not fit AWS's limits deny the request (never a token that STS would reject).

use crate::claims::{Claims, SessionTags};
use crate::error::Error;
use crate::glob::Glob;
use crate::identity::Caller;
use crate::limits::{CLAIM_MAX_BYTES, MAX_SESSION_TAGS, SUB_MAX_BYTES, TAG_KEY_MAX_CHARS};
use crate::template::{self, PrincipalTags, Template};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Claim names a rule may not set: the registered and issuer-owned claims (DESIGN.md §4).
pub const RESERVED_CLAIMS: [&str; 11] = [
    "iss",
    "sub",
    "aud",
    "azp",
    "exp",
    "iat",
    "nbf",
    "jti",
    "aws",
    "request_tags",
    SESSION_TAGS_CLAIM,
];
pub const SESSION_TAGS_CLAIM: &str = "https://aws.amazon.com/tags";

/// `session_tags` as written in the policy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SessionTagsDoc {
    pub keys: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub transitive: Vec<String>,
}

/// The shaping fields of a rule as written in the policy.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShapeDoc {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sub: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub claims: Option<BTreeMap<String, serde_json::Value>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_tags: Option<SessionTagsDoc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_tags: Option<Vec<String>>,
}

/// An extra claim's value: a string is a template, anything else is emitted as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClaimValue {
    Template(Template),
    Json(serde_json::Value),
}

/// Which principal tags go to the session-tags claim, and which of those are transitive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionTagRule {
    keys: Vec<Glob>,
    transitive: Vec<Glob>,
}

/// A rule's validated shaping. The default (nothing set) issues exactly the claims of DESIGN.md §3.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Shape {
    sub: Option<Template>,
    claims: Vec<(String, ClaimValue)>,
    session_tags: Option<SessionTagRule>,
    request_tags: Option<Vec<Glob>>,
}

/// What a token needs besides the caller: the principal's tags (when looked up) and the request's tags.
#[derive(Debug, Clone, Copy)]
pub struct ShapeInputs<'a> {
    pub caller: &'a Caller,
    /// `Some` exactly when the tags were looked up ([`Shape::needs_tags`] or `IAMJWT_SESSION_TAGS`).
    pub principal_tags: Option<&'a PrincipalTags>,
    /// `IAMJWT_SESSION_TAGS=true`: rules without `session_tags` send every principal tag, none transitive.
    pub all_session_tags: bool,
}

impl Shape {
    /// Validates the shaping fields of one rule. Errors are sentences for "rule N: …".
    pub fn parse(doc: ShapeDoc) -> Result<Self, String> {
        let sub = match doc.sub {
            None => None,
            Some(s) => {
                let t = Template::parse(&s).map_err(|e| format!("sub: {e}"))?;
                if t.vars().next().is_none() {
                    return Err(format!(
                        "sub {s:?} has no variable: every principal the rule selects would get the same sub \
                         (put constant values in claims instead)"
                    ));
                }
                if t.bound() > SUB_MAX_BYTES {
                    return Err(format!(
                        "sub {s:?} can be up to {} bytes, over the {SUB_MAX_BYTES} that OIDC and Snowflake allow; \
                         declare shorter bounds such as {{tag:KEY|64}} or {{principal_arn|200}}",
                        t.bound()
                    ));
                }
                Some(t)
            }
        };
        let mut claims = Vec::new();
        for (name, value) in doc.claims.unwrap_or_default() {
            if name.is_empty() || RESERVED_CLAIMS.contains(&name.as_str()) {
                return Err(format!(
                    "claim {name:?} is reserved or empty (reserved: {})",
                    RESERVED_CLAIMS.join(" ")
                ));
            }
            let value = match value {
                serde_json::Value::String(s) => {
                    let t = Template::parse(&s).map_err(|e| format!("claim {name:?}: {e}"))?;
                    if t.bound() > CLAIM_MAX_BYTES {
                        return Err(format!(
                            "claim {name:?} can be up to {} bytes, more than a token can hold ({CLAIM_MAX_BYTES}); \
                             declare shorter bounds such as {{tag:KEY|64}}",
                            t.bound()
                        ));
                    }
                    ClaimValue::Template(t)
                }
                other => {
                    let len = serde_json::to_string(&other).map_or(usize::MAX, |s| s.len());
                    if len > CLAIM_MAX_BYTES {
                        return Err(format!(
                            "claim {name:?} is {len} bytes of JSON, more than a token can hold ({CLAIM_MAX_BYTES})"
                        ));
                    }
                    ClaimValue::Json(other)
                }
            };
            claims.push((name, value));
        }
        let session_tags = match doc.session_tags {
            None => None,
            Some(st) => Some(SessionTagRule::parse(st)?),
        };
        let request_tags = match doc.request_tags {
            None => None,
            Some(keys) => {
                if keys.is_empty() {
                    return Err("request_tags must not be an empty list".into());
                }
                Some(glob_keys("request_tags", &keys)?)
            }
        };
        Ok(Self {
            sub,
            claims,
            session_tags,
            request_tags,
        })
    }

    /// The fields as written, for a round trip back to JSON.
    pub fn to_doc(&self) -> ShapeDoc {
        let sources = |g: &[Glob]| g.iter().map(|g| g.pattern().to_owned()).collect();
        ShapeDoc {
            sub: self.sub.as_ref().map(|t| t.source().to_owned()),
            claims: (!self.claims.is_empty()).then(|| {
                self.claims
                    .iter()
                    .map(|(k, v)| {
                        let v = match v {
                            ClaimValue::Template(t) => serde_json::Value::String(t.source().into()),
                            ClaimValue::Json(j) => j.clone(),
                        };
                        (k.clone(), v)
                    })
                    .collect()
            }),
            session_tags: self.session_tags.as_ref().map(|s| SessionTagsDoc {
                keys: sources(&s.keys),
                transitive: sources(&s.transitive),
            }),
            request_tags: self.request_tags.as_deref().map(sources),
        }
    }

    /// The `sub` template, if the rule sets one.
    pub fn sub(&self) -> Option<&Template> {
        self.sub.as_ref()
    }

    /// Whether this rule changes the token at all (or accepts request tags).
    pub fn is_empty(&self) -> bool {
        self == &Self::default()
    }

    /// Whether the principal's tags must be looked up for this rule (its own fields only; the deployment-wide
    /// `IAMJWT_SESSION_TAGS` is the issuer's concern).
    pub fn needs_tags(&self) -> bool {
        self.session_tags.is_some()
            || self.sub.as_ref().is_some_and(Template::needs_tags)
            || self.claims.iter().any(|(_, v)| match v {
                ClaimValue::Template(t) => t.needs_tags(),
                ClaimValue::Json(_) => false,
            })
    }

    pub fn has_session_tags(&self) -> bool {
        self.session_tags.is_some()
    }

    /// The first request-tag key this rule does not allow.
    pub fn refused_request_tag<'a>(
        &self,
        mut keys: impl Iterator<Item = &'a String>,
    ) -> Option<&'a String> {
        keys.find(|k| {
            !self
                .request_tags
                .as_ref()
                .is_some_and(|globs| globs.iter().any(|g| g.matches(k)))
        })
    }

    /// Shapes `claims` for one caller (see the module docs for what fails and what is dropped).
    pub fn apply(&self, claims: &mut Claims, inputs: ShapeInputs<'_>) -> Result<(), Error> {
        let tags = inputs.principal_tags;
        if let Some(t) = &self.sub {
            let sub = t.render(inputs.caller, tags).map_err(|m| {
                Error::AccessDenied(format!("the policy's sub template {:?}: {m}", t.source()))
            })?;
            if sub.is_empty() {
                return Err(Error::AccessDenied(format!(
                    "the policy's sub template {:?} renders empty for this caller",
                    t.source()
                )));
            }
            claims.sub = sub;
        }
        for (name, value) in &self.claims {
            let v = match value {
                ClaimValue::Json(j) => j.clone(),
                ClaimValue::Template(t) => match t.render(inputs.caller, tags) {
                    Ok(s) => serde_json::Value::String(s),
                    // One claim without its value is left out; the rest of the token stands (DESIGN.md §4).
                    Err(_) => continue,
                },
            };
            claims.extra.insert(name.clone(), v);
        }
        let selection = match (&self.session_tags, inputs.all_session_tags) {
            (Some(rule), _) => Some(Some(rule)),
            (None, true) => Some(None),
            (None, false) => None,
        };
        if let Some(rule) = selection {
            let all = tags.ok_or_else(|| {
                Error::InconsistentState(
                    "session tags needed but principal tags were not looked up".into(),
                )
            })?;
            claims.tags = session_tags(all, rule)?;
        }
        Ok(())
    }
}

impl SessionTagRule {
    fn parse(doc: SessionTagsDoc) -> Result<Self, String> {
        if doc.keys.is_empty() {
            return Err("session_tags.keys must list at least one key or pattern".into());
        }
        let keys = glob_keys("session_tags.keys", &doc.keys)?;
        let literal = doc.keys.iter().filter(|k| !k.contains('*')).count();
        if literal > MAX_SESSION_TAGS {
            return Err(format!(
                "session_tags.keys names {literal} tags; AWS accepts at most {MAX_SESSION_TAGS} session tags"
            ));
        }
        let transitive = glob_keys("session_tags.transitive", &doc.transitive)?;
        for t in doc.transitive.iter().filter(|t| !t.contains('*')) {
            if !keys.iter().any(|g| g.matches(t)) {
                return Err(format!(
                    "session_tags.transitive key {t:?} is not selected by session_tags.keys"
                ));
            }
        }
        Ok(Self { keys, transitive })
    }
}

/// Tag-key globs: each literal part must be tag characters, a literal key a valid key.
fn glob_keys(field: &str, patterns: &[String]) -> Result<Vec<Glob>, String> {
    patterns
        .iter()
        .map(|p| {
            let check = if p.contains('*') {
                let lit: String = p.chars().filter(|c| *c != '*').collect();
                if p.chars().count() > TAG_KEY_MAX_CHARS {
                    Err(format!("pattern {p:?} is longer than a tag key can be"))
                } else if let Some(c) = lit.chars().find(|c| !template::is_tag_char(*c)) {
                    Err(format!(
                        "pattern {p:?} has {c:?}, outside AWS's tag characters"
                    ))
                } else {
                    Ok(())
                }
            } else {
                template::check_tag_key(p)
            };
            check.map_err(|e| format!("{field}: {e}"))?;
            Ok(Glob::new(p))
        })
        .collect()
}

/// The `https://aws.amazon.com/tags` claim from the principal's tags: every tag (`rule` = `None`,
/// `IAMJWT_SESSION_TAGS`) or the rule's selection. `None` when no tag is selected. Anything AWS would reject is an
/// error, so STS never sees a token it refuses.
pub fn session_tags(
    tags: &PrincipalTags,
    rule: Option<&SessionTagRule>,
) -> Result<Option<SessionTags>, Error> {
    let deny = |why: String| Error::AccessDenied(format!("session tags: {why}"));
    let selected: Vec<(&String, &String)> = tags
        .iter()
        .filter(|(k, _)| rule.is_none_or(|r| r.keys.iter().any(|g| g.matches(k))))
        .collect();
    if selected.is_empty() {
        return Ok(None);
    }
    if selected.len() > MAX_SESSION_TAGS {
        return Err(deny(format!(
            "the principal has {} tags to send and AWS accepts at most {MAX_SESSION_TAGS}; narrow the rule's \
             session_tags.keys",
            selected.len()
        )));
    }
    let mut out = SessionTags::default();
    let mut lower = std::collections::BTreeSet::new();
    for (k, v) in selected {
        template::check_tag_key(k).map_err(&deny)?;
        template::check_tag_value(k, v).map_err(&deny)?;
        if !lower.insert(k.to_lowercase()) {
            return Err(deny(format!(
                "tag keys differing only in case ({k:?}); AWS treats them as one"
            )));
        }
        if rule.is_some_and(|r| r.transitive.iter().any(|g| g.matches(k))) {
            out.transitive_tag_keys.push(k.clone());
        }
        out.principal_tags.insert(k.clone(), vec![v.clone()]);
    }
    Ok(Some(out))
}

#[cfg(test)]
mod tests;
