//! Who may do what with a signing key: the key policy every key of this issuer carries.
//!
//! Without a key policy KMS applies its default one, which hands every action to the account and so to IAM: any
//! principal with `kms:Sign` on `*` (an administrator, say) could sign tokens. The policy written here lets the
//! account administer the key (describe, tag, disable, schedule or cancel deletion, read and put the policy) but
//! never sign with it or read it through KMS; `Sign` and `GetPublicKey` go to the token role; the rotation lifecycle
//! to the rotate role. The roles come from the rotate function's configuration ([`KeyAccess::from_lookup`]); a
//! key store cannot be built without them.
//!
//! KMS refuses a policy that would lock the caller out (unless told to bypass that check, which we never do): the
//! rotate role, which creates the keys and reconciles their policies, may itself put the policy.

use crate::tags;
use iamjwt_core::config::required_setting;
use iamjwt_core::identity::AccountId;
use iamjwt_core::{Error, PortError};
use serde::Serialize;

/// The variables naming the token function's role (may sign with the key and read its public key) and the rotate
/// function's (creates the keys and runs their lifecycle).
pub use iamjwt_core::config::{ROTATE_ROLE_ARN, TOKEN_ROLE_ARN};

/// What the account's IAM policies may grant on the key: administration, never `Sign` (nor `CreateGrant`, which
/// could hand `Sign` to anyone).
pub const ACCOUNT_ACTIONS: &[&str] = &[
    "kms:CancelKeyDeletion",
    "kms:DescribeKey",
    "kms:DisableKey",
    "kms:EnableKey",
    "kms:GetKeyPolicy",
    "kms:ListKeyPolicies",
    "kms:ListResourceTags",
    "kms:PutKeyPolicy",
    "kms:ScheduleKeyDeletion",
    "kms:TagResource",
    "kms:UntagResource",
];
/// The token role: resolve the alias and read the public key ([`super::KmsSigner`]), sign.
pub const TOKEN_ACTIONS: &[&str] = &["kms:GetPublicKey", "kms:Sign"];
/// The rotate role ([`super::KmsKeyStore`], [`super::KmsRegions`]): read the key and its public key (for the JWKS),
/// move the slot aliases, schedule deletion, keep this policy in place, and replicate a multi-Region key into the
/// issuer's other regions (KMS authorises `ReplicateKey` on the primary key's policy; the rotate role's IAM policy
/// names the regions).
pub const ROTATE_ACTIONS: &[&str] = &[
    "kms:CreateAlias",
    "kms:DeleteAlias",
    "kms:DescribeKey",
    "kms:GetKeyPolicy",
    "kms:GetPublicKey",
    "kms:ListResourceTags",
    "kms:PutKeyPolicy",
    "kms:ReplicateKey",
    "kms:ScheduleKeyDeletion",
    "kms:UpdateAlias",
];
/// The rotate role tags the key's facts ([`tags::FACTS`]), never its issuer tag (that would move the key out of
/// this issuer's scope).
pub const ROTATE_TAG_ACTIONS: &[&str] = &["kms:TagResource", "kms:UntagResource"];

/// An IAM role ARN, `arn:<partition>:iam::<account>:role/<path/>name`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoleArn {
    arn: String,
    partition: String,
    account: AccountId,
}

impl RoleArn {
    /// Parses an IAM role ARN; `variable` names the setting in the error.
    pub fn parse(variable: &str, raw: &str) -> Result<Self, Error> {
        let bad = || {
            Error::config(
                variable,
                format!("{raw:?} is not an IAM role ARN (arn:aws:iam::123456789012:role/name)"),
            )
        };
        // arn:<partition>:iam::<account>:role/<path/>name — IAM ARNs have no region.
        let (partition, rest) = raw
            .strip_prefix("arn:")
            .and_then(|r| r.split_once(":iam::"))
            .ok_or_else(bad)?;
        let (account, path_name) = rest.split_once(":role/").ok_or_else(bad)?;
        let word = |s: &str, max: usize| {
            (1..=max).contains(&s.len())
                && s.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"_+=,.@-".contains(&b))
        };
        let partition_ok = !partition.is_empty()
            && partition
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b == b'-');
        let account = AccountId::parse(account).map_err(|_| bad())?;
        let (path, name) = path_name.rsplit_once('/').unwrap_or(("", path_name));
        let name_ok = path_name.len() <= 512
            && word(name, 64)
            && (path.is_empty() || path.split('/').all(|s| word(s, 512)));
        if partition_ok && name_ok {
            Ok(Self {
                arn: raw.to_owned(),
                partition: partition.to_owned(),
                account,
            })
        } else {
            Err(bad())
        }
    }

    pub fn as_str(&self) -> &str {
        &self.arn
    }
}

