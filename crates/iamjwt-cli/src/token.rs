//! `iamjwt token`: GET /token, SigV4-signed with the standard AWS credential chain (environment, profile, SSO,
//! web identity, ECS/IMDS), exactly as a workload calls the deployed issuer. Wiring over `iamjwt-client`.

use crate::error::Error;
use iamjwt_client::{Client, ClientOptions, Token, TokenCache, TokenRequest};
use serde::Serialize;

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Output {
    /// Just the JWT.
    Raw,
    /// The whole JSON response.
    Json,
    /// GCP executable-sourced credentials response (success and failure forms, on stdout).
    GcpExecutable,
}

/// Where the issuer is and how to call it; shared by `token`, `credentials`, `console`.
#[derive(clap::Args, Clone)]
pub struct IssuerArgs {
    /// Token endpoint, or the API base URL (`/token` is appended when missing); https (http only on loopback).
    #[arg(long, env = "IAMJWT_URL")]
    pub url: Option<String>,
    /// Region to sign for (default: from an execute-api host name, then the AWS config, then us-east-1).
    #[arg(long = "signing-region")]
    pub signing_region: Option<String>,
    /// AWS profile whose credentials sign the call to the issuer (not the profile whose credential_process runs
    /// this command).
    #[arg(
        long = "source-profile",
        visible_alias = "profile",
        value_name = "NAME"
    )]
    pub profile: Option<String>,
    /// Always ask the issuer; neither read nor write the cache ($XDG_CACHE_HOME/iamjwt, else ~/.cache/iamjwt).
    #[arg(long, env = "IAMJWT_NO_CACHE", value_parser = crate::bool_value)]
    pub no_cache: bool,
}

impl IssuerArgs {
    /// The issuer URL: given (no default) and one the client may talk to. Commands ask for it before anything else.
    pub fn url(&self) -> Result<String, Error> {
        Ok(iamjwt_client::issuer_url(self.url.as_deref())?)
    }

    /// The region to sign for: `--signing-region`, else the region in an `execute-api` host name.
    pub fn signing_region(&self) -> Option<String> {
        self.signing_region
            .clone()
            .or_else(|| self.url.as_deref().and_then(iamjwt_client::region_from_url))
    }

    pub async fn client(&self) -> Result<Client, Error> {
        Ok(Client::from_environment(ClientOptions {
            profile: self.profile.clone(),
            region: self.signing_region(),
        })
        .await?)
    }

    pub fn cache(&self) -> Result<Option<TokenCache>, Error> {
        if self.no_cache {
            return Ok(None);
        }
        // A cache that cannot be opened costs a request, never the token; one that others could write to is
        // refused (its fix is the user's to make).
        match TokenCache::default_dir().and_then(TokenCache::open) {
            Ok(c) => Ok(Some(c)),
            Err(e @ iamjwt_client::Error::Untrusted(_)) => Err(e.into()),
            Err(e) => {
                tracing::warn!("token cache disabled: {e}");
                Ok(None)
            }
        }
    }
}

