//! Claim templates (DESIGN.md §4): `"{account}/{name}"`, `"{tag:team}@example.com"`.
//!
//! A template is parsed once, at start-up, into literal text and variables; every variable has a maximum length in
//! bytes (AWS's own limit for that value, or a tighter `|N` the template declares), so the longest output a template
//! can ever produce — its [`Template::bound`] — is known before the first request and can be checked against a
//! verifier's limit. Rendering never truncates: a value longer than its variable's bound counts as having no value,
//! so the output never exceeds the bound and two different principals never collapse onto one truncated string.
//!
//! Syntax: `{var}` or `{var|N}` (N = the most bytes the value may have), `{{` and `}}` for literal braces.
//! Variables: `principal_arn caller_arn partition account principal_type name session_name principal_id org_id`
//! and `tag:KEY` (the principal's IAM tag `KEY`).

use crate::identity::{Caller, PrincipalKind};
use crate::jws::MAX_SIGNING_INPUT;
use crate::limits::{
    ACCOUNT_ID_DIGITS, CONTEXT_VALUE_MAX_CHARS, IAM_NAME_CHARS, IAM_PATH_MAX_CHARS,
    ORG_ID_SUFFIX_CHARS, PARTITION_MAX_CHARS, SESSION_NAME_CHARS, TAG_KEY_MAX_CHARS,
    TAG_VALUE_MAX_CHARS,
};
use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;

/// The principal's IAM tags, key → value.
pub type PrincipalTags = BTreeMap<String, String>;

/// A `|N` bound may not exceed this (nothing we emit can be larger than a KMS signing input).
const MAX_DECLARED_BOUND: usize = MAX_SIGNING_INPUT;

/// One template variable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Var {
    PrincipalArn,
    CallerArn,
    Partition,
    Account,
    PrincipalType,
    Name,
    SessionName,
    PrincipalId,
    OrgId,
    Tag(String),
}

impl Var {
    /// The names, as written in templates (without `tag:KEY`).
    pub const NAMES: [&'static str; 9] = [
        "principal_arn",
        "caller_arn",
        "partition",
        "account",
        "principal_type",
        "name",
        "session_name",
        "principal_id",
        "org_id",
    ];

    fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "principal_arn" => Self::PrincipalArn,
            "caller_arn" => Self::CallerArn,
            "partition" => Self::Partition,
            "account" => Self::Account,
            "principal_type" => Self::PrincipalType,
            "name" => Self::Name,
            "session_name" => Self::SessionName,
            "principal_id" => Self::PrincipalId,
            "org_id" => Self::OrgId,
            _ => Self::Tag(s.strip_prefix("tag:")?.to_owned()),
        })
    }

    /// The longest value (bytes) AWS can give this variable, from the limits the identity parser enforces
    /// ([`crate::limits`]): partition, IAM names, user path, request-context values, org ids, and tag values of up
    /// to 4 UTF-8 bytes per character. Every value but a tag's is ASCII, so characters are bytes.
    pub fn natural_bound(&self) -> usize {
        const NAME: usize = *IAM_NAME_CHARS.end();
        match self {
            // arn: + partition + :iam:: + account + :user + path + name (the longest caller ARN; a role ARN and an
            // assumed-role ARN are shorter).
            Self::PrincipalArn | Self::CallerArn => {
                "arn:".len()
                    + PARTITION_MAX_CHARS
                    + ":iam::".len()
                    + ACCOUNT_ID_DIGITS
                    + ":user".len()
                    + IAM_PATH_MAX_CHARS
                    + NAME
            }
            Self::Partition => PARTITION_MAX_CHARS,
            Self::Account => ACCOUNT_ID_DIGITS,
            Self::PrincipalType => "FederatedUser".len(),
            Self::Name => NAME,
            Self::SessionName => *SESSION_NAME_CHARS.end(),
            Self::PrincipalId => CONTEXT_VALUE_MAX_CHARS,
            Self::OrgId => "o-".len() + *ORG_ID_SUFFIX_CHARS.end(),
            Self::Tag(_) => TAG_VALUE_MAX_CHARS * 4,
        }
    }

    /// Whether the principal's tags are needed to render this variable.
    pub fn is_tag(&self) -> bool {
        matches!(self, Self::Tag(_))
    }
}

impl fmt::Display for Var {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self {
            Self::Tag(k) => return write!(f, "{{tag:{k}}}"),
            Self::PrincipalArn => "principal_arn",
            Self::CallerArn => "caller_arn",
            Self::Partition => "partition",
            Self::Account => "account",
            Self::PrincipalType => "principal_type",
            Self::Name => "name",
            Self::SessionName => "session_name",
            Self::PrincipalId => "principal_id",
            Self::OrgId => "org_id",
        };
        write!(f, "{{{name}}}")
    }
}

