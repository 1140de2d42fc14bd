//! SigV4 signing of `GET` requests as botocore's `SigV4Auth` (headers) and `SigV4QueryAuth` (presigned URL) sign
//! them, through `aws-sigv4` (no hand-written canonicalisation). One signer for every client of the issuer in
//! this workspace (`iamjwt-client`, the local gateway's tests, the fuzzer, the load generator), and the one rule
//! for the payload hash of a presigned request, which the local gateway's verifier applies too.
//!
//! The signer is checked against a botocore fixture and live botocore/CRT presigned URLs (tests/it/sigv4_clients.rs),
//! so a mistake shared by our signer and our verifier cannot hide.

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{
    SignableBody, SignableRequest, SignatureLocation, SigningSettings, sign,
};
use aws_sigv4::sign::v4;
use std::time::{Duration, SystemTime};

/// A request that cannot be signed (no host, bad signing parameters).
#[derive(Debug, thiserror::Error)]
#[error("cannot sign the request: {0}")]
pub struct Error(String);

/// The payload a presigned request signs: S3 alone uses the constant `UNSIGNED-PAYLOAD`; every other service
/// (`execute-api` included) the SHA-256 of the body, like a header-signed request. Only the payload rule is
/// S3-aware: S3's other differences (single URI encoding, no path normalisation) are not implemented.
pub fn presigned_payload<'a>(service: &str, body: &'a [u8]) -> SignableBody<'a> {
    if service == "s3" {
        SignableBody::UnsignedPayload
    } else {
        SignableBody::Bytes(body)
    }
}

/// A SigV4-signed `GET uri` for `service` in `region` at `time`: `Authorization` and `X-Amz-*` headers, or with
/// `presign` the presigned query form valid for that long.
pub fn sign_get(
    uri: &http::Uri,
    credentials: &Credentials,
    region: &str,
    service: &str,
    time: SystemTime,
    presign: Option<Duration>,
) -> Result<http::Request<()>, Error> {
    let host = uri
        .authority()
        .ok_or_else(|| Error(format!("{uri} has no host")))?
        .as_str()
        .to_owned();
    let mut request = http::Request::get(uri.clone())
        .header(http::header::HOST, &host)
        .body(())
        .map_err(|e| Error(format!("bad request for {uri}: {e}")))?;
    let mut settings = SigningSettings::default();
    if let Some(expires) = presign {
        settings.signature_location = SignatureLocation::QueryParams;
        settings.expires_in = Some(expires);
    }
    let identity = credentials.clone().into();
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(region)
        .name(service)
        .time(time)
        .settings(settings)
        .build()
        .map_err(|e| Error(format!("signing parameters: {e}")))?
        .into();
    let uri_string = uri.to_string();
    let signable = SignableRequest::new(
        "GET",
        uri_string.as_str(),
        std::iter::once(("host", host.as_str())),
        if presign.is_some() {
            presigned_payload(service, &[])
        } else {
            SignableBody::Bytes(&[])
        },
    )
    .map_err(|e| Error(e.to_string()))?;
    let (instructions, _signature) = sign(signable, &params)
        .map_err(|e| Error(e.to_string()))?
        .into_parts();
    instructions.apply_to_request_http1x(&mut request);
    Ok(request)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn creds() -> Credentials {
        Credentials::new("AKIDEXAMPLE", "secret", Some("tok".into()), None, "test")
    }

    #[test]
    fn header_form_carries_the_scope_and_the_session_token() {
        let uri: http::Uri = "http://127.0.0.1:1/token?aud=x".parse().unwrap();
        let r = sign_get(
            &uri,
            &creds(),
            "us-east-1",
            "execute-api",
            SystemTime::UNIX_EPOCH,
            None,
        )
        .unwrap();
        let auth = r.headers()["authorization"].to_str().unwrap();
        assert!(auth.starts_with(
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/19700101/us-east-1/execute-api/aws4_request"
        ));
        assert!(auth.contains("SignedHeaders=host;"), "{auth}");
        assert_eq!(r.headers()["x-amz-security-token"], "tok");
        assert_eq!(r.headers()["host"], "127.0.0.1:1");
    }

    #[test]
    fn presigned_form_is_in_the_query_only() {
        let uri: http::Uri = "http://127.0.0.1:1/token".parse().unwrap();
        let r = sign_get(
            &uri,
            &creds(),
            "eu-west-1",
            "execute-api",
            SystemTime::UNIX_EPOCH,
            Some(Duration::from_secs(60)),
        )
        .unwrap();
        let q = r.uri().query().unwrap();
        for p in [
            "X-Amz-Algorithm=",
            "X-Amz-Signature=",
            "X-Amz-Expires=60",
            "X-Amz-Security-Token=",
        ] {
            assert!(q.contains(p), "{p} missing from {q}");
        }
        assert!(r.headers().get("authorization").is_none());
        assert!(
            sign_get(
                &"/token".parse().unwrap(),
                &creds(),
                "r",
                "s",
                SystemTime::UNIX_EPOCH,
                None
            )
            .is_err()
        );
    }

    #[test]
    fn only_s3_presigns_an_unsigned_payload() {
        assert!(matches!(
            presigned_payload("s3", b""),
            SignableBody::UnsignedPayload
        ));
        assert!(matches!(
            presigned_payload("execute-api", b"x"),
            SignableBody::Bytes(b"x")
        ));
    }
}
