//! The audience policy's trust boundary against the independent oracle (`iamjwt_core::oracle`, DESIGN.md §4).
//!
//! Each input builds a policy (rules with principal patterns, accounts, org ids, audience patterns, a `sub`
//! template), callers of every principal type, and requests, from fragments that carry every ARN and URL
//! delimiter: hostile IAM paths (`x:role`, `:iam::ACCOUNT:role`), names from IAM's full set, patterns made of
//! arbitrary fragments, patterns cut from a caller's own ARN across `:` and `/`.
//!
//! Never panics. When the policy is accepted: `decide` agrees with `oracle::decide` for every caller and request,
//! and rule 0's `sub` template never renders one value for two principals the rule admits (a principal is its
//! account, type and name; sessions of one role may differ).
#![no_main]

use iamjwt_core::Audience;
use iamjwt_core::identity::{Caller, Principal, PrincipalKind};
use iamjwt_core::oracle;
use iamjwt_core::policy::AudiencePolicy;
use iamjwt_core::template::PrincipalTags;
use libfuzzer_sys::arbitrary::{self, Arbitrary};
use libfuzzer_sys::fuzz_target;
use serde_json::{Value, json};
use std::collections::BTreeMap;

const DEFAULT: &str = "sts.amazonaws.com";
/// Only rule 0 grants it: `decide` for it says whether rule 0 applies to a caller.
const RULE0: &str = "urn:iamjwt:fuzz:rule0";
const ORG: &str = "o-a1b2c3d4e5";
const ACCOUNTS: [&str; 3] = ["111122223333", "444455556666", "000000000000"];
const PARTITIONS: [&str; 3] = ["aws", "aws-cn", "aws-us-gov"];

/// Pieces of ARNs, paths, names and patterns.
const ARN_FRAGMENTS: [&str; 30] = [
    "arn",
    ":",
    "aws",
    "aws-cn",
    "iam",
    "sts",
    "111122223333",
    "444455556666",
    "role",
    "user",
    "federated-user",
    "assumed-role",
    "root",
    "/",
    "*",
    "**",
    "deploy",
    "ci-",
    "x",
    "deployUser",
    "deployFederated",
    ".",
    "@",
    ":role/",
    ":iam::111122223333:role/",
    "=",
    ",",
    "+",
    "-",
    "_",
];
/// Pieces of audiences and their patterns.
const URL_FRAGMENTS: [&str; 20] = [
    "https://",
    "api://",
    "a",
    "example.com",
    ".",
    "/",
    "?",
    "#",
    "@",
    ":",
    "\\",
    "evil.com",
    "x.example.com",
    "ci",
    "444",
    "%2f",
    "*",
    "*.",
    "=",
    "sts.amazonaws.com",
];
/// Pieces of `sub` templates.
const TEMPLATE_FRAGMENTS: [&str; 19] = [
    "{principal_arn|120}",
    "{caller_arn|120}",
    "{partition}",
    "{account}",
    "{principal_type}",
    "{name}",
    "{session_name}",
    "{principal_id|120}",
    "{org_id}",
    "{tag:t|24}",
    "/",
    "-",
    ":",
    "@",
    "User",
    "Federated",
    "1",
    "x",
    "{{",
];

#[derive(Arbitrary, Debug)]
enum Frag {
    Known(u8),
    Raw(String),
}

fn text(frags: &[Frag], vocab: &[&str]) -> String {
    frags
        .iter()
        .take(12)
        .map(|f| match f {
            Frag::Known(i) => vocab[usize::from(*i) % vocab.len()].to_owned(),
            Frag::Raw(s) => s.chars().take(16).collect(),
        })
        .collect()
}

#[derive(Arbitrary, Debug)]
struct CallerIn {
    kind: u8,
    partition: u8,
    account: u8,
    name: Vec<Frag>,
    path: Vec<Vec<Frag>>,
    session: u8,
    org: bool,
    tag: Vec<Frag>,
}

impl CallerIn {
    fn arn(&self) -> String {
        let p = PARTITIONS[usize::from(self.partition) % PARTITIONS.len()];
        let a = ACCOUNTS[usize::from(self.account) % ACCOUNTS.len()];
        let n = text(&self.name, &ARN_FRAGMENTS);
        match self.kind % 4 {
            0 => format!("arn:{p}:sts::{a}:assumed-role/{n}/s{}", self.session),
            1 => {
                let path: String = self
                    .path
                    .iter()
                    .take(4)
                    .map(|s| format!("{}/", text(s, &ARN_FRAGMENTS)))
                    .collect();
                format!("arn:{p}:iam::{a}:user/{path}{n}")
            }
            2 => format!("arn:{p}:sts::{a}:federated-user/{n}"),
            _ => format!("arn:{p}:iam::{a}:root"),
        }
    }
}

#[derive(Arbitrary, Debug)]
enum PatternIn {
    /// Fragments, whatever they make.
    Free(Vec<Frag>),
    /// A caller's principal ARN with a run of characters replaced by `*`.
    Cut { caller: u8, from: u16, to: u16 },
}

#[derive(Arbitrary, Debug)]
struct RuleIn {
    principals: Option<Vec<PatternIn>>,
    accounts: Option<Vec<u8>>,
    org: bool,
    audiences: Vec<Vec<Frag>>,
    shapes: bool,
    sub: Option<Vec<u8>>,
}

