//! The real `iamjwt serve` against AWS's own SigV4 signers (issue 10): botocore's pure-Python `SigV4QueryAuth` /
//! `SigV4Auth` and the AWS CRT ones, presigned and header form, driven by `tests/interop/sigv4_clients.py`.

use crate::support::*;
use std::process::Command;

#[test]
fn botocore_and_crt_presigned_and_header_signed_requests() {
    let s = Server::start_with(&[(
        "IAMJWT_AUDIENCE_POLICY",
        r#"{"rules":[{"accounts":["000000000000"],"audiences":["api://ci"]}]}"#,
    )]);
    let mut c = clean(Command::new(venv_bin("python")));
    c.arg(root().join("tests/interop/sigv4_clients.py"))
        .args([s.url.as_str(), "us-east-1"]);
    s.creds.apply(&mut c);
    let o = run(c);
    assert!(
        o.status.success(),
        "botocore/CRT clients against iamjwt serve:\n{}\n{}",
        stderr(&o),
        stdout(&o)
    );
    let report: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    let checks = report["checks"].as_array().unwrap();
    let count = |prefix: &str, status: u64| {
        checks
            .iter()
            .filter(|c| c["check"].as_str().unwrap().starts_with(prefix) && c["status"] == status)
            .count()
    };
    // 2 signers × 2 queries, each form; 3 refusals.
    assert_eq!(count("presigned ", 200), 4, "{report}");
    assert_eq!(count("header ", 200), 4, "{report}");
    assert_eq!(checks.len(), 11, "{report}");
    assert!(report["failures"].as_array().unwrap().is_empty());
    // The S3 convention is refused saying why.
    let s3 = checks
        .iter()
        .find(|c| c["check"].as_str().unwrap().starts_with("S3SigV4QueryAuth"))
        .unwrap();
    assert!(
        s3["error"]["error_description"]
            .as_str()
            .unwrap()
            .contains("UNSIGNED-PAYLOAD"),
        "{s3}"
    );
}
