//! The one place that knows the YAML library: turns YAML (or JSON) text into JSON values, one
//! per document, so its users (driftwatch, the renderers in `crates/`) work on
//! `serde_json::Value` only. Hostile nesting is refused before the parser sees it. Pure.

use serde::Deserialize;
use serde_json::Value;

/// Why a YAML stream could not be read to its end.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Collections nest deeper than [`MAX_DEPTH`] (the 1-based line where the limit is passed).
    #[error("line {line}: collections nest deeper than {MAX_DEPTH} levels")]
    TooDeep { line: usize },
    /// A document (1-based) is not valid YAML.
    #[error("document {document}: {source}")]
    Syntax {
        document: usize,
        #[source]
        source: serde_yaml::Error,
    },
}

/// Parses every document of a (possibly multi-document) YAML stream. Empty documents are
/// dropped. On a syntax error the documents before it are returned with the error, so a caller
/// can still use what parsed.
pub fn documents(text: &str) -> (Vec<Value>, Option<Error>) {
    if let Err(e) = check_nesting(text) {
        return (Vec::new(), Some(e));
    }
    let mut docs = Vec::new();
    for (index, doc) in serde_yaml::Deserializer::from_str(text).enumerate() {
        match Value::deserialize(doc) {
            Ok(Value::Null) => {}
            Ok(v) => docs.push(v),
            Err(source) => {
                let document = index + 1;
                return (docs, Some(Error::Syntax { document, source }));
            }
        }
    }
    (docs, None)
}

/// How deep collections may nest. Kubernetes manifests stay far below this (a CronJob's container
/// env is about 15 levels); the parser's cost grows faster than linearly with depth, so a hostile
/// `[[[[…` file is refused before the parser sees it.
pub const MAX_DEPTH: usize = 256;

/// A linear scan that over-approximates how deep collections nest: flow collections (`[`, `{`
/// where a value starts, outside quoted scalars, comments and block scalars) plus block levels
/// from indentation and `- ` entries. The error names the line where the limit is passed.
fn check_nesting(text: &str) -> Result<(), Error> {
    let mut flow = 0usize;
    // Indentation columns of the enclosing block collections.
    let mut indents: Vec<usize> = Vec::new();
    let mut quote: Option<char> = None;
    // The indentation of a line that opened a block scalar (`|`, `>`): deeper lines are text.
    let mut block_scalar: Option<usize> = None;
    for (index, line) in text.lines().enumerate() {
        let indent = line.len() - line.trim_start_matches(' ').len();
        let rest = &line[indent..];
        if let Some(parent) = block_scalar {
            if rest.is_empty() || indent > parent {
                continue;
            }
            block_scalar = None;
        }
        let mut depth_here = 0;
        if flow == 0 && quote.is_none() {
            if rest.is_empty() || rest.starts_with('#') {
                continue;
            }
            while indents.last().is_some_and(|&i| i >= indent) {
                indents.pop();
            }
            indents.push(indent);
            // `- - - x` nests one level per dash on a single line.
            depth_here = rest.split("- ").take_while(|part| part.trim().is_empty()).count();
        }
        if indents.len() + depth_here > MAX_DEPTH {
            return Err(too_deep(index));
        }
        let mut value_start = true;
        let mut prev = ' ';
        let mut chars = rest.chars().peekable();
        while let Some(c) = chars.next() {
            match quote {
                Some('"') if c == '\\' => {
                    chars.next();
                }
                // '' inside a single-quoted scalar is an escaped quote.
                Some('\'') if c == '\'' && chars.peek() == Some(&'\'') => {
                    chars.next();
                }
                Some(q) if c == q => {
                    quote = None;
                    value_start = false;
                }
                Some(_) => {}
                None => match c {
                    '#' if prev == ' ' || prev == '\t' => break,
                    '"' | '\'' if value_start => quote = Some(c),
                    '[' | '{' if value_start => {
                        flow += 1;
                        if flow + indents.len() > MAX_DEPTH {
                            return Err(too_deep(index));
                        }
                    }
                    ']' | '}' if flow > 0 => flow -= 1,
                    ',' if flow > 0 => value_start = true,
                    ' ' | '\t' => value_start |= matches!(prev, ':' | '-' | '?'),
                    _ => value_start = false,
                },
            }
            prev = c;
        }
        if flow == 0 && quote.is_none() && opens_block_scalar(rest) {
            block_scalar = Some(indent);
        }
    }
    Ok(())
}

