//! The deprecated `website` endpoint (interface `http`): the legacy HAProxy
//! charm's `reverseproxy` relation, kept as a bridge so that a deployment
//! moves off the legacy load balancer without a failed request.
//!
//! Each unit publishes `services` (YAML, the legacy charm's format, the
//! Python charm's service names and options), but every server in it is
//! the unit's **own HAProxy** on port 80: the units' HAProxy stays the one
//! routing truth, and the legacy load balancer only terminates TLS with the
//! certificate it served before (`crts`: `DEFAULT`, or `ssl_cert`/`ssl_key`)
//! and forwards. Its HTTPS service sets `X-Forwarded-Proto: https`, and its
//! units are trusted proxies while related, so Landscape sees the scheme and
//! client as before. No route needs the unit's own certificate, so a unit
//! without one yet serves the bridge the same.
//!
//! The gRPC services go to the units' gRPC services directly (h2c, as the
//! Python charm sent them): the units' gRPC frontends need a certificate the
//! legacy load balancer has no way to verify.
//!
//! Each unit also declares every backend the Python charm did, with its own
//! HAProxy in each, so that mid-refresh (some units still the Python charm)
//! the legacy charm's merge of the units' services routes every path either
//! way.

use std::net::IpAddr;

use serde_json::{Value, json};

use crate::config::{CharmConfig, LandscapeService, Network, RedirectHttps};
use crate::host::Host;
use crate::juju::{Bag, Databag, HookToolError, HookTools, LogLevel, RelationId};

pub const WEBSITE_ENDPOINT: &str = "website";
/// The key the legacy charm reads.
pub const SERVICES_KEY: &str = "services";
/// What the units' HAProxy listens on for the legacy load balancer.
const UNIT_HTTP_PORT: u16 = 80;

/// The `website` relation as the hook read it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebsiteRelation {
    pub relation: RelationId,
    /// The legacy load balancer's units' addresses (`ingress-address`, else
    /// `private-address`), as they published them.
    pub proxies: Vec<String>,
    /// Their `public-address`es: the Python charm's root URL host.
    pub public_addresses: Vec<String>,
    /// This unit's own bag: what it published, and its address on the
    /// relation (Juju's `ingress-address`, else `private-address`).
    pub published: Option<String>,
    pub own_address: Option<String>,
}

pub fn observe(
    juju: &HookTools<'_>,
    unit_name: &str,
    broken: Option<&RelationId>,
) -> Result<Option<WebsiteRelation>, HookToolError> {
    let Some(relation) = juju.live_relation(WEBSITE_ENDPOINT, broken)? else { return Ok(None) };
    let own = juju.relation_get_or_empty(&relation, unit_name, Bag::Unit)?;
    let address = |bag: &Databag| bag.get("ingress-address").or(bag.get("private-address")).cloned();
    let mut website = WebsiteRelation {
        relation: relation.clone(),
        proxies: vec![],
        public_addresses: vec![],
        published: own.get(SERVICES_KEY).cloned(),
        own_address: address(&own),
    };
    let units = match juju.relation_list(&relation) {
        Err(HookToolError::RelationNotFound { .. }) => vec![],
        other => other?,
    };
    for unit in units {
        let bag = juju.relation_get_or_empty(&relation, &unit, Bag::Unit)?;
        website.proxies.extend(address(&bag));
        website.public_addresses.extend(bag.get("public-address").cloned());
    }
    Ok(Some(website))
}

/// The legacy load balancer's units, trusted for their `X-Forwarded-*`
/// headers while related (addresses only; anything else is ignored).
pub fn trusted_networks(website: Option<&WebsiteRelation>) -> Vec<Network> {
    let mut networks: Vec<Network> = website
        .iter()
        .flat_map(|w| w.proxies.iter())
        .filter_map(|raw| crate::text::parse_routable_ip(raw))
        .map(|address| Network { address, prefix: if address.is_ipv4() { 32 } else { 128 } })
        .collect();
    networks.sort();
    networks.dedup();
    networks
}

