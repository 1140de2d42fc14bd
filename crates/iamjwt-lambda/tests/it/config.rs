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

/// What the CDK adds for the rotate function.
const ROTATE_ENV: &[(&str, &str)] = &[
    ("IAMJWT_BUCKET", "iamjwt-issuerbucket-example"),
    (
        "IAMJWT_TOKEN_ROLE_ARN",
        "arn:aws:iam::111122223333:role/IamJwt-TokenRole-EXAMPLE",
    ),
    (
        "IAMJWT_ROTATE_ROLE_ARN",
        "arn:aws:iam::111122223333:role/IamJwt-RotateRole-EXAMPLE",
    ),
];

/// What the CDK adds for the token function: the one API and stage whose events it answers.
const TOKEN_ENV: &[(&str, &str)] = &[
    ("IAMJWT_API_ID", "a1b2c3d4e5"),
    ("IAMJWT_API_STAGE", "prod"),
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
    for (bin, env) in [(TOKEN, with(TOKEN_ENV)), (ROTATE, with(ROTATE_ENV))] {
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
            env.extend_from_slice(ROTATE_ENV);
            env.extend_from_slice(TOKEN_ENV);
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
    assert!(run(TOKEN, &["--check-config"], &with(TOKEN_ENV)).ok);
}

/// Issue 19 §3: a token function that does not know its API and stage cannot refuse events of others: it does not
/// start. The rotate function does not read them.
#[test]
fn token_requires_its_api_and_stage_rotate_does_not() {
    let cases: [(&[(&str, &str)], &str); 4] = [
        (&[("IAMJWT_API_STAGE", "prod")], "IAMJWT_API_ID"),
        (&[("IAMJWT_API_ID", "a1b2c3d4e5")], "IAMJWT_API_STAGE"),
        (
            &[("IAMJWT_API_ID", ""), ("IAMJWT_API_STAGE", "prod")],
            "IAMJWT_API_ID",
        ),
        (
            &[
                ("IAMJWT_API_ID", "a1b2c3d4e5"),
                ("IAMJWT_API_STAGE", "prod/x"),
            ],
            "IAMJWT_API_STAGE",
        ),
    ];
    for (env, variable) in cases {
        let r = run(TOKEN, &["--check-config"], &with(env));
        assert_eq!(r.code, Some(1), "{env:?}: {}", r.stderr);
        assert_eq!(r.stderr.lines().count(), 1, "{}", r.stderr);
        assert!(r.stderr.contains(variable), "{env:?}: {}", r.stderr);
    }
    assert!(run(ROTATE, &["--check-config"], &with(ROTATE_ENV)).ok);
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

#[test]
fn rotate_requires_both_role_arns_of_one_account() {
    let cases: [(&[(&str, &str)], &str); 5] = [
        (&[("IAMJWT_TOKEN_ROLE_ARN", "")], "IAMJWT_TOKEN_ROLE_ARN"),
        (&[("IAMJWT_ROTATE_ROLE_ARN", "")], "IAMJWT_ROTATE_ROLE_ARN"),
        (
            &[("IAMJWT_TOKEN_ROLE_ARN", "IamJwt-TokenRole-EXAMPLE")],
            "IAMJWT_TOKEN_ROLE_ARN",
        ),
        (
            &[(
                "IAMJWT_ROTATE_ROLE_ARN",
                "arn:aws:iam::111122223333:user/IamJwt-RotateRole-EXAMPLE",
            )],
            "IAMJWT_ROTATE_ROLE_ARN",
        ),
        (
            &[(
                "IAMJWT_TOKEN_ROLE_ARN",
                "arn:aws:iam::444455556666:role/IamJwt-TokenRole-EXAMPLE",
            )],
            "IAMJWT_TOKEN_ROLE_ARN",
        ),
    ];
    for (change, variable) in cases {
        let mut env: Vec<(&str, &str)> = with(&[]);
        env.extend(
            ROTATE_ENV
                .iter()
                .filter(|(k, _)| !change.iter().any(|(c, _)| c == k)),
        );
        env.extend_from_slice(change);
        let r = run(ROTATE, &["--check-config"], &env);
        assert_eq!(r.code, Some(1), "{change:?}");
        assert_eq!(r.stderr.lines().count(), 1, "{}", r.stderr);
        assert!(r.stderr.contains(variable), "{change:?}: {}", r.stderr);
    }
    // The token function does not read them.
    assert!(run(TOKEN, &["--check-config"], &with(TOKEN_ENV)).ok);
}
