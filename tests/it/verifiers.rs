//! `iamjwt verify --for TARGET` and `iamjwt trust TARGET` against a stand-in issuer: a loopback HTTP server in this
//! test serving discovery and a JWKS of test keys (`tests/fixtures/keys`), with hand-made tokens that each break one
//! rule. `trust` output is parsed by independent parsers (POSIX shlex, PyYAML, botocore's request validation).
use crate::support::*;
use base64::Engine as _;
use jsonwebtoken::jwk::Jwk;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::io::{BufRead as _, BufReader, Write as _};
use std::net::TcpListener;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

const ROLE_SESSION: &str = "arn:aws:sts::111122223333:assumed-role/ci-deploy/run-42";
const ROLE: &str = "arn:aws:iam::111122223333:role/ci-deploy";
const ENTRA: &str = "api://AzureADTokenExchange";

/// Discovery + JWKS on 127.0.0.1, replaceable while running; stopped on drop.
struct StandIn {
    url: String,
    docs: Arc<Mutex<(Value, Value)>>,
    stop: Arc<AtomicBool>,
}

impl StandIn {
    fn start(jwks: Value) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let docs = Arc::new(Mutex::new((discovery(&url), jwks)));
        let stop = Arc::new(AtomicBool::new(false));
        let (d, s) = (docs.clone(), stop.clone());
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                if s.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(mut conn) = conn else { continue };
                let mut reader = BufReader::new(conn.try_clone().unwrap());
                let mut first = String::new();
                let _ = reader.read_line(&mut first);
                let mut line = String::new();
                while reader.read_line(&mut line).is_ok_and(|n| n > 2) {
                    line.clear();
                }
                let path = first.split_whitespace().nth(1).unwrap_or("/").to_owned();
                let (status, body) = {
                    let docs = d.lock().unwrap();
                    match path.as_str() {
                        "/.well-known/openid-configuration" => ("200 OK", docs.0.to_string()),
                        "/.well-known/jwks.json" => ("200 OK", docs.1.to_string()),
                        _ => ("404 Not Found", "{}".to_owned()),
                    }
                };
                let _ = write!(
                    conn,
                    "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
            }
        });
        Self { url, docs, stop }
    }

    fn set(&self, discovery: Value, jwks: Value) {
        *self.docs.lock().unwrap() = (discovery, jwks);
    }
}

impl Drop for StandIn {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = std::net::TcpStream::connect(self.url.trim_start_matches("http://"));
    }
}

