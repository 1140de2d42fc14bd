//! One rule never gives two principals the same `sub` (DESIGN.md §4).
//!
//! Checked at start for every rule with a `sub` template, against the principals the rule admits ([`Admitted`]).
//! A template keeps them apart when both hold:
//! 1. **it names the principal**: a whole identity (`{principal_arn}`, `{caller_arn}`, `{principal_id}`), or
//!    `{name}` — with `{principal_type}` when the rule admits more than one type of named principal and
//!    `{account}` when it admits more than one account. Root users have no name: `{account}` tells them apart.
//!    `{session_name}`, `{tag:KEY}`, `{org_id}` and literals never name anyone: a session name, a federated user's
//!    name and another account's tags are chosen by the caller's side.
//! 2. **it can be read back**: reading from the left, each variable ends where a literal character it cannot
//!    contain begins (or it has a fixed width, or a prefix-free vocabulary); reading from the right, each begins
//!    after such a character (or has a fixed width). At most one variable, in between, takes what is left.
//!    Without this, `{name}{principal_type}` gives user `deployFederated` and federated user `deploy` one `sub`.
//!
//! The partition is not part of a principal's identity here: IAM authorization never crosses partitions, so one
//! deployment only ever sees callers of its own. Two *different* rules can still give two principals one `sub`;
//! keeping rules apart is the operator's duty (docs/verifiers.md).

use crate::identity::{ResourceType, is_name_char, is_path_char};
use crate::principal_pattern::PrincipalPattern;
use crate::template::{Piece, Template, Var};
use std::collections::BTreeSet;

/// Who a rule can ever apply to, as far as its selectors say.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Admitted {
    types: BTreeSet<ResourceType>,
    /// `None`: any account.
    accounts: Option<BTreeSet<String>>,
}

impl Admitted {
    /// From a rule's `principals` and `accounts` selectors (`None`: the rule has no such selector).
    pub fn of(principals: Option<&[PrincipalPattern]>, accounts: Option<&[String]>) -> Self {
        let types = principals.map_or_else(
            || ResourceType::ALL.into_iter().collect(),
            |ps| ps.iter().map(PrincipalPattern::resource_type).collect(),
        );
        let listed = accounts.map(|a| a.iter().cloned().collect::<BTreeSet<_>>());
        let literal = principals.and_then(|ps| {
            ps.iter()
                .map(|p| p.literal_account().map(str::to_owned))
                .collect::<Option<BTreeSet<_>>>()
        });
        let accounts = match (listed, literal) {
            (Some(a), Some(b)) => Some(a.intersection(&b).cloned().collect()),
            (a, b) => a.or(b),
        };
        Self { types, accounts }
    }

    fn one_account(&self) -> bool {
        self.accounts.as_ref().is_some_and(|a| a.len() <= 1)
    }
}

/// Refuses a `sub` template that could give two principals the rule admits the same value. The error is one
/// sentence naming the fix.
pub fn check(sub: &Template, admitted: &Admitted) -> Result<(), String> {
    let s = sub.source();
    let has = |v: &Var| sub.vars().any(|x| x == v);
    let whole = sub
        .vars()
        .any(|v| matches!(v, Var::PrincipalArn | Var::CallerArn | Var::PrincipalId));
    if !whole {
        // The types the template can render for: `{name}` has no value for root, `{session_name}` only for roles.
        let mut types = admitted.types.clone();
        if has(&Var::Name) {
            types.remove(&ResourceType::Root);
        }
        if has(&Var::SessionName) {
            types.retain(|t| *t == ResourceType::Role);
        }
        if !has(&Var::Name) && types.iter().any(|t| *t != ResourceType::Root) {
            return Err(format!(
                "sub {s:?} does not name the principal, so principals this rule admits can share it: add {{name}} \
                 (with {{account}} and {{principal_type}} as the rule needs) or use {{principal_arn|N}}"
            ));
        }
        if types.len() > 1 && !has(&Var::PrincipalType) {
            let list: Vec<&str> = types.iter().map(|t| t.as_str()).collect();
            return Err(format!(
                "sub {s:?} gives principals of different types but one name the same sub (this rule admits {}): \
                 add {{principal_type}}, or narrow the rule's principals to one type, e.g. \
                 arn:aws:iam::ACCOUNT:role/NAME",
                list.join(", ")
            ));
        }
        if !admitted.one_account() && !has(&Var::Account) {
            return Err(format!(
                "sub {s:?} gives principals of one name in different accounts the same sub (this rule admits \
                 more than one account): add {{account}}, or narrow the rule to one account (accounts: [ONE], or \
                 principal patterns that name one account)"
            ));
        }
    }
    if let Some(var) = runs_into_its_neighbour(sub.pieces()) {
        return Err(format!(
            "sub {s:?} is ambiguous: {var} can run into what follows it, so two principals can render one sub; \
             put a literal character {var} cannot contain (such as /) between them, or reorder"
        ));
    }
    Ok(())
}

