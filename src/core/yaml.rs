//! The one place that knows the YAML library: turns YAML (or JSON) text into JSON values, one
//! per document, so the rest of the crate works on `serde_json::Value` only. Pure.

use serde::Deserialize;
use serde_json::Value;

/// Parses every document of a (possibly multi-document) YAML stream. Empty documents are
/// dropped. On a syntax error the documents before it are returned with the error, so a caller
/// can still use what parsed.
pub fn documents(text: &str) -> (Vec<Value>, Option<String>) {
    let mut docs = Vec::new();
    for (index, doc) in serde_yaml::Deserializer::from_str(text).enumerate() {
        match Value::deserialize(doc) {
            Ok(Value::Null) => {}
            Ok(v) => docs.push(v),
            Err(e) => return (docs, Some(format!("document {}: {e}", index + 1))),
        }
    }
    (docs, None)
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
        assert_eq!(err, None);
        assert_eq!(
            docs,
            vec![serde_json::json!({"a": 1}), serde_json::json!({"b": [1, 2]})]
        );
    }

    #[test]
    fn json_is_yaml() {
        let (docs, err) = documents(r#"{"kind": "List", "items": []}"#);
        assert_eq!(err, None);
        assert_eq!(docs[0]["kind"], "List");
    }

    #[test]
    fn syntax_error_keeps_earlier_documents_and_names_position() {
        let (docs, err) = documents("a: 1\n---\nb: [unclosed\n");
        assert_eq!(docs.len(), 1);
        let err = err.unwrap();
        assert!(err.starts_with("document 2:"), "{err}");
        assert!(err.contains("line"), "{err}");
    }
}
