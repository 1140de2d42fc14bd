//! Caller identity: the IAM ARN that API Gateway verified, turned into a [`Principal`] and a `sub` (DESIGN.md §2).
//!
//! The identity only ever comes from the request context API Gateway fills after SigV4 verification — never from
//! headers or the query. This module parses; it never decides policy (root denial is the issuer's call).

use crate::error::Error;
use crate::limits::{
    ACCOUNT_ID_DIGITS, CALLER_ARN_MAX_CHARS, CONTEXT_VALUE_MAX_CHARS, FEDERATED_USER_NAME_CHARS,
    IAM_NAME_CHARS, IAM_PATH_MAX_CHARS, PARTITION_MAX_CHARS, SESSION_NAME_CHARS,
};
use crate::types::truncate;
use std::fmt;
use std::ops::RangeInclusive;

/// A 12-digit AWS account id.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct AccountId(String);

impl AccountId {
    pub fn parse(s: &str) -> Result<Self, Error> {
        if s.len() == ACCOUNT_ID_DIGITS && s.bytes().all(|b| b.is_ascii_digit()) {
            Ok(Self(s.to_owned()))
        } else {
            Err(Error::AccessDenied(format!(
                "invalid account id {:?}",
                truncate(s, 20)
            )))
        }
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for AccountId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// What kind of IAM principal called.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PrincipalKind {
    /// `arn:P:sts::A:assumed-role/R/S`. The role path is not part of this ARN, so it is not in `sub` either.
    AssumedRole { role: String, session: String },
    /// `arn:P:iam::A:user/path/N`.
    User { path: String, name: String },
    /// `arn:P:sts::A:federated-user/N`.
    FederatedUser { name: String },
    /// `arn:P:iam::A:root`.
    Root,
}

/// The resource type of a principal's ARN, as a policy's principal pattern names it (DESIGN.md §4). An
/// assumed-role session's is its role's: the policy matches the principal, never the session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ResourceType {
    Role,
    User,
    FederatedUser,
    Root,
}

impl ResourceType {
    pub const ALL: [Self; 4] = [Self::Role, Self::User, Self::FederatedUser, Self::Root];

    /// As written in an ARN: `role`, `user`, `federated-user`, `root`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Role => "role",
            Self::User => "user",
            Self::FederatedUser => "federated-user",
            Self::Root => "root",
        }
    }

    /// The service in the principal's ARN: federated users are STS's, the rest IAM's.
    pub fn service(self) -> &'static str {
        match self {
            Self::FederatedUser => "sts",
            Self::Role | Self::User | Self::Root => "iam",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.as_str() == s)
    }
}

impl fmt::Display for ResourceType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A parsed caller ARN.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    partition: String,
    account: AccountId,
    kind: PrincipalKind,
    arn: String,
}

