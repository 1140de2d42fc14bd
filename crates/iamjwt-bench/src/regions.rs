//! One issuer in three regions against moto with one backend per region (`Moto::start_multi_region`), with a
//! [`CountingProxy`] in front that sees each request's SigV4 credential scope and plays regional outages; and
//! PyJWT, the independent verifier, over the tokens it issues. Shared by the moto tests of the real Lambda
//! binaries (`tests/regions.rs`) and the multi-region soak ([`crate::regions_soak`]).

use crate::Error;
use crate::counting_proxy::CountingProxy;
use crate::moto::{AUDIENCE, ISSUER, PREFIX};
use iamjwt_aws::testing::Moto;
use serde::Serialize;
use std::path::{Path, PathBuf};

pub use crate::moto::REGIONS;
/// The issuer bucket (in the primary region).
pub const BUCKET: &str = "iamjwt-regions";

/// moto with the issuer bucket, and the counting proxy in front of it.
pub struct RegionalMoto {
    pub moto: Moto,
    pub proxy: CountingProxy,
}

impl RegionalMoto {
    pub async fn start() -> Result<Self, Error> {
        let moto = Moto::start_multi_region().map_err(Error::Setup)?;
        iamjwt_aws::testing::moto_with_bucket(&moto, REGIONS[0], BUCKET)
            .await
            .map_err(Error::Setup)?;
        let proxy = CountingProxy::start(&moto.endpoint).await?;
        Ok(Self { moto, proxy })
    }

    /// SDK configuration for `region` straight to moto: what the region really holds, outages or not.
    pub async fn direct(&self, region: &str) -> aws_config::SdkConfig {
        iamjwt_aws::testing::moto_config(&self.moto, region).await
    }

    /// SDK configuration for `region` through the proxy: what a function there sees, outages included.
    pub async fn proxied(&self, region: &str) -> aws_config::SdkConfig {
        iamjwt_aws::sdk::for_endpoint(&self.proxy.endpoint, region).await
    }

    /// KMS in `region`, straight to moto.
    pub async fn kms(&self, region: &str) -> aws_sdk_kms::Client {
        iamjwt_aws::sdk::kms(&self.direct(region).await)
    }

    /// The key `alias/<prefix>/<alg>/current` points at in `region`, if any.
    pub async fn current(&self, region: &str, alg: &str) -> Option<String> {
        self.kms(region)
            .await
            .describe_key()
            .key_id(format!("{PREFIX}/{alg}/current"))
            .send()
            .await
            .ok()
            .and_then(|d| d.key_metadata().map(|m| m.key_id().to_owned()))
    }

    /// Moves `region`'s RS256 `current` alias (by hand, straight to moto) to a new key that is in no JWKS: a broken
    /// manual change, which that region must refuse to sign with. The key's id.
    pub async fn point_at_stray_key(&self, region: &str) -> Result<String, Error> {
        use aws_sdk_kms::types::{KeySpec, KeyUsageType};
        let kms = self.kms(region).await;
        let stray = kms
            .create_key()
            .key_spec(KeySpec::Rsa2048)
            .key_usage(KeyUsageType::SignVerify)
            .send()
            .await
            .map_err(|e| Error::Setup(format!("CreateKey: {e}")))?
            .key_metadata()
            .map(|m| m.key_id().to_owned())
            .ok_or_else(|| Error::Setup("CreateKey: no key id".into()))?;
        kms.update_alias()
            .alias_name(format!("{PREFIX}/rs256/current"))
            .target_key_id(&stray)
            .send()
            .await
            .map_err(|e| Error::Setup(format!("UpdateAlias: {e}")))?;
        Ok(stray)
    }

    /// Plays the end of a key's deletion window in `region` (KMS deletes it; moto never does): the test-only action
    /// `EndDeletionWindow` of tests/moto_server_mrk.py, straight to moto. Its credential scope only names the region.
    pub async fn end_deletion_window(&self, region: &str, key_id: &str) -> Result<(), Error> {
        let body = serde_json::json!({ "KeyId": key_id }).to_string();
        let req = http::Request::post(format!("{}/", self.moto.endpoint))
            .header("content-type", "application/x-amz-json-1.1")
            .header("x-amz-target", "TrentService.EndDeletionWindow")
            .header(
                "authorization",
                format!("AWS4-HMAC-SHA256 Credential=test/20260101/{region}/kms/aws4_request, SignedHeaders=host, Signature=0"),
            )
            .body(http_body_util::Full::new(hyper::body::Bytes::from(body)))
            .map_err(|e| Error::Setup(e.to_string()))?;
        let (status, body) = crate::load::send_once(req).await?;
        if status.is_success() {
            Ok(())
        } else {
            Err(Error::Failed(format!(
                "EndDeletionWindow {key_id} in {region}: {status} {}",
                String::from_utf8_lossy(&body)
            )))
        }
    }

