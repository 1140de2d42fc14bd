//! The `iamjwt` binary's own contract for bad input, run as a process: a usage error exits 2 with clap's message, a
//! setting that cannot work is refused at start with one line naming the cause, and `describe --json` prints the
//! algorithm table. (The end-to-end suites in tests/ drive every command against real servers and clients.)
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::process::Command;

fn iamjwt(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_iamjwt"))
        .args(args)
        .env_remove("RUST_LOG")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .output()
        .unwrap()
}

#[test]
fn an_unknown_algorithm_is_a_usage_error_listing_the_known_ones() {
    let o = iamjwt(&["token", "--alg", "HS256"]);
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("HS256") && err.contains("RS256") && err.contains("ES256"),
        "{err}"
    );
}

/// `iamjwt agent --once` writing `file`, against an issuer URL where nothing listens, with `extra` flags.
fn agent_once(file: &std::path::Path, extra: &[&str]) -> std::process::Output {
    let mut args = vec![
        "agent",
        "--url",
        "http://127.0.0.1:9/token",
        "--file",
        file.to_str().unwrap(),
        "--once",
    ];
    args.extend_from_slice(extra);
    iamjwt(&args)
}

#[test]
fn an_agent_file_in_a_missing_directory_is_refused_at_start_in_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("missing/token.jwt");
    let o = agent_once(&file, &[]);
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains("does not exist") && err.contains("missing"),
        "{err}"
    );
}

#[test]
fn describe_json_prints_the_algorithm_table() {
    let o = iamjwt(&["describe", "--json"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let text = v.to_string();
    for alg in ["RS256", "ES256", "ES384"] {
        assert!(text.contains(alg), "{alg} missing from {text}");
    }
    // the one version of the crates, the CLI, the Lambda zips and the CDK construct (which reads it from the copy)
    assert_eq!(v["version"], env!("CARGO_PKG_VERSION"), "{text}");
    let version = iamjwt(&["--version"]);
    assert_eq!(
        String::from_utf8_lossy(&version.stdout).trim(),
        format!("iamjwt {}", env!("CARGO_PKG_VERSION"))
    );
}

/// This process's effective uid: the owner of a file it creates.
fn my_uid(dir: &std::path::Path) -> u32 {
    use std::os::unix::fs::MetadataExt as _;
    let probe = dir.join("whoami");
    std::fs::write(&probe, b"").unwrap();
    let uid = std::fs::metadata(&probe).unwrap().uid();
    std::fs::remove_file(&probe).unwrap();
    uid
}

#[test]
fn an_agent_owner_that_does_not_exist_or_cannot_be_given_is_refused_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("token.jwt");
    let agent = |owner: &str| agent_once(&file, &["--startup-timeout", "1", "--owner", owner]);
    // a name nobody has: a usage error naming it
    let o = agent("no-such-user-iamjwt");
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("no user \"no-such-user-iamjwt\""), "{err}");
    // another user: only root or CAP_CHOWN may give a file away; without it, refused before any request, in one
    // line naming the fix; with it, start-up passes and only the (absent) issuer fails
    let root = my_uid(dir.path()) == 0;
    let o = agent(if root { "65534:65534" } else { "0:0" });
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    if root {
        assert!(
            err.lines()
                .last()
                .unwrap()
                .contains("no first token within --startup-timeout 1s"),
            "{err}"
        );
    } else {
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(err.contains("needs root or CAP_CHOWN"), "{err}");
    }
    assert!(!file.exists());
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        0,
        "no probe file left"
    );
}

