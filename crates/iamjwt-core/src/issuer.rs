//! Token issuance: verified caller + parsed request → signed JWT. The use case both the Lambda handler and the
//! local gateway run; it holds everything it needs (no per-request config parsing or key loading).

use crate::claims::{Claims, Jti, Lifetime};
use crate::error::Error;
use crate::identity::Caller;
use crate::jws::{self, Header};
use crate::limits::MIN_DURATION;
use crate::ports::{NoTags, Signer, TagSource};
use crate::request::TokenRequest;
use crate::shape::{self, ShapeInputs};
use crate::time::UnixTime;
use crate::types::{Algorithm, Audience, Kid};
use std::sync::Arc;

pub use crate::config::IssuePolicy;

/// A signed token and the facts the audit log records (never the token itself).
#[derive(Debug, Clone)]
pub struct Issued {
    pub token: String,
    pub expires_in: u64,
    pub alg: Algorithm,
    pub kid: Kid,
    pub jti: String,
    pub sub: String,
    pub aud: Vec<String>,
    pub exp: UnixTime,
}

/// Issues tokens. Cheap to share (`Arc` inside).
#[derive(Clone)]
pub struct Issuer {
    policy: Arc<IssuePolicy>,
    signer: Arc<dyn Signer>,
    tags: Arc<dyn TagSource>,
}

impl Issuer {
    pub fn new(policy: IssuePolicy, signer: Arc<dyn Signer>) -> Self {
        Self {
            policy: Arc::new(policy),
            signer,
            tags: Arc::new(NoTags),
        }
    }

    /// Where the principal's tags come from (`{tag:KEY}`, `session_tags`, `IAMJWT_SESSION_TAGS`).
    pub fn with_tags(mut self, tags: Arc<dyn TagSource>) -> Self {
        self.tags = tags;
        self
    }

    pub fn policy(&self) -> &IssuePolicy {
        &self.policy
    }

