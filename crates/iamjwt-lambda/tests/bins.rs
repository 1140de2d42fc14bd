//! The Lambda binaries refuse to start on bad configuration, with one line naming the variable.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::process::Command;

fn run(bin: &str, env: &[(&str, &str)]) -> (bool, String) {
    let mut c = Command::new(bin);
    c.env_clear()
        .env("PATH", "/usr/bin:/bin")
        .env("AWS_EC2_METADATA_DISABLED", "true");
    for (k, v) in env {
        c.env(k, v);
    }
    let out = c.output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).trim().to_owned(),
    )
}

#[test]
fn bad_configuration_is_one_line_naming_the_variable() {
    for bin in [env!("CARGO_BIN_EXE_token"), env!("CARGO_BIN_EXE_rotate")] {
        let (ok, err) = run(bin, &[("IAMJWT_DEFAULT_AUDIENCE", "sts.amazonaws.com")]);
        assert!(!ok);
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(err.contains("IAMJWT_ISSUER"), "{err}");
        let (ok, err) = run(
            bin,
            &[
                ("IAMJWT_ISSUER", "https://id.example.com"),
                ("IAMJWT_DEFAULT_AUDIENCE", "sts.amazonaws.com"),
                ("IAMJWT_MAX_DURATION", "forever"),
            ],
        );
        assert!(!ok);
        assert!(err.contains("IAMJWT_MAX_DURATION"), "{err}");
    }
    let (ok, err) = run(
        env!("CARGO_BIN_EXE_rotate"),
        &[
            ("IAMJWT_ISSUER", "https://id.example.com"),
            ("IAMJWT_DEFAULT_AUDIENCE", "sts.amazonaws.com"),
        ],
    );
    assert!(!ok);
    assert!(err.contains("IAMJWT_BUCKET"), "{err}");
}
