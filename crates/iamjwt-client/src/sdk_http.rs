//! The HTTP client for AWS service calls: rustls with ring (the one TLS stack), and the proxy the environment names
//! (`HTTPS_PROXY`/`HTTP_PROXY`/`ALL_PROXY`, bypassed per `NO_PROXY`), as the AWS CLI honours them.
//!
//! The AWS Rust SDK's default client ignores those variables. A proxy also reaches hosts that only exist behind it:
//! S3 Control puts the account id in front of the endpoint's host (`123456789012.s3-control.…`), which a forward
//! proxy resolves for the client. Credential providers (IMDS, container credentials) keep the default client: they
//! talk to link-local addresses that a proxy must not see.

use aws_smithy_http_client::proxy::ProxyConfig;
use aws_smithy_http_client::{Connector, tls};
use aws_smithy_runtime_api::client::http::{
    HttpConnectorSettings, SharedHttpClient, SharedHttpConnector, http_client_fn,
};
use std::sync::{Arc, Mutex};
use std::time::Duration;

type Timeouts = (Option<Duration>, Option<Duration>);

/// An SDK HTTP client that honours the proxy variables. Connectors (and their pools) are built once per timeout
/// setting, not once per request.
pub fn service_http_client() -> SharedHttpClient {
    let built: Arc<Mutex<Vec<(Timeouts, SharedHttpConnector)>>> = Arc::default();
    http_client_fn(move |settings: &HttpConnectorSettings, components| {
        let key = (settings.connect_timeout(), settings.read_timeout());
        let mut built = built
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some((_, c)) = built.iter().find(|(k, _)| *k == key) {
            return c.clone();
        }
        let mut builder = Connector::builder()
            .proxy_config(ProxyConfig::from_env())
            .connector_settings(settings.clone());
        builder.set_sleep_impl(components.sleep_impl());
        let connector = SharedHttpConnector::new(
            builder
                .tls_provider(tls::Provider::Rustls(
                    tls::rustls_provider::CryptoMode::Ring,
                ))
                .build(),
        );
        built.push((key, connector.clone()));
        connector
    })
}