    pub async fn issue(
        &self,
        caller: &Caller,
        req: TokenRequest,
        now: UnixTime,
        jti: Jti,
    ) -> Result<Issued, Error> {
        let p = &*self.policy;
        if caller.principal.is_root() && !p.allow_root {
            return Err(Error::AccessDenied(
                "the account root user may not obtain tokens".into(),
            ));
        }
        let alg = req.alg.unwrap_or(p.default_algorithm);
        if !p.algorithms.contains(&alg) {
            return Err(Error::InvalidRequest(format!(
                "alg {alg} is not enabled on this issuer"
            )));
        }
        let audiences: Vec<Audience> = if req.audiences.is_empty() {
            vec![p.policy.default_audience().clone()]
        } else {
            req.audiences
        };
        let grant = p.policy.decide(caller, &audiences)?;
        let rule = p.policy.rule(&grant);
        let shape = rule.map(|r| r.shape());
        // Request tags are only accepted under a rule that names their keys (DESIGN.md §1).
        let refused = match shape {
            Some(s) => s.refused_request_tag(req.tags.keys()),
            None => req.tags.keys().next(),
        };
        if let Some(k) = refused {
            return Err(Error::InvalidRequest(format!(
                "tag key {k:?} is not allowed for these audiences (the deciding policy rule's request_tags \
                 does not list it)"
            )));
        }
        let cap = grant
            .max_duration
            .unwrap_or(p.max_duration)
            .min(p.max_duration);
        let duration = match req.duration {
            Some(d) if !(MIN_DURATION..=cap).contains(&d) => {
                return Err(Error::InvalidRequest(format!(
                    "duration must be between {MIN_DURATION} and {cap} seconds"
                )));
            }
            Some(d) => d,
            None => p.default_duration.min(cap),
        };
        // The tag source is asked only when this request needs tags: no lookup on the plain path.
        let all_session_tags = p.session_tags && !shape.is_some_and(|s| s.has_session_tags());
        let principal_tags = if all_session_tags || shape.is_some_and(|s| s.needs_tags()) {
            Some(self.tags.principal_tags(caller).await?)
        } else {
            None
        };
        let mut claims = Claims::build(
            &p.issuer,
            caller,
            audiences,
            Lifetime {
                now,
                duration,
                nbf_skew: p.nbf_skew,
            },
            jti,
            None,
        );
        let inputs = ShapeInputs {
            caller,
            principal_tags: principal_tags.as_deref(),
            all_session_tags,
        };
        match shape {
            Some(s) => s.apply(&mut claims, inputs)?,
            None if all_session_tags => {
                let all = principal_tags.as_deref().ok_or_else(|| {
                    Error::InconsistentState("principal tags were not looked up".into())
                })?;
                claims.tags = shape::session_tags(all, None)?;
            }
            None => {}
        }
        if !req.tags.is_empty() {
            claims.request_tags = Some(req.tags);
        }

        let key = self.signer.signing_key(alg).await?;
        let input = jws::signing_input(&Header::new(alg, key.kid()), &claims)?;
        let signature = key.sign(input.as_bytes()).await?;
        alg.check_signature(&signature)?;
        Ok(Issued {
            token: jws::compact(input, &signature),
            expires_in: duration,
            alg,
            kid: key.kid().clone(),
            jti: claims.jti.as_str().to_owned(),
            sub: claims.sub,
            aud: claims.aud.iter().map(|a| a.as_str().to_owned()).collect(),
            exp: claims.exp,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::{PortError, PortErrorKind};
    use crate::identity::Principal;
    use crate::jwk::PublicJwk;
    use crate::policy::AudiencePolicy;
    use crate::testing::TestSigner;
    use futures_executor::block_on;

    fn issuer(policy_json: Option<&str>, fail: Option<PortErrorKind>) -> (Issuer, PublicJwk) {
        let signer = match fail {
            Some(kind) => TestSigner::failing(9, kind),
            None => TestSigner::new(9),
        };
        let jwk = signer.jwk().clone();
        let default = Audience::parse("sts.amazonaws.com").unwrap();
        let policy = match policy_json {
            Some(j) => AudiencePolicy::from_json(default, j, 3600).unwrap(),
            None => AudiencePolicy::default_only(default),
        };
        let ip =
            crate::testing::issue_policy("https://id.example.com", policy, &[Algorithm::ES256]);
        (Issuer::new(ip, Arc::new(signer)), jwk)
    }

    /// Counts lookups; fails with `fail` when set.
    struct Tags {
        tags: crate::template::PrincipalTags,
        calls: std::sync::atomic::AtomicUsize,
        fail: Option<PortErrorKind>,
    }

    #[async_trait::async_trait]
    impl TagSource for Tags {
        async fn principal_tags(
            &self,
            _caller: &Caller,
        ) -> Result<Arc<crate::template::PrincipalTags>, PortError> {
            self.calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            match self.fail {
                Some(kind) => Err(PortError::new(kind, "lookup failed")),
                None => Ok(Arc::new(self.tags.clone())),
            }
        }
    }

    fn tag_source(pairs: &[(&str, &str)], fail: Option<PortErrorKind>) -> Arc<Tags> {
        Arc::new(Tags {
            tags: pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
            calls: Default::default(),
            fail,
        })
    }

    /// The payload of a compact token, verified with `jwk`.
    fn payload(token: &str, jwk: &PublicJwk) -> serde_json::Value {
        let jwk: jsonwebtoken::jwk::Jwk =
            serde_json::from_value(serde_json::to_value(jwk).unwrap()).unwrap();
        let mut v = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::ES256);
        v.validate_aud = false;
        v.validate_exp = false;
        jsonwebtoken::decode::<serde_json::Value>(
            token,
            &jsonwebtoken::DecodingKey::from_jwk(&jwk).unwrap(),
            &v,
        )
        .unwrap()
        .claims
    }

    const SHAPED: &str = r#"{"rules":[
        {"principals":["arn:aws:iam::111122223333:role/ci-*"],"audiences":["api://ci","sts.amazonaws.com"],
         "sub":"{account}/{name}","claims":{"email":"{name}@ci.example.com","team":"{tag:team}","env":"prod"},
         "session_tags":{"keys":["team"],"transitive":["team"]},"request_tags":["job","pipeline-*"]},
        {"audiences":["api://plain"]},
        {"audiences":["api://names"],"sub":"{principal_arn|190}/{session_name}"}
    ]}"#;

