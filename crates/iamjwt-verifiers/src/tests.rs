//! The rule table, exhaustively: a good token passes every target; each mutation fails exactly the rules named.

use super::*;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use iamjwt_core::UnixTime;
use serde_json::{Value, json};
use std::collections::BTreeSet;

const NOW: u64 = 1_700_000_000;
const ISSUER: &str = "https://issuer.example.com";
const ROLE: &str = "arn:aws:iam::111122223333:role/ci";

fn b64(n: usize, first: u8) -> String {
    let mut v = vec![0x42u8; n];
    if let Some(b) = v.first_mut() {
        *b = first;
    }
    URL_SAFE_NO_PAD.encode(v)
}

fn rsa_key(kid: &str) -> Value {
    json!({"kty": "RSA", "kid": kid, "use": "sig", "alg": "RS256", "n": b64(256, 0xc1), "e": "AQAB"})
}

fn ec_key(kid: &str) -> Value {
    json!({"kty": "EC", "kid": kid, "use": "sig", "alg": "ES256", "crv": "P-256", "x": b64(32, 0), "y": b64(32, 7)})
}

fn discovery_doc(issuer: &str) -> Value {
    json!({
        "issuer": issuer,
        "jwks_uri": format!("{issuer}/.well-known/jwks.json"),
        "response_types_supported": ["id_token"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256", "ES256"],
    })
}

/// Everything a rule sees, as owned values a test can mutate.
#[derive(Clone)]
struct Case {
    issuer: String,
    discovery: Value,
    jwks: Vec<Value>,
    alg: String,
    kid: Option<String>,
    claims: Value,
    compact_len: usize,
    signature_len: usize,
    accepted: Vec<String>,
    cloud: AzureCloud,
}

impl Case {
    /// A token every target accepts (Entra needs its own audience).
    fn good(target: Target) -> Self {
        let aud = if target == Target::Azure {
            "api://AzureADTokenExchange"
        } else {
            "sts.amazonaws.com"
        };
        Self {
            issuer: ISSUER.into(),
            discovery: discovery_doc(ISSUER),
            jwks: vec![rsa_key("r1"), ec_key("e1")],
            alg: "RS256".into(),
            kid: Some("r1".into()),
            claims: json!({"iss": ISSUER, "sub": ROLE, "aud": aud, "iat": NOW - 10, "nbf": NOW - 40,
                           "exp": NOW + 890, "jti": "j", "aws": {"account": "111122223333"}}),
            compact_len: 900,
            signature_len: 256,
            accepted: vec![aud.into()],
            cloud: AzureCloud::Public,
        }
    }

    fn set_issuer(&mut self, issuer: &str) {
        self.issuer = issuer.into();
        self.discovery = discovery_doc(issuer);
        self.claims["iss"] = json!(issuer);
    }

    fn outcomes(&self, target: Target) -> Vec<Outcome> {
        let issuer = IssuerFacts::new(
            &self.issuer,
            self.discovery.clone(),
            &json!({"keys": self.jwks}),
        );
        let token = TokenFacts {
            alg: self.alg.clone(),
            kid: self.kid.clone(),
            claims: self.claims.clone(),
            compact_len: self.compact_len,
            signature_len: self.signature_len,
        };
        evaluate(
            target,
            &Context {
                issuer: &issuer,
                subject: Subject::Token(&token),
                accepted_audiences: &self.accepted,
                now: UnixTime(NOW),
                leeway: 60,
                azure_cloud: self.cloud,
            },
        )
    }

    fn with(target: Target, f: impl Fn(&mut Case)) -> Self {
        let mut c = Self::good(target);
        f(&mut c);
        c
    }
}

fn with_status(outcomes: &[Outcome], status: Status) -> BTreeSet<&'static str> {
    outcomes
        .iter()
        .filter(|o| o.status == status)
        .map(|o| o.rule)
        .collect()
}

/// `failing` maps each target to the exact set of rules that must fail (absent target: none).
#[track_caller]
fn check(name: &str, f: impl Fn(&mut Case), failing: &[(Target, &[&str])]) {
    for target in Target::ALL {
        let c = Case::with(target, &f);
        let outcomes = c.outcomes(target);
        let want: BTreeSet<&str> = failing
            .iter()
            .find(|(t, _)| *t == target)
            .map(|(_, r)| r.iter().copied().collect())
            .unwrap_or_default();
        assert_eq!(
            with_status(&outcomes, Status::Fail),
            want,
            "{name} for {target}: {outcomes:#?}"
        );
    }
}