#[derive(Arbitrary, Debug)]
struct Input {
    rules: Vec<RuleIn>,
    callers: Vec<CallerIn>,
    requests: Vec<Vec<Vec<Frag>>>,
}

fn pattern(p: &PatternIn, principals: &[(String, Caller)]) -> String {
    match p {
        PatternIn::Free(f) => text(f, &ARN_FRAGMENTS),
        PatternIn::Cut { caller, from, to } => {
            let Some((_, c)) = principals.get(usize::from(*caller) % principals.len().max(1))
            else {
                return "arn:aws:iam::*:role/*".into();
            };
            let mut chars: Vec<char> = c.principal.sub().chars().collect();
            let (a, b) = (usize::from(*from), usize::from(*to));
            let (lo, hi) = (a.min(b).min(chars.len()), a.max(b).min(chars.len()));
            chars.splice(lo..hi, ['*']);
            chars.into_iter().collect()
        }
    }
}

fn identity(p: &Principal) -> (String, &'static str, String) {
    let name = match p.kind() {
        PrincipalKind::AssumedRole { role, .. } => role.clone(),
        PrincipalKind::User { name, .. } | PrincipalKind::FederatedUser { name } => name.clone(),
        PrincipalKind::Root => String::new(),
    };
    (
        p.account().as_str().to_owned(),
        p.resource_type().as_str(),
        name,
    )
}

fuzz_target!(|input: Input| {
    let callers: Vec<(String, Caller, String)> = input
        .callers
        .iter()
        .take(6)
        .filter_map(|c| {
            let arn = c.arn();
            let principal = Principal::parse(&arn).ok()?;
            let caller = Caller {
                principal,
                // Unique per caller, as AWS's unique ids are.
                principal_id: Some(arn.clone()),
                org_id: c.org.then(|| ORG.to_owned()),
                source_ip: None,
            };
            Some((arn, caller, text(&c.tag, &URL_FRAGMENTS)))
        })
        .collect();
    let by_arn: Vec<(String, Caller)> = callers
        .iter()
        .map(|(a, c, _)| (a.clone(), c.clone()))
        .collect();

    let rules: Vec<Value> = input
        .rules
        .iter()
        .take(4)
        .enumerate()
        .map(|(i, r)| {
            let mut audiences: Vec<String> = r
                .audiences
                .iter()
                .take(3)
                .map(|a| text(a, &URL_FRAGMENTS))
                .collect();
            if i == 0 {
                audiences.push(RULE0.into());
            }
            if r.shapes {
                audiences.push(DEFAULT.into());
            }
            let mut rule = json!({"audiences": audiences});
            if let Some(ps) = &r.principals {
                rule["principals"] = ps.iter().take(3).map(|p| pattern(p, &by_arn)).collect();
            }
            if let Some(a) = &r.accounts {
                rule["accounts"] = a
                    .iter()
                    .take(3)
                    .map(|i| ACCOUNTS[usize::from(*i) % ACCOUNTS.len()])
                    .collect();
            }
            if r.org {
                rule["org_ids"] = json!([ORG]);
            }
            if r.shapes {
                rule["request_tags"] = json!(["job"]);
            }
            if let (0, Some(t)) = (i, &r.sub) {
                let t: String = t
                    .iter()
                    .take(8)
                    .map(|i| TEMPLATE_FRAGMENTS[usize::from(*i) % TEMPLATE_FRAGMENTS.len()])
                    .collect();
                rule["sub"] = t.into();
            }
            rule
        })
        .collect();
    let doc = json!({"rules": rules});
    let Ok(default) = Audience::parse(DEFAULT) else {
        return;
    };
    let Ok(policy) = AudiencePolicy::from_json(default, &doc.to_string(), 3600) else {
        return;
    };

    let requests: Vec<Vec<String>> = input
        .requests
        .iter()
        .take(4)
        .map(|r| r.iter().take(3).map(|a| text(a, &URL_FRAGMENTS)).collect())
        .chain([vec![RULE0.to_owned()], vec![]])
        .collect();
    for (arn, caller, _) in &callers {
        for req in &requests {
            let Ok(auds) = req
                .iter()
                .map(|a| Audience::parse(a))
                .collect::<Result<Vec<_>, _>>()
            else {
                continue;
            };
            let got = policy.decide(caller, &auds).ok().map(|g| g.rule);
            let strs: Vec<&str> = req.iter().map(String::as_str).collect();
            let want = oracle::decide(&doc, DEFAULT, arn, caller.org_id.as_deref(), &strs);
            assert_eq!(got, want, "{arn} asking {req:?} of {doc}");
        }
    }

    // Rule 0's sub keeps every principal it admits apart.
    let Some(sub) = policy.rules().first().and_then(|r| r.shape().sub()) else {
        return;
    };
    let Ok(rule0) = Audience::parse(RULE0) else {
        return;
    };
    let mut seen = BTreeMap::new();
    for (_, caller, tag) in &callers {
        if policy
            .decide(caller, std::slice::from_ref(&rule0))
            .ok()
            .and_then(|g| g.rule)
            != Some(0)
        {
            continue;
        }
        let tags = PrincipalTags::from([("t".to_owned(), tag.clone())]);
        let Ok(s) = sub.render(caller, Some(&tags)) else {
            continue;
        };
        let who = identity(&caller.principal);
        if let Some(other) = seen.insert(s.clone(), who.clone()) {
            assert_eq!(
                other,
                who,
                "{} renders {s:?} for both; policy {doc}",
                sub.source()
            );
        }
    }
});
