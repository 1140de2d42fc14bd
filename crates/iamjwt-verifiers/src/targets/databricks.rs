//! Databricks service principal federation policy (VERIFIERS.md, "Others"): its rows of the rule table and its
//! `trust` command (`databricks account service-principal-federation-policy create`).

use super::Spec;
use super::common::{HTTPS_ISSUER, OIDC_SUBJECT};
use crate::Error;
use crate::serialize::{Script, json, shell_word};
use crate::trust::{Doc, Plan, Request, audience_required};
use serde_json::json;

pub(crate) static SPEC: Spec = Spec {
    name: "databricks",
    title: "Databricks",
    rules: &[&HTTPS_ISSUER, &OIDC_SUBJECT],
    audience: |req: &Request| audience_required(req, "Databricks' default is your account id"),
    document,
};

fn document(plan: &Plan) -> Result<Doc, Error> {
    let policy = json!({
        "oidc_policy": {
            "issuer": plan.issuer,
            "audiences": [plan.aud],
            "subject_claim": "sub",
            "subject": plan.sub,
        },
    });
    let mut s = Script::hash();
    s.comment(&format!(
        "Databricks: trust {} for sub {}, audience {}.",
        shell_word(&plan.issuer)?,
        shell_word(&plan.sub)?,
        shell_word(&plan.aud)?
    ))
    .comment("SERVICE_PRINCIPAL_ID: the numeric id of the service principal the workload acts as.")
    .command(&[
        "databricks",
        "account",
        "service-principal-federation-policy",
        "create",
        "SERVICE_PRINCIPAL_ID",
        "--policy-id",
        &plan.name,
        "--json",
        &json(&policy)?,
    ])?;
    Ok(Doc {
        json: json!({"federation_policy": policy}),
        text: s.finish(),
    })
}
