//! The verifier side of iamjwt: what each verifier requires of our tokens, discovery and JWKS, and the documents
//! that make it trust the issuer.
//!
//! - [`target`]: the verifiers `trust` and `verify --for` know ([`Target`]), a closed set; [`targets`]: the table,
//!   one module each holding that target's rows of the rule table (each citing its source: the verifier's
//!   documentation, an RFC, OIDC; "(obs.)" marks observed behaviour rather than a documented promise) and its
//!   `trust` documents.
//! - [`facts`]: what a rule reads — the issuer ([`IssuerFacts`]) and a token ([`TokenFacts`]) or the one `trust`
//!   plans for ([`PlannedToken`]).
//! - [`evaluate`]: runs a target's rules. `iamjwt verify --for TARGET` evaluates them against a token it has
//!   already verified cryptographically; `iamjwt trust TARGET` against the token the issuer *will* emit (its `sub`
//!   and audience are known, its algorithm is one of discovery's) to warn before anyone runs the output.
//! - [`trust`]: the request → [`Plan`] → [`Doc`] of `iamjwt trust`; [`serialize`]: the one serializer per language
//!   every document goes through.
//!
//! Pure: parsed facts in, outcomes and documents out. No HTTP, no AWS SDK, no async runtime, no clock (`now` is a
//! parameter). Algorithms are compared as JOSE `alg` strings, so tokens signed with algorithms this issuer never
//! uses (ES384, RS512, EdDSA…) are judged too.

mod error;
pub mod facts;
pub mod rule;
pub mod serialize;
pub mod target;
pub mod targets;
pub mod trust;

pub use error::Error;
pub use facts::{Context, IssuerFacts, JwkFacts, PlannedToken, Subject, TokenFacts};
pub use rule::{Outcome, Rule, Scope, Status};
pub use target::Target;
pub use targets::azure::AzureCloud;
pub use targets::common::is_loopback_http;
pub use targets::{evaluate, rules, rules_for};
pub use trust::{Doc, Plan, Request};

#[cfg(test)]
mod tests;
