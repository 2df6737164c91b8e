//! Function calls as Go's `evalCall` makes them: the argument count against the signature,
//! each argument evaluated and checked against its parameter's Go type (constants by
//! `evalArg`'s rules, other values by `validateType`'s), `and`/`or` short-circuiting, and a
//! function's error wrapped as `error calling NAME: …` at the command.

use super::error::GoError;
use super::exec::{At, Slot, State};
use super::funcs::P;
use super::node::Arg;
use super::value::{ListType, MapType, Value};

type R<T> = Result<T, GoError>;

impl<'a> State<'a> {
    /// Calls function `name` with the command's arguments (`args`, without the name) and the
    /// previous pipeline stage's result `fin`.
    pub(super) fn eval_function(
        &mut self,
        dot: &Slot,
        name: &str,
        cmd: At<'a>,
        args: &'a [Arg],
        fin: Option<Value>,
    ) -> R<Value> {
        let funcs = self.ctx.funcs.clone();
        let Some(def) = funcs.get(name) else {
            return Err(self.errorf(format!("{name:?} is not a defined function")));
        };
        let num_in = args.len() + usize::from(fin.is_some());
        let fixed = def.params.len();
        if def.variadic.is_some() {
            if num_in < fixed {
                return Err(self.errorf(format!(
                    "wrong number of args for {name}: want at least {fixed} got {}",
                    args.len()
                )));
            }
        } else if num_in != fixed {
            return Err(self.errorf(format!("wrong number of args for {name}: want {fixed} got {num_in}")));
        }
        let param = |i: usize| {
            if i < fixed {
                def.params[i]
            } else {
                def.variadic.unwrap_or(P::Any)
            }
        };
        if def.lazy {
            return self.and_or(dot, name == "or", args, fin);
        }
        let mut argv = Vec::with_capacity(num_in);
        let mut invalid_first = false;
        for (i, a) in args.iter().enumerate() {
            let (v, invalid) = self.eval_arg(dot, param(i), a)?;
            invalid_first |= i == 0 && invalid;
            argv.push(v);
        }
        if let Some(f) = fin {
            invalid_first |= num_in == 1 && f.is_nil();
            argv.push(self.validate(f, param(num_in - 1))?);
        }
        if name == "len" && invalid_first {
            // Go's len of a zero reflect.Value panics inside reflect.
            self.at(cmd);
            let e = GoError::new("reflect: call of reflect.Value.Type on zero Value");
            return Err(self.wrapf(format!("error calling {name}: "), e));
        }
        match (def.imp)(self, &argv) {
            Ok(v) => Ok(v),
            Err(mut e) if e.unsupported.is_some() => {
                if e.unsupported.as_deref() == Some("") {
                    e = GoError::unsupported(name);
                }
                Err(e)
            }
            Err(e) => {
                self.at(cmd);
                Err(self.wrapf(format!("error calling {name}: "), e))
            }
        }
    }

    fn and_or(&mut self, dot: &Slot, or: bool, args: &'a [Arg], fin: Option<Value>) -> R<Value> {
        let mut v = Value::Nil;
        for a in args {
            v = self.eval_arg(dot, P::Any, a)?.0;
            if v.truth() == or {
                return Ok(v);
            }
        }
        if let Some(f) = fin {
            v = f;
        }
        Ok(v)
    }

    /// Go's `evalArg`: an operand for a parameter of type `p`, and whether it is Go's invalid
    /// (zero) `reflect.Value` rather than a nil held in an interface.
    fn eval_arg(&mut self, dot: &Slot, p: P, arg: &'a Arg) -> R<(Value, bool)> {
        self.at(At::Arg(arg));
        match arg {
            Arg::Nil(_) if p.can_be_nil() => return Ok((Value::Nil, false)),
            Arg::Nil(_) => return Err(self.errorf(format!("cannot assign nil to {}", p.go_type()))),
            Arg::Bool(..) | Arg::Number(..) | Arg::Str { .. } => {
                return self.eval_constant(p, arg).map(|v| (v, false));
            }
            _ => {}
        }
        let v = self.eval_arg_slot(dot, arg)?;
        if v.iface && v.v.is_nil() && p != P::Any {
            return Err(self.errorf(format!(
                "wrong type for value; expected {}; got interface {{}}",
                p.go_type()
            )));
        }
        let invalid = v.v.is_nil() && !v.iface;
        Ok((self.validate(v.v, p)?, invalid))
    }

    fn eval_constant(&mut self, p: P, arg: &'a Arg) -> R<Value> {
        let bad = |st: &Self, what: &str| Err(st.errorf(format!("expected {what}; found {arg}")));
        match (p, arg) {
            (P::Any, _) => self.eval_arg_any(&Slot::default(), arg),
            (P::Bool, Arg::Bool(_, b)) => Ok(Value::Bool(*b)),
            (P::Bool, _) => bad(self, "bool"),
            (P::Str, Arg::Str { text, .. }) => Ok(Value::str(text.as_str())),
            (P::Str, _) => bad(self, "string"),
            (P::Int, Arg::Number(_, n)) if n.int.is_some() => Ok(Value::Int(n.int.unwrap_or(0))),
            (P::Int64, Arg::Number(_, n)) if n.int.is_some() => Ok(Value::Int64(n.int.unwrap_or(0))),
            (P::Int | P::Int64, _) => bad(self, "integer"),
            (P::Float, Arg::Number(_, n)) if n.float.is_some() => Ok(Value::Float(n.float.unwrap_or(0.0))),
            (P::Float, _) => bad(self, "float"),
            (p, _) => Err(self.errorf(format!("can't handle {arg} for arg of type {}", p.go_type()))),
        }
    }

    /// Go's `validateType`: a value for a parameter of type `p`.
    pub(super) fn validate(&self, v: Value, p: P) -> R<Value> {
        if v.is_nil() {
            if p.can_be_nil() {
                return Ok(Value::Nil);
            }
            return Err(self.errorf(format!("invalid value; expected {}", p.go_type())));
        }
        let ok = match (p, &v) {
            (P::Any, _) => true,
            (P::Str, Value::Str(_)) | (P::Int, Value::Int(_)) | (P::Int64, Value::Int64(_)) => true,
            (P::Float, Value::Float(_)) | (P::Bool, Value::Bool(_)) => true,
            (P::List, Value::List(l)) => l.ty == ListType::Any,
            (P::StrList, Value::List(l)) => l.ty == ListType::Str,
            (P::Map, Value::Map(m)) => m.ty() != MapType::Str,
            _ => false,
        };
        if !ok {
            return Err(self.errorf(format!(
                "wrong type for value; expected {}; got {}",
                p.go_type(),
                v.type_name()
            )));
        }
        Ok(v)
    }
}
