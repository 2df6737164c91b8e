//! The parser of Go's `text/template` (`parse/parse.go`): the same grammar, the same checks
//! (undefined variables and functions, `break` outside `range`, non-executable pipeline stages)
//! and the same error messages, `template: NAME:LINE: MSG`.

use std::rc::Rc;

use super::lexer::{Item, Kind, lex};
use super::literal::unquote_chars;
pub use super::literal::{parse_number, unquote};
use super::node::{Arg, Branch, Command, Node, Number, Pipe, TemplateCall, is_empty_tree};

/// A parsed template: a file's body or a `define`/`block`.
#[derive(Debug, Clone)]
pub struct Tree {
    pub name: String,
    /// The name of the file the tree was parsed from (errors locate nodes in it).
    pub parse_name: Rc<str>,
    /// The text of that file (positions are byte offsets into it).
    pub text: Rc<str>,
    pub root: Rc<Vec<Node>>,
}

impl Tree {
    /// `NAME:LINE:COL` of a byte offset, as Go's `ErrorContext` (COL counts bytes from 0).
    pub fn location(&self, pos: usize) -> String {
        let before = &self.text[..pos.min(self.text.len())];
        let line = 1 + before.matches('\n').count();
        let col = before.rfind('\n').map_or(pos, |i| pos - i - 1);
        format!("{}:{line}:{col}", self.parse_name)
    }
}

/// What the function table knows of a name used in function position.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FuncStatus {
    Known,
    /// Helm has it but this engine does not.
    Unsupported,
    /// Helm does not have it either (Go's "function not defined").
    Unknown,
}

/// Why a template did not parse.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParseError {
    /// Go's error text: `template: NAME:LINE: MSG`.
    Go(String),
    /// A function Helm has and this engine does not implement.
    Unsupported(String),
}

type Result<T> = std::result::Result<T, ParseError>;

struct Parser<'a> {
    items: Vec<Item>,
    i: usize,
    parse_name: Rc<str>,
    text: Rc<str>,
    funcs: &'a dyn Fn(&str) -> FuncStatus,
    vars: Vec<String>,
    range_depth: usize,
    /// Trees defined by this parse, in order, each replacing an empty earlier one of its name.
    trees: Vec<Tree>,
    /// The line of the last item read (Go's errors report it).
    line: usize,
    /// The line of the action being parsed (0 outside one), for lexing errors.
    action_line: usize,
}

/// Parses one file named `name`: its body and its `define`s/`block`s, in definition order.
pub fn parse(name: &str, text: &str, funcs: &dyn Fn(&str) -> FuncStatus) -> Result<Vec<Tree>> {
    let text: Rc<str> = Rc::from(text);
    let mut p = Parser {
        items: lex(&text),
        i: 0,
        parse_name: Rc::from(name),
        text: text.clone(),
        funcs,
        vars: vec!["$".into()],
        range_depth: 0,
        trees: Vec::new(),
        line: 1,
        action_line: 0,
    };
    let root = p.parse_top()?;
    p.add(name.to_string(), root)?;
    Ok(p.trees)
}

