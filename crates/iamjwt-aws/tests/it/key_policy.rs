//! Only the token role can sign (issue 19 §3). moto stores key policies but does not enforce them, so the policy
//! every key ends up with is read back with `GetKeyPolicy` and judged by an evaluator written here, independently
//! of the code that writes the policy, after the AWS rules for key policies:
//! - an explicit `Deny` that applies wins; otherwise an `Allow` that applies allows; otherwise denied;
//! - a statement applies when its `Action` (or `NotAction`) covers the action, IAM wildcards included, and its
//!   `Principal` (or `NotPrincipal`) covers the caller;
//! - a principal naming the account (`arn:…:iam::<account>:root` or the bare account id) covers every principal of
//!   that account whose own IAM policies allow the action: that is how the default policy hands keys to IAM;
//! - conditions are read in the attacker's favour: an `Allow` with a condition applies, a `Deny` with one does not.

use crate::support::*;
use aws_sdk_kms::Client;
use aws_smithy_mocks::{RuleMode, mock, mock_client};
use iamjwt_aws::kms::KmsKeyStore;
use iamjwt_aws::testing::{ROTATE_ROLE, TOKEN_ROLE};
use iamjwt_core::ports::KeyStore as _;
use iamjwt_core::rotation::{Rotator, Step};
use iamjwt_core::{Algorithm, KeySlot, UnixTime};
use serde_json::Value;
use std::sync::{Arc, Mutex};

const PREFIX: &str = "alias/iamjwt-key-policy";
/// An administrator of the issuer's account whose IAM policy allows `kms:*` on `*`: the attacker.
const ADMIN: &str = "arn:aws:iam::123456789012:role/admin";
const ROOT: &str = "arn:aws:iam::123456789012:root";
/// A role of another account that allows itself `kms:*` on `*`.
const STRANGER: &str = "arn:aws:iam::444455556666:role/admin";

/// Who asks, and whether their own IAM policies allow every action.
#[derive(Clone, Copy)]
struct Caller {
    arn: &'static str,
    iam_allows_everything: bool,
}

fn account_of(arn: &str) -> &str {
    arn.split(':').nth(4).unwrap_or("")
}

/// IAM's wildcard match (`*` any run, `?` one character), case-insensitive as action names are.
fn wildcard(pattern: &str, value: &str) -> bool {
    fn go(p: &[u8], v: &[u8]) -> bool {
        match (p.first(), v.first()) {
            (None, None) => true,
            (Some(b'*'), _) => go(&p[1..], v) || (!v.is_empty() && go(p, &v[1..])),
            (Some(b'?'), Some(_)) => go(&p[1..], &v[1..]),
            (Some(a), Some(b)) if a.eq_ignore_ascii_case(b) => go(&p[1..], &v[1..]),
            _ => false,
        }
    }
    go(pattern.as_bytes(), value.as_bytes())
}

/// A string or a list of strings.
fn strings(v: &Value) -> Vec<&str> {
    match v {
        Value::String(s) => vec![s.as_str()],
        Value::Array(a) => a.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    }
}

fn covers_action(statement: &Value, action: &str) -> bool {
    if let Some(a) = statement.get("Action") {
        strings(a).iter().any(|p| wildcard(p, action))
    } else if let Some(a) = statement.get("NotAction") {
        !strings(a).iter().any(|p| wildcard(p, action))
    } else {
        false
    }
}

/// Whether one principal entry (`"*"`, an ARN, an account id) covers the caller.
fn covers_principal(entry: &str, caller: Caller) -> bool {
    let account = account_of(caller.arn);
    entry == "*"
        || entry == caller.arn
        || ((entry == account || entry == format!("arn:aws:iam::{account}:root"))
            && caller.iam_allows_everything)
}

fn principal_entries(p: &Value) -> Vec<&str> {
    match p {
        Value::String(s) => vec![s.as_str()],
        Value::Object(o) => o.get("AWS").map(strings).unwrap_or_default(),
        _ => Vec::new(),
    }
}

fn applies(statement: &Value, caller: Caller, action: &str) -> bool {
    let principal = if let Some(p) = statement.get("Principal") {
        principal_entries(p)
            .iter()
            .any(|e| covers_principal(e, caller))
    } else if let Some(p) = statement.get("NotPrincipal") {
        !principal_entries(p)
            .iter()
            .any(|e| covers_principal(e, caller))
    } else {
        false
    };
    principal && covers_action(statement, action)
}

