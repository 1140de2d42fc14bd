use aws_config::SdkConfig;
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::interceptors::context::BeforeTransmitInterceptorContextRef;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

pub const REGION: &str = "us-east-1";
pub const BUCKET: &str = "iamjwt-issuer-test";

fn moto_bin() -> PathBuf {
    let venv = std::env::var_os("IAMJWT_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.venv"));
    let p = venv.join("bin/moto_server");
    assert!(
        p.is_file(),
        "{} not found: run `make test` (it installs moto[server] into .venv)",
        p.display()
    );
    p
}

/// A moto server on a free loopback port, killed on drop. Failing to start is a test failure.
pub struct Moto {
    child: Child,
    pub endpoint: String,
}

impl Moto {
    pub fn start() -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new(moto_bin())
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .env("MOTO_PORT", port.to_string())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start moto_server");
        let deadline = Instant::now() + Duration::from_secs(30);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "moto_server did not start on port {port} within 30 s"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        Self {
            child,
            endpoint: format!("http://127.0.0.1:{port}"),
        }
    }

    pub async fn config(&self) -> SdkConfig {
        iamjwt_aws::sdk::for_endpoint(&self.endpoint, REGION).await
    }

    pub async fn with_bucket(&self) -> SdkConfig {
        let conf = self.config().await;
        iamjwt_aws::sdk::s3(&conf)
            .create_bucket()
            .bucket(BUCKET)
            .send()
            .await
            .unwrap();
        conf
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Counts requests a client puts on the wire (every attempt).
#[derive(Debug, Clone, Default)]
pub struct RequestCounter(pub Arc<AtomicUsize>);

impl RequestCounter {
    pub fn get(&self) -> usize {
        self.0.load(Ordering::SeqCst)
    }
    pub fn reset(&self) {
        self.0.store(0, Ordering::SeqCst);
    }
}

impl Intercept for RequestCounter {
    fn name(&self) -> &'static str {
        "RequestCounter"
    }
    fn read_before_transmit(
        &self,
        _ctx: &BeforeTransmitInterceptorContextRef<'_>,
        _rc: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        self.0.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }
}

/// A KMS client whose wire requests are counted.
pub fn counted_kms(conf: &SdkConfig) -> (aws_sdk_kms::Client, RequestCounter) {
    let counter = RequestCounter::default();
    let client = aws_sdk_kms::Client::from_conf(
        aws_sdk_kms::config::Builder::from(conf)
            .interceptor(counter.clone())
            .build(),
    );
    (client, counter)
}