    /// The published JWKS, read through the SDK from the bucket (moto answers unsigned GETs of `*/.well-known/`
    /// paths itself, so a plain HTTP GET would not read the bucket).
    pub async fn jwks(&self) -> Result<serde_json::Value, Error> {
        let conf = self.direct(REGIONS[0]).await;
        let bytes = iamjwt_aws::s3::S3Publisher::new(iamjwt_aws::sdk::s3(&conf), BUCKET, 3600)
            .get(".well-known/jwks.json")
            .await
            .map_err(|e| Error::Failed(format!("reading the JWKS: {e}")))?
            .ok_or_else(|| Error::Failed("no JWKS has been published".into()))?;
        serde_json::from_slice(&bytes).map_err(|e| Error::Failed(format!("the JWKS: {e}")))
    }
}

fn pyjwt(args: impl IntoIterator<Item = std::ffi::OsString>) -> Result<Vec<String>, Error> {
    let script =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/interop/pyjwt_verify_jwks.py");
    let out = std::process::Command::new(iamjwt_testkit::venv_bin("python").map_err(Error::Setup)?)
        .arg(script)
        .args([ISSUER, AUDIENCE])
        .args(args)
        .output()
        .map_err(|e| Error::Setup(format!("PyJWT: {e}")))?;
    if !out.status.success() {
        return Err(Error::Failed(format!(
            "PyJWT: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    Ok(String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_owned)
        .collect())
}

fn temp_file(name: &str, contents: &str) -> Result<(tempfile::TempDir, PathBuf), Error> {
    let dir = tempfile::tempdir().map_err(|e| Error::Setup(e.to_string()))?;
    let file = dir.path().join(name);
    std::fs::write(&file, contents).map_err(|e| Error::Setup(e.to_string()))?;
    Ok((dir, file))
}

/// PyJWT, the independent verifier: every token against the one JWKS (at the current time); the header of each.
pub fn pyjwt_verify(
    jwks: &serde_json::Value,
    tokens: &[String],
) -> Result<Vec<serde_json::Value>, Error> {
    let (_dir, file) = temp_file("jwks.json", &jwks.to_string())?;
    pyjwt(std::iter::once(file.into_os_string()).chain(tokens.iter().map(Into::into)))?
        .iter()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l)
                .map(|v| v["header"].clone())
                .map_err(|e| Error::Failed(format!("PyJWT output: {e}")))
        })
        .collect()
}

/// A token and the moment it must verify at, against one of [`Moments::jwks`].
#[derive(Debug, Clone, Serialize)]
pub struct TokenAt {
    pub token: String,
    /// Unix seconds: PyJWT checks `exp`, `nbf` and `iat` as at this moment.
    pub at: u64,
    /// Index into [`Moments::jwks`].
    pub jwks: usize,
}

/// Tokens, each with the JWKS published at the moment it was issued (the file `pyjwt_verify_jwks.py --at` reads).
#[derive(Debug, Default, Serialize)]
pub struct Moments {
    pub jwks: Vec<serde_json::Value>,
    pub tokens: Vec<TokenAt>,
}

/// PyJWT over every token of `moments`, each against its own JWKS and at its own moment, in one process: how many
/// verified (all of them, or an error naming the first that did not).
pub fn pyjwt_verify_at(moments: &Moments) -> Result<usize, Error> {
    let json = serde_json::to_string(moments).map_err(|e| Error::Setup(e.to_string()))?;
    let (_dir, file) = temp_file("moments.json", &json)?;
    let verified = pyjwt(["--at".into(), file.into_os_string()])?.len();
    if verified == moments.tokens.len() {
        Ok(verified)
    } else {
        Err(Error::Failed(format!(
            "PyJWT verified {verified} of {} tokens",
            moments.tokens.len()
        )))
    }
}
