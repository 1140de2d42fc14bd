//! Each serializer read back by an independent parser of its language: the `shlex` crate for POSIX shell words,
//! serde_json for the YAML double-quoted scalars (they are JSON strings too; PyYAML reads them in
//! `tests/interop/trust_shapes.py`), and a lexer written here from Snowflake's documented string-constant rules.

#![allow(clippy::unwrap_used)]
use super::*;
use proptest::prelude::*;
use serde_json::json;

/// Hostile strings: every character IAM allows in a path that a shell, SQL or YAML reader treats specially.
const HOSTILE: &[&str] = &[
    "",
    "'",
    "\\",
    "\\'",
    "'\\",
    "x\\",
    "\"",
    "$HOME",
    "$(touch /tmp/pwned)",
    "`id`",
    "a:b",
    "#c",
    "{a,b}",
    "~root",
    "=ls",
    "*",
    "!!",
    "a b",
    "it''s",
    "arn:aws:iam::111122223333:user/o'b\\r\"i$`e{n}#:/x",
    "line\nbreak",
    "- item",
    "key: value",
    "&anchor *alias !tag %dir @at",
    "yes",
    "null",
    "\u{2028}\u{2029}\u{85}\u{feff}",
    "\u{1F600}",
];

/// Snowflake's single-quoted string constant (docs: "Escape sequences in single-quoted string constants"): `''`
/// is a quote; `\'`, `\"`, `\\`, `\b`, `\f`, `\n`, `\r`, `\t`, `\0`, `\ooo` (octal), `\xhh`, `\uhhhh`; a
/// backslash before any other character is dropped. Returns the value and what follows the closing quote.
fn snowflake_lex(s: &str) -> Option<(String, &str)> {
    let rest = s.strip_prefix('\'')?;
    let mut out = String::new();
    let mut it = rest.char_indices().peekable();
    while let Some((i, c)) = it.next() {
        match c {
            '\'' if it.peek().is_some_and(|(_, n)| *n == '\'') => {
                it.next();
                out.push('\'');
            }
            '\'' => return Some((out, &rest[i + 1..])),
            '\\' => {
                let (_, e) = it.next()?;
                let hex = |it: &mut std::iter::Peekable<std::str::CharIndices<'_>>, n: usize| {
                    let digits: String = (0..n).filter_map(|_| it.next().map(|(_, c)| c)).collect();
                    u32::from_str_radix(&digits, 16)
                        .ok()
                        .and_then(char::from_u32)
                };
                match e {
                    'b' => out.push('\u{8}'),
                    'f' => out.push('\u{c}'),
                    'n' => out.push('\n'),
                    'r' => out.push('\r'),
                    't' => out.push('\t'),
                    '0'..='7' => {
                        let mut v = e.to_digit(8)?;
                        for _ in 0..2 {
                            match it.peek() {
                                Some((_, d)) if d.is_digit(8) => {
                                    v = v * 8 + d.to_digit(8)?;
                                    it.next();
                                }
                                _ => break,
                            }
                        }
                        out.push(char::from_u32(v)?);
                    }
                    'x' => out.push(hex(&mut it, 2)?),
                    'u' => out.push(hex(&mut it, 4)?),
                    other => out.push(other),
                }
            }
            c => out.push(c),
        }
    }
    None
}

/// gcloud's list syntax (`gcloud topic escaping`): `^D^` sets the delimiter, else `,`.
fn gcloud_split(s: &str) -> Vec<String> {
    if let Some(rest) = s.strip_prefix('^')
        && let Some((d, items)) = rest.split_once('^')
        && !d.is_empty()
    {
        return items.split(d).map(str::to_owned).collect();
    }
    s.split(',').map(str::to_owned).collect()
}