use Target::{Aws, Azure, Databricks, Gcp, Kubernetes, Snowflake, Vault};

#[test]
fn good_token_passes_every_rule_of_every_target() {
    for target in Target::ALL {
        let outcomes = Case::good(target).outcomes(target);
        assert!(!outcomes.is_empty());
        for o in &outcomes {
            assert_eq!(o.status, Status::Ok, "{target}: {o:?}");
        }
        // Every rule of the target was judged (a real token skips nothing).
        assert_eq!(outcomes.len(), rules_for(target).count(), "{target}");
    }
}

#[test]
fn every_rule_belongs_to_a_target_and_ids_are_unique() {
    let rules = rules();
    let ids: BTreeSet<&str> = rules.iter().map(|r| r.id).collect();
    assert_eq!(ids.len(), rules.len());
    for r in rules {
        assert!(!r.targets().is_empty(), "{}", r.id);
        assert!(!r.fix.is_empty(), "{}", r.id);
    }
}

#[test]
fn target_names_round_trip() {
    for t in Target::ALL {
        assert_eq!(t.as_str().parse::<Target>().unwrap(), t);
    }
    assert!("AWS".parse::<Target>().is_err());
    for c in AzureCloud::ALL {
        assert_eq!(c.as_str().parse::<AzureCloud>().unwrap(), c);
    }
}

const ALL_TARGETS: [Target; 7] = Target::ALL;

fn everywhere(rule: &'static [&'static str]) -> Vec<(Target, &'static [&'static str])> {
    ALL_TARGETS.iter().map(|t| (*t, rule)).collect()
}

#[test]
fn discovery_rule() {
    check(
        "discovery without subject_types_supported",
        |c| {
            c.discovery
                .as_object_mut()
                .unwrap()
                .remove("subject_types_supported");
        },
        &everywhere(&["discovery"]),
    );
    check(
        "discovery issuer with a trailing slash",
        |c| c.discovery["issuer"] = json!(format!("{ISSUER}/")),
        &everywhere(&["discovery"]),
    );
    check(
        "discovery not an object",
        |c| c.discovery = json!([]),
        &everywhere(&["discovery"]),
    );
    // Without RS256 in the list: a warning (OIDC Discovery requires it; the verifiers here do not check).
    let c = Case::with(Aws, |c| {
        c.discovery["id_token_signing_alg_values_supported"] = json!(["ES256"]);
    });
    assert_eq!(
        with_status(&c.outcomes(Aws), Status::Warn),
        BTreeSet::from(["discovery"])
    );
}

#[test]
fn jwk_rules() {
    check(
        "EC x without its leading zero",
        |c| {
            c.jwks.push(
                json!({"kty": "EC", "kid": "e2", "crv": "P-256", "x": b64(31, 1), "y": b64(32, 1)}),
            )
        },
        &everywhere(&["jwk-ec-coordinates"]),
    );
    check(
        "P-384 key with P-256 coordinates",
        |c| {
            c.jwks.push(
                json!({"kty": "EC", "kid": "e3", "crv": "P-384", "x": b64(32, 1), "y": b64(32, 1)}),
            )
        },
        &everywhere(&["jwk-ec-coordinates"]),
    );
    check(
        "unknown curve",
        |c| {
            c.jwks.push(json!({"kty": "EC", "kid": "e4", "crv": "secp256k1", "x": b64(32, 1), "y": b64(32, 1)}))
        },
        &everywhere(&["jwk-ec-coordinates"]),
    );
    check(
        "RSA modulus with a leading zero",
        |c| {
            c.jwks
                .push(json!({"kty": "RSA", "kid": "r2", "n": b64(257, 0), "e": "AQAB"}))
        },
        &everywhere(&["jwk-rsa-modulus"]),
    );
    check(
        "RSA key without n",
        |c| c.jwks.push(json!({"kty": "RSA", "kid": "r3", "e": "AQAB"})),
        &everywhere(&["jwk-rsa-modulus"]),
    );
    // A P-384 key with 48-byte coordinates is fine.
    check(
        "P-384 key",
        |c| {
            c.jwks.push(
                json!({"kty": "EC", "kid": "e5", "crv": "P-384", "x": b64(48, 0), "y": b64(48, 0)}),
            )
        },
        &[],
    );
}

