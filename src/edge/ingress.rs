//! The four `ingress` requirer endpoints (ingress v2, as the traefik_k8s
//! library's `IngressPerAppRequirer` writes it), one per Landscape port.
//!
//! The leader publishes the application databag (model, name, port and the
//! fields the seed's `redirect_https=True` requirers implied), every unit its
//! own (host, ip). Each value is its own JSON document, byte for byte as the
//! Python library writes it, defaults omitted. The gRPC endpoints publish only
//! while their feature flag is on; turning the flag off clears this side's
//! data (the Python charm just went silent).

use std::collections::BTreeMap;
use std::net::IpAddr;

use serde_json::{Value, json};

use crate::config::CharmConfig;
use crate::haproxy::model;
use crate::host::Host;
use crate::juju::pyjson::dumps;
use crate::juju::{Bag, Databag, HookToolError, HookTools, LogLevel, RelationId};
use crate::status::{Status, StatusCollector};
use crate::unit_state::{StateKey, UnitState};

/// The config flag that turns a gRPC service (and its ingress) on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FeatureFlag {
    HostagentMessenger,
    UbuntuInstallerAttach,
}

impl FeatureFlag {
    pub fn option(self) -> &'static str {
        match self {
            FeatureFlag::HostagentMessenger => "enable_hostagent_messenger",
            FeatureFlag::UbuntuInstallerAttach => "enable_ubuntu_installer_attach",
        }
    }

    pub fn is_on(self, config: &CharmConfig) -> bool {
        match self {
            FeatureFlag::HostagentMessenger => config.enable_hostagent_messenger,
            FeatureFlag::UbuntuInstallerAttach => config.enable_ubuntu_installer_attach,
        }
    }

    /// The status note of `endpoint`, related while this flag is off.
    pub fn unused_reason(self, endpoint: &str, config: &CharmConfig) -> Option<String> {
        (!self.is_on(config)).then(|| format!("{endpoint} is related but unused: {} is off", self.option()))
    }
}

/// A URL a provider answered with: http(s), something after the scheme,
/// bounded, no whitespace or control characters (it is logged and returned
/// by an action).
pub fn is_provider_url(url: &str) -> bool {
    (url.starts_with("http://") || url.starts_with("https://"))
        && url.len() > "https://".len()
        && url.len() <= 2048
        && !url.chars().any(|c| c.is_whitespace() || c.is_control())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IngressEndpoint {
    pub name: &'static str,
    pub port: u16,
    /// `http` is the library default (omitted); the others are TLS on the unit.
    pub scheme: &'static str,
    /// The flag the endpoint depends on; none for 80 and 443.
    pub flag: Option<FeatureFlag>,
}

pub const HTTP: IngressEndpoint =
    IngressEndpoint { name: "http-ingress", port: model::HTTP_PORT, scheme: "http", flag: None };
pub const HTTPS: IngressEndpoint =
    IngressEndpoint { name: "https-ingress", port: model::HTTPS_PORT, scheme: "https", flag: None };
pub const HOSTAGENT_MESSENGER: IngressEndpoint = IngressEndpoint {
    name: "hostagent-messenger-ingress",
    port: model::HOSTAGENT_MESSENGER_PORT,
    scheme: "https",
    flag: Some(FeatureFlag::HostagentMessenger),
};
pub const UBUNTU_INSTALLER_ATTACH: IngressEndpoint = IngressEndpoint {
    name: "ubuntu-installer-attach-ingress",
    port: model::UBUNTU_INSTALLER_ATTACH_PORT,
    scheme: "https",
    flag: Some(FeatureFlag::UbuntuInstallerAttach),
};

pub const ENDPOINTS: [IngressEndpoint; 4] = [HTTP, HTTPS, HOSTAGENT_MESSENGER, UBUNTU_INSTALLER_ATTACH];

/// Keys of the v2 application databag, in the library's field order.
const APP_KEYS: [&str; 8] =
    ["model", "name", "port", "is_port_open", "healthcheck_params", "strip-prefix", "redirect-https", "scheme"];
const UNIT_KEYS: [&str; 2] = ["host", "ip"];

impl IngressEndpoint {
    /// Why this endpoint is unused with this config (its flag is off), if it is.
    pub fn unused_reason(&self, config: &CharmConfig) -> Option<String> {
        self.flag?.unused_reason(self.name, config)
    }
}

/// One related ingress endpoint, as read at the start of the hook.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IngressRelation {
    pub endpoint: IngressEndpoint,
    pub relation: RelationId,
    pub provider_app: Databag,
    pub own_unit: Databag,
    /// Only the leader may read its own app databag on a non-peer relation.
    pub own_app: Option<Databag>,
    /// This unit's address as the relation sees it (`network-get -r`).
    pub unit_address: Option<String>,
}

