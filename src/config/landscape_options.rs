//! The options Landscape itself reads (service.conf, `/etc/default`, its
//! first account): identity, database overrides, the proxy, the license, the
//! administrator, the APT source, the deployment mode, and the 26.04
//! workload options.

use std::fmt;

use serde_json::Value;

use super::{DeploymentMode, Reader};
use crate::ini::IniDocument;

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

/// Options of the 26.04 charm this one accepts, so that a refresh from it
/// keeps them, but does not act on (the status says so while they are set).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AcceptedOnly {
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
    /// The `landscape-outbox` snap's channel (`latest/stable`).
    pub outbox_snap_channel: String,
    /// `LANDSCAPE_SYSTEM__ANALYTICS_ID` for the appserver (a drop-in).
    pub analytics_id: Option<String>,
    /// Extra `landscape-schema --bootstrap` arguments, one per comma.
    pub schema_bootstrap_args: Vec<String>,
    pub accepted_only: AcceptedOnly,
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

pub const DEFAULT_LANDSCAPE_PPA: &str = "ppa:landscape/self-hosted-beta";

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

pub(super) fn parse(r: &mut Reader<'_>) -> LandscapeConfig {
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
        let problem = format!("needs deployment_mode standalone (got {mode}): other modes need the full install");
        r.problem("min_install", problem);
    }
    // Fields in the order they are read, so that problems are listed in it.
    LandscapeConfig {
        ppa,
        ppa_key,
        min_install,
        proxies,
        identity,
        db,
        deployment_mode,
        outbox_snap_channel: parse_outbox_snap_channel(r),
        analytics_id: one_line(r, "analytics_id", true),
        schema_bootstrap_args: parse_schema_bootstrap_args(r),
        accepted_only: parse_accepted_only(r),
        additional_service_config: parse_additional_service_config(r),
        license: r.string("license_file").and_then(|text| parse_license(r, &text)),
        admin: parse_admin(r),
        autoregistration: r.bool("autoregistration"),
        smtp_relay_host: one_line(r, "smtp_relay_host", true),
        site_name: one_line(r, "site_name", false).unwrap_or_else(|| "juju".into()),
        prometheus_scrape_interval: parse_scrape_interval(r),
        secret_token: one_line(r, "secret_token", true),
        cookie_encryption_key: one_line(r, "cookie_encryption_key", true),
    }
}

/// `bootstrap_schema_override_args`: one argument per comma.
fn parse_schema_bootstrap_args(r: &mut Reader<'_>) -> Vec<String> {
    let Some(text) = one_line(r, "bootstrap_schema_override_args", false) else { return vec![] };
    text.split(',').map(str::trim).filter(|a| !a.is_empty()).map(String::from).collect()
}

/// Operator keys merged into service.conf, checked as INI here.
fn parse_additional_service_config(r: &mut Reader<'_>) -> Option<IniDocument> {
    let text = r.string("additional_service_config")?;
    IniDocument::parse(&text).map_err(|e| r.problem("additional_service_config", format!("is not valid INI: {e}"))).ok()
}

/// `outbox_snap_channel`, `latest/stable` when unset.
fn parse_outbox_snap_channel(r: &mut Reader<'_>) -> String {
    let channel = one_line(r, "outbox_snap_channel", true).unwrap_or_else(|| "latest/stable".into());
    if !is_snap_channel(&channel) {
        let problem = format!("must be a snap channel, [track/]risk[/branch] (got {})", crate::text::quoted(&channel));
        r.problem("outbox_snap_channel", problem);
    }
    channel
}

fn parse_accepted_only(r: &mut Reader<'_>) -> AcceptedOnly {
    let gpg_secret_id = one_line(r, "gpg_secret_id", true);
    if let Some(id) = &gpg_secret_id {
        if !crate::text::is_secret_uri(id) {
            r.problem("gpg_secret_id", format!("must be a Juju secret URI (got {})", crate::text::quoted(id)));
        }
    }
    AcceptedOnly { demo_data: r.bool("demo_data"), gpg_secret_id }
}

/// `latest/stable`, `stable`, `1.2/edge/fix-1`: a track, a risk, a branch.
pub(super) fn is_snap_channel(text: &str) -> bool {
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

/// `landscape_ppa` (the default when unset) and its optional key.
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