fn discovery(issuer: &str) -> Value {
    json!({
        "issuer": issuer,
        "jwks_uri": format!("{issuer}/.well-known/jwks.json"),
        "response_types_supported": ["id_token"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256", "ES256", "ES384", "EdDSA"],
    })
}

/// A test key: signs tokens, and its public JWK goes into the stand-in JWKS.
struct Key {
    enc: EncodingKey,
    alg: Algorithm,
    jwk: Value,
}

fn der(file: &str) -> Vec<u8> {
    let pem = std::fs::read_to_string(root().join("tests/fixtures/keys").join(file)).unwrap();
    let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    base64::engine::general_purpose::STANDARD
        .decode(body)
        .unwrap()
}

fn key(file: &str, alg: Algorithm, kid: &str) -> Key {
    let der = der(file);
    let enc = match alg {
        Algorithm::RS256 => EncodingKey::from_rsa_der(&der),
        Algorithm::EdDSA => EncodingKey::from_ed_der(&der),
        _ => EncodingKey::from_ec_der(&der),
    };
    let mut jwk = serde_json::to_value(Jwk::from_encoding_key(&enc, alg).unwrap()).unwrap();
    jwk["kid"] = json!(kid);
    jwk["use"] = json!("sig");
    Key { enc, alg, jwk }
}

struct Keys {
    rsa: Key,
    p256: Key,
    p384: Key,
    ed: Key,
}

impl Keys {
    fn load() -> Self {
        Self {
            rsa: key("rsa2048.pem", Algorithm::RS256, "rsa-1"),
            p256: key("p256.pem", Algorithm::ES256, "p256-1"),
            p384: key("p384.pem", Algorithm::ES384, "p384-1"),
            ed: key("ed25519.pem", Algorithm::EdDSA, "ed-1"),
        }
    }
    fn jwks(&self) -> Value {
        json!({"keys": [self.rsa.jwk, self.p256.jwk, self.p384.jwk, self.ed.jwk]})
    }
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn claims(issuer: &str, aud: Value) -> Value {
    let now = now();
    json!({"iss": issuer, "sub": ROLE, "aud": aud, "iat": now - 5, "nbf": now - 35, "exp": now + 600,
           "jti": "dGVzdC1qdGktMTIzNDU2Nzg", "aws": {"account": "111122223333", "principal_type": "AssumedRole"}})
}

/// Signs `claims` with `key`; `kid: false` leaves the header without one.
fn mint(key: &Key, kid: bool, claims: &Value) -> String {
    let mut h = Header::new(key.alg);
    if kid {
        h.kid = key.jwk["kid"].as_str().map(str::to_owned);
    }
    jsonwebtoken::encode(&h, claims, &key.enc).unwrap()
}

/// What `verify --for` reported: success, the FAILed and warned `target/rule`s.
struct Verdict {
    success: bool,
    failed: BTreeSet<String>,
    warned: BTreeSet<String>,
    out: String,
}

fn rules(out: &str, status: &str) -> BTreeSet<String> {
    out.lines()
        .filter_map(|l| {
            let mut w = l.split_whitespace();
            let (target, st, rule) = (w.next()?, w.next()?, w.next()?);
            (st == status).then(|| format!("{target}/{}", rule.trim_end_matches(':')))
        })
        .collect()
}

fn verify_for(issuer: &str, token: &str, auds: &[&str], targets: &[&str]) -> Verdict {
    let mut c = iamjwt(&["verify", token, "--issuer", issuer]);
    for a in auds {
        c.args(["--aud", a]);
    }
    for t in targets {
        c.args(["--for", t]);
    }
    let o = run(c);
    let out = stdout(&o);
    let v = Verdict {
        success: o.status.success(),
        failed: rules(&out, "FAIL"),
        warned: rules(&out, "warn"),
        out: format!("{out}\n{}", stderr(&o)),
    };
    // Exit status and printed lines agree; every rule of every target printed one line.
    assert_eq!(v.success, v.failed.is_empty(), "{}", v.out);
    assert!(out.lines().count() >= targets.len() * 5, "{}", v.out);
    v
}

fn set(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| (*s).to_owned()).collect()
}

#[track_caller]
fn expect_fail<S: AsRef<str>>(v: &Verdict, only: &[S]) {
    assert!(!v.success, "{}", v.out);
    let only: Vec<&str> = only.iter().map(AsRef::as_ref).collect();
    assert_eq!(v.failed, set(&only), "{}", v.out);
    // The failing line says how to fix it.
    for line in v.out.lines().filter(|l| l.contains(" FAIL ")) {
        assert!(line.contains(" — fix: "), "{line}");
    }
}

const NOT_AZURE: [&str; 6] = [
    "aws",
    "gcp",
    "vault",
    "kubernetes",
    "snowflake",
    "databricks",
];

#[test]
fn verify_for_every_target() {
    let keys = Keys::load();
    let si = StandIn::start(keys.jwks());
    let iss = si.url.as_str();
    let aws_aud = "sts.amazonaws.com";

    // Passing tokens: RS256 for everyone but Entra's audience; Entra's token for Entra.
    let good = mint(&keys.rsa, true, &claims(iss, json!(aws_aud)));
    let v = verify_for(iss, &good, &[aws_aud], &NOT_AZURE);
    assert!(v.success, "{}", v.out);
    // Local mode (http on loopback): the https rules warn instead of failing; Vault has none.
    assert_eq!(
        v.warned,
        set(&[
            "aws/aws-issuer",
            "gcp/https-issuer",
            "kubernetes/https-issuer",
            "snowflake/https-issuer",
            "databricks/https-issuer"
        ]),
        "{}",
        v.out
    );
    let entra = mint(&keys.rsa, true, &claims(iss, json!(ENTRA)));
    let v = verify_for(iss, &entra, &[ENTRA], &["azure", "aws"]);
    assert!(v.success, "{}", v.out);

    // ES256: Entra refuses it (azure-alg only), AWS takes it.
    let es256 = mint(&keys.p256, true, &claims(iss, json!(ENTRA)));
    expect_fail(
        &verify_for(iss, &es256, &[ENTRA], &["azure", "aws"]),
        &["azure/azure-alg"],
    );
    // ES384 (P-384 key): GCP refuses it (gcp-alg only), AWS takes it.
    let es384 = mint(&keys.p384, true, &claims(iss, json!(aws_aud)));
    expect_fail(
        &verify_for(iss, &es384, &[aws_aud], &["gcp", "aws"]),
        &["gcp/gcp-alg"],
    );
    // EdDSA: Kubernetes lists RFC 7518 algorithms only; Vault takes it.
    let ed = mint(&keys.ed, true, &claims(iss, json!(aws_aud)));
    expect_fail(
        &verify_for(iss, &ed, &[aws_aud], &["kubernetes", "vault"]),
        &["kubernetes/kubernetes-alg"],
    );

    // AWS: two audiences without azp; the same with azp = the registered one passes.
    let mut c = claims(iss, json!([aws_aud, "api://other"]));
    expect_fail(
        &verify_for(iss, &mint(&keys.rsa, true, &c), &[aws_aud], &["aws"]),
        &["aws/aws-azp"],
    );
    c["azp"] = json!(aws_aud);
    assert!(verify_for(iss, &mint(&keys.rsa, true, &c), &[aws_aud], &["aws"]).success);
    // AWS: a fractional timestamp.
    let mut c = claims(iss, json!(aws_aud));
    c["iat"] = json!(now() as f64 - 4.5);
    expect_fail(
        &verify_for(iss, &mint(&keys.rsa, true, &c), &[aws_aud], &["aws"]),
        &["aws/aws-claims"],
    );
    // AWS and GCP: no kid while the JWKS holds several keys.
    expect_fail(
        &verify_for(
            iss,
            &mint(&keys.rsa, false, &claims(iss, json!(aws_aud))),
            &[aws_aud],
            &["aws", "gcp"],
        ),
        &["aws/aws-kid", "gcp/gcp-kid"],
    );
    // AWS: over 20000 characters.
    let mut c = claims(iss, json!(aws_aud));
    c["pad"] = json!("x".repeat(15_000));
    expect_fail(
        &verify_for(iss, &mint(&keys.rsa, true, &c), &[aws_aud], &["aws"]),
        &["aws/aws-token-size"],
    );
    // AWS: session tags not in AWS's shape.
    let mut c = claims(iss, json!(aws_aud));
    c["https://aws.amazon.com/tags"] = json!({"principal_tags": {"team": "blue"}});
    expect_fail(
        &verify_for(iss, &mint(&keys.rsa, true, &c), &[aws_aud], &["aws"]),
        &["aws/aws-session-tags"],
    );
    // GCP: 48 h of lifetime; too many allowed audiences.
    let mut c = claims(iss, json!(aws_aud));
    c["exp"] = json!(c["iat"].as_u64().unwrap() + 48 * 3600);
    expect_fail(
        &verify_for(iss, &mint(&keys.rsa, true, &c), &[aws_aud], &["gcp"]),
        &["gcp/gcp-lifetime"],
    );
    let many: Vec<String> = (0..10).map(|i| format!("api://a{i}")).collect();
    let mut auds: Vec<&str> = many.iter().map(String::as_str).collect();
    auds.push(aws_aud);
    expect_fail(
        &verify_for(iss, &good, &auds, &["gcp"]),
        &["gcp/gcp-audiences"],
    );
    // Subjects: 128 bytes (GCP), 256 characters (OIDC, Snowflake), 601 (Entra).
    let sub = |n: usize, aud: &str| {
        let mut c = claims(iss, json!(aud));
        c["sub"] = json!("s".repeat(n));
        mint(&keys.rsa, true, &c)
    };
    expect_fail(
        &verify_for(iss, &sub(128, aws_aud), &[aws_aud], &["gcp", "aws"]),
        &["gcp/gcp-subject"],
    );
    expect_fail(
        &verify_for(
            iss,
            &sub(256, aws_aud),
            &[aws_aud],
            &["snowflake", "vault", "kubernetes", "databricks", "aws"],
        ),
        &[
            "snowflake/snowflake-subject",
            "vault/oidc-subject",
            "kubernetes/oidc-subject",
            "databricks/oidc-subject",
            "aws/oidc-subject",
        ],
    );
    expect_fail(
        &verify_for(iss, &sub(601, ENTRA), &[ENTRA], &["azure"]),
        &["azure/azure-lengths"],
    );
    // Entra: the default AWS audience.
    expect_fail(
        &verify_for(iss, &good, &[aws_aud], &["azure"]),
        &["azure/azure-audience"],
    );
    // US Gov cloud: its own audience.
    let gov = mint(
        &keys.rsa,
        true,
        &claims(iss, json!("api://AzureADTokenExchangeUSGov")),
    );
    let mut c = iamjwt(&[
        "verify",
        &gov,
        "--issuer",
        iss,
        "--aud",
        "api://AzureADTokenExchangeUSGov",
        "--for",
        "azure",
    ]);
    c.args(["--cloud", "usgov"]);
    ok(run(c));

    // Issuer-side rules: the stand-in publishes something wrong next to the good keys.
    let with_extra = |extra: Value| {
        let mut j = keys.jwks();
        j["keys"].as_array_mut().unwrap().push(extra);
        j
    };
    let short_x = {
        let mut k = keys.p256.jwk.clone();
        k["kid"] = json!("short-x");
        k["x"] = json!(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode([1u8; 31]));
        k
    };
    si.set(discovery(iss), with_extra(short_x));
    expect_fail(
        &verify_for(iss, &good, &[aws_aud], &NOT_AZURE),
        &every(&NOT_AZURE, "jwk-ec-coordinates"),
    );
    let zero_n = {
        let mut k = keys.rsa.jwk.clone();
        k["kid"] = json!("zero-n");
        let mut n = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(k["n"].as_str().unwrap())
            .unwrap();
        n.insert(0, 0);
        k["n"] = json!(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(n));
        k
    };
    si.set(discovery(iss), with_extra(zero_n));
    expect_fail(
        &verify_for(iss, &good, &[aws_aud], &NOT_AZURE),
        &every(&NOT_AZURE, "jwk-rsa-modulus"),
    );
    let enc = {
        let mut k = keys.p256.jwk.clone();
        k["kid"] = json!("enc");
        k["use"] = json!("enc");
        k
    };
    si.set(discovery(iss), with_extra(enc));
    expect_fail(
        &verify_for(iss, &good, &[aws_aud], &NOT_AZURE),
        &["aws/aws-jwk-use"],
    );
    let mut hundred = keys.jwks();
    for i in 0..100 {
        let mut k = keys.p256.jwk.clone();
        k["kid"] = json!(format!("copy-{i}"));
        hundred["keys"].as_array_mut().unwrap().push(k);
    }
    si.set(discovery(iss), hundred);
    expect_fail(
        &verify_for(iss, &good, &[aws_aud], &NOT_AZURE),
        &["aws/aws-jwks-size"],
    );
    let mut d = discovery(iss);
    d.as_object_mut().unwrap().remove("subject_types_supported");
    si.set(d, keys.jwks());
    expect_fail(
        &verify_for(iss, &good, &[aws_aud], &NOT_AZURE),
        &every(&NOT_AZURE, "discovery"),
    );
}

/// `target/rule` for each target.
fn every(targets: &[&str], rule: &str) -> Vec<String> {
    targets.iter().map(|t| format!("{t}/{rule}")).collect()
}

fn python(script: &str, args: &[&str], stdin: &str) -> Value {
    let mut c = clean(Command::new(venv_bin("python")));
    c.arg(root().join("tests/interop").join(script))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = c.spawn().unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    let o = child.wait_with_output().unwrap();
    serde_json::from_str(&ok(o)).unwrap()
}

fn trust(target: &str, issuer: &str, extra: &[&str]) -> (String, String) {
    let mut c = iamjwt(&[
        "trust",
        target,
        "--issuer",
        issuer,
        "--principal",
        ROLE_SESSION,
    ]);
    c.args(extra);
    let o = run(c);
    let err = stderr(&o);
    (ok(o), err)
}

/// The value after `--flag=` or `--flag` in an argv.
fn flag<'a>(argv: &'a [Value], name: &str) -> &'a str {
    argv.iter()
        .enumerate()
        .find_map(|(i, a)| {
            let a = a.as_str()?;
            if a == name {
                argv.get(i + 1)?.as_str()
            } else {
                a.strip_prefix(&format!("{name}="))
            }
        })
        .unwrap_or_else(|| panic!("{name} not in {argv:?}"))
}