impl IngressRelation {
    /// The URL the provider returned, validated.
    pub fn url(&self) -> Result<Option<String>, String> {
        let Some(raw) = self.provider_app.get("ingress") else { return Ok(None) };
        let value: Value = serde_json::from_str(raw).map_err(|e| format!("ingress is not JSON: {e}"))?;
        let url = value.get("url").and_then(Value::as_str).ok_or("ingress has no url string")?;
        // What is logged or shown of the URL never carries its credentials.
        let masked = crate::text::mask_userinfo_in(url);
        if is_provider_url(url) {
            Ok(Some(masked))
        } else {
            Err(format!("ingress url is not an http(s) URL: {}", crate::text::quoted(&masked)))
        }
    }
}

/// Reads every related ingress endpoint.
pub fn observe(
    juju: &HookTools<'_>,
    is_leader: bool,
    unit: &str,
    app: &str,
    broken: Option<&RelationId>,
) -> Result<Vec<IngressRelation>, HookToolError> {
    let mut found = vec![];
    for endpoint in ENDPOINTS {
        let Some(relation) = juju.live_relation(endpoint.name, broken)? else { continue };
        let read = |member: &str, bag: Bag| juju.relation_get_or_empty(&relation, member, bag);
        let remote_app = juju.relation_remote_app(&relation)?;
        let provider_app = read(&remote_app, Bag::App)?;
        let own_unit = read(unit, Bag::Unit)?;
        let own_app = if is_leader { Some(read(app, Bag::App)?) } else { None };
        let unit_address = juju.network_get(endpoint.name, Some(&relation))?.bind_addresses.into_iter().next();
        found.push(IngressRelation { endpoint, relation, provider_app, own_unit, own_app, unit_address });
    }
    Ok(found)
}

/// What this side should publish on one relation.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Publication {
    pub app: Option<Databag>,
    pub unit: Databag,
}

/// Who publishes: this unit of this application in this model.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Requirer<'a> {
    pub model: &'a str,
    pub app: &'a str,
    pub hostname: &'a str,
    pub is_leader: bool,
}

/// The databags for `endpoint`; empty (everything cleared) when it is unused.
pub fn desired(
    endpoint: IngressEndpoint,
    enabled: bool,
    requirer: &Requirer<'_>,
    unit_ip: Option<IpAddr>,
    port_open: bool,
) -> Publication {
    if !enabled {
        return Publication { app: requirer.is_leader.then(Databag::new), unit: Databag::new() };
    }
    let mut app = BTreeMap::new();
    app.insert("model".to_string(), dumps(&json!(requirer.model)));
    app.insert("name".to_string(), dumps(&json!(requirer.app)));
    app.insert("port".to_string(), dumps(&json!(endpoint.port)));
    if port_open {
        app.insert("is_port_open".to_string(), dumps(&json!(true)));
    }
    // The seed constructs every requirer with redirect_https=True.
    app.insert("redirect-https".to_string(), dumps(&json!(true)));
    if endpoint.scheme != "http" {
        app.insert("scheme".to_string(), dumps(&json!(endpoint.scheme)));
    }
    let mut unit = BTreeMap::new();
    unit.insert("host".to_string(), dumps(&json!(requirer.hostname)));
    if let Some(ip) = unit_ip {
        unit.insert("ip".to_string(), dumps(&json!(ip.to_string())));
    }
    Publication { app: requirer.is_leader.then_some(app), unit }
}

pub fn app_changes(current: &Databag, wanted: &Databag) -> Databag {
    crate::juju::databag::changes(current, wanted, &APP_KEYS)
}

pub fn unit_changes(current: &Databag, wanted: &Databag) -> Databag {
    crate::juju::databag::changes(current, wanted, &UNIT_KEYS)
}

/// The machine's host name, for the `host` field (the library uses
/// `socket.getfqdn()`; ingress-configurator on machines only uses `ip`).
pub fn hostname() -> String {
    nix::unistd::gethostname()
        .ok()
        .and_then(|h| h.into_string().ok())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".into())
}

pub use super::Inputs;

/// The ingress part: publishes this side of every ingress relation and
/// reads back the URLs.
pub fn reconcile(
    host: &Host<'_>,
    relations: &[IngressRelation],
    inputs: &Inputs<'_>,
    status: &mut StatusCollector,
) -> Result<(), HookToolError> {
    let hostname = hostname();
    let requirer = Requirer {
        model: &host.ctx.model_name,
        app: &host.ctx.app_name,
        hostname: &hostname,
        is_leader: inputs.is_leader,
    };
    let mut stale: Vec<String> = inputs.unit_state.ingress_url_endpoints();
    if let Some(problem) = untrusted_edge(relations, inputs.config) {
        status.add(Status::blocked(problem));
    }
    for rel in relations {
        let unused = rel.endpoint.unused_reason(inputs.config);
        publish(host, rel, &requirer, inputs, unused.is_none())?;
        match unused {
            Some(reason) => status.add(Status::active(reason)),
            None => {
                if note_url(host, rel, inputs.unit_state) {
                    stale.retain(|endpoint| endpoint != rel.endpoint.name);
                }
            }
        }
    }
    for endpoint in stale {
        host.stage_state_delete(StateKey::IngressUrl(endpoint));
    }
    Ok(())
}

