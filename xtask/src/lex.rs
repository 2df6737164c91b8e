//! A small Rust tokenizer: enough to find paths and types without being fooled by comments,
//! strings, char literals or lifetimes, and to drop test-only code (`#[cfg(test)]` items,
//! `mod tests`, `#[test]` functions) before the checks look at it.

/// What a token is; only identifiers and punctuation matter to the checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Ident,
    Punct,
    /// Numbers, strings, chars, lifetimes: kept so neighbouring tokens are not glued together.
    Literal,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Token {
    pub kind: Kind,
    pub text: String,
    pub line: usize,
}

impl Token {
    pub fn is(&self, text: &str) -> bool {
        self.kind != Kind::Literal && self.text == text
    }

    pub fn is_ident(&self) -> bool {
        self.kind == Kind::Ident
    }
}

struct Lexer {
    chars: Vec<char>,
    pos: usize,
    line: usize,
    tokens: Vec<Token>,
}

/// Splits source text into tokens. Comments vanish; strings and chars become one literal each.
/// `::`, `->` and `=>` are single tokens; every other punctuation character is its own token
/// (so `>>` closing two generics is two `>`).
pub fn tokenize(source: &str) -> Vec<Token> {
    let mut lexer = Lexer {
        chars: source.chars().collect(),
        pos: 0,
        line: 1,
        tokens: Vec::new(),
    };
    while lexer.pos < lexer.chars.len() {
        lexer.step();
    }
    lexer.tokens
}

impl Lexer {
    fn peek(&self, ahead: usize) -> Option<char> {
        self.chars.get(self.pos + ahead).copied()
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.chars.get(self.pos).copied()?;
        self.pos += 1;
        if c == '\n' {
            self.line += 1;
        }
        Some(c)
    }

    fn push(&mut self, kind: Kind, text: String, line: usize) {
        self.tokens.push(Token { kind, text, line });
    }

    fn step(&mut self) {
        let Some(c) = self.peek(0) else { return };
        let line = self.line;
        match c {
            c if c.is_whitespace() => {
                self.bump();
            }
            '/' if self.peek(1) == Some('/') => self.skip_line_comment(),
            '/' if self.peek(1) == Some('*') => self.skip_block_comment(),
            '"' => {
                self.skip_quoted('"');
                self.push(Kind::Literal, "\"\"".into(), line);
            }
            '\'' => self.char_or_lifetime(line),
            c if c.is_ascii_digit() => {
                let text = self.take_word();
                self.push(Kind::Literal, text, line);
            }
            c if is_ident_start(c) => self.word(line),
            _ => self.punct(line),
        }
    }

    fn skip_line_comment(&mut self) {
        while let Some(c) = self.peek(0) {
            if c == '\n' {
                return;
            }
            self.bump();
        }
    }

    fn skip_block_comment(&mut self) {
        let mut depth = 0usize;
        while self.peek(0).is_some() {
            if self.peek(0) == Some('/') && self.peek(1) == Some('*') {
                depth += 1;
                self.pos += 2;
            } else if self.peek(0) == Some('*') && self.peek(1) == Some('/') {
                depth -= 1;
                self.pos += 2;
                if depth == 0 {
                    return;
                }
            } else {
                self.bump();
            }
        }
    }

    /// Skips a string or char literal opened by `quote` (at the cursor), honouring escapes.
    fn skip_quoted(&mut self, quote: char) {
        self.bump();
        while let Some(c) = self.bump() {
            if c == '\\' {
                self.bump();
            } else if c == quote {
                return;
            }
        }
    }

    /// Skips `"…"#…` after the `r` prefix and its `hashes` hashes have been consumed.
    fn skip_raw_string(&mut self, hashes: usize) {
        self.bump();
        while let Some(c) = self.bump() {
            if c == '"' && (0..hashes).all(|i| self.peek(i) == Some('#')) {
                self.pos += hashes;
                return;
            }
        }
    }

    fn char_or_lifetime(&mut self, line: usize) {
        let is_char = self.peek(1) == Some('\\') || (self.peek(1).is_some() && self.peek(2) == Some('\''));
        if is_char {
            self.skip_quoted('\'');
            self.push(Kind::Literal, "''".into(), line);
        } else {
            self.bump();
            let name = self.take_word();
            self.push(Kind::Literal, format!("'{name}"), line);
        }
    }

    fn take_word(&mut self) -> String {
        let mut text = String::new();
        while let Some(c) = self.peek(0).filter(|c| is_ident_continue(*c)) {
            text.push(c);
            self.pos += 1;
        }
        text
    }

