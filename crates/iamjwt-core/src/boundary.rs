//! The attacker's tests of the audience policy's trust boundary (DESIGN.md §4, issue 19 §1–2): principal patterns
//! match an ARN field by field, audience patterns one URL component at a time, and one rule never gives two
//! principals the same `sub`. Each case here is an input that crossed the boundary before matching was by field.

use crate::error::Error;
use crate::identity::{Caller, Principal};
use crate::policy::AudiencePolicy;
use crate::template::Template;
use crate::types::Audience;

fn aud(s: &str) -> Audience {
    Audience::parse(s).unwrap()
}

fn caller(arn: &str) -> Caller {
    Caller {
        principal: Principal::parse(arn).unwrap(),
        principal_id: None,
        org_id: None,
        source_ip: None,
    }
}

fn policy(json: &str) -> Result<AudiencePolicy, Error> {
    AudiencePolicy::from_json(aud("sts.amazonaws.com"), json, 3600)
}

/// Whether `caller_arn` gets `audience` from a policy with one rule for `pattern`.
fn granted(pattern: &str, caller_arn: &str, audience: &str) -> bool {
    let p = policy(
        &serde_json::json!({"rules": [{"principals": [pattern], "audiences": [audience]}]})
            .to_string(),
    )
    .unwrap();
    p.decide(&caller(caller_arn), &[aud(audience)]).is_ok()
}

/// Whether a one-rule policy granting `pattern` to everyone grants `audience`.
fn audience_granted(pattern: &str, audience: &str) -> bool {
    let p = policy(&serde_json::json!({"rules": [{"audiences": [pattern]}]}).to_string()).unwrap();
    p.decide(
        &caller("arn:aws:sts::111122223333:assumed-role/r/s1"),
        &[aud(audience)],
    )
    .is_ok()
}

#[test]
fn a_user_whose_path_holds_role_never_matches_a_role_pattern() {
    // IAM paths may hold any printable ASCII, `:` and `role/` included.
    for user in [
        "arn:aws:iam::111122223333:user/x:role/ci-deploy",
        "arn:aws:iam::999999999999:user/x:role/ci-deploy",
        "arn:aws:iam::111122223333:user/:role/ci-x/ci-deploy",
    ] {
        assert!(
            !granted("arn:aws:iam::*:role/ci-*", user, "api://ci"),
            "{user} matched a role pattern"
        );
    }
    // The roles it was written for still match.
    assert!(granted(
        "arn:aws:iam::*:role/ci-*",
        "arn:aws:sts::111122223333:assumed-role/ci-deploy/run-1",
        "api://ci"
    ));
}

#[test]
fn a_star_in_one_field_never_reaches_into_another() {
    // `arn:*:` was meant to be "any partition"; one glob over the string let it eat a whole foreign ARN prefix.
    let pattern = "arn:*:iam::111122223333:role/deploy";
    let forged = "arn:aws:iam::999999999999:user/:iam::111122223333:role/deploy";
    assert!(
        !granted(pattern, forged, "api://x"),
        "another account's user matched"
    );
    for p in ["aws", "aws-us-gov"] {
        assert!(granted(
            pattern,
            &format!("arn:{p}:sts::111122223333:assumed-role/deploy/s1"),
            "api://x"
        ));
    }
    // An account star stays in the account.
    assert!(!granted(
        "arn:aws:iam::1111*:user/bob",
        "arn:aws:iam::999999999999:user/1111:x/bob",
        "api://x"
    ));
}

#[test]
fn a_star_in_a_name_never_crosses_a_path_segment() {
    let pattern = "arn:aws:iam::111122223333:user/ci-*";
    assert!(granted(
        pattern,
        "arn:aws:iam::111122223333:user/ci-bot",
        "api://x"
    ));
    for u in [
        "arn:aws:iam::111122223333:user/ci-x/admin",
        "arn:aws:iam::111122223333:user/ci-x/../admin",
    ] {
        assert!(!granted(pattern, u, "api://x"), "{u}");
    }
}

