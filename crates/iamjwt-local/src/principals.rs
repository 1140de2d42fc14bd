//! Local credentials: who may call the local gateway, and as which IAM identity.
//!
//! `principals.json` (mode 0600) maps access keys to the identity API Gateway would report. It is read once at
//! start-up. The first start writes a dev principal (an assumed role with temporary credentials).
//!
//! A principal's `tags` (`{"team": "blue"}`) play the part of its IAM tags: they are what `{tag:KEY}` templates,
//! a rule's `session_tags` and `IAMJWT_SESSION_TAGS` see, through the same [`TagSource`] port the IAM adapter
//! implements in AWS.

use crate::error::Error;
use crate::fsutil::{read_optional, write_atomic};
use async_trait::async_trait;
use iamjwt_core::PortError;
use iamjwt_core::claims::SessionTags;
use iamjwt_core::identity::{Caller, CallerFields, Principal};
use iamjwt_core::ports::TagSource;
use iamjwt_core::template::{PrincipalTags, check_tag_key, check_tag_value};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

/// `tags` in the principals file: a plain map, or the session-tags claim shape earlier versions wrote
/// (`{"principal_tags": {"k": ["v"]}}`, read for compatibility).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum LocalTags {
    Map(PrincipalTags),
    Legacy(SessionTags),
}

impl LocalTags {
    /// The tags as IAM would list them, checked against IAM's limits.
    fn to_map(&self) -> Result<PrincipalTags, String> {
        let map = match self {
            Self::Map(m) => m.clone(),
            Self::Legacy(s) => s
                .principal_tags
                .iter()
                .map(|(k, v)| match v.as_slice() {
                    [one] => Ok((k.clone(), one.clone())),
                    _ => Err(format!("tag {k:?} must have exactly one value")),
                })
                .collect::<Result<_, _>>()?,
        };
        if map.len() > 50 {
            return Err(format!("{} tags; IAM allows at most 50", map.len()));
        }
        for (k, v) in &map {
            check_tag_key(k)?;
            check_tag_value(k, v)?;
        }
        Ok(map)
    }
}

/// One local identity.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LocalPrincipal {
    pub access_key_id: String,
    pub secret_access_key: String,
    /// Required on every request when set (temporary credentials).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_token: Option<String>,
    /// Caller ARN as API Gateway reports it (`userArn`).
    pub arn: String,
    /// Unique id (`user`): `AROA…:session` or `AIDA…`.
    pub user_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub org_id: Option<String>,
    /// The principal's tags, as IAM would list them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tags: Option<LocalTags>,
}

impl LocalPrincipal {
    /// The verified caller this principal is, as API Gateway would describe it in `requestContext.identity`
    /// (`userArn`, `user`, `principalOrgId`, `sourceIp`).
    pub fn caller(&self, source_ip: Option<&str>) -> Result<Caller, iamjwt_core::Error> {
        Caller::from_fields(&CallerFields {
            user_arn: Some(&self.arn),
            account_id: None,
            user: Some(&self.user_id),
            principal_org_id: self.org_id.as_deref(),
            source_ip,
        })
    }
}

#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct PrincipalsDoc {
    principals: Vec<LocalPrincipal>,
}

/// The principals, indexed by access key id.
#[derive(Debug, Default, Clone)]
pub struct Principals {
    by_key: HashMap<String, LocalPrincipal>,
    /// Caller ARN → tags, checked at load.
    tags: HashMap<String, Arc<PrincipalTags>>,
}

impl Principals {
    pub fn new(list: Vec<LocalPrincipal>) -> Result<Self, Error> {
        let mut by_key = HashMap::new();
        let mut tags: HashMap<String, Arc<PrincipalTags>> = HashMap::new();
        for p in list {
            Principal::parse(&p.arn)
                .map_err(|e| Error::Key(format!("principal {}: {e}", p.access_key_id)))?;
            if let Some(t) = &p.tags {
                let map = t
                    .to_map()
                    .map_err(|e| Error::Key(format!("principal {} tags: {e}", p.access_key_id)))?;
                match tags.get(&p.arn) {
                    Some(other) if **other != map => {
                        return Err(Error::Key(format!(
                            "principal {}: {} has different tags under another access key",
                            p.access_key_id, p.arn
                        )));
                    }
                    _ => {
                        tags.insert(p.arn.clone(), Arc::new(map));
                    }
                }
            }
            if p.secret_access_key.len() < 16 {
                return Err(Error::Key(format!(
                    "principal {}: secret is too short",
                    p.access_key_id
                )));
            }
            if by_key.insert(p.access_key_id.clone(), p).is_some() {
                return Err(Error::Key("duplicate access key id in principals".into()));
            }
        }
        Ok(Self { by_key, tags })
    }

    /// Loads the file, creating it with a fresh dev principal if absent. Returns the principals and, when it was
    /// just created, the dev principal (so the caller can print its credentials once).
    pub fn load_or_init(path: &Path) -> Result<(Self, Option<LocalPrincipal>), Error> {
        if let Some(bytes) = read_optional(path)? {
            let doc: PrincipalsDoc =
                serde_json::from_slice(&bytes).map_err(|e| Error::Corrupt {
                    path: path.into(),
                    reason: e.to_string(),
                })?;
            return Ok((Self::new(doc.principals)?, None));
        }
        let dev = dev_principal()?;
        let doc = PrincipalsDoc {
            principals: vec![dev.clone()],
        };
        let bytes = serde_json::to_vec_pretty(&doc).map_err(|e| Error::Key(e.to_string()))?;
        write_atomic(path, &bytes, 0o600)?;
        Ok((Self::new(doc.principals)?, Some(dev)))
    }

