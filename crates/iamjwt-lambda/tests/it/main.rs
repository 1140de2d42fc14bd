//! The Lambda binaries' start-up checks, and the token handler over the AWS adapters: against a real AWS API
//! emulator (moto_server, started per test on a free loopback port) and, where moto cannot produce the case
//! (throttling, disabled keys, denied lookups), against `aws-smithy-mocks`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod config;
mod kms;
mod support;
mod tags;
