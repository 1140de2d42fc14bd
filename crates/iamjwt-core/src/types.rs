//! Small domain types: parse at the edge, trust inside.

use crate::error::Error;
use crate::limits::AUDIENCE_MAX_CHARS;
use serde::{Deserialize, Serialize};
use std::fmt;

pub use crate::alg::Algorithm;

/// One of the three key slots per algorithm (DESIGN.md §5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum KeySlot {
    /// Published, not yet signing.
    Pending,
    /// Signing and published.
    Current,
    /// Verify-only, still published.
    Previous,
}

impl KeySlot {
    pub const ALL: [KeySlot; 3] = [KeySlot::Pending, KeySlot::Current, KeySlot::Previous];
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Current => "current",
            Self::Previous => "previous",
        }
    }
}

impl fmt::Display for KeySlot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// JWK thumbprint key id (RFC 7638, SHA-256, base64url).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Kid(String);

impl Kid {
    pub fn new(s: impl Into<String>) -> Self {
        Self(s.into())
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Kid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// An adapter's handle on a key: a KMS key id (never an alias) or a local key file id.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct KeyId(String);

impl KeyId {
    pub fn new(s: impl Into<String>) -> Self {
        Self(s.into())
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A validated audience: 1–1000 characters, none of them control characters (DESIGN.md §1).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct Audience(String);

impl Audience {
    pub fn parse(s: &str) -> Result<Self, Error> {
        let len = s.chars().count();
        if len == 0 {
            return Err(Error::InvalidRequest("aud must not be empty".into()));
        }
        if len > AUDIENCE_MAX_CHARS {
            return Err(Error::InvalidRequest(format!(
                "aud is {len} characters; the limit is {AUDIENCE_MAX_CHARS}"
            )));
        }
        if s.chars().any(char::is_control) {
            return Err(Error::InvalidRequest(
                "aud must not contain control characters".into(),
            ));
        }
        Ok(Self(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Audience {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Shortens untrusted input before it is echoed in an error message.
pub fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_owned()
    } else {
        let mut out: String = s.chars().take(max).collect();
        out.push('…');
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn audience_rules() {
        assert!(Audience::parse("api://ci").is_ok());
        assert!(Audience::parse(&"a".repeat(AUDIENCE_MAX_CHARS)).is_ok());
        assert!(Audience::parse(&"a".repeat(AUDIENCE_MAX_CHARS + 1)).is_err());
        assert!(Audience::parse("").is_err());
        assert!(Audience::parse("a\u{7}b").is_err());
        assert!(Audience::parse("a\nb").is_err());
        assert!(Audience::parse("émoji ✓").is_ok());
    }
}