#[derive(clap::Args)]
pub struct Args {
    /// Token endpoint, or the API base URL (`/token` is appended when missing); https (http only on loopback).
    /// For an issuer in several regions: one URL holding `{region}` (with --regions), or repeat it
    /// (`REGION=URL`, or execute-api URLs); the own region is tried first, then the others in order.
    #[arg(long, env = "IAMJWT_URL")]
    url: Vec<String>,
    /// Regions to put into a --url holding `{region}`, comma-separated, in order of preference after the own
    /// region (the AWS config's, or --region).
    #[arg(long, value_delimiter = ',')]
    regions: Vec<String>,
    /// Audience; repeat for several (default: the issuer's default audience; with `--output gcp-executable`,
    /// `https:` + $GOOGLE_EXTERNAL_ACCOUNT_AUDIENCE when that is set).
    #[arg(long = "aud")]
    aud: Vec<String>,
    /// Lifetime in seconds.
    #[arg(long)]
    duration: Option<u64>,
    /// Signing algorithm.
    #[arg(long, value_parser = crate::alg_parser())]
    alg: Option<String>,
    /// Request tag KEY=VALUE for the token's `request_tags` claim; repeat for several (the issuer's audience policy
    /// says which keys a caller may send).
    #[arg(long = "tag", value_name = "KEY=VALUE", value_parser = parse_tag)]
    tags: Vec<(String, String)>,
    #[arg(long, value_enum, default_value = "raw")]
    output: Output,
    /// Region to sign for (default: from an execute-api host name, then the AWS config, then us-east-1).
    #[arg(long)]
    region: Option<String>,
    /// AWS profile to take credentials from.
    #[arg(long)]
    profile: Option<String>,
    /// Always ask the issuer; neither read nor write the cache ($XDG_CACHE_HOME/iamjwt, else ~/.cache/iamjwt).
    #[arg(long, env = "IAMJWT_NO_CACHE", value_parser = crate::bool_value)]
    no_cache: bool,
}

/// `KEY=VALUE`, split at the first `=` (a value may hold `=`); the issuer checks key and value.
fn parse_tag(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok((k.to_owned(), v.to_owned())),
        _ => Err(format!("{s:?} is not KEY=VALUE")),
    }
}

const GCP_TOKEN_TYPE: &str = "urn:ietf:params:oauth:token-type:jwt";

/// GCP's executable-sourced response (success form).
#[derive(Serialize)]
struct GcpSuccess<'a> {
    version: u8,
    success: bool,
    token_type: &'a str,
    id_token: &'a str,
    expiration_time: u64,
}

/// GCP's executable-sourced response (failure form).
#[derive(Serialize)]
struct GcpFailure<'a> {
    version: u8,
    success: bool,
    code: &'a str,
    message: &'a str,
}

/// GCP's default allowed audience for an OIDC provider is `https:` + the pool provider's resource name.
fn gcp_audience(env_audience: Option<String>) -> Option<String> {
    env_audience
        .filter(|a| !a.trim().is_empty())
        .map(|a| format!("https:{}", a.trim()))
}

/// GCP's executable contract wants its failure JSON on stdout for every failure, bad arguments included: when the
/// command line is `token … --output gcp-executable` and argument parsing refused it, the refusal in that form
/// (`INVALID_ARGUMENTS`, clap's first line as the message). `None` for any other command line, and for `--help`.
pub fn gcp_usage_failure(args: &[String], e: &clap::Error) -> Option<String> {
    let token = args.get(1).is_some_and(|a| a == "token");
    let gcp = args
        .windows(2)
        .any(|w| w[0] == "--output" && w[1] == "gcp-executable")
        || args.iter().any(|a| a == "--output=gcp-executable");
    if !(e.use_stderr() && token && gcp) {
        return None;
    }
    let rendered = e.render().to_string();
    let first = rendered
        .lines()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("");
    let message = first.trim().trim_start_matches("error:").trim();
    json(&GcpFailure {
        version: 1,
        success: false,
        code: "INVALID_ARGUMENTS",
        message,
    })
    .ok()
}

fn gcp_failure_code(e: &Error) -> &'static str {
    use iamjwt_client::Error as C;
    match e {
        Error::Client(C::Credentials(_)) => "AWS_CREDENTIALS_UNAVAILABLE",
        Error::Client(C::Http(_)) => "ISSUER_UNREACHABLE",
        Error::Client(C::Server { .. }) => "ISSUER_REFUSED",
        Error::Client(C::BadToken(_)) => "INVALID_ISSUER_RESPONSE",
        Error::Client(C::Usage(_)) | Error::Usage(_) => "INVALID_ARGUMENTS",
        _ => "TOKEN_UNAVAILABLE",
    }
}