fn command<'a>(cmds: &'a Value, prefix: &[&str]) -> &'a [Value] {
    cmds["commands"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_array().unwrap().as_slice())
        .find(|c| c.len() >= prefix.len() && c.iter().zip(prefix).all(|(a, p)| a == p))
        .unwrap_or_else(|| panic!("no {prefix:?} in {cmds}"))
}

#[test]
fn trust_output_for_every_target() {
    let keys = Keys::load();
    let si = StandIn::start(keys.jwks());
    let iss = si.url.as_str();
    let aud = "api://iamjwt-test";

    // AWS: JSON is exactly {oidc_provider, trust_policy}, valid for botocore; the text's JSON arguments too.
    let (out, err) = trust(
        "aws",
        iss,
        &["--aud", aud, "--output", "json", "--name", "ci-role"],
    );
    assert!(
        err.contains("warning:") && err.contains("aws-issuer") && err.contains("loopback"),
        "{err}"
    );
    let doc = python("trust_shapes.py", &["aws-json"], &out);
    let hp = iss.trim_start_matches("http://");
    assert_eq!(
        doc["oidc_provider"],
        json!({"Url": iss, "ClientIDList": [aud]})
    );
    let st = &doc["trust_policy"]["Statement"][0];
    assert_eq!(
        st["Principal"]["Federated"],
        json!(format!("arn:aws:iam::111122223333:oidc-provider/{hp}"))
    );
    assert_eq!(st["Action"], json!(["sts:AssumeRoleWithWebIdentity"]));
    assert_eq!(
        st["Condition"]["StringEquals"],
        json!({format!("{hp}:aud"): aud, format!("{hp}:sub"): ROLE})
    );
    let (text, _) = trust(
        "aws",
        iss,
        &[
            "--aud",
            aud,
            "--name",
            "ci-role",
            "--session-tags",
            "--tag-key",
            "team",
            "--tag-key",
            "cost-*",
            "--account",
            "444455556666",
        ],
    );
    let cli = python("trust_shapes.py", &["aws-cli"], &text);
    assert_eq!(cli["role_name"], "ci-role");
    assert_eq!(cli["oidc_provider"], doc["oidc_provider"]);
    let st = &cli["trust_policy"]["Statement"][0];
    assert_eq!(
        st["Action"],
        json!(["sts:AssumeRoleWithWebIdentity", "sts:TagSession"])
    );
    // sts:TagSession only for the keys the issuer's rule selects (a glob makes it StringLike).
    assert_eq!(
        st["Condition"]["ForAllValues:StringLike"],
        json!({"aws:TagKeys": ["team", "cost-*"]})
    );
    let (out, _) = trust(
        "aws",
        iss,
        &["--output", "json", "--session-tags", "--tag-key", "team"],
    );
    let j: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        j["trust_policy"]["Statement"][0]["Condition"]["ForAllValues:StringEquals"],
        json!({"aws:TagKeys": ["team"]})
    );
    // --session-tags without the keys would allow any tag: refused, one line naming the fix.
    let o = run(iamjwt(&[
        "trust",
        "aws",
        "--issuer",
        iss,
        "--principal",
        ROLE_SESSION,
        "--session-tags",
    ]));
    assert!(!o.status.success() && stdout(&o).is_empty());
    assert_eq!(stderr(&o).lines().count(), 1, "{}", stderr(&o));
    assert!(stderr(&o).contains("--tag-key"), "{}", stderr(&o));
    assert_eq!(
        st["Principal"]["Federated"],
        json!(format!("arn:aws:iam::444455556666:oidc-provider/{hp}"))
    );

    // GCP: the gcloud flags, field by field, through a shell lexer.
    let (text, _) = trust("gcp", iss, &["--aud", aud, "--name", "pool-a"]);
    let cmds = python("trust_shapes.py", &["text"], &text);
    let g = command(
        &cmds,
        &[
            "gcloud",
            "iam",
            "workload-identity-pools",
            "providers",
            "create-oidc",
        ],
    );
    assert_eq!(g[5], "pool-a");
    assert_eq!(flag(g, "--location"), "global");
    assert_eq!(flag(g, "--workload-identity-pool"), "pool-a");
    assert_eq!(flag(g, "--issuer-uri"), iss);
    assert_eq!(flag(g, "--allowed-audiences"), aud);
    assert_eq!(
        flag(g, "--attribute-mapping"),
        "google.subject=assertion.sub,attribute.aws_account=assertion.aws.account,attribute.aws_principal_type=assertion.aws.principal_type"
    );
    assert_eq!(
        flag(g, "--attribute-condition"),
        format!("assertion.sub == \"{ROLE}\"")
    );
    let (out, _) = trust(
        "gcp",
        iss,
        &["--aud", aud, "--name", "pool-a", "--output", "json"],
    );
    let j: Value = serde_json::from_str(&out).unwrap();
    let p = &j["workload_identity_pool_provider"];
    assert_eq!(
        p["oidc"],
        json!({"issuerUri": iss, "allowedAudiences": [aud]})
    );
    assert_eq!(p["attributeMapping"]["google.subject"], "assertion.sub");
    assert_eq!(
        p["attributeCondition"],
        json!(format!("assertion.sub == \"{ROLE}\""))
    );
    assert!(
        j["principal"]
            .as_str()
            .unwrap()
            .ends_with(&format!("/workloadIdentityPools/pool-a/subject/{ROLE}"))
    );
    // GCP without --aud: refused with the fix.
    let mut c = iamjwt(&["trust", "gcp", "--issuer", iss, "--sub", ROLE]);
    c.stdin(Stdio::null());
    let o = run(c);
    assert!(
        !o.status.success() && stderr(&o).contains("--aud is required for gcp"),
        "{}",
        stderr(&o)
    );

    // Entra: the --parameters JSON; the audience is Entra's; RS256 must be requested.
    let (text, err) = trust("azure", iss, &["--name", "ci-cred"]);
    assert!(
        err.contains("azure-alg") && err.contains("--alg RS256"),
        "{err}"
    );
    let cmds = python("trust_shapes.py", &["text"], &text);
    let a = command(
        &cmds,
        &["az", "ad", "app", "federated-credential", "create"],
    );
    let params: Value = serde_json::from_str(flag(a, "--parameters")).unwrap();
    assert_eq!(params["issuer"], iss);
    assert_eq!(params["subject"], ROLE);
    assert_eq!(params["audiences"], json!([ENTRA]));
    assert_eq!(params["name"], "ci-cred");
    let (out, _) = trust("azure", iss, &["--cloud", "china", "--output", "json"]);
    let j: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        j["federated_credential"]["audiences"],
        json!(["api://AzureADTokenExchangeChina"])
    );
    let o = run({
        let mut c = iamjwt(&[
            "trust",
            "azure",
            "--issuer",
            iss,
            "--sub",
            ROLE,
            "--aud",
            "api://other",
        ]);
        c.stdin(Stdio::null());
        c
    });
    assert!(!o.status.success());

    // Vault: key=value words of both writes.
    let (text, err) = trust("vault", iss, &["--aud", aud, "--name", "ci"]);
    assert!(err.contains("local mode"), "{err}");
    let cmds = python("trust_shapes.py", &["text"], &text);
    let kv = |argv: &[Value]| -> std::collections::BTreeMap<String, String> {
        argv.iter()
            .filter_map(|a| a.as_str()?.split_once('='))
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect()
    };
    let config = kv(command(&cmds, &["vault", "write", "auth/jwt/config"]));
    assert_eq!(config["oidc_discovery_url"], iss);
    assert_eq!(config["bound_issuer"], iss);
    let role = kv(command(&cmds, &["vault", "write", "auth/jwt/role/ci"]));
    assert_eq!(role["bound_subject"], ROLE);
    assert_eq!(role["bound_audiences"], aud);
    assert_eq!(role["user_claim"], "sub");
    assert_eq!(role["role_type"], "jwt");
    let (out, _) = trust("vault", iss, &["--aud", aud, "--output", "json"]);
    let j: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(j["config"]["oidc_discovery_url"], iss);
    assert_eq!(j["role"]["bound_audiences"], json!([aud]));

    // Kubernetes: YAML parsed by PyYAML into an AuthenticationConfiguration.
    let (text, _) = trust("kubernetes", iss, &["--aud", aud]);
    let y = python("trust_shapes.py", &["yaml"], &text);
    assert_eq!(y["kind"], "AuthenticationConfiguration");
    assert!(
        y["apiVersion"]
            .as_str()
            .unwrap()
            .starts_with("apiserver.config.k8s.io/")
    );
    let jwt = &y["jwt"][0];
    assert_eq!(jwt["issuer"], json!({"url": iss, "audiences": [aud]}));
    assert_eq!(jwt["claimMappings"]["username"]["claim"], "sub");
    assert_eq!(
        jwt["claimValidationRules"][0]["expression"],
        json!(format!("claims.sub == \"{ROLE}\""))
    );
    let (out, _) = trust("kubernetes", iss, &["--aud", aud, "--output", "json"]);
    let j: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(j["authentication_configuration"], y);

    // Snowflake: the SQL, clause by clause; default audience.
    let (text, _) = trust("snowflake", iss, &["--name", "CI_USER"]);
    let sql: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.starts_with("--"))
        .collect();
    assert_eq!(
        sql,
        [
            "ALTER USER CI_USER ADD WORKLOAD IDENTITY iamjwt",
            "TYPE = OIDC",
            &format!("ISSUER = '{iss}'"),
            &format!("SUBJECT = '{ROLE}'"),
            "OIDC_AUDIENCE_LIST = ('snowflakecomputing.com');",
        ]
    );
    let (out, _) = trust(
        "snowflake",
        iss,
        &["--name", "CI_USER", "--aud", aud, "--output", "json"],
    );
    let j: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(j["workload_identity"]["oidc_audience_list"], json!([aud]));
    assert_eq!(j["workload_identity"]["subject"], ROLE);

    // Databricks: the --json body of the CLI call.
    let (text, _) = trust("databricks", iss, &["--aud", aud, "--name", "ci-policy"]);
    let cmds = python("trust_shapes.py", &["text"], &text);
    let d = command(
        &cmds,
        &[
            "databricks",
            "account",
            "service-principal-federation-policy",
            "create",
        ],
    );
    assert_eq!(flag(d, "--policy-id"), "ci-policy");
    let body: Value = serde_json::from_str(flag(d, "--json")).unwrap();
    assert_eq!(
        body,
        json!({"oidc_policy": {"issuer": iss, "audiences": [aud], "subject_claim": "sub", "subject": ROLE}})
    );
    let (out, _) = trust("databricks", iss, &["--aud", aud, "--output", "json"]);
    let j: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(j["federation_policy"], body);

    // A sub GCP cannot map: a warning before the output.
    let long = "s".repeat(200);
    let o = run(iamjwt(&[
        "trust", "gcp", "--issuer", iss, "--sub", &long, "--aud", aud,
    ]));
    assert!(stderr(&o).contains("gcp-subject"), "{}", stderr(&o));

    // An issuer the verifier would not accept: trust refuses and prints nothing.
    let mut d = discovery(iss);
    d["issuer"] = json!(format!("{iss}/other"));
    si.set(d, keys.jwks());
    let o = run(iamjwt(&[
        "trust",
        "aws",
        "--issuer",
        iss,
        "--principal",
        ROLE_SESSION,
    ]));
    assert!(!o.status.success() && stdout(&o).is_empty());
    assert!(stderr(&o).contains("discovery"), "{}", stderr(&o));
    let mut j = keys.jwks();
    j["keys"]
        .as_array_mut()
        .unwrap()
        .push(json!({"kty": "EC", "kid": "bad", "crv": "P-256", "x": "AQ", "y": "AQ"}));
    si.set(discovery(iss), j);
    let o = run(iamjwt(&[
        "trust", "vault", "--issuer", iss, "--sub", ROLE, "--aud", aud,
    ]));
    assert!(
        !o.status.success() && stderr(&o).contains("jwk-ec-coordinates"),
        "{}",
        stderr(&o)
    );
}

