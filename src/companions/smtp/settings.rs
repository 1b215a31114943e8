//! What the `smtp` relation's provider (smtp-integrator) says, parsed and
//! checked field by field. The provider's application bag holds plain
//! strings (the smtp_integrator library's `SmtpRelationData`); the password
//! is either `password` or a Juju secret named by `password_id` (content key
//! `password`).

use crate::juju::Databag;
use crate::text::quoted;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthType {
    None,
    NotProvided,
    Plain,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransportSecurity {
    None,
    StartTls,
    /// Implicit TLS (port 465 as a rule): postfix's wrapper mode.
    Tls,
}

/// A relay as the provider gives it.
#[derive(Clone, PartialEq, Eq)]
pub struct SmtpSettings {
    pub host: String,
    pub port: u16,
    pub auth: AuthType,
    pub security: TransportSecurity,
    pub skip_ssl_verify: bool,
    pub user: Option<String>,
    pub password: Option<String>,
}

/// Never the password, whatever prints it.
impl std::fmt::Debug for SmtpSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmtpSettings")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("auth", &self.auth)
            .field("security", &self.security)
            .field("skip_ssl_verify", &self.skip_ssl_verify)
            .field("user", &self.user)
            .field("password", &self.password.as_ref().map(|_| "(redacted)"))
            .finish()
    }
}

impl SmtpSettings {
    /// `[host]:port`, as postfix's `relayhost` and `sasl_passwd` name it
    /// (brackets: no MX lookup).
    pub fn relay(&self) -> String {
        format!("[{}]:{}", self.host, self.port)
    }

    /// SASL is used when the provider asks for it and gives both halves.
    pub fn sasl_credentials(&self) -> Option<(&str, &str)> {
        match (self.auth, &self.user, &self.password) {
            (AuthType::Plain, Some(user), Some(password)) => Some((user, password)),
            _ => None,
        }
    }
}

/// The provider's bag, with the password already read from its secret when
/// it names one (`secret_password`). Errors name the field and quote the
/// value (cut short); a password is never quoted.
pub fn parse(bag: &Databag, secret_password: Option<String>) -> Result<Option<SmtpSettings>, String> {
    let Some(host) = bag.get("host") else { return Ok(None) };
    let given = host.trim();
    // One pair of brackets (postfix's "no MX lookup") is taken off; the
    // relay is always written with them.
    let host = match given.strip_prefix('[').map(|rest| rest.strip_suffix(']')) {
        Some(Some(inner)) => inner,
        Some(None) => given,
        None => given,
    };
    if !crate::text::is_host(host) {
        return Err(format!("host is not a host name or address: {}", quoted(given)));
    }
    let field = |name: &str| bag.get(name).map(|v| v.trim()).filter(|v| !v.is_empty());
    let port = match field("port") {
        None => return Err("port is missing".into()),
        Some(p) => {
            p.parse::<u16>().ok().filter(|p| *p > 0).ok_or_else(|| format!("port is not 1 to 65535: {}", quoted(p)))?
        }
    };
    let auth = match field("auth_type").unwrap_or("none") {
        "none" => AuthType::None,
        "not_provided" => AuthType::NotProvided,
        "plain" => AuthType::Plain,
        other => return Err(format!("auth_type is not none, not_provided or plain: {}", quoted(other))),
    };
    let security = match field("transport_security").unwrap_or("none") {
        "none" => TransportSecurity::None,
        "starttls" => TransportSecurity::StartTls,
        "tls" => TransportSecurity::Tls,
        other => return Err(format!("transport_security is not none, starttls or tls: {}", quoted(other))),
    };
    let skip_ssl_verify = match field("skip_ssl_verify").unwrap_or("False") {
        "True" | "true" => true,
        "False" | "false" => false,
        other => return Err(format!("skip_ssl_verify is not True or False: {}", quoted(other))),
    };
    let user = field("user").map(str::to_string);
    let password = secret_password.or_else(|| field("password").map(str::to_string));
    check_credentials(user.as_deref(), password.as_deref())?;
    Ok(Some(SmtpSettings { host: host.to_string(), port, auth, security, skip_ssl_verify, user, password }))
}

/// Both go on one line of sasl_passwd, "relay user:password".
fn check_credentials(user: Option<&str>, password: Option<&str>) -> Result<(), String> {
    for (name, value) in [("user", user), ("password", password)] {
        if value.is_some_and(|v| v.chars().any(|c| c.is_whitespace() || c.is_control())) {
            return Err(format!("{name} has whitespace or a control character"));
        }
    }
    match user {
        Some(u) if u.contains(':') => {
            Err(format!("user has a ':' (postfix splits user:password there): {}", quoted(u)))
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bag(entries: &[(&str, &str)]) -> Databag {
        entries.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn the_librarys_fields() {
        let settings = parse(
            &bag(&[
                ("host", "smtp.example.com"),
                ("port", "587"),
                ("auth_type", "plain"),
                ("transport_security", "starttls"),
                ("skip_ssl_verify", "False"),
                ("user", "landscape"),
                ("password", "pw"),
            ]),
            None,
        )
        .unwrap()
        .unwrap();
        assert_eq!(settings.relay(), "[smtp.example.com]:587");
        assert_eq!(settings.sasl_credentials(), Some(("landscape", "pw")));
        assert!(!format!("{settings:?}").contains("\"pw\""));
        let secret = parse(
            &bag(&[("host", "10.0.0.9"), ("port", "25"), ("auth_type", "plain"), ("user", "u")]),
            Some("s".into()),
        );
        assert_eq!(secret.unwrap().unwrap().sasl_credentials(), Some(("u", "s")));
        assert_eq!(parse(&bag(&[]), None), Ok(None), "nothing yet");
        let bracketed = parse(&bag(&[("host", "[smtp.example.com]"), ("port", "25")]), None).unwrap().unwrap();
        assert_eq!(bracketed.relay(), "[smtp.example.com]:25", "one pair of brackets, not two");
    }

    #[test]
    fn refusals_name_the_field() {
        for (entries, says) in [
            (vec![("host", "smtp example"), ("port", "25")], "host"),
            (vec![("host", "[[smtp.example.com]]"), ("port", "25")], "host"),
            (vec![("host", "[smtp.example.com"), ("port", "25")], "host"),
            (vec![("host", "smtp.example"), ("port", "70000")], "port"),
            (vec![("host", "smtp.example")], "port is missing"),
            (vec![("host", "smtp.example"), ("port", "25"), ("auth_type", "login")], "auth_type"),
            (vec![("host", "smtp.example"), ("port", "25"), ("transport_security", "ssl")], "transport_security"),
            (vec![("host", "smtp.example"), ("port", "25"), ("skip_ssl_verify", "maybe")], "skip_ssl_verify"),
            (vec![("host", "smtp.example"), ("port", "25"), ("user", "a:b")], "user"),
            (vec![("host", "smtp.example"), ("port", "25"), ("password", "p w\nrelayhost = evil")], "password"),
        ] {
            let error = parse(&bag(&entries), None).unwrap_err();
            assert!(error.starts_with(says), "{entries:?}: {error}");
            assert!(!error.contains("evil"), "a password is never quoted: {error}");
        }
    }
}
