//! Globs: `*` matches a run of characters, everything else is literal.
//!
//! The one place that knows how a pattern string matches a string. Structured values are never matched by one glob
//! over their text: a principal pattern ([`crate::principal_pattern`]) uses one glob per ARN field, an
//! [`AudiencePattern`] a glob whose `*` stays inside one URL component; the shaping fields' tag-key patterns are
//! plain globs (a tag key has no structure).

/// What `*` never matches in an audience pattern: the URL delimiters `/ ? # @ :` (RFC 3986's gen-delims without
/// `[ ]`) and `\`, which WHATWG URL parsers read as `/` in `http(s)` URLs.
pub const URL_DELIMITERS: &[char] = &['/', '?', '#', '@', ':', '\\'];

/// A glob where `*` matches any run of characters (including none) that holds none of its stop characters;
/// everything else is literal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Glob {
    pattern: String,
    parts: Vec<String>,
    anchored_start: bool,
    anchored_end: bool,
    stops: &'static [char],
}

impl Glob {
    /// `*` matches any run of characters.
    pub fn new(pattern: &str) -> Self {
        Self::stopping_at(pattern, &[])
    }

    /// `*` matches any run of characters without any of `stops`.
    pub fn stopping_at(pattern: &str, stops: &'static [char]) -> Self {
        Self {
            pattern: pattern.to_owned(),
            anchored_start: !pattern.starts_with('*'),
            anchored_end: !pattern.ends_with('*'),
            parts: pattern
                .split('*')
                .filter(|p| !p.is_empty())
                .map(str::to_owned)
                .collect(),
            stops,
        }
    }

    /// The pattern as written.
    pub fn pattern(&self) -> &str {
        &self.pattern
    }

    /// Whether the pattern has no `*`.
    pub fn is_literal(&self) -> bool {
        !self.pattern.contains('*')
    }

    /// Linear-time greedy match: literal segments must appear in order; the first is anchored at the start and
    /// the last at the end unless the pattern begins/ends with `*`. Taking the earliest occurrence of each literal
    /// is right even with stop characters: a later occurrence leaves a gap that holds the earlier one's gap.
    pub fn matches(&self, s: &str) -> bool {
        let free = |gap: &str| !gap.contains(self.stops);
        let mut rest = s;
        let n = self.parts.len();
        if n == 0 {
            // Pattern is empty or only stars.
            return if self.anchored_start {
                s.is_empty()
            } else {
                free(s)
            };
        }
        for (i, part) in self.parts.iter().enumerate() {
            let first = i == 0;
            let last = i == n - 1;
            if first && self.anchored_start {
                let Some(r) = rest.strip_prefix(part.as_str()) else {
                    return false;
                };
                rest = r;
                if last && self.anchored_end {
                    return rest.is_empty();
                }
                continue;
            }
            if last && self.anchored_end {
                return rest.strip_suffix(part.as_str()).is_some_and(free);
            }
            match rest.find(part.as_str()) {
                Some(pos) if free(&rest[..pos]) => rest = &rest[pos + part.len()..],
                _ => return false,
            }
        }
        // The pattern ends with `*`, which takes the rest.
        free(rest)
    }
}

/// An audience pattern (DESIGN.md §4): `*` matches inside one URL component (a run of host labels, one path
/// segment, …) and never crosses [`URL_DELIMITERS`], so `https://*.example.com` grants subdomains of
/// `example.com` and no other host. A pattern of only `*` grants every audience.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AudiencePattern(Glob);

impl AudiencePattern {
    pub fn new(pattern: &str) -> Self {
        Self(Glob::stopping_at(pattern, URL_DELIMITERS))
    }

    /// The pattern as written.
    pub fn pattern(&self) -> &str {
        self.0.pattern()
    }

    pub fn matches(&self, audience: &str) -> bool {
        (self.0.parts.is_empty() && !self.0.pattern.is_empty()) || self.0.matches(audience)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn glob_semantics() {
        let cases = [
            ("*", "", true),
            ("*", "anything", true),
            ("", "", true),
            ("", "x", false),
            ("abc", "abc", true),
            ("abc", "abcd", false),
            ("a*c", "ac", true),
            ("a*c", "abbbc", true),
            ("a*c", "abcd", false),
            ("*.example.com", "https://x.example.com", true),
            ("https://*.example.com", "https://a.b.example.com", true),
            ("https://*.example.com", "https://example.com", false),
            ("https://*.example.com", "https://x.example.com.evil", false),
            ("a*b*c", "aXbYc", true),
            ("a*b*c", "acb", false),
            ("a**b", "ab", true),
            ("*ab", "aab", true),
            ("ab*", "ab", true),
            ("a*a", "a", false),
            (
                "arn:aws:iam::111122223333:role/ci-*",
                "arn:aws:iam::111122223333:role/ci-deploy",
                true,
            ),
            (
                "arn:aws:iam::111122223333:role/ci-*",
                "arn:aws:iam::111122223333:role/prod",
                false,
            ),
        ];
        for (p, s, want) in cases {
            assert_eq!(Glob::new(p).matches(s), want, "{p:?} vs {s:?}");
        }
    }
}
