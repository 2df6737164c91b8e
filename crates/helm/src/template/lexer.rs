//! The lexer of Go's `text/template` (`{{`/`}}` delimiters, `{{- `/` -}}` trim markers,
//! `/* */` comments), producing the same items with byte positions and lines, and the same
//! error messages, as Go's `parse/lex.go`.

/// The kind of a lexed item.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Text,
    LeftDelim,
    RightDelim,
    Space,
    /// `=`
    Assign,
    /// `:=`
    Declare,
    Pipe,
    LeftParen,
    RightParen,
    /// A printable ASCII character not otherwise meaningful (`,` and the like).
    Char,
    Str,
    RawStr,
    CharConst,
    Number,
    Bool,
    Field,
    Variable,
    Identifier,
    Dot,
    Nil,
    // Keywords.
    Block,
    Break,
    Continue,
    Define,
    Else,
    End,
    If,
    Range,
    Template,
    With,
    Eof,
    /// A lexing error; `val` is Go's message. The parser reports it when it reaches it.
    Error,
}

/// One lexed item: kind, text, byte offset and line (1-based) where it starts.
#[derive(Clone, Debug)]
pub struct Item {
    pub kind: Kind,
    pub val: String,
    pub pos: usize,
    pub line: usize,
}

/// A lexing error: Go's message and the line it was found on.
#[derive(Clone, Debug)]
pub struct LexError {
    pub msg: String,
    pub line: usize,
}

fn is_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\r' | '\n')
}

fn is_alnum(c: char) -> bool {
    c == '_' || c.is_alphabetic() || c.is_numeric()
}

fn has_left_trim(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() >= 2 && b[0] == b'-' && is_space(b[1] as char)
}

fn has_right_trim(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() >= 2 && is_space(b[0] as char) && b[1] == b'-'
}

fn keyword(word: &str) -> Option<Kind> {
    Some(match word {
        "block" => Kind::Block,
        "break" => Kind::Break,
        "continue" => Kind::Continue,
        "define" => Kind::Define,
        "else" => Kind::Else,
        "end" => Kind::End,
        "if" => Kind::If,
        "range" => Kind::Range,
        "nil" => Kind::Nil,
        "template" => Kind::Template,
        "with" => Kind::With,
        _ => return None,
    })
}

struct Lexer<'a> {
    input: &'a str,
    pos: usize,
    start: usize,
    line: usize,
    start_line: usize,
    paren_depth: i32,
    items: Vec<Item>,
}

/// Lexes a whole template; the items end with [`Kind::Eof`], or with [`Kind::Error`] where Go's
/// lexer stops with an error (the parser reports it only if it gets that far, as Go's does).
pub fn lex(input: &str) -> Vec<Item> {
    let mut l = Lexer {
        input,
        pos: 0,
        start: 0,
        line: 1,
        start_line: 1,
        paren_depth: 0,
        items: Vec::new(),
    };
    if let Err(e) = l.run() {
        l.items.push(Item {
            kind: Kind::Error,
            val: e.msg,
            pos: l.pos,
            line: e.line,
        });
    }
    l.items
}

