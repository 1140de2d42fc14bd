//! Globs: `*` matches a run of characters, everything else is literal.
//!
//! The one place that knows how a pattern string matches a string: the audience policy's principal and audience
//! patterns and the shaping fields' tag-key patterns all match through it.

/// A glob where `*` matches any run of characters (including none); everything else is literal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Glob {
    pattern: String,
    parts: Vec<String>,
    anchored_start: bool,
    anchored_end: bool,
}

impl Glob {
    pub fn new(pattern: &str) -> Self {
        let parts: Vec<String> = pattern.split('*').map(str::to_owned).collect();
        Self {
            pattern: pattern.to_owned(),
            anchored_start: !pattern.starts_with('*'),
            anchored_end: !pattern.ends_with('*'),
            parts: parts.into_iter().filter(|p| !p.is_empty()).collect(),
        }
    }

    /// The pattern as written.
    pub fn pattern(&self) -> &str {
        &self.pattern
    }

    /// Linear-time greedy match: literal segments must appear in order; the first is anchored at the start and
    /// the last at the end unless the pattern begins/ends with `*`.
    pub fn matches(&self, s: &str) -> bool {
        let mut rest = s;
        let n = self.parts.len();
        if n == 0 {
            // Pattern is empty or only stars.
            return !self.anchored_start || s.is_empty();
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
                return rest.len() >= part.len() && rest.ends_with(part.as_str());
            }
            match rest.find(part.as_str()) {
                Some(pos) => rest = &rest[pos + part.len()..],
                None => return false,
            }
        }
        !self.anchored_end || rest.is_empty()
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
