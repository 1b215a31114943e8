//! A small INI editor for `service.conf` that changes only what it is asked to.
//!
//! The Python charm rewrote the whole file with `ConfigParser`, which drops
//! comments and lower-cases keys. Here the document is kept as its lines:
//! setting a key replaces that one line (and its continuation lines), adding a
//! key appends it to the end of its section, and everything else — comments,
//! blank lines, order, unknown keys — is written back byte for byte.
//!
//! Keys match case-insensitively, as `ConfigParser` (which Landscape reads the
//! file with) folds them; section names match exactly.

use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IniError {
    #[error("line {line}: {reason}")]
    Syntax { line: usize, reason: String },
    #[error("[{section}] {key}: {reason}")]
    BadEntry { section: String, key: String, reason: String },
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Line {
    /// Blank, comment, or anything before the first section that is not a key.
    Other(String),
    Section(String),
    /// `raw` is the original line (kept when the value does not change);
    /// `continuation` holds the indented lines that belong to the value.
    Entry {
        key: String,
        value: String,
        raw: String,
        continuation: Vec<String>,
    },
}

/// A parsed INI document that renders back to its source when unchanged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IniDocument {
    lines: Vec<Line>,
    /// Whether the source ended with a newline (kept as it was).
    trailing_newline: bool,
    /// The source's line ending (`\n`, or `\r\n` for a file from Windows),
    /// kept for every line.
    eol: &'static str,
}

impl Default for IniDocument {
    fn default() -> Self {
        Self { lines: vec![], trailing_newline: false, eol: "\n" }
    }
}

/// Refuses a section, key or value that could add a line or a section.
fn check_entry(section: &str, key: &str, value: &str) -> Result<(), IniError> {
    let bad = |reason: &str| IniError::BadEntry { section: section.into(), key: key.into(), reason: reason.into() };
    if section.is_empty() || section.contains([']', '\n', '\r']) {
        return Err(bad("invalid section name"));
    }
    if key.is_empty() || key.contains(['=', ':', '[', '\n', '\r']) || key.trim() != key || is_comment(key) {
        return Err(bad("invalid key"));
    }
    if value.contains(['\n', '\r', '\0']) {
        return Err(bad("a value must be one line"));
    }
    Ok(())
}

fn is_comment(trimmed: &str) -> bool {
    trimmed.starts_with('#') || trimmed.starts_with(';')
}

/// One line that is neither blank, a comment nor a continuation: a section
/// header or `key = value` (`in_section`: one came before it).
fn parse_line(number: usize, raw: &str, trimmed: &str, in_section: bool) -> Result<Line, IniError> {
    if let Some(name) = trimmed.strip_prefix('[') {
        let name = name.strip_suffix(']').filter(|n| !n.is_empty()).ok_or_else(|| IniError::Syntax {
            line: number,
            reason: format!("bad section header {}", crate::text::quoted(trimmed)),
        })?;
        return Ok(Line::Section(name.to_string()));
    }
    let Some(split) = trimmed.find(['=', ':']) else {
        return Err(IniError::Syntax {
            line: number,
            reason: format!("expected key = value, got {}", crate::text::quoted(trimmed)),
        });
    };
    if !in_section {
        return Err(IniError::Syntax { line: number, reason: "a key before the first [section]".into() });
    }
    let key = trimmed[..split].trim();
    if key.is_empty() {
        return Err(IniError::Syntax { line: number, reason: "an empty key".into() });
    }
    Ok(Line::Entry {
        key: key.to_string(),
        value: trimmed[split + 1..].trim().to_string(),
        raw: raw.to_string(),
        continuation: vec![],
    })
}

impl IniDocument {
    /// Parses `text`. Lenient about layout, strict about what would be
    /// ambiguous: a key outside any section, or a line that is neither a
    /// section, a comment nor `key = value`.
    pub fn parse(text: &str) -> Result<Self, IniError> {
        let mut lines: Vec<Line> = Vec::new();
        let mut in_section = false;
        for (index, raw) in text.lines().enumerate() {
            let number = index + 1;
            let trimmed = raw.trim();
            if trimmed.is_empty() || is_comment(trimmed) {
                lines.push(Line::Other(raw.to_string()));
                continue;
            }
            // An indented line continues the previous value (ConfigParser's rule).
            if raw.starts_with([' ', '\t']) {
                if let Some(Line::Entry { continuation, .. }) = lines.last_mut() {
                    continuation.push(raw.to_string());
                    continue;
                }
            }
            let line = parse_line(number, raw, trimmed, in_section)?;
            in_section |= matches!(line, Line::Section(_));
            lines.push(line);
        }
        let eol = crate::text::line_ending(text);
        Ok(Self { lines, trailing_newline: text.is_empty() || text.ends_with('\n'), eol })
    }

