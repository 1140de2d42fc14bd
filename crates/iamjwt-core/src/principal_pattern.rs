//! Principal patterns (DESIGN.md §4): `arn:PARTITION:iam::ACCOUNT:role/NAME` and its kin, parsed at start into the
//! fields of an ARN and matched against the caller's principal field by field — never one glob over the string,
//! since IAM paths may hold any printable ASCII, `:` and `role/` included.
//!
//! - partition and account: one glob each; `*` stays inside its field;
//! - resource type: exact — `role` (its assumed-role sessions match), `user`, `federated-user` or `root` — and the
//!   service is the one the principal's ARN has (`sts` for federated users, `iam` for the rest);
//! - path and name: one glob per `/`-separated segment, so `*` never crosses `/`. A user pattern may have one whole
//!   segment `**`, which matches any number of path segments (`user/**/*` is every user). A role's caller ARN
//!   carries no role path (STS drops it), so a role pattern is a name alone.
//!
//! A pattern no principal could ever match — a role path, an assumed-role ARN, a character IAM does not allow — is
//! refused at start rather than left to deny silently.

use crate::glob::Glob;
use crate::identity::{
    Principal, PrincipalKind, ResourceType, is_name_char, is_path_char, valid_partition,
};
use crate::limits::{ACCOUNT_ID_DIGITS, CALLER_ARN_MAX_CHARS};

/// One segment of a pattern's path.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Glob(Glob),
    /// `**`: any number of segments, none included.
    AnyDepth,
}

/// A validated principal pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrincipalPattern {
    source: String,
    partition: Glob,
    account: Glob,
    resource_type: ResourceType,
    /// Users only; empty for the other types.
    path: Vec<Segment>,
    /// `None` for `root`.
    name: Option<Glob>,
}

const SHAPES: &str = "arn:PARTITION:iam::ACCOUNT:role/NAME, …:user/PATH/NAME, …:root, or \
                      arn:PARTITION:sts::ACCOUNT:federated-user/NAME";

