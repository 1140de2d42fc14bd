//! The HTTP edge of the issuer, shared by both front doors.
//!
//! In AWS, API Gateway verifies SigV4 and the token Lambda reads the caller from `requestContext.identity`; in local
//! mode the gateway verifies SigV4 itself. Both then hold the same two things — a verified [`Caller`] and the query
//! — and call [`token::TokenEndpoint::respond`], which answers with an [`http::Response`] whose body and headers
//! come from one place, [`oauth`]. Routing (which path and method) and the conversion to the front door's own
//! response type stay in the front door.
//!
//! [`rotate::RotateHandler`] runs one rotation step (DESIGN.md §6) for the rotate Lambda and the local runner.
//!
//! This crate never compiles the AWS SDK or a Lambda runtime: `cargo tree -p iamjwt-edge | grep aws-sdk` is empty.
//!
//! [`Caller`]: iamjwt_core::identity::Caller

pub mod error;
pub mod oauth;
pub mod rotate;
pub mod token;

pub use error::Error;
