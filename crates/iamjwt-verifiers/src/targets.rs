//! The table of verifiers: the one place that lists their modules and reaches into them.
//!
//! Each target is one module under `targets/` exporting a [`Spec`]: its name, its rows of the rule table (shared
//! rows come from [`common`]), the audience it trusts by default, and its `trust` document. Adding a target is that
//! module, its arm in `Target::spec` here and its variant in [`crate::target`] (the CLI's value list derives from
//! [`Target::ALL`]). Imports run one way: this table imports the rules, facts and plans; they import only the leaf
//! [`crate::target`], never the table.

pub mod aws;
pub mod azure;
pub(crate) mod common;
pub mod databricks;
pub mod gcp;
pub mod identity_center;
pub mod kubernetes;
pub mod snowflake;
pub mod vault;

use crate::Error;
use crate::facts::Context;
use crate::rule::{Check, Outcome, Rule, Status};
pub use crate::target::Target;
use crate::trust::{Doc, Plan, Request};
use iamjwt_core::types::truncate;
use std::fmt;
use std::str::FromStr;

/// What a target module exports.
pub(crate) struct Spec {
    /// The CLI value (`trust NAME`, `verify --for NAME`).
    pub name: &'static str,
    /// The verifier's own name, for messages.
    pub title: &'static str,
    /// Its rows of the rule table, in evaluation order, after [`common::EVERY`].
    pub rules: &'static [&'static Rule],
    /// The audience to trust: `--aud`, or the target's default, or a refusal naming why it must be given.
    pub audience: fn(&Request) -> Result<String, Error>,
    /// Its `trust` documents.
    pub document: fn(&Plan) -> Result<Doc, Error>,
}

impl Target {
    pub(crate) fn spec(self) -> &'static Spec {
        match self {
            Self::Aws => &aws::SPEC,
            Self::Gcp => &gcp::SPEC,
            Self::Azure => &azure::SPEC,
            Self::Vault => &vault::SPEC,
            Self::Kubernetes => &kubernetes::SPEC,
            Self::Snowflake => &snowflake::SPEC,
            Self::Databricks => &databricks::SPEC,
            Self::IdentityCenter => &identity_center::SPEC,
        }
    }

    pub fn as_str(self) -> &'static str {
        self.spec().name
    }

    /// The verifier's own name, for messages.
    pub fn title(self) -> &'static str {
        self.spec().title
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Target {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        Self::ALL
            .into_iter()
            .find(|t| t.as_str() == s)
            .ok_or_else(|| {
                Error::Usage(format!(
                    "unknown verifier {:?}: expected one of {}",
                    truncate(s, 32),
                    Self::ALL.map(Self::as_str).join(", ")
                ))
            })
    }
}

impl Rule {
    /// The targets whose tables hold this rule (derived from the tables: never a second list).
    pub fn targets(&'static self) -> Vec<Target> {
        Target::ALL
            .into_iter()
            .filter(|t| rules_for(*t).any(|r| std::ptr::eq(r, self)))
            .collect()
    }
}

/// The rules for one target, in table order.
pub fn rules_for(target: Target) -> impl Iterator<Item = &'static Rule> {
    common::EVERY.iter().chain(target.spec().rules).copied()
}

/// Every rule of every target, each once, in the order the targets list them.
pub fn rules() -> Vec<&'static Rule> {
    let mut out: Vec<&'static Rule> = Vec::new();
    for r in Target::ALL.into_iter().flat_map(rules_for) {
        if !out.iter().any(|seen| std::ptr::eq(*seen, r)) {
            out.push(r);
        }
    }
    out
}

/// Evaluates every rule of `target`; skipped rules (nothing to judge yet) are left out.
pub fn evaluate(target: Target, ctx: &Context<'_>) -> Vec<Outcome> {
    rules_for(target)
        .filter_map(|rule| {
            let (status, detail) = match (rule.check)(ctx) {
                Check::Pass(d) => (Status::Ok, d),
                Check::Warn(d) => (Status::Warn, d),
                Check::Fail(d) => (Status::Fail, d),
                Check::Skip => return None,
            };
            Some(Outcome {
                target,
                rule: rule.id,
                scope: rule.scope,
                status,
                detail,
                fix: rule.fix,
            })
        })
        .collect()
}

/// `trust`'s plan and documents reach the target's own builders through the table.
impl Plan {
    /// Checks and resolves `req` (every value checked, `sub` derived); the audience comes from the target.
    pub fn new(req: &Request) -> Result<Self, Error> {
        Self::resolve(req, req.target.spec().audience)
    }

    /// The target's documents.
    pub fn document(&self) -> Result<Doc, Error> {
        (self.target.spec().document)(self)
    }
}
