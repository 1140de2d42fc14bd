//! The closed set of verifiers `trust` and `verify --for` know. A leaf: the table that gives each its name, rules and
//! documents is [`crate::targets`], which reads this set (the CLI derives its value list from [`Target::ALL`]).

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
    /// IAM Identity Center trusted token issuer (S3 Access Grants for workloads).
    IdentityCenter,
}

impl Target {
    pub const ALL: [Target; 8] = [
        Self::Aws,
        Self::Gcp,
        Self::Azure,
        Self::Vault,
        Self::Kubernetes,
        Self::Snowflake,
        Self::Databricks,
        Self::IdentityCenter,
    ];
}
