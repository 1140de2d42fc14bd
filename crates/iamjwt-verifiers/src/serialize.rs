//! One serializer per language `trust` prints: POSIX shell words, Snowflake SQL string literals, YAML, JSON, CEL
//! string literals and gcloud list arguments, plus comments in any of them.
//!
//! Every value a document carries reaches the output through one of these, never through `format!` into a
//! command: an IAM path may hold any printable ASCII (`'`, `\`, `"`, `$`, `` ` ``, `#`, `:`, `{`), and an
//! administrator pastes the output into a shell or a SQL console. Each serializer is proven by a round trip through
//! the language's own parser (`tests/interop/trust_shapes.py`: shlex, PyYAML, a Snowflake literal lexer; the unit
//! tests below: the `shlex` crate, serde_json, a lexer following Snowflake's rules).
//!
//! Control characters never come from IAM. Where a language cannot hold one safely (an interactive shell acts on
//! ESC or ^C even inside quotes) the serializer refuses it; where it can (YAML, JSON) it escapes it.

use crate::Error;
use iamjwt_core::types::truncate;
use serde::Serialize;
use serde_json::Value;

fn control(what: &str, s: &str, c: char) -> Error {
    Error::Unrepresentable(format!(
        "{what} {:?} holds the control character U+{:04X}, which no verifier accepts: remove it",
        truncate(s, 60),
        u32::from(c)
    ))
}

// ---------------------------------------------------------------------------------------------------------------
// POSIX shell

/// Characters a word may hold unquoted in every POSIX shell (Python's `shlex.quote` set; `=` only after the first
/// character, since zsh expands a word that starts with it).
fn shell_safe(s: &str) -> bool {
    !s.is_empty()
        && !s.starts_with('=')
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"@%+=:,./_-".contains(&b))
}

/// One shell word: unquoted when every character is inert, else single-quoted with `'` written as `'\''` (POSIX
/// §2.2.2: nothing is special between single quotes, except the quote itself). Newlines stay literal inside the
/// quotes; every other control character is refused, since pasted into an interactive shell it acts even there.
pub fn shell_word(s: &str) -> Result<String, Error> {
    if let Some(c) = s.chars().find(|c| c.is_control() && *c != '\n') {
        return Err(control("shell word", s, c));
    }
    if shell_safe(s) {
        return Ok(s.to_owned());
    }
    Ok(format!("'{}'", s.replace('\'', r"'\''")))
}

/// A shell command line: each word through [`shell_word`], separated by spaces.
pub fn shell_command<S: AsRef<str>>(words: &[S]) -> Result<String, Error> {
    Ok(words
        .iter()
        .map(|w| shell_word(w.as_ref()))
        .collect::<Result<Vec<_>, _>>()?
        .join(" "))
}

// ---------------------------------------------------------------------------------------------------------------
// Snowflake SQL

/// A Snowflake single-quoted string constant. Snowflake reads BOTH `''` and backslash escapes inside `'…'`
/// (`\'`, `\\`, `\n`, `\t`, octal, hex, `\u`; any other `\c` is `c`), so `\` is written `\\` and `'` is written
/// `''`; newline, carriage return and tab as `\n`, `\r`, `\t`; other control characters are refused.
pub fn snowflake_string(s: &str) -> Result<String, Error> {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('\'');
    for c in s.chars() {
        match c {
            '\'' => out.push_str("''"),
            '\\' => out.push_str(r"\\"),
            '\n' => out.push_str(r"\n"),
            '\r' => out.push_str(r"\r"),
            '\t' => out.push_str(r"\t"),
            c if c.is_control() => return Err(control("SQL string", s, c)),
            c => out.push(c),
        }
    }
    out.push('\'');
    Ok(out)
}

// ---------------------------------------------------------------------------------------------------------------
// YAML