    #[test]
    fn shaped_tokens_and_when_tags_are_looked_up() {
        let (i, jwk) = issuer(Some(SHAPED), None);
        let src = tag_source(&[("team", "blue"), ("other", "x")], None);
        let i = i.with_tags(src.clone());
        let c = caller(ROLE);
        let j = || Jti::from_random([0; 16]);
        let out = block_on(i.issue(
            &c,
            req(&[
                ("aud", "api://ci"),
                ("tag", "job=42"),
                ("tag", "pipeline-a=b"),
            ]),
            UnixTime(1000),
            j(),
        ))
        .unwrap();
        assert_eq!(out.sub, "111122223333/ci-x");
        let v = payload(&out.token, &jwk);
        assert_eq!(v["sub"], "111122223333/ci-x");
        assert_eq!(v["email"], "ci-x@ci.example.com");
        assert_eq!(v["team"], "blue");
        assert_eq!(v["env"], "prod");
        assert_eq!(
            v["request_tags"],
            serde_json::json!({"job": "42", "pipeline-a": "b"})
        );
        assert_eq!(
            v["https://aws.amazon.com/tags"],
            serde_json::json!({"principal_tags": {"team": ["blue"]}, "transitive_tag_keys": ["team"]})
        );
        assert_eq!(src.calls.load(std::sync::atomic::Ordering::SeqCst), 1);

        // A rule that does not need tags: no lookup at all, and the plain claims of §3.
        let plain =
            block_on(i.issue(&c, req(&[("aud", "api://plain")]), UnixTime(1000), j())).unwrap();
        let v = payload(&plain.token, &jwk);
        assert_eq!(v["sub"], "arn:aws:iam::111122223333:role/ci-x");
        assert!(v.get("email").is_none() && v.get("https://aws.amazon.com/tags").is_none());
        let names =
            block_on(i.issue(&c, req(&[("aud", "api://names")]), UnixTime(1000), j())).unwrap();
        assert_eq!(names.sub, "arn:aws:iam::111122223333:role/ci-x/s1");
        assert_eq!(
            src.calls.load(std::sync::atomic::Ordering::SeqCst),
            1,
            "no lookup without tag variables"
        );

        // The default audience alone is shaped by the first shaping rule that lists it.
        let d = block_on(i.issue(&c, req(&[]), UnixTime(1000), j())).unwrap();
        assert_eq!(d.sub, "111122223333/ci-x");
        // ...but a caller that rule does not select gets the plain default token, as before.
        let other = caller("arn:aws:iam::444455556666:user/u");
        let d = block_on(i.issue(&other, req(&[]), UnixTime(1000), j())).unwrap();
        assert_eq!(d.sub, "arn:aws:iam::444455556666:user/u");
    }

    #[test]
    fn request_tags_need_the_rule() {
        let (i, _) = issuer(Some(SHAPED), None);
        let i = i.with_tags(tag_source(&[("team", "blue")], None));
        let j = || Jti::from_random([0; 16]);
        for (q, key) in [
            (
                vec![("aud", "api://ci"), ("tag", "job=1"), ("tag", "secret=1")],
                "secret",
            ),
            (vec![("aud", "api://plain"), ("tag", "job=1")], "job"),
            (vec![("aud", "sts.amazonaws.com"), ("tag", "job=1")], "job"),
        ] {
            let c = if key == "job" && q[0].1 == "sts.amazonaws.com" {
                caller("arn:aws:iam::444455556666:user/u")
            } else {
                caller(ROLE)
            };
            match block_on(i.issue(&c, req(&q), UnixTime(0), j())) {
                Err(Error::InvalidRequest(m)) => assert!(m.contains(&format!("{key:?}")), "{m}"),
                other => panic!("{q:?}: {other:?}"),
            }
        }
    }

    #[test]
    fn tag_failures_fail_the_request() {
        let c = caller(ROLE);
        let j = || Jti::from_random([0; 16]);
        for kind in [
            PortErrorKind::Throttled,
            PortErrorKind::AccessDenied,
            PortErrorKind::Other,
        ] {
            let (i, _) = issuer(Some(SHAPED), None);
            let i = i.with_tags(tag_source(&[], Some(kind)));
            let r = block_on(i.issue(&c, req(&[("aud", "api://ci")]), UnixTime(0), j()));
            assert!(matches!(&r, Err(Error::Port(p)) if p.kind == kind), "{r:?}");
        }
        // No tag source wired: a rule that needs tags fails, never a token without them.
        let (i, _) = issuer(Some(SHAPED), None);
        assert!(matches!(
            block_on(i.issue(&c, req(&[("aud", "api://ci")]), UnixTime(0), j())),
            Err(Error::Port(_))
        ));
        // A sub template that needs a missing tag: 403.
        let pol = r#"{"rules":[{"audiences":["api://t"],"sub":"{tag:team|40}/{principal_type}/{account}/{name}"}]}"#;
        let (i, _) = issuer(Some(pol), None);
        let i = i.with_tags(tag_source(&[("other", "x")], None));
        assert!(matches!(
            block_on(i.issue(&c, req(&[("aud", "api://t")]), UnixTime(0), j())),
            Err(Error::AccessDenied(_))
        ));
    }