    /// An identifier, or a prefixed literal: `b"…"`, `c"…"`, `b'…'`, `r"…"`, `r#"…"#`, `br#"…"#`,
    /// and raw identifiers `r#type`.
    fn word(&mut self, line: usize) {
        let text = self.take_word();
        let next = self.peek(0);
        if (matches!(text.as_str(), "b" | "c") && next == Some('"')) || (text == "b" && next == Some('\'')) {
            self.skip_quoted(next.unwrap_or('"'));
            self.push(Kind::Literal, "\"\"".into(), line);
            return;
        }
        if matches!(text.as_str(), "r" | "br" | "cr") && matches!(next, Some('"' | '#')) {
            let hashes = (0..).take_while(|i| self.peek(*i) == Some('#')).count();
            if self.peek(hashes) == Some('"') {
                self.pos += hashes;
                self.skip_raw_string(hashes);
                self.push(Kind::Literal, "\"\"".into(), line);
                return;
            }
            if text == "r" && hashes == 1 && self.peek(1).is_some_and(is_ident_start) {
                self.pos += 1;
                let raw = self.take_word();
                self.push(Kind::Ident, raw, line);
                return;
            }
        }
        self.push(Kind::Ident, text, line);
    }

    fn punct(&mut self, line: usize) {
        let pair: String = [self.peek(0), self.peek(1)].iter().flatten().collect();
        if matches!(pair.as_str(), "::" | "->" | "=>") {
            self.pos += 2;
            self.push(Kind::Punct, pair, line);
        } else if let Some(c) = self.bump() {
            self.push(Kind::Punct, c.to_string(), line);
        }
    }
}

fn is_ident_start(c: char) -> bool {
    c == '_' || c.is_alphabetic()
}

fn is_ident_continue(c: char) -> bool {
    c == '_' || c.is_alphanumeric()
}

/// The index just past the group opened at `open` (`(`, `[` or `{`), or the end of `tokens`.
pub fn skip_group(tokens: &[Token], open: usize) -> usize {
    let mut depth = 0usize;
    for (i, token) in tokens.iter().enumerate().skip(open) {
        if token.kind != Kind::Punct {
            continue;
        }
        match token.text.as_str() {
            "(" | "[" | "{" => depth += 1,
            ")" | "]" | "}" => {
                depth = depth.saturating_sub(1);
                if depth == 0 {
                    return i + 1;
                }
            }
            _ => {}
        }
    }
    tokens.len()
}

/// Source with its test-only code removed.
#[derive(Debug, Default)]
pub struct NonTest {
    pub tokens: Vec<Token>,
    /// Out-of-line modules declared test-only here (`#[cfg(test)] mod fixtures;`, `mod tests;`):
    /// their files are test code too.
    pub test_modules: Vec<String>,
}

/// Drops `#[cfg(test)]` / `#[test]` / `#[tokio::test]` items and `mod tests` (with or without
/// the attribute) from `tokens`.
pub fn strip_tests(tokens: &[Token]) -> NonTest {
    let mut out = NonTest::default();
    let mut i = 0;
    while i < tokens.len() {
        if is_outer_attribute(tokens, i) {
            let end = skip_group(tokens, i + 1);
            if is_test_attribute(&tokens[i + 2..end - 1]) {
                i = skip_item(tokens, end, &mut out.test_modules);
                continue;
            }
            out.tokens.extend_from_slice(&tokens[i..end]);
            i = end;
            continue;
        }
        if tokens[i].is("mod") && tokens.get(i + 1).is_some_and(|t| t.is("tests")) {
            i = skip_item(tokens, i, &mut out.test_modules);
            continue;
        }
        out.tokens.push(tokens[i].clone());
        i += 1;
    }
    out
}

fn is_outer_attribute(tokens: &[Token], i: usize) -> bool {
    tokens[i].is("#") && tokens.get(i + 1).is_some_and(|t| t.is("["))
}

/// `test`, `tokio::test`, `cfg(test)`, `cfg(all(test, …))`; not `cfg(not(test))` or
/// `cfg(any(test, …))`, which are compiled outside tests too.
fn is_test_attribute(inner: &[Token]) -> bool {
    let idents: Vec<&str> = inner.iter().filter(|t| t.is_ident()).map(|t| t.text.as_str()).collect();
    match idents.first() {
        Some(&"cfg") => idents.contains(&"test") && !idents.iter().any(|w| matches!(*w, "not" | "any")),
        _ => {
            let path_end = inner.iter().position(|t| t.is("(")).unwrap_or(inner.len());
            inner[..path_end].last().is_some_and(|t| t.is("test"))
        }
    }
}

