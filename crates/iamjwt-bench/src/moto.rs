//! A `moto_server` (from the project's `.venv`) on a free loopback port, killed on drop; keys and a bucket made
//! by the real rotation code, so the KMS path is measured against the keys production would have.

use crate::Error;
use iamjwt_aws::kms::KmsKeyStore;
use iamjwt_aws::s3::S3Publisher;
use iamjwt_core::UnixTime;
use iamjwt_core::config::Settings;
use iamjwt_core::rotation::{Rotator, Step};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const REGION: &str = "us-east-1";
pub const BUCKET: &str = "iamjwt-bench";
pub const PREFIX: &str = "alias/iamjwt-bench";
pub const ISSUER: &str = "https://id.example.com";
pub const AUDIENCE: &str = "sts.amazonaws.com";

/// The environment the `token` Lambda (and the in-process handler) is configured with.
pub fn env() -> [(&'static str, &'static str); 3] {
    [
        ("IAMJWT_ISSUER", ISSUER),
        ("IAMJWT_DEFAULT_AUDIENCE", AUDIENCE),
        ("IAMJWT_KEY_ALIAS_PREFIX", PREFIX),
    ]
}

pub fn settings() -> Result<Settings, Error> {
    Settings::from_lookup(|k| {
        env()
            .iter()
            .find(|(name, _)| *name == k)
            .map(|(_, v)| (*v).to_owned())
    })
    .map_err(|e| Error::Setup(e.to_string()))
}

/// `$IAMJWT_VENV/bin/moto_server`, else `.venv/bin/moto_server` in the checkout.
fn moto_bin() -> Result<PathBuf, Error> {
    let venv = std::env::var_os("IAMJWT_VENV").map_or_else(
        || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../.venv"),
        PathBuf::from,
    );
    let p = venv.join("bin/moto_server");
    if p.is_file() {
        Ok(p)
    } else {
        Err(Error::Setup(format!(
            "{} not found: run `make venv` (it installs moto[server])",
            p.display()
        )))
    }
}

pub struct Moto {
    child: Child,
    pub endpoint: String,
}

impl Moto {
    pub fn start() -> Result<Self, Error> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map_err(|e| Error::Setup(format!("no free port: {e}")))?
            .port();
        let child = Command::new(moto_bin()?)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .env("MOTO_PORT", port.to_string())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| Error::Setup(format!("cannot start moto_server: {e}")))?;
        let moto = Self {
            child,
            endpoint: format!("http://127.0.0.1:{port}"),
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            if Instant::now() > deadline {
                return Err(Error::Setup(format!(
                    "moto_server did not listen on {port} within 30 s"
                )));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(moto)
    }

    pub async fn config(&self) -> aws_config::SdkConfig {
        iamjwt_aws::sdk::for_endpoint(&self.endpoint, REGION).await
    }

    /// A bucket, then every rotation step once: a current key per algorithm, published.
    pub async fn with_keys(&self) -> Result<aws_config::SdkConfig, Error> {
        let conf = self.config().await;
        iamjwt_aws::sdk::s3(&conf)
            .create_bucket()
            .bucket(BUCKET)
            .send()
            .await
            .map_err(|e| Error::Setup(format!("CreateBucket: {e}")))?;
        let s = settings()?;
        let store = KmsKeyStore::new(iamjwt_aws::sdk::kms(&conf), PREFIX, 7);
        let publisher = S3Publisher::new(iamjwt_aws::sdk::s3(&conf), BUCKET, 3600);
        let rotator = Rotator {
            store: &store,
            publisher: &publisher,
            issuer: &s.issuer,
            algs: &s.algorithms,
            policy: s.rotation_policy(),
        };
        let now = UnixTime::from_system_time(std::time::SystemTime::now());
        for step in Step::ALL {
            rotator
                .run_step(step, false, now)
                .await
                .map_err(|e| Error::Setup(format!("rotation step {step:?}: {e}")))?;
        }
        Ok(conf)
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