impl Parser<'_> {
    fn peek(&self) -> &Item {
        &self.items[self.i.min(self.items.len() - 1)]
    }

    fn next(&mut self) -> Item {
        let it = self.peek().clone();
        self.line = it.line;
        if self.i < self.items.len() {
            self.i += 1;
        }
        it
    }

    fn backup(&mut self) {
        self.i -= 1;
    }

    fn next_non_space(&mut self) -> Item {
        loop {
            let it = self.next();
            if it.kind != Kind::Space {
                return it;
            }
        }
    }

    fn peek_non_space(&mut self) -> Item {
        let it = self.next_non_space();
        self.backup();
        it
    }

    fn errorf<T>(&self, msg: impl std::fmt::Display) -> Result<T> {
        Err(ParseError::Go(format!(
            "template: {}:{}: {msg}",
            self.parse_name, self.line
        )))
    }

    fn unexpected<T>(&self, it: &Item, context: &str) -> Result<T> {
        if it.kind == Kind::Error {
            let mut extra = String::new();
            if self.action_line != 0 && self.action_line != it.line {
                extra = format!(" in action started at {}:{}", self.parse_name, self.action_line);
                if it.val.ends_with(" action") {
                    extra = extra[" in action".len()..].to_string();
                }
            }
            return self.errorf(format!("{}{extra}", it.val));
        }
        self.errorf(format!("unexpected {} in {context}", item_string(it)))
    }

    fn expect(&mut self, kind: Kind, context: &str) -> Result<Item> {
        let it = self.next_non_space();
        if it.kind != kind {
            return self.unexpected(&it, context);
        }
        Ok(it)
    }

    fn add(&mut self, name: String, root: Vec<Node>) -> Result<()> {
        let tree = Tree {
            name,
            parse_name: self.parse_name.clone(),
            text: self.text.clone(),
            root: Rc::new(root),
        };
        match self.trees.iter().position(|t| t.name == tree.name) {
            None => self.trees.push(tree),
            Some(i) if is_empty_tree(&self.trees[i].root) => self.trees[i] = tree,
            Some(_) if !is_empty_tree(&tree.root) => {
                return self.errorf(format!("template: multiple definition of template {:?}", tree.name));
            }
            Some(_) => {}
        }
        Ok(())
    }

    fn parse_top(&mut self) -> Result<Vec<Node>> {
        let mut root = Vec::new();
        while self.peek().kind != Kind::Eof {
            if self.peek().kind == Kind::LeftDelim {
                let at = self.i;
                self.next();
                if self.next_non_space().kind == Kind::Define {
                    self.definition()?;
                    continue;
                }
                self.i = at;
            }
            match self.text_or_action()? {
                Parsed::Node(n) => root.push(n),
                Parsed::End => return self.errorf("unexpected {{end}}"),
                Parsed::Else => return self.errorf("unexpected {{else}}"),
                Parsed::Skip => {}
            }
        }
        Ok(root)
    }

    fn definition(&mut self) -> Result<()> {
        let it = self.next_non_space();
        if !matches!(it.kind, Kind::Str | Kind::RawStr) {
            return self.unexpected(&it, "define clause");
        }
        let name = self.unquote(&it)?;
        self.expect(Kind::RightDelim, "define clause")?;
        let saved = std::mem::replace(&mut self.vars, vec!["$".into()]);
        let (list, end) = self.item_list()?;
        self.vars = saved;
        if !matches!(end, Parsed::End) {
            return self.errorf(format!("unexpected {} in define clause", end.describe()));
        }
        self.add(name, list)
    }

    fn item_list(&mut self) -> Result<(Vec<Node>, Parsed)> {
        let mut list = Vec::new();
        while self.peek_non_space().kind != Kind::Eof {
            match self.text_or_action()? {
                Parsed::Node(n) => list.push(n),
                Parsed::Skip => {}
                other => return Ok((list, other)),
            }
        }
        self.errorf("unexpected EOF")
    }

    fn text_or_action(&mut self) -> Result<Parsed> {
        let it = self.next_non_space();
        match it.kind {
            Kind::Text => Ok(Parsed::Node(Node::Text(Rc::from(it.val.as_str())))),
            Kind::LeftDelim => {
                self.action_line = it.line;
                let r = self.action();
                self.action_line = 0;
                r
            }
            _ => self.unexpected(&it, "input"),
        }
    }

    fn action(&mut self) -> Result<Parsed> {
        let it = self.next_non_space();
        match it.kind {
            Kind::Block => return self.block().map(Parsed::Node),
            Kind::Break | Kind::Continue => return self.break_continue(&it).map(Parsed::Node),
            Kind::Else => return self.else_control(),
            Kind::End => {
                self.expect(Kind::RightDelim, "end")?;
                return Ok(Parsed::End);
            }
            Kind::If => return self.control("if").map(|b| Parsed::Node(Node::If(b))),
            Kind::Range => return self.control("range").map(|b| Parsed::Node(Node::Range(b))),
            Kind::With => return self.control("with").map(|b| Parsed::Node(Node::With(b))),
            Kind::Template => return self.template_control().map(Parsed::Node),
            _ => {}
        }
        self.backup();
        let pipe = self.pipeline("command", Kind::RightDelim)?;
        Ok(Parsed::Node(Node::Action(pipe)))
    }

    fn break_continue(&mut self, it: &Item) -> Result<Node> {
        let word = if it.kind == Kind::Break { "break" } else { "continue" };
        let next = self.next_non_space();
        if next.kind != Kind::RightDelim {
            return self.unexpected(&next, &format!("{{{{{word}}}}}"));
        }
        if self.range_depth == 0 {
            return self.errorf(format!("{{{{{word}}}}} outside {{{{range}}}}"));
        }
        Ok(if it.kind == Kind::Break {
            Node::Break(it.pos)
        } else {
            Node::Continue(it.pos)
        })
    }

    fn else_control(&mut self) -> Result<Parsed> {
        let peek = self.peek_non_space();
        if matches!(peek.kind, Kind::If | Kind::With) {
            return Ok(Parsed::Else);
        }
        self.expect(Kind::RightDelim, "else")?;
        Ok(Parsed::Else)
    }

    fn control(&mut self, context: &str) -> Result<Branch> {
        super::value::deep(|| self.control_inner(context))
    }

    fn control_inner(&mut self, context: &str) -> Result<Branch> {
        let mark = self.vars.len();
        let pipe = self.pipeline(context, Kind::RightDelim)?;
        if context == "range" {
            self.range_depth += 1;
        }
        let (list, next) = self.item_list()?;
        if context == "range" {
            self.range_depth -= 1;
        }
        let else_list = match next {
            Parsed::Else => Some(self.else_branch(context)?),
            _ => None,
        };
        self.vars.truncate(mark);
        Ok(Branch {
            pos: pipe.pos,
            pipe,
            list,
            else_list,
        })
    }

    fn else_branch(&mut self, context: &str) -> Result<Vec<Node>> {
        let peek = self.peek().kind;
        if context == "if" && peek == Kind::If {
            self.next();
            return Ok(vec![Node::If(self.control("if")?)]);
        }
        if context == "with" && peek == Kind::With {
            self.next();
            return Ok(vec![Node::With(self.control("with")?)]);
        }
        let (list, next) = self.item_list()?;
        if !matches!(next, Parsed::End) {
            return self.errorf(format!("expected end; found {}", next.describe()));
        }
        Ok(list)
    }

    fn template_name(&mut self, it: &Item, context: &str) -> Result<String> {
        if !matches!(it.kind, Kind::Str | Kind::RawStr) {
            return self.unexpected(it, context);
        }
        self.unquote(it)
    }

    fn template_control(&mut self) -> Result<Node> {
        let it = self.next_non_space();
        let name = self.template_name(&it, "template clause")?;
        let pipe = if self.next_non_space().kind == Kind::RightDelim {
            None
        } else {
            self.backup();
            Some(self.pipeline("template clause", Kind::RightDelim)?)
        };
        Ok(Node::Template(TemplateCall {
            pos: it.pos,
            name,
            pipe,
        }))
    }

    fn block(&mut self) -> Result<Node> {
        let it = self.next_non_space();
        let name = self.template_name(&it, "block clause")?;
        let pipe = self.pipeline("block clause", Kind::RightDelim)?;
        let saved = std::mem::replace(&mut self.vars, vec!["$".into()]);
        let saved_depth = std::mem::replace(&mut self.range_depth, 0);
        let (list, end) = self.item_list()?;
        self.vars = saved;
        self.range_depth = saved_depth;
        if !matches!(end, Parsed::End) {
            return self.errorf(format!("unexpected {} in block clause", end.describe()));
        }
        self.add(name.clone(), list)?;
        Ok(Node::Template(TemplateCall {
            pos: it.pos,
            name,
            pipe: Some(pipe),
        }))
    }

    fn pipeline(&mut self, context: &str, end: Kind) -> Result<Pipe> {
        let start = self.peek_non_space();
        let mut pipe = Pipe {
            pos: start.pos,
            is_assign: false,
            decl: Vec::new(),
            cmds: Vec::new(),
        };
        self.declarations(&mut pipe, context)?;
        loop {
            let it = self.next_non_space();
            match it.kind {
                k if k == end => {
                    self.check_pipeline(&pipe, context)?;
                    return Ok(pipe);
                }
                Kind::Bool
                | Kind::CharConst
                | Kind::Dot
                | Kind::Field
                | Kind::Identifier
                | Kind::Number
                | Kind::Nil
                | Kind::RawStr
                | Kind::Str
                | Kind::Variable
                | Kind::LeftParen => {
                    self.backup();
                    let cmd = self.command()?;
                    pipe.cmds.push(cmd);
                }
                _ => return self.unexpected(&it, context),
            }
        }
    }

    fn declarations(&mut self, pipe: &mut Pipe, context: &str) -> Result<()> {
        loop {
            let v = self.peek_non_space();
            if v.kind != Kind::Variable {
                return Ok(());
            }
            let at = self.i;
            self.next_non_space();
            let next = self.peek_non_space();
            match next.kind {
                Kind::Assign | Kind::Declare => {
                    pipe.is_assign = next.kind == Kind::Assign;
                    self.next_non_space();
                    pipe.decl.push(v.val.clone());
                    self.vars.push(v.val);
                    return Ok(());
                }
                Kind::Char if next.val == "," => {
                    self.next_non_space();
                    pipe.decl.push(v.val.clone());
                    self.vars.push(v.val);
                    if context == "range" && pipe.decl.len() < 2 {
                        match self.peek_non_space().kind {
                            Kind::Variable | Kind::RightDelim | Kind::RightParen => continue,
                            _ => return self.errorf("range can only initialize variables"),
                        }
                    }
                    return self.errorf(format!("too many declarations in {context}"));
                }
                _ => {
                    self.i = at;
                    return Ok(());
                }
            }
        }
    }

    fn check_pipeline(&self, pipe: &Pipe, context: &str) -> Result<()> {
        if pipe.cmds.is_empty() {
            return self.errorf(format!("missing value for {context}"));
        }
        for (i, c) in pipe.cmds.iter().enumerate().skip(1) {
            if matches!(
                c.args[0],
                Arg::Bool(..) | Arg::Dot(_) | Arg::Nil(_) | Arg::Number(..) | Arg::Str { .. }
            ) {
                return self.errorf(format!("non executable command in pipeline stage {}", i + 1));
            }
        }
        Ok(())
    }

    fn command(&mut self) -> Result<Command> {
        let pos = self.peek_non_space().pos;
        let mut cmd = Command { pos, args: Vec::new() };
        loop {
            self.peek_non_space();
            if let Some(op) = self.operand()? {
                cmd.args.push(op);
            }
            let it = self.next();
            match it.kind {
                Kind::Space => continue,
                Kind::RightDelim | Kind::RightParen => self.backup(),
                Kind::Pipe => {}
                _ => return self.unexpected(&it, "operand"),
            }
            break;
        }
        if cmd.args.is_empty() {
            return self.errorf("empty command");
        }
        Ok(cmd)
    }

    fn operand(&mut self) -> Result<Option<Arg>> {
        let Some(node) = self.term()? else {
            return Ok(None);
        };
        if self.peek().kind != Kind::Field {
            return Ok(Some(node));
        }
        let pos = self.peek().pos;
        let mut fields = Vec::new();
        while self.peek().kind == Kind::Field {
            fields.push(self.next().val[1..].to_string());
        }
        Ok(Some(match node {
            Arg::Field { mut idents, .. } => {
                idents.extend(fields);
                Arg::Field { pos, idents }
            }
            Arg::Variable { mut idents, .. } => {
                idents.extend(fields);
                Arg::Variable { pos, idents }
            }
            Arg::Bool(..) | Arg::Str { .. } | Arg::Number(..) | Arg::Nil(_) | Arg::Dot(_) => {
                return self.errorf(format!("unexpected . after term {:?}", node.to_string()));
            }
            other => Arg::Chain {
                pos,
                node: Box::new(other),
                fields,
            },
        }))
    }

    fn term(&mut self) -> Result<Option<Arg>> {
        super::value::deep(|| self.term_inner())
    }

    fn term_inner(&mut self) -> Result<Option<Arg>> {
        let it = self.next_non_space();
        let pos = it.pos;
        Ok(Some(match it.kind {
            Kind::Identifier => {
                match (self.funcs)(&it.val) {
                    FuncStatus::Known => {}
                    FuncStatus::Unsupported => return Err(ParseError::Unsupported(it.val)),
                    FuncStatus::Unknown => return self.errorf(format!("function {:?} not defined", it.val)),
                }
                Arg::Identifier { pos, name: it.val }
            }
            Kind::Dot => Arg::Dot(pos),
            Kind::Nil => Arg::Nil(pos),
            Kind::Variable => {
                if !self.vars.contains(&it.val) {
                    return self.errorf(format!("undefined variable {:?}", it.val));
                }
                Arg::Variable {
                    pos,
                    idents: vec![it.val],
                }
            }
            Kind::Field => Arg::Field {
                pos,
                idents: vec![it.val[1..].to_string()],
            },
            Kind::Bool => Arg::Bool(pos, it.val == "true"),
            Kind::CharConst | Kind::Number => Arg::Number(pos, self.number(&it)?),
            Kind::LeftParen => Arg::Pipe(
                pos,
                Box::new(self.pipeline("parenthesized pipeline", Kind::RightParen)?),
            ),
            Kind::Str | Kind::RawStr => Arg::Str {
                pos,
                quoted: it.val.clone(),
                text: self.unquote(&it)?,
            },
            _ => {
                self.backup();
                return Ok(None);
            }
        }))
    }

    fn unquote(&self, it: &Item) -> Result<String> {
        match unquote(&it.val) {
            Some(s) => Ok(s),
            None => self.errorf("invalid syntax"),
        }
    }

    fn number(&self, it: &Item) -> Result<Number> {
        if it.kind == Kind::CharConst {
            let inner = &it.val[1..it.val.len() - 1];
            let c = match unquote_chars(inner, '\'') {
                Some(s) if s.chars().count() == 1 => s.chars().next().unwrap_or('\0'),
                _ => return self.errorf(format!("malformed character constant: {}", it.val)),
            };
            let v = i64::from(u32::from(c));
            return Ok(Number {
                text: it.val.clone(),
                int: Some(v),
                float: Some(v as f64),
                is_char: true,
            });
        }
        parse_number(&it.val).map_or_else(|msg| self.errorf(msg), Ok)
    }
}

