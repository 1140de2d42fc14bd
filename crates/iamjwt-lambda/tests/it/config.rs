//! The Lambda binaries refuse to start on bad configuration, with one line naming the variable; and
//! `token --check-config` / `rotate --check-config`: the start-up configuration check alone, which
//! cdk/check.sh runs with the environment the CDK synthesizes for each function.

use std::process::Command;
use std::time::{Duration, Instant};

const TOKEN: &str = env!("CARGO_BIN_EXE_token");
const ROTATE: &str = env!("CARGO_BIN_EXE_rotate");

struct Run {
    ok: bool,
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

fn run(bin: &str, args: &[&str], env: &[(&str, &str)]) -> Run {
    let mut c = Command::new(bin);
    // No AWS_LAMBDA_RUNTIME_API and no credentials: if the binary went past the check it would fail
    // (or hang) talking to a runtime API, so a silent exit 0 proves it stopped after the settings.
    c.args(args)
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .env("AWS_EC2_METADATA_DISABLED", "true");
    for (k, v) in env {
        c.env(k, v);
    }
    let out = c.output().unwrap();
    Run {
        ok: out.status.success(),
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).trim().to_owned(),
    }
}

#[test]
fn bad_configuration_is_one_line_naming_the_variable() {
    for bin in [TOKEN, ROTATE] {
        let Run {
            ok, stderr: err, ..
        } = run(
            bin,
            &[],
            &[("IAMJWT_DEFAULT_AUDIENCE", "sts.amazonaws.com")],
        );
        assert!(!ok);
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(err.contains("IAMJWT_ISSUER"), "{err}");
        let Run {
            ok, stderr: err, ..
        } = run(
            bin,
            &[],
            &[
                ("IAMJWT_ISSUER", "https://id.example.com"),
                ("IAMJWT_DEFAULT_AUDIENCE", "sts.amazonaws.com"),
                ("IAMJWT_MAX_DURATION", "forever"),
            ],
        );
        assert!(!ok);
        assert!(err.contains("IAMJWT_MAX_DURATION"), "{err}");
    }
    let Run {
        ok, stderr: err, ..
    } = run(
        ROTATE,
        &[],
        &[
            ("IAMJWT_ISSUER", "https://id.example.com"),
            ("IAMJWT_DEFAULT_AUDIENCE", "sts.amazonaws.com"),
        ],
    );
    assert!(!ok);
    assert!(err.contains("IAMJWT_BUCKET"), "{err}");
}

/// What the CDK synthesizes for the token function (defaults, see cdk/lib), bucket excluded.
const CDK_ENV: &[(&str, &str)] = &[
    ("IAMJWT_ISSUER", "https://d111111abcdef8.cloudfront.net"),
    ("IAMJWT_DEFAULT_AUDIENCE", "api://iamjwt-check"),
    ("IAMJWT_AUDIENCE_POLICY", r#"{"rules":[]}"#),
    ("IAMJWT_ALGORITHMS", "RS256,ES256"),
    ("IAMJWT_DEFAULT_ALGORITHM", "RS256"),
    ("IAMJWT_DEFAULT_DURATION", "900"),
    ("IAMJWT_MAX_DURATION", "3600"),
    ("IAMJWT_KEY_ALIAS_PREFIX", "alias/iamjwt"),
    ("IAMJWT_JWKS_MAX_AGE", "3600"),
    ("IAMJWT_MIN_PUBLISH_AGE", "86400"),
    ("IAMJWT_KEY_DELETION_DAYS", "30"),
    ("IAMJWT_SESSION_TAGS", "false"),
    ("IAMJWT_KEY_REFRESH_SECONDS", "300"),
    ("RUST_LOG", "info"),
];

fn with(extra: &[(&'static str, &'static str)]) -> Vec<(&'static str, &'static str)> {
    let mut env: Vec<_> = CDK_ENV
        .iter()
        .filter(|(k, _)| !extra.iter().any(|(e, _)| e == k))
        .copied()
        .collect();
    env.extend_from_slice(extra);
    env
}

#[test]
fn a_valid_environment_passes_silently_and_quickly() {
    let bucket = with(&[("IAMJWT_BUCKET", "iamjwt-issuerbucket-example")]);
    for (bin, env) in [(TOKEN, CDK_ENV.to_vec()), (ROTATE, bucket)] {
        let started = Instant::now();
        let r = run(bin, &["--check-config"], &env);
        assert!(r.ok, "{bin}: {}", r.stderr);
        assert_eq!((r.stdout.as_str(), r.stderr.as_str()), ("", ""), "{bin}");
        // It neither loads AWS configuration nor waits for a Lambda runtime API.
        assert!(started.elapsed() < Duration::from_secs(5), "{bin}");
    }
}

#[test]
fn an_invalid_environment_is_one_line_naming_the_variable_and_exit_1() {
    let cases: [(&[(&str, &str)], &str); 4] = [
        (&[("IAMJWT_ALGORITHMS", "RS256,HS256")], "IAMJWT_ALGORITHMS"),
        (
            &[("IAMJWT_ISSUER", "http://insecure.example.com")],
            "IAMJWT_ISSUER",
        ),
        (
            &[("IAMJWT_DEFAULT_DURATION", "7200")],
            "IAMJWT_DEFAULT_DURATION",
        ),
        (
            &[("IAMJWT_KEY_DELETION_DAYS", "3")],
            "IAMJWT_KEY_DELETION_DAYS",
        ),
    ];
    for bin in [TOKEN, ROTATE] {
        for (extra, variable) in cases {
            let mut env = with(extra);
            env.push(("IAMJWT_BUCKET", "iamjwt-issuerbucket-example"));
            let r = run(bin, &["--check-config"], &env);
            assert_eq!(r.code, Some(1), "{bin} {extra:?}: {}", r.stderr);
            assert_eq!(r.stderr.lines().count(), 1, "{}", r.stderr);
            assert!(r.stderr.starts_with("error: "), "{}", r.stderr);
            assert!(r.stderr.contains(variable), "{bin}: {}", r.stderr);
            assert_eq!(r.stdout, "");
        }
    }
}

#[test]
fn rotate_requires_the_bucket_token_does_not() {
    let r = run(ROTATE, &["--check-config"], CDK_ENV);
    assert_eq!(r.code, Some(1));
    assert_eq!(r.stderr.lines().count(), 1, "{}", r.stderr);
    assert!(r.stderr.contains("IAMJWT_BUCKET"), "{}", r.stderr);
    assert!(run(TOKEN, &["--check-config"], CDK_ENV).ok);
}

#[test]
fn any_other_argument_is_refused() {
    for bin in [TOKEN, ROTATE] {
        for args in [&["--check-confg"][..], &["--check-config", "extra"][..]] {
            let r = run(bin, args, CDK_ENV);
            assert_eq!(r.code, Some(1), "{bin} {args:?}");
            assert_eq!(r.stderr.lines().count(), 1, "{}", r.stderr);
            assert!(r.stderr.contains("--check-config"), "{}", r.stderr);
        }
    }
}
