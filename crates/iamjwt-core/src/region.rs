//! An AWS region name, validated by its structure before it is used anywhere: as a SigV4 credential scope, as a
//! key into per-region key state, or substituted into a `{region}` URL template (DESIGN.md §6, §10).
//!
//! The rule is structural, not a list: lowercase letter groups joined by single hyphens, ending in a number —
//! `us-east-1`, `us-gov-west-1`, `cn-north-1`, `us-isob-east-1`, `eusc-de-east-1`. A list of today's regions would
//! refuse a region AWS opens tomorrow; the partitions' own `regionRegex`es (botocore/SDK `partitions.json`) have
//! the same shape (`^(us|eu|…)-\w+-\d+$`, `^us-gov-\w+-\d+$`, …) but enumerate geography prefixes, which grow.
//! What this must never admit is anything that changes a URL's structure when substituted into it (`.`, `/`,
//! `:`, `@`, `%`, `?`, `#`, whitespace, uppercase, empty), so a hostile `AWS_REGION` cannot move a request to
//! another host or path.

use crate::error::Error;
use serde::{Deserialize, Deserializer, Serialize};
use std::fmt;
use std::str::FromStr;

/// A syntactically valid AWS region name.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct Region(String);

impl Region {
    /// Longest name accepted; today's longest (`ap-southeast-4`, `us-isof-south-1`) are 15 characters.
    pub const MAX_LEN: usize = 32;

    /// Parses `raw` exactly (no trimming, no case folding): a name that needs repair is not a region name.
    pub fn parse(raw: &str) -> Result<Self, Error> {
        if is_region_name(raw) {
            Ok(Self(raw.to_owned()))
        } else {
            Err(Error::InvalidRequest(format!(
                "{:?} is not an AWS region name (like us-east-1, eu-central-2, us-gov-west-1)",
                raw.chars().take(64).collect::<String>()
            )))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// `^[a-z]{2,4}(-[a-z]+){1,2}-[0-9]{1,2}$`, at most [`Region::MAX_LEN`] bytes.
fn is_region_name(s: &str) -> bool {
    if s.is_empty() || s.len() > Region::MAX_LEN {
        return false;
    }
    let parts: Vec<&str> = s.split('-').collect();
    let Some((number, words)) = parts.split_last() else {
        return false;
    };
    let Some((geo, rest)) = words.split_first() else {
        return false;
    };
    let letters = |p: &str| !p.is_empty() && p.bytes().all(|b| b.is_ascii_lowercase());
    (1..=2).contains(&number.len())
        && number.bytes().all(|b| b.is_ascii_digit())
        && (2..=4).contains(&geo.len())
        && letters(geo)
        && (1..=2).contains(&rest.len())
        && rest.iter().all(|p| letters(p))
}

impl fmt::Display for Region {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for Region {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        Self::parse(s)
    }
}

impl AsRef<str> for Region {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl<'de> Deserialize<'de> for Region {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Self::parse(&s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn every_partitions_region_shape_is_accepted() {
        for r in [
            "us-east-1",
            "us-west-2",
            "eu-central-2",
            "eu-south-2",
            "ap-southeast-4",
            "ap-northeast-3",
            "il-central-1",
            "me-central-1",
            "mx-central-1",
            "ca-west-1",
            "af-south-1",
            "sa-east-1",
            "cn-north-1",
            "cn-northwest-1",
            "us-gov-west-1",
            "us-gov-east-1",
            "us-iso-east-1",
            "us-isob-east-1",
            "us-isof-south-1",
            "eu-isoe-west-1",
            "eusc-de-east-1",
        ] {
            assert_eq!(Region::parse(r).unwrap().as_str(), r);
        }
    }

    #[test]
    fn hostile_and_malformed_names_are_refused() {
        for r in [
            "",
            "evil.example/x",
            "us-east-1.evil.example",
            "us-east-1/",
            "us-east-1:443",
            "us-east-1@evil",
            "us-east-1#",
            "us-east-1?x",
            "us-east-1%2e",
            "US-EAST-1",
            "Us-east-1",
            " us-east-1",
            "us-east-1 ",
            "us-east-1\n",
            "us--east-1",
            "-us-east-1",
            "us-east-",
            "us-east",
            "useast1",
            "us-1",
            "u-east-1",
            "usxxx-east-1",
            "us-east-123",
            "us-east-1a",
            "us-ea5t-1",
            "us-a-b-c-1",
            "us-east_1",
            "üs-east-1",
            "aws-global",
            "local",
        ] {
            assert!(Region::parse(r).is_err(), "{r:?} accepted");
        }
        assert!(Region::parse(&format!("us-{}-1", "e".repeat(40))).is_err());
    }

    #[test]
    fn serde_refuses_what_parse_refuses() {
        assert_eq!(
            serde_json::from_str::<Region>("\"eu-west-1\"").unwrap(),
            Region::parse("eu-west-1").unwrap()
        );
        assert!(serde_json::from_str::<Region>("\"eu-west-1.evil\"").is_err());
        assert_eq!(
            serde_json::to_string(&Region::parse("eu-west-1").unwrap()).unwrap(),
            "\"eu-west-1\""
        );
    }

    proptest! {
        /// Whatever is accepted cannot change the structure of a URL it is substituted into.
        #[test]
        fn accepted_names_are_one_dns_label_safe_string(s in "[a-zA-Z0-9./:@%?#_ -]{0,20}") {
            if let Ok(r) = Region::parse(&s) {
                prop_assert!(r.as_str().bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-'));
                prop_assert!(!r.as_str().starts_with('-') && !r.as_str().ends_with('-'));
            }
        }
    }
}