#[test]
fn signature_length_rule() {
    // A DER ES256 signature (70 bytes) fails everywhere; Entra also refuses ES256 itself.
    let mut failing = everywhere(&["signature-length"]);
    failing.retain(|(t, _)| *t != Azure);
    failing.push((Azure, &["signature-length", "azure-alg"]));
    check(
        "ES256 with a DER signature",
        |c| {
            c.alg = "ES256".into();
            c.kid = Some("e1".into());
            c.signature_len = 70;
        },
        &failing,
    );
    check(
        "ES384 with 64 bytes",
        |c| {
            c.alg = "ES384".into();
            c.signature_len = 64;
        },
        &[
            (Aws, &["signature-length"]),
            (Gcp, &["signature-length", "gcp-alg"]),
            (Azure, &["signature-length", "azure-alg"]),
            (Vault, &["signature-length"]),
            (Kubernetes, &["signature-length"]),
            (Snowflake, &["signature-length"]),
            (Databricks, &["signature-length"]),
        ],
    );
}

#[test]
fn algorithm_rules() {
    check(
        "ES256",
        |c| {
            c.alg = "ES256".into();
            c.signature_len = 64;
        },
        &[(Azure, &["azure-alg"])],
    );
    check(
        "ES384",
        |c| {
            c.alg = "ES384".into();
            c.signature_len = 96;
        },
        &[(Gcp, &["gcp-alg"]), (Azure, &["azure-alg"])],
    );
    check(
        "RS512",
        |c| c.alg = "RS512".into(),
        &[(Gcp, &["gcp-alg"]), (Azure, &["azure-alg"])],
    );
    check(
        "PS256",
        |c| c.alg = "PS256".into(),
        &[
            (Aws, &["aws-alg"]),
            (Gcp, &["gcp-alg"]),
            (Azure, &["azure-alg"]),
        ],
    );
    check(
        "EdDSA",
        |c| {
            c.alg = "EdDSA".into();
            c.signature_len = 64;
        },
        &[
            (Aws, &["aws-alg"]),
            (Gcp, &["gcp-alg"]),
            (Azure, &["azure-alg"]),
            (Kubernetes, &["kubernetes-alg"]),
        ],
    );
}

#[test]
fn issuer_form_rules() {
    check(
        "https issuer with a port",
        |c| c.set_issuer("https://issuer.example.com:8443"),
        &[(Aws, &["aws-issuer"])],
    );
    check(
        "http issuer off loopback",
        |c| c.set_issuer("http://issuer.example.com"),
        &[
            (Aws, &["aws-issuer"]),
            (Gcp, &["https-issuer"]),
            (Azure, &["https-issuer"]),
            (Kubernetes, &["https-issuer"]),
            (Snowflake, &["https-issuer"]),
            (Databricks, &["https-issuer"]),
        ],
    );
    check(
        "issuer with a query",
        |c| c.set_issuer("https://issuer.example.com/x?y=1"),
        &[
            (Aws, &["aws-issuer"]),
            (Gcp, &["https-issuer"]),
            (Azure, &["https-issuer"]),
            (Kubernetes, &["https-issuer"]),
            (Snowflake, &["https-issuer"]),
            (Databricks, &["https-issuer"]),
        ],
    );
    // Local mode: http on loopback (with a port) is a warning, never a failure.
    for issuer in [
        "http://127.0.0.1:8080",
        "http://localhost:9",
        "http://[::1]:80",
    ] {
        for target in Target::ALL {
            let c = Case::with(target, |c| c.set_issuer(issuer));
            let o = c.outcomes(target);
            assert!(
                with_status(&o, Status::Fail).is_empty(),
                "{issuer} {target}: {o:#?}"
            );
            let warned = with_status(&o, Status::Warn);
            let want: BTreeSet<&str> = match target {
                Aws => ["aws-issuer"].into(),
                Vault => BTreeSet::new(),
                _ => ["https-issuer"].into(),
            };
            assert_eq!(warned, want, "{issuer} {target}");
        }
    }
    // A path is fine; an https issuer on 127.0.0.1 is just https.
    check(
        "issuer with a path",
        |c| c.set_issuer("https://issuer.example.com/tenant/a"),
        &[],
    );
    assert!(!is_loopback_http("http://127.0.0.1.example.com"));
    assert!(!is_loopback_http("https://127.0.0.1"));
    assert!(is_loopback_http("http://127.0.0.2:1"));
}

