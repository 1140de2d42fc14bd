//! The Entra clouds: a fact `verify --for azure` reads and a choice `trust azure` takes (each cloud has its own
//! token-exchange audience).

use crate::Error;
use iamjwt_core::types::truncate;
use std::str::FromStr;

/// Which Entra cloud: each has its own token-exchange audience (VERIFIERS.md, Entra "audience").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AzureCloud {
    #[default]
    Public,
    UsGov,
    China,
}

impl AzureCloud {
    pub const ALL: [AzureCloud; 3] = [Self::Public, Self::UsGov, Self::China];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Public => "public",
            Self::UsGov => "usgov",
            Self::China => "china",
        }
    }

    /// The one audience Entra accepts in this cloud.
    pub fn audience(self) -> &'static str {
        match self {
            Self::Public => "api://AzureADTokenExchange",
            Self::UsGov => "api://AzureADTokenExchangeUSGov",
            Self::China => "api://AzureADTokenExchangeChina",
        }
    }
}

impl FromStr for AzureCloud {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        Self::ALL
            .into_iter()
            .find(|c| c.as_str() == s)
            .ok_or_else(|| {
                Error::Usage(format!(
                    "unknown Azure cloud {:?}: expected public, usgov or china",
                    truncate(s, 32)
                ))
            })
    }
}
