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

/// Hostile inputs against the independent oracle ([`crate::oracle`]), and the `sub` promise checked on renders.
mod properties {
    use crate::identity::{Caller, Principal, PrincipalKind};
    use crate::oracle;
    use crate::policy::AudiencePolicy;
    use crate::template::PrincipalTags;
    use crate::types::Audience;
    use proptest::collection::vec;
    use proptest::prelude::*;
    use proptest::sample::select;
    use std::collections::BTreeMap;

    const DEFAULT: &str = "sts.amazonaws.com";
    const ACCOUNTS: [&str; 2] = ["111122223333", "444455556666"];
    const ORG: &str = "o-a1b2c3d4e5";

    /// A name in IAM's full character set, often one of a few that collide.
    fn name() -> impl Strategy<Value = String> {
        prop_oneof![
            select(vec![
                "deploy",
                "deployUser",
                "deployFederated",
                "ci-x",
                "ci",
                "d"
            ])
            .prop_map(str::to_owned),
            "[A-Za-z0-9_+=,.@-]{1,10}",
        ]
    }

    /// A path segment: any printable ASCII but `/`, often an ARN fragment.
    fn path_segment() -> impl Strategy<Value = String> {
        prop_oneof![
            select(vec![
                "x:role",
                ":iam::111122223333:role",
                "role",
                "ci-x",
                "..",
                "*",
                "team",
                "user"
            ])
            .prop_map(str::to_owned),
            "[!-.0-~]{1,8}",
        ]
    }

    /// A caller ARN of any principal type.
    fn caller_arn() -> impl Strategy<Value = String> {
        (
            select(vec!["aws", "aws-cn", "aws-us-gov"]),
            select(ACCOUNTS.to_vec()),
            0..4u8,
            name(),
            vec(path_segment(), 0..3),
            "[A-Za-z0-9_+=,.@-]{2,10}",
        )
            .prop_map(|(p, a, kind, n, path, session)| match kind {
                0 => format!("arn:{p}:sts::{a}:assumed-role/{n}/{session}"),
                1 => {
                    let path: String = path.iter().map(|s| format!("{s}/")).collect();
                    format!("arn:{p}:iam::{a}:user/{path}{n}")
                }
                2 => {
                    let n = if n.len() < 2 { format!("{n}{n}x") } else { n };
                    format!("arn:{p}:sts::{a}:federated-user/{n}")
                }
                _ => format!("arn:{p}:iam::{a}:root"),
            })
    }

    fn name_glob() -> impl Strategy<Value = String> {
        prop_oneof![
            select(vec![
                "*", "deploy", "ci-*", "deploy*", "*User", "d*y", "*-*"
            ])
            .prop_map(str::to_owned),
            name(),
        ]
    }

    fn segment_glob() -> impl Strategy<Value = String> {
        prop_oneof![
            select(vec![
                "*",
                "**",
                "x:role",
                "*:role",
                "t*",
                ":iam::111122223333:role"
            ])
            .prop_map(str::to_owned),
            path_segment(),
        ]
    }

    /// A principal pattern: mostly well formed, of every type, with globs in every field; some malformed.
    fn principal_pattern() -> impl Strategy<Value = String> {
        (
            select(vec!["aws", "*", "aws-*", "aws-cn", "a*"]),
            select(vec!["iam", "sts"]),
            select(vec!["111122223333", "444455556666", "*", "1111*", "*3333"]),
            0..5u8,
            vec(segment_glob(), 0..3),
            name_glob(),
        )
            .prop_map(|(p, service, a, kind, path, n)| {
                let path: String = path.iter().map(|s| format!("{s}/")).collect();
                match kind {
                    0 => format!("arn:{p}:iam::{a}:role/{n}"),
                    1 => format!("arn:{p}:iam::{a}:user/{path}{n}"),
                    2 => format!("arn:{p}:sts::{a}:federated-user/{n}"),
                    3 => format!("arn:{p}:iam::{a}:root"),
                    // Whatever the pieces make: wrong services, paths on roles, assumed-role ARNs.
                    _ => format!(
                        "arn:{p}:{service}::{a}:{}{path}{n}",
                        ["role/", "assumed-role/", ""][n.len() % 3]
                    ),
                }
            })
    }

    /// A caller and a pattern cut from its own principal ARN: one or two runs of characters replaced by `*`,
    /// anywhere — across `:` and `/` too, which is what a whole-string glob would let through.
    fn caller_and_cut_pattern() -> impl Strategy<Value = (String, String)> {
        caller_arn()
            .prop_flat_map(|arn| {
                let sub = Principal::parse(&arn).map(|p| p.sub()).unwrap_or_default();
                let n = sub.chars().count();
                (Just(arn), Just(sub), vec((0..=n, 0..=n), 1..=2))
            })
            .prop_map(|(arn, sub, cuts)| {
                let mut chars: Vec<char> = sub.chars().collect();
                let mut cuts = cuts;
                cuts.sort_by(|a, b| b.cmp(a));
                for (a, b) in cuts {
                    let (lo, hi) = (a.min(b).min(chars.len()), a.max(b).min(chars.len()));
                    chars.splice(lo..hi, ['*']);
                }
                (arn, chars.into_iter().collect())
            })
    }

