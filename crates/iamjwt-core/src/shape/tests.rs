use super::*;
use crate::claims::{Jti, Lifetime};
use crate::identity::Principal;
use crate::time::UnixTime;
use crate::types::Audience;
use serde_json::json;

fn shape(v: serde_json::Value) -> Result<Shape, String> {
    Shape::parse(serde_json::from_value(v).unwrap())
}

fn caller(arn: &str) -> Caller {
    Caller {
        principal: Principal::parse(arn).unwrap(),
        principal_id: Some("AROAEXAMPLE:run-1".into()),
        org_id: None,
        source_ip: None,
    }
}

fn claims(c: &Caller) -> Claims {
    Claims::build(
        "https://id.example.com",
        c,
        vec![Audience::parse("a").unwrap()],
        Lifetime {
            now: UnixTime(1_700_000_000),
            duration: 900,
            nbf_skew: 30,
        },
        Jti::from_random([1; 16]),
        None,
    )
}

fn tags(pairs: &[(&str, &str)]) -> PrincipalTags {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

#[test]
fn shapes_sub_claims_and_session_tags() {
    let s = shape(json!({
        "sub": "{account}/{name}/{tag:team|32}",
        "claims": {"email": "{name}@ci.example.com", "env": "prod", "n": 3, "nested": {"a": [1, "{name}"]},
                   "org": "{org_id}"},
        "session_tags": {"keys": ["team", "cost-*"], "transitive": ["team"]}
    }))
    .unwrap();
    assert!(s.needs_tags() && !s.is_empty());
    let c = caller("arn:aws:sts::111122223333:assumed-role/ci-deploy/run-1");
    let t = tags(&[("team", "blue"), ("cost-center", "42"), ("secret", "x")]);
    let mut out = claims(&c);
    s.apply(
        &mut out,
        ShapeInputs {
            caller: &c,
            principal_tags: Some(&t),
            all_session_tags: false,
        },
    )
    .unwrap();
    let v = serde_json::to_value(&out).unwrap();
    assert_eq!(v["sub"], "111122223333/ci-deploy/blue");
    assert_eq!(v["email"], "ci-deploy@ci.example.com");
    assert_eq!(v["env"], "prod");
    assert_eq!(v["n"], 3);
    assert_eq!(
        v["nested"],
        json!({"a": [1, "{name}"]}),
        "only top-level strings are templates"
    );
    assert!(v.get("org").is_none(), "a claim without a value is dropped");
    assert_eq!(
        v[SESSION_TAGS_CLAIM],
        json!({"principal_tags": {"cost-center": ["42"], "team": ["blue"]}, "transitive_tag_keys": ["team"]})
    );
    // the registered claims are untouched
    assert_eq!(v["iss"], "https://id.example.com");
    assert_eq!(v["aws"]["account"], "111122223333");
}

#[test]
fn sub_fails_closed_without_its_values() {
    let s = shape(json!({"sub": "{tag:team|32}"})).unwrap();
    let c = caller("arn:aws:sts::111122223333:assumed-role/ci/run-1");
    for t in [
        tags(&[]),
        tags(&[("team", "")]),
        tags(&[("team", &"x".repeat(33))]),
    ] {
        let mut out = claims(&c);
        let r = s.apply(
            &mut out,
            ShapeInputs {
                caller: &c,
                principal_tags: Some(&t),
                all_session_tags: false,
            },
        );
        assert!(matches!(r, Err(Error::AccessDenied(_))), "{t:?}: {r:?}");
    }
    let s = shape(json!({"sub": "{session_name}"})).unwrap();
    let user = caller("arn:aws:iam::111122223333:user/u");
    let r = s.apply(
        &mut claims(&user),
        ShapeInputs {
            caller: &user,
            principal_tags: None,
            all_session_tags: false,
        },
    );
    assert!(matches!(r, Err(Error::AccessDenied(m)) if m.contains("{session_name}")));
}

#[test]
fn start_up_refusals() {
    for (doc, says) in [
        (json!({"sub": "{nope}"}), "unknown variable"),
        (json!({"sub": "fixed"}), "no variable"),
        (json!({"sub": "{caller_arn}"}), "over the 255"),
        (json!({"sub": "{tag:team}"}), "over the 255"),
        (json!({"sub": "{principal_arn|200}{name}"}), "over the 255"),
        (json!({"claims": {"sub": "x"}}), "reserved"),
        (json!({"claims": {"aws": "x"}}), "reserved"),
        (json!({"claims": {"azp": "x"}}), "reserved"),
        (json!({"claims": {"request_tags": "x"}}), "reserved"),
        (
            json!({"claims": {"https://aws.amazon.com/tags": {}}}),
            "reserved",
        ),
        (json!({"claims": {"": "x"}}), "reserved or empty"),
        (
            json!({"claims": {"e": "{tag:a}{tag:b}{tag:c}"}}),
            "more than a token",
        ),
        (
            json!({"claims": {"e": "x".repeat(3000)}}),
            "more than a token",
        ),
        (json!({"claims": {"e": "{bad}"}}), "unknown variable"),
        (json!({"session_tags": {"keys": []}}), "at least one"),
        (json!({"session_tags": {"keys": ["aws:x"]}}), "reserved"),
        (json!({"session_tags": {"keys": ["a!"]}}), "tag characters"),
        (
            json!({"session_tags": {"keys": ["k".repeat(129)]}}),
            "1 to 128",
        ),
        (
            json!({"session_tags": {"keys": (0..51).map(|i| format!("k{i}")).collect::<Vec<_>>()}}),
            "at most 50",
        ),
        (
            json!({"session_tags": {"keys": ["team"], "transitive": ["cost"]}}),
            "not selected",
        ),
        (json!({"request_tags": []}), "empty"),
        (json!({"request_tags": ["a,b"]}), "tag characters"),
    ] {
        let e = shape(doc.clone()).unwrap_err();
        assert!(e.contains(says), "{doc}: {e}");
    }
    assert!(
        serde_json::from_value::<ShapeDoc>(json!({"session_tags": {"keys": ["a"], "extra": 1}}))
            .is_err()
    );
    assert!(shape(json!({"sub": "{principal_arn|200}"})).is_ok());
    assert!(shape(json!({"session_tags": {"keys": ["*"], "transitive": ["t*"]}})).is_ok());
}

#[test]
fn session_tag_claim_shape_and_limits() {
    let rule = |v| SessionTagRule::parse(serde_json::from_value(v).unwrap()).unwrap();
    let all = session_tags(&tags(&[("b", "2"), ("a", "1")]), None)
        .unwrap()
        .unwrap();
    assert_eq!(
        serde_json::to_value(&all).unwrap(),
        json!({"principal_tags": {"a": ["1"], "b": ["2"]}}),
        "IAMJWT_SESSION_TAGS: every tag, none transitive"
    );
    assert_eq!(session_tags(&tags(&[]), None).unwrap(), None);
    let r = rule(json!({"keys": ["x"]}));
    assert_eq!(session_tags(&tags(&[("a", "1")]), Some(&r)).unwrap(), None);

    let fifty: PrincipalTags = (0..50).map(|i| (format!("k{i}"), "v".into())).collect();
    assert_eq!(
        session_tags(&fifty, None)
            .unwrap()
            .unwrap()
            .principal_tags
            .len(),
        50
    );
    let mut fifty_one = fifty.clone();
    fifty_one.insert("k50".into(), "v".into());
    assert!(
        matches!(session_tags(&fifty_one, None), Err(Error::AccessDenied(m)) if m.contains("at most 50"))
    );
    // a rule narrows 51 down to what fits
    let r = rule(json!({"keys": ["k1*"]}));
    assert_eq!(
        session_tags(&fifty_one, Some(&r))
            .unwrap()
            .unwrap()
            .principal_tags
            .len(),
        11
    );
    for bad in [
        tags(&[("k", &"v".repeat(257))]),
        tags(&[(&"k".repeat(129), "v")]),
        tags(&[("aws:x", "v")]),
        tags(&[("k", "a\u{7}")]),
        tags(&[("Team", "a"), ("team", "b")]),
    ] {
        assert!(
            matches!(session_tags(&bad, None), Err(Error::AccessDenied(_))),
            "{bad:?}"
        );
    }
    assert!(session_tags(&tags(&[("k", &"é".repeat(256))]), None).is_ok());
}

#[test]
fn request_tag_keys() {
    let s = shape(json!({"request_tags": ["job", "pipeline-*"]})).unwrap();
    let keys = |ks: &[&str]| ks.iter().map(|k| (*k).to_owned()).collect::<Vec<_>>();
    assert_eq!(
        s.refused_request_tag(keys(&["job", "pipeline-7"]).iter()),
        None
    );
    assert_eq!(
        s.refused_request_tag(keys(&["job", "other"]).iter()),
        Some(&"other".to_owned())
    );
    assert_eq!(
        Shape::default().refused_request_tag(keys(&["job"]).iter()),
        Some(&"job".to_owned())
    );
    assert!(!s.needs_tags());
}

#[test]
fn doc_round_trip() {
    let doc: ShapeDoc = serde_json::from_value(json!({
        "sub": "{account}/{name}", "claims": {"email": "{name}@x", "n": 1},
        "session_tags": {"keys": ["team", "cost-*"], "transitive": ["team"]}, "request_tags": ["job"]
    }))
    .unwrap();
    let s = Shape::parse(doc.clone()).unwrap();
    assert_eq!(s.to_doc(), doc);
    assert_eq!(Shape::parse(s.to_doc()).unwrap(), s);
}