#[test]
fn aws_claim_rules() {
    check(
        "fractional iat",
        |c| c.claims["iat"] = json!(1_699_999_990.5),
        &[(Aws, &["aws-claims"])],
    );
    check(
        "no exp",
        |c| {
            c.claims.as_object_mut().unwrap().remove("exp");
        },
        &[(Aws, &["aws-claims"]), (Gcp, &["gcp-lifetime"])],
    );
    check(
        "no iss",
        |c| {
            c.claims.as_object_mut().unwrap().remove("iss");
        },
        &[(Aws, &["aws-claims"])],
    );
}

#[test]
fn aws_azp_rule() {
    check(
        "two audiences without azp",
        |c| c.claims["aud"] = json!([c.accepted[0], "api://other"]),
        &[(Aws, &["aws-azp"]), (Azure, &["azure-audience"])],
    );
    check(
        "two audiences, azp not in the client ID list",
        |c| {
            c.claims["aud"] = json!(["api://other", c.accepted[0]]);
            c.claims["azp"] = json!("api://other");
        },
        &[(Aws, &["aws-azp"]), (Azure, &["azure-audience"])],
    );
    check(
        "an array of one audience without azp",
        |c| c.claims["aud"] = json!([c.accepted[0]]),
        &[(Aws, &["aws-azp"])],
    );
    check(
        "two audiences, azp = the registered one",
        |c| {
            c.claims["aud"] = json!([c.accepted[0], "api://other"]);
            c.claims["azp"] = json!(c.accepted[0]);
        },
        &[(Azure, &["azure-audience"])],
    );
}

#[test]
fn kid_rules() {
    check(
        "no kid, two keys",
        |c| c.kid = None,
        &[(Aws, &["aws-kid"]), (Gcp, &["gcp-kid"])],
    );
    check(
        "no kid, one key",
        |c| {
            c.kid = None;
            c.jwks.truncate(1);
        },
        &[(Gcp, &["gcp-kid"])],
    );
    check(
        "no kid, one signing key and one encryption key",
        |c| {
            c.kid = None;
            c.jwks[1]["use"] = json!("enc");
        },
        &[(Aws, &["aws-jwk-use"]), (Gcp, &["gcp-kid"])],
    );
    check(
        "a key for encryption",
        |c| c.jwks[1]["use"] = json!("enc"),
        &[(Aws, &["aws-jwk-use"])],
    );
}

#[test]
fn aws_size_rules() {
    check(
        "101 EC keys",
        |c| c.jwks.extend((0..100).map(|i| ec_key(&format!("x{i}")))),
        &[(Aws, &["aws-jwks-size"])],
    );
    check(
        "100 EC keys",
        |c| c.jwks.extend((0..99).map(|i| ec_key(&format!("x{i}")))),
        &[],
    );
    check(
        "101 RSA keys",
        |c| c.jwks.extend((0..100).map(|i| rsa_key(&format!("x{i}")))),
        &[(Aws, &["aws-jwks-size"])],
    );
    check(
        "20001 characters",
        |c| c.compact_len = 20_001,
        &[(Aws, &["aws-token-size"])],
    );
    check("20000 characters", |c| c.compact_len = 20_000, &[]);
}

#[test]
fn aws_session_tag_rule() {
    let tags = |c: &mut Case, v: Value| c.claims["https://aws.amazon.com/tags"] = v;
    check(
        "good tags",
        |c| {
            tags(
                c,
                json!({"principal_tags": {"team": ["blue"]}, "transitive_tag_keys": ["team"]}),
            )
        },
        &[],
    );
    let bad = [
        json!({"principal_tags": {"team": "blue"}}),
        json!({"principal_tags": {"team": ["blue", "red"]}}),
        json!({"principal_tags": {"team": ["x".repeat(257)]}}),
        json!({"principal_tags": {"k".repeat(129): ["v"]}}),
        json!({"principal_tags": {"team": ["blue"]}, "transitive_tag_keys": ["other"]}),
        json!({"principal_tags": {"team": ["blue"]}, "transitive_tag_keys": "team"}),
        json!({"principal_tags": (0..51).map(|i| (format!("k{i}"), json!(["v"]))).collect::<serde_json::Map<_, _>>()}),
        json!({"team": ["blue"]}),
    ];
    for v in bad {
        check(
            &format!("tags {v}"),
            |c| tags(c, v.clone()),
            &[(Aws, &["aws-session-tags"])],
        );
    }
}

