//! The charm's configuration, parsed from `config-get --format=json --all` into
//! typed values. Every problem names its option; all problems are reported at
//! once so an operator fixes them in one go.

pub mod deployment_mode;
pub mod haproxy_limits;
pub mod legacy_certificate;
pub mod networks;
pub mod ports;

pub use deployment_mode::DeploymentMode;
pub use haproxy_limits::HaproxyLimits;
pub use legacy_certificate::LegacyCertificate;
pub use networks::Network;
pub use ports::{LandscapeService, ServicePorts};

use std::fmt;

use serde_json::{Map, Value};

use crate::ini::IniDocument;

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

#[derive(Debug, Clone, PartialEq)]
pub struct CharmConfig {
    pub worker_counts: u16,
    pub redirect_https: RedirectHttps,
    pub enable_hostagent_messenger: bool,
    pub enable_ubuntu_installer_attach: bool,
    pub max_global_haproxy_connections: u32,
    pub haproxy_limits: HaproxyLimits,
    /// HAProxy's Prometheus exporter, on the unit's own address.
    pub haproxy_metrics_port: u16,
    /// Load balancers whose `X-Forwarded-*` headers are passed on; from
    /// anyone else the unit's HAProxy replaces them.
    pub haproxy_trusted_proxies: Vec<Network>,
    /// The debarchive service's port on the debarchive units (its snap's
    /// `deb.archive.server.gateway-port`; the relation does not say it).
    pub debarchive_gateway_port: u16,
    pub root_url: Option<RootUrl>,
    pub ports: ServicePorts,
    pub landscape: LandscapeConfig,
    /// `ssl_cert`/`ssl_key`, for the `website` bridge only.
    pub legacy_certificate: LegacyCertificate,
    /// Every option as Juju gave it, for the parts not typed yet.
    pub raw: Map<String, Value>,
}

/// How users log in through an external identity provider.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Identity {
    Builtin,
    OpenId { provider_url: String, logout_url: String },
    Oidc { issuer: String, client_id: String, client_secret: String, logout_url: Option<String> },
}

/// Database settings that take priority over what the relation says.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DbOverrides {
    pub host: Option<String>,
    pub port: Option<u16>,
    pub landscape_password: Option<String>,
    pub schema_user: Option<String>,
    pub schema_password: Option<String>,
}

/// HTTP proxies the operator set for Landscape's downloads.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProxyConfig {
    pub http: Option<String>,
    pub https: Option<String>,
    pub no_proxy: Option<String>,
}

/// Options the Landscape 26.04 charm added.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Release2604Options {
    /// The `landscape-outbox` snap's channel (`latest/stable`).
    pub outbox_snap_channel: String,
    /// `LANDSCAPE_SYSTEM__ANALYTICS_ID` for the appserver (a drop-in).
    pub analytics_id: Option<String>,
    /// Extra `landscape-schema --bootstrap` arguments, one per comma.
    pub bootstrap_schema_override_args: Vec<String>,
    /// Accepted so that a refresh keeps them; see docs/reference.md for what
    /// this charm does with them (nothing yet, and the status says so).
    pub demo_data: bool,
    pub gpg_secret_id: Option<String>,
}

/// The options that shape the Landscape workload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LandscapeConfig {
    /// `landscape_ppa` as given: one APT source or several, comma-separated
    /// (see [`split_sources`]).
    pub ppa: String,
    pub ppa_key: Option<String>,
    pub min_install: bool,
    pub release_2604: Release2604Options,
    pub proxies: ProxyConfig,
    pub identity: Identity,
    pub db: DbOverrides,
    pub deployment_mode: DeploymentMode,
    pub additional_service_config: Option<IniDocument>,
    pub secret_token: Option<String>,
    pub cookie_encryption_key: Option<String>,
    pub license: Option<LicenseSource>,
    pub admin: Option<AdminAccount>,
    pub autoregistration: bool,
    pub smtp_relay_host: Option<String>,
    pub site_name: String,
    /// A Prometheus duration such as `1m`.
    pub prometheus_scrape_interval: String,
}

/// Where the Landscape license comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LicenseSource {
    Inline(Vec<u8>),
    /// `file://`, `http://` or `https://`.
    Url(String),
}