    #[test]
    fn session_tags_setting_and_rules() {
        let many: Vec<(String, String)> =
            (0..51).map(|i| (format!("k{i:02}"), "v".into())).collect();
        let many: Vec<(&str, &str)> = many.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let pol = r#"{"rules":[{"audiences":["api://narrow"],"session_tags":{"keys":["k0*"]}},
                              {"audiences":["api://plain"]}]}"#;
        let (i, jwk) = issuer(Some(pol), None);
        let mut ip = i.policy().clone();
        ip.session_tags = true;
        let signer = crate::testing::TestSigner::new(9); // the same seed: the same key as `jwk`
        let src = tag_source(&many, None);
        let i = Issuer::new(ip, Arc::new(signer)).with_tags(src.clone());
        let c = caller(ROLE);
        let j = || Jti::from_random([0; 16]);
        // IAMJWT_SESSION_TAGS=true and a rule without session_tags: every tag, and 51 do not fit → 403.
        for aud in ["sts.amazonaws.com", "api://plain"] {
            let r = block_on(i.issue(&c, req(&[("aud", aud)]), UnixTime(0), j()));
            assert!(
                matches!(&r, Err(Error::AccessDenied(m)) if m.contains("at most 50")),
                "{aud}: {r:?}"
            );
        }
        // The rule's own selection wins over the setting.
        let out = block_on(i.issue(&c, req(&[("aud", "api://narrow")]), UnixTime(0), j())).unwrap();
        let v = payload(&out.token, &jwk);
        let tags = &v["https://aws.amazon.com/tags"];
        assert_eq!(tags["principal_tags"].as_object().unwrap().len(), 10);
        assert_eq!(tags["principal_tags"]["k00"], serde_json::json!(["v"]));
        assert!(tags.get("transitive_tag_keys").is_none());
        assert_eq!(src.calls.load(std::sync::atomic::Ordering::SeqCst), 3);
    }

    fn caller(arn: &str) -> Caller {
        Caller {
            principal: Principal::parse(arn).unwrap(),
            principal_id: None,
            org_id: None,
            source_ip: None,
        }
    }

    fn req(q: &[(&str, &str)]) -> TokenRequest {
        TokenRequest::from_pairs(q.iter().copied()).unwrap()
    }

    const ROLE: &str = "arn:aws:sts::111122223333:assumed-role/ci-x/s1";

    #[test]
    fn issues_default_audience_and_duration() {
        let (i, jwk) = issuer(None, None);
        let out = block_on(i.issue(
            &caller(ROLE),
            req(&[]),
            UnixTime(1000),
            Jti::from_random([1; 16]),
        ))
        .unwrap();
        assert_eq!(out.expires_in, 900);
        assert_eq!(out.exp, UnixTime(1900));
        assert_eq!(&out.kid, jwk.kid());
        assert_eq!(out.aud, vec!["sts.amazonaws.com"]);
        assert_eq!(out.sub, "arn:aws:iam::111122223333:role/ci-x");
        assert_eq!(out.token.split('.').count(), 3);
    }

    #[test]
    fn rule_caps_duration() {
        let pol = r#"{"rules":[{"principals":["arn:aws:iam::111122223333:role/ci-*"],"audiences":["api://ci"],"max_duration":300}]}"#;
        let (i, _) = issuer(Some(pol), None);
        let c = caller(ROLE);
        let j = || Jti::from_random([0; 16]);
        let out = block_on(i.issue(&c, req(&[("aud", "api://ci")]), UnixTime(0), j())).unwrap();
        assert_eq!(
            out.expires_in, 300,
            "default duration clamped to the rule's cap"
        );
        let too_long = block_on(i.issue(
            &c,
            req(&[("aud", "api://ci"), ("duration", "301")]),
            UnixTime(0),
            j(),
        ));
        assert!(matches!(too_long, Err(Error::InvalidRequest(_))));
        let other = block_on(i.issue(&c, req(&[("aud", "api://other")]), UnixTime(0), j()));
        assert!(matches!(other, Err(Error::InvalidTarget(_))));
    }

    #[test]
    fn refusals() {
        let (i, _) = issuer(None, None);
        let j = || Jti::from_random([0; 16]);
        let root = block_on(i.issue(
            &caller("arn:aws:iam::111122223333:root"),
            req(&[]),
            UnixTime(0),
            j(),
        ));
        assert!(matches!(root, Err(Error::AccessDenied(_))));
        let rs = block_on(i.issue(&caller(ROLE), req(&[("alg", "RS256")]), UnixTime(0), j()));
        assert!(
            matches!(rs, Err(Error::InvalidRequest(_))),
            "RS256 not enabled here"
        );
        for d in ["59", "3601"] {
            let r = block_on(i.issue(&caller(ROLE), req(&[("duration", d)]), UnixTime(0), j()));
            assert!(matches!(r, Err(Error::InvalidRequest(_))), "{d}");
        }
        let (throttled, _) = issuer(None, Some(PortErrorKind::Throttled));
        let r = block_on(throttled.issue(&caller(ROLE), req(&[]), UnixTime(0), j()));
        assert!(matches!(
            r,
            Err(Error::Port(PortError {
                kind: PortErrorKind::Throttled,
                ..
            }))
        ));
    }
}
