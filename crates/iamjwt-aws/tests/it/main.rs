//! The AWS adapters against a real AWS API emulator (moto_server, started per test on a free loopback port) and,
//! where moto cannot produce the case (an alias on the wrong kind of key, the alias moving under a warm signer, a
//! new key's tags propagating, IAM answers over time), against `aws-smithy-mocks`. Through the token handler: the
//! tests of iamjwt-lambda.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod key_policy;
mod lifecycle;
mod mocks;
mod regions;
mod sfn;
mod support;
mod tags;