/// YAML's printable set (YAML 1.2 §5.1) minus what YAML 1.1 readers take as a line break.
fn yaml_safe(c: char) -> bool {
    matches!(c, '\u{20}'..='\u{7E}' | '\u{A0}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..)
        && !matches!(c, '\u{2028}' | '\u{2029}' | '\u{FEFF}')
}

fn no_controls(s: &str) -> bool {
    !s.chars().any(char::is_control)
}

#[test]
fn hostile_strings_round_trip() {
    for s in HOSTILE {
        let y = yaml_string(s);
        assert_eq!(serde_json::from_str::<String>(&y).unwrap(), *s, "{y}");
        assert!(y.chars().all(yaml_safe), "{y:?}");
        // Newline is the one control character shell and SQL output carry (see the next test).
        if no_controls(&s.replace('\n', "")) {
            let word = shell_word(s).unwrap();
            assert_eq!(shlex::split(&word), Some(vec![(*s).to_owned()]), "{word}");
            let sql = snowflake_string(s).unwrap();
            assert_eq!(snowflake_lex(&sql), Some(((*s).to_owned(), "")), "{sql}");
        }
        assert!(
            comment_text(s).chars().all(|c| c != '\n' && yaml_safe(c)),
            "{s:?}"
        );
    }
}

#[test]
fn quoting_by_example() {
    assert_eq!(shell_word("a'b").unwrap(), r"'a'\''b'");
    assert_eq!(
        shell_word("plain-word_1.2:/x@y,z=w").unwrap(),
        "plain-word_1.2:/x@y,z=w"
    );
    assert_eq!(shell_word("=x").unwrap(), "'=x'");
    assert_eq!(shell_word("").unwrap(), "''");
    assert_eq!(snowflake_string("a'b").unwrap(), "'a''b'");
    // Snowflake reads `\'` as a quote: the backslash itself must be escaped, or `x\` would end as `x'…`.
    assert_eq!(snowflake_string(r"x\").unwrap(), r"'x\\'");
    assert_eq!(yaml_string("a\"b\u{2028}"), "\"a\\\"b\\u2028\"");
    assert_eq!(
        crate::trust::host_path("https://h.example/p"),
        "h.example/p"
    );
}

#[test]
fn control_characters_are_refused_where_they_act() {
    for c in ['\u{1b}', '\u{3}', '\u{7f}', '\u{85}', '\u{0}'] {
        let s = format!("a{c}b");
        assert!(shell_word(&s).is_err(), "{s:?}");
        assert!(snowflake_string(&s).is_err(), "{s:?}");
    }
    // A newline is inert inside single quotes; Snowflake has an escape for it.
    assert_eq!(shell_word("a\nb").unwrap(), "'a\nb'");
    assert_eq!(snowflake_string("a\nb").unwrap(), r"'a\nb'");
}

#[test]
fn yaml_of_nested_values() {
    let v = json!({"a": [{"b": "x", "c": ["y"]}], "d": {"e": 1}});
    assert_eq!(
        yaml(&v).unwrap(),
        "a:\n- b: \"x\"\n  c:\n  - \"y\"\nd:\n  e: 1\n"
    );
    // Keys a YAML 1.1 reader would take for a boolean, and keys that are not identifiers, are quoted. (Written in
    // sorted order: serde_json keeps insertion order when another crate of the build enables `preserve_order`.)
    let v = json!({"a b": {}, "k": [["n"]], "yes": []});
    assert_eq!(
        yaml(&v).unwrap(),
        "\"a b\": {}\nk:\n- [\"n\"]\n\"yes\": []\n"
    );
    assert!(yaml(&json!({"f": 1.5})).is_err());
}

#[test]
fn gcloud_lists() {
    assert_eq!(gcloud_list(&["a", "b"]).unwrap(), "a,b");
    assert_eq!(gcloud_list(&["a,b"]).unwrap(), "^;^a,b");
    assert_eq!(gcloud_list(&["^x"]).unwrap(), "^;^^x");
    assert_eq!(gcloud_split("^;^^x"), ["^x"]);
    assert!(gcloud_list(&[";|:~!#@%+,"]).is_err());
}

#[test]
fn script_lines() {
    let mut s = Script::hash();
    s.comment("x\ny").command(&["echo", "a b", "$c"]).unwrap();
    s.command_lines(&["gcloud", "x"], &["--f='v'", "--g=w"])
        .unwrap();
    let text = s.finish();
    assert_eq!(
        text,
        "# x\\u{000A}y\necho 'a b' '$c'\ngcloud x \\\n  '--f='\\''v'\\''' \\\n  --g=w\n"
    );
}

proptest! {
    #[test]
    fn shell_words_round_trip(words in proptest::collection::vec("[ -~\n]{0,24}", 1..5)) {
        let line = shell_command(&words).unwrap();
        prop_assert_eq!(shlex::split(&line), Some(words));
    }

    #[test]
    fn shell_words_round_trip_unicode(s in "\\PC{0,24}") {
        prop_assert_eq!(shlex::split(&shell_word(&s).unwrap()), Some(vec![s]));
    }

    #[test]
    fn snowflake_strings_round_trip(s in "[ -~\n\r\t]{0,40}") {
        let lit = snowflake_string(&s).unwrap();
        prop_assert_eq!(snowflake_lex(&lit), Some((s, "")));
    }

    #[test]
    fn snowflake_strings_round_trip_unicode(s in "\\PC{0,24}") {
        let lit = snowflake_string(&s).unwrap();
        prop_assert_eq!(snowflake_lex(&lit), Some((s, "")));
    }

    #[test]
    fn yaml_strings_round_trip(s in any::<String>()) {
        let y = yaml_string(&s);
        prop_assert!(y.chars().all(yaml_safe), "{:?}", y);
        prop_assert_eq!(serde_json::from_str::<String>(&y).unwrap(), s);
    }

    #[test]
    fn comments_stay_on_one_line(s in any::<String>()) {
        prop_assert!(comment_text(&s).chars().all(|c| !c.is_control() && yaml_safe(c)));
    }

    #[test]
    fn gcloud_lists_round_trip(items in proptest::collection::vec("[ -~]{1,12}", 1..4)) {
        if let Ok(v) = gcloud_list(&items) {
            prop_assert_eq!(gcloud_split(&v), items);
        }
    }
}

#[test]
fn shell_variables_stay_one_word() {
    let app = ShellVar("APP_ARN");
    let w = shell_word_parts(&[Part::text("a'b "), Part::Var(app), Part::text("$x")]).unwrap();
    assert_eq!(w, r#"'a'\''b '"$APP_ARN"'$x'"#);
    assert_eq!(shlex::split(&w), Some(vec!["a'b $APP_ARN$x".to_owned()]));
    // A JSON document carrying a value the script learns while it runs: one word, valid JSON once expanded.
    let v = json!({"ApplicationArn": app.placeholder(), "Name": "it's \"quoted\" $HOME"});
    let word = json_shell_word(&v, &[app]).unwrap();
    let [back] = shlex::split(&word).unwrap().try_into().unwrap();
    let parsed: Value = serde_json::from_str(
        &back.replace("$APP_ARN", "arn:aws:sso::123456789012:application/x/y"),
    )
    .unwrap();
    assert_eq!(
        parsed,
        json!({"ApplicationArn": "arn:aws:sso::123456789012:application/x/y", "Name": "it's \"quoted\" $HOME"})
    );
    assert_eq!(show_vars(&v, &[app])["ApplicationArn"], "${APP_ARN}");
    // Only constant upper-case names, only known variables.
    assert!(shell_word_parts(&[Part::Var(ShellVar("app"))]).is_err());
    assert!(shell_word_parts(&[Part::Var(ShellVar("A B"))]).is_err());
    assert!(json_shell_word(&json!({"a": ShellVar("OTHER").placeholder()}), &[app]).is_err());
    let mut s = Script::hash();
    s.assign(
        app,
        &[
            vec![Part::text("aws")],
            vec![Part::text("x y"), Part::Var(ShellVar("TTI"))],
        ],
    )
    .unwrap();
    assert_eq!(s.finish(), "APP_ARN=$(aws 'x y'\"$TTI\")\n");
}
