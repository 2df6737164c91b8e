//! Execution of parsed templates with the semantics of Go's `text/template/exec.go` under
//! `missingkey=zero`: variables and their scopes, `if`/`with`/`range` (lists, maps in key order,
//! integers, `break`/`continue`), field chains on maps and objects, `{{template}}`, and Go's
//! execution errors (`template: NAME:LINE:COL: executing "NAME" at <NODE>: MSG`), located at
//! the node Go's executor was at.
//!
//! The function table's type ([`FuncTable`], [`FuncDef`], [`FuncImpl`], the parameter types
//! [`P`]) is defined here, beside the [`State`] a function takes; `funcs` fills it.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

use super::error::GoError;
use super::fmt::sprint_value;
use super::node::{Arg, Branch, Command, Node, Pipe, TemplateCall};
use super::parse::Tree;
use super::value::{MapType, Value};

/// Go's limit on nested `{{template}}` calls.
const MAX_EXEC_DEPTH: usize = 100_000;

/// A value with whether Go holds it in an `interface {}` (a map element or a range element):
/// errors name the static type, `interface {}`, and a nil there is a "nil pointer".
#[derive(Clone, Debug, Default)]
pub struct Slot {
    pub v: Value,
    pub iface: bool,
}

impl Slot {
    pub fn concrete(v: Value) -> Slot {
        Slot { v, iface: false }
    }

    fn type_name(&self) -> String {
        if self.iface {
            "interface {}".into()
        } else {
            self.v.type_name()
        }
    }
}

/// Everything one render shares: the template set, the functions, Helm's `include` counters.
pub struct Ctx {
    pub set: HashMap<String, Tree>,
    pub funcs: Rc<FuncTable>,
    /// Helm's per-name `include` nesting counts (shared with `tpl`'s clones).
    pub included: Rc<RefCell<HashMap<String, usize>>>,
    /// The name of the set's root template (Helm: `gotpl`).
    pub root_name: String,
    /// `fromYaml`'s loader (YAML text to values, as sigs.k8s.io/yaml reads it).
    pub yaml_loader: YamlLoader,
    /// How many `tpl` calls enclose this set (Go has no limit but its stack; we stop earlier).
    pub tpl_depth: usize,
    /// Go's `Option("missingkey=error")`: a missing map key fails the execution (Helm renders
    /// with `missingkey=zero`).
    pub missing_key_error: bool,
}

/// Reads YAML text into template values (Err: the message `fromYaml` reports).
pub type YamlLoader = Rc<dyn Fn(&str) -> Result<Value, GoError>>;

impl Ctx {
    /// `Template.ExecuteTemplate`: runs the named template with `data` as dot.
    pub fn execute(&self, name: &str, data: Value) -> Result<String, GoError> {
        let Some(tree) = self.set.get(name) else {
            return Err(GoError::new(format!(
                "template: no template {} associated with template {}",
                super::fmt::go_quote(name, false),
                super::fmt::go_quote(&self.root_name, false)
            )));
        };
        self.execute_tree(tree, data)
    }

    /// `Template.Execute` of a template object that holds `tree` (which need not be the set's
    /// entry of its name: an empty tree does not replace a defined one in the set, but the
    /// template object parsed from it still executes it).
    pub fn execute_tree(&self, tree: &Tree, data: Value) -> Result<String, GoError> {
        let mut st = State::new(self, tree, Slot::concrete(data.clone()), 0);
        st.walk_list(&Slot::concrete(data), &tree.root)?;
        Ok(st.out)
    }
}

/// How a walk ended: normally, or by `{{break}}`/`{{continue}}`.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Flow {
    Normal,
    Break,
    Continue,
}

