//! `trust`'s plan and documents: principals read field by field, the session-tag limit, refusals, and every
//! target's shell output read back by the `shlex` crate (PyYAML and the Snowflake lexer read the others in
//! `tests/interop/trust_shapes.py`).

#![allow(clippy::unwrap_used)]
use super::*;
use serde_json::json;

const ISSUER: &str = "https://issuer.example.com";

fn request(target: Target) -> Request {
    Request {
        target,
        issuer: ISSUER.into(),
        principal: Some("arn:aws:sts::111122223333:assumed-role/ci/run-1".into()),
        sub: None,
        aud: Some("api://x".into()),
        name: "ci".into(),
        account: None,
        session_tags: false,
        tag_keys: Vec::new(),
        cloud: AzureCloud::Public,
    }
}

fn with(target: Target, f: impl FnOnce(&mut Request)) -> Result<Plan, Error> {
    let mut r = request(target);
    f(&mut r);
    Plan::new(&r)
}

#[test]
fn principals() {
    let p = with(Target::Vault, |_| {}).unwrap();
    assert_eq!(p.sub, "arn:aws:iam::111122223333:role/ci");
    assert!(p.notes.is_empty());
    // A role ARN is the sub of its sessions; its path is not (a note says so).
    let p = with(Target::Vault, |r| {
        r.principal = Some("arn:aws-cn:iam::111122223333:role/ci".into());
    })
    .unwrap();
    assert_eq!(p.sub, "arn:aws-cn:iam::111122223333:role/ci");
    assert_eq!(p.principal.unwrap().partition(), "aws-cn");
    let p = with(Target::Vault, |r| {
        r.principal = Some("arn:aws:iam::111122223333:role/a/b/ci".into());
    })
    .unwrap();
    assert_eq!(p.sub, "arn:aws:iam::111122223333:role/ci");
    assert_eq!(p.notes.len(), 1);
    assert!(p.notes[0].contains("/a/b/"), "{:?}", p.notes);
    // A user whose path holds ":role/" is a user: its ARN is its sub.
    let user = "arn:aws:iam::111122223333:user/x:role/ci";
    let p = with(Target::Vault, |r| r.principal = Some(user.into())).unwrap();
    assert_eq!(p.sub, user);
    for bad in [
        "arn:aws:iam::111122223333:role/",
        "arn:aws:iam::111122223333:role/a//ci",
        "arn:aws:iam::11112222333:role/ci",
        "arn:aws:iam:us-east-1:111122223333:role/ci",
        "arn:nope:iam::111122223333:role/ci",
        "arn:aws:iam::111122223333:role/bad name",
        "arn:aws:iam::111122223333:group/ci",
    ] {
        let e = with(Target::Vault, |r| r.principal = Some(bad.into())).unwrap_err();
        assert!(e.to_string().starts_with("--principal"), "{bad}: {e}");
    }
}

#[test]
fn audiences() {
    let aud = |t: Target, aud: Option<&str>| with(t, |r| r.aud = aud.map(str::to_owned));
    assert_eq!(aud(Target::Aws, None).unwrap().aud, "sts.amazonaws.com");
    assert_eq!(
        aud(Target::Snowflake, None).unwrap().aud,
        "snowflakecomputing.com"
    );
    assert_eq!(
        aud(Target::Azure, None).unwrap().aud,
        "api://AzureADTokenExchange"
    );
    assert!(aud(Target::Azure, Some("api://x")).is_err());
    for t in [
        Target::Gcp,
        Target::Vault,
        Target::Kubernetes,
        Target::Databricks,
    ] {
        let e = aud(t, None).unwrap_err().to_string();
        assert!(e.contains("--aud is required"), "{e}");
    }
    assert!(aud(Target::Aws, Some("")).is_err());
}

#[test]
fn control_characters_are_refused_at_the_start() {
    for f in [
        (|r: &mut Request| r.sub = Some("a\nb".into())) as fn(&mut Request),
        |r| r.aud = Some("a\u{1b}b".into()),
        |r| r.name = "a\rb".into(),
        |r| r.issuer = "https://a\u{7}".into(),
        |r| r.tag_keys = vec!["a\tb".into()],
    ] {
        let e = with(Target::Vault, |r| {
            r.principal = None;
            r.sub = Some("s".into());
            f(r);
        })
        .unwrap_err();
        assert!(e.to_string().contains("control character"), "{e}");
    }
}

fn policy(plan: &Plan) -> serde_json::Value {
    plan.document().unwrap().json["trust_policy"]["Statement"][0].clone()
}