/// The first administrator, created once on the leader.
#[derive(Clone, PartialEq, Eq)]
pub struct AdminAccount {
    pub email: String,
    pub name: String,
    pub password: String,
    pub registration_key: Option<String>,
    pub system_email: Option<String>,
}

// Never print the password or the registration key.
impl fmt::Debug for AdminAccount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AdminAccount").field("email", &self.email).field("name", &self.name).finish_non_exhaustive()
    }
}

pub const MAX_WORKERS: u16 = 64;
pub const DEFAULT_LANDSCAPE_PPA: &str = "ppa:landscape/self-hosted-beta";

/// One invalid option.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigProblem {
    pub option: String,
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ConfigError {
    pub problems: Vec<ConfigProblem>,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<String> = self.problems.iter().map(|p| format!("{} {}", p.option, p.reason)).collect();
        write!(f, "invalid config: {}", parts.join("; "))
    }
}

/// Invalid config blocks the unit naming every bad option; nothing else changes.
impl crate::status::Explain for ConfigError {
    fn status(&self) -> Option<crate::status::Status> {
        let problems: Vec<String> = self.problems.iter().map(|p| format!("{} {}", p.option, p.reason)).collect();
        Some(crate::status::Status::blocked(format!("Invalid config: {}", problems.join("; "))))
    }
}

struct Reader<'a> {
    raw: &'a Map<String, Value>,
    problems: Vec<ConfigProblem>,
}

impl Reader<'_> {
    fn problem(&mut self, option: &str, reason: impl Into<String>) {
        self.problems.push(ConfigProblem { option: option.into(), reason: reason.into() });
    }

    fn int(&mut self, option: &str, default: i64, range: std::ops::RangeInclusive<i64>) -> i64 {
        match self.raw.get(option) {
            None | Some(Value::Null) => default,
            Some(Value::Number(n)) if n.as_i64().is_some_and(|v| range.contains(&v)) => n.as_i64().unwrap_or(default),
            Some(other) => {
                self.problem(option, format!("must be between {} and {} (got {other})", range.start(), range.end()));
                default
            }
        }
    }

    fn bool(&mut self, option: &str) -> bool {
        match self.raw.get(option) {
            None | Some(Value::Null) => false,
            Some(Value::Bool(b)) => *b,
            Some(other) => {
                self.problem(option, format!("must be true or false (got {other})"));
                false
            }
        }
    }

    /// A string option; empty counts as unset.
    fn string(&mut self, option: &str) -> Option<String> {
        match self.raw.get(option) {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) if s.trim().is_empty() => None,
            Some(Value::String(s)) => Some(s.trim().to_string()),
            Some(other) => {
                self.problem(option, format!("must be a string (got {other})"));
                None
            }
        }
    }

    fn port(&mut self, option: &str, default: u16) -> u16 {
        self.int(option, i64::from(default), 1..=65535) as u16
    }

    /// A port option that also answers to an older name: the new name, else
    /// the old, else `default`. Both set to different values is refused,
    /// naming both (neither can be guessed to be the one meant).
    fn port_or_alias(&mut self, option: &str, alias: Option<&str>, default: u16) -> u16 {
        let is_set = |name: &str| self.raw.get(name).is_some_and(|v| !v.is_null());
        let Some(alias) = alias.filter(|a| is_set(a)) else { return self.port(option, default) };
        if !is_set(option) {
            return self.port(alias, default);
        }
        let (new, old) = (self.port(option, default), self.port(alias, default));
        if new != old {
            self.problem(option, format!("and {alias} (its older name) differ ({new} and {old}): set only one"));
        }
        new
    }
}

