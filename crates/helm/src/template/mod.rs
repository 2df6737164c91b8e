//! Go's `text/template` with Helm's and sprig's functions, written to render exactly as Helm v4
//! does (`pkg/engine`): the same output bytes and, for failures, the same error text.
//!
//! # Why our own engine
//! crates.io has `gtmpl` (+ `gtmpl_value`, `gtmpl_derive`): last released in 2021, one `Number`
//! type (Go distinguishes `int` from `float64`, and charts observe it: `eq .Values.n 1` is an
//! error in Helm, `%d` of a value prints `%!d(float64=3)`), `printf` and the escapers
//! incomplete by its own README, Go's error texts not reproduced. The sprig ports (`sprig`,
//! built on gtmpl; `lithos-sprig`, partial; `handlebars_sprig`, for Handlebars) cover a fraction
//! of sprig with approximate semantics. Exactness against Helm is the requirement, so the lexer,
//! parser, executor, Go's `fmt`, the YAML/JSON encoders and the functions are written here,
//! from Go's, sprig's and Helm's behaviour (checked against real Helm by the differential tests
//! in `tests/template*.rs`). Crates are used where they are exact: `regex` (RE2 syntax and
//! replacement expansion as Go's), `sha1`/`sha2`, `base64`, `rsa`/`p256` (keys and signatures
//! for sprig's certificate functions; the X.509 DER is ours), `bcrypt`.
//!
//! # Layout
//! - [`value`]: the value model; [`fmt`]: Go's `fmt` verbs.
//! - `lexer`, `parse`, `node`: Go's template grammar and parse errors.
//! - `exec`, `call`: execution (`missingkey=zero`), Go's execution errors.
//! - [`funcs`]: the function table (builtins, sprig, Helm); names Helm has and this engine does
//!   not implement fail to parse as [`Error::Unsupported`], so the caller can use real Helm.
//! - [`objects`]: `.Files`, capabilities objects, generic Go structs.
//! - [`Engine`]: Helm's render loop (template order, partials, `.Template`, error rewriting).
//!
//! # Adding a function
//! A function is a plain `fn(&mut State, &[Value]) -> Result<Value, GoError>` with its Go
//! signature; the executor checks argument count and types as Go does, so the body can assume
//! them. Engine-level functions (`include`, `tpl`) use the [`State`] to run templates.
//! ```
//! use std::rc::Rc;
//! use helm::template::{Engine, FuncTable, Value, funcs::P};
//! let mut funcs = FuncTable::helm();
//! funcs.add("shout", &[P::Str], |_, args| Ok(Value::str(format!("{}!", args[0].as_str().unwrap_or("")))));
//! let engine = Engine { funcs: Rc::new(funcs), ..Engine::default() };
//! let out = engine.render(&[("c/templates/a.yaml".into(), "{{ shout \"hi\" }}".into())], Value::empty_map());
//! assert_eq!(out.unwrap()["c/templates/a.yaml"], "hi!");
//! ```

mod call;
mod error;
mod exec;
pub mod fmt;
pub mod funcs;
mod lexer;
mod literal;
mod node;
pub mod objects;
mod parse;
mod render;
pub mod value;

pub use error::GoError;
pub use exec::{State, YamlLoader};
pub use funcs::FuncTable;
pub use render::{Engine, Error, Template};
pub use value::{List, ListType, Map, MapType, Object, Value};
