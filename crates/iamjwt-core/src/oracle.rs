//! An independent statement of the audience policy's matching rules (DESIGN.md §4), for tests and fuzzing only
//! (feature `testing`): `decide` must agree with it on every input.
//!
//! It shares no code with the implementation. It reads the policy as JSON, splits ARNs and patterns on their
//! delimiters, and matches globs with the textbook dynamic-programming table and path segments with plain
//! recursion:
//! - a principal pattern matches when partition and account globs match their fields, the resource type and the
//!   service are the caller's, and the `/`-separated segments after the type match one for one (`**` = any number
//!   of segments); an assumed-role session is its role, `role/ROLE`;
//! - in an audience pattern `*` matches characters other than `/ ? # @ : \`; a pattern of only `*` matches all;
//! - the first rule whose selectors all match and which grants every requested non-default audience decides; with
//!   only the default audience, the first such rule that shapes tokens, or none.

use serde_json::Value;

/// `*` matches any run of characters for which `star` holds; everything else matches itself. The textbook table:
/// `row[j]` says whether the pattern read so far matches `s[..j]`.
fn glob_where(p: &str, s: &str, star: impl Fn(char) -> bool) -> bool {
    let s: Vec<char> = s.chars().collect();
    let mut row = vec![false; s.len() + 1];
    row[0] = true;
    for c in p.chars() {
        let mut next = vec![false; s.len() + 1];
        for j in 0..=s.len() {
            next[j] = if c == '*' {
                row[j] || (j > 0 && next[j - 1] && star(s[j - 1]))
            } else {
                j > 0 && row[j - 1] && s[j - 1] == c
            };
        }
        row = next;
    }
    row[s.len()]
}

fn glob_str(p: &str, s: &str) -> bool {
    glob_where(p, s, |_| true)
}

/// Whether audience pattern `pattern` grants `audience`.
pub fn audience_matches(pattern: &str, audience: &str) -> bool {
    (!pattern.is_empty() && pattern.chars().all(|c| c == '*'))
        || glob_where(pattern, audience, |c| !"/?#@:\\".contains(c))
}

/// A caller ARN as `(partition, account, type, segments after the type)`; an assumed role is `role/ROLE`.
fn caller_fields(arn: &str) -> Option<(&str, &str, &str, Vec<&str>)> {
    let f: Vec<&str> = arn.splitn(6, ':').collect();
    let [_, partition, service, _, account, resource] = f[..] else {
        return None;
    };
    let (ty, rest) = resource.split_once('/').unwrap_or((resource, ""));
    let (ty, segments) = match (service, ty) {
        ("sts", "assumed-role") => ("role", vec![rest.split('/').next()?]),
        ("sts", "federated-user") | ("iam", "user") => (ty, rest.split('/').collect()),
        ("iam", "root") => ("root", Vec::new()),
        _ => return None,
    };
    Some((partition, account, ty, segments))
}

fn segments_match(p: &[&str], s: &[&str]) -> bool {
    match p.split_first() {
        None => s.is_empty(),
        Some((&"**", rest)) => (0..=s.len()).any(|i| segments_match(rest, &s[i..])),
        Some((g, rest)) => {
            s.first().is_some_and(|x| glob_str(g, x)) && segments_match(rest, &s[1..])
        }
    }
}

/// Whether principal pattern `pattern` matches the principal of caller ARN `caller_arn`.
pub fn principal_matches(pattern: &str, caller_arn: &str) -> bool {
    let Some((partition, account, ty, segments)) = caller_fields(caller_arn) else {
        return false;
    };
    let f: Vec<&str> = pattern.splitn(6, ':').collect();
    let ["arn", p_partition, p_service, "", p_account, p_resource] = f[..] else {
        return false;
    };
    let service = if ty == "federated-user" { "sts" } else { "iam" };
    let (p_ty, p_segments) = match p_resource.split_once('/') {
        Some((t, rest)) => (t, rest.split('/').collect()),
        None => (p_resource, Vec::new()),
    };
    glob_str(p_partition, partition)
        && glob_str(p_account, account)
        && p_service == service
        && p_ty == ty
        && segments_match(&p_segments, &segments)
}

/// The decision for `requested` (`None`: `invalid_target`; `Some(None)`: the default audience without a rule;
/// `Some(Some(i))`: rule `i` decides).
pub fn decide(
    policy: &Value,
    default_audience: &str,
    caller_arn: &str,
    org_id: Option<&str>,
    requested: &[&str],
) -> Option<Option<usize>> {
    let account = caller_arn.split(':').nth(4).unwrap_or("");
    let strings = |v: &Value| -> Option<Vec<String>> {
        v.as_array().map(|a| {
            a.iter()
                .filter_map(|s| s.as_str().map(str::to_owned))
                .collect()
        })
    };
    let rules: Vec<&Value> = policy["rules"]
        .as_array()
        .map(|r| r.iter().collect())
        .unwrap_or_default();
    let applies = |r: &Value| {
        strings(&r["principals"])
            .is_none_or(|ps| ps.iter().any(|p| principal_matches(p, caller_arn)))
            && strings(&r["accounts"]).is_none_or(|a| a.iter().any(|a| a == account))
            && strings(&r["org_ids"])
                .is_none_or(|o| org_id.is_some_and(|org| o.iter().any(|x| x == org)))
    };
    let grants = |r: &Value, a: &str| {
        strings(&r["audiences"])
            .unwrap_or_default()
            .iter()
            .any(|p| audience_matches(p, a))
    };
    let shapes = |r: &Value| {
        !r["sub"].is_null()
            || !r["session_tags"].is_null()
            || !r["request_tags"].is_null()
            || r["claims"].as_object().is_some_and(|c| !c.is_empty())
    };
    let extra: Vec<&str> = requested
        .iter()
        .copied()
        .filter(|a| *a != default_audience)
        .collect();
    if extra.is_empty() {
        return Some(
            rules
                .iter()
                .position(|r| shapes(r) && applies(r) && requested.iter().all(|a| grants(r, a))),
        );
    }
    rules
        .iter()
        .position(|r| applies(r) && extra.iter().all(|a| grants(r, a)))
        .map(Some)
}