#[test]
fn gcp_rules() {
    check(
        "48 h lifetime",
        |c| c.claims["exp"] = json!(NOW - 10 + 48 * 3600),
        &[(Gcp, &["gcp-lifetime"])],
    );
    check(
        "just under 48 h",
        |c| c.claims["exp"] = json!(NOW - 10 + 48 * 3600 - 1),
        &[],
    );
    check(
        "iat in the future",
        |c| c.claims["iat"] = json!(NOW + 120),
        &[(Gcp, &["gcp-lifetime"])],
    );
    check(
        "iat within the leeway",
        |c| c.claims["iat"] = json!(NOW + 30),
        &[],
    );
    check(
        "11 allowed audiences",
        |c| c.accepted.extend((0..10).map(|i| format!("a{i}"))),
        &[(Gcp, &["gcp-audiences"])],
    );
    check(
        "an allowed audience of 257 characters",
        |c| c.accepted.push("a".repeat(257)),
        &[(Gcp, &["gcp-audiences"])],
    );
}

#[test]
fn subject_rules() {
    check(
        "sub of 128 bytes",
        |c| c.claims["sub"] = json!("s".repeat(128)),
        &[(Gcp, &["gcp-subject"])],
    );
    check(
        "sub of 127 bytes",
        |c| c.claims["sub"] = json!("s".repeat(127)),
        &[],
    );
    check(
        "sub of 64 two-byte characters (128 bytes, 64 characters)",
        |c| c.claims["sub"] = json!("é".repeat(64)),
        &[
            (Gcp, &["gcp-subject"]),
            (Aws, &["oidc-subject"]),
            (Vault, &["oidc-subject"]),
            (Kubernetes, &["oidc-subject"]),
            (Databricks, &["oidc-subject"]),
        ],
    );
    check(
        "sub of 256 characters",
        |c| c.claims["sub"] = json!("s".repeat(256)),
        &[
            (Gcp, &["gcp-subject"]),
            (Aws, &["oidc-subject"]),
            (Vault, &["oidc-subject"]),
            (Kubernetes, &["oidc-subject"]),
            (Databricks, &["oidc-subject"]),
            (Snowflake, &["snowflake-subject"]),
        ],
    );
    check(
        "sub of 601 characters",
        |c| c.claims["sub"] = json!("s".repeat(601)),
        &[
            (Gcp, &["gcp-subject"]),
            (Aws, &["oidc-subject"]),
            (Vault, &["oidc-subject"]),
            (Kubernetes, &["oidc-subject"]),
            (Databricks, &["oidc-subject"]),
            (Snowflake, &["snowflake-subject"]),
            (Azure, &["azure-lengths"]),
        ],
    );
    check(
        "issuer of 601 characters",
        |c| c.set_issuer(&format!("https://issuer.example.com/{}", "p".repeat(574))),
        &[(Azure, &["azure-lengths"])],
    );
    check(
        "no sub",
        |c| {
            c.claims.as_object_mut().unwrap().remove("sub");
        },
        &[
            (Aws, &["aws-claims", "oidc-subject"]),
            (Gcp, &["gcp-subject"]),
            (Azure, &["azure-lengths"]),
            (Vault, &["oidc-subject"]),
            (Kubernetes, &["oidc-subject"]),
            (Databricks, &["oidc-subject"]),
            (Snowflake, &["snowflake-subject"]),
        ],
    );
}

