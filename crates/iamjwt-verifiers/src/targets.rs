//! The verifiers `trust` and `verify --for` know, and the one place that lists their modules.
//!
//! Each target is one module under `targets/` exporting a [`Spec`]: its name, its rows of the rule table (shared
//! rows come from [`common`]), the audience it trusts by default, and its `trust` document. Adding a target is that
//! module plus a variant here; the CLI's value list derives from [`Target::ALL`].

pub mod aws;
pub mod azure;
pub(crate) mod common;
pub mod databricks;
pub mod gcp;
pub mod kubernetes;
pub mod snowflake;
pub mod vault;

use crate::Error;
use crate::rule::Rule;
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

/// The verifiers `trust` and `verify --for` know: a closed set (the CLI derives its value list from [`Target::ALL`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Target {
    /// AWS IAM OIDC identity provider + `sts:AssumeRoleWithWebIdentity`.
    Aws,
    /// GCP Workload Identity Federation (OIDC provider).
    Gcp,
    /// Microsoft Entra workload identity federation (federated identity credential).
    Azure,
    /// HashiCorp Vault JWT auth method.
    Vault,
    /// Kubernetes structured authentication (`AuthenticationConfiguration`).
    Kubernetes,
    /// Snowflake workload identity federation (`TYPE = OIDC`).
    Snowflake,
    /// Databricks service principal federation policy.
    Databricks,
}

impl Target {
    pub const ALL: [Target; 7] = [
        Self::Aws,
        Self::Gcp,
        Self::Azure,
        Self::Vault,
        Self::Kubernetes,
        Self::Snowflake,
        Self::Databricks,
    ];

    pub(crate) fn spec(self) -> &'static Spec {
        match self {
            Self::Aws => &aws::SPEC,
            Self::Gcp => &gcp::SPEC,
            Self::Azure => &azure::SPEC,
            Self::Vault => &vault::SPEC,
            Self::Kubernetes => &kubernetes::SPEC,
            Self::Snowflake => &snowflake::SPEC,
            Self::Databricks => &databricks::SPEC,
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
