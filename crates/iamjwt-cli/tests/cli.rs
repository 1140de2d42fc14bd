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