/// `iamjwt ARGS` with extra environment variables and `stdin` fed in.
fn iamjwt_with(args: &[&str], env: &[(&str, &str)], stdin: &str) -> std::process::Output {
    use std::io::Write as _;
    use std::process::Stdio;
    let mut c = Command::new(env!("CARGO_BIN_EXE_iamjwt"));
    c.args(args)
        .env_remove("RUST_LOG")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in env {
        c.env(k, v);
    }
    let mut child = c.spawn().unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

/// Issue 23 §4: README and docs/workload.md document `IAMJWT_NO_CACHE=1`; clap's own bool parser took only
/// true/false. Every boolean variable reads like the server's (`IAMJWT_SESSION_TAGS`): 1/0, true/false, yes/no.
#[test]
fn boolean_variables_take_one_and_zero() {
    let creds = [
        ("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE"),
        ("AWS_SECRET_ACCESS_KEY", "secret"),
    ];
    for v in ["1", "0", "true", "FALSE", "yes", "no"] {
        let mut env = creds.to_vec();
        env.push(("IAMJWT_NO_CACHE", v));
        let o = iamjwt_with(&["token", "--url", "http://127.0.0.1:9"], &env, "");
        let err = String::from_utf8_lossy(&o.stderr);
        // not a usage error: the command ran and failed at the absent issuer
        assert_eq!(o.status.code(), Some(1), "IAMJWT_NO_CACHE={v}: {err}");
        assert!(err.contains("127.0.0.1:9"), "IAMJWT_NO_CACHE={v}: {err}");
    }
    let mut env = creds.to_vec();
    env.push(("IAMJWT_NO_CACHE", "maybe"));
    let o = iamjwt_with(&["token", "--url", "http://127.0.0.1:9"], &env, "");
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("maybe") && err.contains("1/0"), "{err}");
}