/// The AWS rule for a key policy: explicit deny, else explicit allow, else implicit deny.
fn allowed(policy: &Value, caller: Caller, action: &str) -> bool {
    let statements: Vec<&Value> = match &policy["Statement"] {
        Value::Array(a) => a.iter().collect(),
        s @ Value::Object(_) => vec![s],
        _ => Vec::new(),
    };
    let effect = |s: &Value| s["Effect"].as_str().unwrap_or("").to_owned();
    let conditional = |s: &Value| s.get("Condition").is_some();
    if statements
        .iter()
        .any(|s| effect(s) == "Deny" && !conditional(s) && applies(s, caller, action))
    {
        return false;
    }
    statements
        .iter()
        .any(|s| effect(s) == "Allow" && applies(s, caller, action))
}

#[test]
fn the_evaluator_reads_the_default_policy_as_aws_does() {
    // KMS's default key policy: the account, so IAM, may do everything, Sign included.
    let default: Value = serde_json::json!({"Version": "2012-10-17", "Statement": [{
        "Sid": "Enable IAM User Permissions", "Effect": "Allow",
        "Principal": {"AWS": ROOT}, "Action": "kms:*", "Resource": "*"}]});
    let admin = Caller {
        arn: ADMIN,
        iam_allows_everything: true,
    };
    assert!(allowed(&default, admin, "kms:Sign"));
    assert!(!allowed(
        &default,
        Caller {
            arn: ADMIN,
            iam_allows_everything: false
        },
        "kms:Sign"
    ));
    assert!(!allowed(
        &default,
        Caller {
            arn: STRANGER,
            iam_allows_everything: true
        },
        "kms:Sign"
    ));
    let mut denied = default.clone();
    denied["Statement"].as_array_mut().unwrap().push(
        serde_json::json!({"Effect": "Deny", "Principal": "*", "NotAction": "kms:Describe*"}),
    );
    assert!(!allowed(&denied, admin, "kms:Sign"));
    assert!(allowed(&denied, admin, "kms:DescribeKey"));
    assert!(wildcard("kms:Get*", "kms:GetPublicKey") && !wildcard("kms:Get*", "kms:Sign"));
}

/// The key in each slot of each algorithm (PutKeyPolicy and GetKeyPolicy take a key id, never an alias).
async fn slot_keys(kms: &Client, algs: &[Algorithm]) -> Vec<String> {
    let mut out = Vec::new();
    for alg in algs {
        for slot in [KeySlot::Pending, KeySlot::Current] {
            let alias = format!("{PREFIX}/{}/{slot}", alg.lower());
            let key = kms.describe_key().key_id(&alias).send().await.unwrap();
            out.push(key.key_metadata().unwrap().key_id().to_owned());
        }
    }
    out
}

/// The policy of the key in each slot of each algorithm.
async fn slot_policies(conf: &aws_config::SdkConfig, algs: &[Algorithm]) -> Vec<Value> {
    let kms = iamjwt_aws::sdk::kms(conf);
    let mut out = Vec::new();
    for key in slot_keys(&kms, algs).await {
        let policy = kms
            .get_key_policy()
            .key_id(key)
            .policy_name("default")
            .send()
            .await
            .unwrap();
        out.push(serde_json::from_str(policy.policy().unwrap()).unwrap());
    }
    out
}

/// Every algorithm, ES384 (KMS ECC_NIST_P384) included.
const ENV: [(&str, &str); 4] = [
    ("IAMJWT_ISSUER", "https://id.example.com"),
    ("IAMJWT_DEFAULT_AUDIENCE", "sts.amazonaws.com"),
    ("IAMJWT_KEY_ALIAS_PREFIX", PREFIX),
    ("IAMJWT_ALGORITHMS", "RS256,ES256,ES384"),
];

fn settings() -> iamjwt_core::config::Settings {
    let env = |k: &str| {
        ENV.iter()
            .find(|(n, _)| *n == k)
            .map(|(_, v)| (*v).to_owned())
    };
    iamjwt_core::config::Settings::from_lookup(env).unwrap()
}

/// moto with a current and a pending key per algorithm, made by the real rotation code, and published.
async fn keys_published() -> (Moto, aws_config::SdkConfig, iamjwt_core::config::Settings) {
    let moto = moto();
    let conf = with_bucket(&moto).await;
    let s = settings();
    iamjwt_aws::testing::current_keys_published(&conf, &s, PREFIX, BUCKET)
        .await
        .unwrap();
    (moto, conf, s)
}