#[test]
fn session_tags_are_limited_to_the_rule_keys() {
    let st = policy(&with(Target::Aws, |_| {}).unwrap());
    assert_eq!(st["Action"], json!(["sts:AssumeRoleWithWebIdentity"]));
    assert!(st["Condition"].get("ForAllValues:StringEquals").is_none());

    let st = policy(
        &with(Target::Aws, |r| {
            r.session_tags = true;
            r.tag_keys = vec!["team".into(), "env".into()];
        })
        .unwrap(),
    );
    assert_eq!(
        st["Action"],
        json!(["sts:AssumeRoleWithWebIdentity", "sts:TagSession"])
    );
    assert_eq!(
        st["Condition"]["ForAllValues:StringEquals"],
        json!({"aws:TagKeys": ["team", "env"]})
    );
    // A glob needs StringLike; --tag-key alone implies --session-tags.
    let st = policy(&with(Target::Aws, |r| r.tag_keys = vec!["cost-*".into()]).unwrap());
    assert_eq!(
        st["Action"],
        json!(["sts:AssumeRoleWithWebIdentity", "sts:TagSession"])
    );
    assert_eq!(
        st["Condition"]["ForAllValues:StringLike"],
        json!({"aws:TagKeys": ["cost-*"]})
    );
    // Without keys, sts:TagSession would allow any tag: refused.
    let e = with(Target::Aws, |r| r.session_tags = true)
        .unwrap()
        .document()
        .unwrap_err();
    assert!(e.to_string().contains("--tag-key"), "{e}");
    for bad in ["", "a?b", "a\"b", &"k".repeat(129)] {
        let e = with(Target::Aws, |r| r.tag_keys = vec![bad.to_owned()])
            .unwrap()
            .document()
            .unwrap_err();
        assert!(e.to_string().contains("--tag-key"), "{bad}: {e}");
    }
}

/// The argv of every command line, as a POSIX shell reads them: a comment runs to the end of its line (a
/// trailing backslash does not continue it); a backslash-newline elsewhere does.
fn commands(text: &str) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    let mut current = String::new();
    for line in text.lines() {
        if current.is_empty() && (line.trim_start().starts_with('#') || line.trim().is_empty()) {
            continue;
        }
        if let Some(head) = line.strip_suffix('\\') {
            current.push_str(head);
            current.push(' ');
            continue;
        }
        current.push_str(line);
        out.push(shlex::split(&current).unwrap());
        current.clear();
    }
    assert!(current.is_empty(), "dangling continuation: {current}");
    out
}

#[test]
fn hostile_values_reach_the_shell_unchanged() {
    let user = r#"arn:aws:iam::111122223333:user/o'b\r"i$`e{n}#:/;|&<>(x)*?[!]~^%@=+,\/deploy"#;
    let aud = r#"api://a'b"c\d$(e)`f#g{h}:i;j|k&l<m>n*o?p[q]r~s^t%u@v=w+x\"#;
    let name = r"ci; touch /tmp/iamjwt-pwned #'\";
    let plan = |t: Target, name: &str| {
        with(t, |r| {
            r.principal = Some(user.into());
            // Entra takes only its own audience.
            r.aud = (t != Target::Azure).then(|| aud.into());
            r.name = name.into();
        })
        .unwrap()
    };
    let p = plan(Target::Vault, name);
    let c = commands(&p.document().unwrap().text);
    assert_eq!(c.len(), 3);
    assert_eq!(c[2][2], format!("auth/jwt/role/{name}"));
    assert!(c[2].contains(&format!("bound_subject={user}")));
    assert!(c[2].contains(&format!("bound_audiences={aud}")));

    let p = plan(Target::Gcp, name);
    let c = commands(&p.document().unwrap().text);
    assert_eq!(c.len(), 1);
    assert_eq!(c[0][5], name);
    let cond = c[0]
        .iter()
        .find_map(|w| w.strip_prefix("--attribute-condition=assertion.sub == "))
        .unwrap();
    assert_eq!(serde_json::from_str::<String>(cond).unwrap(), user);

    for (t, flag, path) in [
        (Target::Azure, "--parameters", "/subject"),
        (Target::Databricks, "--json", "/oidc_policy/subject"),
    ] {
        let p = plan(t, name);
        let c = commands(&p.document().unwrap().text);
        assert_eq!(c.len(), 1, "{t}");
        let i = c[0].iter().position(|w| w == flag).unwrap();
        let body: serde_json::Value = serde_json::from_str(&c[0][i + 1]).unwrap();
        assert_eq!(body.pointer(path).unwrap(), user, "{t}");
    }

    let p = plan(Target::Aws, "ci-role");
    let c = commands(&p.document().unwrap().text);
    assert_eq!(c.len(), 2);
    let policy: serde_json::Value = serde_json::from_str(c[1].last().unwrap()).unwrap();
    let eq = &policy["Statement"][0]["Condition"]["StringEquals"];
    assert_eq!(eq["issuer.example.com:sub"], user);
    assert_eq!(eq["issuer.example.com:aud"], aud);
}

#[test]
fn vault_values_it_would_read_from_a_file_are_refused() {
    for (sub, aud) in [("@/etc/passwd", "a"), ("-", "a"), ("s", "a,b")] {
        let e = with(Target::Vault, |r| {
            r.principal = None;
            r.sub = Some(sub.into());
            r.aud = Some(aud.into());
        })
        .unwrap()
        .document()
        .unwrap_err();
        assert!(e.to_string().contains("--output json"), "{e}");
    }
}
