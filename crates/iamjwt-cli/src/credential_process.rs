//! The loop guard of the commands that run as an AWS profile's `credential_process` (`credentials`, `s3-access`).
//!
//! `credentials` (and `s3-access`) usually run as an AWS profile's `credential_process`. When the profile one signs
//! with is that same profile (`AWS_PROFILE` exported), the AWS SDK would start it again, and again, without end.
//! Every `iamjwt credentials` / `iamjwt s3-access` therefore tells the processes below it who is running above them
//! ([`CHAIN_VAR`]); one that finds itself in that chain stops at once with one line naming the cause and the fix
//! ([`Guard`]).

use crate::error::Error;
use std::hash::{Hash as _, Hasher as _};
use std::process::ExitCode;

/// Carries the `iamjwt credentials` / `s3-access` invocations running above a process, as `KEY@PID` entries (the invocation and
/// the process that started the next one), to every process below it.
pub const CHAIN_VAR: &str = "IAMJWT_CREDENTIALS_CHAIN";

/// A chain of different `iamjwt credentials` this deep is taken for a loop too (a profile chain that legitimately
/// nests credential processes is one or two deep).
const MAX_DEPTH: usize = 5;

/// What an `iamjwt credentials` process does about the chain above it.
#[derive(Debug, PartialEq, Eq)]
pub enum Guard {
    /// This process is the worker its parent started with the chain set: run.
    Run,
    /// Start this same command again with `CHAIN_VAR` set to this value (the environment a child inherits is the
    /// only channel to the credential process the AWS SDK starts, and this process cannot change its own), and
    /// exit with its status.
    Reexec(String),
}

/// How the refusal of a loop goes on after "`iamjwt COMMAND`"; the process whose credential process refused passes
/// that line up as its own.
const LOOP: &str = "` is running inside itself";

/// The AWS SDK wraps a failed credential process in its own words around the process's stderr; when that process
/// refused a loop, its one line is the whole story.
pub fn loop_below(e: iamjwt_client::Error) -> Error {
    let text = e.to_string();
    let line = text
        .find(LOOP)
        .and_then(|i| text[..i].rfind("`iamjwt "))
        .and_then(|start| text[start..].lines().next());
    match line {
        Some(line) => Error::Usage(line.trim().to_owned()),
        None => Error::Client(e),
    }
}

/// The invocation's identity: its arguments and the profile it signs with. The same command again below itself is
/// a loop; a different one (a profile chain A → B) is not.
pub fn invocation_key(args: &[std::ffi::OsString], profile: &str) -> String {
    let mut h = std::hash::DefaultHasher::new();
    args.hash(&mut h);
    profile.hash(&mut h);
    format!("{:016x}", h.finish())
}

/// Decides, for `iamjwt COMMAND`, from the chain this process inherited (`chain`), its own key, its pid and its
/// parent's pid.
pub fn guard(
    command: &str,
    chain: Option<&str>,
    key: &str,
    pid: u32,
    parent: u32,
    profile: &str,
) -> Result<Guard, Error> {
    let entries: Vec<(&str, &str)> = chain
        .unwrap_or("")
        .split_whitespace()
        .map(|e| e.split_once('@').unwrap_or((e, "")))
        .collect();
    if let Some(&(k, p)) = entries.last()
        && k == key
        && p == parent.to_string()
    {
        return Ok(Guard::Run);
    }
    let fix = "pass --source-profile NAME naming a profile with credentials of its own (not the one whose \
               credential_process runs this command), or unset AWS_PROFILE for it";
    if entries.iter().any(|&(k, _)| k == key) {
        return Err(Error::Usage(format!(
            "`iamjwt {command}{LOOP}: the AWS profile it signs with ({profile}) has a credential_process that \
             runs this same command, which would start it again without end; {fix}"
        )));
    }
    if entries.len() >= MAX_DEPTH {
        return Err(Error::Usage(format!(
            "{} `iamjwt credentials` / `s3-access` are running inside each other's credential_process (profile \
             {profile}): taken for a loop; {fix}",
            entries.len() + 1
        )));
    }
    let mut next: Vec<String> = entries.iter().map(|(k, p)| format!("{k}@{p}")).collect();
    next.push(format!("{key}@{pid}"));
    Ok(Guard::Reexec(next.join(" ")))
}