impl std::fmt::Display for RoleArn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.arn)
    }
}

/// The two roles a key policy names. Both live in the account that owns the keys (the rotate function's).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyAccess {
    token_role: RoleArn,
    rotate_role: RoleArn,
}

impl KeyAccess {
    /// Both roles; refused unless they share a partition and an account.
    pub fn new(token_role: RoleArn, rotate_role: RoleArn) -> Result<Self, Error> {
        if (&token_role.partition, &token_role.account)
            != (&rotate_role.partition, &rotate_role.account)
        {
            return Err(Error::config(
                TOKEN_ROLE_ARN,
                format!(
                    "{token_role} is not in the account of {ROTATE_ROLE_ARN} ({rotate_role}): both functions run in the account that owns the keys"
                ),
            ));
        }
        Ok(Self {
            token_role,
            rotate_role,
        })
    }

    /// [`TOKEN_ROLE_ARN`] and [`ROTATE_ROLE_ARN`] through `lookup`; both are required: a rotate function that
    /// cannot write key policies must not create keys.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, Error> {
        let role = |name: &str| {
            let raw = required_setting(
                &lookup,
                name,
                "for the rotate function (the role named in every key policy)",
            )?;
            RoleArn::parse(name, &raw)
        };
        Self::new(role(TOKEN_ROLE_ARN)?, role(ROTATE_ROLE_ARN)?)
    }

    pub fn token_role(&self) -> &RoleArn {
        &self.token_role
    }

    pub fn rotate_role(&self) -> &RoleArn {
        &self.rotate_role
    }

    /// `arn:<partition>:iam::<account>:root`: the account, so its IAM policies (for [`ACCOUNT_ACTIONS`] only).
    pub fn account_principal(&self) -> String {
        format!(
            "arn:{}:iam::{}:root",
            self.rotate_role.partition, self.rotate_role.account
        )
    }

    /// The key policy document.
    pub fn policy(&self) -> KeyPolicy {
        let allow = |sid, principal: String, actions: &'static [&'static str]| Statement {
            sid,
            effect: "Allow",
            principal: Principal { aws: principal },
            action: actions,
            resource: "*",
            condition: None,
        };
        KeyPolicy {
            version: "2012-10-17",
            id: "iamjwt-signing-key",
            statement: vec![
                allow(
                    "AccountAdministersNeverSigns",
                    self.account_principal(),
                    ACCOUNT_ACTIONS,
                ),
                allow("TokenRoleSigns", self.token_role.to_string(), TOKEN_ACTIONS),
                allow(
                    "RotateRoleRunsTheLifecycle",
                    self.rotate_role.to_string(),
                    ROTATE_ACTIONS,
                ),
                Statement {
                    condition: Some(Condition {
                        for_all_values_string_equals: TagKeys {
                            tag_keys: &tags::FACTS,
                        },
                    }),
                    ..allow(
                        "RotateRoleTagsKeyFacts",
                        self.rotate_role.to_string(),
                        ROTATE_TAG_ACTIONS,
                    )
                },
            ],
        }
    }

    /// [`Self::policy`] as the JSON text `CreateKey` and `PutKeyPolicy` take.
    pub fn policy_json(&self) -> Result<String, PortError> {
        serde_json::to_string(&self.policy())
            .map_err(|e| PortError::other(format!("key policy: {e}")))
    }
}

/// An IAM policy document, as far as a key policy needs one.
#[derive(Debug, Clone, Serialize)]
pub struct KeyPolicy {
    #[serde(rename = "Version")]
    version: &'static str,
    #[serde(rename = "Id")]
    id: &'static str,
    #[serde(rename = "Statement")]
    statement: Vec<Statement>,
}

#[derive(Debug, Clone, Serialize)]
struct Statement {
    #[serde(rename = "Sid")]
    sid: &'static str,
    #[serde(rename = "Effect")]
    effect: &'static str,
    #[serde(rename = "Principal")]
    principal: Principal,
    #[serde(rename = "Action")]
    action: &'static [&'static str],
    #[serde(rename = "Resource")]
    resource: &'static str,
    #[serde(rename = "Condition", skip_serializing_if = "Option::is_none")]
    condition: Option<Condition>,
}

#[derive(Debug, Clone, Serialize)]
struct Principal {
    #[serde(rename = "AWS")]
    aws: String,
}

#[derive(Debug, Clone, Serialize)]
struct Condition {
    #[serde(rename = "ForAllValues:StringEquals")]
    for_all_values_string_equals: TagKeys,
}

