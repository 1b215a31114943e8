//! Label matchers added to every series selector of a PromQL expression:
//! what cos-tool's `transform --label-matcher` does to an alert rule, for
//! the expressions of this charm's own rule files (checked by `promtool`
//! in the tests).

/// Words that are never a series selector.
const KEYWORDS: [&str; 13] = [
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "group_right",
    "and",
    "or",
    "unless",
    "bool",
    "offset",
    "inf",
    "nan",
];
/// Aggregations, which may stand before `by`/`without` instead of `(`.
const AGGREGATIONS: [&str; 12] =
    ["sum", "min", "max", "avg", "group", "stddev", "stdvar", "count", "count_values", "bottomk", "topk", "quantile"];
/// Keywords followed by a parenthesised list of label names.
const LABEL_LISTS: [&str; 6] = ["by", "without", "on", "ignoring", "group_left", "group_right"];

/// `expr` with `matchers` (`a="x",b="y"`) first in every selector's braces.
pub fn inject_matchers(expr: &str, matchers: &str) -> String {
    let chars: Vec<char> = expr.chars().collect();
    let mut out = String::with_capacity(expr.len() + 4 * matchers.len());
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == '"' || c == '\'' || c == '`' {
            i = copy_string(&chars, i, &mut out);
        } else if c == '[' {
            let end = chars[i..].iter().position(|&c| c == ']').map_or(chars.len(), |p| i + p + 1);
            out.extend(&chars[i..end]);
            i = end;
        } else if c == '{' {
            i = copy_braces(&chars, i, matchers, &mut out);
        } else if c.is_ascii_digit() || (c == '.' && chars.get(i + 1).is_some_and(char::is_ascii_digit)) {
            let end = scan(&chars, i, |c| c.is_ascii_alphanumeric() || c == '.' || c == '_');
            out.extend(&chars[i..end]);
            i = end;
        } else if c.is_ascii_alphabetic() || c == '_' || c == ':' {
            let end = scan(&chars, i, |c| c.is_ascii_alphanumeric() || c == '_' || c == ':');
            let word: String = chars[i..end].iter().collect();
            out.push_str(&word);
            let next = scan(&chars, end, char::is_whitespace);
            let lower = word.to_ascii_lowercase();
            i = end;
            if LABEL_LISTS.contains(&lower.as_str()) && chars.get(next) == Some(&'(') {
                let close = chars[next..].iter().position(|&c| c == ')').map_or(chars.len(), |p| next + p + 1);
                out.extend(&chars[end..close]);
                i = close;
            } else if KEYWORDS.contains(&lower.as_str())
                || AGGREGATIONS.contains(&lower.as_str())
                || chars.get(next) == Some(&'(')
            {
                // A function, an aggregation or an operator word.
            } else if chars.get(next) != Some(&'{') {
                out.push_str(&format!("{{{matchers}}}"));
            }
        } else {
            out.push(c);
            i += 1;
        }
    }
    out
}

/// The index after the run of characters from `start` that `keep` takes.
fn scan(chars: &[char], start: usize, keep: impl Fn(char) -> bool) -> usize {
    chars[start..].iter().position(|&c| !keep(c)).map_or(chars.len(), |p| start + p)
}

/// Copies the string literal at `start` (escapes kept); returns its end.
fn copy_string(chars: &[char], start: usize, out: &mut String) -> usize {
    let quote = chars[start];
    let mut i = start + 1;
    while i < chars.len() && chars[i] != quote {
        i += if chars[i] == '\\' && quote != '`' { 2 } else { 1 };
    }
    let end = (i + 1).min(chars.len());
    out.extend(&chars[start..end]);
    end
}

/// Copies the matcher braces at `start` with `matchers` first; returns
/// their end.
fn copy_braces(chars: &[char], start: usize, matchers: &str, out: &mut String) -> usize {
    let mut inner = String::new();
    let mut i = start + 1;
    while i < chars.len() && chars[i] != '}' {
        if matches!(chars[i], '"' | '\'' | '`') {
            i = copy_string(chars, i, &mut inner);
        } else {
            inner.push(chars[i]);
            i += 1;
        }
    }
    out.push('{');
    out.push_str(matchers);
    if !inner.trim().is_empty() {
        out.push(',');
        out.push_str(&inner);
    }
    out.push('}');
    (i + 1).min(chars.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    const M: &str = r#"juju_model="m""#;

    #[test]
    fn every_selector_gets_the_matchers_and_nothing_else_does() {
        for (expr, wanted) in [
            ("up == 0", r#"up{juju_model="m"} == 0"#),
            (r#"up{job=~"landscape-.*"} == 0"#, r#"up{juju_model="m",job=~"landscape-.*"} == 0"#),
            ("up{} == 0", r#"up{juju_model="m"} == 0"#),
            (
                r#"absent(up{landscape_service="package-search"}==1)"#,
                r#"absent(up{juju_model="m",landscape_service="package-search"}==1)"#,
            ),
            (
                "landscape_haproxy_certificate_expiry_timestamp_seconds - time() < 14 * 86400",
                r#"landscape_haproxy_certificate_expiry_timestamp_seconds{juju_model="m"} - time() < 14 * 86400"#,
            ),
            (
                r#"sum by (juju_unit, proxy) (rate(x_total{code="5xx"}[5m])) / sum without (a) (rate(x_total[5m]))"#,
                r#"sum by (juju_unit, proxy) (rate(x_total{juju_model="m",code="5xx"}[5m])) / sum without (a) (rate(x_total{juju_model="m"}[5m]))"#,
            ),
            (
                r#"a and on (b) c offset 5m > bool 0.5"#,
                r#"a{juju_model="m"} and on (b) c{juju_model="m"} offset 5m > bool 0.5"#,
            ),
            (r#"x{a="}{,\""}"#, r#"x{juju_model="m",a="}{,\""}"#),
        ] {
            assert_eq!(inject_matchers(expr, M), wanted, "{expr}");
        }
    }
}