#[test]
fn azure_audience_rule() {
    check(
        "Entra with the default AWS audience",
        |c| {
            c.claims["aud"] = json!("sts.amazonaws.com");
            c.accepted = vec!["sts.amazonaws.com".into()];
        },
        &[(Azure, &["azure-audience"])],
    );
    let c = Case::with(Azure, |c| c.cloud = AzureCloud::UsGov);
    assert_eq!(
        with_status(&c.outcomes(Azure), Status::Fail),
        BTreeSet::from(["azure-audience"])
    );
    let c = Case::with(Azure, |c| {
        c.cloud = AzureCloud::China;
        c.claims["aud"] = json!("api://AzureADTokenExchangeChina");
    });
    assert!(with_status(&c.outcomes(Azure), Status::Fail).is_empty());
}

/// `trust`'s view: the planned token (sub and audience known, algorithm one of discovery's).
fn planned(target: Target, sub: &str, aud: &str, algs: Value) -> Vec<Outcome> {
    let mut d = discovery_doc(ISSUER);
    d["id_token_signing_alg_values_supported"] = algs;
    let issuer = IssuerFacts::new(ISSUER, d, &json!({"keys": [rsa_key("r1"), ec_key("e1")]}));
    let token = PlannedToken {
        sub: sub.into(),
        aud: vec![aud.into()],
    };
    evaluate(
        target,
        &Context {
            issuer: &issuer,
            subject: Subject::Planned(&token),
            accepted_audiences: &[aud.to_owned()],
            now: UnixTime(NOW),
            leeway: 60,
            azure_cloud: AzureCloud::Public,
        },
    )
}

#[test]
fn planned_token_for_trust() {
    // Token-only facts are skipped, not guessed.
    let o = planned(Aws, ROLE, "sts.amazonaws.com", json!(["RS256", "ES256"]));
    let rules: BTreeSet<&str> = o.iter().map(|o| o.rule).collect();
    for skipped in [
        "aws-kid",
        "aws-claims",
        "aws-token-size",
        "signature-length",
    ] {
        assert!(!rules.contains(skipped), "{skipped}");
    }
    assert!(o.iter().all(|o| o.status == Status::Ok), "{o:#?}");

    // Entra: RS256 must be what the workload requests.
    let o = planned(
        Azure,
        ROLE,
        "api://AzureADTokenExchange",
        json!(["RS256", "ES256"]),
    );
    assert_eq!(with_status(&o, Status::Warn), BTreeSet::from(["azure-alg"]));
    let warn = o.iter().find(|o| o.rule == "azure-alg").unwrap();
    assert!(warn.detail.contains("--alg RS256"), "{warn:?}");
    let o = planned(Azure, ROLE, "api://AzureADTokenExchange", json!(["ES256"]));
    assert_eq!(with_status(&o, Status::Fail), BTreeSet::from(["azure-alg"]));

    // GCP: a sub that can exceed 127 bytes, and an algorithm GCP refuses.
    let o = planned(Gcp, &"s".repeat(200), "api://gcp", json!(["RS256"]));
    assert_eq!(
        with_status(&o, Status::Fail),
        BTreeSet::from(["gcp-subject"])
    );
    let o = planned(Gcp, ROLE, "api://gcp", json!(["RS256", "ES384"]));
    assert_eq!(with_status(&o, Status::Warn), BTreeSet::from(["gcp-alg"]));
    let o = planned(Gcp, ROLE, "api://gcp", json!(["RS256", "ES256"]));
    assert!(o.iter().all(|o| o.status == Status::Ok), "{o:#?}");
}

#[test]
fn token_facts_from_compact() {
    let enc = |v: Value| URL_SAFE_NO_PAD.encode(serde_json::to_vec(&v).unwrap());
    let token = format!(
        "{}.{}.{}",
        enc(json!({"alg": "ES384", "kid": "k"})),
        enc(json!({"sub": "s", "iat": 1.5})),
        URL_SAFE_NO_PAD.encode([1u8; 96])
    );
    let t = TokenFacts::from_compact(&token).unwrap();
    assert_eq!(t.alg, "ES384");
    assert_eq!(t.kid.as_deref(), Some("k"));
    assert_eq!(t.signature_len, 96);
    assert_eq!(t.compact_len, token.len());
    assert_eq!(t.claims["iat"], json!(1.5));
    for bad in [
        "a.b",
        "a.b.c.d",
        "!.e30.AA",
        &format!("{}.e30.AA", enc(json!({"typ": "JWT"}))),
    ] {
        assert!(TokenFacts::from_compact(bad).is_err(), "{bad}");
    }
}
