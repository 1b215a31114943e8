//! JSON as CPython's `json.dumps` writes it with its defaults: `", "` and
//! `": "` separators and `ensure_ascii` (non-ASCII as `\uXXXX`, astral
//! characters as surrogate pairs). The pydantic-based charm libraries
//! (ingress v2, tls-certificates v4) store each databag field as its own JSON
//! document; writing the same bytes they would means a Python peer that
//! rewrites the same data causes no `relation-changed` storm.

use serde_json::Value;

pub fn dumps(value: &Value) -> String {
    let mut out = String::new();
    write_value(&mut out, value);
    out
}

fn write_value(out: &mut String, value: &Value) {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => out.push_str(&n.to_string()),
        Value::String(s) => write_string(out, s),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write_value(out, item);
            }
            out.push(']');
        }
        Value::Object(map) => {
            out.push('{');
            for (i, (key, item)) in map.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write_string(out, key);
                out.push_str(": ");
                write_value(out, item);
            }
            out.push('}');
        }
    }
}

fn write_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{08}' => out.push_str("\\b"),
            '\u{0c}' => out.push_str("\\f"),
            c if (c as u32) < 0x20 || (c as u32) > 0x7e => {
                let mut units = [0u16; 2];
                for unit in c.encode_utf16(&mut units) {
                    out.push_str(&format!("\\u{unit:04x}"));
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn matches_python_json_dumps() {
        // Expected values printed by CPython 3.11 `json.dumps`.
        assert_eq!(dumps(&json!("landscape")), r#""landscape""#);
        assert_eq!(dumps(&json!({"url": "https://x/"})), r#"{"url": "https://x/"}"#);
        assert_eq!(dumps(&json!([1, true, null])), "[1, true, null]");
        assert_eq!(dumps(&json!("é\u{1F600}\"\\\n\u{1}/")), r#""\u00e9\ud83d\ude00\"\\\n\u0001/""#);
        assert_eq!(dumps(&json!("\u{7f}")), r#""\u007f""#);
    }
}