/// What parsing one text-or-action produced.
enum Parsed {
    Node(Node),
    End,
    /// `{{else}}`.
    Else,
    #[allow(
        dead_code,
        reason = "comments are dropped by the lexer, as Go's parser does by default"
    )]
    Skip,
}

impl Parsed {
    fn describe(&self) -> String {
        match self {
            Parsed::End => "{{end}}".into(),
            Parsed::Else => "{{else}}".into(),
            Parsed::Node(n) => n.to_string(),
            Parsed::Skip => String::new(),
        }
    }
}

/// Go's `item.String()` in "unexpected X in Y" errors.
fn item_string(it: &Item) -> String {
    match it.kind {
        Kind::Eof => "EOF".into(),
        Kind::Error => it.val.clone(),
        Kind::Block
        | Kind::Break
        | Kind::Continue
        | Kind::Define
        | Kind::Else
        | Kind::End
        | Kind::If
        | Kind::Range
        | Kind::Template
        | Kind::With
        | Kind::Nil
        | Kind::Dot => format!("<{}>", it.val),
        _ if it.val.chars().count() > 10 => {
            let head: String = it.val.chars().take(10).collect();
            format!("{}...", super::fmt::go_quote(&head, false))
        }
        _ => super::fmt::go_quote(&it.val, false),
    }
}
