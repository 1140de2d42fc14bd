//! End-to-end: the real `iamjwt` binary on loopback, an independent client (awscurl) and an independent verifier
//! (PyJWT reading `jwks_uri` from discovery).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod aws_rotation;
mod claims;
mod failover;
mod identity_center;
mod local;
mod rotation;
mod rsa_key_size;
mod sigv4_clients;
mod support;
mod trust_aws;
mod verifiers;
mod workload;
