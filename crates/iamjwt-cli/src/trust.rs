//! `iamjwt trust TARGET`: what a verifier's administrator runs to trust this issuer for one principal, in the
//! target's own format, after checking the issuer's live discovery and JWKS against the target's rules
//! (`iamjwt_core::verifiers`, the same table `verify --for` uses).

use crate::error::Error;
use clap::builder::PossibleValue;
use iamjwt_core::UnixTime;
use iamjwt_core::identity::Principal;
use iamjwt_core::verifiers::{
    self, AzureCloud, Context, IssuerFacts, Outcome, PlannedToken, Scope, Status, Subject, Target,
};
use serde::Serialize;
use serde_json::{Value, json};
use std::time::SystemTime;

/// clap's view of [`Target`]: the values come from `Target::ALL`, never a second list.
#[derive(Clone, Copy, Debug)]
pub struct TargetArg(pub Target);

const TARGET_ARGS: [TargetArg; Target::ALL.len()] = {
    let mut out = [TargetArg(Target::Aws); Target::ALL.len()];
    let mut i = 0;
    while i < out.len() {
        out[i] = TargetArg(Target::ALL[i]);
        i += 1;
    }
    out
};

impl clap::ValueEnum for TargetArg {
    fn value_variants<'a>() -> &'a [Self] {
        &TARGET_ARGS
    }
    fn to_possible_value(&self) -> Option<PossibleValue> {
        Some(PossibleValue::new(self.0.as_str()))
    }
}

/// clap's view of [`AzureCloud`].
#[derive(Clone, Copy, Debug)]
pub struct CloudArg(pub AzureCloud);

const CLOUD_ARGS: [CloudArg; AzureCloud::ALL.len()] = {
    let mut out = [CloudArg(AzureCloud::Public); AzureCloud::ALL.len()];
    let mut i = 0;
    while i < out.len() {
        out[i] = CloudArg(AzureCloud::ALL[i]);
        i += 1;
    }
    out
};

impl clap::ValueEnum for CloudArg {
    fn value_variants<'a>() -> &'a [Self] {
        &CLOUD_ARGS
    }
    fn to_possible_value(&self) -> Option<PossibleValue> {
        Some(PossibleValue::new(self.0.as_str()))
    }
}

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
    /// The caller's AWS ARN (an assumed-role session ARN becomes the role ARN, as the issuer does for `sub`).
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
    /// aws: the issuer emits session tags (`IAMJWT_SESSION_TAGS=true`), so the trust policy allows `sts:TagSession`.
    #[arg(long)]
    session_tags: bool,
    /// azure: the Entra cloud (each has its own audience).
    #[arg(long, value_enum, default_value = "public")]
    cloud: CloudArg,
}

/// What every target's document is built from.
struct Plan {
    issuer: String,
    sub: String,
    aud: String,
    name: String,
}

