//! Untrusted text: what it may be (a DNS name, a host, one token), and how
//! it is shown to people (quoted, cut, one line).
//!
//! Relation data, provider certificates and command output reach status
//! messages, `juju-log` and errors. Shown raw they can be megabytes (the
//! spawn of `status-set` then fails with E2BIG, on every retry of the hook)
//! or carry line breaks and escape codes that forge log lines. Every value
//! echoed from outside goes through [`quoted`]; every message a hook tool
//! carries goes through [`one_line`].

use std::net::IpAddr;

/// How many characters of a value are shown.
pub const SHOWN_CHARS: usize = 80;
/// The longest message sent to `status-set` or `juju-log`, in characters.
pub const MAX_MESSAGE_CHARS: usize = 2000;

/// `value` Rust-debug-quoted (control characters escaped), cut to
/// [`SHOWN_CHARS`] characters with `…` when longer.
pub fn quoted(value: &str) -> String {
    let count = value.chars().count();
    let shown: String = value.chars().take(SHOWN_CHARS).collect();
    let more = if count > SHOWN_CHARS { format!("… ({count} characters)") } else { String::new() };
    format!("{shown:?}{more}")
}

/// `message` with every control character escaped (a line break becomes
/// `\n`), cut to [`MAX_MESSAGE_CHARS`] characters.
pub fn one_line(message: &str) -> String {
    let mut out = String::with_capacity(message.len().min(MAX_MESSAGE_CHARS));
    for (i, c) in message.chars().enumerate() {
        if i >= MAX_MESSAGE_CHARS {
            out.push('…');
            break;
        }
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

/// `url` with any `user:password@` before its host shown as `<redacted>@`.
pub fn mask_userinfo(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else { return url.to_string() };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    match rest[..authority_end].rfind('@') {
        Some(at) => format!("{scheme}://<redacted>@{}", &rest[at + 1..]),
        None => url.to_string(),
    }
}

/// `text` with every URL's `user:password@` in it shown as `<redacted>@`:
/// for data that may hold URLs anywhere (a JSON list of them, say).
pub fn mask_userinfo_in(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("://") {
        let (head, tail) = rest.split_at(start + 3);
        out.push_str(head);
        let authority_end = tail.find(|c: char| "/?#\"',] \t\r\n".contains(c)).unwrap_or(tail.len());
        match tail[..authority_end].rfind('@') {
            Some(at) => {
                out.push_str("<redacted>");
                rest = &tail[at..];
            }
            None => rest = tail,
        }
    }
    out.push_str(rest);
    out
}

/// Parses an address strictly: `IpAddr` syntax, nothing around it. A scoped
/// IPv6 address (`fe80::1%eth0`) is refused: it means nothing to another host.
pub fn parse_ip(value: &str) -> Option<IpAddr> {
    value.parse().ok()
}

/// An address another host published for itself (a peer, a debarchive
/// unit): [`parse_ip`], and one that this unit can reach. An unspecified
/// (`0.0.0.0`, `::`), loopback, link-local, broadcast or multicast address
/// means nothing here: put in every unit's server lines, it would send
/// traffic to the sender itself, or nowhere. (This unit's own address
/// comes from Juju's `network-get`, and is taken as it is.)
pub fn parse_routable_ip(value: &str) -> Option<IpAddr> {
    let ip = parse_ip(value)?;
    let unroutable = ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_multicast()
        || match ip {
            IpAddr::V4(v4) => v4.is_link_local() || v4.is_broadcast(),
            IpAddr::V6(v6) => (v6.segments()[0] & 0xffc0) == 0xfe80,
        };
    (!unroutable).then_some(ip)
}

/// `host:port`: a DNS name or an address (v6 bracketed), and a port, both
/// given (a bare IPv6 address is no host and port).
pub fn is_host_port(text: &str) -> bool {
    let (host, port) = match text.strip_prefix('[') {
        Some(rest) => match rest.split_once("]:") {
            Some((host, port)) if host.parse::<std::net::Ipv6Addr>().is_ok() => (host, port),
            _ => return false,
        },
        None => match text.rsplit_once(':') {
            Some((host, port)) if !host.contains(':') => (host, port),
            _ => return false,
        },
    };
    is_host(host) && port.parse::<u16>().is_ok_and(|p| p > 0)
}

/// A DNS name (RFC 1123): dot-separated labels of letters, digits and inner
/// hyphens, each at most 63 characters, 253 in all, and not all numeric
/// (`2130706433` or `10.1.2` would be read as an address by resolvers).
pub fn is_dns_name(host: &str) -> bool {
    host.len() <= 253
        && !host.split('.').all(|label| label.chars().all(|c| c.is_ascii_digit()))
        && host.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        })
}

