//! The AWS adapters against a real AWS API emulator (moto_server, started per test on a free loopback port) and,
//! where moto cannot produce the case (throttling, disabled keys), against `aws-smithy-mocks`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod handler;
mod lifecycle;
mod mocks;
mod regions;
mod sfn;
mod support;
mod tags;