    /// A user whose path forges the tail of a role's (or another type's) ARN, and a pattern for that role with
    /// a star in some field: a whole-string glob matches the two; field by field they never do.
    fn forging_user_and_pattern() -> impl Strategy<Value = (String, String)> {
        (
            select(ACCOUNTS.to_vec()),
            select(ACCOUNTS.to_vec()),
            select(vec!["role", "user", "federated-user"]),
            name(),
            "[!-.0-~]{0,4}",
            0..4u8,
        )
            .prop_map(|(victim, attacker, ty, n, junk, star)| {
                let service = if ty == "federated-user" { "sts" } else { "iam" };
                let arn =
                    format!("arn:aws:iam::{attacker}:user/{junk}:{service}::{victim}:{ty}/{n}");
                let pattern = match star {
                    0 => format!("arn:*:{service}::{victim}:{ty}/{n}"),
                    1 => format!("arn:aws:{service}::*:{ty}/{n}"),
                    2 => format!("arn:aws:{service}::*:{ty}/*"),
                    _ => format!("arn:a*:{service}::{victim}:{ty}/*"),
                };
                (arn, pattern)
            })
            .prop_filter("an IAM path has no //", |(arn, _)| {
                Principal::parse(arn).is_ok()
            })
    }

    /// Text with every URL delimiter.
    fn url_piece(star: bool) -> impl Strategy<Value = String> {
        let mut pieces = vec![
            "https://",
            "api://",
            "a",
            "example.com",
            ".",
            "/",
            "?",
            "#",
            "@",
            ":",
            "\\",
            "evil.com",
            "x.example.com",
            "ci",
            "444",
            "%2f",
            "=",
        ];
        if star {
            pieces.extend(["*", "*", "*."]);
        }
        select(pieces).prop_map(str::to_owned)
    }

    fn audience() -> impl Strategy<Value = String> {
        vec(url_piece(false), 1..7).prop_map(|p| p.concat())
    }

    fn audience_pattern() -> impl Strategy<Value = String> {
        vec(url_piece(true), 1..7).prop_map(|p| p.concat())
    }

    /// A pattern and an audience made from it by filling each `*`, sometimes with URL delimiters.
    fn audience_pattern_and_fill() -> impl Strategy<Value = (String, String)> {
        audience_pattern()
            .prop_flat_map(|p| {
                let stars = p.matches('*').count();
                let fill = select(vec![
                    "a",
                    "x.y",
                    "evil.com/",
                    "a?b",
                    "u@h",
                    ":444",
                    "",
                    "b#",
                    "\\",
                    "a/b",
                    "%2f",
                ]);
                (Just(p), vec(fill, stars))
            })
            .prop_map(|(p, fills)| {
                let mut out = String::new();
                let mut fills = fills.into_iter();
                for c in p.chars() {
                    match c {
                        '*' => out.push_str(fills.next().unwrap_or("")),
                        c => out.push(c),
                    }
                }
                (p, out)
            })
            .prop_filter("an audience is not empty", |(_, a)| !a.is_empty())
    }

    fn rule() -> impl Strategy<Value = serde_json::Value> {
        (
            proptest::option::of(vec(principal_pattern(), 1..3)),
            proptest::option::of(proptest::sample::subsequence(ACCOUNTS.to_vec(), 1..=2)),
            proptest::option::of(Just(vec![ORG])),
            vec(audience_pattern(), 1..3),
            any::<bool>(),
        )
            .prop_map(|(principals, accounts, org_ids, mut audiences, shapes)| {
                if shapes {
                    audiences.push(DEFAULT.into());
                }
                let mut r = serde_json::json!({"audiences": audiences});
                if let Some(p) = principals {
                    r["principals"] = p.into();
                }
                if let Some(a) = accounts {
                    r["accounts"] = a.into();
                }
                if let Some(o) = org_ids {
                    r["org_ids"] = o.into();
                }
                if shapes {
                    r["request_tags"] = serde_json::json!(["job"]);
                }
                r
            })
    }