async fn fetch(args: &Args, request: &TokenRequest) -> Result<Token, Error> {
    let (source, url) = crate::regional::Target {
        urls: &args.url,
        regions: &args.regions,
        region: args.region.clone(),
        profile: args.profile.clone(),
        failback_after: iamjwt_client::regions::FIRST_BACKOFF,
    }
    .source()
    .await?;
    let issuer = IssuerArgs {
        url: Some(url.clone()),
        signing_region: args.region.clone(),
        profile: args.profile.clone(),
        no_cache: args.no_cache,
    };
    let cache = issuer.cache()?;
    let request = TokenRequest {
        url,
        ..request.clone()
    };
    let (token, from_cache) = source.token(&request, cache.as_ref()).await?;
    tracing::debug!(from_cache, exp = token.times.expires_at, "token");
    Ok(token)
}

pub async fn run(args: Args) -> Result<(), Error> {
    let mut audiences = args.aud.clone();
    if audiences.is_empty() && args.output == Output::GcpExecutable {
        audiences.extend(gcp_audience(
            std::env::var("GOOGLE_EXTERNAL_ACCOUNT_AUDIENCE").ok(),
        ));
    }
    let request = TokenRequest {
        // The endpoint's, once the set is known and checked (`fetch`).
        url: String::new(),
        audiences,
        duration: args.duration,
        alg: args.alg.clone(),
        tags: args.tags.clone(),
    };
    let result = fetch(&args, &request).await;
    match (args.output, result) {
        (Output::Raw, Ok(t)) => crate::print_stdout(&t.jwt),
        (Output::Json, Ok(t)) => crate::print_stdout(&t.response.to_string()),
        (Output::GcpExecutable, Ok(t)) => crate::print_stdout(&json(&GcpSuccess {
            version: 1,
            success: true,
            token_type: GCP_TOKEN_TYPE,
            id_token: &t.jwt,
            expiration_time: t.times.expires_at,
        })?),
        (output, Err(e)) => return fail(output, e),
    }
    Ok(())
}

/// A failed `token`: with `gcp-executable`, google-auth reads the failure from stdout; the exit code and stderr
/// line are for people.
fn fail(output: Output, e: Error) -> Result<(), Error> {
    if output == Output::GcpExecutable {
        crate::print_stdout(&json(&GcpFailure {
            version: 1,
            success: false,
            code: gcp_failure_code(&e),
            message: &e.to_string(),
        })?);
    }
    Err(e)
}

fn json<T: Serialize>(v: &T) -> Result<String, Error> {
    serde_json::to_string(v).map_err(|e| Error::Usage(format!("cannot encode the output: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gcp_forms() {
        assert_eq!(
            gcp_audience(Some(
                "//iam.googleapis.com/projects/1/locations/global/workloadIdentityPools/p/providers/q".into()
            ))
            .as_deref(),
            Some("https://iam.googleapis.com/projects/1/locations/global/workloadIdentityPools/p/providers/q")
        );
        assert_eq!(gcp_audience(Some(" ".into())), None);
        assert_eq!(gcp_audience(None), None);
        let s = json(&GcpSuccess {
            version: 1,
            success: true,
            token_type: GCP_TOKEN_TYPE,
            id_token: "a.b.c",
            expiration_time: 5,
        })
        .unwrap();
        assert_eq!(
            s,
            r#"{"version":1,"success":true,"token_type":"urn:ietf:params:oauth:token-type:jwt","id_token":"a.b.c","expiration_time":5}"#
        );
        let e = Error::Client(iamjwt_client::Error::Http(
            "GET x: connection refused".into(),
        ));
        let f = json(&GcpFailure {
            version: 1,
            success: false,
            code: gcp_failure_code(&e),
            message: &e.to_string(),
        })
        .unwrap();
        assert_eq!(
            f,
            r#"{"version":1,"success":false,"code":"ISSUER_UNREACHABLE","message":"GET x: connection refused"}"#
        );
    }
}