/// One piece of a parsed template: literal text (escapes resolved; never two in a row) or a variable with the most
/// bytes its value may have.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Piece {
    Lit(String),
    Var { var: Var, bound: usize },
}

/// A parsed template. Keeps its source so a policy can be written back out unchanged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    source: String,
    pieces: Vec<Piece>,
    bound: usize,
}

/// Why a template did not render: this variable had no value (or one longer than its bound).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Missing(pub Var);

impl fmt::Display for Missing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} has no value for this caller", self.0)
    }
}

impl Template {
    /// Parses a template; the error says what is wrong and where.
    pub fn parse(source: &str) -> Result<Self, String> {
        let mut pieces = Vec::new();
        let mut lit = String::new();
        let mut rest = source;
        while let Some(i) = rest.find(['{', '}']) {
            lit.push_str(&rest[..i]);
            let brace = rest.as_bytes()[i];
            let after = &rest[i + 1..];
            if after.as_bytes().first() == Some(&brace) {
                lit.push(char::from(brace));
                rest = &after[1..];
                continue;
            }
            if brace == b'}' {
                return Err(format!(
                    "a lone '}}' at byte {i} of {source:?} (write '}}}}' for a literal brace)"
                ));
            }
            let Some(end) = after.find('}') else {
                return Err(format!("'{{' without a closing '}}' in {source:?}"));
            };
            let inner = &after[..end];
            if inner.contains('{') {
                return Err(format!("'{{' inside a variable in {source:?}"));
            }
            let (name, declared) = match inner.split_once('|') {
                Some((n, b)) => {
                    let b: usize = b
                        .parse()
                        .ok()
                        .filter(|b| (1..=MAX_DECLARED_BOUND).contains(b))
                        .ok_or_else(|| {
                            format!(
                                "bound {b:?} in {{{inner}}} must be a whole number of bytes, 1..={MAX_DECLARED_BOUND}"
                            )
                        })?;
                    (n, Some(b))
                }
                None => (inner, None),
            };
            let var = Var::parse(name).ok_or_else(|| {
                format!(
                    "unknown variable {{{name}}}: expected one of {}, or tag:KEY",
                    Var::NAMES.join(", ")
                )
            })?;
            if let Var::Tag(key) = &var
                && let Err(e) = check_tag_key(key)
            {
                return Err(format!("in {{{inner}}}: {e}"));
            }
            let natural = var.natural_bound();
            let bound = declared.map_or(natural, |d| d.min(natural));
            if !lit.is_empty() {
                pieces.push(Piece::Lit(std::mem::take(&mut lit)));
            }
            pieces.push(Piece::Var { var, bound });
            rest = &after[end + 1..];
        }
        lit.push_str(rest);
        if !lit.is_empty() {
            pieces.push(Piece::Lit(lit));
        }
        let bound = pieces
            .iter()
            .map(|p| match p {
                Piece::Lit(s) => s.len(),
                Piece::Var { bound, .. } => *bound,
            })
            .sum();
        Ok(Self {
            source: source.to_owned(),
            pieces,
            bound,
        })
    }

    /// The template as written.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// The most bytes [`Template::render`] can ever return.
    pub fn bound(&self) -> usize {
        self.bound
    }

    /// The literal text and variables, in order.
    pub fn pieces(&self) -> &[Piece] {
        &self.pieces
    }

    pub fn vars(&self) -> impl Iterator<Item = &Var> {
        self.pieces.iter().filter_map(|p| match p {
            Piece::Var { var, .. } => Some(var),
            Piece::Lit(_) => None,
        })
    }

    /// Whether rendering needs the principal's tags.
    pub fn needs_tags(&self) -> bool {
        self.vars().any(Var::is_tag)
    }

    /// Renders for one caller. `tags` is `None` when the principal's tags were not looked up; a `{tag:…}` variable
    /// then has no value (callers look tags up whenever [`Template::needs_tags`] says so).
    pub fn render(&self, caller: &Caller, tags: Option<&PrincipalTags>) -> Result<String, Missing> {
        let mut out = String::with_capacity(self.bound.min(256));
        for p in &self.pieces {
            match p {
                Piece::Lit(s) => out.push_str(s),
                Piece::Var { var, bound } => match value(var, caller, tags) {
                    Some(v) if v.len() <= *bound => out.push_str(&v),
                    _ => return Err(Missing(var.clone())),
                },
            }
        }
        Ok(out)
    }
}

