//! Shaped claims end to end: `iamjwt serve` with a policy rule that has a `sub` template, extra claims and request
//! tags; botocore (SigV4) asks for a token with `tag=job=42`; PyJWT verifies it through discovery and sees
//! exactly the shaped claims; `iamjwt verify --for gcp` passes a templated `sub` within 127 bytes and fails one over
//! it. A policy whose `sub` can exceed 255 bytes stops the server at start.

use crate::support::*;
use std::collections::BTreeSet;
use std::process::Command;

const POLICY: &str = r#"{"rules": [{
    "principals": ["arn:aws:iam::000000000000:role/iamjwt-dev"],
    "audiences": ["api://shaped"],
    "sub": "{account}/{name}/{session_name}",
    "claims": {"email": "{name}@dev.example.com", "env": "local", "n": 7, "org": "{org_id}"},
    "request_tags": ["job", "pipeline-*"]
}]}"#;

#[test]
fn pyjwt_sees_exactly_the_shaped_claims() {
    let s = Server::start_with(&[("IAMJWT_AUDIENCE_POLICY", POLICY)]);
    // botocore (the reference SigV4 signer); awscurl mis-encodes `=` inside a query value.
    let mut c = clean(Command::new(venv_bin("python")));
    c.args([
        root()
            .join("tests/interop/botocore_get.py")
            .to_str()
            .unwrap(),
        "us-east-1",
        &format!(
            "{}/token?aud=api%3A%2F%2Fshaped&tag=job%3D42&tag=pipeline-x%3Da%3Db",
            s.url
        ),
    ]);
    s.creds.apply(&mut c);
    let body: serde_json::Value = serde_json::from_str(&ok(run(c))).unwrap();
    let token = body["token"]
        .as_str()
        .unwrap_or_else(|| panic!("no token: {body}"));

    let out: serde_json::Value =
        serde_json::from_str(&ok(pyjwt_verify(&s.url, "api://shaped", token))).unwrap();
    let claims = &out["claims"];
    let names: BTreeSet<&str> = claims
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        names,
        BTreeSet::from([
            "iss",
            "sub",
            "aud",
            "iat",
            "nbf",
            "exp",
            "jti",
            "aws",
            "email",
            "env",
            "n",
            "request_tags"
        ]),
        "no org claim: the dev principal has no org id, so that one claim is dropped"
    );
    assert_eq!(claims["sub"], "000000000000/iamjwt-dev/dev-session");
    assert_eq!(claims["email"], "iamjwt-dev@dev.example.com");
    assert_eq!(claims["env"], "local");
    assert_eq!(claims["n"], 7);
    assert_eq!(
        claims["request_tags"],
        serde_json::json!({"job": "42", "pipeline-x": "a=b"})
    );

    // A tag key the rule does not list: 400 naming the key; the default audience (no shaping rule lists it)
    // keeps the plain sub.
    // botocore (the reference SigV4 signer); awscurl mis-encodes `=` inside a query value.
    let mut c = clean(Command::new(venv_bin("python")));
    c.args([
        root()
            .join("tests/interop/botocore_get.py")
            .to_str()
            .unwrap(),
        "us-east-1",
        &format!("{}/token?aud=api%3A%2F%2Fshaped&tag=secret%3D1", s.url),
    ]);
    s.creds.apply(&mut c);
    let out = stdout(&run(c));
    assert!(
        out.contains("invalid_request") && out.contains("secret"),
        "{out}"
    );
    let plain = ok(s.token(&[]));
    assert_eq!(
        jwt_part(&plain, 1)["sub"],
        "arn:aws:iam::000000000000:role/iamjwt-dev"
    );
}

#[test]
fn a_sub_template_that_can_exceed_255_bytes_stops_the_server() {
    let state = tempfile::tempdir().unwrap();
    let mut c = iamjwt(&["serve", "--listen", "127.0.0.1:0", "--state-dir"]);
    c.arg(state.path()).env(
        "IAMJWT_AUDIENCE_POLICY",
        r#"{"rules": [{"audiences": ["a"], "sub": "{caller_arn}"}]}"#,
    );
    let o = run(c);
    assert!(!o.status.success());
    let err = stderr(&o);
    assert!(
        err.contains("IAMJWT_AUDIENCE_POLICY") && err.contains("rule 0") && err.contains("255"),
        "{err}"
    );
    assert_eq!(err.lines().count(), 1, "{err}");
}

