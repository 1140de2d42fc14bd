//! `iamjwt token`: GET /token, SigV4-signed with the standard AWS credential chain (environment, profile, SSO,
//! web identity, ECS/IMDS), exactly as a workload calls the deployed issuer.

use crate::error::Error;
use crate::http::HttpClient;
use aws_config::BehaviorVersion;
use aws_credential_types::provider::ProvideCredentials as _;
use aws_smithy_http_client::tls;
use serde::Deserialize;
use std::time::SystemTime;

#[derive(Clone, Copy, clap::ValueEnum)]
enum Output {
    /// Just the JWT.
    Raw,
    /// The whole JSON response.
    Json,
}

#[derive(clap::Args)]
pub struct Args {
    /// Token endpoint, or the API base URL (`/token` is appended when missing).
    #[arg(long, env = "IAMJWT_URL", default_value = "http://127.0.0.1:8080")]
    url: String,
    /// Audience; repeat for several (default: the issuer's default audience).
    #[arg(long = "aud")]
    aud: Vec<String>,
    /// Lifetime in seconds.
    #[arg(long)]
    duration: Option<u64>,
    /// Signing algorithm.
    #[arg(long, value_parser = crate::alg_parser())]
    alg: Option<iamjwt_core::Algorithm>,
    #[arg(long, value_enum, default_value = "raw")]
    output: Output,
    /// Region to sign for (default: from an execute-api host name, then the AWS config, then us-east-1).
    #[arg(long)]
    region: Option<String>,
    /// AWS profile to take credentials from.
    #[arg(long)]
    profile: Option<String>,
}

#[derive(Deserialize)]
struct TokenResponse {
    token: String,
}

#[derive(Deserialize)]
struct ErrorResponse {
    error: String,
    #[serde(default)]
    error_description: String,
}

/// `https://abc.execute-api.eu-west-1.amazonaws.com/prod` → `eu-west-1`.
fn region_from_host(uri: &http::Uri) -> Option<String> {
    let host = uri.host()?;
    let rest = host.split_once(".execute-api.")?.1;
    let region = rest.split('.').next()?;
    (!region.is_empty()).then(|| region.to_owned())
}

pub fn token_uri(
    base: &str,
    aud: &[String],
    duration: Option<u64>,
    alg: Option<&str>,
) -> Result<http::Uri, Error> {
    let base = base.trim_end_matches('/');
    let endpoint = if base.ends_with("/token") {
        base.to_owned()
    } else {
        format!("{base}/token")
    };
    let mut query = form_urlencoded::Serializer::new(String::new());
    for a in aud {
        query.append_pair("aud", a);
    }
    if let Some(d) = duration {
        query.append_pair("duration", &d.to_string());
    }
    if let Some(a) = alg {
        query.append_pair("alg", a);
    }
    // form encoding writes spaces as '+'; SigV4's canonical form wants %20 (a literal '+' is already %2B).
    let query = query.finish().replace('+', "%20");
    let url = if query.is_empty() {
        endpoint
    } else {
        format!("{endpoint}?{query}")
    };
    url.parse()
        .map_err(|e| Error::Usage(format!("invalid --url {base:?}: {e}")))
}

pub async fn run(args: Args) -> Result<(), Error> {
    let uri = token_uri(
        &args.url,
        &args.aud,
        args.duration,
        args.alg.map(iamjwt_core::Algorithm::as_str),
    )?;
    let http_client = aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(
            tls::rustls_provider::CryptoMode::Ring,
        ))
        .build_https();
    let mut loader = aws_config::defaults(BehaviorVersion::latest()).http_client(http_client);
    if let Some(p) = &args.profile {
        loader = loader.profile_name(p);
    }
    // A region we already know is set explicitly, so the SDK does not go looking for one (IMDS).
    let known_region = args.region.clone().or_else(|| region_from_host(&uri));
    if let Some(r) = &known_region {
        loader = loader.region(aws_config::Region::new(r.clone()));
    }
    let config = loader.load().await;
    let region = known_region
        .or_else(|| config.region().map(ToString::to_string))
        .unwrap_or_else(|| "us-east-1".to_owned());
    let provider = config
        .credentials_provider()
        .ok_or_else(|| Error::Credentials("no AWS credential provider is configured".into()))?;
    let credentials = provider.provide_credentials().await.map_err(|e| {
        Error::Credentials(format!(
            "no AWS credentials found (environment, profile, SSO, web identity, IMDS): {e}"
        ))
    })?;
    let request = iamjwt_local::sigv4::sign_get(
        &uri,
        &credentials,
        &region,
        "execute-api",
        SystemTime::now(),
        None,
    )?;
    let response = HttpClient::new()?.send(request).await?;
    if !response.status.is_success() {
        let status = response.status.as_u16();
        return Err(
            match serde_json::from_slice::<ErrorResponse>(&response.body) {
                Ok(e) => Error::Server {
                    status,
                    error: e.error,
                    description: e.error_description,
                },
                Err(_) => Error::Server {
                    status,
                    error: "unexpected response".into(),
                    description: String::from_utf8_lossy(&response.body)
                        .chars()
                        .take(200)
                        .collect(),
                },
            },
        );
    }
    match args.output {
        Output::Json => crate::print_stdout(&String::from_utf8_lossy(&response.body)),
        Output::Raw => {
            let t: TokenResponse = serde_json::from_slice(&response.body).map_err(|e| {
                Error::Http(format!(
                    "the token response is not what iamjwt returns: {e}"
                ))
            })?;
            crate::print_stdout(&t.token);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        let u = token_uri(
            "https://abc.execute-api.eu-west-1.amazonaws.com/prod/",
            &["a b".into(), "x+y".into()],
            Some(60),
            Some("ES256"),
        )
        .unwrap();
        assert_eq!(
            u.to_string(),
            "https://abc.execute-api.eu-west-1.amazonaws.com/prod/token?aud=a%20b&aud=x%2By&duration=60&alg=ES256"
        );
        assert_eq!(region_from_host(&u).as_deref(), Some("eu-west-1"));
        assert_eq!(
            token_uri("http://127.0.0.1:8080/token", &[], None, None)
                .unwrap()
                .to_string(),
            "http://127.0.0.1:8080/token"
        );
        assert_eq!(
            region_from_host(&"http://127.0.0.1:8080/token".parse().unwrap()),
            None
        );
    }
}