impl CharmConfig {
    pub fn parse(raw: Map<String, Value>) -> Result<Self, ConfigError> {
        let mut r = Reader { raw: &raw, problems: vec![] };
        let worker_counts = r.int("worker_counts", 2, 1..=i64::from(MAX_WORKERS)) as u16;
        let redirect_https = parse_redirect(&mut r);
        let enable_hostagent_messenger = r.bool("enable_hostagent_messenger");
        let enable_ubuntu_installer_attach = r.bool("enable_ubuntu_installer_attach");
        let max_global_haproxy_connections =
            r.int("max_global_haproxy_connections", 4096, 1..=i64::from(i32::MAX)) as u32;
        let haproxy_limits = haproxy_limits::parse(&mut r);
        let haproxy_metrics_port = r.port("haproxy_metrics_port", 8404);
        let haproxy_trusted_proxies = parse_trusted_proxies(&mut r);
        let debarchive_gateway_port = r.port("debarchive_gateway_port", 8100);
        let root_url = match r.string("root_url") {
            None => None,
            Some(text) => match RootUrl::parse(&text) {
                Ok(url) => Some(url),
                Err(reason) => {
                    r.problem("root_url", reason);
                    None
                }
            },
        };
        let ports = ports::SERVICES.iter().fold(ServicePorts::default(), |ports, spec| {
            ports.with(spec.service, r.port_or_alias(spec.option, spec.alias, spec.default_base))
        });
        check_port_ranges(&mut r, &ports, worker_counts);
        check_metrics_port(&mut r, haproxy_metrics_port, &ports, worker_counts);
        let landscape = parse_landscape(&mut r);
        let legacy_certificate = legacy_certificate::parse(&mut r);
        let problems = r.problems;
        if problems.is_empty() {
            Ok(Self {
                worker_counts,
                redirect_https,
                enable_hostagent_messenger,
                enable_ubuntu_installer_attach,
                max_global_haproxy_connections,
                haproxy_limits,
                haproxy_metrics_port,
                haproxy_trusted_proxies,
                debarchive_gateway_port,
                root_url,
                ports,
                landscape,
                legacy_certificate,
                raw,
            })
        } else {
            Err(ConfigError { problems })
        }
    }
}