/// Whether a line ends with a block scalar header (`key: |`, `- >-`, `|2+`, before a comment).
fn opens_block_scalar(line: &str) -> bool {
    let code = line.split(" #").next().unwrap_or(line).trim_end();
    let header = code.rsplit(' ').next().unwrap_or(code);
    header.starts_with(['|', '>']) && header[1..].chars().all(|c| matches!(c, '+' | '-' | '1'..='9'))
}

fn too_deep(line_index: usize) -> Error {
    Error::TooDeep { line: line_index + 1 }
}

/// Writes a value as YAML (for files driftwatch generates, such as an ignore baseline).
pub fn to_string<T: serde::Serialize>(value: &T) -> String {
    serde_yaml::to_string(value).expect("plain data serializes to YAML")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn multi_document_with_empty_ones() {
        let (docs, err) = documents("---\na: 1\n---\n# only a comment\n---\nb: [1, 2]\n");
        assert!(err.is_none());
        assert_eq!(
            docs,
            vec![serde_json::json!({"a": 1}), serde_json::json!({"b": [1, 2]})]
        );
    }

    #[test]
    fn json_is_yaml() {
        let (docs, err) = documents(r#"{"kind": "List", "items": []}"#);
        assert!(err.is_none());
        assert_eq!(docs[0]["kind"], "List");
    }

    #[test]
    fn hostile_nesting_is_refused_before_parsing() {
        let cases = [
            ("flow sequences", "[".repeat(100_000)),
            ("flow mappings", "{a: ".repeat(100_000)),
            ("block sequences on one line", "- ".repeat(MAX_DEPTH + 1) + "x"),
            (
                "block mappings",
                (0..MAX_DEPTH + 1).map(|i| format!("{}k:\n", " ".repeat(i))).collect(),
            ),
        ];
        for (name, text) in cases {
            let (docs, err) = documents(&text);
            assert!(docs.is_empty(), "{name}");
            let err = err.unwrap_or_else(|| panic!("{name}: accepted")).to_string();
            assert!(err.contains("nest deeper than 256"), "{name}: {err}");
            assert!(err.starts_with("line 1") || name == "block mappings", "{name}: {err}");
        }
    }

    #[test]
    fn brackets_in_strings_and_comments_do_not_count_as_nesting() {
        let text = format!(
            "a: \"{0}\"\nb: '{0}'' still quoted'\nc: 1 # {0}\nd: [[1], {{e: [2]}}]\n",
            "[".repeat(1000)
        );
        let (docs, err) = documents(&text);
        assert!(err.is_none());
        assert_eq!(docs[0]["d"], serde_json::json!([[1], {"e": [2]}]));
    }

    #[test]
    fn block_scalars_and_plain_scalars_are_text() {
        let script = "[ -f /x && echo don't {\n".repeat(400);
        let indented: String = script.lines().map(|l| format!("    {l}\n")).collect();
        let text = format!("data:\n  run.sh: |\n{indented}  plain: a[b{{c\nafter: [1]\n");
        let (docs, err) = documents(&text);
        assert!(err.is_none());
        assert_eq!(docs[0]["after"], serde_json::json!([1]));
        assert_eq!(docs[0]["data"]["plain"], "a[b{c");
    }

    #[test]
    fn deep_but_allowed_nesting_parses() {
        let text = format!("{}1{}", "[".repeat(100), "]".repeat(100));
        let (docs, err) = documents(&text);
        assert!(err.is_none(), "{text}");
        assert_eq!(docs.len(), 1);
    }

    #[test]
    fn syntax_error_keeps_earlier_documents_and_names_position() {
        let (docs, err) = documents("a: 1\n---\nb: [unclosed\n");
        assert_eq!(docs.len(), 1);
        let err = err.unwrap().to_string();
        assert!(err.starts_with("document 2:"), "{err}");
        assert!(err.contains("line"), "{err}");
    }
}
