use super::*;

const APP: &str =
    "arn:aws:sso::123456789012:application/ssoins-1111222233334444/apl-5555666677778888";

/// `AWS_ENDPOINT_URL_<SERVICE>` as the SDK's environment loader answers it (service id → URL).
#[derive(Debug)]
struct ServiceEndpoints(Vec<(&'static str, &'static str)>);

impl aws_types::service_config::LoadServiceConfig for ServiceEndpoints {
    fn load_config(&self, key: aws_types::service_config::ServiceConfigKey<'_>) -> Option<String> {
        (key.env() == "AWS_ENDPOINT_URL")
            .then(|| self.0.iter().find(|(id, _)| *id == key.service_id()))
            .flatten()
            .map(|(_, url)| (*url).to_owned())
    }
}

fn aws(endpoints: Vec<(&'static str, &'static str)>) -> SdkConfig {
    SdkConfig::builder()
        .region(aws_config::Region::new("us-east-1"))
        .service_config(ServiceEndpoints(endpoints))
        .behavior_version(aws_config::BehaviorVersion::latest())
        .build()
}

/// Issue 20: two chains against different sso-oauth / STS / S3 Control endpoints (another partition's, a
/// private one, a stand-in) must never share a cached session or grant: the first one's credentials would be
/// handed to the second.
#[tokio::test]
async fn chains_against_other_endpoints_do_not_share_cache_entries() {
    let dir = tempfile::tempdir().unwrap();
    let cache = TokenCache::open(dir.path().join("c")).unwrap();
    let client = Client::with_credentials(
        aws_credential_types::Credentials::new("AKIA1", "s", None, None, "test"),
        "us-east-1",
    );
    let mut token = TokenRequest::new("https://issuer.example.com");
    token.audiences = vec!["identity-center".into()];
    let role = "arn:aws:iam::123456789012:role/bearer";
    let request = SessionRequest::new(APP, role, None, None).unwrap();
    let grant = DataAccessRequest::new("s3://lake/reports/*", "READ", None).unwrap();
    let access = DataAccess {
        credentials: AwsCredentials {
            access_key_id: "ASIAGRANT".into(),
            secret_access_key: "S".into(),
            session_token: "T".into(),
            expiration: "2999-01-01T00:00:00Z".into(),
        },
        matched_grant_target: None,
        grantee: None,
    };
    let configs = [
        aws(vec![]),
        aws(vec![("S3 Control", "https://s3-control.a.example")]),
        aws(vec![("S3 Control", "https://s3-control.b.example")]),
        aws(vec![("SSO OIDC", "https://oidc.b.example")]),
        aws(vec![("STS", "https://sts.b.example")]),
    ];
    let chains: Vec<Chain<'_>> = configs
        .iter()
        .map(|aws| Chain {
            client: &client,
            aws,
            cache: Some(&cache),
        })
        .collect();
    let mut keys = Vec::new();
    for c in &chains {
        let key = GrantKey {
            session: c.session_key(&token, &request).await.unwrap(),
            account: "123456789012".into(),
            grant: grant.clone(),
            s3_control_endpoint: endpoint(c.aws, "S3 Control"),
        };
        assert!(!keys.contains(&key), "{key:?}");
        keys.push(key);
    }
    // what one chain stored, the others do not find
    chains[1].store(GRANT_KIND, &keys[1], &access);
    for (i, (c, k)) in chains.iter().zip(&keys).enumerate() {
        let hit = c.cached::<_, DataAccess>(GRANT_KIND, k, |d| &d.credentials);
        assert_eq!(hit.is_some(), i == 1, "chain {i}");
    }
    // the SDK's own resolution: a service's variable wins over the global one
    let both = SdkConfig::builder()
        .endpoint_url("https://global.example")
        .service_config(ServiceEndpoints(vec![("STS", "https://sts.example")]))
        .build();
    assert_eq!(
        endpoint(&both, "STS").as_deref(),
        Some("https://sts.example")
    );
    assert_eq!(
        endpoint(&both, "SSO OIDC").as_deref(),
        Some("https://global.example")
    );
}