/// The attack: an administrator whose IAM policy allows `kms:Sign` on `*` signs with the issuer's key.
#[tokio::test]
async fn an_administrator_with_kms_sign_on_everything_cannot_sign_with_the_issuers_keys() {
    let (_moto, conf, s) = keys_published().await;
    let policies = slot_policies(&conf, &s.issue.algorithms).await;
    assert_eq!(policies.len(), 2 * s.issue.algorithms.len());
    for policy in &policies {
        only_the_token_role_signs(policy);
    }
}

/// Everything the key policy must say, judged by [`allowed`].
fn only_the_token_role_signs(policy: &Value) {
    let token = Caller {
        arn: TOKEN_ROLE,
        iam_allows_everything: false,
    };
    let rotate = Caller {
        arn: ROTATE_ROLE,
        iam_allows_everything: false,
    };
    {
        for attacker in [ADMIN, ROOT, STRANGER, rotate.arn, token.arn] {
            let attacker = Caller {
                arn: attacker,
                iam_allows_everything: true,
            };
            assert!(
                !allowed(policy, attacker, "kms:Sign") || attacker.arn == token.arn,
                "{} may sign: {policy}",
                attacker.arn
            );
            assert!(!allowed(policy, attacker, "kms:CreateGrant"), "{policy}");
        }
        assert!(!allowed(
            policy,
            Caller {
                arn: ADMIN,
                iam_allows_everything: true
            },
            "kms:GetPublicKey"
        ));
        // The token role signs on the key policy alone, IAM or not.
        for action in ["kms:Sign", "kms:GetPublicKey"] {
            assert!(allowed(policy, token, action), "token {action}: {policy}");
        }
        // The rotate role runs the lifecycle on the key policy alone.
        for action in [
            "kms:DescribeKey",
            "kms:GetPublicKey",
            "kms:ListResourceTags",
            "kms:TagResource",
            "kms:CreateAlias",
            "kms:UpdateAlias",
            "kms:DeleteAlias",
            "kms:ScheduleKeyDeletion",
            "kms:GetKeyPolicy",
            "kms:PutKeyPolicy",
            // Multi-Region keys: KMS authorises replication on the primary key's policy (issue 21).
            "kms:ReplicateKey",
        ] {
            assert!(allowed(policy, rotate, action), "rotate {action}: {policy}");
        }
        // The account administers the key through IAM.
        let admin = Caller {
            arn: ADMIN,
            iam_allows_everything: true,
        };
        for action in [
            "kms:DescribeKey",
            "kms:TagResource",
            "kms:ScheduleKeyDeletion",
            "kms:PutKeyPolicy",
        ] {
            assert!(allowed(policy, admin, action), "admin {action}: {policy}");
        }
    }
}

/// KMS's default key policy, which every key created before key policies carries.
fn default_policy() -> Value {
    serde_json::json!({"Version": "2012-10-17", "Id": "key-default-1", "Statement": [{
        "Sid": "Enable IAM User Permissions", "Effect": "Allow",
        "Principal": {"AWS": ROOT}, "Action": "kms:*", "Resource": "*"}]})
}

/// Keys made before key policies (or whose policy was opened up since) get the issuer's policy back at the next
/// rotation step, whatever the step.
#[tokio::test]
async fn the_next_rotation_puts_the_policy_back_on_existing_keys() {
    let (_moto, conf, s) = keys_published().await;
    let kms = iamjwt_aws::sdk::kms(&conf);
    for key in slot_keys(&kms, &s.issue.algorithms).await {
        kms.put_key_policy()
            .key_id(key)
            .policy_name("default")
            .policy(default_policy().to_string())
            .send()
            .await
            .unwrap();
    }
    let admin = Caller {
        arn: ADMIN,
        iam_allows_everything: true,
    };
    for policy in slot_policies(&conf, &s.issue.algorithms).await {
        assert!(
            allowed(&policy, admin, "kms:Sign"),
            "the attack works on old keys"
        );
    }
    let store = KmsKeyStore::new(
        kms.clone(),
        PREFIX,
        7,
        iamjwt_aws::testing::key_access().unwrap(),
    );
    let publisher = iamjwt_aws::s3::S3Publisher::new(iamjwt_aws::sdk::s3(&conf), BUCKET, 3600);
    let rotator = Rotator {
        store: &store,
        publisher: &publisher,
        issuer: &s.issue.issuer,
        algs: &s.issue.algorithms,
        policy: s.rotation_policy(),
    };
    rotator
        .run_step(
            Step::Publish,
            false,
            UnixTime::from_system_time(std::time::SystemTime::now()),
        )
        .await
        .unwrap();
    for policy in slot_policies(&conf, &s.issue.algorithms).await {
        only_the_token_role_signs(&policy);
    }
}

