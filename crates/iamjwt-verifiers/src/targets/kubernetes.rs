//! Kubernetes structured authentication (VERIFIERS.md, "Others"): its rows of the rule table and its `trust`
//! document (an `AuthenticationConfiguration` with one `jwt` issuer, as YAML).

use super::Spec;
use super::common::{HTTPS_ISSUER, OIDC_SUBJECT, alg_allowed};
use crate::Error;
use crate::rule::{Rule, Scope};
use crate::serialize::{Script, cel_string, yaml};
use crate::trust::{Doc, Plan, Request, audience_required};
use serde_json::json;

pub(crate) static SPEC: Spec = Spec {
    name: "kubernetes",
    title: "Kubernetes",
    rules: &[&HTTPS_ISSUER, &KUBERNETES_ALG, &OIDC_SUBJECT],
    audience: |req: &Request| audience_required(req, "e.g. vault or kubernetes"),
    document,
};

// VERIFIERS.md Kubernetes: every RFC 7518 asymmetric algorithm (RS*, PS*, ES*; EdDSA is RFC 8037, not listed).
static KUBERNETES_ALG: Rule = Rule {
    id: "kubernetes-alg",
    scope: Scope::Token,
    fix: "request RS256 or ES256 (--alg)",
    check: |ctx| {
        alg_allowed(
            ctx,
            &[
                "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512",
            ],
            "Kubernetes",
        )
    },
};

fn document(plan: &Plan) -> Result<Doc, Error> {
    let config = json!({
        "apiVersion": "apiserver.config.k8s.io/v1beta1",
        "kind": "AuthenticationConfiguration",
        "jwt": [{
            "issuer": {"url": plan.issuer, "audiences": [plan.aud]},
            "claimMappings": {"username": {"claim": "sub", "prefix": "iamjwt:"}},
            "claimValidationRules": [{
                "expression": format!("claims.sub == {}", cel_string(&plan.sub)),
                "message": "only this AWS principal",
            }],
        }],
    });
    let mut s = Script::hash();
    s.comment(&format!(
        "Kubernetes structured authentication: trust {} for sub {}, audience {}.",
        plan.issuer, plan.sub, plan.aud
    ))
    .comment(
        "Pass this file to kube-apiserver --authentication-config; the user is \"iamjwt:<sub>\".",
    )
    .serialized(&yaml(&config)?);
    Ok(Doc {
        json: json!({"authentication_configuration": config}),
        text: s.finish(),
    })
}