#[test]
fn each_principal_type_matches_only_its_own_patterns() {
    let callers = [
        ("role", "arn:aws:sts::111122223333:assumed-role/deploy/s1"),
        ("user", "arn:aws:iam::111122223333:user/deploy"),
        (
            "federated-user",
            "arn:aws:sts::111122223333:federated-user/deploy",
        ),
        ("root", "arn:aws:iam::111122223333:root"),
    ];
    let patterns = [
        ("role", "arn:aws:iam::111122223333:role/deploy"),
        ("user", "arn:aws:iam::111122223333:user/deploy"),
        (
            "federated-user",
            "arn:aws:sts::111122223333:federated-user/deploy",
        ),
        ("root", "arn:aws:iam::111122223333:root"),
    ];
    for (pt, pattern) in patterns {
        for (ct, arn) in callers {
            assert_eq!(
                granted(pattern, arn, "api://x"),
                pt == ct,
                "{pattern} vs {arn}"
            );
        }
    }
}

#[test]
fn patterns_that_cannot_be_parsed_are_refused_naming_the_rule() {
    for bad in [
        "arn:aws:iam::111122223333",
        "arn:aws:iam::111122223333:group/admins",
        "arn:aws:iam::111122223333:*",
        "arn:aws:iam::111122223333:*/deploy",
        "arn:aws:iam::111122223333:role/team/deploy",
        "arn:aws:iam::111122223333:role/",
        "arn:aws:iam::111122223333:role/a:b",
        "arn:aws:sts::111122223333:assumed-role/deploy/s1",
        "arn:aws:sts::111122223333:role/deploy",
        "arn:aws:iam::111122223333:federated-user/deploy",
        "arn:aws:iam:us-east-1:111122223333:role/deploy",
        "arn:aws:iam::12:role/deploy",
        "arn:aws:iam::1111222233334:role/deploy",
        "arn:aws:iam::11112222333x:role/deploy",
        "arn:AWS:iam::111122223333:role/deploy",
        "arn:aws:iam::111122223333:root/x",
        "arn:aws:iam::111122223333:user//x",
        "arn:aws:iam::111122223333:user/**/a/**/b",
        "arn:aws:iam::111122223333:user/a/**",
    ] {
        let json = serde_json::json!({"rules": [{"audiences": ["a"]}, {"principals": ["arn:aws:iam::111122223333:role/ok", bad], "audiences": ["a"]}]});
        match policy(&json.to_string()) {
            Err(Error::Config { name, reason }) => {
                assert_eq!(name, "IAMJWT_AUDIENCE_POLICY");
                assert!(
                    reason.contains("rule 1") && reason.contains(bad),
                    "{bad}: {reason}"
                );
                assert!(!reason.contains('\n'), "{reason}");
            }
            other => panic!("{bad} gave {other:?}"),
        }
    }
}

#[test]
fn an_audience_star_stays_inside_one_url_component() {
    let pattern = "https://*.example.com";
    assert!(audience_granted(pattern, "https://a.example.com"));
    assert!(audience_granted(pattern, "https://a.b.example.com"));
    for a in [
        "https://evil.com/x.example.com",
        "https://evil.com?.example.com",
        "https://evil.com?x=.example.com",
        "https://evil.com#.example.com",
        "https://evil.com\\.example.com",
        "https://user@evil.com:.example.com",
        "https://a.example.com@evil.com",
        "https://evil.com:1.example.com",
        "https://a.example.com:444",
        "https://a.example.com/",
        "https://example.com",
        "https://a.example.com.evil.com",
    ] {
        assert!(!audience_granted(pattern, a), "{pattern} granted {a}");
    }
    let path = "https://api.example.com/tenants/*";
    assert!(audience_granted(path, "https://api.example.com/tenants/t1"));
    for a in [
        "https://api.example.com/tenants/t1/admin",
        "https://api.example.com/tenants/t1?x",
        "https://api.example.com/tenants/t1#x",
    ] {
        assert!(!audience_granted(path, a), "{path} granted {a}");
    }
    // Non-URL audiences keep working, and a lone `*` still grants every audience.
    assert!(audience_granted("api://*", "api://ci"));
    assert!(audience_granted("sts.amazonaws.*", "sts.amazonaws.com"));
    assert!(audience_granted("*", "https://anything.example/x?y#z"));
}

