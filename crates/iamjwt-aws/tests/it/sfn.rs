use crate::support::*;
use iamjwt_aws::Error;
use iamjwt_aws::sfn::RotationExecutions;
use std::io::{Read as _, Write as _};
use std::time::Duration;

fn post(endpoint: &str, path: &str, body: &str) {
    let authority = endpoint.strip_prefix("http://").unwrap();
    let mut s = std::net::TcpStream::connect(authority).unwrap();
    write!(
        s,
        "POST {path} HTTP/1.1\r\nHost: {authority}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    assert!(
        out.starts_with("HTTP/1.1 20") || out.starts_with("HTTP/1.0 20"),
        "{out}"
    );
}

async fn machine(
    conf: &aws_config::SdkConfig,
    name: &str,
    definition: serde_json::Value,
) -> String {
    let out = iamjwt_aws::sdk::sfn(conf)
        .create_state_machine()
        .name(name)
        .definition(definition.to_string())
        .role_arn("arn:aws:iam::123456789012:role/rotation")
        .send()
        .await
        .unwrap();
    out.state_machine_arn().to_owned()
}

#[tokio::test]
async fn refuses_while_another_execution_runs() {
    let moto = moto();
    let conf = iamjwt_aws::testing::moto_config(&moto, REGION).await;
    // Without execute mode moto leaves executions RUNNING.
    let arn = machine(
        &conf,
        "rot",
        serde_json::json!({"StartAt": "A", "States": {"A": {"Type": "Pass", "End": true}}}),
    )
    .await;
    iamjwt_aws::sdk::sfn(&conf)
        .start_execution()
        .state_machine_arn(&arn)
        .input("{}")
        .send()
        .await
        .unwrap();
    let mut progress = Vec::new();
    match RotationExecutions::new(iamjwt_aws::sdk::sfn(&conf), &arn)
        .run(false, &mut progress)
        .await
    {
        Err(Error::Refused(m)) => assert!(m.contains("already running"), "{m}"),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn follows_to_success_and_reports_the_failed_state() {
    let moto = moto();
    post(
        &moto.endpoint,
        "/moto-api/config",
        r#"{"stepfunctions": {"execute_state_machine": true}}"#,
    );
    let conf = iamjwt_aws::testing::moto_config(&moto, REGION).await;
    let ok = machine(
        &conf,
        "ok",
        serde_json::json!({"StartAt": "Retire", "States": {
        "Retire": {"Type": "Pass", "Next": "Publish"}, "Publish": {"Type": "Pass", "End": true}}}),
    )
    .await;
    let mut progress = Vec::new();
    let outcome = RotationExecutions::new(iamjwt_aws::sdk::sfn(&conf), &ok)
        .with_poll_interval(Duration::from_millis(100))
        .run(true, &mut progress)
        .await
        .unwrap();
    assert_eq!(outcome.states, vec!["Retire", "Publish"]);
    let text = String::from_utf8(progress).unwrap();
    assert!(
        text.contains("(emergency)") && text.contains("→ Publish") && text.contains("succeeded"),
        "{text}"
    );

    let bad = machine(&conf, "bad", serde_json::json!({"StartAt": "Retire", "States": {
        "Retire": {"Type": "Pass", "Next": "Promote"},
        "Promote": {"Type": "Fail", "Error": "UnsafePromotion", "Cause": "pending key published too recently"}}}))
    .await;
    let mut progress = Vec::new();
    match RotationExecutions::new(iamjwt_aws::sdk::sfn(&conf), &bad)
        .with_poll_interval(Duration::from_millis(100))
        .run(false, &mut progress)
        .await
    {
        Err(Error::Execution {
            status,
            state,
            error,
            cause,
        }) => {
            assert_eq!(status, "FAILED");
            assert_eq!(state, "Promote");
            assert_eq!(error, "UnsafePromotion");
            assert!(cause.contains("too recently"), "{cause}");
        }
        other => panic!("{other:?}"),
    }
}
