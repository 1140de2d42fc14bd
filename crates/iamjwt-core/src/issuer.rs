//! Token issuance: verified caller + parsed request → signed JWT. The use case both the Lambda handler and the
//! local gateway run; it holds everything it needs (no per-request config parsing or key loading).

use crate::claims::{Claims, Jti, Lifetime};
use crate::config::{MIN_DURATION, Settings};
use crate::error::Error;
use crate::identity::Caller;
use crate::jws::{self, Header};
use crate::policy::AudiencePolicy;
use crate::ports::{NoTags, Signer, TagSource};
use crate::request::TokenRequest;
use crate::time::UnixTime;
use crate::types::{Algorithm, Audience, Kid};
use std::sync::Arc;

/// The issuing rules, extracted once from [`Settings`].
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
    pub session_tags: bool,
}

impl From<&Settings> for IssuePolicy {
    fn from(s: &Settings) -> Self {
        Self {
            issuer: s.issuer.clone(),
            policy: s.policy.clone(),
            algorithms: s.algorithms.clone(),
            default_algorithm: s.default_algorithm,
            default_duration: s.default_duration,
            max_duration: s.max_duration,
            nbf_skew: s.nbf_skew,
            allow_root: s.allow_root,
            session_tags: s.session_tags,
        }
    }
}

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

    /// Where `https://aws.amazon.com/tags` values come from when `IAMJWT_SESSION_TAGS` is on.
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
        let tags = if p.session_tags {
            self.tags.session_tags(caller).await?
        } else {
            None
        };
        let claims = Claims::build(
            &p.issuer,
            caller,
            audiences,
            Lifetime {
                now,
                duration,
                nbf_skew: p.nbf_skew,
            },
            jti,
            tags,
        );

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
