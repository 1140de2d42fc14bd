//! Snowflake workload identity federation, `TYPE = OIDC` (VERIFIERS.md, "Others"): its rows of the rule table and
//! its `trust` statement (`ALTER USER … ADD WORKLOAD IDENTITY`).

use super::Spec;
use super::common::{HTTPS_ISSUER, max_sub};
use crate::Error;
use crate::rule::{Rule, Scope};
use crate::serialize::{Script, snowflake_string};
use crate::trust::{Doc, Plan, Request, audience_or};
use iamjwt_core::types::truncate;
use serde_json::json;

pub(crate) static SPEC: Spec = Spec {
    name: "snowflake",
    title: "Snowflake",
    rules: &[&HTTPS_ISSUER, &SNOWFLAKE_SUBJECT],
    audience: |req: &Request| audience_or(req, "snowflakecomputing.com"),
    document,
};

// VERIFIERS.md Snowflake: SUBJECT ≤ 255 characters.
static SNOWFLAKE_SUBJECT: Rule = Rule {
    id: "snowflake-subject",
    scope: Scope::Token,
    fix: "shorten sub to at most 255 characters (a shorter sub template in the audience policy)",
    check: |ctx| max_sub(ctx, 255, false, "Snowflake's SUBJECT"),
};

/// An unquoted Snowflake identifier: the user name is written bare, so only these are accepted.
fn identifier(s: &str) -> bool {
    s.chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '$')
}

fn document(plan: &Plan) -> Result<Doc, Error> {
    if !identifier(&plan.name) {
        return Err(Error::Usage(format!(
            "--name {:?} is not a plain Snowflake identifier (letters, digits, _ and $)",
            truncate(&plan.name, 80)
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
    let statement = [
        format!("ALTER USER {} ADD WORKLOAD IDENTITY iamjwt", plan.name),
        "  TYPE = OIDC".to_owned(),
        format!("  ISSUER = {}", snowflake_string(&plan.issuer)?),
        format!("  SUBJECT = {}", snowflake_string(&plan.sub)?),
        format!("  OIDC_AUDIENCE_LIST = ({});", snowflake_string(&plan.aud)?),
    ]
    .join("\n");
    let mut s = Script::sql();
    s.comment(&format!(
        "Snowflake: trust {} for sub {}, audience {} (a service user, TYPE = SERVICE)",
        plan.issuer, plan.sub, plan.aud
    ))
    .serialized(&statement);
    Ok(Doc {
        json,
        text: s.finish(),
    })
}