    /// Indexes of the lines of `section`: its header and everything up to the next header.
    fn section_span(&self, section: &str) -> Option<(usize, usize)> {
        let start = self.lines.iter().position(|l| matches!(l, Line::Section(s) if s == section))?;
        let end = self.lines[start + 1..]
            .iter()
            .position(|l| matches!(l, Line::Section(_)))
            .map_or(self.lines.len(), |i| start + 1 + i);
        Some((start, end))
    }

    fn find(&self, section: &str, key: &str) -> Option<usize> {
        let (start, end) = self.section_span(section)?;
        (start + 1..end)
            .rev()
            .find(|&i| matches!(&self.lines[i], Line::Entry { key: k, .. } if k.eq_ignore_ascii_case(key)))
    }

    /// The value of `key` in `section` (the last one, as ConfigParser reads
    /// duplicates); a multi-line value is joined with newlines.
    pub fn get(&self, section: &str, key: &str) -> Option<String> {
        match &self.lines[self.find(section, key)?] {
            Line::Entry { value, continuation, .. } => {
                let mut all = value.clone();
                for line in continuation {
                    all.push('\n');
                    all.push_str(line.trim());
                }
                Some(all)
            }
            _ => None,
        }
    }

    pub fn sections(&self) -> Vec<&str> {
        self.lines
            .iter()
            .filter_map(|l| match l {
                Line::Section(s) => Some(s.as_str()),
                _ => None,
            })
            .collect()
    }

    /// The `(key, value)` pairs of `section`, in file order.
    pub fn entries(&self, section: &str) -> Vec<(String, String)> {
        let Some((start, end)) = self.section_span(section) else { return vec![] };
        self.lines[start + 1..end]
            .iter()
            .filter_map(|l| match l {
                Line::Entry { key, .. } => Some((key.clone(), self.get(section, key).unwrap_or_default())),
                _ => None,
            })
            .collect()
    }

    /// Sets `key` in `section` to a one-line value. Returns whether the
    /// document changed. Refuses anything that could add a line or a section.
    pub fn set(&mut self, section: &str, key: &str, value: &str) -> Result<bool, IniError> {
        check_entry(section, key, value)?;
        let value = value.trim();
        if let Some(i) = self.find(section, key) {
            if let Line::Entry { value: old, continuation, key: existing, .. } = &self.lines[i] {
                if old == value && continuation.is_empty() {
                    return Ok(false);
                }
                // Keep the operator's spelling of the key.
                let existing = existing.clone();
                self.lines[i] = Line::Entry {
                    raw: format!("{existing} = {value}"),
                    key: existing,
                    value: value.to_string(),
                    continuation: vec![],
                };
            }
            return Ok(true);
        }
        self.insert(section, key, value);
        Ok(true)
    }

    /// Adds a new `key = value` to `section`, the section created at the end
    /// if it is missing.
    fn insert(&mut self, section: &str, key: &str, value: &str) {
        let fresh = Line::Entry {
            key: key.to_string(),
            value: value.to_string(),
            raw: format!("{key} = {value}"),
            continuation: vec![],
        };
        match self.section_span(section) {
            Some((start, end)) => {
                // After the section's last entry or comment, before trailing blanks.
                let mut at = end;
                while at > start + 1 && matches!(&self.lines[at - 1], Line::Other(l) if l.trim().is_empty()) {
                    at -= 1;
                }
                self.lines.insert(at, fresh);
            }
            None => {
                if self.lines.last().is_some_and(|l| !matches!(l, Line::Other(t) if t.trim().is_empty())) {
                    self.lines.push(Line::Other(String::new()));
                }
                self.lines.push(Line::Section(section.to_string()));
                self.lines.push(fresh);
            }
        }
    }

    /// Removes every `key` in `section`. Returns whether anything went.
    pub fn remove(&mut self, section: &str, key: &str) -> bool {
        let mut removed = false;
        while let Some(i) = self.find(section, key) {
            self.lines.remove(i);
            removed = true;
        }
        removed
    }

    /// Sets every entry of `other` here, section by section (later wins).
    pub fn merge(&mut self, other: &IniDocument) -> Result<bool, IniError> {
        let mut changed = false;
        for section in other.sections() {
            for (key, value) in other.entries(section) {
                changed |= self.set(section, &key, &value)?;
            }
        }
        Ok(changed)
    }
}

