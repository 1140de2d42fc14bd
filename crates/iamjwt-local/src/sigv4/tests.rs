use super::*;
use crate::principals::{LocalPrincipal, Principals};
use http::HeaderValue;

fn principal(akid: &str, secret: &str, token: Option<&str>) -> LocalPrincipal {
    LocalPrincipal {
        access_key_id: akid.into(),
        secret_access_key: secret.into(),
        session_token: token.map(str::to_owned),
        arn: "arn:aws:iam::123456789012:user/test".into(),
        user_id: "AIDATEST".into(),
        org_id: None,
        tags: None,
    }
}

#[test]
fn amz_dates() {
    assert_eq!(
        parse_amz_date("20150830T123600Z"),
        Some(UnixTime(1_440_938_160))
    );
    assert_eq!(
        parse_amz_date("20000229T235959Z"),
        Some(UnixTime(951_868_799))
    );
    assert_eq!(
        parse_amz_date("20261123T181500Z"),
        Some(UnixTime(1_795_457_700))
    );
    for bad in [
        "",
        "20150830T123600",
        "20151330T123600Z",
        "2015-08-30T12:36Z",
        "20150830X123600Z",
        "2015083OT123600Z",
        "+0150830T123600Z",
    ] {
        assert_eq!(parse_amz_date(bad), None, "{bad}");
    }
}

#[test]
fn authorization_parsing() {
    let ok = "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=host;x-amz-date, Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31";
    let a = parse_authorization(ok).unwrap();
    assert_eq!(a.access_key_id, "AKIDEXAMPLE");
    assert_eq!(a.signed_headers, vec!["host", "x-amz-date"]);
    for bad in [
        "",
        "AWS4-HMAC-SHA1 Credential=A/20150830/r/s/aws4_request, SignedHeaders=host, Signature=00",
        "AWS4-HMAC-SHA256 Credential=A/20150830/r/s/aws4_request, SignedHeaders=host",
        "AWS4-HMAC-SHA256 Credential=A/2015083/r/s/aws4_request, SignedHeaders=host, Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31",
        "AWS4-HMAC-SHA256 Credential=A/20150830/r/s/aws5_request, SignedHeaders=host, Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31",
        "AWS4-HMAC-SHA256 Credential=A/20150830/r/s/aws4_request, SignedHeaders=x-amz-date, Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31",
        "AWS4-HMAC-SHA256 Credential=A/20150830/r/s/aws4_request, SignedHeaders=x-amz-date;host, Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31",
        "AWS4-HMAC-SHA256 Credential=A/20150830/r/s/aws4_request, SignedHeaders=Host, Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31",
        "AWS4-HMAC-SHA256 Credential=A/20150830/r/s/aws4_request, SignedHeaders=host, Signature=5FA00FA31553B73EBF1942676E86291E8372FF2A2260956D9B8AAE1D763FBF31",
        "AWS4-HMAC-SHA256 Credential=A/20150830/r/s/aws4_request, SignedHeaders=host, Signature=5fa0, Signature=5fa0",
        "AWS4-HMAC-SHA256 Credential=A/20150830/r/s/aws4_request, SignedHeaders=host, Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31, Extra=1",
    ] {
        assert!(parse_authorization(bad).is_err(), "{bad}");
    }
}