/// Whether `c` can occur in the value of `var` (conservatively: values the parser does not constrain may hold
/// anything).
fn may_contain(var: &Var, c: char) -> bool {
    match var {
        Var::Account => c.is_ascii_digit(),
        Var::PrincipalType => c.is_ascii_alphabetic(),
        Var::Partition => c.is_ascii_lowercase() || c == '-',
        Var::Name | Var::SessionName => is_name_char(c),
        Var::PrincipalArn | Var::CallerArn => is_path_char(c),
        Var::PrincipalId | Var::OrgId | Var::Tag(_) => true,
    }
}

/// Account ids are always 12 digits.
fn fixed_width(var: &Var) -> bool {
    matches!(var, Var::Account)
}

/// No `{principal_type}` value is a prefix of another (`AssumedRole User FederatedUser Account`), so reading from
/// the left it ends where its word ends. (`User` is a suffix of `FederatedUser`: not so from the right.)
fn prefix_free(var: &Var) -> bool {
    matches!(var, Var::PrincipalType)
}

/// The first variable whose end cannot be found, when the template cannot be read back; `None` when it can.
fn runs_into_its_neighbour(pieces: &[Piece]) -> Option<&Var> {
    let lit = |i: usize| match pieces.get(i) {
        Some(Piece::Lit(s)) => Some(s.as_str()),
        _ => None,
    };
    let vars: Vec<(usize, &Var)> = pieces
        .iter()
        .enumerate()
        .filter_map(|(i, p)| match p {
            Piece::Var { var, .. } => Some((i, var)),
            Piece::Lit(_) => None,
        })
        .collect();
    let ends_left = |(i, v): &(usize, &Var)| {
        fixed_width(v)
            || prefix_free(v)
            || lit(i + 1)
                .and_then(|l| l.chars().next())
                .is_some_and(|c| !may_contain(v, c))
    };
    let starts_right = |(i, v): &(usize, &Var)| {
        fixed_width(v)
            || i.checked_sub(1)
                .and_then(lit)
                .and_then(|l| l.chars().next_back())
                .is_some_and(|c| !may_contain(v, c))
    };
    let from_left = vars.iter().take_while(|v| ends_left(v)).count();
    let from_right = vars.iter().rev().take_while(|v| starts_right(v)).count();
    (from_left + from_right + 1 < vars.len()).then(|| vars[from_left].1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::Principal;

    #[test]
    fn principal_types_are_prefix_free() {
        let words: Vec<&str> = [
            "arn:aws:sts::111122223333:assumed-role/r/s1",
            "arn:aws:iam::111122223333:user/u",
            "arn:aws:sts::111122223333:federated-user/fu",
            "arn:aws:iam::111122223333:root",
        ]
        .iter()
        .map(|a| Principal::parse(a).unwrap().principal_type())
        .collect();
        for a in &words {
            for b in &words {
                assert!(a == b || !b.starts_with(a), "{a} is a prefix of {b}");
            }
        }
    }

    #[test]
    fn admitted_accounts_and_types() {
        let pats = |ps: &[&str]| -> Vec<PrincipalPattern> {
            ps.iter()
                .map(|p| PrincipalPattern::parse(p).unwrap())
                .collect()
        };
        let a = |s: &[&str]| s.iter().map(|x| (*x).to_owned()).collect::<Vec<_>>();
        assert!(!Admitted::of(None, None).one_account());
        assert!(Admitted::of(None, Some(&a(&["111122223333"]))).one_account());
        assert!(!Admitted::of(None, Some(&a(&["111122223333", "444455556666"]))).one_account());
        let ps = pats(&[
            "arn:aws:iam::111122223333:role/a",
            "arn:aws:iam::111122223333:user/b",
        ]);
        let ad = Admitted::of(Some(&ps), Some(&a(&["111122223333", "444455556666"])));
        assert!(ad.one_account());
        assert_eq!(
            ad.types,
            BTreeSet::from([ResourceType::Role, ResourceType::User])
        );
        let ps = pats(&["arn:aws:iam::111122223333:role/a", "arn:aws:iam::*:role/b"]);
        assert!(!Admitted::of(Some(&ps), None).one_account());
    }

    #[test]
    fn reading_back() {
        for (t, ok) in [
            ("{account}/{name}/{session_name}", true),
            ("{name}@example.com", true),
            ("{principal_type}{name}", true),
            ("{name}{principal_type}", false),
            ("{name}{account}", true),
            ("{name}-{name}", false),
            ("{name}/{session_name}", true),
            ("{tag:a}/{account}/{name}", true),
            ("{tag:a}/{tag:b}/{name}", false),
            ("{principal_arn}/{session_name}", true),
            ("{session_name}/{principal_arn}", true),
            ("{principal_arn}/{tag:a}", false),
            ("{partition}:{account}:{name}", true),
            ("{partition}{name}", false),
            ("x", true),
        ] {
            let t = Template::parse(t).unwrap();
            assert_eq!(
                runs_into_its_neighbour(t.pieces()).is_none(),
                ok,
                "{}",
                t.source()
            );
        }
    }
}
