//! `iamjwt console`: role credentials (as `iamjwt credentials` gets them) → the AWS federation endpoint's
//! `getSigninToken` → a console sign-in URL on stdout.

use crate::error::Error;
use crate::role::RoleArgs;
use iamjwt_client::federation;
use iamjwt_client::http::HttpClient;
use iamjwt_client::sts::RoleArn;

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    role: RoleArgs,
    /// Console page to open (default: the partition's console home).
    #[arg(long)]
    destination: Option<String>,
    /// Console session duration in seconds (900–43200; default: the federation endpoint's, 12 h max).
    #[arg(long, value_parser = clap::value_parser!(u64).range(900..=43200))]
    duration: Option<u64>,
    /// Federation endpoint (default by partition: https://signin.aws.amazon.com/federation,
    /// https://signin.amazonaws-us-gov.com/federation, https://signin.amazonaws.cn/federation).
    #[arg(long)]
    federation_endpoint: Option<String>,
    /// The `Issuer` shown on the console's sign-out page.
    #[arg(long, default_value = "iamjwt")]
    issuer_name: String,
}

pub async fn run(args: Args) -> Result<(), Error> {
    let arn = RoleArn::parse(&args.role.role_arn)?;
    let unknown = || {
        Error::Usage(format!(
            "no console is known for partition {:?}: pass --federation-endpoint and --destination",
            arn.partition
        ))
    };
    let endpoint = match &args.federation_endpoint {
        Some(e) => e.clone(),
        None => federation::federation_endpoint(&arn.partition)
            .ok_or_else(unknown)?
            .to_owned(),
    };
    let destination = match &args.destination {
        Some(d) => d.clone(),
        None => federation::console_home(&arn.partition)
            .ok_or_else(unknown)?
            .to_owned(),
    };
    // Both URLs are refused before any request: a sign-in token for the role's session travels to this endpoint.
    args.role.issuer.url()?;
    iamjwt_client::http::check_url(&endpoint)?;
    let assumed = args.role.assume(None).await?;
    let url = federation::console_url(
        &HttpClient::new(),
        &endpoint,
        &assumed.credentials,
        args.duration,
        &args.issuer_name,
        &destination,
    )
    .await?;
    crate::print_stdout(&url);
    Ok(())
}