    fn caller(arn: &str, org: bool) -> Caller {
        Caller {
            principal: Principal::parse(arn).unwrap(),
            principal_id: Some(arn.to_owned()),
            org_id: org.then(|| ORG.to_owned()),
            source_ip: None,
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        #[test]
        fn principal_patterns_agree_with_the_oracle(
            (arn, pattern) in prop_oneof![
                (caller_arn(), principal_pattern()),
                caller_and_cut_pattern(),
                forging_user_and_pattern(),
            ],
        ) {
            let json = serde_json::json!({"rules": [{"principals": [&pattern], "audiences": ["api://x"]}]});
            if let Ok(p) = AudiencePolicy::from_json(Audience::parse(DEFAULT).unwrap(), &json.to_string(), 3600) {
                let got = p.decide(&caller(&arn, false), &[Audience::parse("api://x").unwrap()]).is_ok();
                prop_assert_eq!(got, oracle::principal_matches(&pattern, &arn), "{} vs {}", pattern, arn);
            }
        }

        #[test]
        fn audience_patterns_agree_with_the_oracle(
            (pattern, a) in prop_oneof![(audience_pattern(), audience()), audience_pattern_and_fill()],
        ) {
            let json = serde_json::json!({"rules": [{"audiences": [&pattern]}]});
            let p = AudiencePolicy::from_json(Audience::parse(DEFAULT).unwrap(), &json.to_string(), 3600).unwrap();
            let c = caller("arn:aws:iam::111122223333:user/u", false);
            let got = p.decide(&c, &[Audience::parse(&a).unwrap()]).is_ok();
            prop_assert_eq!(got, a == DEFAULT || oracle::audience_matches(&pattern, &a), "{} vs {}", pattern, a);
        }

        #[test]
        fn decide_agrees_with_the_oracle(
            rules in vec(rule(), 1..4),
            callers in vec((caller_arn(), any::<bool>()), 1..4),
            requests in vec(vec(prop_oneof![audience(), Just(DEFAULT.to_owned())], 0..3), 1..4),
        ) {
            let doc = serde_json::json!({"rules": rules});
            let Ok(p) = AudiencePolicy::from_json(Audience::parse(DEFAULT).unwrap(), &doc.to_string(), 3600) else {
                return Ok(());
            };
            for (arn, org) in &callers {
                for req in &requests {
                    let auds: Vec<Audience> = req.iter().map(|a| Audience::parse(a).unwrap()).collect();
                    let got = p.decide(&caller(arn, *org), &auds).ok().map(|g| g.rule);
                    let strs: Vec<&str> = req.iter().map(String::as_str).collect();
                    let want = oracle::decide(&doc, DEFAULT, arn, org.then_some(ORG), &strs);
                    prop_assert_eq!(got, want, "{} asking {:?} of {}", arn, req, doc);
                }
            }
        }
    }

    fn template_piece() -> impl Strategy<Value = String> {
        select(vec![
            "{principal_arn|120}",
            "{caller_arn|120}",
            "{partition}",
            "{account}",
            "{principal_type}",
            "{name}",
            "{session_name}",
            "{principal_id|120}",
            "{org_id}",
            "{tag:t|24}",
            "",
            "/",
            "-",
            ":",
            "@",
            "User",
            "Federated",
            "1",
            "x",
        ])
        .prop_map(str::to_owned)
    }

    /// Who a principal is: account, type and name (a user's path is not part of its identity: IAM user names are
    /// unique in an account; the partition is one per deployment).
    fn identity(p: &Principal) -> (String, &'static str, String) {
        let name = match p.kind() {
            PrincipalKind::AssumedRole { role, .. } => role.clone(),
            PrincipalKind::User { name, .. } | PrincipalKind::FederatedUser { name } => {
                name.clone()
            }
            PrincipalKind::Root => String::new(),
        };
        (
            p.account().as_str().to_owned(),
            p.resource_type().as_str(),
            name,
        )
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(1024))]

        /// Whatever template and selectors a rule has, if the policy is accepted, no two principals the rule
        /// admits render the same `sub` — whatever their names, paths, sessions and tags.
        #[test]
        fn an_accepted_sub_never_renders_one_value_for_two_principals(
            pieces in vec(template_piece(), 1..6),
            principals in proptest::option::of(vec(principal_pattern(), 1..3)),
            accounts in proptest::option::of(proptest::sample::subsequence(ACCOUNTS.to_vec(), 1..=2)),
            pool in vec((caller_arn(), "[a-zA-Z0-9 _.:/=+@-]{0,12}"), 2..10),
        ) {
            let mut rule = serde_json::json!({"audiences": ["a"], "sub": pieces.concat()});
            if let Some(p) = principals {
                rule["principals"] = p.into();
            }
            if let Some(a) = accounts {
                rule["accounts"] = a.into();
            }
            let doc = serde_json::json!({"rules": [rule]});
            let Ok(p) = AudiencePolicy::from_json(Audience::parse(DEFAULT).unwrap(), &doc.to_string(), 3600) else {
                return Ok(());
            };
            let sub = p.rules()[0].shape().sub().unwrap();
            let mut seen: BTreeMap<String, (String, &'static str, String)> = BTreeMap::new();
            for (arn, tag) in &pool {
                let c = caller(arn, true);
                if p.decide(&c, &[Audience::parse("a").unwrap()]).is_err() {
                    continue;
                }
                let tags = PrincipalTags::from([("t".to_owned(), tag.clone())]);
                let Ok(s) = sub.render(&c, Some(&tags)) else { continue };
                let who = identity(&c.principal);
                if let Some(other) = seen.insert(s.clone(), who.clone()) {
                    prop_assert_eq!(&other, &who, "{} renders {:?} for both; policy {}", sub.source(), s, doc);
                }
            }
        }
    }
}
