//! The issuer documents: OIDC Discovery 1.0 `openid-configuration` and the JWKS (DESIGN.md §7).

use crate::error::Error;
use crate::jwk::Jwks;
use crate::types::Algorithm;
use serde::{Deserialize, Serialize};

pub const DISCOVERY_PATH: &str = ".well-known/openid-configuration";
pub const JWKS_PATH: &str = ".well-known/jwks.json";

/// OpenID Provider Metadata (OIDC Discovery 1.0 §3) — the members verifiers (AWS IAM, GCP WIF, Entra) read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DiscoveryDocument {
    pub issuer: String,
    pub jwks_uri: String,
    pub response_types_supported: Vec<String>,
    pub subject_types_supported: Vec<String>,
    pub id_token_signing_alg_values_supported: Vec<Algorithm>,
    pub claims_supported: Vec<String>,
}

impl DiscoveryDocument {
    pub fn new(issuer: &str, algs: &[Algorithm]) -> Self {
        Self {
            issuer: issuer.to_owned(),
            jwks_uri: format!("{issuer}/{JWKS_PATH}"),
            response_types_supported: vec!["id_token".into()],
            subject_types_supported: vec!["public".into()],
            id_token_signing_alg_values_supported: algs.to_vec(),
            claims_supported: [
                "iss",
                "sub",
                "aud",
                "iat",
                "nbf",
                "exp",
                "jti",
                "aws",
                "https://aws.amazon.com/tags",
            ]
            .map(String::from)
            .to_vec(),
        }
    }
}

/// Both documents, serialised once and published together.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssuerDocuments {
    pub discovery: DiscoveryDocument,
    pub jwks: Jwks,
}

impl IssuerDocuments {
    /// The discovery document's bytes; a serialisation failure is an error, never an empty document.
    pub fn discovery_json(&self) -> Result<Vec<u8>, Error> {
        serde_json::to_vec_pretty(&self.discovery).map_err(|e| {
            Error::KeyMaterial(format!("cannot serialise the discovery document: {e}"))
        })
    }
    /// The JWKS's bytes; a serialisation failure is an error, never an empty key set.
    pub fn jwks_json(&self) -> Result<Vec<u8>, Error> {
        serde_json::to_vec_pretty(&self.jwks)
            .map_err(|e| Error::KeyMaterial(format!("cannot serialise the JWKS: {e}")))
    }

    /// Both documents as (path under the issuer URL, bytes), in the order a publisher must write them: JWKS
    /// first, then discovery, so discovery never points at a JWKS that lacks the signing key.
    pub fn files(&self) -> Result<[(&'static str, Vec<u8>); 2], Error> {
        Ok([
            (JWKS_PATH, self.jwks_json()?),
            (DISCOVERY_PATH, self.discovery_json()?),
        ])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn discovery_is_conformant() {
        let d = DiscoveryDocument::new(
            "https://id.example.com",
            &[Algorithm::RS256, Algorithm::ES256],
        );
        let v = serde_json::to_value(&d).unwrap();
        assert_eq!(v["issuer"], "https://id.example.com");
        assert_eq!(
            v["jwks_uri"],
            "https://id.example.com/.well-known/jwks.json"
        );
        assert_eq!(
            v["response_types_supported"],
            serde_json::json!(["id_token"])
        );
        assert_eq!(v["subject_types_supported"], serde_json::json!(["public"]));
        assert_eq!(
            v["id_token_signing_alg_values_supported"],
            serde_json::json!(["RS256", "ES256"])
        );
        assert!(
            v["claims_supported"]
                .as_array()
                .unwrap()
                .iter()
                .any(|c| c == "sub")
        );
    }
}
