//! `iamjwt trust TARGET`: what a verifier's administrator runs to trust this issuer for one principal, in the
//! target's own format, after checking the issuer's live discovery and JWKS against the target's rules. The plan,
//! the rules and the documents live in `iamjwt-verifiers`; this module parses the flags, fetches and prints.

use crate::error::Error;
use crate::targets::{CloudArg, TargetArg};
use iamjwt_client::http::HttpClient;
use iamjwt_client::issuer::fetch_issuer;
use iamjwt_core::UnixTime;
use iamjwt_verifiers::serialize::json_pretty;
use iamjwt_verifiers::{
    Context, IssuerFacts, Outcome, Plan, Request, Scope, Status, Subject, evaluate,
    is_loopback_http,
};
use std::time::SystemTime;

#[derive(Clone, Copy, clap::ValueEnum)]
enum Output {
    /// The commands to run (AWS CLI, gcloud, az, vault, Kubernetes YAML, SQL, databricks CLI).
    Text,
    /// One JSON object whose members are the documents (docs/verifiers.md names them).
    Json,
}

#[derive(clap::Args)]
#[command(group(clap::ArgGroup::new("who").required(true).args(["principal", "sub"])))]
pub struct Args {
    /// The verifier to trust this issuer.
    #[arg(value_enum)]
    target: TargetArg,
    /// The issuer URL, exactly as in `iss`.
    #[arg(long, env = "IAMJWT_ISSUER")]
    issuer: String,
    /// The caller's AWS ARN, or a role ARN (an assumed-role session ARN becomes the role ARN, as the issuer does for
    /// `sub`).
    #[arg(long)]
    principal: Option<String>,
    /// The `sub` to trust, as the issuer emits it (e.g. from a `sub` template).
    #[arg(long)]
    sub: Option<String>,
    /// The audience the workload requests (defaults: aws `sts.amazonaws.com`, azure Entra's exchange audience,
    /// snowflake `snowflakecomputing.com`; required for the others).
    #[arg(long)]
    aud: Option<String>,
    #[arg(long, value_enum, default_value = "text")]
    output: Output,
    /// Name of what is created: AWS role, GCP pool and provider, Entra credential, Vault role, Snowflake user,
    /// Databricks policy.
    #[arg(long, default_value = "iamjwt")]
    name: String,
    /// aws: the account that trusts the issuer (default: the --principal's account).
    #[arg(long)]
    account: Option<String>,
    /// aws: the issuer emits session tags, so the trust policy allows `sts:TagSession` — for the --tag-key keys
    /// only.
    #[arg(long)]
    session_tags: bool,
    /// aws: a session tag key (or `*` glob) the issuer's rule selects (`session_tags.keys`; repeat for several);
    /// `sts:TagSession` is allowed for these keys only (`aws:TagKeys`).
    #[arg(long = "tag-key", value_name = "KEY")]
    tag_keys: Vec<String>,
    /// azure: the Entra cloud (each has its own audience).
    #[arg(long, value_enum, default_value = "public")]
    cloud: CloudArg,
}

pub async fn run(args: Args) -> Result<(), Error> {
    let target = args.target.0;
    let plan = Plan::new(&Request {
        target,
        issuer: args.issuer,
        principal: args.principal,
        sub: args.sub,
        aud: args.aud,
        name: args.name,
        account: args.account,
        session_tags: args.session_tags,
        tag_keys: args.tag_keys,
        cloud: args.cloud.0,
    })?;
    // Built before anything is fetched: a refused flag costs no request. Printed only after the checks.
    let doc = plan.document()?;

    // The issuer as the verifier will see it, judged by the target's rules before anything is printed.
    let (discovery, jwks) = fetch_issuer(&HttpClient::new(), &plan.issuer).await?;
    let facts = IssuerFacts::new(&plan.issuer, discovery, &jwks);
    let planned = plan.planned_token();
    let accepted = plan.accepted_audiences();
    let outcomes = evaluate(
        target,
        &Context {
            issuer: &facts,
            subject: Subject::Planned(&planned),
            accepted_audiences: &accepted,
            now: UnixTime::from_system_time(SystemTime::now()),
            leeway: 60,
            azure_cloud: plan.cloud,
        },
    );
    if let Some(o) = outcomes
        .iter()
        .find(|o| o.scope == Scope::Issuer && o.status == Status::Fail)
    {
        return Err(Error::Invalid(format!(
            "{} would not accept issuer {}: {}: {} — fix: {}",
            target.title(),
            plan.issuer,
            o.rule,
            o.detail,
            o.fix
        )));
    }
    for o in outcomes.iter().filter(|o| o.status != Status::Ok) {
        warn(o);
    }
    // Local mode never goes unmentioned, even for a target without an https rule (Vault accepts http).
    if is_loopback_http(&plan.issuer) && outcomes.iter().all(|o| o.status != Status::Warn) {
        eprintln!(
            "warning: issuer {} is local mode (http on loopback): only a {} on this machine can reach it; use the https issuer of your deployment",
            plan.issuer,
            target.title()
        );
    }
    for note in &plan.notes {
        eprintln!("note: {note}");
    }
    match args.output {
        Output::Json => crate::print_stdout(&json_pretty(&doc.json)?),
        Output::Text => crate::print_stdout(doc.text.trim_end()),
    }
    Ok(())
}

fn warn(o: &Outcome) {
    let what = if o.status == Status::Fail {
        "tokens would be refused"
    } else {
        "note"
    };
    eprintln!(
        "warning: {} {} ({what}): {} — fix: {}",
        o.target, o.rule, o.detail, o.fix
    );
}
