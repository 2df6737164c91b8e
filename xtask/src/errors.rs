//! `check-errors`: no `Result<_, String>` in non-test code. A `String` error flattens its
//! cause into text, so callers cannot tell one failure from another. Generics are matched by
//! nesting, so `Result<Vec<T>, String>` and `Result<HashMap<K, V>, String>` are found too
//! (a `Result<[^>]*, String>` grep misses both); comments, strings and tests are ignored.

use std::path::Path;

use crate::lex::{Kind, Token, strip_tests, tokenize};

/// One `Result<…, String>` found: where, and the type as written (spacing normalised).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hit {
    pub line: usize,
    pub written: String,
}

/// Every `Result<…, String>` in the non-test code of `source`.
pub fn string_errors(source: &str) -> Vec<Hit> {
    let tokens = strip_tests(&tokenize(source)).tokens;
    let mut hits = Vec::new();
    for (i, token) in tokens.iter().enumerate() {
        // `Result<…>` in a type, `Result::<…>` in an expression.
        let turbofish = tokens.get(i + 1).is_some_and(|t| t.is("::"));
        let open = if turbofish { i + 2 } else { i + 1 };
        if !(token.is("Result") && tokens.get(open).is_some_and(|t| t.is("<"))) {
            continue;
        }
        let Some((args, end)) = generic_args(&tokens, open) else {
            continue;
        };
        if args.len() == 2 && is_string(args[1]) {
            hits.push(Hit {
                line: token.line,
                written: render(&tokens[i..end]),
            });
        }
    }
    hits
}

/// The top-level arguments of the generic list opened by the `<` at `open`, and the index past
/// its `>`; `None` if it never closes (then it was a comparison, not a type).
fn generic_args(tokens: &[Token], open: usize) -> Option<(Vec<&[Token]>, usize)> {
    let (mut angle, mut other) = (0usize, 0usize);
    let mut args = Vec::new();
    let mut start = open + 1;
    for (i, token) in tokens.iter().enumerate().skip(open) {
        match token.text.as_str() {
            _ if token.kind != Kind::Punct => {}
            "<" => angle += 1,
            "(" | "[" | "{" => other += 1,
            ")" | "]" | "}" if other == 0 => return None,
            ")" | "]" | "}" => other -= 1,
            ";" => return None,
            "," if angle == 1 && other == 0 => {
                args.push(&tokens[start..i]);
                start = i + 1;
            }
            ">" => {
                angle -= 1;
                if angle == 0 {
                    args.push(&tokens[start..i]);
                    return Some((args, i + 1));
                }
            }
            _ => {}
        }
    }
    None
}

/// `String`, `std::string::String`, `alloc::string::String`, `::std::string::String`.
fn is_string(arg: &[Token]) -> bool {
    let words: Vec<&str> = arg.iter().map(|t| t.text.as_str()).filter(|w| *w != "::").collect();
    matches!(words.as_slice(), ["String"] | ["std" | "alloc", "string", "String"])
}

fn render(tokens: &[Token]) -> String {
    let mut out = String::new();
    for (i, token) in tokens.iter().enumerate() {
        let word = token.kind != Kind::Punct;
        let after_word = i > 0 && tokens[i - 1].kind != Kind::Punct;
        if (word && after_word) || token.is("->") || (i > 0 && (tokens[i - 1].is(",") || tokens[i - 1].is("->"))) {
            out.push(' ');
        }
        out.push_str(&token.text);
    }
    out
}

/// Runs the check over `src/` and `crates/*/src/` under `root`; prints every hit and returns
/// whether there was none.
pub fn check(root: &Path) -> std::io::Result<bool> {
    let mut count = 0;
    for (_, src) in crate::modules::crate_roots(root) {
        let mut paths = Vec::new();
        crate::rust_files(&src, &mut paths)?;
        for path in paths {
            for hit in string_errors(&std::fs::read_to_string(&path)?) {
                println!("{}:{}: {}", crate::shown(root, &path), hit.line, hit.written);
                count += 1;
            }
        }
    }
    if count == 0 {
        println!("check-errors: no Result<_, String> in non-test code");
        return Ok(true);
    }
    eprintln!("check-errors: {count} Result<_, String> in non-test code; give the error a type (thiserror, #[source])");
    Ok(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn found(source: &str) -> Vec<String> {
        string_errors(source)
            .into_iter()
            .map(|h| format!("{}: {}", h.line, h.written))
            .collect()
    }

    #[test]
    fn simple_and_nested_generics_are_found() {
        let source = "
            fn a() -> Result<(), String> {}
            fn b() -> Result<Vec<Item>, String> {}
            fn c() -> Result<HashMap<String, Vec<u8>>, std::string::String> {}
            fn d() -> std::result::Result<(u8, u8), String> {}
            type E = Result<Box<dyn Fn(u8) -> u8>, String>;
        ";
        assert_eq!(
            found(source),
            [
                "2: Result<(), String>",
                "3: Result<Vec<Item>, String>",
                "4: Result<HashMap<String, Vec<u8>>, std::string::String>",
                "5: Result<(u8, u8), String>",
                "6: Result<Box<dyn Fn(u8) -> u8>, String>",
            ]
        );
    }

    #[test]
    fn other_errors_tests_comments_and_strings_are_not() {
        let source = r#"
            fn a() -> Result<String, Error> {}
            fn b() -> io::Result<String> {}
            fn c() -> Result<Vec<String>, Box<String>> {}
            // fn d() -> Result<(), String>
            const E: &str = "Result<(), String>";
            fn f(x: u8) -> bool { x < 3 && Result::<u8, String>::Ok(1).is_ok() }
            #[cfg(test)]
            mod tests { fn g() -> Result<(), String> {} }
            #[test]
            fn h() -> Result<(), String> { Ok(()) }
        "#;
        assert_eq!(found(source), ["7: Result::<u8, String>"]);
    }
}
