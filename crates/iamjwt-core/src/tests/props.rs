//! Property tests for everything that parses untrusted input: no panics on arbitrary input, and the round trips
//! and equivalences that define correct behaviour.

use crate::alg::Curve;
use crate::glob::Glob;
use crate::identity::Principal;
use crate::jwk::PublicJwk;
use crate::limits::{AUDIENCE_MAX_CHARS, MAX_AUDIENCES};
use crate::policy::AudiencePolicy;
use crate::request::TokenRequest;
use crate::types::Audience;
use proptest::prelude::*;

/// Reference glob matcher: plain recursion, obviously correct, exponential — fine for short inputs.
fn reference_glob(p: &[u8], s: &[u8]) -> bool {
    match p.split_first() {
        None => s.is_empty(),
        Some((b'*', rest)) => (0..=s.len()).any(|i| reference_glob(rest, &s[i..])),
        Some((c, rest)) => s.first() == Some(c) && reference_glob(rest, &s[1..]),
    }
}

proptest! {
    #[test]
    fn glob_agrees_with_reference(p in "[ab*]{0,8}", s in "[ab]{0,10}") {
        prop_assert_eq!(Glob::new(&p).matches(&s), reference_glob(p.as_bytes(), s.as_bytes()), "{:?} vs {:?}", p, s);
    }

    #[test]
    fn glob_with_stops_agrees_with_reference(p in "[ab/*]{0,8}", s in "[ab/]{0,10}") {
        // `*` matches any run without `/`: plain recursion.
        fn reference(p: &[u8], s: &[u8]) -> bool {
            match p.split_first() {
                None => s.is_empty(),
                Some((b'*', rest)) => (0..=s.len())
                    .take_while(|&i| i == 0 || s[i - 1] != b'/')
                    .any(|i| reference(rest, &s[i..])),
                Some((c, rest)) => s.first() == Some(c) && reference(rest, &s[1..]),
            }
        }
        prop_assert_eq!(
            Glob::stopping_at(&p, &['/']).matches(&s),
            reference(p.as_bytes(), s.as_bytes()),
            "{:?} vs {:?}", p, s
        );
    }

    #[test]
    fn principal_parse_never_panics(s in ".{0,300}") {
        let _ = Principal::parse(&s);
    }

    #[test]
    fn principal_parse_never_panics_on_arnish(s in "arn:(aws|aws-cn|aws-us-gov|x)?:(sts|iam)?:[a-z0-9-]{0,3}:[0-9]{0,13}:[a-z/+=,.@_-]{0,80}") {
        let _ = Principal::parse(&s);
    }

    #[test]
    fn assumed_role_sub_round_trip(
        partition in "aws(-[a-z]{2,6}){0,2}",
        account in "[0-9]{12}",
        role in "[A-Za-z0-9_+=,.@-]{1,64}",
        session in "[A-Za-z0-9_+=,.@-]{2,64}",
    ) {
        let arn = format!("arn:{partition}:sts::{account}:assumed-role/{role}/{session}");
        let p = Principal::parse(&arn).map_err(|e| TestCaseError::fail(format!("{arn}: {e}")))?;
        prop_assert_eq!(p.sub(), format!("arn:{partition}:iam::{account}:role/{role}"));
        prop_assert_eq!(p.session_name(), Some(session.as_str()));
        // The sub is itself a role ARN that never parses as a caller.
        prop_assert!(Principal::parse(&p.sub()).is_err());
    }

    #[test]
    fn user_arn_is_its_own_sub(
        account in "[0-9]{12}",
        path in prop::collection::vec("[A-Za-z0-9_.-]{1,10}", 0..4),
        name in "[A-Za-z0-9_+=,.@-]{1,64}",
    ) {
        let path = path.iter().map(|p| format!("{p}/")).collect::<String>();
        let arn = format!("arn:aws:iam::{account}:user/{path}{name}");
        let p = Principal::parse(&arn).map_err(|e| TestCaseError::fail(format!("{arn}: {e}")))?;
        prop_assert_eq!(p.sub(), arn);
    }

    #[test]
    fn token_request_parse_never_panics(pairs in prop::collection::vec((".{0,12}", ".{0,40}"), 0..40)) {
        let r = TokenRequest::from_pairs(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        if let Ok(req) = r {
            prop_assert!(req.audiences.len() <= MAX_AUDIENCES);
        }
    }

    #[test]
    fn token_request_accepts_every_valid_audience_set(auds in prop::collection::vec("[ -~]{1,50}", 1..=10), d in 60u64..100_000) {
        let d = d.to_string();
        let mut pairs: Vec<(&str, &str)> = auds.iter().map(|a| ("aud", a.as_str())).collect();
        pairs.push(("duration", d.as_str()));
        let req = TokenRequest::from_pairs(pairs).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let mut unique = auds.clone();
        unique.sort();
        unique.dedup();
        prop_assert_eq!(req.audiences.len(), unique.len());
    }

    #[test]
    fn audience_validation_matches_the_rules(s in ".{0,1100}") {
        let ok = Audience::parse(&s).is_ok();
        let n = s.chars().count();
        prop_assert_eq!(ok, (1..=AUDIENCE_MAX_CHARS).contains(&n) && !s.chars().any(char::is_control));
    }

    #[test]
    fn policy_json_never_panics(s in ".{0,200}") {
        let _ = AudiencePolicy::from_json(Audience::parse("d").unwrap_or_else(|_| unreachable!()), &s, 3600);
    }

    #[test]
    fn policy_json_never_panics_on_structured_input(
        principals in prop::option::of(prop::collection::vec("arn:[a-z*:/0-9-]{0,30}", 0..3)),
        accounts in prop::option::of(prop::collection::vec("[0-9a]{10,13}", 0..3)),
        audiences in prop::collection::vec(".{0,20}", 0..3),
        max in prop::option::of(0u64..5000),
    ) {
        let doc = serde_json::json!({"rules": [{"principals": principals, "accounts": accounts, "audiences": audiences, "max_duration": max}]});
        let _ = AudiencePolicy::from_json(Audience::parse("d").unwrap_or_else(|_| unreachable!()), &doc.to_string(), 3600);
    }

    #[test]
    fn spki_parse_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..400)) {
        let _ = PublicJwk::from_spki_der(&bytes);
    }

    #[test]
    fn spki_parse_never_panics_on_mutated_keys(pos in 0usize..91, byte in any::<u8>()) {
        use p256::pkcs8::EncodePublicKey as _;
        let sk = p256::ecdsa::SigningKey::from_slice(&[0x21; 32]).unwrap_or_else(|_| unreachable!());
        let mut der = sk.verifying_key().to_public_key_der().map(|d| d.as_bytes().to_vec()).unwrap_or_default();
        if pos < der.len() {
            der[pos] = byte;
        }
        if let Ok(jwk) = PublicJwk::from_spki_der(&der) {
            // Whatever survives mutation is a valid P-256 key with a thumbprint kid.
            prop_assert_eq!(jwk.kid().as_str().len(), 43);
        }
    }

    #[test]
    fn der_signature_conversion_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..100)) {
        for curve in [Curve::P256, Curve::P384] {
            if let Ok(jose) = curve.der_to_jose(&bytes) {
                prop_assert_eq!(jose.len(), 2 * curve.coordinate_len());
            }
        }
    }
}

