//! `root_url` and `redirect_https`: where clients reach Landscape, and
//! which plain-HTTP requests are sent to HTTPS.

use super::Reader;

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum RedirectHttps {
    All,
    Default,
    None,
}

/// A parsed `root_url`: scheme, host (a DNS name or an IP) and the rest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RootUrl {
    pub url: String,
    pub host: UrlHost,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UrlHost {
    Name(String),
    Ip(std::net::IpAddr),
}

impl RootUrl {
    /// Accepts `http(s)://host[:port][/path]` where host is a DNS name, an
    /// IPv4 address or a bracketed IPv6 address.
    pub fn parse(text: &str) -> Result<Self, String> {
        let rest = text
            .strip_prefix("https://")
            .or_else(|| text.strip_prefix("http://"))
            .ok_or("must start with https:// or http://")?;
        if text.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err("must not contain spaces or control characters".into());
        }
        let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
        if authority.contains('@') {
            return Err("must not contain user information".into());
        }
        let host = if let Some(v6) = authority.strip_prefix('[') {
            let (addr, after) = v6.split_once(']').ok_or("has an unclosed [ in its host")?;
            check_port(after)?;
            UrlHost::Ip(addr.parse::<std::net::Ipv6Addr>().map_err(|_| "has an invalid IPv6 host")?.into())
        } else {
            let (host, port) = match authority.split_once(':') {
                Some((h, p)) => (h, format!(":{p}")),
                None => (authority, String::new()),
            };
            check_port(&port)?;
            if host.is_empty() {
                return Err("has no host".into());
            }
            match host.parse::<std::net::Ipv4Addr>() {
                Ok(ip) => UrlHost::Ip(ip.into()),
                Err(_) if crate::text::is_dns_name(host) => UrlHost::Name(host.to_ascii_lowercase()),
                Err(_) => return Err(format!("has an invalid host {}", crate::text::quoted(host))),
            }
        };
        Ok(Self { url: text.to_string(), host })
    }

    /// The DNS name, if the host is one.
    pub fn hostname(&self) -> Option<&str> {
        match &self.host {
            UrlHost::Name(name) => Some(name),
            UrlHost::Ip(_) => None,
        }
    }
}

fn check_port(suffix: &str) -> Result<(), String> {
    match suffix.strip_prefix(':') {
        None if suffix.is_empty() => Ok(()),
        Some(port) if port.parse::<u16>().is_ok_and(|p| p > 0) => Ok(()),
        _ => Err("has an invalid port".into()),
    }
}

pub(super) fn parse_redirect(r: &mut Reader<'_>) -> RedirectHttps {
    match r.string("redirect_https").as_deref() {
        None | Some("default") => RedirectHttps::Default,
        Some("all") => RedirectHttps::All,
        Some("none") => RedirectHttps::None,
        Some(other) => {
            r.problem("redirect_https", format!("must be all, default or none (got {})", crate::text::quoted(other)));
            RedirectHttps::Default
        }
    }
}
