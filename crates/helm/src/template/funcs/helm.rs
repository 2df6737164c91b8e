//! Helm's engine functions (`pkg/engine/engine.go`): `include` (with Helm's 1000-deep
//! recursion limit per name), `tpl` (a clone of the template set with the text parsed into it,
//! `<no value>` removed), `required` and `fail` (their messages wrapped in Helm's markers, which
//! the engine's error rewriting finds), and `lookup` (an empty map, as `helm template` has no
//! cluster).

use std::rc::Rc;

use super::{FuncTable, P, R, arg_str};
use crate::template::error::GoError;
use crate::template::exec::{Ctx, State};
use crate::template::fmt::go_quote;
use crate::template::parse::{ParseError, parse};
use crate::template::value::Value;

/// Helm's `recursionMaxNums`.
const RECURSION_MAX: usize = 1000;
pub const WARN_START: &str = "HELM_ERR_START";
pub const WARN_END: &str = "HELM_ERR_END";

pub fn register(t: &mut FuncTable) {
    use P::{Any, Str};
    t.add("include", &[Str, Any], include);
    t.add("tpl", &[Str, Any], tpl);
    t.add("required", &[Str, Any], |_, a| {
        let missing = match &a[1] {
            Value::Nil => true,
            Value::Str(s) => s.is_empty(),
            _ => false,
        };
        if missing {
            return Err(GoError::new(format!("{WARN_START}{}{WARN_END}", arg_str(a, 0))));
        }
        Ok(a[1].clone())
    });
    t.add("fail", &[Str], |_, a| {
        Err(GoError::new(format!("{WARN_START}{}{WARN_END}", arg_str(a, 0))))
    });
    t.add("lookup", &[Str, Str, Str, Str], |_, _| Ok(Value::empty_map()));
}

fn include(st: &mut State<'_>, a: &[Value]) -> R {
    let name = arg_str(a, 0).to_string();
    let included = st.ctx.included.clone();
    {
        let mut counts = included.borrow_mut();
        let n = counts.entry(name.clone()).or_insert(0);
        if *n > RECURSION_MAX {
            return Err(GoError::wrap(
                format!("rendering template has a nested reference name: {name}: "),
                GoError::new("unable to execute template"),
            ));
        }
        *n += 1;
    }
    let r = st.include(&name, a[1].clone());
    if let Some(n) = included.borrow_mut().get_mut(&name) {
        *n -= 1;
    }
    r.map(Value::str)
}

/// Nested `tpl` calls beyond this fail as unsupported (Helm would overflow its stack).
const TPL_DEPTH_MAX: usize = 10_000;

fn tpl(st: &mut State<'_>, a: &[Value]) -> R {
    let text = arg_str(a, 0);
    let ctx = st.ctx;
    if ctx.tpl_depth >= TPL_DEPTH_MAX {
        return Err(GoError::unsupported("tpl nested beyond 10000 levels"));
    }
    let mut set = ctx.set.clone();
    let funcs = ctx.funcs.clone();
    let trees = match parse(&ctx.root_name, text, &|n| funcs.status(n)) {
        Ok(t) => t,
        Err(ParseError::Unsupported(f)) => return Err(GoError::unsupported(f)),
        Err(ParseError::Go(msg)) => {
            return Err(GoError::wrap(
                format!("cannot parse template {}: ", go_quote(text, false)),
                GoError::new(msg),
            ));
        }
    };
    let mut own = None;
    for t in trees {
        if t.name == ctx.root_name {
            own = Some(t.clone());
        }
        add_tree(&mut set, t);
    }
    let Some(own) = own else {
        return Err(GoError::new("tpl: no template parsed"));
    };
    let child = Ctx {
        set,
        funcs,
        included: ctx.included.clone(),
        root_name: ctx.root_name.clone(),
        yaml_loader: ctx.yaml_loader.clone(),
        tpl_depth: ctx.tpl_depth + 1,
        missing_key_error: ctx.missing_key_error,
    };
    match stacker::maybe_grow(64 * 1024, 1024 * 1024, || child.execute_tree(&own, a[1].clone())) {
        Ok(out) => Ok(Value::str(out.replace("<no value>", ""))),
        Err(e) if e.unsupported.is_some() => Err(e),
        Err(e) => Err(GoError::wrap(
            format!("error during tpl function execution for {}: ", go_quote(text, false)),
            e,
        )),
    }
}

/// Go's `AddParseTree`: a template replaces one of its name, unless it is empty and the
/// existing one is not.
pub fn add_tree(
    set: &mut std::collections::HashMap<String, crate::template::parse::Tree>,
    t: crate::template::parse::Tree,
) {
    if let Some(old) = set.get(&t.name)
        && crate::template::node::is_empty_tree(&t.root)
        && !Rc::ptr_eq(&old.root, &t.root)
    {
        return;
    }
    set.insert(t.name.clone(), t);
}