    pub fn get(&self, access_key_id: &str) -> Option<&LocalPrincipal> {
        self.by_key.get(access_key_id)
    }

    pub fn all(&self) -> impl Iterator<Item = &LocalPrincipal> {
        self.by_key.values()
    }
}

#[async_trait]
impl TagSource for Principals {
    async fn principal_tags(&self, caller: &Caller) -> Result<Arc<PrincipalTags>, PortError> {
        // The gateway only lets principals of this file through; one without `tags` has none.
        Ok(self
            .tags
            .get(caller.principal.arn())
            .cloned()
            .unwrap_or_else(|| Arc::new(PrincipalTags::new())))
    }
}

fn random_string(len: usize, alphabet: &[u8]) -> Result<String, Error> {
    let mut bytes = vec![0u8; len];
    getrandom::fill(&mut bytes).map_err(|e| Error::Key(e.to_string()))?;
    Ok(bytes
        .iter()
        .map(|b| alphabet[usize::from(*b) % alphabet.len()] as char)
        .collect())
}

/// A fresh assumed-role principal with temporary credentials, in the local placeholder account.
pub fn dev_principal() -> Result<LocalPrincipal, Error> {
    const UPPER: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    const SECRET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let role_id = format!("AROA{}", random_string(17, UPPER)?);
    Ok(LocalPrincipal {
        access_key_id: format!("ASIA{}", random_string(16, UPPER)?),
        secret_access_key: random_string(40, SECRET)?,
        session_token: Some(random_string(120, SECRET)?),
        arn: "arn:aws:sts::000000000000:assumed-role/iamjwt-dev/dev-session".into(),
        user_id: format!("{role_id}:dev-session"),
        org_id: None,
        tags: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn first_load_creates_a_private_dev_principal() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("principals.json");
        let (p, dev) = Principals::load_or_init(&path).unwrap();
        let dev = dev.unwrap();
        assert!(dev.access_key_id.starts_with("ASIA") && dev.access_key_id.len() == 20);
        assert!(dev.session_token.is_some());
        assert!(p.get(&dev.access_key_id).is_some());
        assert_eq!(
            std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
        let (again, created) = Principals::load_or_init(&path).unwrap();
        assert!(created.is_none());
        assert_eq!(
            again.get(&dev.access_key_id).unwrap().secret_access_key,
            dev.secret_access_key
        );
    }

    #[test]
    fn tags_in_both_shapes_through_the_port() {
        let caller = |arn: &str| Caller {
            principal: Principal::parse(arn).unwrap(),
            principal_id: None,
            org_id: None,
            source_ip: None,
        };
        let mut a = dev_principal().unwrap();
        a.tags = Some(serde_json::from_str(r#"{"team": "blue", "cost-center": "42"}"#).unwrap());
        let mut b = dev_principal().unwrap();
        b.arn = "arn:aws:iam::000000000000:user/legacy".into();
        b.tags = Some(
            serde_json::from_str(
                r#"{"principal_tags": {"team": ["red"]}, "transitive_tag_keys": ["team"]}"#,
            )
            .unwrap(),
        );
        let c = dev_principal().unwrap();
        let c_arn = "arn:aws:iam::000000000000:user/none";
        let p = Principals::new(vec![
            a.clone(),
            b,
            LocalPrincipal {
                arn: c_arn.into(),
                ..c
            },
        ])
        .unwrap();
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let got = rt.block_on(p.principal_tags(&caller(&a.arn))).unwrap();
        assert_eq!(got["team"], "blue");
        assert_eq!(got["cost-center"], "42");
        let got = rt
            .block_on(p.principal_tags(&caller("arn:aws:iam::000000000000:user/legacy")))
            .unwrap();
        assert_eq!(got.len(), 1);
        assert_eq!(got["team"], "red");
        assert!(
            rt.block_on(p.principal_tags(&caller(c_arn)))
                .unwrap()
                .is_empty()
        );
        // round trip: the map form is written back as a map
        let json = serde_json::to_value(&a).unwrap();
        assert_eq!(
            json["tags"],
            serde_json::json!({"team": "blue", "cost-center": "42"})
        );

        for bad in [
            r#"{"aws:x": "1"}"#,
            r#"{"k": "a,b"}"#,
            r#"{"principal_tags": {"k": ["1", "2"]}}"#,
        ] {
            let mut d = dev_principal().unwrap();
            d.tags = Some(serde_json::from_str(bad).unwrap());
            assert!(Principals::new(vec![d]).is_err(), "{bad}");
        }
    }

    #[test]
    fn rejects_bad_principals() {
        let mut p = dev_principal().unwrap();
        p.arn = "arn:aws:iam::000000000000:role/not-a-caller".into();
        assert!(Principals::new(vec![p]).is_err());
        let d = dev_principal().unwrap();
        assert!(Principals::new(vec![d.clone(), d]).is_err());
    }
}
