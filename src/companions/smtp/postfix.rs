//! postfix's `main.cf`, edited key by key: a key the charm sets replaces its
//! line (or is appended), a key it no longer sets loses its line, and every
//! other line (comments, the operator's settings) is kept as it is.

/// `key = value`; the key is what comes before the first `=`, trimmed.
fn key_of(line: &str) -> Option<&str> {
    let (key, _) = line.split_once('=')?;
    let key = key.trim();
    (!key.is_empty() && !key.starts_with('#') && !line.starts_with([' ', '\t'])).then_some(key)
}

/// `text` with each of `wanted` set (Some) or removed (None).
pub fn apply(text: &str, wanted: &[(&str, Option<String>)]) -> String {
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    for (key, value) in wanted {
        let found = lines.iter().position(|l| key_of(l) == Some(key));
        match (found, value) {
            (Some(i), Some(value)) => lines[i] = format!("{key} = {value}"),
            (None, Some(value)) => lines.push(format!("{key} = {value}")),
            (Some(i), None) => {
                lines.remove(i);
            }
            (None, None) => {}
        }
    }
    let mut out = lines.join("\n");
    if !out.is_empty() {
        out.push('\n');
    }
    out
}

/// The value of `key` in `text`, if it is set.
pub fn get(text: &str, key: &str) -> Option<String> {
    text.lines().find(|l| key_of(l) == Some(key)).and_then(|l| l.split_once('=')).map(|(_, v)| v.trim().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_replace_their_line_are_appended_or_removed_and_the_rest_stays() {
        let text = "myhostname = lds\nrelayhost =\n# relayhost = commented\nsmtp_sasl_auth_enable = yes\n";
        let out = apply(
            text,
            &[
                ("relayhost", Some("[smtp.example]:587".into())),
                ("smtp_tls_security_level", Some("secure".into())),
                ("smtp_sasl_auth_enable", None),
            ],
        );
        assert_eq!(
            out,
            "myhostname = lds\nrelayhost = [smtp.example]:587\n# relayhost = commented\nsmtp_tls_security_level = secure\n"
        );
        assert_eq!(get(&out, "relayhost").as_deref(), Some("[smtp.example]:587"));
        assert_eq!(apply(&out, &[("relayhost", Some("[smtp.example]:587".into()))]), out, "idempotent");
    }
}