pub async fn run(args: Args) -> Result<(), Error> {
    let target = args.target.0;
    let issuer = args.issuer.trim().trim_end_matches('/').to_owned();
    let principal = args
        .principal
        .as_deref()
        .map(Principal::parse)
        .transpose()?;
    let sub = match (&principal, &args.sub) {
        (Some(p), _) => p.sub(),
        (None, Some(s)) if !s.is_empty() => s.clone(),
        _ => return Err(Error::Usage("give --principal ARN or --sub SUB".into())),
    };
    let aud = audience(target, args.aud.as_deref(), args.cloud.0)?;
    let plan = Plan {
        issuer,
        sub,
        aud,
        name: args.name.clone(),
    };

    // The issuer as the verifier will see it, judged by the target's rules before anything is printed.
    let (discovery, jwks) = crate::verify::fetch_issuer(&plan.issuer).await?;
    let facts = IssuerFacts::new(&plan.issuer, discovery, &jwks);
    let planned = PlannedToken {
        sub: plan.sub.clone(),
        aud: vec![plan.aud.clone()],
    };
    let accepted = [plan.aud.clone()];
    let outcomes = verifiers::evaluate(
        target,
        &Context {
            issuer: &facts,
            subject: Subject::Planned(&planned),
            accepted_audiences: &accepted,
            now: UnixTime::from_system_time(SystemTime::now()),
            leeway: 60,
            azure_cloud: args.cloud.0,
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
    if verifiers::is_loopback_http(&plan.issuer)
        && outcomes.iter().all(|o| o.status != Status::Warn)
    {
        eprintln!(
            "warning: issuer {} is local mode (http on loopback): only a {} on this machine can reach it; use the https issuer of your deployment",
            plan.issuer,
            target.title()
        );
    }

    let doc = match target {
        Target::Aws => aws(
            &plan,
            principal.as_ref(),
            args.account.as_deref(),
            args.session_tags,
        )?,
        Target::Gcp => gcp(&plan),
        Target::Azure => azure(&plan),
        Target::Vault => vault(&plan),
        Target::Kubernetes => kubernetes(&plan),
        Target::Snowflake => snowflake(&plan)?,
        Target::Databricks => databricks(&plan),
    };
    match args.output {
        Output::Json => crate::print_stdout(&to_json(&doc.json)?),
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

/// The audience to trust: given, or the target's default; Entra takes only its own.
fn audience(target: Target, aud: Option<&str>, cloud: AzureCloud) -> Result<String, Error> {
    let required = |why: &str| {
        Error::Usage(format!(
            "--aud is required for {target}: the audience your workload requests ({why})"
        ))
    };
    match (target, aud) {
        (Target::Azure, Some(a)) if a != cloud.audience() => Err(Error::Usage(format!(
            "Entra accepts only the audience {} ({} cloud); drop --aud or pick --cloud",
            cloud.audience(),
            cloud.as_str()
        ))),
        (_, Some("")) => Err(Error::Usage("--aud must not be empty".into())),
        (_, Some(a)) => Ok(a.to_owned()),
        (Target::Aws, None) => Ok("sts.amazonaws.com".into()),
        (Target::Azure, None) => Ok(cloud.audience().into()),
        (Target::Snowflake, None) => Ok("snowflakecomputing.com".into()),
        (Target::Gcp, None) => Err(required(
            "e.g. https://iam.googleapis.com/projects/NUMBER/locations/global/workloadIdentityPools/POOL/providers/PROVIDER",
        )),
        (Target::Databricks, None) => Err(required("Databricks' default is your account id")),
        (Target::Vault | Target::Kubernetes, None) => Err(required("e.g. vault or kubernetes")),
    }
}

/// A target's documents: the JSON object (`--output json`) and the commands (`--output text`).
struct Doc {
    json: Value,
    text: String,
}

fn to_json<T: Serialize>(v: &T) -> Result<String, Error> {
    serde_json::to_string_pretty(v).map_err(|e| Error::Usage(format!("cannot serialise: {e}")))
}

fn compact<T: Serialize>(v: &T) -> Result<String, Error> {
    serde_json::to_string(v).map_err(|e| Error::Usage(format!("cannot serialise: {e}")))
}

/// A POSIX shell single-quoted word.
fn sh(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// The issuer without its scheme: AWS's provider name and condition-key prefix.
fn host_path(issuer: &str) -> &str {
    issuer.split_once("://").map_or(issuer, |(_, rest)| rest)
}

// ---------------------------------------------------------------------------------------------------------------
// AWS: `aws iam create-open-id-connect-provider --cli-input-json` + a role trust policy.

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct OidcProvider<'a> {
    url: &'a str,
    #[serde(rename = "ClientIDList")]
    client_id_list: Vec<&'a str>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct Policy {
    version: &'static str,
    statement: Vec<Statement>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct Statement {
    effect: &'static str,
    principal: Value,
    action: Vec<&'static str>,
    condition: Value,
}

#[derive(Serialize)]
struct AwsDoc<'a> {
    oidc_provider: OidcProvider<'a>,
    trust_policy: Policy,
}

fn aws(
    plan: &Plan,
    principal: Option<&Principal>,
    account: Option<&str>,
    session_tags: bool,
) -> Result<Doc, Error> {
    let account = match (account, principal) {
        (Some(a), _) => iamjwt_core::identity::AccountId::parse(a)
            .map_err(|_| Error::Usage(format!("--account {a:?} is not a 12-digit account id")))?
            .as_str()
            .to_owned(),
        (None, Some(p)) => p.account().as_str().to_owned(),
        (None, None) => {
            return Err(Error::Usage(
                "give --account: the AWS account whose role trusts the issuer".into(),
            ));
        }
    };
    let role_name_ok = (1..=64).contains(&plan.name.len())
        && plan
            .name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_+=,.@-".contains(&b));
    if !role_name_ok {
        return Err(Error::Usage(format!(
            "--name {:?} is not an IAM role name (1-64 of letters, digits and _+=,.@-)",
            plan.name
        )));
    }
    let partition = principal.map_or("aws", Principal::partition);
    let hp = host_path(&plan.issuer);
    let mut action = vec!["sts:AssumeRoleWithWebIdentity"];
    if session_tags {
        action.push("sts:TagSession");
    }
    let doc = AwsDoc {
        oidc_provider: OidcProvider {
            url: &plan.issuer,
            client_id_list: vec![&plan.aud],
        },
        trust_policy: Policy {
            version: "2012-10-17",
            statement: vec![Statement {
                effect: "Allow",
                principal: json!({"Federated": format!("arn:{partition}:iam::{account}:oidc-provider/{hp}")}),
                action,
                condition: json!({"StringEquals": {
                    format!("{hp}:aud"): plan.aud,
                    format!("{hp}:sub"): plan.sub,
                }}),
            }],
        },
    };
    let text = format!(
        "# AWS IAM: trust {iss} for sub {sub}, audience {aud}\n\
         # 1. The OIDC identity provider. No thumbprint: AWS trusts an issuer host whose certificate chains to a\n\
         #    public CA (CloudFront's does); add ThumbprintList only for a private CA.\n\
         aws iam create-open-id-connect-provider --cli-input-json {provider}\n\
         # 2. A role only this principal can assume. With several audiences in a token, AWS matches azp (iamjwt\n\
         #    sets it to the FIRST requested audience) against the client ID list and the :aud key.\n\
         aws iam create-role --role-name {name} --assume-role-policy-document {policy}\n\
         # 3. The workload: aws sts assume-role-with-web-identity --role-arn arn:{partition}:iam::{account}:role/{name} \\\n\
         #      --role-session-name iamjwt --web-identity-token \"$(iamjwt token --aud {aud_sh})\"\n",
        iss = plan.issuer,
        sub = plan.sub,
        aud = plan.aud,
        provider = sh(&compact(&doc.oidc_provider)?),
        name = plan.name,
        policy = sh(&compact(&doc.trust_policy)?),
        aud_sh = sh(&plan.aud),
    );
    Ok(Doc {
        json: serde_json::to_value(&doc).map_err(|e| Error::Usage(e.to_string()))?,
        text,
    })
}

// ---------------------------------------------------------------------------------------------------------------
// GCP: `gcloud iam workload-identity-pools providers create-oidc` (JSON: the REST resource).

/// `google.subject` and the `aws` claim's facts as attributes.
const GCP_MAPPING: [(&str, &str); 3] = [
    ("google.subject", "assertion.sub"),
    ("attribute.aws_account", "assertion.aws.account"),
    (
        "attribute.aws_principal_type",
        "assertion.aws.principal_type",
    ),
];

fn gcp(plan: &Plan) -> Doc {
    // CEL string literals share JSON's escapes for the characters a sub can hold.
    let literal = Value::String(plan.sub.clone()).to_string();
    let condition = format!("assertion.sub == {literal}");
    let mapping: serde_json::Map<String, Value> = GCP_MAPPING
        .iter()
        .map(|(k, v)| ((*k).to_owned(), json!(v)))
        .collect();
    let principal = format!(
        "principal://iam.googleapis.com/projects/PROJECT_NUMBER/locations/global/workloadIdentityPools/{}/subject/{}",
        plan.name, plan.sub
    );
    let json = json!({
        "workload_identity_pool_provider": {
            "displayName": plan.name,
            "attributeMapping": mapping,
            "attributeCondition": condition,
            "oidc": {"issuerUri": plan.issuer, "allowedAudiences": [plan.aud]},
        },
        "principal": principal,
    });
    let mapping_flag = GCP_MAPPING
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(",");
    let text = format!(
        "# GCP Workload Identity Federation: trust {iss} for sub {sub}, audience {aud}\n\
         gcloud iam workload-identity-pools providers create-oidc {name} \\\n  \
         --location=global \\\n  \
         --workload-identity-pool={name} \\\n  \
         --issuer-uri={iss_sh} \\\n  \
         --allowed-audiences={aud_sh} \\\n  \
         --attribute-mapping={mapping} \\\n  \
         --attribute-condition={condition}\n\
         # Then let this principal impersonate a service account (PROJECT_NUMBER: your project's number):\n\
         # gcloud iam service-accounts add-iam-policy-binding SERVICE_ACCOUNT_EMAIL \\\n\
         #   --role=roles/iam.workloadIdentityUser --member={member}\n",
        iss = plan.issuer,
        sub = plan.sub,
        aud = plan.aud,
        name = sh(&plan.name),
        iss_sh = sh(&plan.issuer),
        aud_sh = sh(&plan.aud),
        mapping = sh(&mapping_flag),
        condition = sh(&condition),
        member = sh(&principal),
    );
    Doc { json, text }
}

// ---------------------------------------------------------------------------------------------------------------
// Entra: the federated identity credential for `az ad app federated-credential create --parameters`.

fn azure(plan: &Plan) -> Doc {
    let credential = json!({
        "name": plan.name,
        "issuer": plan.issuer,
        "subject": plan.sub,
        "audiences": [plan.aud],
        "description": "iamjwt: tokens for this AWS principal",
    });
    let text = format!(
        "# Microsoft Entra: trust {iss} for sub {sub}. Entra accepts RS256 only: the workload requests\n\
         # iamjwt token --aud {aud} (RS256 is the default algorithm; never --alg ES256).\n\
         # APP_ID: the application (client) id; for a user-assigned managed identity use\n\
         # az identity federated-credential create --identity-name NAME --resource-group RG with the same values.\n\
         az ad app federated-credential create --id APP_ID --parameters {params}\n",
        iss = plan.issuer,
        sub = plan.sub,
        aud = plan.aud,
        params = sh(&credential.to_string()),
    );
    Doc {
        json: json!({"federated_credential": credential}),
        text,
    }
}

// ---------------------------------------------------------------------------------------------------------------
// Vault: JWT auth method config + role.

fn vault(plan: &Plan) -> Doc {
    let config = json!({"oidc_discovery_url": plan.issuer, "bound_issuer": plan.issuer});
    let role = json!({
        "role_type": "jwt",
        "user_claim": "sub",
        "bound_subject": plan.sub,
        "bound_audiences": [plan.aud],
        "token_policies": ["default"],
    });
    let text = format!(
        "# HashiCorp Vault JWT auth: trust {iss} for sub {sub}, audience {aud}\n\
         vault auth enable jwt\n\
         vault write auth/jwt/config oidc_discovery_url={iss_sh} bound_issuer={iss_sh}\n\
         vault write auth/jwt/role/{name} role_type=jwt user_claim=sub bound_subject={sub_sh} bound_audiences={aud_sh} token_policies=default\n\
         # The workload: vault write auth/jwt/login role={name} jwt=\"$(iamjwt token --aud {aud_sh})\"\n",
        iss = plan.issuer,
        sub = plan.sub,
        aud = plan.aud,
        iss_sh = sh(&plan.issuer),
        sub_sh = sh(&plan.sub),
        aud_sh = sh(&plan.aud),
        name = plan.name,
    );
    Doc {
        json: json!({"config": config, "role": role}),
        text,
    }
}

// ---------------------------------------------------------------------------------------------------------------
// Kubernetes: a structured authentication `jwt` entry (YAML).

fn kubernetes(plan: &Plan) -> Doc {
    let literal = Value::String(plan.sub.clone()).to_string();
    let config = json!({
        "apiVersion": "apiserver.config.k8s.io/v1beta1",
        "kind": "AuthenticationConfiguration",
        "jwt": [{
            "issuer": {"url": plan.issuer, "audiences": [plan.aud]},
            "claimMappings": {"username": {"claim": "sub", "prefix": "iamjwt:"}},
            "claimValidationRules": [{
                "expression": format!("claims.sub == {literal}"),
                "message": "only this AWS principal",
            }],
        }],
    });
    let text = format!(
        "# Kubernetes structured authentication: trust {iss} for sub {sub}, audience {aud}.\n\
         # Pass this file to kube-apiserver --authentication-config; the user is \"iamjwt:<sub>\".\n{}",
        yaml(&config, 0),
        iss = plan.issuer,
        sub = plan.sub,
        aud = plan.aud,
    );
    Doc {
        json: json!({"authentication_configuration": config}),
        text,
    }
}

/// YAML block style for JSON values; scalars as JSON (a JSON string is a YAML double-quoted scalar).
fn yaml(v: &Value, indent: usize) -> String {
    let pad = " ".repeat(indent);
    let mut out = String::new();
    match v {
        Value::Object(m) => {
            for (k, v) in m {
                let key = if k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                    k.clone()
                } else {
                    Value::String(k.clone()).to_string()
                };
                match v {
                    Value::Object(c) if !c.is_empty() => {
                        out.push_str(&format!("{pad}{key}:\n{}", yaml(v, indent + 2)));
                    }
                    Value::Array(a) if !a.is_empty() => {
                        out.push_str(&format!("{pad}{key}:\n{}", yaml(v, indent)));
                    }
                    _ => out.push_str(&format!("{pad}{key}: {v}\n")),
                }
            }
        }
        Value::Array(a) => {
            for item in a {
                let nested = yaml(item, indent + 2);
                match item {
                    Value::Object(c) if !c.is_empty() => {
                        // The first member goes on the dash line.
                        out.push_str(&format!("{pad}- {}", nested.trim_start()));
                    }
                    _ => out.push_str(&format!("{pad}- {item}\n")),
                }
            }
        }
        scalar => out.push_str(&format!("{pad}{scalar}\n")),
    }
    out
}

// ---------------------------------------------------------------------------------------------------------------
// Snowflake: `ALTER USER … ADD WORKLOAD IDENTITY … TYPE = OIDC`.

/// A SQL string literal.
fn sql(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

fn snowflake(plan: &Plan) -> Result<Doc, Error> {
    let ident = |s: &str| {
        s.chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '$')
    };
    if !ident(&plan.name) {
        return Err(Error::Usage(format!(
            "--name {:?} is not a plain Snowflake identifier (letters, digits, _ and $)",
            plan.name
        )));
    }
    let json = json!({
        "user": plan.name,
        "workload_identity": {
            "name": "iamjwt",
            "type": "OIDC",
            "issuer": plan.issuer,
            "subject": plan.sub,
            "oidc_audience_list": [plan.aud],
        },
    });
    let text = format!(
        "-- Snowflake: trust {iss} for sub {sub}, audience {aud} (a service user, TYPE = SERVICE)\n\
         ALTER USER {name} ADD WORKLOAD IDENTITY iamjwt\n  \
         TYPE = OIDC\n  \
         ISSUER = {iss_sql}\n  \
         SUBJECT = {sub_sql}\n  \
         OIDC_AUDIENCE_LIST = ({aud_sql});\n",
        iss = plan.issuer,
        sub = plan.sub,
        aud = plan.aud,
        name = plan.name,
        iss_sql = sql(&plan.issuer),
        sub_sql = sql(&plan.sub),
        aud_sql = sql(&plan.aud),
    );
    Ok(Doc { json, text })
}

// ---------------------------------------------------------------------------------------------------------------
// Databricks: a service principal federation policy.

fn databricks(plan: &Plan) -> Doc {
    let policy = json!({
        "oidc_policy": {
            "issuer": plan.issuer,
            "audiences": [plan.aud],
            "subject_claim": "sub",
            "subject": plan.sub,
        },
    });
    let text = format!(
        "# Databricks: trust {iss} for sub {sub}, audience {aud}.\n\
         # SERVICE_PRINCIPAL_ID: the numeric id of the service principal the workload acts as.\n\
         databricks account service-principal-federation-policy create SERVICE_PRINCIPAL_ID --policy-id {name} --json {body}\n",
        iss = plan.issuer,
        sub = plan.sub,
        aud = plan.aud,
        name = sh(&plan.name),
        body = sh(&policy.to_string()),
    );
    Doc {
        json: json!({"federation_policy": policy}),
        text,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn yaml_of_nested_values() {
        let v = json!({"a": [{"b": "x", "c": ["y"]}], "d": {"e": 1}});
        assert_eq!(yaml(&v, 0), "a:\n- b: \"x\"\n  c:\n  - \"y\"\nd:\n  e: 1\n");
    }

    #[test]
    fn shell_and_sql_quoting() {
        assert_eq!(sh("a'b"), r"'a'\''b'");
        assert_eq!(sql("a'b"), "'a''b'");
        assert_eq!(host_path("https://h.example/p"), "h.example/p");
    }
}
