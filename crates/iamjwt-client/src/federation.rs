//! Role credentials → an AWS console sign-in URL: the federation endpoint's `getSigninToken`, then `login`.

use crate::error::Error;
use crate::http::HttpClient;
use crate::sts::AwsCredentials;
use serde::{Deserialize, Serialize};

/// The federation endpoint of a partition.
pub fn federation_endpoint(partition: &str) -> Option<&'static str> {
    Some(match partition {
        "aws" => "https://signin.aws.amazon.com/federation",
        "aws-us-gov" => "https://signin.amazonaws-us-gov.com/federation",
        "aws-cn" => "https://signin.amazonaws.cn/federation",
        _ => return None,
    })
}

/// The console home of a partition (the default destination).
pub fn console_home(partition: &str) -> Option<&'static str> {
    Some(match partition {
        "aws" => "https://console.aws.amazon.com/",
        "aws-us-gov" => "https://console.amazonaws-us-gov.com/",
        "aws-cn" => "https://console.amazonaws.cn/",
        _ => return None,
    })
}

#[derive(Serialize)]
struct Session<'a> {
    #[serde(rename = "sessionId")]
    session_id: &'a str,
    #[serde(rename = "sessionKey")]
    session_key: &'a str,
    #[serde(rename = "sessionToken")]
    session_token: &'a str,
}

#[derive(Deserialize)]
struct SigninToken {
    #[serde(rename = "SigninToken")]
    signin_token: String,
}

/// `endpoint?Action=getSigninToken&SessionDuration=…&Session=…`.
pub fn signin_token_url(
    endpoint: &str,
    credentials: &AwsCredentials,
    session_duration: Option<u64>,
) -> Result<String, Error> {
    let session = serde_json::to_string(&Session {
        session_id: &credentials.access_key_id,
        session_key: &credentials.secret_access_key,
        session_token: &credentials.session_token,
    })
    .map_err(|e| Error::Usage(format!("session JSON: {e}")))?;
    let mut q = form_urlencoded::Serializer::new(String::new());
    q.append_pair("Action", "getSigninToken");
    if let Some(d) = session_duration {
        q.append_pair("SessionDuration", &d.to_string());
    }
    q.append_pair("Session", &session);
    Ok(format!("{endpoint}?{}", q.finish()))
}

/// `endpoint?Action=login&Issuer=…&Destination=…&SigninToken=…`.
pub fn login_url(endpoint: &str, issuer: &str, destination: &str, signin_token: &str) -> String {
    let mut q = form_urlencoded::Serializer::new(String::new());
    q.append_pair("Action", "login")
        .append_pair("Issuer", issuer)
        .append_pair("Destination", destination)
        .append_pair("SigninToken", signin_token);
    format!("{endpoint}?{}", q.finish())
}

/// Asks `endpoint` for a sign-in token for `credentials` and returns the console login URL.
pub async fn console_url(
    http: &HttpClient,
    endpoint: &str,
    credentials: &AwsCredentials,
    session_duration: Option<u64>,
    issuer: &str,
    destination: &str,
) -> Result<String, Error> {
    let endpoint = endpoint.trim_end_matches('?');
    let r = http
        .get(&signin_token_url(endpoint, credentials, session_duration)?)
        .await?;
    if !r.status.is_success() {
        return Err(Error::Federation(format!(
            "getSigninToken at {endpoint}: HTTP {}{}",
            r.status.as_u16(),
            if r.status.as_u16() == 400 {
                " (SessionDuration above 43200 s, or credentials that are not from an assumed role)"
            } else {
                ""
            }
        )));
    }
    let t: SigninToken = serde_json::from_slice(&r.body).map_err(|e| {
        Error::Federation(format!(
            "getSigninToken at {endpoint}: no SigninToken in the answer: {e}"
        ))
    })?;
    Ok(login_url(endpoint, issuer, destination, &t.signin_token))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        let c = AwsCredentials {
            access_key_id: "ASIA1".into(),
            secret_access_key: "s/k+".into(),
            session_token: "t=".into(),
            expiration: "2026-12-03T10:00:00Z".into(),
        };
        let u =
            signin_token_url("https://signin.aws.amazon.com/federation", &c, Some(3600)).unwrap();
        let q: Vec<(String, String)> =
            form_urlencoded::parse(u.split_once('?').unwrap().1.as_bytes())
                .into_owned()
                .collect();
        assert_eq!(q[0], ("Action".into(), "getSigninToken".into()));
        assert_eq!(q[1], ("SessionDuration".into(), "3600".into()));
        let s: serde_json::Value = serde_json::from_str(&q[2].1).unwrap();
        assert_eq!(
            s,
            serde_json::json!({"sessionId":"ASIA1","sessionKey":"s/k+","sessionToken":"t="})
        );
        assert_eq!(
            login_url(
                "https://e/federation",
                "iamjwt",
                "https://console.aws.amazon.com/s3/",
                "T+/"
            ),
            "https://e/federation?Action=login&Issuer=iamjwt&Destination=https%3A%2F%2Fconsole.aws.amazon.com%2Fs3%2F&SigninToken=T%2B%2F"
        );
        assert_eq!(
            federation_endpoint("aws-cn"),
            Some("https://signin.amazonaws.cn/federation")
        );
        assert_eq!(
            console_home("aws-us-gov"),
            Some("https://console.amazonaws-us-gov.com/")
        );
        assert_eq!(federation_endpoint("aws-iso"), None);
    }
}