/// Issue 23 §9: google-auth reads an executable's failure from stdout, for every failure; bad arguments got clap's
/// text on stderr and an empty stdout.
#[test]
fn gcp_executable_answers_bad_arguments_with_gcp_failure_json() {
    for args in [
        &["token", "--output", "gcp-executable", "--no-such-flag"][..],
        &["token", "--output=gcp-executable", "--duration", "soon"][..],
    ] {
        let o = iamjwt(args);
        assert_ne!(o.status.code(), Some(0), "{args:?}");
        let out: serde_json::Value = serde_json::from_slice(&o.stdout)
            .unwrap_or_else(|e| panic!("{args:?}: stdout is not JSON ({e}): {:?}", o.stdout));
        assert_eq!(out["version"], 1);
        assert_eq!(out["success"], false);
        assert_eq!(out["code"], "INVALID_ARGUMENTS");
        let message = out["message"].as_str().unwrap();
        assert!(!message.is_empty() && !message.contains('\n'), "{message}");
    }
    // other commands keep clap's contract: nothing on stdout
    let o = iamjwt(&["token", "--no-such-flag"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(o.stdout.is_empty());
}

/// Issue 23 §11: `decode -` reads the token from stdin, as `verify -` does.
#[test]
fn decode_reads_stdin() {
    // {"alg":"ES256","kid":"k"} . {"sub":"s"} . sig
    let token = "eyJhbGciOiJFUzI1NiIsImtpZCI6ImsifQ.eyJzdWIiOiJzIn0.c2ln";
    let o = iamjwt_with(&["decode", "-"], &[], &format!("{token}\n"));
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["header"]["kid"], "k");
    assert_eq!(v["claims"]["sub"], "s");
}

/// Issue 23 §11: every flag the README's CLI synopsis shows exists in that command's `--help`.
#[test]
fn every_flag_in_the_readme_synopsis_exists() {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../README.md")).unwrap();
    let section = readme
        .split("\n## The CLI\n")
        .nth(1)
        .expect("README has a `## The CLI` section");
    let block = section
        .split("```")
        .nth(1)
        .expect("the section starts with a code block");
    let mut commands: Vec<(String, Vec<String>)> = Vec::new();
    for line in block.lines().skip(1) {
        // a comment after `#` is prose
        let words: Vec<&str> = line
            .split_whitespace()
            .take_while(|w| !w.starts_with('#'))
            .collect();
        if words.first() == Some(&"iamjwt") {
            commands.push((words[1].to_owned(), Vec::new()));
        }
        let (_, flags) = commands
            .last_mut()
            .expect("the block starts with a command");
        for w in &words {
            let w = w.trim_start_matches(['[', '(', '|']);
            if let Some(rest) = w.strip_prefix("--") {
                let name: String = rest
                    .chars()
                    .take_while(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '-')
                    .collect();
                flags.push(format!("--{name}"));
            }
        }
    }
    assert!(commands.len() >= 10, "{commands:?}");
    let mut missing = Vec::new();
    for (command, flags) in &commands {
        let o = iamjwt(&[command, "--help"]);
        assert!(o.status.success(), "iamjwt {command} --help");
        let help = String::from_utf8_lossy(&o.stdout);
        for flag in flags {
            let found = help.match_indices(flag.as_str()).any(|(i, _)| {
                !help[i + flag.len()..].starts_with(|c: char| c.is_ascii_alphanumeric() || c == '-')
            });
            if !found {
                missing.push(format!("iamjwt {command} {flag}"));
            }
        }
    }
    assert!(
        missing.is_empty(),
        "in the README synopsis, not in --help: {missing:?}"
    );
}

/// No Rust `Debug` output in a message (`Some(…)`, `DispatchFailure(DispatchFailure { …`).
fn assert_no_debug(err: &str) {
    for dump in ["Some(", "None", "DispatchFailure(", "ConnectorError", " { "] {
        assert!(!err.contains(dump), "{dump:?} in {err}");
    }
}

/// Issue 23 §8: a refused rotation was three lines (a log line, the local "SNS" notification, the error) with raw
/// Unix times and no hint. Now: one line, RFC 3339 times, what to do (`--now` growing with each run, `--emergency`).
#[test]
fn a_refused_rotation_is_one_line_with_times_and_a_hint() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().to_str().unwrap();
    let first = iamjwt(&["rotate", "--state-dir", state]);
    assert!(
        first.status.success(),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    for args in [
        &["rotate", "--state-dir", state][..],
        &["rotate", "--state-dir", state, "--step", "promote"][..],
    ] {
        let o = iamjwt(args);
        assert_eq!(o.status.code(), Some(1), "{args:?}");
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(err.lines().count(), 1, "{args:?}: {err}");
        assert_no_debug(&err);
        assert!(
            err.contains("UnsafePromotion")
                && err.contains("--now")
                && err.contains("+25h")
                && err.contains("--emergency"),
            "{err}"
        );
        // times as RFC 3339, never as Unix seconds
        let rfc3339 = err
            .split(|c: char| c.is_whitespace() || c == ';' || c == ',')
            .filter(|w| w.len() == 20 && w.ends_with('Z') && w.as_bytes()[10] == b'T')
            .count();
        assert_eq!(rfc3339, 2, "{err}");
        assert!(
            !err.split(|c: char| !c.is_ascii_alphanumeric())
                .any(|w| w.len() == 10 && w.bytes().all(|b| b.is_ascii_digit())),
            "a Unix time in {err}"
        );
    }
}

/// Issue 23 §8: a Step Functions endpoint that does not answer printed the SDK's Debug dump and no endpoint.
#[test]
fn an_unreachable_step_functions_endpoint_is_named_in_one_line() {
    let o = iamjwt_with(
        &[
            "rotate",
            "--state-machine-arn",
            "arn:aws:states:us-east-1:111122223333:stateMachine:iamjwt-rotation",
        ],
        &[
            ("AWS_ENDPOINT_URL", "http://127.0.0.1:9"),
            ("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE"),
            ("AWS_SECRET_ACCESS_KEY", "secret"),
            ("AWS_CONFIG_FILE", "/nonexistent/iamjwt-test-config"),
        ],
        "",
    );
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert_no_debug(&err);
    assert!(
        err.contains("http://127.0.0.1:9") && err.contains("ListExecutions"),
        "{err}"
    );
}

/// Issue 19 §6: every command that fetches from the issuer (or the federation endpoint) refuses plain http to a
/// host that is not loopback, before any request, in one line naming https. The credentials given are fake and the
/// hosts do not resolve: a command that went on would fail on the credential chain, DNS or STS instead.
#[test]
fn plain_http_off_loopback_is_refused_before_any_request() {
    let env = [
        ("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE"),
        ("AWS_SECRET_ACCESS_KEY", "secret"),
        ("AWS_REGION", "us-east-1"),
        ("IAMJWT_NO_CACHE", "1"),
    ];
    let role = "arn:aws:iam::123456789012:role/r";
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("t.jwt");
    let file = file.to_str().unwrap();
    let issuer = "http://issuer.invalid/prod";
    let cases: Vec<Vec<&str>> = vec![
        vec!["token", "--url", issuer],
        vec!["token", "--url", issuer, "--output", "gcp-executable"],
        vec!["credentials", "--url", issuer, "--role-arn", role],
        vec!["console", "--url", issuer, "--role-arn", role],
        // the issuer is loopback (nothing listens: a request would be "connection refused"), the federation
        // endpoint is not: refused before the token request
        vec![
            "console",
            "--url",
            "http://127.0.0.1:9",
            "--role-arn",
            role,
            "--federation-endpoint",
            "http://signin.invalid/federation",
        ],
        vec![
            "s3-access",
            "--url",
            issuer,
            "--role-arn",
            role,
            "--identity-center-app",
            "arn:aws:sso::123456789012:application/ssoins-1/apl-1",
            "--target",
            "s3://b/p*",
            "--permission",
            "READ",
        ],
        vec!["agent", "--url", issuer, "--file", file, "--once"],
        // a well-formed token ({"alg":"RS256","kid":"k"}.{"iss":"x"}), so that only the issuer is left to check
        vec![
            "verify",
            "eyJhbGciOiJSUzI1NiIsImtpZCI6ImsifQ.eyJpc3MiOiJ4In0.c2ln",
            "--issuer",
            issuer,
            "--aud",
            "x",
        ],
        vec![
            "trust",
            "aws",
            "--issuer",
            issuer,
            "--principal",
            "arn:aws:iam::123456789012:role/r",
        ],
    ];
    for args in cases {
        let o = iamjwt_with(&args, &env, "");
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(1), "{args:?}: {err}");
        assert_eq!(err.lines().count(), 1, "{args:?}: {err}");
        assert!(
            err.contains("plain http") && err.contains("use https://"),
            "{args:?}: {err}"
        );
        assert!(!err.contains("127.0.0.1:9"), "{args:?}: {err}");
    }
    assert!(!std::path::Path::new(file).exists());
}

