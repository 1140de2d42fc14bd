//! Microsoft Entra workload identity federation (VERIFIERS.md, "Microsoft Entra"): its clouds, its rows of the rule
//! table and its `trust` document (the federated identity credential for `az ad app federated-credential create`).

use super::Spec;
use super::common::{HTTPS_ISSUER, alg_allowed};
use crate::Error;
use crate::facts::Context;
use crate::rule::{Check, Rule, Scope};
use crate::serialize::{Script, json, shell_word};
use crate::trust::{Doc, Plan, Request, audience_or};
use iamjwt_core::types::truncate;
use serde_json::json;
use std::str::FromStr;

pub(crate) static SPEC: Spec = Spec {
    name: "azure",
    title: "Microsoft Entra",
    rules: &[&HTTPS_ISSUER, &AZURE_ALG, &AZURE_AUDIENCE, &AZURE_LENGTHS],
    audience,
    document,
};

/// Which Entra cloud: each has its own token-exchange audience (VERIFIERS.md, Entra "audience").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AzureCloud {
    #[default]
    Public,
    UsGov,
    China,
}

impl AzureCloud {
    pub const ALL: [AzureCloud; 3] = [Self::Public, Self::UsGov, Self::China];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Public => "public",
            Self::UsGov => "usgov",
            Self::China => "china",
        }
    }

    /// The one audience Entra accepts in this cloud.
    pub fn audience(self) -> &'static str {
        match self {
            Self::Public => "api://AzureADTokenExchange",
            Self::UsGov => "api://AzureADTokenExchangeUSGov",
            Self::China => "api://AzureADTokenExchangeChina",
        }
    }
}

impl FromStr for AzureCloud {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        Self::ALL
            .into_iter()
            .find(|c| c.as_str() == s)
            .ok_or_else(|| {
                Error::Usage(format!(
                    "unknown Azure cloud {:?}: expected public, usgov or china",
                    truncate(s, 32)
                ))
            })
    }
}

// VERIFIERS.md Entra "algorithm": RS256 is the only supported one.
static AZURE_ALG: Rule = Rule {
    id: "azure-alg",
    scope: Scope::Token,
    fix: "request RS256 (the default; do not pass --alg ES256 for Entra)",
    check: |ctx| alg_allowed(ctx, &["RS256"], "Entra"),
};

// VERIFIERS.md Entra "audience": exactly one, api://AzureADTokenExchange (US Gov / China variants).
static AZURE_AUDIENCE: Rule = Rule {
    id: "azure-audience",
    scope: Scope::Token,
    fix: "request exactly one audience, Entra's token-exchange audience (--aud api://AzureADTokenExchange; US Gov/China: --cloud), and allow it in the audience policy",
    check: azure_audience,
};

// VERIFIERS.md Entra "issuer, subject": each ≤ 600 characters, matched exactly.
static AZURE_LENGTHS: Rule = Rule {
    id: "azure-lengths",
    scope: Scope::Token,
    fix: "keep the issuer URL and sub within 600 characters each",
    check: azure_lengths,
};

fn azure_audience(ctx: &Context<'_>) -> Check {
    let want = ctx.azure_cloud.audience();
    match ctx.aud().0.as_slice() {
        [one] if *one == want => Check::Pass(format!("aud is {want}")),
        [one] => Check::Fail(format!(
            "aud is {one:?}; Entra ({} cloud) accepts only {want}",
            ctx.azure_cloud.as_str()
        )),
        many => Check::Fail(format!(
            "{} audiences; Entra requires exactly one, {want}",
            many.len()
        )),
    }
}

fn azure_lengths(ctx: &Context<'_>) -> Check {
    let iss = ctx.issuer.issuer.chars().count();
    let sub = ctx.sub().map_or(0, |s| s.chars().count());
    if ctx.sub().is_none() {
        return Check::Fail("no sub claim".into());
    }
    if iss > 600 || sub > 600 {
        return Check::Fail(format!(
            "issuer is {iss} and sub {sub} characters: Entra takes at most 600 each"
        ));
    }
    Check::Pass(format!(
        "issuer {iss} and sub {sub} characters (limit 600 each)"
    ))
}

// ---------------------------------------------------------------------------------------------------------------
// `trust azure`

/// Entra takes only its cloud's exchange audience.
fn audience(req: &Request) -> Result<String, Error> {
    let want = req.cloud.audience();
    match req.aud.as_deref() {
        Some(a) if a != want => Err(Error::Usage(format!(
            "Entra accepts only the audience {want} ({} cloud); drop --aud or pick --cloud",
            req.cloud.as_str()
        ))),
        _ => audience_or(req, want),
    }
}

fn document(plan: &Plan) -> Result<Doc, Error> {
    let credential = json!({
        "name": plan.name,
        "issuer": plan.issuer,
        "subject": plan.sub,
        "audiences": [plan.aud],
        "description": "iamjwt: tokens for this AWS principal",
    });
    let mut s = Script::hash();
    s.comment(&format!(
        "Microsoft Entra: trust {} for sub {}. Entra accepts RS256 only: the workload requests",
        shell_word(&plan.issuer)?,
        shell_word(&plan.sub)?
    ))
    .comment(&format!(
        "iamjwt token --aud {} (RS256 is the default algorithm; never --alg ES256).",
        shell_word(&plan.aud)?
    ))
    .comment("APP_ID: the application (client) id; for a user-assigned managed identity use")
    .comment("az identity federated-credential create --identity-name NAME --resource-group RG with the same values.")
    .command(&[
        "az",
        "ad",
        "app",
        "federated-credential",
        "create",
        "--id",
        "APP_ID",
        "--parameters",
        &json(&credential)?,
    ])?;
    Ok(Doc {
        json: json!({"federated_credential": credential}),
        text: s.finish(),
    })
}