#[derive(Debug, Clone, Serialize)]
struct TagKeys {
    #[serde(rename = "aws:TagKeys")]
    tag_keys: &'static [&'static str],
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOKEN: &str = "arn:aws:iam::111122223333:role/iamjwt-token";
    const ROTATE: &str = "arn:aws:iam::111122223333:role/service/iamjwt-rotate";

    fn env(pairs: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        move |k| {
            pairs
                .iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| (*v).to_owned())
        }
    }

    #[test]
    fn both_roles_are_required_and_must_be_role_arns_of_one_account() {
        let ok = KeyAccess::from_lookup(env(&[(TOKEN_ROLE_ARN, TOKEN), (ROTATE_ROLE_ARN, ROTATE)]))
            .unwrap();
        assert_eq!(ok.token_role().as_str(), TOKEN);
        assert_eq!(ok.account_principal(), "arn:aws:iam::111122223333:root");
        let refused = |pairs: &'static [(&'static str, &'static str)], variable: &str| {
            let e = KeyAccess::from_lookup(env(pairs)).unwrap_err().to_string();
            assert!(e.contains(variable), "{pairs:?}: {e}");
            assert_eq!(e.lines().count(), 1);
        };
        refused(&[(ROTATE_ROLE_ARN, ROTATE)], TOKEN_ROLE_ARN);
        refused(&[(TOKEN_ROLE_ARN, TOKEN)], ROTATE_ROLE_ARN);
        refused(
            &[(TOKEN_ROLE_ARN, " "), (ROTATE_ROLE_ARN, ROTATE)],
            TOKEN_ROLE_ARN,
        );
        for bad in [
            "iamjwt-token",
            "arn:aws:iam::111122223333:user/iamjwt-token",
            "arn:aws:sts::111122223333:assumed-role/iamjwt-token/s",
            "arn:aws:iam::1111:role/iamjwt-token",
            "arn:aws:iam::111122223333:role/",
            "arn:aws:iam::111122223333:role/a b",
            "arn:aws:iam:eu-west-1:111122223333:role/x",
            "arn:aws:iam::111122223333:root",
            "arn:aws:iam::*:role/x",
        ] {
            let e = RoleArn::parse(TOKEN_ROLE_ARN, bad).unwrap_err().to_string();
            assert!(e.contains(TOKEN_ROLE_ARN), "{bad}: {e}");
        }
        refused(
            &[
                (
                    TOKEN_ROLE_ARN,
                    "arn:aws:iam::444455556666:role/iamjwt-token",
                ),
                (ROTATE_ROLE_ARN, ROTATE),
            ],
            TOKEN_ROLE_ARN,
        );
        refused(
            &[
                (
                    TOKEN_ROLE_ARN,
                    "arn:aws-cn:iam::111122223333:role/iamjwt-token",
                ),
                (ROTATE_ROLE_ARN, ROTATE),
            ],
            TOKEN_ROLE_ARN,
        );
        assert!(RoleArn::parse("X", "arn:aws-us-gov:iam::111122223333:role/a/b/c+=,.@-_").is_ok());
    }

    #[test]
    fn the_policy_names_each_principal_once_per_purpose() {
        let access = KeyAccess::new(
            RoleArn::parse(TOKEN_ROLE_ARN, TOKEN).unwrap(),
            RoleArn::parse(ROTATE_ROLE_ARN, ROTATE).unwrap(),
        )
        .unwrap();
        let v: serde_json::Value = serde_json::from_str(&access.policy_json().unwrap()).unwrap();
        let statements = v["Statement"].as_array().unwrap();
        let by_principal = |p: &str| -> Vec<&str> {
            statements
                .iter()
                .filter(|s| s["Principal"]["AWS"] == p)
                .flat_map(|s| s["Action"].as_array().unwrap())
                .map(|a| a.as_str().unwrap())
                .collect()
        };
        assert_eq!(by_principal(TOKEN), ["kms:GetPublicKey", "kms:Sign"]);
        assert!(!by_principal(ROTATE).contains(&"kms:Sign"));
        assert!(!by_principal("arn:aws:iam::111122223333:root").contains(&"kms:Sign"));
        assert!(
            statements
                .iter()
                .all(|s| s["Effect"] == "Allow" && s["Resource"] == "*")
        );
        let actions: Vec<&str> = statements
            .iter()
            .flat_map(|s| s["Action"].as_array().unwrap())
            .map(|a| a.as_str().unwrap())
            .collect();
        assert!(
            actions.iter().all(|a| !a.contains('*')),
            "no wildcard: {actions:?}"
        );
        assert!(!actions.contains(&"kms:CreateGrant"));
    }
}