/// Issue 19 §6: no implicit issuer URL. Without `--url` and `IAMJWT_URL`, `token` went to http://127.0.0.1:8080
/// (whatever listens there got a signed request); now every command that needs it says how to give it.
#[test]
fn there_is_no_default_issuer_url() {
    let env = [
        ("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE"),
        ("AWS_SECRET_ACCESS_KEY", "secret"),
        ("IAMJWT_NO_CACHE", "1"),
    ];
    let role = "arn:aws:iam::123456789012:role/r";
    for args in [
        &["token"][..],
        &["credentials", "--role-arn", role][..],
        &["console", "--role-arn", role][..],
        &["agent", "--file", "/tmp/iamjwt-no-url.jwt", "--once"][..],
    ] {
        let mut c = Command::new(env!("CARGO_BIN_EXE_iamjwt"));
        c.args(args)
            .env_remove("RUST_LOG")
            .env_remove("IAMJWT_URL")
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .envs(env);
        let o = c.output().unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(1), "{args:?}: {err}");
        assert_eq!(err.lines().count(), 1, "{args:?}: {err}");
        assert!(
            err.contains("--url") && err.contains("IAMJWT_URL") && !err.contains("8080"),
            "{args:?}: {err}"
        );
    }
}

/// Issue 19 §6: a token cache directory that others may write to (no sticky bit) is refused in one line naming the
/// fix, before any request; an agent file's directory likewise.
#[test]
fn a_cache_or_agent_directory_others_can_write_is_refused() {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("iamjwt");
    std::fs::create_dir(&cache).unwrap();
    std::fs::set_permissions(&cache, std::fs::Permissions::from_mode(0o777)).unwrap();
    let env = [
        ("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE"),
        ("AWS_SECRET_ACCESS_KEY", "secret"),
        ("XDG_CACHE_HOME", dir.path().to_str().unwrap()),
    ];
    let o = iamjwt_with(&["token", "--url", "http://127.0.0.1:9"], &env, "");
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains("chmod go-w") && err.contains("--no-cache") && !err.contains("127.0.0.1:9"),
        "{err}"
    );
    // --no-cache does without it
    let o = iamjwt_with(
        &["token", "--url", "http://127.0.0.1:9", "--no-cache"],
        &env,
        "",
    );
    assert!(String::from_utf8_lossy(&o.stderr).contains("127.0.0.1:9"));

    let file = cache.join("t.jwt");
    let o = agent_once(&file, &[]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("chmod go-w"), "{err}");
    assert!(!file.exists());
}