/// Issue 19 §5: hostile values — every character an IAM path may hold that a shell, SQL or YAML reader treats
/// specially, and names that would end a shell word — read back by each target's own parser
/// (`trust_shapes.py values`: shlex, PyYAML, a Snowflake string-constant lexer) exactly as they were given.
#[test]
fn trust_output_round_trips_hostile_values() {
    let keys = Keys::load();
    let si = StandIn::start(keys.jwks());
    let iss = si.url.as_str();
    let user = r#"arn:aws:iam::111122223333:user/o'b\r"i$`e{n}#:/;|&<>(x)*?[!]~^%@=+,\/deploy"#;
    let aud = r#"api://a'b"c\d$(e)`f#g{h}:i;j|k&l<m>n*o?p[q]r~s^t%u@v=w+x\"#;
    let name = r"ci; touch /tmp/iamjwt-pwned #'\";
    for target in [
        "aws",
        "gcp",
        "azure",
        "vault",
        "kubernetes",
        "snowflake",
        "databricks",
    ] {
        let (want_aud, want_name) = match target {
            "aws" => (aud, Some("ci-role")),
            "azure" => (ENTRA, Some(name)),
            "snowflake" => (aud, Some("CI_USER")),
            "kubernetes" => (aud, None),
            _ => (aud, Some(name)),
        };
        let mut args = vec!["--name", want_name.unwrap_or(name)];
        if target != "azure" {
            args.extend(["--aud", aud]);
        }
        let c = {
            let mut c = iamjwt(&["trust", target, "--issuer", iss, "--principal", user]);
            c.args(&args);
            c
        };
        let text = ok(run(c));
        let v = python("trust_shapes.py", &["values", target], &text);
        assert_eq!(v["sub"], user, "{target}: {text}");
        assert_eq!(v["aud"], want_aud, "{target}: {text}");
        assert_eq!(v["issuer"], iss, "{target}: {text}");
        if let Some(n) = want_name {
            assert_eq!(v["name"], n, "{target}: {text}");
        }
    }
}

