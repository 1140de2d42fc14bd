//! `iamjwt rotate`: run the rotation workflow — locally on a state directory (`--state-dir`, optionally one step),
//! or in AWS by starting the deployed state machine (`--state-machine-arn`) and following it to the end.

use crate::error::Error;
use iamjwt_core::UnixTime;
use iamjwt_core::rotation::{Step, StepReport};
use std::path::PathBuf;
use std::time::SystemTime;

#[derive(clap::Args)]
pub struct Args {
    /// The local state directory (as used by `iamjwt serve`).
    #[arg(long, default_value = ".iamjwt", env = "IAMJWT_STATE_DIR")]
    state_dir: PathBuf,
    /// Rotate in AWS: start this Step Functions state machine and wait for it (refused if one is running).
    #[arg(long, conflicts_with_all = ["state_dir", "step", "now"])]
    state_machine_arn: Option<String>,
    /// The current key is compromised: replace it now and drop it from the JWKS.
    #[arg(long)]
    emergency: bool,
    /// Run only this step (as one Lambda invocation would), not the whole workflow.
    #[arg(long, value_parser = clap::builder::PossibleValuesParser::new(Step::ALL.map(Step::as_str)))]
    step: Option<String>,
    /// Pretend it is this time: Unix seconds, or an offset from now like +90s, +30m, +25h, +2d.
    #[arg(long)]
    now: Option<String>,
}

pub fn parse_now(s: &str, real_now: UnixTime) -> Result<UnixTime, Error> {
    let bad = || {
        Error::Usage(format!(
            "--now {s:?}: expected Unix seconds or +N followed by s, m, h or d"
        ))
    };
    if let Some(rest) = s.strip_prefix('+') {
        let (num, unit) = rest.split_at(
            rest.find(|c: char| !c.is_ascii_digit())
                .unwrap_or(rest.len()),
        );
        let n: u64 = num.parse().map_err(|_| bad())?;
        let mult = match unit {
            "" | "s" => 1,
            "m" => 60,
            "h" => 3600,
            "d" => 86_400,
            _ => return Err(bad()),
        };
        return Ok(real_now.plus(n.checked_mul(mult).ok_or_else(bad)?));
    }
    s.parse::<u64>().map(UnixTime).map_err(|_| bad())
}

/// A refusal of the workflow as one line: what was refused and why (times in RFC 3339), and what to do about it.
fn explain(e: iamjwt_local::Error) -> Error {
    let iamjwt_local::Error::Workflow {
        state,
        error,
        cause,
    } = &e
    else {
        return Error::Local(e);
    };
    let hint = match error.as_str() {
        "UnsafePromotion" => {
            "a new key signs only after it has been published for IAMJWT_MIN_PUBLISH_AGE (verifiers cache the JWKS): \
             run again after that time, or act as if it had come with --now (e.g. --now +25h; publish times are \
             recorded at the pretended time, so each further run needs a later --now: +50h, +75h, …), or use \
             --emergency if the current key is compromised"
        }
        "PreviousStillNeeded" => {
            "the previous key still verifies tokens it signed: run again after that time (or with --now past it), \
             or use --emergency if the current key is compromised"
        }
        "RotationInProgress" => {
            "another `iamjwt rotate` (or `serve` bootstrapping) holds this state directory: wait for it to finish"
        }
        _ => return Error::Local(e),
    };
    let cause = cause.strip_prefix("rotation refused: ").unwrap_or(cause);
    let cause = cause
        .strip_prefix(error.as_str())
        .and_then(|c| c.strip_prefix(": "))
        .unwrap_or(cause);
    Error::Usage(format!(
        "rotation refused in step {} ({error}): {cause}; {hint}",
        state.to_lowercase()
    ))
}

fn print_report(r: &StepReport) {
    let step = r.step.map_or("?", Step::as_str);
    if r.actions.is_empty() {
        crate::print_stdout(&format!("{step}: nothing to do"));
    }
    for a in &r.actions {
        crate::print_stdout(&format!("{step}: {a}"));
    }
}