impl Lexer<'_> {
    fn rest(&self) -> &str {
        &self.input[self.pos..]
    }

    fn peek(&self) -> Option<char> {
        self.rest().chars().next()
    }

    fn next(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.pos += c.len_utf8();
        if c == '\n' {
            self.line += 1;
        }
        Some(c)
    }

    fn backup(&mut self, c: char) {
        self.pos -= c.len_utf8();
        if c == '\n' {
            self.line -= 1;
        }
    }

    fn emit(&mut self, kind: Kind) {
        let val = self.input[self.start..self.pos].to_string();
        self.items.push(Item {
            kind,
            val,
            pos: self.start,
            line: self.start_line,
        });
        self.ignore();
    }

    /// Skips the text since the last item, counting its lines.
    fn ignore(&mut self) {
        self.line = self.start_line + self.input[self.start..self.pos].matches('\n').count();
        self.start = self.pos;
        self.start_line = self.line;
    }

    fn err<T>(&self, msg: impl Into<String>) -> Result<T, LexError> {
        Err(LexError {
            msg: msg.into(),
            line: self.start_line,
        })
    }

    fn run(&mut self) -> Result<(), LexError> {
        loop {
            let Some(x) = self.rest().find("{{") else {
                self.pos = self.input.len();
                if self.pos > self.start {
                    self.emit(Kind::Text);
                }
                self.items.push(Item {
                    kind: Kind::Eof,
                    val: String::new(),
                    pos: self.pos,
                    line: self.line,
                });
                return Ok(());
            };
            self.pos += x;
            let trim = if has_left_trim(&self.input[self.pos + 2..]) {
                let text = &self.input[self.start..self.pos];
                text.len() - text.trim_end_matches(is_space).len()
            } else {
                0
            };
            if x > 0 {
                self.pos -= trim;
                if self.pos > self.start {
                    self.emit(Kind::Text);
                }
                self.pos += trim;
                self.ignore();
            }
            self.left_delim()?;
        }
    }

    fn left_delim(&mut self) -> Result<(), LexError> {
        self.pos += 2;
        let after = if has_left_trim(self.rest()) { 2 } else { 0 };
        if self.input[self.pos + after..].starts_with("/*") {
            self.pos += after;
            self.ignore();
            return self.comment();
        }
        let item = Item {
            kind: Kind::LeftDelim,
            val: "{{".into(),
            pos: self.start,
            line: self.start_line,
        };
        self.items.push(item);
        self.pos += after;
        self.ignore();
        self.paren_depth = 0;
        self.inside_action()
    }

    fn comment(&mut self) -> Result<(), LexError> {
        self.pos += 2;
        let Some(x) = self.rest().find("*/") else {
            return self.err("unclosed comment");
        };
        self.pos += x + 2;
        let Some(trim) = self.at_right_delim() else {
            return self.err("comment ends before closing delimiter");
        };
        self.pos += if trim { 4 } else { 2 };
        if trim {
            self.pos += self.rest().len() - self.rest().trim_start_matches(is_space).len();
        }
        self.ignore();
        Ok(())
    }

    /// At `}}` (Some(false)) or ` -}}` (Some(true)).
    fn at_right_delim(&self) -> Option<bool> {
        let rest = self.rest();
        if has_right_trim(rest) && rest[2..].starts_with("}}") {
            return Some(true);
        }
        rest.starts_with("}}").then_some(false)
    }

    fn right_delim(&mut self, trim: bool) {
        if trim {
            self.pos += 2;
            self.ignore();
        }
        self.pos += 2;
        self.emit(Kind::RightDelim);
        if trim {
            self.pos += self.rest().len() - self.rest().trim_start_matches(is_space).len();
            self.ignore();
        }
    }

    fn inside_action(&mut self) -> Result<(), LexError> {
        loop {
            if let Some(trim) = self.at_right_delim() {
                if self.paren_depth == 0 {
                    self.right_delim(trim);
                    return Ok(());
                }
                return self.err("unclosed left paren");
            }
            let Some(c) = self.next() else {
                return self.err("unclosed action");
            };
            self.action_char(c)?;
        }
    }

    fn action_char(&mut self, c: char) -> Result<(), LexError> {
        match c {
            c if is_space(c) => {
                self.backup(c);
                self.space();
            }
            '=' => self.emit(Kind::Assign),
            ':' => {
                if self.next() != Some('=') {
                    return self.err("expected :=");
                }
                self.emit(Kind::Declare);
            }
            '|' => self.emit(Kind::Pipe),
            '"' => self.quote()?,
            '`' => self.raw_quote()?,
            '$' => self.field_or_variable(Kind::Variable)?,
            '\'' => self.char_const()?,
            '.' if !self.peek().is_some_and(|d| d.is_ascii_digit()) => self.field_or_variable(Kind::Field)?,
            '.' | '+' | '-' | '0'..='9' => {
                self.backup(c);
                self.number()?;
            }
            c if is_alnum(c) => {
                self.backup(c);
                self.identifier()?;
            }
            '(' => {
                self.emit(Kind::LeftParen);
                self.paren_depth += 1;
            }
            ')' => {
                self.emit(Kind::RightParen);
                self.paren_depth -= 1;
                if self.paren_depth < 0 {
                    return self.err("unexpected right paren");
                }
            }
            c if c.is_ascii() && !c.is_ascii_control() => self.emit(Kind::Char),
            c => return self.err(format!("unrecognized character in action: {}", go_rune_u(c))),
        }
        Ok(())
    }

    fn space(&mut self) {
        let mut n = 0;
        while self.peek().is_some_and(is_space) {
            self.next();
            n += 1;
        }
        let before = &self.input[self.pos - 1..];
        if has_right_trim(before) && before[2..].starts_with("}}") {
            let last = self.input[..self.pos].chars().next_back().unwrap_or(' ');
            self.backup(last);
            if n == 1 {
                return;
            }
        }
        self.emit(Kind::Space);
    }

    fn at_terminator(&self) -> bool {
        match self.peek() {
            None => true,
            Some(c) if is_space(c) => true,
            Some('.' | ',' | '|' | ':' | ')' | '(') => true,
            _ => self.rest().starts_with("}}"),
        }
    }

    fn field_or_variable(&mut self, kind: Kind) -> Result<(), LexError> {
        if self.at_terminator() {
            self.emit(if kind == Kind::Variable {
                Kind::Variable
            } else {
                Kind::Dot
            });
            return Ok(());
        }
        while let Some(c) = self.peek() {
            if !is_alnum(c) {
                break;
            }
            self.next();
        }
        if !self.at_terminator() {
            return self.err(format!("bad character {}", go_rune_u(self.peek().unwrap_or('\0'))));
        }
        self.emit(kind);
        Ok(())
    }

    fn identifier(&mut self) -> Result<(), LexError> {
        while self.peek().is_some_and(is_alnum) {
            self.next();
        }
        if !self.at_terminator() {
            return self.err(format!("bad character {}", go_rune_u(self.peek().unwrap_or('\0'))));
        }
        let word = &self.input[self.start..self.pos];
        let kind = match keyword(word) {
            Some(k) => k,
            None if word == "true" || word == "false" => Kind::Bool,
            None => Kind::Identifier,
        };
        self.emit(kind);
        Ok(())
    }

    fn accept(&mut self, valid: &str) -> bool {
        match self.peek() {
            Some(c) if valid.contains(c) => {
                self.next();
                true
            }
            _ => false,
        }
    }

    fn accept_run(&mut self, valid: &str) {
        while self.accept(valid) {}
    }

    fn number(&mut self) -> Result<(), LexError> {
        self.accept("+-");
        let mut digits = "0123456789_";
        if self.accept("0") {
            if self.accept("xX") {
                digits = "0123456789abcdefABCDEF_";
            } else if self.accept("oO") {
                digits = "01234567_";
            } else if self.accept("bB") {
                digits = "01_";
            }
        }
        self.accept_run(digits);
        if self.accept(".") {
            self.accept_run(digits);
        }
        if digits.len() == 11 && self.accept("eE") {
            self.accept("+-");
            self.accept_run("0123456789_");
        }
        if digits.len() == 23 && self.accept("pP") {
            self.accept("+-");
            self.accept_run("0123456789_");
        }
        self.accept("i");
        if self.peek().is_some_and(is_alnum) {
            self.next();
            return self.err(format!("bad number syntax: {:?}", &self.input[self.start..self.pos]));
        }
        self.emit(Kind::Number);
        Ok(())
    }

    fn quote(&mut self) -> Result<(), LexError> {
        loop {
            match self.next() {
                Some('\\') => {
                    if matches!(self.next(), None | Some('\n')) {
                        return self.err("unterminated quoted string");
                    }
                }
                None | Some('\n') => return self.err("unterminated quoted string"),
                Some('"') => break,
                Some(_) => {}
            }
        }
        self.emit(Kind::Str);
        Ok(())
    }

    fn raw_quote(&mut self) -> Result<(), LexError> {
        loop {
            match self.next() {
                None => return self.err("unterminated raw quoted string"),
                Some('`') => break,
                Some(_) => {}
            }
        }
        self.emit(Kind::RawStr);
        Ok(())
    }

    fn char_const(&mut self) -> Result<(), LexError> {
        loop {
            match self.next() {
                Some('\\') => {
                    if matches!(self.next(), None | Some('\n')) {
                        return self.err("unterminated character constant");
                    }
                }
                None | Some('\n') => return self.err("unterminated character constant"),
                Some('\'') => break,
                Some(_) => {}
            }
        }
        self.emit(Kind::CharConst);
        Ok(())
    }
}

/// Go's `%#U` of a rune: `U+0021 '!'`.
fn go_rune_u(c: char) -> String {
    if c.is_control() {
        format!("U+{:04X}", c as u32)
    } else {
        format!("U+{:04X} '{c}'", c as u32)
    }
}