/// Issue 23 §5: a role ARN is what administrators hold, and exactly the `sub` of its assumed-role sessions.
#[test]
fn trust_accepts_a_role_arn() {
    let keys = Keys::load();
    let si = StandIn::start(keys.jwks());
    let iss = si.url.as_str();
    let (out, _) = trust("vault", iss, &["--aud", "vault", "--output", "json"]);
    let from_session: Value = serde_json::from_str(&out).unwrap();
    let o = run(iamjwt(&[
        "trust",
        "vault",
        "--issuer",
        iss,
        "--principal",
        ROLE,
        "--aud",
        "vault",
        "--output",
        "json",
    ]));
    let from_role: Value = serde_json::from_str(&ok(o)).unwrap();
    assert_eq!(from_role, from_session);
    assert_eq!(from_role["role"]["bound_subject"], ROLE);
    // A role path is not part of an assumed-role ARN, so not of `sub`: the output names the role without it,
    // and a note says so.
    let o = run(iamjwt(&[
        "trust",
        "aws",
        "--issuer",
        iss,
        "--principal",
        "arn:aws:iam::111122223333:role/team/ci-deploy",
        "--output",
        "json",
    ]));
    let err = stderr(&o);
    let j: Value = serde_json::from_str(&ok(o)).unwrap();
    let hp = iss.trim_start_matches("http://");
    assert_eq!(
        j["trust_policy"]["Statement"][0]["Condition"]["StringEquals"][format!("{hp}:sub")],
        ROLE
    );
    assert!(err.contains("role path /team/"), "{err}");
    // A user whose path holds ":role/" stays a user (its ARN is its sub), never read as a role.
    let user = "arn:aws:iam::111122223333:user/x:role/ci-deploy";
    let o = run(iamjwt(&[
        "trust",
        "vault",
        "--issuer",
        iss,
        "--principal",
        user,
        "--aud",
        "vault",
        "--output",
        "json",
    ]));
    let j: Value = serde_json::from_str(&ok(o)).unwrap();
    assert_eq!(j["role"]["bound_subject"], user);
}