mod templates {
    use crate::identity::{Caller, Principal};
    use crate::template::{PrincipalTags, Template};
    use proptest::prelude::*;

    fn caller() -> impl Strategy<Value = Caller> {
        (
            prop_oneof![Just("aws"), Just("aws-cn"), Just("aws-us-gov")],
            "[0-9]{12}",
            "[A-Za-z0-9+=,.@_-]{1,64}",
            "[A-Za-z0-9+=,.@_-]{2,64}",
            prop_oneof![Just(0u8), Just(1), Just(2), Just(3)],
            "(/[a-z]{1,40}){0,12}",
            proptest::option::of(".{0,300}"),
            proptest::option::of(".{0,60}"),
        )
            .prop_map(|(p, acct, name, session, kind, path, id, org)| {
                let arn = match kind {
                    0 => format!("arn:{p}:sts::{acct}:assumed-role/{name}/{session}"),
                    1 => format!("arn:{p}:iam::{acct}:user{path}/{name}"),
                    2 => format!(
                        "arn:{p}:sts::{acct}:federated-user/{}",
                        &session[..session.len().min(32)]
                    ),
                    _ => format!("arn:{p}:iam::{acct}:root"),
                };
                Caller {
                    principal: Principal::parse(&arn).unwrap(),
                    principal_id: id,
                    org_id: org,
                    source_ip: None,
                }
            })
    }

    fn piece() -> impl Strategy<Value = String> {
        prop_oneof![
            "[a-z/@.:-]{0,8}",
            Just("{{".to_owned()),
            Just("}}".to_owned()),
            prop_oneof![
                Just("principal_arn"),
                Just("caller_arn"),
                Just("partition"),
                Just("account"),
                Just("principal_type"),
                Just("name"),
                Just("session_name"),
                Just("principal_id"),
                Just("org_id"),
                Just("tag:team"),
                Just("tag:a:b"),
                Just("nope"),
            ]
            .prop_flat_map(|v| proptest::option::of(0usize..300).prop_map(move |b| {
                match b {
                    Some(b) => format!("{{{v}|{b}}}"),
                    None => format!("{{{v}}}"),
                }
            })),
        ]
    }

    proptest! {
        #[test]
        fn parse_never_panics(s in ".{0,200}") {
            let _ = Template::parse(&s);
        }

        #[test]
        fn render_never_exceeds_the_bound(
            pieces in proptest::collection::vec(piece(), 0..8),
            c in caller(),
            team in proptest::option::of("\\PC{0,300}"),
            ab in proptest::option::of("[a-zé]{0,300}"),
        ) {
            let source: String = pieces.concat();
            if let Ok(t) = Template::parse(&source) {
                let mut tags = PrincipalTags::new();
                if let Some(v) = team { tags.insert("team".into(), v); }
                if let Some(v) = ab { tags.insert("a:b".into(), v); }
                if let Ok(out) = t.render(&c, Some(&tags)) {
                    prop_assert!(out.len() <= t.bound(), "{:?} → {} bytes > bound {}", source, out.len(), t.bound());
                }
            }
        }
    }
}