/// `arn:PARTITION:states:REGION:ACCOUNT:stateMachine:NAME` → (`PARTITION`, `REGION`).
fn arn_region(arn: &str) -> Result<(&str, &str), Error> {
    let parts: Vec<&str> = arn.split(':').collect();
    match parts.as_slice() {
        ["arn", partition, "states", region, _, "stateMachine", _] if !region.is_empty() => {
            Ok((partition, region))
        }
        _ => Err(Error::Usage(format!(
            "{arn:?} is not a Step Functions state machine ARN"
        ))),
    }
}

/// Where the Step Functions calls go, for messages: `AWS_ENDPOINT_URL(_SFN)` when set, else the region's endpoint.
fn sfn_endpoint(conf: &iamjwt_aws::sdk::SdkConfig, partition: &str, region: &str) -> String {
    match conf.endpoint_url() {
        Some(url) => url.to_owned(),
        None => {
            let suffix = if partition == "aws-cn" {
                "amazonaws.com.cn"
            } else {
                "amazonaws.com"
            };
            format!("https://states.{region}.{suffix}")
        }
    }
}

async fn run_in_aws(arn: &str, emergency: bool) -> Result<(), Error> {
    let (partition, region) = arn_region(arn)?;
    let conf = iamjwt_aws::sdk::load_in(Some(region)).await;
    let endpoint = sfn_endpoint(&conf, partition, region);
    let executions = iamjwt_aws::sfn::RotationExecutions::new(iamjwt_aws::sdk::sfn(&conf), arn);
    let outcome = executions
        .run(emergency, &mut std::io::stderr())
        .await
        .map_err(|e| match e {
            iamjwt_aws::Error::Port(p) if p.kind == iamjwt_core::PortErrorKind::Transient => {
                Error::Http(format!(
                    "Step Functions at {endpoint} did not answer: {}; check the network, the region of \
                     --state-machine-arn and AWS_ENDPOINT_URL",
                    p.detail
                ))
            }
            iamjwt_aws::Error::Port(p) => Error::Http(format!("Step Functions at {endpoint}: {p}")),
            // the workflow ran and failed, or refused to start: its own words
            other => Error::Http(other.to_string()),
        })?;
    crate::print_stdout(&outcome.execution_arn);
    Ok(())
}

pub async fn run(args: Args) -> Result<(), Error> {
    if let Some(arn) = &args.state_machine_arn {
        return run_in_aws(arn, args.emergency).await;
    }
    let real_now = UnixTime::from_system_time(SystemTime::now());
    let now = match &args.now {
        Some(s) => parse_now(s, real_now)?,
        None => real_now,
    };
    if !args.state_dir.is_dir() {
        return Err(Error::Usage(format!(
            "state directory {} does not exist (start `iamjwt serve` once, or create it)",
            args.state_dir.display()
        )));
    }
    let settings = iamjwt_local::settings::recorded_settings(&args.state_dir, std::env::vars())?;
    let rotation = iamjwt_local::compose::rotation(&settings, &args.state_dir);
    let reports = match &args.step {
        Some(s) => vec![
            rotation
                .run_step(s.parse::<Step>()?, args.emergency, now)
                .await
                .map_err(explain)?,
        ],
        None => rotation.run(args.emergency, now).await.map_err(explain)?,
    };
    for r in &reports {
        print_report(r);
    }
    if let Some(last) = reports.last() {
        for (alg, kid) in &last.current_kids {
            crate::print_stdout(&format!("current {alg} kid: {kid}"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn now_forms() {
        let t = UnixTime(1000);
        assert_eq!(parse_now("5", t).unwrap(), UnixTime(5));
        assert_eq!(parse_now("+90", t).unwrap(), UnixTime(1090));
        assert_eq!(parse_now("+2m", t).unwrap(), UnixTime(1120));
        assert_eq!(parse_now("+1d", t).unwrap(), UnixTime(87_400));
        for bad in ["", "+", "+1y", "-5", "abc", "+99999999999999999999d"] {
            assert!(parse_now(bad, t).is_err(), "{bad}");
        }
    }

    #[test]
    fn state_machine_arns() {
        assert_eq!(
            arn_region("arn:aws:states:eu-west-1:111122223333:stateMachine:iamjwt-rotation")
                .unwrap(),
            ("aws", "eu-west-1")
        );
        assert!(arn_region("arn:aws:states:eu-west-1:111122223333:execution:x:y").is_err());
        assert!(arn_region("iamjwt-rotation").is_err());
    }
}
