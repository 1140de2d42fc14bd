//! JWT claims (DESIGN.md §3; RFC 7519 §4.1 for the registered names).

use crate::identity::Caller;
use crate::time::UnixTime;
use crate::types::Audience;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A JWT ID with 128 random bits, base64url-encoded (RFC 7519 §4.1.7).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct Jti(String);

impl Jti {
    /// The caller supplies the randomness (the core never reads an RNG).
    pub fn from_random(bytes: [u8; 16]) -> Self {
        Self(URL_SAFE_NO_PAD.encode(bytes))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// `aud`: a string for one audience, an array for several (RFC 7519 §4.1.3).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum AudClaim {
    One(Audience),
    Many(Vec<Audience>),
}

impl AudClaim {
    pub fn new(mut auds: Vec<Audience>) -> Self {
        if auds.len() == 1
            && let Some(a) = auds.pop()
        {
            return Self::One(a);
        }
        Self::Many(auds)
    }
    pub fn iter(&self) -> impl Iterator<Item = &Audience> {
        match self {
            Self::One(a) => std::slice::from_ref(a).iter(),
            Self::Many(v) => v.iter(),
        }
    }
}

/// The `aws` claim: facts about the caller that verifiers can match on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AwsClaims {
    pub account: String,
    pub principal_type: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub session_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub principal_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub org_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source_ip: Option<String>,
}

/// Session tags for AWS targets (`AssumeRoleWithWebIdentity` reads them from this claim); values are arrays of
/// strings as AWS requires.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct SessionTags {
    pub principal_tags: BTreeMap<String, Vec<String>>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub transitive_tag_keys: Vec<String>,
}

/// The full claim set, serialised in this field order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Claims {
    pub iss: String,
    pub sub: String,
    pub aud: AudClaim,
    /// With several audiences, the first one (DESIGN.md §3): AWS STS matches `azp`, not `aud`, against the OIDC
    /// provider's client ID list when `aud` is an array, so the audience meant for AWS goes first.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub azp: Option<Audience>,
    pub iat: UnixTime,
    pub nbf: UnixTime,
    pub exp: UnixTime,
    pub jti: Jti,
    pub aws: AwsClaims,
    #[serde(
        rename = "https://aws.amazon.com/tags",
        skip_serializing_if = "Option::is_none"
    )]
    pub tags: Option<SessionTags>,
    /// Request tags (DESIGN.md §1, `tag=KEY=VALUE`), as `sts:GetWebIdentityToken` names them.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_tags: Option<BTreeMap<String, String>>,
    /// Extra claims from the deciding rule (DESIGN.md §4); their names never collide with the claims above.
    #[serde(flatten)]
    pub extra: BTreeMap<String, serde_json::Value>,
}

/// Inputs that do not come from the caller.
#[derive(Debug, Clone, Copy)]
pub struct Lifetime {
    pub now: UnixTime,
    pub duration: u64,
    pub nbf_skew: u64,
}

impl Claims {
    pub fn build(
        issuer: &str,
        caller: &Caller,
        audiences: Vec<Audience>,
        lifetime: Lifetime,
        jti: Jti,
        tags: Option<SessionTags>,
    ) -> Self {
        let p = &caller.principal;
        let azp = match audiences.as_slice() {
            [first, _, ..] => Some(first.clone()),
            _ => None,
        };
        Self {
            iss: issuer.to_owned(),
            sub: p.sub(),
            aud: AudClaim::new(audiences),
            azp,
            iat: lifetime.now,
            nbf: lifetime.now.minus(lifetime.nbf_skew),
            exp: lifetime.now.plus(lifetime.duration),
            jti,
            aws: AwsClaims {
                account: p.account().as_str().to_owned(),
                principal_type: p.principal_type(),
                session_name: p.session_name().map(str::to_owned),
                principal_id: caller.principal_id.clone(),
                org_id: caller.org_id.clone(),
                source_ip: caller.source_ip.clone(),
            },
            tags,
            request_tags: None,
            extra: BTreeMap::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::{Caller, Principal};
    use serde_json::json;

    #[test]
    fn claims_with_fixed_clock() {
        let caller = Caller {
            principal: Principal::parse("arn:aws:sts::111122223333:assumed-role/ci/run-7").unwrap(),
            principal_id: Some("AROAEXAMPLE:run-7".into()),
            org_id: None,
            source_ip: Some("203.0.113.9".into()),
        };
        let c = Claims::build(
            "https://issuer.example.com",
            &caller,
            vec![Audience::parse("api://a").unwrap()],
            Lifetime {
                now: UnixTime(1_700_000_000),
                duration: 900,
                nbf_skew: 30,
            },
            Jti::from_random([7; 16]),
            None,
        );
        assert_eq!(
            serde_json::to_value(&c).unwrap(),
            json!({
                "iss": "https://issuer.example.com",
                "sub": "arn:aws:iam::111122223333:role/ci",
                "aud": "api://a",
                "iat": 1_700_000_000u64,
                "nbf": 1_699_999_970u64,
                "exp": 1_700_000_900u64,
                "jti": "BwcHBwcHBwcHBwcHBwcHBw",
                "aws": {"account": "111122223333", "principal_type": "AssumedRole", "session_name": "run-7",
                        "principal_id": "AROAEXAMPLE:run-7", "source_ip": "203.0.113.9"}
            })
        );
        // 16 random bytes → 22 base64url characters: 128 bits of jti.
        assert_eq!(c.jti.as_str().len(), 22);
    }

    #[test]
    fn several_audiences_and_tags() {
        let caller = Caller {
            principal: Principal::parse("arn:aws:iam::111122223333:user/bob").unwrap(),
            principal_id: None,
            org_id: Some("o-a1b2c3d4e5".into()),
            source_ip: None,
        };
        let mut tags = SessionTags::default();
        tags.principal_tags
            .insert("team".into(), vec!["blue".into()]);
        tags.transitive_tag_keys.push("team".into());
        let c = Claims::build(
            "https://i",
            &caller,
            vec![Audience::parse("a").unwrap(), Audience::parse("b").unwrap()],
            Lifetime {
                now: UnixTime(100),
                duration: 60,
                nbf_skew: 0,
            },
            Jti::from_random([0; 16]),
            Some(tags),
        );
        let v = serde_json::to_value(&c).unwrap();
        assert_eq!(v["aud"], json!(["a", "b"]));
        // Several audiences: azp = the first requested one (what AWS STS matches against the client ID list).
        assert_eq!(v["azp"], json!("a"));
        assert!(
            serde_json::to_string(&c)
                .unwrap()
                .contains(r#""aud":["a","b"],"azp":"a","iat""#)
        );
        assert_eq!(
            v["aws"],
            json!({"account": "111122223333", "principal_type": "User", "org_id": "o-a1b2c3d4e5"})
        );
        assert_eq!(
            v["https://aws.amazon.com/tags"],
            json!({"principal_tags": {"team": ["blue"]}, "transitive_tag_keys": ["team"]})
        );
    }
}