fn parse_redirect(r: &mut Reader<'_>) -> RedirectHttps {
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

fn parse_trusted_proxies(r: &mut Reader<'_>) -> Vec<Network> {
    let Some(text) = r.string("haproxy_trusted_proxies") else { return vec![] };
    Network::parse_list(&text).unwrap_or_else(|reason| {
        r.problem("haproxy_trusted_proxies", reason);
        vec![]
    })
}

/// A value that goes into service.conf or a command line as one token:
/// no line breaks, and (for `no_spaces`) no whitespace at all.
fn one_line(r: &mut Reader<'_>, option: &str, no_spaces: bool) -> Option<String> {
    let value = r.string(option)?;
    if value.contains(['\n', '\r', '\0']) || (no_spaces && value.contains(char::is_whitespace)) {
        let what = if no_spaces { "must be a single word" } else { "must be a single line" };
        // The value itself is not echoed: it may be a password.
        r.problem(option, what);
        return None;
    }
    Some(value)
}

fn url(r: &mut Reader<'_>, option: &str) -> Option<String> {
    let value = one_line(r, option, true)?;
    if !(value.starts_with("https://") || value.starts_with("http://")) {
        r.problem(option, "must be an http:// or https:// URL");
        return None;
    }
    Some(value)
}

fn parse_landscape(r: &mut Reader<'_>) -> LandscapeConfig {
    let (ppa, ppa_key) = parse_ppa(r);
    let min_install = r.bool("min_install");
    let proxies = ProxyConfig {
        http: one_line(r, "http_proxy", true),
        https: one_line(r, "https_proxy", true),
        no_proxy: one_line(r, "no_proxy", true),
    };
    let identity = parse_identity(r);
    let db = parse_db_overrides(r);
    let deployment_mode = parse_deployment_mode(r);
    if min_install && !deployment_mode.is_standalone() {
        let mode = crate::text::quoted(deployment_mode.as_str());
        r.problem(
            "min_install",
            format!("needs deployment_mode standalone (got {mode}): other modes need the full install"),
        );
    }
    let release_2604 = parse_release_2604(r);
    let additional_service_config = r.string("additional_service_config").and_then(|text| {
        IniDocument::parse(&text)
            .map_err(|e| r.problem("additional_service_config", format!("is not valid INI: {e}")))
            .ok()
    });
    let license = r.string("license_file").and_then(|text| parse_license(r, &text));
    let admin = parse_admin(r);
    let autoregistration = r.bool("autoregistration");
    let smtp_relay_host = one_line(r, "smtp_relay_host", true);
    let site_name = one_line(r, "site_name", false).unwrap_or_else(|| "juju".into());
    let prometheus_scrape_interval = parse_scrape_interval(r);
    LandscapeConfig {
        license,
        admin,
        autoregistration,
        smtp_relay_host,
        site_name,
        prometheus_scrape_interval,
        ppa,
        ppa_key,
        min_install,
        release_2604,
        proxies,
        identity,
        db,
        deployment_mode,
        additional_service_config,
        secret_token: one_line(r, "secret_token", true),
        cookie_encryption_key: one_line(r, "cookie_encryption_key", true),
    }
}

/// `landscape_ppa` (the default when unset) and its optional key.
fn parse_release_2604(r: &mut Reader<'_>) -> Release2604Options {
    let outbox_snap_channel = one_line(r, "outbox_snap_channel", true).unwrap_or_else(|| "latest/stable".into());
    if !is_snap_channel(&outbox_snap_channel) {
        let problem = format!(
            "must be a snap channel, [track/]risk[/branch] (got {})",
            crate::text::quoted(&outbox_snap_channel)
        );
        r.problem("outbox_snap_channel", problem);
    }
    let analytics_id = one_line(r, "analytics_id", true);
    let bootstrap_schema_override_args = one_line(r, "bootstrap_schema_override_args", false)
        .map(|text| text.split(',').map(str::trim).filter(|a| !a.is_empty()).map(String::from).collect())
        .unwrap_or_default();
    let gpg_secret_id = one_line(r, "gpg_secret_id", true);
    if let Some(id) = &gpg_secret_id {
        if !crate::text::is_secret_uri(id) {
            r.problem("gpg_secret_id", format!("must be a Juju secret URI (got {})", crate::text::quoted(id)));
        }
    }
    Release2604Options {
        outbox_snap_channel,
        analytics_id,
        bootstrap_schema_override_args,
        demo_data: r.bool("demo_data"),
        gpg_secret_id,
    }
}

/// `latest/stable`, `stable`, `1.2/edge/fix-1`: a track, a risk, a branch.
fn is_snap_channel(text: &str) -> bool {
    const RISKS: [&str; 4] = ["stable", "candidate", "beta", "edge"];
    let parts: Vec<&str> = text.split('/').collect();
    let word = |p: &str| !p.is_empty() && p.chars().all(|c| c.is_ascii_alphanumeric() || "._-".contains(c));
    match parts.as_slice() {
        [risk] => RISKS.contains(risk),
        [first, second] => (word(first) && RISKS.contains(second)) || (RISKS.contains(first) && word(second)),
        [track, risk, branch] => word(track) && RISKS.contains(risk) && word(branch),
        _ => false,
    }
}

/// The APT sources of a `landscape_ppa` value: split at commas, as the 26.04
/// charm does, but not inside `[...]`, where a source line's own options
/// (`deb [arch=amd64,arm64] ...`) have theirs.
pub fn split_sources(text: &str) -> Vec<String> {
    let (mut sources, mut current, mut depth) = (vec![], String::new(), 0usize);
    for c in text.chars() {
        match c {
            '[' => depth += 1,
            ']' => depth = depth.saturating_sub(1),
            ',' if depth == 0 => {
                sources.push(std::mem::take(&mut current));
                continue;
            }
            _ => {}
        }
        current.push(c);
    }
    sources.push(current);
    sources.into_iter().map(|s| s.trim().to_string()).filter(|s| !s.is_empty()).collect()
}

fn parse_ppa(r: &mut Reader<'_>) -> (String, Option<String>) {
    let ppa = match r.raw.get("landscape_ppa") {
        None | Some(Value::Null) => DEFAULT_LANDSCAPE_PPA.to_string(),
        Some(_) => one_line(r, "landscape_ppa", false).unwrap_or_else(|| {
            if !r.problems.iter().any(|p| p.option == "landscape_ppa") {
                r.problem("landscape_ppa", "must name a PPA (ppa:owner/name) or an APT source line");
            }
            String::new()
        }),
    };
    if !ppa.is_empty() && split_sources(&ppa).is_empty() {
        r.problem("landscape_ppa", "must name at least one PPA or APT source line");
    }
    let ppa_key = r.string("landscape_ppa_key");
    if let Some(key) = &ppa_key {
        if !(key.starts_with("-----BEGIN PGP PUBLIC KEY BLOCK-----")
            && key.ends_with("-----END PGP PUBLIC KEY BLOCK-----"))
        {
            r.problem("landscape_ppa_key", "must be an ASCII-armoured PGP public key block");
        }
    }
    (ppa, ppa_key)
}

/// The `db_*` options, which take priority over the relation's values.
fn parse_db_overrides(r: &mut Reader<'_>) -> DbOverrides {
    DbOverrides {
        host: one_line(r, "db_host", true),
        port: one_line(r, "db_port", true).and_then(|p| match p.parse::<u16>() {
            Ok(port) if port > 0 => Some(port),
            _ => {
                r.problem("db_port", format!("must be a port number (got {})", crate::text::quoted(&p)));
                None
            }
        }),
        landscape_password: one_line(r, "db_landscape_password", true),
        schema_user: one_line(r, "db_schema_user", true),
        schema_password: one_line(r, "db_schema_password", true),
    }
}

/// `deployment_mode`: it names a directory under /opt/canonical/landscape/configs.
fn parse_deployment_mode(r: &mut Reader<'_>) -> DeploymentMode {
    let Some(text) = r.string("deployment_mode") else { return DeploymentMode::standalone() };
    DeploymentMode::parse(&text).unwrap_or_else(|reason| {
        r.problem("deployment_mode", reason);
        DeploymentMode::standalone()
    })
}

/// `prometheus_scrape_interval`, a Prometheus duration.
fn parse_scrape_interval(r: &mut Reader<'_>) -> String {
    let interval = r.string("prometheus_scrape_interval").unwrap_or_else(|| "1m".into());
    if !is_prometheus_duration(&interval) {
        let reason = format!("must be a duration like 30s or 1m (got {})", crate::text::quoted(&interval));
        r.problem("prometheus_scrape_interval", reason);
    }
    interval
}

fn is_prometheus_duration(text: &str) -> bool {
    let digits = text.trim_end_matches(|c: char| "smhdwy".contains(c));
    let unit = &text[digits.len()..];
    !digits.is_empty()
        && digits.chars().all(|c| c.is_ascii_digit())
        && ["s", "m", "h", "d", "w", "y", "ms"].contains(&unit)
}

/// A URL (fetched when applied) or the license itself in base64.
fn parse_license(r: &mut Reader<'_>, text: &str) -> Option<LicenseSource> {
    if ["file://", "http://", "https://"].iter().any(|p| text.starts_with(p)) {
        if text.contains(char::is_whitespace) {
            r.problem("license_file", "must be a single URL");
            return None;
        }
        return Some(LicenseSource::Url(text.to_string()));
    }
    use base64::Engine;
    let compact: String = text.chars().filter(|c| !c.is_whitespace()).collect();
    match base64::engine::general_purpose::STANDARD.decode(compact) {
        Ok(bytes) if !bytes.is_empty() => Some(LicenseSource::Inline(bytes)),
        _ => {
            r.problem("license_file", "must be a file://, http:// or https:// URL, or the license in base64");
            None
        }
    }
}

/// All of email, name and password, or none of them.
fn parse_admin(r: &mut Reader<'_>) -> Option<AdminAccount> {
    let email = one_line(r, "admin_email", true);
    let name = one_line(r, "admin_name", false);
    let password = one_line(r, "admin_password", true);
    let registration_key = one_line(r, "registration_key", true);
    let system_email = one_line(r, "system_email", true);
    match (email, name, password) {
        (Some(email), Some(name), Some(password)) => {
            Some(AdminAccount { email, name, password, registration_key, system_email })
        }
        (None, None, None) => None,
        (email, name, password) => {
            for (option, missing) in [
                ("admin_email", email.is_none()),
                ("admin_name", name.is_none()),
                ("admin_password", password.is_none()),
            ] {
                if missing {
                    r.problem(option, "is required to bootstrap the first account (admin_email, admin_name and admin_password go together)");
                }
            }
            None
        }
    }
}

/// OpenID and OIDC exclude each other; each needs all of its parts.
fn parse_identity(r: &mut Reader<'_>) -> Identity {
    let provider_url = url(r, "openid_provider_url");
    let openid_logout = url(r, "openid_logout_url");
    let issuer = url(r, "oidc_issuer");
    let client_id = one_line(r, "oidc_client_id", true);
    let client_secret = one_line(r, "oidc_client_secret", true);
    let oidc_logout = url(r, "oidc_logout_url");
    let openid_any = provider_url.is_some() || openid_logout.is_some();
    let oidc_any = issuer.is_some() || client_id.is_some() || client_secret.is_some() || oidc_logout.is_some();
    if openid_any && oidc_any {
        r.problem("openid_provider_url", "and the oidc_* options cannot both be set: choose OpenID or OIDC");
        return Identity::Builtin;
    }
    if openid_any {
        return match (provider_url, openid_logout) {
            (Some(provider_url), Some(logout_url)) => Identity::OpenId { provider_url, logout_url },
            (None, _) => {
                r.problem("openid_provider_url", "is required when openid_logout_url is set");
                Identity::Builtin
            }
            (_, None) => {
                r.problem("openid_logout_url", "is required when openid_provider_url is set");
                Identity::Builtin
            }
        };
    }
    if oidc_any {
        let missing: Vec<&str> = [
            ("oidc_issuer", issuer.is_none()),
            ("oidc_client_id", client_id.is_none()),
            ("oidc_client_secret", client_secret.is_none()),
        ]
        .iter()
        .filter(|(_, missing)| *missing)
        .map(|(name, _)| *name)
        .collect();
        if let (Some(issuer), Some(client_id), Some(client_secret)) = (issuer, client_id, client_secret) {
            return Identity::Oidc { issuer, client_id, client_secret, logout_url: oidc_logout };
        }
        for option in missing {
            r.problem(option, "is required for OIDC (oidc_issuer, oidc_client_id and oidc_client_secret go together)");
        }
    }
    Identity::Builtin
}

/// Each multi-worker service takes `worker_counts` consecutive ports; no two
/// services may share one, and no range may run past 65535.
fn check_port_ranges(r: &mut Reader<'_>, ports: &ServicePorts, workers: u16) {
    let ranges = ports.ranges(workers);
    for (spec, base, count) in &ranges {
        if u32::from(*base) + u32::from(*count) - 1 > 65535 {
            r.problem(spec.option, format!("leaves no room for {count} workers below port 65536"));
        }
    }
    for (i, (a, a_base, a_count)) in ranges.iter().enumerate() {
        for (b, b_base, b_count) in &ranges[i + 1..] {
            let (a_end, b_end) = (u32::from(*a_base) + u32::from(*a_count), u32::from(*b_base) + u32::from(*b_count));
            if u32::from(*a_base) < b_end && u32::from(*b_base) < a_end {
                let message =
                    format!("overlaps {} (ports {a_base}..{} and {b_base}..{})", b.option, a_end - 1, b_end - 1);
                r.problem(a.option, message);
            }
        }
    }
}

/// The exporter's port must be free: not a frontend's, not a service's.
fn check_metrics_port(r: &mut Reader<'_>, port: u16, ports: &ServicePorts, workers: u16) {
    if [80, 443, ports::HOSTAGENT_MESSENGER_FRONTEND, ports::UBUNTU_INSTALLER_ATTACH_FRONTEND].contains(&port) {
        r.problem("haproxy_metrics_port", format!("is a frontend's port ({port})"));
    }
    for (spec, base, count) in ports.ranges(workers) {
        if (base..base.saturating_add(count)).contains(&port) {
            r.problem("haproxy_metrics_port", format!("overlaps {} (port {port})", spec.option));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(value: Value) -> Result<CharmConfig, ConfigError> {
        CharmConfig::parse(value.as_object().unwrap().clone())
    }

    #[test]
    fn defaults_apply_to_missing_and_null_options() {
        let c = parse(json!({"root_url": null})).unwrap();
        assert_eq!(c.worker_counts, 2);
        assert_eq!(c.redirect_https, RedirectHttps::Default);
        assert_eq!(c.max_global_haproxy_connections, 4096);
        assert_eq!(c.ports, ServicePorts::default());
        assert_eq!(c.root_url, None);
    }

    #[test]
    fn every_problem_is_reported_with_its_option() {
        let err =
            parse(json!({"worker_counts": 0, "redirect_https": "sometimes", "max_global_haproxy_connections": -1}))
                .unwrap_err();
        let options: Vec<_> = err.problems.iter().map(|p| p.option.as_str()).collect();
        assert_eq!(options, ["worker_counts", "redirect_https", "max_global_haproxy_connections"]);
        assert!(err.to_string().contains("worker_counts must be between 1 and 64 (got 0)"), "{err}");
    }

    #[test]
    fn worker_ranges_must_not_overlap() {
        // 8070 + 16 workers runs into the appserver's 8080.
        let err = parse(json!({"worker_counts": 16})).unwrap_err();
        assert_eq!(err.problems[0].option, "appserver_base_port");
        assert!(err.problems[0].reason.contains("pingserver_base_port"), "{err}");
        assert!(parse(json!({"worker_counts": 10})).is_ok());
    }

    #[test]
    fn root_url_forms() {
        assert_eq!(RootUrl::parse("https://Landscape.Example.com/").unwrap().hostname(), Some("landscape.example.com"));
        assert_eq!(RootUrl::parse("https://10.0.0.5:8443/x").unwrap().hostname(), None);
        assert!(matches!(RootUrl::parse("https://[fd00::5]/").unwrap().host, UrlHost::Ip(_)));
        for bad in ["ftp://x/", "https://", "https://a b/", "https://user@host/", "https://bad_name/", "https://h:0/"] {
            assert!(RootUrl::parse(bad).is_err(), "{bad} was accepted");
        }
    }

    #[test]
    fn the_hostagent_port_answers_to_both_names_and_refuses_two_different_values() {
        let port = |value: Value| parse(value).map(|c| c.ports.base(LandscapeService::HostagentMessenger));
        assert_eq!(port(json!({})).unwrap(), 50052);
        assert_eq!(port(json!({"hostagent_server_base_port": 50060})).unwrap(), 50060);
        assert_eq!(port(json!({"hostagent_messenger_base_port": 50061})).unwrap(), 50061);
        let same = json!({"hostagent_server_base_port": 50062, "hostagent_messenger_base_port": 50062});
        assert_eq!(port(same).unwrap(), 50062);
        let both = json!({"hostagent_server_base_port": 50063, "hostagent_messenger_base_port": 50064});
        let err = port(both).unwrap_err().to_string();
        assert!(err.contains("hostagent_server_base_port") && err.contains("hostagent_messenger_base_port"), "{err}");
        assert!(err.contains("50063") && err.contains("50064"), "{err}");
    }

    #[test]
    fn landscape_ppa_is_a_comma_list_but_not_inside_a_source_lines_options() {
        assert_eq!(split_sources("ppa:a/b, ppa:c/d ,"), ["ppa:a/b", "ppa:c/d"]);
        assert_eq!(
            split_sources("deb [arch=amd64,arm64] http://archive.internal/ noble main,ppa:a/b"),
            ["deb [arch=amd64,arm64] http://archive.internal/ noble main", "ppa:a/b"]
        );
        assert!(parse(json!({"landscape_ppa": " , "})).is_err());
    }

    #[test]
    fn min_install_needs_standalone_and_the_outbox_channel_is_a_snap_channel() {
        let err = parse(json!({"min_install": true, "deployment_mode": "saas"})).unwrap_err().to_string();
        assert!(err.contains("min_install") && err.contains("standalone"), "{err}");
        assert!(parse(json!({"min_install": true})).is_ok());
        for good in ["latest/stable", "stable", "1.0/edge", "latest/candidate/fix-1", "edge/hotfix"] {
            assert!(is_snap_channel(good), "{good}");
        }
        for bad in ["", "latest", "latest/stable; rm -rf /", "a/b/c/d", "recent/ stable"] {
            assert!(!is_snap_channel(bad), "{bad}");
        }
        let err = parse(json!({"outbox_snap_channel": "latest"})).unwrap_err().to_string();
        assert!(err.contains("outbox_snap_channel"), "{err}");
        let err = parse(json!({"gpg_secret_id": "not-a-secret"})).unwrap_err().to_string();
        assert!(err.contains("gpg_secret_id"), "{err}");
    }
}