/// A host from relation data: an IP address or a DNS name, nothing around it.
pub fn is_host(value: &str) -> bool {
    value.parse::<std::net::IpAddr>().is_ok() || is_dns_name(value)
}

/// A credential from relation data, fit for service.conf and argv: one word.
pub fn is_token(value: &str) -> bool {
    !value.is_empty() && !value.contains(|c: char| c.is_whitespace() || c.is_control())
}

/// A Juju secret URI: `secret:<id>` or `secret://<model uuid>/<id>`, the id
/// 20 characters of Juju's base32 alphabet (`0-9`, `a-v`).
pub fn is_secret_uri(value: &str) -> bool {
    let Some(rest) = value.strip_prefix("secret:") else { return false };
    let id = match rest.strip_prefix("//") {
        Some(path) => match path.split_once('/') {
            Some((model, id)) if !model.is_empty() && model.chars().all(|c| c.is_ascii_hexdigit() || c == '-') => id,
            _ => return false,
        },
        None => rest,
    };
    id.len() == 20 && id.chars().all(|c| c.is_ascii_digit() || ('a'..='v').contains(&c))
}

/// How a file the operator may have edited was encoded, so that an edit
/// gives back every byte the charm does not own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileEncoding {
    Utf8,
    /// Not UTF-8: each byte is read as the character of the same number (ISO
    /// 8859-1) and written back as that byte.
    Latin1,
}

/// `bytes` as text, and how to write it back unchanged.
pub fn decode_file(bytes: &[u8]) -> (String, FileEncoding) {
    match std::str::from_utf8(bytes) {
        Ok(text) => (text.to_string(), FileEncoding::Utf8),
        Err(_) => (bytes.iter().map(|b| char::from(*b)).collect(), FileEncoding::Latin1),
    }
}

/// `text` in `encoding`. In a Latin-1 file a character past U+00FF (only
/// in a value the charm writes) goes in as its UTF-8 bytes.
pub fn encode_file(text: &str, encoding: FileEncoding) -> Vec<u8> {
    match encoding {
        FileEncoding::Utf8 => text.as_bytes().to_vec(),
        FileEncoding::Latin1 => {
            let mut out = Vec::with_capacity(text.len());
            for c in text.chars() {
                match u8::try_from(u32::from(c)) {
                    Ok(byte) => out.push(byte),
                    Err(_) => out.extend_from_slice(c.encode_utf8(&mut [0; 4]).as_bytes()),
                }
            }
            out
        }
    }
}

/// The line ending `text` uses (CRLF when its first line break is one).
pub fn line_ending(text: &str) -> &'static str {
    match text.find('\n') {
        Some(i) if i > 0 && text.as_bytes()[i - 1] == b'\r' => "\r\n",
        _ => "\n",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_and_port_are_both_given() {
        assert!(is_host_port("landscape.example.com:50053") && is_host_port("10.1.1.9:50051"));
        assert!(is_host_port("[fd00::53]:50051"));
        for bad in ["10.1.1.9", "x y:1", "h:0", "fd00::53", "[fd00::53]", "[fd00::53]:", "[x]:1", "fd00::53:50051"] {
            assert!(!is_host_port(bad), "{bad}");
        }
    }

    #[test]
    fn credentials_in_urls_are_masked() {
        assert_eq!(mask_userinfo("https://user:pw@example.com/l.txt"), "https://<redacted>@example.com/l.txt");
        assert_eq!(mask_userinfo("http://proxy:3128"), "http://proxy:3128");
        assert_eq!(mask_userinfo("https://example.com/a@b"), "https://example.com/a@b");
        assert_eq!(mask_userinfo("not a url"), "not a url");
        assert_eq!(
            mask_userinfo_in(r#"["https://admin:secret@x.example/", "http://y/a@b", "https://u@z"]"#),
            r#"["https://<redacted>@x.example/", "http://y/a@b", "https://<redacted>@z"]"#
        );
    }

    #[test]
    fn values_are_quoted_escaped_and_cut() {
        assert_eq!(quoted("10.0.0.1"), "\"10.0.0.1\"");
        assert_eq!(quoted("a\nb\u{1b}[31m"), "\"a\\nb\\u{1b}[31m\"");
        let long = "x".repeat(200_000);
        let shown = quoted(&long);
        assert!(shown.len() < 120 && shown.ends_with("… (200000 characters)"), "{shown}");
    }

    #[test]
    fn messages_are_one_bounded_line() {
        assert_eq!(one_line("first\nforged: line"), "first\\nforged: line");
        assert_eq!(one_line(&"é".repeat(5000)).chars().count(), MAX_MESSAGE_CHARS + 1);
    }
}