fn value<'a>(
    var: &Var,
    caller: &'a Caller,
    tags: Option<&'a PrincipalTags>,
) -> Option<Cow<'a, str>> {
    let p = &caller.principal;
    Some(match var {
        Var::PrincipalArn => Cow::Owned(p.sub()),
        Var::CallerArn => Cow::Borrowed(p.arn()),
        Var::Partition => Cow::Borrowed(p.partition()),
        Var::Account => Cow::Borrowed(p.account().as_str()),
        Var::PrincipalType => Cow::Borrowed(p.principal_type()),
        Var::Name => Cow::Borrowed(match p.kind() {
            PrincipalKind::AssumedRole { role, .. } => role.as_str(),
            PrincipalKind::User { name, .. } | PrincipalKind::FederatedUser { name } => {
                name.as_str()
            }
            PrincipalKind::Root => return None,
        }),
        Var::SessionName => Cow::Borrowed(p.session_name()?),
        Var::PrincipalId => Cow::Borrowed(caller.principal_id.as_deref()?),
        Var::OrgId => Cow::Borrowed(caller.org_id.as_deref()?),
        Var::Tag(k) => Cow::Borrowed(tags?.get(k)?.as_str()),
    })
}

/// AWS's tag character set: letters, digits, white space and `_ . : / = + - @` (`[\p{L}\p{Z}\p{N}_.:/=+\-@]`).
pub fn is_tag_char(c: char) -> bool {
    c.is_alphanumeric()
        || c == ' '
        || "_.:/=+-@".contains(c)
        || (!c.is_ascii() && c.is_whitespace())
}

/// A tag key AWS accepts: 1–128 characters of the tag charset, not in the reserved `aws:` namespace.
pub fn check_tag_key(key: &str) -> Result<(), String> {
    let n = key.chars().count();
    if !(1..=TAG_KEY_MAX_CHARS).contains(&n) {
        return Err(format!(
            "tag key {:?} must be 1 to {TAG_KEY_MAX_CHARS} characters",
            crate::types::truncate(key, 40)
        ));
    }
    if let Some(c) = key.chars().find(|c| !is_tag_char(*c)) {
        return Err(format!(
            "tag key {:?} has {c:?}, outside AWS's tag characters (letters, digits, spaces, _ . : / = + - @)",
            crate::types::truncate(key, 40)
        ));
    }
    if key.len() >= 4 && key[..4].eq_ignore_ascii_case("aws:") {
        return Err(format!(
            "tag key {:?} is in the reserved aws: namespace",
            crate::types::truncate(key, 40)
        ));
    }
    Ok(())
}

