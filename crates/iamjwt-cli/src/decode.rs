//! `iamjwt decode`: header and claims, clearly marked unverified. For looking, never for trusting.

use crate::error::Error;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

#[derive(clap::Args)]
pub struct Args {
    /// The token, or `-` to read it from stdin.
    token: String,
}

fn part(token: &str, i: usize, name: &str) -> Result<serde_json::Value, Error> {
    let seg = token
        .split('.')
        .nth(i)
        .ok_or_else(|| Error::Invalid(format!("not a JWS compact token: no {name}")))?;
    let bytes = URL_SAFE_NO_PAD
        .decode(seg)
        .map_err(|e| Error::Invalid(format!("{name} is not base64url: {e}")))?;
    serde_json::from_slice(&bytes).map_err(|e| Error::Invalid(format!("{name} is not JSON: {e}")))
}

pub fn run(args: Args) -> Result<(), Error> {
    let token = if args.token == "-" {
        std::io::read_to_string(std::io::stdin()).map_err(|source| Error::Io {
            path: "<stdin>".into(),
            source,
        })?
    } else {
        args.token
    };
    let token = token.trim();
    if token.split('.').count() != 3 {
        return Err(Error::Invalid(
            "not a JWS compact token (expected three dot-separated parts)".into(),
        ));
    }
    let out = serde_json::json!({
        "verified": false,
        "header": part(token, 0, "header")?,
        "claims": part(token, 1, "claims")?,
    });
    eprintln!(
        "warning: UNVERIFIED — signature, issuer, audience and expiry were NOT checked (use `iamjwt verify`)"
    );
    let text = serde_json::to_string_pretty(&out)
        .map_err(|e| Error::Usage(format!("cannot print the token: {e}")))?;
    crate::print_stdout(&text);
    Ok(())
}