#[test]
fn application_arns() {
    let a = ApplicationArn::parse(APP).unwrap();
    assert_eq!(a.partition, "aws");
    assert_eq!(a.account, "123456789012");
    assert_eq!(a.instance, "ssoins-1111222233334444");
    assert_eq!(a.application, "apl-5555666677778888");
    for bad in [
        "",
        "apl-1",
        "arn:aws:sso:::instance/ssoins-1",
        "arn:aws:sso::123:application/ssoins-1/apl-1",
        "arn:aws:sso:us-east-1:123456789012:application/ssoins-1/apl-1",
        "arn:aws:iam::123456789012:application/ssoins-1/apl-1",
        "arn:aws:sso::123456789012:application/ssoins-1",
        "arn:aws:sso::123456789012:application//apl-1",
        "arn:aws:sso::123456789012:application/ssoins-1/apl-1/x",
    ] {
        let e = ApplicationArn::parse(bad).unwrap_err().to_string();
        assert!(e.starts_with("--identity-center-app"), "{bad}: {e}");
    }
    assert_eq!(
        context_provider_arn("aws"),
        "arn:aws:iam::aws:contextProvider/IdentityCenter"
    );
}

#[test]
fn data_access_requests() {
    let ok = DataAccessRequest::new("s3://bucket/data/*", "READ", Some(900)).unwrap();
    assert_eq!(ok.permission, "READ");
    DataAccessRequest::new("s3://bucket", "READWRITE", Some(43200)).unwrap();
    for (target, permission, duration, flag) in [
        ("bucket/data/*", "READ", None, "--target"),
        ("s3:///data", "READ", None, "--target"),
        ("s3://bu cket/x", "READ", None, "--target"),
        ("s3://bucket/*", "read", None, "--permission"),
        ("s3://bucket/*", "LIST", None, "--permission"),
        ("s3://bucket/*", "WRITE", Some(899), "--duration"),
        ("s3://bucket/*", "WRITE", Some(43201), "--duration"),
    ] {
        let e = DataAccessRequest::new(target, permission, duration)
            .unwrap_err()
            .to_string();
        assert!(e.starts_with(flag), "{target} {permission}: {e}");
    }
    assert!(
        DataAccessRequest::new("s3://b/x", "LIST", None)
            .unwrap_err()
            .to_string()
            .ends_with("must be one of READ, READWRITE, WRITE")
    );
}

#[test]
fn hints_name_the_fix_in_one_line() {
    let e = Error::Aws {
        hop: HOP_OIDC,
        code: "InvalidGrantException".into(),
        message: "no user".into(),
        hint: oidc_hint("InvalidGrantException").map(str::to_owned),
    };
    let line = e.to_string();
    assert!(
        line.starts_with(
            "Identity Center CreateTokenWithIAM InvalidGrantException: no user (user not found / audience / issuer mismatch"
        ),
        "{line}"
    );
    assert!(!line.contains('\n'));
    assert!(
        grants_hint("AccessDenied")
            .unwrap()
            .starts_with("no grant for this user and prefix")
    );
    assert!(
        assume_role_hint("AccessDenied", "not authorized")
            .unwrap()
            .contains("sts:SetContext")
    );
    // the web-identity hints still apply where they fit
    assert!(
        assume_role_hint("RegionDisabledException", "")
            .unwrap()
            .contains("--region")
    );
    assert!(oidc_hint("SomethingNew").is_none());
}

#[test]
fn grant_credentials_keep_the_api_shape() {
    let d = DataAccess {
        credentials: AwsCredentials {
            access_key_id: "ASIA1".into(),
            secret_access_key: "S".into(),
            session_token: "T".into(),
            expiration: "2026-12-03T10:00:00Z".into(),
        },
        matched_grant_target: Some("s3://b/p*".into()),
        grantee: Some(Grantee {
            grantee_type: "DIRECTORY_USER".into(),
            grantee_identifier: "u-1".into(),
        }),
    };
    let j = serde_json::to_value(&d).unwrap();
    assert_eq!(j["Credentials"]["AccessKeyId"], "ASIA1");
    assert_eq!(j["Grantee"]["GranteeType"], "DIRECTORY_USER");
    assert_eq!(j.as_object().unwrap().len(), 3);
    let back: DataAccess = serde_json::from_value(j).unwrap();
    assert_eq!(back, d);
}
