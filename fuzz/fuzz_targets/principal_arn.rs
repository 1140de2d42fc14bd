//! Caller-ARN parsing: `Principal::parse` and `AccountId::parse` on arbitrary text.
//!
//! Never panics; whatever parses rebuilds exactly from its parts, keeps the caller ARN verbatim, and has the
//! `sub` of DESIGN.md §2 (the role ARN for assumed roles — which itself never parses as a caller — and the
//! caller ARN otherwise). The same invariants as the proptests in `iamjwt-core/src/tests/props.rs`.
#![no_main]

use iamjwt_core::identity::{AccountId, Caller, CallerFields, Principal, PrincipalKind};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    check_account(s);
    for field in s.split(':') {
        check_account(field);
    }
    check_principal(s);
});

fn check_account(s: &str) {
    let valid = s.len() == 12 && s.bytes().all(|b| b.is_ascii_digit());
    match AccountId::parse(s) {
        Ok(a) => {
            assert!(valid, "accepted account id {s:?}");
            assert_eq!(a.as_str(), s);
            assert_eq!(a.to_string(), s);
        }
        Err(_) => assert!(!valid, "rejected account id {s:?}"),
    }
}

fn check_principal(arn: &str) {
    let Ok(p) = Principal::parse(arn) else {
        return;
    };
    assert_eq!(p.arn(), arn, "the caller ARN is kept exactly as received");
    let (partition, account) = (p.partition(), p.account().as_str());
    assert!(
        partition.starts_with("aws") && partition.len() <= 32,
        "{arn:?}"
    );
    assert_eq!(AccountId::parse(account).ok().as_ref(), Some(p.account()));
    let sub = p.sub();
    assert!(!sub.is_empty(), "{arn:?}");
    let rebuilt = match p.kind() {
        PrincipalKind::AssumedRole { role, session } => {
            assert_eq!(sub, format!("arn:{partition}:iam::{account}:role/{role}"));
            assert_eq!(p.session_name(), Some(session.as_str()));
            assert_eq!(p.principal_type(), "AssumedRole");
            // The sub is a role ARN, which is never a caller.
            assert!(
                Principal::parse(&sub).is_err(),
                "{sub:?} parsed as a caller"
            );
            format!("arn:{partition}:sts::{account}:assumed-role/{role}/{session}")
        }
        PrincipalKind::User { path, name } => {
            assert_eq!(sub, arn);
            assert_eq!(p.principal_type(), "User");
            assert!(path.starts_with('/') && path.ends_with('/'), "{arn:?}");
            format!("arn:{partition}:iam::{account}:user{path}{name}")
        }
        PrincipalKind::FederatedUser { name } => {
            assert_eq!(sub, arn);
            assert_eq!(p.principal_type(), "FederatedUser");
            format!("arn:{partition}:sts::{account}:federated-user/{name}")
        }
        PrincipalKind::Root => {
            assert_eq!(sub, arn);
            assert!(p.is_root());
            assert_eq!(p.principal_type(), "Account");
            format!("arn:{partition}:iam::{account}:root")
        }
    };
    assert_eq!(rebuilt, arn, "the parts rebuild the ARN");
    assert!(!p.is_root() || p.session_name().is_none());
    assert_eq!(
        Principal::parse(p.arn()).ok(),
        Some(p.clone()),
        "parsing is stable"
    );

    // The request context must agree on the account.
    let fields = |account_id| CallerFields {
        user_arn: Some(arn),
        account_id,
        ..Default::default()
    };
    let caller = Caller::from_fields(&fields(Some(account)));
    assert_eq!(caller.ok().map(|c| c.principal), Some(p.clone()));
    let other = if account == "000000000000" {
        "111111111111"
    } else {
        "000000000000"
    };
    assert!(Caller::from_fields(&fields(Some(other))).is_err());
}