impl Principal {
    /// Parses a caller ARN as API Gateway reports it in `requestContext.identity.userArn`.
    pub fn parse(arn: &str) -> Result<Self, Error> {
        let deny = |why: &str| {
            Error::AccessDenied(format!(
                "unsupported caller ARN {:?}: {why}",
                truncate(arn, 120)
            ))
        };
        if arn.len() > CALLER_ARN_MAX_CHARS {
            return Err(deny("too long"));
        }
        let mut parts = arn.splitn(6, ':');
        let (
            Some("arn"),
            Some(partition),
            Some(service),
            Some(region),
            Some(account),
            Some(resource),
        ) = (
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
        )
        else {
            return Err(deny("not an ARN"));
        };
        if !valid_partition(partition) {
            return Err(deny("unknown partition"));
        }
        if !region.is_empty() {
            return Err(deny("IAM and STS principal ARNs have no region"));
        }
        let account = AccountId::parse(account).map_err(|_| deny("account is not 12 digits"))?;
        let kind = match (service, resource.split_once('/')) {
            ("sts", Some(("assumed-role", rest))) => {
                let (role, session) = rest
                    .split_once('/')
                    .ok_or_else(|| deny("assumed-role without session"))?;
                if !iam_name(role, IAM_NAME_CHARS) {
                    return Err(deny("invalid role name"));
                }
                if !iam_name(session, SESSION_NAME_CHARS) {
                    return Err(deny("invalid session name"));
                }
                PrincipalKind::AssumedRole {
                    role: role.to_owned(),
                    session: session.to_owned(),
                }
            }
            ("sts", Some(("federated-user", name))) => {
                if !iam_name(name, FEDERATED_USER_NAME_CHARS) {
                    return Err(deny("invalid federated user name"));
                }
                PrincipalKind::FederatedUser {
                    name: name.to_owned(),
                }
            }
            ("iam", Some(("user", rest))) => {
                let (path, name) = match rest.rsplit_once('/') {
                    Some((p, n)) => (format!("/{p}/"), n),
                    None => ("/".to_owned(), rest),
                };
                if !iam_name(name, IAM_NAME_CHARS) {
                    return Err(deny("invalid user name"));
                }
                if !iam_path(&path) {
                    return Err(deny("invalid user path"));
                }
                PrincipalKind::User {
                    path,
                    name: name.to_owned(),
                }
            }
            ("iam", None) if resource == "root" => PrincipalKind::Root,
            _ => return Err(deny("not a user, assumed role, federated user or root")),
        };
        Ok(Self {
            partition: partition.to_owned(),
            account,
            kind,
            arn: arn.to_owned(),
        })
    }

    pub fn partition(&self) -> &str {
        &self.partition
    }
    pub fn account(&self) -> &AccountId {
        &self.account
    }
    pub fn kind(&self) -> &PrincipalKind {
        &self.kind
    }
    /// The caller ARN exactly as received.
    pub fn arn(&self) -> &str {
        &self.arn
    }

    /// The `sub` claim: the role ARN for assumed roles, the caller ARN otherwise.
    pub fn sub(&self) -> String {
        match &self.kind {
            PrincipalKind::AssumedRole { role, .. } => {
                format!("arn:{}:iam::{}:role/{role}", self.partition, self.account)
            }
            _ => self.arn.clone(),
        }
    }

    /// The principal's resource type (an assumed role's is `role`).
    pub fn resource_type(&self) -> ResourceType {
        match self.kind {
            PrincipalKind::AssumedRole { .. } => ResourceType::Role,
            PrincipalKind::User { .. } => ResourceType::User,
            PrincipalKind::FederatedUser { .. } => ResourceType::FederatedUser,
            PrincipalKind::Root => ResourceType::Root,
        }
    }

    /// `aws:PrincipalType` vocabulary.
    pub fn principal_type(&self) -> &'static str {
        match self.kind {
            PrincipalKind::AssumedRole { .. } => "AssumedRole",
            PrincipalKind::User { .. } => "User",
            PrincipalKind::FederatedUser { .. } => "FederatedUser",
            PrincipalKind::Root => "Account",
        }
    }

    pub fn session_name(&self) -> Option<&str> {
        match &self.kind {
            PrincipalKind::AssumedRole { session, .. } => Some(session),
            _ => None,
        }
    }

    pub fn is_root(&self) -> bool {
        self.kind == PrincipalKind::Root
    }
}

/// `aws`, `aws-cn`, `aws-us-gov`, `aws-iso`, `aws-iso-b`, `aws-eusc`, … : `aws` then `-[a-z]+` groups.
pub(crate) fn valid_partition(p: &str) -> bool {
    let Some(rest) = p.strip_prefix("aws") else {
        return false;
    };
    p.len() <= PARTITION_MAX_CHARS
        && (rest.is_empty()
            || rest.strip_prefix('-').is_some_and(|r| {
                r.split('-')
                    .all(|seg| !seg.is_empty() && seg.bytes().all(|b| b.is_ascii_lowercase()))
            }))
}

/// IAM's name character set `[\w+=,.@-]` (ASCII word characters) with a length range.
fn iam_name(s: &str, len: RangeInclusive<usize>) -> bool {
    len.contains(&s.len()) && s.chars().all(is_name_char)
}