/// AWS's published SigV4 test suite, `get-vanilla`.
#[test]
fn aws_test_vector_get_vanilla() {
    let principals = Arc::new(
        Principals::new(vec![principal(
            "AKIDEXAMPLE",
            "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
            None,
        )])
        .unwrap(),
    );
    let v = Verifier::new(principals, "us-east-1").with_service("service");
    let mut headers = HeaderMap::new();
    headers.insert("host", HeaderValue::from_static("example.amazonaws.com"));
    headers.insert("x-amz-date", HeaderValue::from_static("20150830T123600Z"));
    headers.insert("authorization", HeaderValue::from_static("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=host;x-amz-date, Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"));
    let req = RequestParts {
        method: "GET",
        path: "/",
        query: None,
        headers: &headers,
        body: &[],
    };
    let now = UnixTime(1_440_938_160 + 10);
    assert_eq!(v.verify(&req, now).unwrap().access_key_id, "AKIDEXAMPLE");
    // One bit of the signature off.
    headers.insert("authorization", HeaderValue::from_static("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=host;x-amz-date, Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf30"));
    let req = RequestParts {
        method: "GET",
        path: "/",
        query: None,
        headers: &headers,
        body: &[],
    };
    assert!(matches!(v.verify(&req, now), Err(Error::Denied(m)) if m.contains("does not match")));
}

fn parts_of(req: &http::Request<()>) -> (String, Option<String>) {
    (
        req.uri().path().to_owned(),
        req.uri().query().map(str::to_owned),
    )
}

/// A verifier for eu-west-1 knowing one temporary-credentials principal, and that principal's credentials.
fn session() -> (Verifier, Credentials) {
    let (akid, secret, token) = (
        "ASIAEXAMPLE000000001",
        "secretsecretsecretsecret",
        "tok+en/==",
    );
    let p = principal(akid, secret, Some(token));
    let v = Verifier::new(Arc::new(Principals::new(vec![p]).unwrap()), "eu-west-1");
    let creds = Credentials::new(akid, secret, Some(token.into()), None, "t");
    (v, creds)
}

/// `GET uri` signed for `execute-api` in eu-west-1 at `t`, in header form or presigned.
fn sign_at(
    uri: &http::Uri,
    creds: &Credentials,
    t: UnixTime,
    presign: Option<Duration>,
) -> http::Request<()> {
    sign_get(
        uri,
        creds,
        "eu-west-1",
        "execute-api",
        t.to_system_time(),
        presign,
    )
    .unwrap()
}

#[test]
fn round_trip_header_and_presigned_with_session_token() {
    let (v, creds) = session();
    let uri: http::Uri = "http://127.0.0.1:8080/token?aud=https%3A%2F%2Fx.example.com&duration=900"
        .parse()
        .unwrap();
    let t = UnixTime(1_795_457_700);
    for presign in [None, Some(Duration::from_secs(300))] {
        let signed = sign_at(&uri, &creds, t, presign);
        let (path, query) = parts_of(&signed);
        let req = RequestParts {
            method: "GET",
            path: &path,
            query: query.as_deref(),
            headers: signed.headers(),
            body: &[],
        };
        assert!(v.verify(&req, t.plus(60)).is_ok(), "{presign:?}");
        // Outside the window.
        assert!(v.verify(&req, t.plus(301)).is_err(), "{presign:?} late");
        // Different query.
        let other_q = query
            .as_deref()
            .map(|q| q.replace("duration=900", "duration=901"));
        let req = RequestParts {
            method: "GET",
            path: &path,
            query: other_q.as_deref(),
            headers: signed.headers(),
            body: &[],
        };
        assert!(
            matches!(v.verify(&req, t), Err(Error::Denied(_))),
            "{presign:?} tampered query"
        );
    }
}