impl fmt::Display for IniDocument {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        let mut line = |f: &mut fmt::Formatter<'_>, text: &str| {
            if !first {
                f.write_str(self.eol)?;
            }
            first = false;
            f.write_str(text)
        };
        for l in &self.lines {
            match l {
                Line::Other(text) => line(f, text)?,
                Line::Section(name) => line(f, &format!("[{name}]"))?,
                Line::Entry { raw, continuation, .. } => {
                    line(f, raw)?;
                    for c in continuation {
                        line(f, c)?;
                    }
                }
            }
        }
        if self.trailing_newline && !self.lines.is_empty() {
            f.write_str(self.eol)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = "# Landscape service configuration\n\
        [stores]\n\
        user = landscape\n\
        ; the operator's note\n\
        Password = old\n\
        \n\
        [landscape]\n\
        secret-token = abc\n\
        multi = first\n    second\n\
        \n";

    #[test]
    fn unchanged_documents_render_byte_for_byte() {
        let doc = IniDocument::parse(SAMPLE).unwrap();
        assert_eq!(doc.to_string(), SAMPLE);
        let no_newline = "[a]\nk=v";
        assert_eq!(IniDocument::parse(no_newline).unwrap().to_string(), no_newline);
    }

    #[test]
    fn set_replaces_one_line_and_keeps_comments_and_key_case() {
        let mut doc = IniDocument::parse(SAMPLE).unwrap();
        assert!(doc.set("stores", "password", "new").unwrap());
        assert!(!doc.set("stores", "password", "new").unwrap(), "a second set changes nothing");
        let text = doc.to_string();
        assert!(text.contains("; the operator's note\nPassword = new\n"), "{text}");
        assert!(text.starts_with("# Landscape service configuration\n"));
        assert_eq!(doc.get("stores", "PASSWORD").as_deref(), Some("new"));
    }

    #[test]
    fn new_keys_go_to_the_end_of_their_section_and_new_sections_to_the_end() {
        let mut doc = IniDocument::parse(SAMPLE).unwrap();
        doc.set("stores", "host", "db:5432").unwrap();
        doc.set("broker", "host", "10.0.0.9").unwrap();
        let text = doc.to_string();
        assert!(text.contains("Password = old\nhost = db:5432\n\n[landscape]"), "{text}");
        assert!(text.ends_with("\n[broker]\nhost = 10.0.0.9\n"), "{text}");
    }

    #[test]
    fn multi_line_values_read_joined_and_are_replaced_whole() {
        let mut doc = IniDocument::parse(SAMPLE).unwrap();
        assert_eq!(doc.get("landscape", "multi").as_deref(), Some("first\nsecond"));
        doc.set("landscape", "multi", "one").unwrap();
        assert!(!doc.to_string().contains("second"));
    }

    #[test]
    fn values_that_would_inject_lines_are_refused() {
        let mut doc = IniDocument::parse(SAMPLE).unwrap();
        for (key, value) in [("host", "x\n[evil]"), ("ho\nst", "x"), ("a=b", "x"), ("#k", "x")] {
            assert!(doc.set("stores", key, value).is_err(), "{key:?} = {value:?}");
        }
        assert_eq!(doc.to_string(), SAMPLE);
    }

    #[test]
    fn syntax_errors_name_the_line() {
        assert_eq!(
            IniDocument::parse("key = value\n").unwrap_err(),
            IniError::Syntax { line: 1, reason: "a key before the first [section]".into() }
        );
        // The missing section is said first, whatever else is wrong.
        assert_eq!(
            IniDocument::parse(" = value\n").unwrap_err(),
            IniError::Syntax { line: 1, reason: "a key before the first [section]".into() }
        );
        assert!(IniDocument::parse("[a]\njust words\n").unwrap_err().to_string().starts_with("line 2:"));
        assert!(IniDocument::parse("[a\n").is_err());
    }

    #[test]
    fn merge_sets_every_entry_and_remove_drops_duplicates() {
        let mut doc = IniDocument::parse(SAMPLE).unwrap();
        let extra =
            IniDocument::parse("[landscape]\nsecret-token = xyz\n[features]\nemployee_management = true\n").unwrap();
        assert!(doc.merge(&extra).unwrap());
        assert_eq!(doc.get("landscape", "secret-token").as_deref(), Some("xyz"));
        assert_eq!(doc.get("features", "employee_management").as_deref(), Some("true"));
        assert!(doc.remove("stores", "user"));
        assert_eq!(doc.get("stores", "user"), None);
    }
}