/// The host the Python charm made the root URL from when `root_url` was
/// unset (a legacy unit's `public-address`), so that a refresh keeps it.
pub fn root_url_host(website: Option<&WebsiteRelation>) -> Option<String> {
    let mut hosts: Vec<&String> = website?
        .public_addresses
        .iter()
        .filter(|h| crate::text::parse_routable_ip(h).is_some() || crate::text::is_dns_name(h))
        .collect();
    hosts.sort();
    hosts.first().map(|h| match crate::text::parse_ip(h) {
        Some(IpAddr::V6(ip)) => format!("[{ip}]"),
        _ => (*h).clone(),
    })
}

/// The Python charm's HTTP and HTTPS service options, but for its dead
/// upload rewrite, plus `option forwardfor` (the client's address), and with
/// the `http-request` rules first, where HAProxy runs them anyway.
fn web_options(https: bool, redirect: RedirectHttps) -> Vec<String> {
    let scheme = if https { "https" } else { "http" };
    let mut options: Vec<String> = [
        "mode http",
        "timeout client 300000",
        "timeout server 300000",
        "balance leastconn",
        "option httpchk HEAD / HTTP/1.0",
        "option forwardfor",
        "acl metrics path_end /metrics",
        "http-request deny if metrics",
        "acl prometheus_metrics path_beg -i /metrics",
        "http-request deny if prometheus_metrics",
    ]
    .map(str::to_string)
    .to_vec();
    if https {
        options.push("http-request set-header X-Forwarded-Proto https".into());
    }
    for (acl, path) in ACLS {
        options.push(format!("acl {acl} path_beg -i {path}"));
    }
    if !https {
        options.push(
            match redirect {
                RedirectHttps::All => "redirect scheme https",
                RedirectHttps::None => "# No HTTPS redirect",
                RedirectHttps::Default => "redirect scheme https unless ping OR repository",
            }
            .into(),
        );
    }
    for (backend, acl) in ROUTES {
        options.push(format!("use_backend landscape-{scheme}-{backend} if {acl}"));
    }
    options
}

/// The Python charm's ACLs and routes (its `services`, kept name for name
/// so that the legacy charm merges both charms' units alike).
const ACLS: [(&str, &str); 7] = [
    ("ping", "/ping"),
    ("repository", "/repository"),
    ("message", "/message-system"),
    ("attachment", "/attachment"),
    ("api", "/api"),
    ("hashids", "/hash-id-databases"),
    ("package-upload", "/upload"),
];
const ROUTES: [(&str, &str); 6] = [
    ("message", "message"),
    ("message", "attachment"),
    ("api", "api"),
    ("ping", "ping"),
    ("hashid-databases", "hashids"),
    ("package-upload", "package-upload"),
];
const BACKENDS: [&str; 5] = ["ping", "message", "api", "package-upload", "hashid-databases"];

/// The installer-attach service's `X-FQDN` header, as the Python charm set
/// it (multitenant installations need it).
const X_FQDN: [&str; 4] = [
    "acl host_found hdr(host) -m found",
    "http-request set-var(req.full_fqdn) hdr(authority) if !host_found",
    "http-request set-var(req.full_fqdn) hdr(host) if host_found",
    "http-request set-header X-FQDN %[var(req.full_fqdn)]",
];

/// A gRPC service: its name and port at the load balancer, the unit's
/// service port behind it, its options.
struct GrpcService<'a> {
    name: &'a str,
    port: u16,
    target: u16,
    options: &'a [&'a str],
}

/// One gRPC service, to this unit's gRPC service directly (h2c).
fn grpc_service(grpc: GrpcService<'_>, unit: &str, ip: &str, checks: &[String], crts: &Value) -> Value {
    let mut server_options = checks.to_vec();
    server_options.push("proto h2".into());
    json!({
        "service_name": grpc.name,
        "service_host": "0.0.0.0",
        "service_port": grpc.port,
        "service_options": grpc.options,
        "server_options": ["proto h2"],
        "servers": [[format!("{}-{unit}-0", grpc.name), ip, grpc.target, server_options]],
        "crts": crts,
    })
}