/// DESIGN.md §4: a principal pattern that cannot be parsed, or a `sub` that cannot keep apart the principals its rule
/// admits, stops the server at start with one line naming the rule and the fix.
#[test]
fn a_policy_that_cannot_hold_its_boundary_stops_the_server() {
    for (policy, says) in [
        (
            r#"{"rules": [{"principals": ["arn:aws:iam::000000000000:role/team/ci"], "audiences": ["a"]}]}"#,
            "match the name alone",
        ),
        (
            r#"{"rules": [{"principals": ["arn:aws:sts::000000000000:assumed-role/ci/s1"], "audiences": ["a"]}]}"#,
            "role/NAME",
        ),
        (
            r#"{"rules": [{"audiences": ["a"], "sub": "{account}/{name}"}]}"#,
            "add {principal_type}",
        ),
        (
            r#"{"rules": [{"principals": ["arn:aws:iam::*:role/ci-*"], "audiences": ["a"], "sub": "{name}"}]}"#,
            "add {account}",
        ),
    ] {
        let state = tempfile::tempdir().unwrap();
        let mut c = iamjwt(&["serve", "--listen", "127.0.0.1:0", "--state-dir"]);
        c.arg(state.path()).env("IAMJWT_AUDIENCE_POLICY", policy);
        let o = run(c);
        assert!(!o.status.success(), "{policy} started");
        let err = stderr(&o);
        assert!(
            err.contains("IAMJWT_AUDIENCE_POLICY") && err.contains("rule 0") && err.contains(says),
            "{policy}: {err}"
        );
        assert_eq!(err.lines().count(), 1, "{err}");
    }
}

/// GCP maps `google.subject` from `sub` and refuses more than 127 bytes (VERIFIERS.md). A template within the
/// 255-byte start-up bound can still exceed GCP's limit for a given caller: `verify --for gcp` says so, naming the
/// rule, and passes the short one.
#[test]
fn verify_for_gcp_passes_a_short_templated_sub_and_fails_one_over_127_bytes() {
    let padding = "p".repeat(100);
    let policy = format!(
        r#"{{"rules": [
            {{"principals": ["arn:aws:iam::000000000000:role/iamjwt-dev"], "audiences": ["api://gcp-short"],
              "sub": "{{account}}/{{name}}/{{session_name}}"}},
            {{"principals": ["arn:aws:iam::000000000000:role/iamjwt-dev"], "audiences": ["api://gcp-long"],
              "sub": "{{account}}/{{name}}/{{session_name}}/{padding}"}}
        ]}}"#
    );
    let s = Server::start_with(&[("IAMJWT_AUDIENCE_POLICY", &policy)]);
    let verify = |aud: &str| {
        let token = ok(s.token(&["--aud", aud]));
        let sub = jwt_part(&token, 1)["sub"].as_str().unwrap().to_owned();
        let o = run(iamjwt(&[
            "verify", &token, "--issuer", &s.url, "--aud", aud, "--for", "gcp",
        ]));
        (sub, o)
    };

    let (sub, o) = verify("api://gcp-short");
    assert_eq!(sub, "000000000000/iamjwt-dev/dev-session");
    let out = ok(o);
    assert!(
        out.lines()
            .any(|l| l.contains("gcp-subject") && !l.contains("FAIL")),
        "{out}"
    );

    let (sub, o) = verify("api://gcp-long");
    assert_eq!(sub.len(), 136, "{sub}");
    assert!(!o.status.success(), "a 136-byte sub passed --for gcp");
    let out = stdout(&o);
    let failed: Vec<&str> = out.lines().filter(|l| l.contains("FAIL")).collect();
    assert_eq!(failed.len(), 1, "{out}");
    assert!(
        failed[0].contains("gcp-subject") && failed[0].contains("127"),
        "{out}"
    );
}