/// A tag value AWS accepts: 0–256 characters of the tag charset.
pub fn check_tag_value(key: &str, value: &str) -> Result<(), String> {
    if value.chars().count() > TAG_VALUE_MAX_CHARS {
        return Err(format!(
            "the value of tag {:?} is longer than {TAG_VALUE_MAX_CHARS} characters",
            crate::types::truncate(key, 40)
        ));
    }
    if let Some(c) = value.chars().find(|c| !is_tag_char(*c)) {
        return Err(format!(
            "the value of tag {:?} has {c:?}, outside AWS's tag characters",
            crate::types::truncate(key, 40)
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::Principal;

    fn caller(arn: &str, id: Option<&str>, org: Option<&str>) -> Caller {
        Caller {
            principal: Principal::parse(arn).unwrap(),
            principal_id: id.map(str::to_owned),
            org_id: org.map(str::to_owned),
            source_ip: None,
        }
    }

    const ALL: &str = "{principal_arn}|{caller_arn}|{partition}|{account}|{principal_type}|{name}|{session_name}|{principal_id}|{org_id}|{tag:team}";

    fn render_all(c: &Caller, tags: &PrincipalTags) -> Vec<Result<String, Missing>> {
        ALL.split('|')
            .map(|t| Template::parse(t).unwrap().render(c, Some(tags)))
            .collect()
    }

    #[test]
    fn every_variable_for_every_principal_type_in_every_partition() {
        let tags = PrincipalTags::from([("team".into(), "blue team".into())]);
        for p in ["aws", "aws-cn", "aws-us-gov", "aws-iso-b"] {
            let role = caller(
                &format!("arn:{p}:sts::111122223333:assumed-role/ci-deploy/run-7"),
                Some("AROAEXAMPLE:run-7"),
                Some("o-a1b2c3d4e5"),
            );
            let got = render_all(&role, &tags);
            let want = [
                format!("arn:{p}:iam::111122223333:role/ci-deploy"),
                format!("arn:{p}:sts::111122223333:assumed-role/ci-deploy/run-7"),
                p.to_owned(),
                "111122223333".into(),
                "AssumedRole".into(),
                "ci-deploy".into(),
                "run-7".into(),
                "AROAEXAMPLE:run-7".into(),
                "o-a1b2c3d4e5".into(),
                "blue team".into(),
            ];
            assert_eq!(got, want.map(Ok).to_vec(), "{p} role");

            let user_arn = format!("arn:{p}:iam::111122223333:user/division/team/Bob");
            let user = caller(&user_arn, Some("AIDAEXAMPLE"), None);
            let got = render_all(&user, &tags);
            assert_eq!(got[0], Ok(user_arn.clone()));
            assert_eq!(got[1], Ok(user_arn.clone()));
            assert_eq!(got[4], Ok("User".into()));
            assert_eq!(got[5], Ok("Bob".into()), "name without the path");
            assert_eq!(got[6], Err(Missing(Var::SessionName)));
            assert_eq!(got[7], Ok("AIDAEXAMPLE".into()));
            assert_eq!(got[8], Err(Missing(Var::OrgId)));

            let fed_arn = format!("arn:{p}:sts::111122223333:federated-user/bob@example.com");
            let fed = caller(&fed_arn, None, None);
            let got = render_all(&fed, &PrincipalTags::new());
            assert_eq!(got[0], Ok(fed_arn.clone()));
            assert_eq!(got[4], Ok("FederatedUser".into()));
            assert_eq!(got[5], Ok("bob@example.com".into()));
            assert_eq!(got[6], Err(Missing(Var::SessionName)));
            assert_eq!(got[7], Err(Missing(Var::PrincipalId)));
            assert_eq!(got[9], Err(Missing(Var::Tag("team".into()))));

            let root = caller(&format!("arn:{p}:iam::111122223333:root"), None, None);
            assert_eq!(render_all(&root, &tags)[5], Err(Missing(Var::Name)));
        }
    }

    #[test]
    fn literals_escapes_and_bounds() {
        let c = caller("arn:aws:sts::111122223333:assumed-role/ci/s1", None, None);
        let t = Template::parse("{{{account}}}/{name}}}").unwrap();
        assert_eq!(t.render(&c, None).unwrap(), "{111122223333}/ci}");
        assert_eq!(t.bound(), 1 + 12 + 2 + 64 + 1);
        let t = Template::parse("{name|2}").unwrap();
        assert_eq!(t.bound(), 2);
        assert_eq!(t.render(&c, None).unwrap(), "ci");
        let t = Template::parse("{name|1}").unwrap();
        assert_eq!(
            t.render(&c, None),
            Err(Missing(Var::Name)),
            "too long counts as missing, never truncated"
        );
        assert_eq!(Template::parse("x{tag:a}").unwrap().bound(), 1 + 1024);
        assert_eq!(Template::parse("{tag:a|64}").unwrap().bound(), 64);
        assert_eq!(Template::parse("{account|999}").unwrap().bound(), 12);
        assert!(Template::parse("{tag:team}").unwrap().needs_tags());
        assert!(!Template::parse("{name}").unwrap().needs_tags());
        assert_eq!(Template::parse("plain").unwrap().vars().count(), 0);
    }

    #[test]
    fn refusals_name_the_problem() {
        for (bad, says) in [
            ("{nope}", "unknown variable {nope}"),
            ("{Account}", "unknown variable"),
            ("{tag:}", "1 to 128"),
            ("{tag:aws:x}", "reserved"),
            ("{tag:a!b}", "outside AWS's tag characters"),
            ("{account", "without a closing"),
            ("account}", "lone"),
            ("{acc{ount}", "inside a variable"),
            ("{name|0}", "bound"),
            ("{name|x}", "bound"),
            ("{name|5000}", "bound"),
            ("{}", "unknown variable"),
        ] {
            let e = Template::parse(bad).unwrap_err();
            assert!(e.contains(says), "{bad:?}: {e}");
        }
    }

    #[test]
    fn tag_charset() {
        assert!(check_tag_key("cost-center:team_a/b=c+d@e.f 1").is_ok());
        assert!(check_tag_key("équipe").is_ok());
        assert!(check_tag_key("AWS:x").is_err());
        assert!(check_tag_key(&"k".repeat(129)).is_err());
        assert!(check_tag_value("k", "").is_ok());
        assert!(check_tag_value("k", &"v".repeat(256)).is_ok());
        assert!(check_tag_value("k", &"v".repeat(257)).is_err());
        assert!(check_tag_value("k", "a\nb").is_err());
        assert!(check_tag_value("k", "a,b").is_err());
    }
}