#[test]
fn a_sub_that_cannot_keep_principals_apart_is_refused() {
    // The collision itself: one name, three principal types, one sub.
    let t = Template::parse("{account}/{name}").unwrap();
    let subs: Vec<String> = [
        "arn:aws:sts::111122223333:assumed-role/deploy/s1",
        "arn:aws:iam::111122223333:user/deploy",
        "arn:aws:sts::111122223333:federated-user/deploy",
    ]
    .iter()
    .map(|a| t.render(&caller(a), None).unwrap())
    .collect();
    assert!(subs.iter().all(|s| s == "111122223333/deploy"), "{subs:?}");

    const ROLES_IN_ONE: &str = r#""principals": ["arn:aws:iam::111122223333:role/ci-*"]"#;
    const TWO_ACCOUNTS: &str = r#""accounts": ["111122223333", "444455556666"]"#;
    for (selectors, sub, says) in [
        ("", "{account}/{name}", "{principal_type}"),
        (TWO_ACCOUNTS, "{account}/{name}", "{principal_type}"),
        (
            r#""principals": ["arn:aws:iam::111122223333:role/*", "arn:aws:iam::111122223333:user/*"]"#,
            "{account}/{name}",
            "{principal_type}",
        ),
        (
            r#""principals": ["arn:aws:iam::*:role/ci-*"]"#,
            "{name}",
            "{account}",
        ),
        (TWO_ACCOUNTS, "{principal_type}/{name}", "{account}"),
        (ROLES_IN_ONE, "{session_name}", "{name}"),
        (ROLES_IN_ONE, "{tag:team|32}", "{name}"),
        (ROLES_IN_ONE, "{account}-{tag:team|32}", "{name}"),
        (ROLES_IN_ONE, "{org_id}", "{name}"),
        ("", "{principal_type}/{account}", "{name}"),
        // Adjacent variables that run into each other: (User, "deployFederated") and (FederatedUser, "deploy")
        // both render "deployFederatedUser".
        ("", "{account}/{name}{principal_type}", "ambiguous"),
        // A user in account B tagged "arn:aws:iam::A:user/zzz/" and the user /zzz/arn:aws:iam::B:user/bob of A.
        ("", "{tag:x|64}{principal_arn|190}", "ambiguous"),
        ("", "{principal_arn|190}/{tag:x|64}", "ambiguous"),
    ] {
        let sep = if selectors.is_empty() { "" } else { ", " };
        let json =
            format!(r#"{{"rules": [{{{selectors}{sep}"audiences": ["a"], "sub": "{sub}"}}]}}"#);
        match policy(&json) {
            Err(Error::Config { reason, .. }) => {
                assert!(
                    reason.contains("rule 0") && reason.contains(says),
                    "{json}: {reason}"
                );
                assert!(!reason.contains('\n'), "{reason}");
            }
            other => panic!("{json} gave {other:?}"),
        }
    }

    for (selectors, sub) in [
        (ROLES_IN_ONE, "{account}/{name}"),
        (ROLES_IN_ONE, "{name}"),
        (ROLES_IN_ONE, "{name}@ci.example.com"),
        (ROLES_IN_ONE, "{name}/{session_name}"),
        (r#""accounts": ["111122223333"]"#, "{principal_type}:{name}"),
        (
            r#""accounts": ["111122223333", "444455556666"], "principals": ["arn:aws:iam::111122223333:user/**/*"]"#,
            "{name}",
        ),
        ("", "{principal_type}/{account}/{name}"),
        ("", "{principal_type}{account}{name}"),
        ("", "{tag:team|32}/{account}/{principal_type}/{name}"),
        ("", "{principal_arn|250}"),
        ("", "{principal_arn|190}/{session_name}"),
        ("", "{caller_arn|250}-x"),
        ("", "{principal_id|128}"),
        (r#""principals": ["arn:aws:iam::*:root"]"#, "{account}"),
    ] {
        let sep = if selectors.is_empty() { "" } else { ", " };
        let json =
            format!(r#"{{"rules": [{{{selectors}{sep}"audiences": ["a"], "sub": "{sub}"}}]}}"#);
        policy(&json).unwrap_or_else(|e| panic!("{json}: {e}"));
    }
}