/// The index past the item starting at `start` (further attributes included): a `use` or
/// `mod x;` ends at its `;`, anything else at its `;` or its first top-level `{…}` block.
fn skip_item(tokens: &[Token], start: usize, test_modules: &mut Vec<String>) -> usize {
    let mut i = start;
    while i < tokens.len() && is_outer_attribute(tokens, i) {
        i = skip_group(tokens, i + 1);
    }
    let item_start = i;
    let is_use = tokens[item_start..]
        .iter()
        .find(|t| t.is_ident() && t.text != "pub")
        .is_some_and(|t| t.is("use"));
    while i < tokens.len() {
        let token = &tokens[i];
        if token.is(";") {
            record_test_module(&tokens[item_start..i], test_modules);
            return i + 1;
        }
        if token.is("(") || token.is("[") || token.is("{") && is_use {
            i = skip_group(tokens, i);
            continue;
        }
        if token.is("{") {
            return skip_group(tokens, i);
        }
        i += 1;
    }
    i
}

fn record_test_module(item: &[Token], test_modules: &mut Vec<String>) {
    if let Some(at) = item.iter().position(|t| t.is("mod"))
        && let Some(name) = item.get(at + 1).filter(|t| t.is_ident())
    {
        test_modules.push(name.text.clone());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(source: &str) -> Vec<String> {
        tokenize(source).into_iter().map(|t| t.text).collect()
    }

    fn kept(source: &str) -> String {
        let stripped = strip_tests(&tokenize(source));
        stripped
            .tokens
            .iter()
            .map(|t| t.text.as_str())
            .collect::<Vec<_>>()
            .join(" ")
    }

    #[test]
    fn comments_and_strings_hide_paths() {
        let source = r###"
            // use crate::a;
            /* crate::b /* nested crate::c */ still crate::d */
            let s = "crate::e \" crate::f";
            let r = r#"crate::g "quoted" "#;
            let b = b"crate::h";
            let c = '"'; let q = '\''; let l: &'static str = x;
            crate::real
        "###;
        let words = texts(source);
        assert_eq!(words.iter().filter(|w| *w == "crate").count(), 1, "{words:?}");
        assert!(words.contains(&"'static".to_string()));
        assert!(words.ends_with(&["crate".into(), "::".into(), "real".into()]));
    }

    #[test]
    fn lines_are_counted_through_comments_and_strings() {
        let tokens = tokenize("/* one\ntwo */ \"three\nfour\"\nfive");
        assert_eq!(tokens.last().map(|t| (t.text.as_str(), t.line)), Some(("five", 4)));
    }

    #[test]
    fn closing_generics_are_separate_tokens_but_arrows_are_not() {
        assert_eq!(texts("Vec<Vec<u8>>"), ["Vec", "<", "Vec", "<", "u8", ">", ">"]);
        assert_eq!(texts("fn f() -> X"), ["fn", "f", "(", ")", "->", "X"]);
    }

    #[test]
    fn raw_identifiers_are_identifiers() {
        assert_eq!(texts("r#type"), ["type"]);
    }

    #[test]
    fn test_modules_and_functions_are_dropped() {
        let source = "
            use crate::keep;
            #[cfg(test)]
            use crate::gone_use;
            #[cfg(test)]
            mod fixtures;
            mod tests { use crate::gone_tests; }
            #[cfg(test)]
            #[allow(unused)]
            mod other_tests { fn f() { crate::gone_other(); } }
            #[test]
            fn t() { crate::gone_fn(); }
            #[tokio::test(start_paused = true)]
            async fn t2() { crate::gone_tokio(); }
            #[cfg(not(test))]
            fn real() { crate::kept_not_test(); }
        ";
        let text = kept(source);
        assert!(!text.contains("gone"), "{text}");
        assert!(text.contains("keep") && text.contains("kept_not_test"), "{text}");
        assert_eq!(strip_tests(&tokenize(source)).test_modules, ["fixtures"]);
    }

    #[test]
    fn test_only_when_every_branch_is_test() {
        assert!(kept("#[cfg(all(test, unix))] fn f() {}").is_empty());
        assert!(kept("#[cfg(any(test, feature = \"x\"))] fn f() {}").contains("fn"));
    }
}
