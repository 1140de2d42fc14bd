//! A rule: one row of a target's table — an id, what it looks at, how to fix a failure, and the check.
//!
//! Rules live with their target (`targets/aws.rs` holds the `aws-*` rows) or, when several targets share them, in
//! `targets/common.rs`; each row cites its source (the verifier's documentation, an RFC, OIDC).
//! [`evaluate`](crate::targets::evaluate) runs a target's rows in order.

use crate::facts::Context;
use crate::target::Target;
use std::fmt;

/// A rule's verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Status {
    Ok,
    /// Holds only because the issuer is local (`http` on loopback), or a soft recommendation.
    Warn,
    Fail,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::Warn => "warn",
            Self::Fail => "FAIL",
        }
    }
}

/// What a rule looks at: the issuer's documents (a failure makes `trust` refuse: the verifier would not accept the
/// issuer at all) or the token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    Issuer,
    Token,
}

/// One rule's outcome for one target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub target: Target,
    pub rule: &'static str,
    pub scope: Scope,
    pub status: Status,
    /// What was found.
    pub detail: String,
    /// How to fix it (shown with a failure or warning).
    pub fix: &'static str,
}

/// A rule's raw verdict, before the table attaches its name and fix.
pub(crate) enum Check {
    Pass(String),
    Warn(String),
    Fail(String),
    /// Nothing to judge (the planned token has no such fact yet).
    Skip,
}

/// One row of a target's table.
pub struct Rule {
    pub id: &'static str,
    pub scope: Scope,
    pub fix: &'static str,
    pub(crate) check: fn(&Context<'_>) -> Check,
}

impl fmt::Debug for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Rule").field("id", &self.id).finish()
    }
}
