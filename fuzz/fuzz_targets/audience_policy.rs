//! Audience-policy JSON (DESIGN.md §4): `AudiencePolicy::from_json` on arbitrary text and, when it parses,
//! `decide` for fixed callers and audiences taken from the document itself.
//!
//! Never panics. The default audience is always granted without a rule; a grant names an existing rule and a
//! `max_duration` within the configured bounds; the decision ignores order, duplicates and the default audience;
//! and it is monotone: a rule that grants a set grants every subset, so a subset is decided by the same rule or an
//! earlier one. The glob matcher agrees with a plain dynamic-programming reference on every pattern and audience.
#![no_main]

use iamjwt_core::Audience;
use iamjwt_core::glob::Glob;
use iamjwt_core::identity::{Caller, CallerFields};
use iamjwt_core::policy::{AudiencePolicy, Grant};
use libfuzzer_sys::fuzz_target;
use serde_json::Value;
use std::sync::OnceLock;

const MAX_DURATION: u64 = 3600;

struct Fixed {
    default: Audience,
    callers: Vec<Caller>,
}

fn fixed() -> &'static Fixed {
    static FIXED: OnceLock<Fixed> = OnceLock::new();
    FIXED.get_or_init(|| {
        let caller = |arn, account, org| {
            Caller::from_fields(&CallerFields {
                user_arn: Some(arn),
                account_id: Some(account),
                user: Some("AROAEXAMPLE:build-42"),
                principal_org_id: org,
                source_ip: Some("10.0.0.1"),
            })
        };
        let (Ok(default), Ok(ci), Ok(user)) = (
            Audience::parse("sts.amazonaws.com"),
            caller(
                "arn:aws:sts::111122223333:assumed-role/ci-deploy/build-42",
                "111122223333",
                Some("o-a1b2c3d4e5"),
            ),
            caller(
                "arn:aws-us-gov:iam::444455556666:user/division/Bob",
                "444455556666",
                None,
            ),
        ) else {
            panic!("fixed inputs must parse");
        };
        Fixed {
            default,
            callers: vec![ci, user],
        }
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(json) = std::str::from_utf8(data) else {
        return;
    };
    let f = fixed();
    let Ok(policy) = AudiencePolicy::from_json(f.default.clone(), json, MAX_DURATION) else {
        return;
    };
    let Ok(doc) = serde_json::from_str::<Value>(json) else {
        panic!("from_json accepted what serde_json rejects: {json:?}");
    };
    let rules = doc["rules"].as_array().map_or(0, Vec::len);

    // Audiences to ask for: every string in the document, and each pattern with its stars filled in.
    let mut strings = Vec::new();
    collect_strings(&doc, &mut strings);
    let mut audiences: Vec<Audience> = Vec::new();
    for s in &strings {
        for candidate in [s.clone(), s.replace('*', ""), s.replace('*', "x")] {
            if let Ok(a) = Audience::parse(&candidate)
                && !audiences.contains(&a)
                && audiences.len() < 10
            {
                audiences.push(a);
            }
        }
    }

    for caller in &f.callers {
        let decide = |req: &[Audience]| policy.decide(caller, req).ok();
        let default_only = Some(Grant {
            max_duration: None,
            rule: None,
        });
        assert_eq!(decide(&[]), default_only);
        assert_eq!(decide(std::slice::from_ref(&f.default)), default_only);

        let all = decide(&audiences);
        let mut reversed = audiences.clone();
        reversed.reverse();
        assert_eq!(decide(&reversed), all, "order matters for {json:?}");
        let mut with_default = audiences.clone();
        with_default.push(f.default.clone());
        with_default.extend(audiences.iter().cloned());
        assert_eq!(decide(&with_default), all, "default or duplicates matter");

        for a in &audiences {
            let one = decide(std::slice::from_ref(a));
            if let Some(g) = one {
                check_grant(g, rules, *a != f.default);
            }
            if let Some(Grant { rule: Some(i), .. }) = all {
                match one {
                    Some(Grant { rule: Some(j), .. }) => assert!(j <= i, "{a:?}: rule {j} > {i}"),
                    Some(Grant { rule: None, .. }) => assert_eq!(*a, f.default),
                    None => panic!("{a:?} denied alone but granted in a set by rule {i}"),
                }
            }
        }
        if let Some(g) = all {
            check_grant(g, rules, audiences.iter().any(|a| *a != f.default));
        }

        let sub = caller.principal.sub();
        for pattern in &strings {
            for s in audiences.iter().map(Audience::as_str).chain([sub.as_str()]) {
                if pattern.len().saturating_mul(s.len()) <= 1 << 20 {
                    assert_eq!(
                        Glob::new(pattern).matches(s),
                        glob_reference(pattern.as_bytes(), s.as_bytes()),
                        "glob {pattern:?} on {s:?}"
                    );
                }
            }
        }
    }
});

fn check_grant(g: Grant, rules: usize, needs_rule: bool) {
    match g.rule {
        Some(i) => assert!(i < rules, "rule {i} of {rules}"),
        None => assert!(!needs_rule, "extra audience granted without a rule"),
    }
    if let Some(d) = g.max_duration {
        assert!((60..=MAX_DURATION).contains(&d), "max_duration {d}");
        assert!(g.rule.is_some());
    }
}

fn collect_strings(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::String(s) if out.len() < 32 => out.push(s.clone()),
        Value::Array(items) => items.iter().for_each(|i| collect_strings(i, out)),
        Value::Object(map) => map.values().for_each(|i| collect_strings(i, out)),
        _ => {}
    }
}

/// `*` matches any run of bytes, everything else itself: the textbook O(|p|·|s|) table.
fn glob_reference(p: &[u8], s: &[u8]) -> bool {
    // row[j]: does the pattern prefix seen so far match s[..j]?
    let mut row = vec![false; s.len() + 1];
    row[0] = true;
    for &c in p {
        let mut next = vec![false; s.len() + 1];
        if c == b'*' {
            let mut any = false;
            for j in 0..=s.len() {
                any |= row[j];
                next[j] = any;
            }
        } else {
            for j in 1..=s.len() {
                next[j] = row[j - 1] && s[j - 1] == c;
            }
        }
        row = next;
    }
    row[s.len()]
}