/// The node the executor is at (for error locations), as Go's `state.at`.
#[derive(Clone, Copy)]
pub enum At<'a> {
    None,
    Arg(&'a Arg),
    Cmd(&'a Command),
    Pipe(&'a Pipe),
    Node(&'a Node),
    Template(&'a TemplateCall),
    Range(&'a Branch),
}

/// One template execution (Go's `state`).
pub struct State<'a> {
    pub ctx: &'a Ctx,
    tree: &'a Tree,
    vars: Vec<(String, Slot)>,
    at: At<'a>,
    depth: usize,
    pub out: String,
}

type R<T> = Result<T, GoError>;

impl<'a> State<'a> {
    fn new(ctx: &'a Ctx, tree: &'a Tree, dot: Slot, depth: usize) -> State<'a> {
        State {
            ctx,
            tree,
            vars: vec![("$".into(), dot)],
            at: At::None,
            depth,
            out: String::new(),
        }
    }

    pub fn at(&mut self, at: At<'a>) {
        self.at = at;
    }

    /// Go's `state.errorf`: an `ExecError` located at the current node.
    pub fn errorf(&self, msg: impl Into<String>) -> GoError {
        GoError {
            msg: self.prefix() + &msg.into(),
            cause: None,
            exec: true,
            unsupported: None,
        }
    }

    /// `state.errorf("...: %w", err)`: an `ExecError` wrapping a function's error.
    pub fn wrapf(&self, msg: impl Into<String>, cause: GoError) -> GoError {
        let mut e = GoError::wrap(self.prefix() + &msg.into(), cause);
        e.exec = true;
        e
    }

    fn prefix(&self) -> String {
        let name = super::fmt::go_quote(&self.tree.name, false);
        let (pos, context) = match self.at {
            At::None => return format!("template: {}: ", self.tree.name),
            At::Arg(a) => (a.pos(), a.to_string()),
            At::Cmd(c) => (c.pos, c.to_string()),
            At::Pipe(p) => (p.pos, p.to_string()),
            At::Node(n) => (node_pos(n), n.to_string()),
            At::Template(t) => (t.pos, Node::Template(t.clone()).to_string()),
            At::Range(b) => (b.pos, format!("{{{{range {}}}}}", b.pipe)),
        };
        format!(
            "template: {}: executing {name} at <{context}>: ",
            self.tree.location(pos)
        )
    }

    fn walk_list(&mut self, dot: &Slot, list: &'a [Node]) -> R<Flow> {
        super::value::deep(|| self.walk_list_inner(dot, list))
    }

    fn walk_list_inner(&mut self, dot: &Slot, list: &'a [Node]) -> R<Flow> {
        for n in list {
            let flow = self.walk(dot, n)?;
            if flow != Flow::Normal {
                return Ok(flow);
            }
        }
        Ok(Flow::Normal)
    }

    fn walk(&mut self, dot: &Slot, node: &'a Node) -> R<Flow> {
        match node {
            Node::Text(t) => self.out.push_str(t),
            Node::Action(pipe) => {
                let v = self.eval_pipeline(dot, pipe)?;
                if pipe.decl.is_empty() {
                    self.at(At::Node(node));
                    self.print_value(&v);
                }
            }
            Node::If(b) | Node::With(b) => return self.walk_if_or_with(dot, b, matches!(node, Node::With(_))),
            Node::Range(b) => return self.walk_range(dot, b),
            Node::Template(t) => self.walk_template(dot, t)?,
            Node::Break(_) => return Ok(Flow::Break),
            Node::Continue(_) => return Ok(Flow::Continue),
        }
        Ok(Flow::Normal)
    }

    /// Go's `printValue`: nil prints `<no value>`; a pointer is printed as what it points to;
    /// an object prints through a pointer `String()` (`Object::print`).
    fn print_value(&mut self, v: &Value) {
        match v {
            Value::Nil => self.out.push_str("<no value>"),
            Value::Object(o) if o.kind() == "ptr" => {
                let d = o.print();
                self.out.push_str(d.strip_prefix('&').unwrap_or(&d));
            }
            Value::Object(o) => self.out.push_str(&o.print()),
            other => self.out.push_str(&sprint_value(other)),
        }
    }

    fn walk_if_or_with(&mut self, dot: &Slot, b: &'a Branch, with: bool) -> R<Flow> {
        let mark = self.vars.len();
        let v = self.eval_pipeline(dot, &b.pipe)?;
        let flow = if v.truth() {
            let d = if with { Slot::concrete(v) } else { dot.clone() };
            self.walk_list(&d, &b.list)?
        } else if let Some(e) = &b.else_list {
            self.walk_list(dot, e)?
        } else {
            Flow::Normal
        };
        self.vars.truncate(mark);
        Ok(flow)
    }

    fn walk_range(&mut self, dot: &Slot, b: &'a Branch) -> R<Flow> {
        self.at(At::Range(b));
        let mark = self.vars.len();
        let v = self.eval_pipeline(dot, &b.pipe)?;
        let body_mark = self.vars.len();
        let items = self.range_items(&v, b.pipe.decl.len())?;
        if items.is_empty() {
            let flow = match &b.else_list {
                Some(e) => self.walk_list(dot, e)?,
                None => Flow::Normal,
            };
            self.vars.truncate(mark);
            return Ok(flow);
        }
        for (index, elem) in items {
            self.set_range_vars(b, body_mark, index, elem.clone())?;
            let flow = self.walk_list(&elem, &b.list)?;
            self.vars.truncate(body_mark);
            if flow == Flow::Break {
                break;
            }
        }
        self.vars.truncate(mark);
        Ok(Flow::Normal)
    }

    /// What `range` iterates over: (index or key, element) pairs, elements of `[]interface {}`
    /// and `map[string]interface {}` held in interfaces as Go holds them.
    fn range_items(&self, v: &Value, decls: usize) -> R<Vec<(Slot, Slot)>> {
        let items = match v {
            Value::List(l) => {
                let iface = l.ty == super::value::ListType::Any;
                l.items
                    .iter()
                    .enumerate()
                    .map(|(i, x)| (int_slot(i), Slot { v: x.clone(), iface }))
                    .collect()
            }
            Value::Map(m) => {
                let iface = m.ty() != MapType::Str;
                m.entries()
                    .into_iter()
                    .map(|(k, x)| (Slot::concrete(Value::str(k)), Slot { v: x, iface }))
                    .collect()
            }
            Value::Object(o) => match (o.entries(), o.to_data()) {
                (Some(e), _) => e
                    .into_iter()
                    .map(|(k, x)| (Slot::concrete(Value::str(k)), Slot::concrete(x)))
                    .collect(),
                (None, Value::List(l)) if o.kind() == "slice" => l
                    .items
                    .iter()
                    .enumerate()
                    .map(|(i, x)| (int_slot(i), Slot::concrete(x.clone())))
                    .collect(),
                _ => return Err(self.errorf(format!("range can't iterate over {}", sprint_value(v)))),
            },
            Value::Int(n) | Value::Int64(n) => {
                if decls > 1 {
                    return Err(self.errorf(format!("can't use {n} to iterate over more than one variable")));
                }
                let int = matches!(v, Value::Int(_));
                let mk = |i: i64| Slot::concrete(if int { Value::Int(i) } else { Value::Int64(i) });
                (0..(*n).max(0)).map(|i| (mk(i), mk(i))).collect()
            }
            Value::Nil => Vec::new(),
            other => return Err(self.errorf(format!("range can't iterate over {}", sprint_value(other)))),
        };
        Ok(items)
    }

    fn set_range_vars(&mut self, b: &Branch, body_mark: usize, index: Slot, elem: Slot) -> R<()> {
        let decl = &b.pipe.decl;
        if decl.is_empty() {
            return Ok(());
        }
        if b.pipe.is_assign {
            if decl.len() > 1 {
                self.set_var(&decl[0], index)?;
                self.set_var(&decl[1], elem)?;
            } else {
                self.set_var(&decl[0], elem)?;
            }
            return Ok(());
        }
        // The declared variables were pushed by the pipeline: the last is the element.
        self.vars[body_mark - 1].1 = elem;
        if decl.len() > 1 {
            self.vars[body_mark - 2].1 = index;
        }
        Ok(())
    }

    fn walk_template(&mut self, dot: &Slot, t: &'a TemplateCall) -> R<()> {
        self.at(At::Template(t));
        let Some(tree) = self.ctx.set.get(&t.name) else {
            return Err(self.errorf(format!("template {} not defined", super::fmt::go_quote(&t.name, false))));
        };
        if self.depth == MAX_EXEC_DEPTH {
            return Err(self.errorf(format!("exceeded maximum template depth ({MAX_EXEC_DEPTH})")));
        }
        let d = match &t.pipe {
            Some(p) => Slot::concrete(self.eval_pipeline(dot, p)?),
            None => Slot::default(),
        };
        let mut st = State::new(self.ctx, tree, d.clone(), self.depth + 1);
        let r = stacker::maybe_grow(64 * 1024, 1024 * 1024, || st.walk_list(&d, &tree.root));
        self.out.push_str(&st.out);
        r.map(|_| ())
    }

    fn set_var(&mut self, name: &str, v: Slot) -> R<()> {
        match self.vars.iter_mut().rev().find(|(n, _)| n == name) {
            Some(slot) => {
                slot.1 = v;
                Ok(())
            }
            None => Err(self.errorf(format!("undefined variable: {name}"))),
        }
    }

    fn var_value(&self, name: &str) -> R<Slot> {
        match self.vars.iter().rev().find(|(n, _)| n == name) {
            Some((_, v)) => Ok(v.clone()),
            None => Err(self.errorf(format!("undefined variable: {name}"))),
        }
    }

    /// Go's `evalPipeline`: the commands in turn, each result the next one's last argument;
    /// a result held in an interface is unwrapped; then the declarations.
    pub fn eval_pipeline(&mut self, dot: &Slot, pipe: &'a Pipe) -> R<Value> {
        super::value::deep(|| self.eval_pipeline_inner(dot, pipe))
    }

    fn eval_pipeline_inner(&mut self, dot: &Slot, pipe: &'a Pipe) -> R<Value> {
        self.at(At::Pipe(pipe));
        let mut value: Option<Value> = None;
        for cmd in &pipe.cmds {
            value = Some(self.eval_command(dot, cmd, value)?.v);
        }
        let value = value.unwrap_or_default();
        for name in &pipe.decl {
            if pipe.is_assign {
                self.set_var(name, Slot::concrete(value.clone()))?;
            } else {
                self.vars.push((name.clone(), Slot::concrete(value.clone())));
            }
        }
        Ok(value)
    }

    fn eval_command(&mut self, dot: &Slot, cmd: &'a Command, fin: Option<Value>) -> R<Slot> {
        let first = &cmd.args[0];
        match first {
            Arg::Field { idents, .. } => {
                self.at(At::Arg(first));
                return self.eval_field_chain(dot, dot.clone(), idents, &cmd.args, fin);
            }
            Arg::Chain { node, fields, .. } => {
                let recv = self.eval_arg_any(dot, node)?;
                return self.eval_field_chain(dot, Slot::concrete(recv), fields, &cmd.args, fin);
            }
            Arg::Identifier { name, .. } => {
                self.at(At::Arg(first));
                return self
                    .eval_function(dot, name, At::Cmd(cmd), &cmd.args[1..], fin)
                    .map(Slot::concrete);
            }
            Arg::Pipe(_, p) => {
                self.not_a_function(&cmd.args, fin.as_ref())?;
                return self.eval_pipeline(dot, p).map(Slot::concrete);
            }
            Arg::Variable { idents, .. } => {
                self.at(At::Arg(first));
                let v = self.var_value(&idents[0])?;
                if idents.len() == 1 {
                    self.not_a_function(&cmd.args, fin.as_ref())?;
                    return Ok(v);
                }
                return self.eval_field_chain(dot, v, &idents[1..], &cmd.args, fin);
            }
            _ => {}
        }
        self.at(At::Arg(first));
        self.not_a_function(&cmd.args, fin.as_ref())?;
        Ok(Slot::concrete(match first {
            Arg::Bool(_, b) => Value::Bool(*b),
            Arg::Dot(_) => dot.v.clone(),
            Arg::Nil(_) => return Err(self.errorf("nil is not a command")),
            Arg::Number(_, n) => self.ideal_constant(n)?,
            Arg::Str { text, .. } => Value::str(text.as_str()),
            other => return Err(self.errorf(format!("can't evaluate command {:?}", other.to_string()))),
        }))
    }

    fn not_a_function(&self, args: &[Arg], fin: Option<&Value>) -> R<()> {
        if args.len() > 1 || fin.is_some() {
            return Err(self.errorf(format!("can't give argument to non-function {}", args[0])));
        }
        Ok(())
    }

    /// Go's `idealConstant`: an untyped number constant as `int` or `float64`.
    pub fn ideal_constant(&self, n: &super::node::Number) -> R<Value> {
        let looks_float = !n.is_char
            && !n.text.to_ascii_lowercase().starts_with("0x")
            && !n.text.to_ascii_lowercase().starts_with("-0x")
            && n.text.contains(['.', 'e', 'E', 'p', 'P']);
        match (n.float, n.int) {
            (Some(f), _) if looks_float => Ok(Value::Float(f)),
            (_, Some(i)) => Ok(Value::Int(i)),
            _ => Err(self.errorf(format!("{} overflows int", n.text))),
        }
    }

    /// `evalFieldChain`: each field of the chain on the previous result; only the last gets the
    /// command's arguments (a method call on an object).
    fn eval_field_chain(
        &mut self,
        dot: &Slot,
        mut recv: Slot,
        idents: &[String],
        args: &'a [Arg],
        fin: Option<Value>,
    ) -> R<Slot> {
        let n = idents.len();
        for id in &idents[..n - 1] {
            recv = self.eval_field(dot, id, &[], None, recv)?;
        }
        self.eval_field(dot, &idents[n - 1], args, fin, recv)
    }

    fn eval_field(&mut self, dot: &Slot, name: &str, args: &'a [Arg], fin: Option<Value>, recv: Slot) -> R<Slot> {
        let has_args = args.len() > 1 || fin.is_some();
        match &recv.v {
            Value::Nil if !recv.iface => Ok(Slot::default()),
            Value::Nil => Err(self.errorf(format!("nil pointer evaluating interface {{}}.{name}"))),
            Value::Object(o) if o.has_method(name) => {
                let o = o.clone();
                let mut vals = Vec::new();
                for a in args.iter().skip(1) {
                    vals.push(self.eval_arg_any(dot, a)?);
                }
                vals.extend(fin);
                o.call(name, &vals)
                    .map(Slot::concrete)
                    .map_err(|e| self.wrapf(format!("error calling {name}: "), e))
            }
            Value::Object(o) => match o.field(name) {
                Some(_) if has_args => {
                    Err(self.errorf(format!("{name} has arguments but cannot be invoked as function")))
                }
                Some(v) => Ok(Slot::concrete(v)),
                None => Err(self.errorf(format!("can't evaluate field {name} in type {}", recv.type_name()))),
            },
            Value::Map(m) => {
                if has_args {
                    return Err(self.errorf(format!("{name} is not a method but has arguments")));
                }
                let iface = m.ty() != MapType::Str;
                let v = match m.get(name) {
                    Some(v) => v,
                    None if self.ctx.missing_key_error => {
                        return Err(self.errorf(format!(
                            "map has no entry for key {}",
                            super::fmt::go_quote(name, false)
                        )));
                    }
                    None if iface => Value::Nil,
                    None => Value::str(""),
                };
                Ok(Slot { v, iface })
            }
            _ => Err(self.errorf(format!("can't evaluate field {name} in type {}", recv.type_name()))),
        }
    }

    /// `evalArg` with an `interface {}` parameter: any operand, evaluated.
    pub fn eval_arg_any(&mut self, dot: &Slot, arg: &'a Arg) -> R<Value> {
        self.eval_arg_slot(dot, arg).map(|s| s.v)
    }

    /// An operand evaluated, with whether Go holds the result in an interface (a field or a
    /// variable can hold a nil interface, which typed parameters reject differently).
    pub fn eval_arg_slot(&mut self, dot: &Slot, arg: &'a Arg) -> R<Slot> {
        self.at(At::Arg(arg));
        let me = std::slice::from_ref(arg);
        Ok(match arg {
            Arg::Dot(_) => dot.clone(),
            Arg::Nil(_) => Slot::default(),
            Arg::Field { idents, .. } => self.eval_field_chain(dot, dot.clone(), idents, me, None)?,
            Arg::Variable { idents, .. } => {
                let v = self.var_value(&idents[0])?;
                if idents.len() == 1 {
                    v
                } else {
                    self.eval_field_chain(dot, v, &idents[1..], me, None)?
                }
            }
            Arg::Pipe(_, p) => Slot::concrete(self.eval_pipeline(dot, p)?),
            Arg::Identifier { name, .. } => Slot::concrete(self.eval_function(dot, name, At::Arg(arg), &[], None)?),
            Arg::Chain { node, fields, .. } => {
                let recv = self.eval_arg_any(dot, node)?;
                self.eval_field_chain(dot, Slot::concrete(recv), fields, me, None)?
            }
            Arg::Bool(_, b) => Slot::concrete(Value::Bool(*b)),
            Arg::Number(_, n) => Slot::concrete(self.ideal_constant(n)?),
            Arg::Str { text, .. } => Slot::concrete(Value::str(text.as_str())),
        })
    }

    /// Runs a template by name with `data` as dot, for `include` (Go's `ExecuteTemplate`).
    pub fn include(&self, name: &str, data: Value) -> R<String> {
        stacker::maybe_grow(64 * 1024, 1024 * 1024, || self.ctx.execute(name, data))
    }
}

fn int_slot(i: usize) -> Slot {
    Slot::concrete(Value::Int(i as i64))
}

fn node_pos(n: &Node) -> usize {
    match n {
        Node::Text(_) => 0,
        Node::Action(p) => p.pos,
        Node::If(b) | Node::With(b) | Node::Range(b) => b.pos,
        Node::Template(t) => t.pos,
        Node::Break(p) | Node::Continue(p) => *p,
    }
}

// The function table's type sits here, next to the `State` its functions take, so `funcs`
// (which fills it: `FuncTable::helm`) depends on `exec` and not the reverse.

/// A parameter's Go type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum P {
    /// `interface {}` (and `reflect.Value` for Go's builtins).
    Any,
    Str,
    Int,
    Int64,
    Float,
    Bool,
    /// `[]interface {}`
    List,
    /// `[]string`
    StrList,
    /// `map[string]interface {}`
    Map,
}

impl P {
    /// The type as Go's errors name it.
    pub fn go_type(self) -> &'static str {
        match self {
            P::Any => "interface {}",
            P::Str => "string",
            P::Int => "int",
            P::Int64 => "int64",
            P::Float => "float64",
            P::Bool => "bool",
            P::List => "[]interface {}",
            P::StrList => "[]string",
            P::Map => "map[string]interface {}",
        }
    }

    /// Go's `canBeNil`.
    pub fn can_be_nil(self) -> bool {
        matches!(self, P::Any | P::List | P::StrList | P::Map)
    }
}

/// A function's result.
pub type FuncResult = Result<Value, GoError>;

/// A function: evaluated arguments in, a value or a Go error out.
pub type FuncImpl = fn(&mut State<'_>, &[Value]) -> FuncResult;

/// One function of the table.
#[derive(Clone, Copy)]
pub struct FuncDef {
    pub params: &'static [P],
    pub variadic: Option<P>,
    pub imp: FuncImpl,
    /// `and`/`or`: arguments evaluated lazily by the executor.
    pub lazy: bool,
}

/// The functions a template can call.
#[derive(Clone, Default)]
pub struct FuncTable {
    map: HashMap<&'static str, FuncDef>,
}

impl FuncTable {
    /// Adds (or replaces) a function with fixed parameters.
    pub fn add(&mut self, name: &'static str, params: &'static [P], imp: FuncImpl) {
        self.map.insert(
            name,
            FuncDef {
                params,
                variadic: None,
                imp,
                lazy: false,
            },
        );
    }

    /// Adds (or replaces) a variadic function: `params` fixed, then any number of `rest`.
    pub fn add_variadic(&mut self, name: &'static str, params: &'static [P], rest: P, imp: FuncImpl) {
        self.map.insert(
            name,
            FuncDef {
                params,
                variadic: Some(rest),
                imp,
                lazy: false,
            },
        );
    }

    pub(crate) fn add_lazy(&mut self, name: &'static str, imp: FuncImpl) {
        self.map.insert(
            name,
            FuncDef {
                params: &[P::Any],
                variadic: Some(P::Any),
                imp,
                lazy: true,
            },
        );
    }

    pub fn get(&self, name: &str) -> Option<&FuncDef> {
        self.map.get(name)
    }

    /// Removes a function (its name then parses as Unsupported if Helm has it).
    pub fn remove(&mut self, name: &str) {
        self.map.remove(name);
    }

    /// The implemented names, sorted.
    pub fn names(&self) -> Vec<&'static str> {
        let mut v: Vec<_> = self.map.keys().copied().collect();
        v.sort_unstable();
        v
    }
}
