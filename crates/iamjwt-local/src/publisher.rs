//! A directory standing in for the issuer bucket: `.well-known/jwks.json` and `.well-known/openid-configuration`,
//! each replaced atomically (JWKS first, so discovery never points at a document without the current key).

use crate::error::Error;
use crate::fsutil::{read_optional, write_atomic};
use async_trait::async_trait;
use iamjwt_core::PortError;
use iamjwt_core::discovery::{DISCOVERY_PATH, DiscoveryDocument, IssuerDocuments, JWKS_PATH};
use iamjwt_core::jwk::Jwks;
use iamjwt_core::ports::Publisher;
use std::path::PathBuf;

#[derive(Debug, Clone)]
pub struct DirPublisher {
    root: PathBuf,
    max_age: u64,
}

impl DirPublisher {
    pub fn new(root: impl Into<PathBuf>, max_age: u64) -> Self {
        Self {
            root: root.into(),
            max_age,
        }
    }

    pub fn root(&self) -> &std::path::Path {
        &self.root
    }

    /// `Cache-Control` the documents are served with (as the S3 objects carry it).
    pub fn cache_control(&self) -> String {
        format!("public, max-age={}", self.max_age)
    }
}

impl DirPublisher {
    /// A published document, `None` before the first publish.
    fn read_doc<T: serde::de::DeserializeOwned>(&self, rel: &str) -> Result<Option<T>, PortError> {
        let path = self.root.join(rel);
        let Some(bytes) = read_optional(&path).map_err(PortError::from)? else {
            return Ok(None);
        };
        serde_json::from_slice(&bytes).map(Some).map_err(|e| {
            PortError::from(Error::Corrupt {
                path,
                reason: e.to_string(),
            })
        })
    }
}

#[async_trait]
impl Publisher for DirPublisher {
    async fn read_jwks(&self) -> Result<Option<Jwks>, PortError> {
        self.read_doc(JWKS_PATH)
    }

    async fn read_discovery(&self) -> Result<Option<DiscoveryDocument>, PortError> {
        self.read_doc(DISCOVERY_PATH)
    }

    /// In [`IssuerDocuments::files`] order (JWKS first, then discovery), each file replaced atomically.
    async fn publish(&self, docs: &IssuerDocuments) -> Result<(), PortError> {
        for (path, bytes) in docs.files().map_err(|e| PortError::other(e.to_string()))? {
            write_atomic(&self.root.join(path), &bytes, 0o644)?;
        }
        Ok(())
    }
}