/// Found by the `sigv4` fuzz target (docs/fuzzing.md): aws-sigv4 writes its own `x-amz-date` and
/// `x-amz-security-token` into the canonical request, and values that are not visible ASCII were skipped, so extra
/// values of signed headers went unsigned and the request still verified.
#[test]
fn regression_fuzz_unsigned_values_of_signed_headers() {
    let (v, creds) = session();
    let uri: http::Uri = "http://127.0.0.1:8080/token?aud=a".parse().unwrap();
    let t = UnixTime(1_795_457_700);
    let opaque = HeaderValue::from_bytes(b"\x9f\xfe").unwrap();
    for presign in [None, Some(Duration::from_secs(300))] {
        let signed = sign_at(&uri, &creds, t, presign);
        let (path, query) = parts_of(&signed);
        let verify = |headers: &HeaderMap| {
            v.verify(
                &RequestParts {
                    method: "GET",
                    path: &path,
                    query: query.as_deref(),
                    headers,
                    body: &[],
                },
                t,
            )
        };
        assert!(verify(signed.headers()).is_ok(), "{presign:?}");
        let mut extras = vec![("host", opaque.clone())];
        if presign.is_none() {
            extras.extend([
                ("x-amz-date", HeaderValue::from_static("junk")),
                ("x-amz-security-token", HeaderValue::from_static("other")),
                ("x-amz-security-token", opaque.clone()),
            ]);
        }
        for (name, value) in extras {
            let mut headers = signed.headers().clone();
            headers.append(name, value.clone());
            assert!(
                matches!(verify(&headers), Err(Error::Denied(_))),
                "{presign:?}: extra {name} value {value:?}"
            );
        }
    }
}

mod props {
    use super::*;
    use proptest::prelude::*;

    /// Inverse of `parse_amz_date` (civil from days, H. Hinnant), to check the round trip.
    fn format_amz_date(t: u64) -> String {
        let days = t / 86_400;
        let secs = t % 86_400;
        let z = days + 719_468;
        let era = z / 146_097;
        let doe = z - era * 146_097;
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let y = yoe + era * 400;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let d = doy - (153 * mp + 2) / 5 + 1;
        let m = if mp < 10 { mp + 3 } else { mp - 9 };
        let y = if m <= 2 { y + 1 } else { y };
        format!(
            "{y:04}{m:02}{d:02}T{:02}{:02}{:02}Z",
            secs / 3600,
            secs % 3600 / 60,
            secs % 60
        )
    }

    proptest! {
        #[test]
        fn amz_date_round_trip(t in 0u64..253_402_300_799) {
            prop_assert_eq!(parse_amz_date(&format_amz_date(t)), Some(UnixTime(t)));
        }

        #[test]
        fn amz_date_never_panics(s in ".{0,20}") {
            let _ = parse_amz_date(&s);
        }

        #[test]
        fn authorization_parse_never_panics(s in ".{0,200}") {
            let _ = parse_authorization(&s);
        }

        #[test]
        fn authorization_parse_never_panics_on_near_misses(
            cred in "[A-Z0-9/a-z_-]{0,60}", signed in "[a-z;-]{0,30}", sig in "[0-9a-fA-F]{0,66}", sep in "(, |,| )",
        ) {
            let s = format!("AWS4-HMAC-SHA256 Credential={cred}{sep}SignedHeaders={signed}{sep}Signature={sig}");
            if let Ok(a) = parse_authorization(&s) {
                prop_assert!(a.signed_headers.contains(&"host"));
                prop_assert_eq!(a.signature.len(), 64);
            }
        }

        #[test]
        fn verify_never_panics(auth in ".{0,120}", date in ".{0,20}", token in prop::option::of(".{0,20}"), query in ".{0,80}") {
            let principals = Arc::new(Principals::new(vec![principal("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", None)]).unwrap());
            let v = Verifier::new(principals, "us-east-1");
            let mut headers = HeaderMap::new();
            headers.insert("host", HeaderValue::from_static("example.amazonaws.com"));
            if let Ok(a) = HeaderValue::from_str(&auth) { headers.insert("authorization", a); }
            if let Ok(d) = HeaderValue::from_str(&date) { headers.insert("x-amz-date", d); }
            if let Some(Ok(t)) = token.as_deref().map(HeaderValue::from_str) { headers.insert("x-amz-security-token", t); }
            let req = RequestParts { method: "GET", path: "/token", query: Some(&query), headers: &headers, body: &[] };
            prop_assert!(v.verify(&req, UnixTime(1_440_938_160)).is_err());
        }
    }
}
