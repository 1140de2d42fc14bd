//! S3 Access Grants for workloads (issue 20): `iamjwt s3-access` and `credentials --identity-center-app` against
//! `iamjwt serve`, moto, and the stand-ins of tests/interop/identity_center_standins.py (Identity Center OIDC,
//! S3 Access Grants, recording proxies in front of moto's STS and S3), which enforce what AWS enforces. boto3's own
//! clients prove the stand-ins speak the wire format; the AWS CLI reads an object with `credential_process =
//! iamjwt s3-access …`.
use crate::support::*;
use std::io::{BufRead as _, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

const ACCOUNT: &str = "123456789012";
const APP: &str =
    "arn:aws:sso::123456789012:application/ssoins-7223000000000000/apl-1a2b3c4d5e6f7a8b";
const TTI: &str =
    "arn:aws:sso::123456789012:trustedTokenIssuer/ssoins-7223000000000000/tti-0000aaaa";
const BEARER: &str = "arn:aws:iam::123456789012:role/identity-bearer";
const LOCATION_ROLE: &str = "arn:aws:iam::123456789012:role/access-grants-location";
const USER: &str = "iamjwt-dev";
/// The audience the application's grant authorizes (and `s3-access`'s default).
const AUD: &str = "identity-center";
/// Also authorized, but the policy maps its tokens to a user the directory does not have.
const GHOST_AUD: &str = "identity-center-ghost";
/// Granted by the issuer, not authorized by the application.
const OTHER_AUD: &str = "another-app";
const OBJECT: &str = "s3://lake/reports/q1.csv";
const CONTENT: &str = "quarter,revenue\nq1,42\n";

/// The local issuer: RS256 and ES256 keys; the policy adds the directory user's claim (`userName` = the role name).
fn issuer() -> Server {
    let policy = serde_json::json!({"rules": [
        {"audiences": [AUD, OTHER_AUD], "claims": {"userName": "{name}"}},
        {"audiences": [GHOST_AUD], "claims": {"userName": "ghost-{name}"}},
    ]});
    Server::start_with(&[
        ("IAMJWT_ALGORITHMS", "RS256,ES256"),
        ("IAMJWT_AUDIENCE_POLICY", &policy.to_string()),
    ])
}

/// moto and the stand-ins, with the directory (one user, in one group), the grants and the object in place.
struct StandIns {
    _moto: iamjwt_testkit::Moto,
    child: Child,
    urls: serde_json::Value,
}

impl Drop for StandIns {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl StandIns {
    fn start(s: &Server) -> Self {
        let moto = iamjwt_testkit::Moto::start().unwrap_or_else(|e| panic!("{e}"));
        let issuer = s.get_json("/.well-known/openid-configuration")["issuer"]
            .as_str()
            .unwrap()
            .to_owned();
        let config = serde_json::json!({
            "moto": moto.endpoint, "region": "us-east-1", "account": ACCOUNT,
            "identity_store_id": "d-9067000000", "application_arn": APP, "tti_arn": TTI,
            "issuer_url": issuer, "authorized_audiences": [AUD, GHOST_AUD],
            "claim": "userName", "identity_store_attribute": "userName",
            "caller_access_key_id": s.creds.access_key_id,
            "users": [{"userName": USER, "email": "dev@example.com", "groups": ["analysts"]}],
            "grants": [
                {"user": USER, "target": "s3://lake/reports/*", "permission": "READ"},
                {"group": "analysts", "target": "s3://lake/shared/*", "permission": "READWRITE"},
            ],
            "location_role_arn": LOCATION_ROLE,
            "objects": {OBJECT: CONTENT, "s3://lake/private/salaries.csv": "secret"},
        });
        let mut child = clean(Command::new(venv_bin("python")))
            .arg(root().join("tests/interop/identity_center_standins.py"))
            .arg(config.to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("start the stand-ins");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let urls: serde_json::Value = serde_json::from_str(&line)
            .unwrap_or_else(|e| panic!("stand-ins' ready line {line:?}: {e}"));
        Self {
            _moto: moto,
            child,
            urls,
        }
    }

    fn url(&self, name: &str) -> &str {
        self.urls[name].as_str().unwrap()
    }

    fn records(&self) -> serde_json::Value {
        let (status, body) = http_get(&format!("{}/", self.url("records")));
        assert_eq!(status, 200, "{body}");
        serde_json::from_str(&body).unwrap()
    }

    /// What a user has too: the standard endpoint variables, and a forward proxy for the account-prefixed
    /// S3 Control host (`123456789012.127.0.0.1:PORT` exists only behind it; NO_PROXY keeps the rest direct).
    fn endpoint_env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("AWS_ENDPOINT_URL_SSO_OIDC", self.url("oidc").to_owned()),
            ("AWS_ENDPOINT_URL_STS", self.url("sts").to_owned()),
            (
                "AWS_ENDPOINT_URL_S3_CONTROL",
                self.url("s3control").to_owned(),
            ),
            ("HTTP_PROXY", self.url("s3control").to_owned()),
            ("NO_PROXY", "127.0.0.1,localhost".to_owned()),
        ]
    }

    /// `iamjwt ARGS` as the workload (the issuer's dev principal), its cache in `cache`.
    fn iamjwt(&self, s: &Server, cache: &Path, args: &[&str]) -> Command {
        let mut c = iamjwt(args);
        s.creds.apply(&mut c);
        c.env("XDG_CACHE_HOME", cache);
        for (k, v) in self.endpoint_env() {
            c.env(k, v);
        }
        c
    }
}

fn s3_access_args<'a>(s: &'a Server, extra: &[&'a str]) -> Vec<&'a str> {
    let mut a = vec![
        "s3-access",
        "--url",
        &s.url,
        "--identity-center-app",
        APP,
        "--role-arn",
        BEARER,
        "--region",
        "us-east-1",
        "--target",
        "s3://lake/reports/*",
        "--permission",
        "READ",
    ];
    a.extend_from_slice(extra);
    a
}

/// `args` with `flag`'s value replaced.
fn with<'a>(mut args: Vec<&'a str>, flag: &str, value: &'a str) -> Vec<&'a str> {
    let i = args.iter().position(|a| *a == flag).unwrap();
    args[i + 1] = value;
    args
}

fn count(
    records: &serde_json::Value,
    kind: &str,
    pred: impl Fn(&serde_json::Value) -> bool,
) -> usize {
    records[kind]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| pred(r))
        .count()
}

fn exchanges(records: &serde_json::Value) -> usize {
    count(records, "oidc", |r| r.get("userName").is_some())
}

#[test]
fn standins_speak_the_wire_format_of_boto3_and_refuse_what_identity_center_refuses() {
    let s = issuer();
    let st = StandIns::start(&s);
    let token = |aud: &str, alg: &str| ok(s.token(&["--aud", aud, "--alg", alg]));
    let case = serde_json::json!({
        "application_arn": APP, "role_arn": BEARER, "account": ACCOUNT, "region": "us-east-1",
        "access_key_id": s.creds.access_key_id, "secret_access_key": s.creds.secret_access_key,
        "session_token": s.creds.session_token,
        "target": "s3://lake/reports/*", "permission": "READ", "object": OBJECT,
        "good": token(AUD, "RS256"),
        "bad": {
            "es256": token(AUD, "ES256"),
            "wrong_aud": token(OTHER_AUD, "RS256"),
            "unknown_user": token(GHOST_AUD, "RS256"),
        },
    });
    let mut c = clean(Command::new(venv_bin("python")));
    c.arg(root().join("tests/interop/identity_center_boto3.py"))
        .arg(st.urls.to_string())
        .arg(case.to_string());
    let out: serde_json::Value = serde_json::from_str(&ok(run(c))).unwrap();

    // the idToken carries the identity context STS then receives
    let context = out["exchange"]["identity_context"].as_str().unwrap();
    assert_eq!(
        out["exchange"]["id_token_claims"]["sts:identity_context"],
        context
    );
    assert_eq!(out["exchange"]["id_token_claims"]["act"]["sub"], TTI);
    let user_id = st.urls["users"][USER].as_str().unwrap();
    assert_eq!(out["exchange"]["id_token_claims"]["sub"], user_id);
    let records = st.records();
    let carried: Vec<_> = records["sts"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["form"]["ProvidedContexts.member.1.ContextAssertion"] == context)
        .collect();
    assert_eq!(carried.len(), 1, "{records}");
    assert_eq!(
        carried[0]["form"]["ProvidedContexts.member.1.ProviderArn"],
        "arn:aws:iam::aws:contextProvider/IdentityCenter"
    );
    assert_eq!(carried[0]["access_key_id"], out["session_access_key_id"]);
    // GetDataAccess reached through the proxy, with the account in front of the host
    assert!(
        records["s3control"][0]["host"]
            .as_str()
            .unwrap()
            .starts_with("123456789012.127.0.0.1"),
        "{records}"
    );
    assert_eq!(
        out["data_access"]["matched_grant_target"],
        "s3://lake/reports/*"
    );
    assert_eq!(
        out["data_access"]["grantee"]["GranteeType"],
        "DIRECTORY_USER"
    );
    assert_eq!(out["data_access"]["grantee"]["GranteeIdentifier"], user_id);
    assert_eq!(out["object"], CONTENT);

    // what AWS refuses, the stand-ins refuse
    let refused = |what: &str, code: &str, says: &str| {
        let r = &out[what];
        assert_eq!(r["code"], code, "{what}: {r}");
        assert!(r["message"].as_str().unwrap().contains(says), "{what}: {r}");
    };
    refused(
        "session_get_object",
        "AccessDenied",
        "identity-enhanced session",
    );
    refused(
        "no_grant",
        "AccessDenied",
        "permission to access the requested data",
    );
    refused(
        "workload_get_data_access",
        "AccessDenied",
        "identity-enhanced session",
    );
    refused(
        "wrong_provider",
        "InvalidParameterValue",
        "context provider",
    );
    let grant = |name: &str, says: &str| {
        let r = &out["refusals"][name];
        assert_eq!(r["code"], "InvalidGrantException", "{name}: {r}");
        assert!(r["message"].as_str().unwrap().contains(says), "{name}: {r}");
    };
    grant("replay", "already used");
    grant("es256", "unsupported signing algorithm ES256");
    grant("wrong_aud", "Audience doesn't match");
    grant("unknown_user", "no user with userName 'ghost-iamjwt-dev'");
}

#[test]
fn s3_access_reads_an_object_through_the_aws_cli_with_credential_process() {
    let s = issuer();
    let st = StandIns::start(&s);
    let cache = tempfile::tempdir().unwrap();
    let home = tempfile::tempdir().unwrap();
    // credential_process carries its own environment: the AWS CLI's own has no AWS credentials and no proxy.
    let mut env: Vec<String> = vec![
        format!("AWS_ACCESS_KEY_ID={}", s.creds.access_key_id),
        format!("AWS_SECRET_ACCESS_KEY={}", s.creds.secret_access_key),
        format!("AWS_SESSION_TOKEN={}", s.creds.session_token),
        format!("XDG_CACHE_HOME={}", cache.path().display()),
        "AWS_EC2_METADATA_DISABLED=true".into(),
    ];
    env.extend(
        st.endpoint_env()
            .into_iter()
            .map(|(k, v)| format!("{k}={v}")),
    );
    let process = format!(
        "/usr/bin/env {} {} {}",
        env.join(" "),
        iamjwt_bin().display(),
        s3_access_args(&s, &[]).join(" ")
    );
    let config = home.path().join("config");
    std::fs::write(
        &config,
        format!("[profile grants]\ncredential_process = {process}\nregion = us-east-1\n"),
    )
    .unwrap();
    let aws = |object: &str| {
        let mut c = clean(Command::new(venv_bin("aws")));
        c.args([
            "s3",
            "cp",
            object,
            "-",
            "--profile",
            "grants",
            "--endpoint-url",
        ])
        .arg(st.url("s3"))
        .env("AWS_CONFIG_FILE", &config);
        run(c)
    };
    assert_eq!(ok(aws(OBJECT)), CONTENT.trim_end());
    let records = st.records();
    assert_eq!(exchanges(&records), 1, "{records}");
    let vended = records["s3control"][0]["vended"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        count(&records, "s3", |r| r["access_key_id"] == vended.as_str()
            && r.get("denied").is_none())
            >= 1,
        "the AWS CLI read with the Access Grants credentials: {records}"
    );
    let session = records["sts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r.get("identity").is_some())
        .unwrap();
    assert_eq!(session["identity"]["userName"], USER);
    assert_eq!(
        session["form"]["ProvidedContexts.member.1.ProviderArn"],
        "arn:aws:iam::aws:contextProvider/IdentityCenter"
    );
    assert_eq!(session["form"]["RoleArn"], BEARER);

    // again: the grant credentials come from the cache (no exchange, no GetDataAccess)
    assert_eq!(ok(aws(OBJECT)), CONTENT.trim_end());
    let records = st.records();
    assert_eq!(exchanges(&records), 1);
    assert_eq!(records["s3control"].as_array().unwrap().len(), 1);
    // the grant is the grant: another prefix is refused to the vended credentials
    let o = aws("s3://lake/private/salaries.csv");
    assert!(!o.status.success());
    assert!(stderr(&o).contains("(403)"), "{}", stderr(&o));
    assert!(count(&st.records(), "s3", |r| r["denied"] == "outside the grant") >= 1);

    // the results are cached 0600; no token is
    let dir = cache.path().join("iamjwt");
    let names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(names.len(), 2, "{names:?}");
    for n in &names {
        assert!(
            n.starts_with("identity-center-session-") || n.starts_with("access-grants-"),
            "{n}"
        );
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(dir.join(n)).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{n}");
    }

    // each exchange takes a fresh token: without the cache, twice more, and Identity Center accepts both
    for _ in 0..2 {
        let p: serde_json::Value = serde_json::from_str(&ok(run(st.iamjwt(
            &s,
            cache.path(),
            &s3_access_args(&s, &["--no-cache"]),
        ))))
        .unwrap();
        assert_eq!(p["Version"], 1);
    }
    assert_eq!(exchanges(&st.records()), 3);

    // json: GetDataAccess's answer; env: export lines (both from the cache)
    let j: serde_json::Value = serde_json::from_str(&ok(run(st.iamjwt(
        &s,
        cache.path(),
        &s3_access_args(&s, &["--output", "json"]),
    ))))
    .unwrap();
    assert_eq!(j["MatchedGrantTarget"], "s3://lake/reports/*");
    assert_eq!(j["Credentials"]["AccessKeyId"], vended.as_str());
    assert!(
        ok(run(st.iamjwt(
            &s,
            cache.path(),
            &s3_access_args(&s, &["--output", "env"])
        )))
        .contains(&format!("export AWS_ACCESS_KEY_ID='{vended}'"))
    );

    // a grant to the user's group
    let g: serde_json::Value = serde_json::from_str(&ok(run(st.iamjwt(
        &s,
        cache.path(),
        &[
            "s3-access",
            "--url",
            &s.url,
            "--identity-center-app",
            APP,
            "--role-arn",
            BEARER,
            "--region",
            "us-east-1",
            "--target",
            "s3://lake/shared/team/*",
            "--permission",
            "WRITE",
            "--duration",
            "900",
            "--output",
            "json",
        ],
    ))))
    .unwrap();
    assert_eq!(g["Grantee"]["GranteeType"], "DIRECTORY_GROUP");
    assert_eq!(g["MatchedGrantTarget"], "s3://lake/shared/*");
}

#[test]
fn credentials_identity_center_app_is_an_identity_enhanced_session_that_cannot_read_s3() {
    let s = issuer();
    let st = StandIns::start(&s);
    let cache = tempfile::tempdir().unwrap();
    let session = |output: &str| {
        ok(run(st.iamjwt(
            &s,
            cache.path(),
            &[
                "credentials",
                "--url",
                &s.url,
                "--identity-center-app",
                APP,
                "--role-arn",
                BEARER,
                "--region",
                "us-east-1",
                "--session-name",
                "job-42",
                "--output",
                output,
            ],
        )))
    };
    let j: serde_json::Value = serde_json::from_str(&session("json")).unwrap();
    assert_eq!(
        j["AssumedRoleUser"]["Arn"],
        "arn:aws:sts::123456789012:assumed-role/identity-bearer/job-42"
    );
    let key = j["Credentials"]["AccessKeyId"].as_str().unwrap();
    let records = st.records();
    let assumed = records["sts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["access_key_id"] == key)
        .unwrap();
    assert_eq!(assumed["identity"]["userName"], USER, "{records}");
    // cached: the same session, no second exchange
    let p: serde_json::Value = serde_json::from_str(&session("process")).unwrap();
    assert_eq!(p["AccessKeyId"], key);
    assert_eq!(exchanges(&st.records()), 1);
    // the identity-enhanced session is for GetDataAccess, not for S3 itself
    let mut c = clean(Command::new(venv_bin("aws")));
    c.args([
        "s3",
        "cp",
        OBJECT,
        "-",
        "--region",
        "us-east-1",
        "--endpoint-url",
    ])
    .arg(st.url("s3"))
    .env("AWS_ACCESS_KEY_ID", key)
    .env(
        "AWS_SECRET_ACCESS_KEY",
        j["Credentials"]["SecretAccessKey"].as_str().unwrap(),
    )
    .env(
        "AWS_SESSION_TOKEN",
        j["Credentials"]["SessionToken"].as_str().unwrap(),
    );
    let o = run(c);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("(403)"), "{}", stderr(&o));
    assert!(
        count(&st.records(), "s3", |r| r["denied"] == "identity-enhanced"
            && r["access_key_id"] == key)
            >= 1
    );
}

#[test]
fn every_refusal_is_one_line_naming_the_hop_and_the_fix() {
    let s = issuer();
    let st = StandIns::start(&s);
    let cache = tempfile::tempdir().unwrap();
    let refused = |args: Vec<&str>| {
        let o = run(st.iamjwt(&s, cache.path(), &args));
        assert!(!o.status.success(), "{args:?} succeeded");
        let e = stderr(&o);
        assert_eq!(e.lines().count(), 1, "{e}");
        e
    };
    let grant = "error: Identity Center CreateTokenWithIAM InvalidGrantException: ";
    let fix = "(user not found / audience / issuer mismatch: ";
    for (extra, says) in [
        (&["--aud", OTHER_AUD][..], "Audience doesn't match"),
        (
            &["--alg", "ES256"][..],
            "unsupported signing algorithm ES256",
        ),
        (
            &["--aud", GHOST_AUD][..],
            "no user with userName 'ghost-iamjwt-dev'",
        ),
    ] {
        let e = refused(s3_access_args(&s, extra));
        assert!(e.starts_with(grant), "{e}");
        assert!(e.contains(says), "{e}");
        assert!(e.contains(fix), "{e}");
    }
    let base = s3_access_args(&s, &[]);
    let e = refused(with(base.clone(), "--target", "s3://lake/private/*"));
    assert!(
        e.starts_with("error: S3 Access Grants GetDataAccess AccessDenied: "),
        "{e}"
    );
    assert!(e.contains("(no grant for this user and prefix: "), "{e}");
    let e = refused(with(
        base.clone(),
        "--role-arn",
        "arn:aws:iam::123456789012:user/someone",
    ));
    assert!(e.starts_with("error: --role-arn"), "{e}");
    let e = refused(with(base.clone(), "--target", "lake/reports"));
    assert!(
        e.starts_with("error: --target \"lake/reports\" is not an S3 URI"),
        "{e}"
    );
    // no exchange reached Identity Center with a bad argument
    assert_eq!(
        count(&st.records(), "oidc", |r| r.get("error").is_none()),
        1,
        "only the refused-grant case exchanged successfully"
    );
}
