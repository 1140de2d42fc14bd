//! `iamjwt rotate --state-machine-arn` against moto's Step Functions (execute mode): follows an execution to the
//! end, reports the failed state and error on failure, refuses while another execution runs.
use crate::support::*;
use std::io::{Read as _, Write as _};
use std::process::Command;

fn moto() -> iamjwt_testkit::Moto {
    iamjwt_testkit::Moto::start().unwrap_or_else(|e| panic!("{e}"))
}

fn post(endpoint: &str, path: &str, body: &str) {
    let authority = endpoint.strip_prefix("http://").unwrap();
    let mut s = std::net::TcpStream::connect(authority).unwrap();
    write!(s, "POST {path} HTTP/1.1\r\nHost: {authority}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len()).unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    assert!(out.starts_with("HTTP/1.1 20"), "{out}");
}

/// Creates a state machine in moto with boto3 (installed with moto); returns its ARN.
fn state_machine(endpoint: &str, name: &str, definition: &str) -> String {
    let script = format!(
        "import boto3,sys\nc=boto3.client('stepfunctions',endpoint_url='{endpoint}',region_name='us-east-1',aws_access_key_id='t',aws_secret_access_key='t')\nprint(c.create_state_machine(name='{name}',definition=sys.argv[1],roleArn='arn:aws:iam::123456789012:role/r')['stateMachineArn'])"
    );
    let mut c = clean(Command::new(venv_bin("python")));
    c.args(["-c", &script, definition]);
    ok(run(c))
}

fn rotate(endpoint: &str, arn: &str, extra: &[&str]) -> std::process::Output {
    let mut c = iamjwt(&["rotate", "--state-machine-arn", arn]);
    c.args(extra)
        .env("AWS_ENDPOINT_URL", endpoint)
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test");
    run(c)
}

#[test]
fn rotate_through_step_functions() {
    let m = moto();
    post(
        &m.endpoint,
        "/moto-api/config",
        r#"{"stepfunctions": {"execute_state_machine": true}}"#,
    );
    let good = state_machine(
        &m.endpoint,
        "good",
        r#"{"StartAt":"Retire","States":{"Retire":{"Type":"Pass","Next":"Publish"},"Publish":{"Type":"Pass","End":true}}}"#,
    );
    let o = rotate(&m.endpoint, &good, &["--emergency"]);
    let err = stderr(&o);
    let out = ok(o);
    assert!(out.contains(":execution:good:"), "{out}");
    assert!(
        err.contains("→ Retire") && err.contains("→ Publish") && err.contains("(emergency)"),
        "{err}"
    );

    let bad = state_machine(
        &m.endpoint,
        "bad",
        r#"{"StartAt":"Promote","States":{"Promote":{"Type":"Fail","Error":"UnsafePromotion","Cause":"published too recently"}}}"#,
    );
    let o = rotate(&m.endpoint, &bad, &[]);
    assert!(!o.status.success());
    let last = stderr(&o).lines().last().unwrap_or_default().to_owned();
    assert!(
        last.starts_with("error: rotation FAILED in state Promote: UnsafePromotion"),
        "{last}"
    );

    // Local-only options do not mix with the state machine.
    let o = rotate(&m.endpoint, &good, &["--now", "+1d"]);
    assert!(!o.status.success());
}