/// A character of IAM's role, user and session names: `[\w+=,.@-]`, ASCII only.
pub(crate) fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "_+=,.@-".contains(c)
}

/// A character of an IAM path: printable ASCII (`/` separates the segments).
pub(crate) fn is_path_char(c: char) -> bool {
    ('\x21'..='\x7e').contains(&c)
}

/// IAM path: `/` or `/…/` of printable ASCII.
fn iam_path(p: &str) -> bool {
    p.len() <= IAM_PATH_MAX_CHARS
        && p.starts_with('/')
        && p.ends_with('/')
        && p.chars().all(is_path_char)
        && !p.contains("//")
}

/// The verified caller as API Gateway describes it in `requestContext.identity`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub principal: Principal,
    /// `identity.user`: the unique id (`AROA…:session`, `AIDA…`).
    pub principal_id: Option<String>,
    /// `identity.principalOrgId`.
    pub org_id: Option<String>,
    /// `identity.sourceIp`.
    pub source_ip: Option<String>,
}

/// Raw request-context fields, before validation.
#[derive(Debug, Clone, Default)]
pub struct CallerFields<'a> {
    pub user_arn: Option<&'a str>,
    pub account_id: Option<&'a str>,
    pub user: Option<&'a str>,
    pub principal_org_id: Option<&'a str>,
    pub source_ip: Option<&'a str>,
}

