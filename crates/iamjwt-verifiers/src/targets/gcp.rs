//! GCP Workload Identity Federation, OIDC provider (VERIFIERS.md, "GCP"): its rows of the rule table and its
//! `trust` documents (`gcloud iam workload-identity-pools providers create-oidc`; JSON: the REST resource).

use super::Spec;
use super::common::{HTTPS_ISSUER, alg_allowed, max_sub};
use crate::Error;
use crate::facts::Context;
use crate::rule::{Check, Rule, Scope};
use crate::serialize::{Script, cel_string, gcloud_list, shell_word};
use crate::trust::{Doc, Plan, Request, audience_required};
use iamjwt_core::types::truncate;
use serde_json::{Value, json};

pub(crate) static SPEC: Spec = Spec {
    name: "gcp",
    title: "GCP Workload Identity Federation",
    rules: &[
        &HTTPS_ISSUER,
        &GCP_ALG,
        &GCP_KID,
        &GCP_LIFETIME,
        &GCP_AUDIENCES,
        &GCP_SUBJECT,
    ],
    audience: |req: &Request| {
        audience_required(
            req,
            "e.g. https://iam.googleapis.com/projects/NUMBER/locations/global/workloadIdentityPools/POOL/providers/PROVIDER",
        )
    },
    document,
};

// VERIFIERS.md GCP "header": alg RS256 or ES256 only (ES384 is rejected).
static GCP_ALG: Rule = Rule {
    id: "gcp-alg",
    scope: Scope::Token,
    fix: "request RS256 or ES256 (--alg)",
    check: |ctx| alg_allowed(ctx, &["RS256", "ES256"], "GCP"),
};

// VERIFIERS.md GCP "header": kid required.
static GCP_KID: Rule = Rule {
    id: "gcp-kid",
    scope: Scope::Token,
    fix: "put the signing key's kid in the header",
    check: gcp_kid,
};

// VERIFIERS.md GCP "lifetime": iat in the past, exp − iat < 48 h.
static GCP_LIFETIME: Rule = Rule {
    id: "gcp-lifetime",
    scope: Scope::Token,
    fix: "issue tokens with iat <= now and a lifetime under 48 hours (--duration)",
    check: gcp_lifetime,
};

// VERIFIERS.md GCP "audiences": a provider allows ≤ 10 audiences of ≤ 256 characters each.
static GCP_AUDIENCES: Rule = Rule {
    id: "gcp-audiences",
    scope: Scope::Token,
    fix: "use at most 10 allowed audiences of at most 256 characters",
    check: gcp_audiences,
};

// VERIFIERS.md GCP "mapping": google.subject (= assertion.sub) ≤ 127 bytes.
static GCP_SUBJECT: Rule = Rule {
    id: "gcp-subject",
    scope: Scope::Token,
    fix: "shorten sub to at most 127 bytes (a shorter sub template in the audience policy), or map google.subject from a shorter claim",
    check: |ctx| max_sub(ctx, 127, true, "GCP's google.subject"),
};

fn gcp_kid(ctx: &Context<'_>) -> Check {
    let Some(t) = ctx.token() else {
        return Check::Skip;
    };
    match &t.kid {
        Some(kid) => Check::Pass(format!("kid {kid}")),
        None => Check::Fail("no kid in the header: GCP requires it".into()),
    }
}

fn gcp_lifetime(ctx: &Context<'_>) -> Check {
    const MAX: f64 = 48.0 * 3600.0;
    let Some(t) = ctx.token() else {
        return Check::Skip;
    };
    let (Some(iat), Some(exp)) = (t.claims["iat"].as_f64(), t.claims["exp"].as_f64()) else {
        return Check::Fail("iat and exp are required".into());
    };
    if iat > ctx.now.plus(ctx.leeway).0 as f64 {
        return Check::Fail(format!("iat {iat} is in the future (now {})", ctx.now));
    }
    let lifetime = exp - iat;
    if lifetime >= MAX {
        return Check::Fail(format!(
            "lifetime exp - iat = {lifetime} s: GCP requires less than 48 h ({MAX} s)"
        ));
    }
    Check::Pass(format!("lifetime {lifetime} s (< 48 h), iat in the past"))
}

fn gcp_audiences(ctx: &Context<'_>) -> Check {
    let accepted = ctx.accepted_audiences;
    if accepted.len() > 10 {
        return Check::Fail(format!(
            "{} allowed audiences: a GCP provider takes at most 10",
            accepted.len()
        ));
    }
    if let Some(long) = accepted.iter().find(|a| a.chars().count() > 256) {
        return Check::Fail(format!(
            "audience {:?} is over 256 characters: GCP refuses it as an allowed audience",
            truncate(long, 40)
        ));
    }
    Check::Pass(format!(
        "{} allowed audience(s), each ≤ 256 characters",
        accepted.len()
    ))
}

// ---------------------------------------------------------------------------------------------------------------
// `trust gcp`

/// `google.subject` and the `aws` claim's facts as attributes.
const GCP_MAPPING: [(&str, &str); 3] = [
    ("google.subject", "assertion.sub"),
    ("attribute.aws_account", "assertion.aws.account"),
    (
        "attribute.aws_principal_type",
        "assertion.aws.principal_type",
    ),
];

fn document(plan: &Plan) -> Result<Doc, Error> {
    let condition = format!("assertion.sub == {}", cel_string(&plan.sub));
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
    let mapping_flag = gcloud_list(
        &GCP_MAPPING
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>(),
    )?;
    let flag = |name: &str, value: &str| format!("--{name}={value}");
    let mut s = Script::hash();
    s.comment(&format!(
        "GCP Workload Identity Federation: trust {} for sub {}, audience {}",
        shell_word(&plan.issuer)?,
        shell_word(&plan.sub)?,
        shell_word(&plan.aud)?
    ))
    .command_lines(
        &[
            "gcloud",
            "iam",
            "workload-identity-pools",
            "providers",
            "create-oidc",
            &plan.name,
        ],
        &[
            flag("location", "global").as_str(),
            &flag("workload-identity-pool", &plan.name),
            &flag("issuer-uri", &plan.issuer),
            &flag("allowed-audiences", &gcloud_list(&[&plan.aud])?),
            &flag("attribute-mapping", &mapping_flag),
            &flag("attribute-condition", &condition),
        ],
    )?
    .comment("Then let this principal impersonate a service account (PROJECT_NUMBER: your project's number):")
    .comment("gcloud iam service-accounts add-iam-policy-binding SERVICE_ACCOUNT_EMAIL \\")
    .comment(&format!(
        "  --role=roles/iam.workloadIdentityUser {}",
        shell_word(&flag("member", &principal))?
    ));
    Ok(Doc {
        json,
        text: s.finish(),
    })
}