impl PrincipalPattern {
    /// Parses one pattern; the error is a sentence naming the pattern and what to write instead.
    pub fn parse(source: &str) -> Result<Self, String> {
        let bad = |why: String| format!("principal pattern {source:?} {why}");
        if source.len() > CALLER_ARN_MAX_CHARS {
            return Err(bad(format!(
                "is longer than a caller ARN can be ({CALLER_ARN_MAX_CHARS})"
            )));
        }
        let fields: Vec<&str> = source.splitn(6, ':').collect();
        let ["arn", partition, service, region, account, resource] = fields[..] else {
            return Err(bad(format!("is not an ARN: expected {SHAPES}")));
        };
        let partition_ok = if partition.contains('*') {
            partition
                .chars()
                .all(|c| c == '*' || c == '-' || c.is_ascii_lowercase())
        } else {
            valid_partition(partition)
        };
        if !partition_ok {
            return Err(bad(format!(
                "has partition {partition:?}: expected aws, aws-cn, aws-us-gov, … or a glob of one (*, aws-*)"
            )));
        }
        if !region.is_empty() {
            return Err(bad(
                "has a region: IAM and STS principal ARNs have none (arn:PARTITION:iam::ACCOUNT:…)"
                    .into(),
            ));
        }
        let digits = account.bytes().filter(u8::is_ascii_digit).count();
        let account_ok = !account.is_empty()
            && account.bytes().all(|b| b == b'*' || b.is_ascii_digit())
            && if account.contains('*') {
                digits <= ACCOUNT_ID_DIGITS
            } else {
                digits == ACCOUNT_ID_DIGITS
            };
        if !account_ok {
            return Err(bad(format!(
                "has account {account:?}: expected {ACCOUNT_ID_DIGITS} digits, or a glob of them (*, 1111*)"
            )));
        }
        let (type_name, rest) = match resource.split_once('/') {
            Some((t, rest)) => (t, Some(rest)),
            None => (resource, None),
        };
        let resource_type = match ResourceType::parse(type_name) {
            Some(t) => t,
            None if type_name == "assumed-role" => {
                return Err(bad(format!(
                    "names an assumed-role session: a session matches its role's pattern, \
                     arn:{partition}:iam::{account}:role/NAME"
                )));
            }
            None => {
                return Err(bad(format!(
                    "has resource type {type_name:?}: expected role, user, federated-user or root, \
                     written out (a type is matched exactly, never by *)"
                )));
            }
        };
        if service != resource_type.service() {
            return Err(bad(format!(
                "has service {service:?}: a {resource_type} ARN is arn:{partition}:{}::{account}:{resource_type}…",
                resource_type.service()
            )));
        }
        let name_glob = |name: &str| -> Result<Glob, String> {
            if name.is_empty() {
                return Err(bad(format!("has an empty {resource_type} name")));
            }
            if name.contains("**") {
                return Err(bad(
                    "ends in **: ** stands for path segments; end with a name glob such as *"
                        .into(),
                ));
            }
            match name.chars().find(|c| *c != '*' && !is_name_char(*c)) {
                Some(c) => Err(bad(format!(
                    "has {c:?} in the {resource_type} name: IAM names are letters, digits and _+=,.@-"
                ))),
                None => Ok(Glob::new(name)),
            }
        };
        let (path, name) = match (resource_type, rest) {
            (ResourceType::Root, None) => (Vec::new(), None),
            (ResourceType::Root, Some(_)) => {
                return Err(bad(format!(
                    "has a name after root: the root user is arn:{partition}:iam::{account}:root"
                )));
            }
            (_, None) => {
                return Err(bad(format!(
                    "has no name: write {resource_type}/NAME (a glob such as {resource_type}/ci-*)"
                )));
            }
            (ResourceType::Role | ResourceType::FederatedUser, Some(rest)) => {
                if rest.contains('/') {
                    return Err(bad(format!(
                        "has a path: the caller's ARN carries none for a {resource_type} (STS drops a role's \
                         path), so match the name alone, {resource_type}/NAME"
                    )));
                }
                (Vec::new(), Some(name_glob(rest)?))
            }
            (ResourceType::User, Some(rest)) => {
                let (dirs, name): (Vec<&str>, &str) = match rest.rsplit_once('/') {
                    Some((dirs, name)) => (dirs.split('/').collect(), name),
                    None => (Vec::new(), rest),
                };
                let mut path = Vec::with_capacity(dirs.len());
                for seg in dirs {
                    if seg == "**" {
                        if path.contains(&Segment::AnyDepth) {
                            return Err(bad("has ** twice: one ** matches any depth".into()));
                        }
                        path.push(Segment::AnyDepth);
                        continue;
                    }
                    if seg.is_empty() {
                        return Err(bad("has an empty path segment (//)".into()));
                    }
                    if let Some(c) = seg.chars().find(|c| !is_path_char(*c)) {
                        return Err(bad(format!(
                            "has {c:?} in the path: IAM paths are printable ASCII"
                        )));
                    }
                    path.push(Segment::Glob(Glob::new(seg)));
                }
                (path, Some(name_glob(name)?))
            }
        };
        Ok(Self {
            source: source.to_owned(),
            partition: Glob::new(partition),
            account: Glob::new(account),
            resource_type,
            path,
            name,
        })
    }

    /// The pattern as written.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// The one type of principal this pattern can match.
    pub fn resource_type(&self) -> ResourceType {
        self.resource_type
    }

    /// The account, when the pattern names exactly one.
    pub fn literal_account(&self) -> Option<&str> {
        self.account.is_literal().then_some(self.account.pattern())
    }

    /// Field by field: partition, account, resource type, path, name.
    pub fn matches(&self, p: &Principal) -> bool {
        if !(self.partition.matches(p.partition())
            && self.account.matches(p.account().as_str())
            && self.resource_type == p.resource_type())
        {
            return false;
        }
        let name_matches = |n: &str| self.name.as_ref().is_some_and(|g| g.matches(n));
        match p.kind() {
            PrincipalKind::AssumedRole { role, .. } => name_matches(role),
            PrincipalKind::FederatedUser { name } => name_matches(name),
            PrincipalKind::User { path, name } => {
                let trimmed = path.trim_matches('/');
                let segments: Vec<&str> = if trimmed.is_empty() {
                    Vec::new()
                } else {
                    trimmed.split('/').collect()
                };
                path_matches(&self.path, &segments) && name_matches(name)
            }
            PrincipalKind::Root => true,
        }
    }
}