/// Issue 23 §8: `verify` names both audiences on a mismatch and says "empty token" for an empty one; one line
/// each, no Rust Debug text.
#[test]
fn verify_errors_name_the_cause() {
    let keys = Keys::load();
    let si = StandIn::start(keys.jwks());
    let iss = si.url.as_str();
    let token = mint(&keys.rsa, true, &claims(iss, json!("sts.amazonaws.com")));
    let one_line = |o: &std::process::Output| {
        assert!(!o.status.success());
        let err = stderr(o);
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(
            !err.contains("InvalidAudience")
                && !err.contains("InvalidToken")
                && !err.contains("Some("),
            "{err}"
        );
        err
    };
    let err = one_line(&run(iamjwt(&[
        "verify",
        &token,
        "--issuer",
        iss,
        "--aud",
        "someone-else",
    ])));
    assert!(
        err.contains("sts.amazonaws.com") && err.contains("someone-else"),
        "{err}"
    );
    let err = one_line(&run(iamjwt(&["verify", "", "--issuer", iss, "--aud", "x"])));
    assert!(err.contains("empty token"), "{err}");
    let mut c = iamjwt(&["verify", "-", "--issuer", iss, "--aud", "x"]);
    c.stdin(Stdio::null());
    let err = one_line(&run(c));
    assert!(err.contains("empty token"), "{err}");
}
