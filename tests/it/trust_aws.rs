//! The AWS path closed end to end: `iamjwt trust aws --output json` applied with boto3 against moto (the OIDC
//! provider and the role), an `iamjwt serve` token exchanged with AssumeRoleWithWebIdentity, GetCallerIdentity with
//! the result. moto does not validate web identity tokens, so the same token must also pass `verify --for aws`.
use crate::support::*;
use serde_json::{Value, json};
use std::process::Command;

const AUD: &str = "sts.amazonaws.com";
const SECOND: &str = "api://second";
const MOTO_ACCOUNT: &str = "123456789012";

fn verify_aws(issuer: &str, token: &str, aud: &str) -> std::process::Output {
    run(iamjwt(&[
        "verify", token, "--issuer", issuer, "--aud", aud, "--for", "aws",
    ]))
}

#[test]
fn trust_aws_then_assume_role_with_web_identity() {
    let policy = json!({"rules": [{"audiences": [AUD, SECOND]}]}).to_string();
    let s = Server::start_with(&[("IAMJWT_AUDIENCE_POLICY", &policy)]);
    let m = iamjwt_testkit::Moto::start().unwrap_or_else(|e| panic!("{e}"));

    let token = ok(s.token(&[]));
    let claims = jwt_part(&token, 1);
    // The caller's session ARN, as API Gateway reports it; trust must turn it into the token's sub.
    let role_name = claims["sub"].as_str().unwrap().rsplit('/').next().unwrap();
    let principal = format!(
        "arn:aws:sts::{}:assumed-role/{role_name}/{}",
        claims["aws"]["account"].as_str().unwrap(),
        claims["aws"]["session_name"].as_str().unwrap()
    );
    let o = run(iamjwt(&[
        "trust",
        "aws",
        "--issuer",
        &s.url,
        "--principal",
        &principal,
        "--account",
        MOTO_ACCOUNT,
        "--output",
        "json",
        "--name",
        "iamjwt-e2e",
        // sts:TagSession limited to these keys: moto's IAM validates the policy document on CreateRole.
        "--session-tags",
        "--tag-key",
        "team",
        "--tag-key",
        "cost-*",
    ]));
    let err = stderr(&o);
    assert!(
        err.contains("loopback"),
        "local mode is never silent: {err}"
    );
    let trust: Value = serde_json::from_str(&ok(o)).unwrap();
    let keys: Vec<&String> = trust.as_object().unwrap().keys().collect();
    assert_eq!(keys, ["oidc_provider", "trust_policy"]);
    let hp = s.url.trim_start_matches("http://");
    assert_eq!(
        trust["trust_policy"]["Statement"][0]["Condition"]["StringEquals"][format!("{hp}:sub")],
        claims["sub"]
    );
    assert_eq!(
        trust["trust_policy"]["Statement"][0]["Condition"]["ForAllValues:StringLike"],
        json!({"aws:TagKeys": ["team", "cost-*"]})
    );

    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("trust.json");
    std::fs::write(&file, trust.to_string()).unwrap();
    let mut c = clean(Command::new(venv_bin("python")));
    c.arg(root().join("tests/interop/aws_trust.py")).args([
        &m.endpoint,
        file.to_str().unwrap(),
        "iamjwt-e2e",
        &token,
    ]);
    let r: Value = serde_json::from_str(&ok(run(c))).unwrap();
    assert_eq!(
        r["provider_arn"],
        trust["trust_policy"]["Statement"][0]["Principal"]["Federated"]
    );
    assert_eq!(r["client_ids"], json!([AUD]));
    assert_eq!(
        r["role_arn"],
        json!(format!("arn:aws:iam::{MOTO_ACCOUNT}:role/iamjwt-e2e"))
    );
    assert_eq!(r["caller_account"], MOTO_ACCOUNT);
    assert!(
        r["caller_arn"]
            .as_str()
            .unwrap()
            .ends_with(":assumed-role/iamjwt-e2e/iamjwt-e2e"),
        "{r}"
    );

    // The token AWS would have judged: every AWS rule holds (the issuer rule warns: local mode).
    let o = verify_aws(&s.url, &token, AUD);
    let out = ok(o);
    assert!(
        !out.contains("FAIL") && out.contains("aws        warn aws-issuer"),
        "{out}"
    );

    // Two audiences: azp = the FIRST requested one, which is what AWS matches against the client ID list.
    let two = ok(s.token(&["--aud", AUD, "--aud", SECOND]));
    let c = jwt_part(&two, 1);
    assert_eq!(c["aud"], json!([AUD, SECOND]));
    assert_eq!(c["azp"], AUD);
    ok(verify_aws(&s.url, &two, AUD));
    // A provider registered for the second audience only would refuse it: the aws-azp rule says so.
    let o = verify_aws(&s.url, &two, SECOND);
    assert!(!o.status.success());
    let out = stdout(&o);
    let failed: Vec<&str> = out.lines().filter(|l| l.contains(" FAIL ")).collect();
    assert_eq!(failed.len(), 1, "{out}");
    assert!(
        failed[0].contains("aws-azp") && failed[0].contains("FIRST"),
        "{out}"
    );
    // One audience: no azp.
    assert!(claims.get("azp").is_none());
}