/// Segment by segment; with `**`, the segments before it match a prefix and those after it a suffix.
fn path_matches(pattern: &[Segment], segments: &[&str]) -> bool {
    let all = |pats: &[Segment], segs: &[&str]| {
        pats.iter()
            .zip(segs)
            .all(|(p, s)| matches!(p, Segment::Glob(g) if g.matches(s)))
    };
    match pattern.iter().position(|s| *s == Segment::AnyDepth) {
        None => pattern.len() == segments.len() && all(pattern, segments),
        Some(i) => {
            let (before, after) = (&pattern[..i], &pattern[i + 1..]);
            segments.len() >= before.len() + after.len()
                && all(before, &segments[..before.len()])
                && all(after, &segments[segments.len() - after.len()..])
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(pattern: &str, arn: &str) -> bool {
        PrincipalPattern::parse(pattern)
            .unwrap()
            .matches(&Principal::parse(arn).unwrap())
    }

    #[test]
    fn fields_and_segments() {
        for (pattern, arn, want) in [
            (
                "arn:aws:iam::111122223333:role/ci-*",
                "arn:aws:sts::111122223333:assumed-role/ci-x/s1",
                true,
            ),
            (
                "arn:*:iam::*:role/*",
                "arn:aws-us-gov:sts::444455556666:assumed-role/r/s1",
                true,
            ),
            (
                "arn:aws-*:iam::*:role/*",
                "arn:aws:sts::444455556666:assumed-role/r/s1",
                false,
            ),
            (
                "arn:aws:iam::1111*:role/r",
                "arn:aws:sts::111122223333:assumed-role/r/s1",
                true,
            ),
            (
                "arn:aws:iam::111122223333:user/bob",
                "arn:aws:iam::111122223333:user/bob",
                true,
            ),
            (
                "arn:aws:iam::111122223333:user/bob",
                "arn:aws:iam::111122223333:user/team/bob",
                false,
            ),
            (
                "arn:aws:iam::111122223333:user/team/*",
                "arn:aws:iam::111122223333:user/team/bob",
                true,
            ),
            (
                "arn:aws:iam::111122223333:user/t*/*",
                "arn:aws:iam::111122223333:user/team/sub/bob",
                false,
            ),
            (
                "arn:aws:iam::111122223333:user/**/*",
                "arn:aws:iam::111122223333:user/bob",
                true,
            ),
            (
                "arn:aws:iam::111122223333:user/**/*",
                "arn:aws:iam::111122223333:user/a/b:c/d/bob",
                true,
            ),
            (
                "arn:aws:iam::111122223333:user/a/**/d/b*",
                "arn:aws:iam::111122223333:user/a/b:c/d/bob",
                true,
            ),
            (
                "arn:aws:iam::111122223333:user/a/**/d/b*",
                "arn:aws:iam::111122223333:user/a/bob",
                false,
            ),
            (
                "arn:aws:iam::111122223333:user/x:role/*",
                "arn:aws:iam::111122223333:user/x:role/bob",
                true,
            ),
            (
                "arn:aws:sts::111122223333:federated-user/*",
                "arn:aws:sts::111122223333:federated-user/bob",
                true,
            ),
            (
                "arn:aws:iam::*:root",
                "arn:aws:iam::111122223333:root",
                true,
            ),
        ] {
            assert_eq!(m(pattern, arn), want, "{pattern} vs {arn}");
        }
    }

    #[test]
    fn what_a_pattern_says_about_itself() {
        let p = PrincipalPattern::parse("arn:aws:iam::111122223333:role/ci-*").unwrap();
        assert_eq!(p.resource_type(), ResourceType::Role);
        assert_eq!(p.literal_account(), Some("111122223333"));
        assert_eq!(p.source(), "arn:aws:iam::111122223333:role/ci-*");
        let p = PrincipalPattern::parse("arn:aws:sts::1*:federated-user/x").unwrap();
        assert_eq!(p.resource_type(), ResourceType::FederatedUser);
        assert_eq!(p.literal_account(), None);
    }

    #[test]
    fn refusals_say_what_to_write() {
        for (bad, says) in [
            ("role/x", "not an ARN"),
            (
                "arn:aws:iam::111122223333:role/team/x",
                "match the name alone",
            ),
            ("arn:aws:sts::111122223333:assumed-role/x/s", "role/NAME"),
            ("arn:aws:iam::111122223333:ro*/x", "written out"),
            ("arn:aws:iam::111122223333:role", "has no name"),
            ("arn:aws:iam::111122223333:root/x", "root user is"),
            ("arn:aws:sts::111122223333:user/x", "service"),
            ("arn:gcp:iam::111122223333:role/x", "partition"),
            ("arn:aws:iam::111122223333:user/**/**/x", "** twice"),
            ("arn:aws:iam::111122223333:user/a/**", "name glob"),
            ("arn:aws:iam::111122223333:user/a b/x", "printable ASCII"),
            ("arn:aws:iam::111122223333:role/a:b", "letters, digits"),
        ] {
            let e = PrincipalPattern::parse(bad).unwrap_err();
            assert!(e.contains(says) && e.contains(bad), "{bad}: {e}");
        }
    }
}