/// The HTTP or HTTPS service: every backend the Python charm declared, each
/// with `haproxy` (this unit's HAProxy) as its one server.
fn web_service(https: bool, redirect: RedirectHttps, haproxy: &Value, crts: &Value) -> Value {
    let scheme = if https { "https" } else { "http" };
    let backends: Vec<Value> = BACKENDS
        .iter()
        .map(|b| json!({"backend_name": format!("landscape-{scheme}-{b}"), "servers": haproxy}))
        .collect();
    let mut service = json!({
        "service_name": format!("landscape-{scheme}"),
        "service_host": "0.0.0.0",
        "service_port": if https { 443 } else { 80 },
        "service_options": web_options(https, redirect),
        "servers": haproxy,
        "backends": backends,
    });
    if https {
        service["crts"] = crts.clone();
    }
    service
}

/// This unit's `services`: what the legacy load balancer should send here.
pub fn desired(config: &CharmConfig, unit_name: &str, address: IpAddr) -> String {
    let limits = &config.haproxy_limits;
    // The unit's HAProxy takes what each of this unit's workers took before.
    let checks = vec![
        "check".to_string(),
        format!("inter {}", limits.check_interval_ms),
        format!("rise {}", limits.check_rise),
        format!("fall {}", limits.check_fall),
        format!("maxconn {}", 50 * u32::from(config.worker_counts)),
    ];
    let unit = unit_name.replace('/', "-");
    let ip = address.to_string();
    let haproxy = json!([[format!("landscape-haproxy-{unit}"), ip, UNIT_HTTP_PORT, checks]]);
    let crts = json!([config.legacy_certificate.crt()]);
    let redirect = config.redirect_https;
    let mut services =
        vec![web_service(false, redirect, &haproxy, &crts), web_service(true, redirect, &haproxy, &crts)];
    let grpc = |name: &str, port: u16, service: LandscapeService, options: &[&str]| {
        grpc_service(
            GrpcService { name, port, target: config.ports.base(service), options },
            &unit,
            &ip,
            &checks,
            &crts,
        )
    };
    if config.enable_hostagent_messenger {
        services.push(grpc("landscape-grpc", 6554, LandscapeService::HostagentMessenger, &[]));
    }
    if config.enable_ubuntu_installer_attach {
        let attach = LandscapeService::UbuntuInstallerAttach;
        services.push(grpc("landscape-ubuntu-installer-attach", 50051, attach, &X_FQDN));
    }
    serde_yaml_ng::to_string(&services).unwrap_or_default()
}

/// Publishes this unit's `services` when they changed. Without an address
/// on the relation yet, publishes nothing (the next hook will).
pub fn reconcile(
    host: &Host<'_>,
    website: Option<&WebsiteRelation>,
    config: &CharmConfig,
) -> Result<(), HookToolError> {
    let Some(website) = website else { return Ok(()) };
    let Some(address) = website.own_address.as_deref().and_then(crate::text::parse_ip) else {
        host.log(LogLevel::Warning, "website: Juju gave this unit no address on the relation yet");
        return Ok(());
    };
    let services = desired(config, &host.ctx.unit_name, address);
    if website.published.as_deref() != Some(services.as_str()) {
        let bag = Databag::from([(SERVICES_KEY.to_string(), services)]);
        host.juju.relation_set(&website.relation, &bag, Bag::Unit)?;
        host.log(
            LogLevel::Info,
            &format!("website: the legacy load balancer routes to this unit's HAProxy ({address})"),
        );
    }
    Ok(())
}

/// Said while the deprecated relation is in place.
pub const BRIDGE_NOTE: &str =
    "website (deprecated) related: the legacy load balancer forwards to this unit's HAProxy until it is removed";
