//! The issuer bucket: `.well-known/jwks.json` and `.well-known/openid-configuration`.

use crate::error::classify;
use async_trait::async_trait;
use aws_sdk_s3::Client;
use aws_sdk_s3::primitives::ByteStream;
use iamjwt_core::discovery::{DISCOVERY_PATH, DiscoveryDocument, IssuerDocuments, JWKS_PATH};
use iamjwt_core::jwk::Jwks;
use iamjwt_core::ports::Publisher;
use iamjwt_core::{PortError, PortErrorKind};

#[derive(Clone)]
pub struct S3Publisher {
    client: Client,
    bucket: String,
    max_age: u64,
}

impl S3Publisher {
    pub fn new(client: Client, bucket: impl Into<String>, max_age: u64) -> Self {
        Self {
            client,
            bucket: bucket.into(),
            max_age,
        }
    }

    async fn put(&self, key: &str, body: Vec<u8>) -> Result<(), PortError> {
        self.client
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .body(ByteStream::from(body))
            .content_type("application/json")
            .cache_control(format!("public, max-age={}", self.max_age))
            .send()
            .await
            .map(|_| ())
            .map_err(|e| classify("PutObject", e))
    }

    /// Reads an object's bytes, `None` if it does not exist.
    pub async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, PortError> {
        match self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
        {
            Ok(out) => {
                let bytes = out
                    .body
                    .collect()
                    .await
                    .map_err(|e| PortError::new(PortErrorKind::Transient, e.to_string()))?;
                Ok(Some(bytes.into_bytes().to_vec()))
            }
            Err(e) => {
                let err = classify("GetObject", e);
                if err.kind == PortErrorKind::NotFound {
                    Ok(None)
                } else {
                    Err(err)
                }
            }
        }
    }
}

#[async_trait]
impl Publisher for S3Publisher {
    async fn read_jwks(&self) -> Result<Option<Jwks>, PortError> {
        let Some(bytes) = self.get(JWKS_PATH).await? else {
            return Ok(None);
        };
        serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| PortError::other(format!("s3://{}/{JWKS_PATH}: {e}", self.bucket)))
    }

    async fn read_discovery(&self) -> Result<Option<DiscoveryDocument>, PortError> {
        let Some(bytes) = self.get(DISCOVERY_PATH).await? else {
            return Ok(None);
        };
        serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| PortError::other(format!("s3://{}/{DISCOVERY_PATH}: {e}", self.bucket)))
    }

    /// In [`IssuerDocuments::files`] order (JWKS first, then discovery).
    async fn publish(&self, docs: &IssuerDocuments) -> Result<(), PortError> {
        for (path, bytes) in docs.files().map_err(|e| PortError::other(e.to_string()))? {
            self.put(path, bytes).await?;
        }
        Ok(())
    }
}