impl Caller {
    /// Validates the request-context identity. A missing ARN, an unparseable one, or one whose account
    /// disagrees with `accountId` is denied.
    pub fn from_fields(f: &CallerFields<'_>) -> Result<Self, Error> {
        let arn = f.user_arn.filter(|a| !a.is_empty()).ok_or_else(|| {
            Error::AccessDenied("no caller identity in the request context".into())
        })?;
        let principal = Principal::parse(arn)?;
        if let Some(acct) = f.account_id.filter(|a| !a.is_empty())
            && acct != principal.account().as_str()
        {
            return Err(Error::AccessDenied(
                "caller account does not match the caller ARN".into(),
            ));
        }
        let clean = |v: Option<&str>| {
            v.filter(|s| !s.is_empty() && s.len() <= CONTEXT_VALUE_MAX_CHARS)
                .map(str::to_owned)
        };
        Ok(Self {
            principal,
            principal_id: clean(f.user),
            org_id: clean(f.principal_org_id),
            source_ip: clean(f.source_ip),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sub(arn: &str) -> String {
        match Principal::parse(arn) {
            Ok(p) => p.sub(),
            Err(e) => format!("ERR {e}"),
        }
    }

    #[test]
    fn design_table_in_every_partition() {
        for p in [
            "aws",
            "aws-cn",
            "aws-us-gov",
            "aws-iso",
            "aws-iso-b",
            "aws-eusc",
        ] {
            assert_eq!(
                sub(&format!(
                    "arn:{p}:sts::111122223333:assumed-role/ci-deploy/build-42"
                )),
                format!("arn:{p}:iam::111122223333:role/ci-deploy")
            );
            let user = format!("arn:{p}:iam::111122223333:user/division/team/Bob");
            assert_eq!(sub(&user), user);
            let fed = format!("arn:{p}:sts::111122223333:federated-user/Alice");
            assert_eq!(sub(&fed), fed);
        }
    }

    #[test]
    fn odd_but_valid_names() {
        let p = Principal::parse("arn:aws:sts::111122223333:assumed-role/a+b=c,d.e@f-g/s_1+=,.@-x")
            .unwrap();
        assert_eq!(p.sub(), "arn:aws:iam::111122223333:role/a+b=c,d.e@f-g");
        assert_eq!(p.session_name(), Some("s_1+=,.@-x"));
        assert_eq!(p.principal_type(), "AssumedRole");
        let u = Principal::parse("arn:aws:iam::111122223333:user/a+b=c,d.e@f-g").unwrap();
        assert_eq!(
            u.kind(),
            &PrincipalKind::User {
                path: "/".into(),
                name: "a+b=c,d.e@f-g".into()
            }
        );
        assert_eq!(u.principal_type(), "User");
        let f = Principal::parse("arn:aws-us-gov:sts::111122223333:federated-user/a+b=c,d.e@f-g")
            .unwrap();
        assert_eq!(f.principal_type(), "FederatedUser");
        assert_eq!(f.partition(), "aws-us-gov");
        let maxed = format!(
            "arn:aws:sts::111122223333:assumed-role/{}/{}",
            "r".repeat(64),
            "s".repeat(64)
        );
        assert!(Principal::parse(&maxed).is_ok());
    }

    #[test]
    fn root_parses_as_root() {
        let r = Principal::parse("arn:aws:iam::111122223333:root").unwrap();
        assert!(r.is_root());
        assert_eq!(r.principal_type(), "Account");
    }

    #[test]
    fn garbage_is_denied() {
        for arn in [
            "",
            "arn",
            "arn:aws:sts::111122223333",
            "arn:aws:sts::111122223333:assumed-role/role",
            "arn:aws:sts::111122223333:assumed-role/role/s",
            "arn:aws:sts::111122223333:assumed-role/ro le/session",
            "arn:aws:sts::111122223333:assumed-role//session",
            "arn:aws:sts::111122223333:assumed-role/role/session/extra",
            "arn:aws:sts::11112222333:assumed-role/role/session",
            "arn:aws:sts::1111222233334:assumed-role/role/session",
            "arn:aws:sts::11112222333a:assumed-role/role/session",
            "arn:aws:sts:us-east-1:111122223333:assumed-role/role/session",
            "arn:gcp:sts::111122223333:assumed-role/role/session",
            "arn:AWS:sts::111122223333:assumed-role/role/session",
            "arn:aws-:sts::111122223333:assumed-role/role/session",
            "arn:aws:iam::111122223333:role/some-role",
            "arn:aws:iam::111122223333:group/admins",
            "arn:aws:s3:::bucket",
            "arn:aws:sts::111122223333:user/bob",
            "arn:aws:iam::111122223333:assumed-role/role/session",
            "arn:aws:iam::111122223333:root/x",
            "arn:aws:sts::111122223333:root",
            "arn:aws:sts::111122223333:federated-user/a",
            "arn:aws:iam::111122223333:user/",
            "arn:aws:iam::111122223333:user/path//bob",
            "arn:aws:iam::111122223333:user/bob\u{0}",
            "arn:aws:sts::111122223333:assumed-role/rôle/session",
        ] {
            assert!(Principal::parse(arn).is_err(), "accepted {arn:?}");
        }
        let long_role = format!(
            "arn:aws:sts::111122223333:assumed-role/{}/s1",
            "r".repeat(65)
        );
        assert!(Principal::parse(&long_role).is_err());
    }

    #[test]
    fn caller_needs_matching_account() {
        let ok = Caller::from_fields(&CallerFields {
            user_arn: Some("arn:aws:sts::111122223333:assumed-role/r/s1"),
            account_id: Some("111122223333"),
            user: Some("AROAEXAMPLE:s1"),
            principal_org_id: Some("o-a1b2c3d4e5"),
            source_ip: Some("10.0.0.1"),
        })
        .unwrap();
        assert_eq!(ok.principal_id.as_deref(), Some("AROAEXAMPLE:s1"));
        let mismatch = Caller::from_fields(&CallerFields {
            user_arn: Some("arn:aws:sts::111122223333:assumed-role/r/s1"),
            account_id: Some("999999999999"),
            ..Default::default()
        });
        assert!(matches!(mismatch, Err(Error::AccessDenied(_))));
        assert!(matches!(
            Caller::from_fields(&CallerFields::default()),
            Err(Error::AccessDenied(_))
        ));
        let empty = CallerFields {
            user_arn: Some(""),
            ..Default::default()
        };
        assert!(matches!(
            Caller::from_fields(&empty),
            Err(Error::AccessDenied(_))
        ));
    }
}