/// A YAML double-quoted scalar (YAML 1.2 §7.3.1), written so that it is also a JSON string: `"` and `\` escaped,
/// every character outside YAML's printable set, and every character YAML 1.1 parsers treat as a line break
/// (U+0085, U+2028, U+2029), as `\uXXXX`; the BOM too.
pub fn yaml_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str(r"\\"),
            '\n' => out.push_str(r"\n"),
            '\r' => out.push_str(r"\r"),
            '\t' => out.push_str(r"\t"),
            c if c.is_control()
                || matches!(
                    c,
                    '\u{2028}' | '\u{2029}' | '\u{FEFF}' | '\u{FFFE}' | '\u{FFFF}'
                ) =>
            {
                out.push_str(&format!("\\u{:04X}", u32::from(c)));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A mapping key: plain when it is an identifier no YAML 1.1 parser reads as a boolean or null, else quoted.
fn yaml_key(k: &str) -> String {
    let identifier = k
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    let reserved = matches!(
        k.to_ascii_lowercase().as_str(),
        "y" | "yes" | "n" | "no" | "true" | "false" | "on" | "off" | "null"
    );
    if identifier && !reserved {
        k.to_owned()
    } else {
        yaml_string(k)
    }
}

/// A value in flow style: scalars, `[…]`, `{…}`.
fn yaml_flow(v: &Value) -> Result<String, Error> {
    Ok(match v {
        Value::Null => "null".to_owned(),
        Value::Bool(b) => b.to_string(),
        // YAML 1.1 reads `1e5` as a string: only integers are written as numbers.
        Value::Number(n) if n.is_i64() || n.is_u64() => n.to_string(),
        Value::Number(n) => {
            return Err(Error::Unrepresentable(format!(
                "the YAML serializer writes integers only, not {n}"
            )));
        }
        Value::String(s) => yaml_string(s),
        Value::Array(a) => format!(
            "[{}]",
            a.iter()
                .map(yaml_flow)
                .collect::<Result<Vec<_>, _>>()?
                .join(", ")
        ),
        Value::Object(m) => format!(
            "{{{}}}",
            m.iter()
                .map(|(k, v)| Ok(format!("{}: {}", yaml_string(k), yaml_flow(v)?)))
                .collect::<Result<Vec<_>, Error>>()?
                .join(", ")
        ),
    })
}

/// A YAML document in block style (mappings and sequences of mappings), scalars through [`yaml_string`].
pub fn yaml(v: &Value) -> Result<String, Error> {
    let mut out = String::new();
    yaml_block(v, 0, &mut out)?;
    Ok(out)
}

fn yaml_block(v: &Value, indent: usize, out: &mut String) -> Result<(), Error> {
    let pad = " ".repeat(indent);
    match v {
        Value::Object(m) if !m.is_empty() => {
            for (k, v) in m {
                let key = yaml_key(k);
                match v {
                    Value::Object(c) if !c.is_empty() => {
                        out.push_str(&format!("{pad}{key}:\n"));
                        yaml_block(v, indent + 2, out)?;
                    }
                    Value::Array(a) if !a.is_empty() => {
                        out.push_str(&format!("{pad}{key}:\n"));
                        yaml_block(v, indent, out)?;
                    }
                    _ => out.push_str(&format!("{pad}{key}: {}\n", yaml_flow(v)?)),
                }
            }
        }
        Value::Array(a) if !a.is_empty() => {
            for item in a {
                match item {
                    Value::Object(c) if !c.is_empty() => {
                        // The first member goes on the dash line.
                        let mut nested = String::new();
                        yaml_block(item, indent + 2, &mut nested)?;
                        out.push_str(&format!("{pad}- {}", nested.trim_start()));
                    }
                    _ => out.push_str(&format!("{pad}- {}\n", yaml_flow(item)?)),
                }
            }
        }
        scalar => out.push_str(&format!("{pad}{}\n", yaml_flow(scalar)?)),
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------------------------
// JSON, CEL, gcloud

/// Compact JSON (serde_json).
pub fn json<T: Serialize + ?Sized>(v: &T) -> Result<String, Error> {
    serde_json::to_string(v).map_err(|e| Error::Unrepresentable(format!("cannot serialise: {e}")))
}

/// Indented JSON (serde_json), for `--output json`.
pub fn json_pretty<T: Serialize + ?Sized>(v: &T) -> Result<String, Error> {
    serde_json::to_string_pretty(v)
        .map_err(|e| Error::Unrepresentable(format!("cannot serialise: {e}")))
}

/// A CEL string literal (GCP attribute conditions, Kubernetes claim validation rules). serde_json's escapes
/// (`\"`, `\\`, `\n`, `\uXXXX`, …) are all CEL escapes with the same meaning.
pub fn cel_string(s: &str) -> String {
    Value::String(s.to_owned()).to_string()
}

/// A gcloud list flag value (`--allowed-audiences=A,B`). gcloud splits on `,`; an item that holds one is written
/// with gcloud's alternate-delimiter form `^D^A D B` (`gcloud topic escaping`), with a delimiter no item holds.
pub fn gcloud_list<S: AsRef<str>>(items: &[S]) -> Result<String, Error> {
    let items: Vec<&str> = items.iter().map(AsRef::as_ref).collect();
    let plain = !items.iter().any(|i| i.contains(','))
        && !items.first().is_some_and(|i| i.starts_with('^'));
    if plain {
        return Ok(items.join(","));
    }
    [';', '|', ':', '~', '!', '#', '@', '%', '+']
        .into_iter()
        .find(|d| !items.iter().any(|i| i.contains(*d)))
        .map(|d| format!("^{d}^{}", items.join(&d.to_string())))
        .ok_or_else(|| {
            Error::Unrepresentable(format!(
                "no gcloud list delimiter fits {:?}",
                truncate(&items.join(","), 60)
            ))
        })
}

// ---------------------------------------------------------------------------------------------------------------
// Comments

/// Text for a comment line (`# …`, `-- …`): only a line break ends a comment, so every character that could break
/// the line in some reader (controls, U+2028, U+2029, the BOM) is shown as `\u{…}` instead.
pub fn comment_text(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if c.is_control() || matches!(c, '\u{2028}' | '\u{2029}' | '\u{FEFF}') {
            out.push_str(&format!("\\u{{{:04X}}}", u32::from(c)));
        } else {
            out.push(c);
        }
    }
    out
}

/// A script in one language: comment lines and statements, each statement's values already serialized.
#[derive(Debug)]
pub struct Script {
    comment: &'static str,
    out: String,
}

impl Script {
    /// `#` comments (shell, YAML). In a shell script, write the values a comment shows as [`shell_word`]s too:
    /// zsh without `interactive_comments` runs a pasted `# …` line as a command, expansions first.
    pub fn hash() -> Self {
        Self {
            comment: "#",
            out: String::new(),
        }
    }

    /// `--` comments (SQL).
    pub fn sql() -> Self {
        Self {
            comment: "--",
            out: String::new(),
        }
    }

    /// One comment line; `text` may hold values (they are made line-safe with [`comment_text`]).
    pub fn comment(&mut self, text: &str) -> &mut Self {
        self.out.push_str(self.comment);
        self.out.push(' ');
        self.out.push_str(&comment_text(text));
        self.out.push('\n');
        self
    }

    /// A shell command on one line.
    pub fn command<S: AsRef<str>>(&mut self, words: &[S]) -> Result<&mut Self, Error> {
        self.out.push_str(&shell_command(words)?);
        self.out.push('\n');
        Ok(self)
    }

    /// A shell command with `head` on the first line and each of `rest` on a continuation line.
    pub fn command_lines<S: AsRef<str>>(
        &mut self,
        head: &[S],
        rest: &[S],
    ) -> Result<&mut Self, Error> {
        self.out.push_str(&shell_command(head)?);
        for w in rest {
            self.out.push_str(" \\\n  ");
            self.out.push_str(&shell_word(w.as_ref())?);
        }
        self.out.push('\n');
        Ok(self)
    }

    /// Text already serialized in the script's language (a YAML document, a SQL statement).
    pub fn serialized(&mut self, text: &str) -> &mut Self {
        self.out.push_str(text);
        if !text.ends_with('\n') {
            self.out.push('\n');
        }
        self
    }

    pub fn finish(self) -> String {
        self.out
    }
}

#[cfg(test)]
#[path = "serialize/tests.rs"]
mod tests;