/// TLS for port 80's ingress ends at the provider's HAProxy, which says so in
/// `X-Forwarded-Proto`. Unless its address is trusted, the unit replaces that
/// header, redirects the request to HTTPS, and the client comes back through
/// the same proxy: a loop, for every request the redirect covers.
pub fn untrusted_edge(relations: &[IngressRelation], config: &CharmConfig) -> Option<String> {
    let behind_edge = relations.iter().any(|rel| rel.endpoint == HTTP);
    let redirects = config.redirect_https != crate::config::RedirectHttps::None;
    (behind_edge && redirects && config.haproxy_trusted_proxies.is_empty()).then(|| {
        format!(
            "{} is related but haproxy_trusted_proxies is empty: set it to the ingress HAProxy's addresses \
             (or redirect_https=none), or redirected requests loop",
            HTTP.name
        )
    })
}

/// This side's bags on one ingress relation, as they should be.
fn publish(
    host: &Host<'_>,
    rel: &IngressRelation,
    requirer: &Requirer<'_>,
    inputs: &Inputs<'_>,
    used: bool,
) -> Result<(), HookToolError> {
    let endpoint = rel.endpoint;
    let unit_ip = match rel.unit_address.as_deref() {
        Some(raw) => crate::text::parse_ip(raw).or_else(|| {
            let message = format!("{}: network-get gave no IP address: {}", endpoint.name, crate::text::quoted(raw));
            host.log(LogLevel::Warning, &message);
            inputs.unit_ip
        }),
        None => inputs.unit_ip,
    };
    let wanted = desired(endpoint, used, requirer, unit_ip, inputs.open_ports.contains(&endpoint.port));
    if let (Some(current), Some(app)) = (&rel.own_app, &wanted.app) {
        let changes = app_changes(current, app);
        if !changes.is_empty() {
            host.juju.relation_set(&rel.relation, &changes, Bag::App)?;
        }
    }
    let changes = unit_changes(&rel.own_unit, &wanted.unit);
    if !changes.is_empty() {
        host.juju.relation_set(&rel.relation, &changes, Bag::Unit)?;
    }
    Ok(())
}

/// Logs a new URL from the provider once (remembered in unit state);
/// returns whether there is one. The URL is for operators only: bad provider
/// data is logged, naming the endpoint and the field, and ignored, since it
/// does not stop this unit from serving.
fn note_url(host: &Host<'_>, rel: &IngressRelation, unit_state: &UnitState) -> bool {
    let name = rel.endpoint.name;
    match rel.url() {
        Ok(Some(url)) => {
            let key = StateKey::IngressUrl(name.to_string());
            if unit_state.get(&key) != Some(&url) {
                host.log(LogLevel::Info, &format!("{name}: the ingress provider serves Landscape at {url}"));
                host.stage_state(key, url);
            }
            true
        }
        Ok(None) => false,
        Err(problem) => {
            host.log(LogLevel::Warning, &format!("{name}: ignoring the provider's data: {problem}"));
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const REQUIRER: Requirer<'static> =
        Requirer { model: "prod", app: "landscape-server", hostname: "juju-1", is_leader: true };

    #[test]
    fn https_publication_is_what_the_python_library_writes() {
        let p = desired(HTTPS, true, &REQUIRER, Some("10.1.77.18".parse().unwrap()), true);
        let app = p.app.unwrap();
        assert_eq!(app["model"], "\"prod\"");
        assert_eq!(app["port"], "443");
        assert_eq!(app["redirect-https"], "true");
        assert_eq!(app["scheme"], "\"https\"");
        assert!(!app.contains_key("strip-prefix"), "defaults are omitted");
        assert_eq!(p.unit["ip"], "\"10.1.77.18\"");
        let http = desired(HTTP, true, &REQUIRER, None, false).app.unwrap();
        assert!(!http.contains_key("scheme") && !http.contains_key("is_port_open"));
    }

    #[test]
    fn diff_deletes_only_our_stale_keys() {
        let current = Databag::from([("scheme".into(), "\"https\"".into()), ("private-address".into(), "x".into())]);
        let changes = app_changes(&current, &Databag::new());
        assert_eq!(changes, Databag::from([("scheme".into(), String::new())]));
        assert!(
            unit_changes(
                &Databag::from([("host".into(), "\"h\"".into())]),
                &Databag::from([("host".into(), "\"h\"".into())])
            )
            .is_empty()
        );
    }

    #[test]
    fn provider_urls_are_validated() {
        let rel = |raw: &str| IngressRelation {
            endpoint: HTTP,
            relation: RelationId { endpoint: "http-ingress".into(), id: 1 },
            provider_app: Databag::from([("ingress".into(), raw.into())]),
            own_unit: Databag::new(),
            own_app: None,
            unit_address: None,
        };
        assert_eq!(rel(r#"{"url": "https://landscape.local/"}"#).url(), Ok(Some("https://landscape.local/".into())));
        assert!(rel("not json").url().is_err());
        assert!(rel(r#"{"url": "ftp://x"}"#).url().is_err());
        assert!(rel(r#"{"url": "https://x/\nbad"}"#).url().is_err());
        assert!(rel(r#"{"nourl": 1}"#).url().is_err());
    }
}
