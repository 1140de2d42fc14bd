//! HashiCorp Vault JWT auth (VERIFIERS.md, "Others"): its rows of the rule table and its `trust` commands (the
//! auth method's config and a role).

use super::Spec;
use super::common::OIDC_SUBJECT;
use crate::Error;
use crate::serialize::{Script, shell_word};
use crate::trust::{Doc, Plan, Request, audience_required};
use iamjwt_core::types::truncate;
use serde_json::json;

pub(crate) static SPEC: Spec = Spec {
    name: "vault",
    title: "Vault",
    rules: &[&OIDC_SUBJECT],
    audience: |req: &Request| audience_required(req, "e.g. vault or kubernetes"),
    document,
};

/// `vault write PATH k=v…`: the CLI reads a value that starts with `@` from that file, and `-` from stdin, so such
/// a value cannot be written as `k=v` without changing its meaning.
fn kv(key: &str, value: &str) -> Result<String, Error> {
    if value.starts_with('@') || value == "-" {
        return Err(Error::Unrepresentable(format!(
            "{key} {:?}: `vault write` would read a file or stdin for a value starting with @ or equal to -; write it with the JSON body (--output json)",
            truncate(value, 60)
        )));
    }
    Ok(format!("{key}={value}"))
}

/// A one-item list field (`bound_audiences`): Vault splits the value on commas, so an item cannot hold one.
fn kv_list_item(key: &str, value: &str) -> Result<String, Error> {
    if value.contains(',') {
        return Err(Error::Unrepresentable(format!(
            "{key} {:?}: Vault splits this field on commas; write it with the JSON body (--output json)",
            truncate(value, 60)
        )));
    }
    kv(key, value)
}

fn document(plan: &Plan) -> Result<Doc, Error> {
    let config = json!({"oidc_discovery_url": plan.issuer, "bound_issuer": plan.issuer});
    let role = json!({
        "role_type": "jwt",
        "user_claim": "sub",
        "bound_subject": plan.sub,
        "bound_audiences": [plan.aud],
        "token_policies": ["default"],
    });
    let role_path = format!("auth/jwt/role/{}", plan.name);
    let mut s = Script::hash();
    s.comment(&format!(
        "HashiCorp Vault JWT auth: trust {} for sub {}, audience {}",
        shell_word(&plan.issuer)?,
        shell_word(&plan.sub)?,
        shell_word(&plan.aud)?
    ))
    .command(&["vault", "auth", "enable", "jwt"])?
    .command(&[
        "vault",
        "write",
        "auth/jwt/config",
        &kv("oidc_discovery_url", &plan.issuer)?,
        &kv("bound_issuer", &plan.issuer)?,
    ])?
    .command(&[
        "vault",
        "write",
        &role_path,
        "role_type=jwt",
        "user_claim=sub",
        &kv("bound_subject", &plan.sub)?,
        &kv_list_item("bound_audiences", &plan.aud)?,
        "token_policies=default",
    ])?
    .comment(&format!(
        "The workload: vault write auth/jwt/login {} jwt=\"$(iamjwt token --aud {})\"",
        shell_word(&format!("role={}", plan.name))?,
        shell_word(&plan.aud)?
    ));
    Ok(Doc {
        json: json!({"config": config, "role": role}),
        text: s.finish(),
    })
}