/// Runs before anything else in `iamjwt COMMAND` (`credentials`, `s3-access`: the commands that run as a
/// credential_process and sign with an AWS profile, `--profile` or `AWS_PROFILE`): `None` to go on in this process, or the exit code of
/// the worker it started (or of the refusal).
pub fn guard_process(command: &str, profile: Option<&str>) -> Option<ExitCode> {
    let profile = profile
        .map(str::to_owned)
        .or_else(|| std::env::var("AWS_PROFILE").ok().filter(|p| !p.is_empty()))
        .unwrap_or_else(|| "default".to_owned());
    let argv: Vec<std::ffi::OsString> = std::env::args_os().skip(1).collect();
    let chain = std::env::var(CHAIN_VAR).ok();
    let decision = guard(
        command,
        chain.as_deref(),
        &invocation_key(&argv, &profile),
        std::process::id(),
        std::os::unix::process::parent_id(),
        &profile,
    );
    let fail = |e: &dyn std::fmt::Display| {
        eprintln!("error: {e}");
        Some(ExitCode::FAILURE)
    };
    match decision {
        Ok(Guard::Run) => None,
        Err(e) => fail(&e),
        Ok(Guard::Reexec(chain)) => {
            let status = std::env::current_exe().and_then(|exe| {
                std::process::Command::new(exe)
                    .args(&argv)
                    .env(CHAIN_VAR, chain)
                    .status()
            });
            match status {
                Ok(s) => Some(
                    s.code()
                        .and_then(|c| u8::try_from(c).ok())
                        .map_or(ExitCode::FAILURE, ExitCode::from),
                ),
                Err(e) => fail(&format!("cannot start iamjwt again for {command}: {e}")),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_command_below_itself_is_refused_a_chain_is_not() {
        let a = invocation_key(
            &["credentials".into(), "--role-arn".into(), "A".into()],
            "other",
        );
        let b = invocation_key(
            &["credentials".into(), "--role-arn".into(), "B".into()],
            "base",
        );
        assert_ne!(a, b);
        // the first process starts its worker with itself in the chain
        let Guard::Reexec(chain) = guard("credentials", None, &a, 100, 1, "other").unwrap() else {
            panic!("the first one re-executes")
        };
        assert_eq!(chain, format!("{a}@100"));
        // that worker (child of 100) runs
        assert_eq!(
            guard("credentials", Some(&chain), &a, 101, 100, "other").unwrap(),
            Guard::Run
        );
        // the same command started by the worker's AWS SDK (through sh) is the loop
        let e = guard("credentials", Some(&chain), &a, 103, 102, "other")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("--source-profile") && e.contains("(other)") && !e.contains('\n'),
            "{e}"
        );
        // a different command below it (profile chain A → B) goes on, and is told about both
        let Guard::Reexec(deeper) =
            guard("credentials", Some(&chain), &b, 103, 102, "base").unwrap()
        else {
            panic!("a chain is not a loop")
        };
        assert_eq!(deeper, format!("{a}@100 {b}@103"));
        // however different, five deep is a loop
        let five = (0..5)
            .map(|i| format!("k{i}@{i}"))
            .collect::<Vec<_>>()
            .join(" ");
        assert!(guard("credentials", Some(&five), &b, 9, 8, "base").is_err());
        // s3-access (also a credential_process) below itself: the same refusal, naming it, and passed up whole
        let e = guard("s3-access", Some(&chain), &a, 103, 102, "other").unwrap_err();
        assert!(
            e.to_string()
                .starts_with("`iamjwt s3-access` is running inside itself"),
            "{e}"
        );
        let wrapped = iamjwt_client::Error::Credentials(format!(
            "the credential process failed. Stderr: error: {e}\n"
        ));
        assert_eq!(loop_below(wrapped).to_string(), e.to_string());
    }
}