/// Two `load`s against a fake KMS whose one key (in every ES256 slot) has the policy `text`: the policies put.
async fn load_with_policy(text: String) -> Vec<Value> {
    use aws_sdk_kms::operation::describe_key::DescribeKeyOutput;
    use aws_sdk_kms::operation::get_key_policy::GetKeyPolicyOutput;
    use aws_sdk_kms::operation::get_public_key::GetPublicKeyOutput;
    use aws_sdk_kms::operation::list_resource_tags::ListResourceTagsOutput;
    use aws_sdk_kms::operation::put_key_policy::PutKeyPolicyOutput;
    use aws_sdk_kms::primitives::Blob;
    use aws_sdk_kms::types::{KeyMetadata, KeyState};
    // Only the ES256 slots hold a key: the store also looks up the slots of algorithms it no longer issues
    // (issue 19 §4), and KMS answers those with NotFoundException.
    let es256 = |r: &aws_sdk_kms::operation::describe_key::DescribeKeyInput| {
        r.key_id()
            .is_some_and(|k| k.contains("es256") || k == "key-1")
    };
    let missing = mock!(Client::describe_key)
        .match_requests(move |r| !es256(r))
        .then_error(|| {
            aws_sdk_kms::operation::describe_key::DescribeKeyError::NotFoundException(
                aws_sdk_kms::types::error::NotFoundException::builder()
                    .message("alias not found")
                    .meta(
                        aws_sdk_kms::error::ErrorMetadata::builder()
                            .code("NotFoundException")
                            .message("alias not found")
                            .build(),
                    )
                    .build(),
            )
        });
    let describe = mock!(Client::describe_key)
        .match_requests(es256)
        .then_output(|| {
            DescribeKeyOutput::builder()
                .key_metadata(
                    KeyMetadata::builder()
                        .key_id("key-1")
                        .key_state(KeyState::Enabled)
                        .build()
                        .unwrap(),
                )
                .build()
        });
    let get_policy = mock!(Client::get_key_policy)
        .match_requests(|r| r.key_id() == Some("key-1") && r.policy_name() == Some("default"))
        .then_output(move || GetKeyPolicyOutput::builder().policy(text.clone()).build());
    let put = Arc::new(Mutex::new(Vec::new()));
    let put_policy = {
        let put = put.clone();
        mock!(Client::put_key_policy)
            .match_requests(|r| r.key_id() == Some("key-1") && r.policy_name() == Some("default"))
            .then_compute_output(move |r| {
                put.lock()
                    .unwrap()
                    .push(serde_json::from_str(r.policy().unwrap()).unwrap());
                PutKeyPolicyOutput::builder().build()
            })
    };
    let tags =
        mock!(Client::list_resource_tags).then_output(|| ListResourceTagsOutput::builder().build());
    let public = mock!(Client::get_public_key).then_output(|| {
        GetPublicKeyOutput::builder()
            .public_key(Blob::new(iamjwt_aws::testing::fake_kms::spki()))
            .build()
    });
    let client = mock_client!(
        aws_sdk_kms,
        RuleMode::MatchAny,
        [
            &describe,
            &missing,
            &get_policy,
            &put_policy,
            &tags,
            &public
        ]
    );
    let store = KmsKeyStore::new(
        client,
        "alias/iamjwt",
        7,
        iamjwt_aws::testing::key_access().unwrap(),
    );
    store.load(&[Algorithm::ES256]).await.unwrap();
    assert_eq!(get_policy.num_calls(), 1, "one GetKeyPolicy per key");
    // Within one rotation execution the key is not checked again.
    store.load(&[Algorithm::ES256]).await.unwrap();
    assert_eq!(get_policy.num_calls(), 1);
    put.lock().unwrap().clone()
}

#[tokio::test]
async fn reconciling_is_idempotent() {
    let put = load_with_policy(default_policy().to_string()).await;
    assert_eq!(put.len(), 1, "the default policy is replaced");
    for policy in &put {
        only_the_token_role_signs(policy);
    }
    let written = iamjwt_aws::testing::key_access()
        .unwrap()
        .policy_json()
        .unwrap();
    assert_eq!(put[0], serde_json::from_str::<Value>(&written).unwrap());
    // The policy as written is found: nothing to do.
    assert_eq!(load_with_policy(written).await, Vec::<Value>::new());
    // Nor after KMS re-serialised it (other whitespace, keys in another order).
    let pretty = serde_json::to_string_pretty(&put[0]).unwrap();
    assert_eq!(load_with_policy(pretty).await, Vec::<Value>::new());
    // An unreadable policy is replaced too.
    assert_eq!(load_with_policy("{".into()).await.len(), 1);
}
