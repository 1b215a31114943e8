//! The HAProxy configuration as data: Service, Frontend, Backend and Server,
//! built by pure functions from the peers, the leader, the worker count and
//! the feature flags (the seed's `create_*_service`).
//!
//! Every string that reaches the template comes from this module's constants
//! or from typed values (`IpAddr`, `u16`), so relation data cannot inject a
//! directive: an address is an `IpAddr` before it is ever a string.

use std::borrow::Cow;
use std::net::IpAddr;

use serde::Serialize;

mod grpc;
mod inputs;
mod web;

use grpc::grpc_service;
pub use inputs::{Settings, Topology};
pub use web::{HASHIDS_BACKEND, NETWORKS_PER_ACL_LINE, ROUTE_HEALTH_PREFIX, RouteHealth};
use web::{WebScheme, web_service};

use crate::config::ports::{self, Placement, Ports, ServiceSpec, WebPath};
use crate::config::{HaproxyLimits, LandscapeService, Network, RedirectHttps};

/// Per-server options beside the check timings (`maxconn` is per server, not
/// HAProxy's global one). Failed requests count as checks: five in a row
/// (refused, reset, timed out, or a 5xx other than 501/505) are a "sudden
/// death": the next failed check, 500 ms later, marks the server down. A
/// server that fails one kind of request but passes its checks stays up, so
/// that one request failing everywhere cannot empty a backend.
///
/// `tcp-ut` (TCP_USER_TIMEOUT) gives up a connection whose data a unit has
/// not acknowledged for 10 s, and bounds the keep-alive probes of the
/// defaults section the same way: a request sent to a unit cut off the
/// network fails within seconds instead of `timeout server` (5 minutes), so
/// that a GET is retried on another unit while its client still waits. A
/// live unit acknowledges at once however long Landscape takes to answer;
/// only a service that reads nothing of a request body for 10 s (a wedged
/// one) has that request cut.
pub const SERVER_OPTIONS: &str =
    "observe layer7 error-limit 5 on-error sudden-death fastinter 500 maxconn 50 tcp-ut 10s";
pub const CLIENT_TIMEOUT_MS: u32 = 300_000;
pub const SERVER_TIMEOUT_MS: u32 = 300_000;

pub const HTTP_PORT: u16 = 80;
pub const HTTPS_PORT: u16 = 443;
pub const HOSTAGENT_MESSENGER_PORT: u16 = ports::HOSTAGENT_MESSENGER_FRONTEND;
pub const UBUNTU_INSTALLER_ATTACH_PORT: u16 = ports::UBUNTU_INSTALLER_ATTACH_FRONTEND;
/// Every frontend port a unit may serve (the ports it opens and closes).
pub const FRONTEND_PORTS: [u16; 4] = [HTTP_PORT, HTTPS_PORT, HOSTAGENT_MESSENGER_PORT, UBUNTU_INSTALLER_ATTACH_PORT];

/// Error pages: status, file name under the errors directory.
pub const ERROR_PAGES: &[(u16, &str)] = &[
    (403, "unauthorized-haproxy.html"),
    (500, "exception-haproxy.html"),
    (502, "unplanned-offline-haproxy.html"),
    (503, "unplanned-offline-haproxy.html"),
    (504, "timeout-haproxy.html"),
];

/// The 503 page while every unit stopped its services on purpose (all of
/// them paused, for a schema migration): Landscape's own "down for
/// maintenance" page instead of its "unexpectedly offline" one.
pub const PLANNED_OFFLINE_PAGE: (u16, &str) = (503, "planned-offline-haproxy.html");

/// `Retry-After` on every 503 of a planned window. Clients that honour it
/// come back once a minute: a schema migration takes minutes, and each
/// early retry costs HAProxy one error page, not Landscape a request.
pub const PLANNED_OFFLINE_RETRY_AFTER_SECS: u32 = 60;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Server {
    pub name: String,
    /// `10.0.0.1` or `[fd00::1]`, ready for `address:port`.
    pub address: String,
    pub port: u16,
    /// `proto h2` for the gRPC backends (their checks stay TCP: an HTTP check
    /// over h2 fails against these h2c servers).
    pub h2: bool,
    /// `weight 0`: the unit is about to stop its services, so it gets no new
    /// request; the ones in flight finish (HAProxy's drain).
    pub drain: bool,
}

impl Server {
    fn new(name: String, ip: IpAddr, port: u16, h2: bool) -> Self {
        Self { name, address: bind_address(&ip), port, h2, drain: false }
    }

    fn drained_if(mut self, topology: &Topology, ip: &IpAddr) -> Self {
        self.drain = topology.draining.contains(ip);
        self
    }
}

/// An address as HAProxy takes it before `:port` (IPv6 bracketed).
fn bind_address(ip: &IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => format!("[{v6}]"),
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Backend {
    pub name: String,
    /// `balance leastconn` and `option httpchk HEAD <check_path> HTTP/1.0`:
    /// backend-only directives the seed put in frontends, where HAProxy
    /// ignored them.
    pub http_checks: bool,
    pub check_path: &'static str,
    /// `http-check expect <this>`; None keeps HAProxy's default (2xx, 3xx).
    pub check_expect: Option<&'static str>,
    /// `http-request` rules of the backend (after the frontend chose it).
    pub http_request: Vec<String>,
    pub timeout_server: u32,
    pub servers: Vec<Server>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Acl {
    pub name: &'static str,
    /// Borrowed from this module's constants, or made from typed values
    /// (the trusted proxies' networks).
    pub criterion: Cow<'static, str>,
}

impl Acl {
    const fn fixed(name: &'static str, criterion: &'static str) -> Self {
        Self { name, criterion: Cow::Borrowed(criterion) }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Route {
    pub backend: String,
    pub acl: &'static str,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Tls {
    pub cert: String,
    /// Offer h2 by ALPN (the gRPC frontends).
    pub alpn_h2: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Frontend {
    pub name: &'static str,
    pub port: u16,
    pub tls: Option<Tls>,
    pub timeout_client: Option<u32>,
    pub acls: Vec<Acl>,
    /// `http-request` rules, in the order HAProxy runs them.
    pub http_request: Vec<String>,
    /// A `redirect` rule; HAProxy runs it after `http-request`, before `use_backend`.
    pub redirect: Option<String>,
    pub routes: Vec<Route>,
    pub default_backend: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Service {
    pub frontend: Frontend,
    pub backends: Vec<Backend>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ErrorFile {
    pub status: u16,
    pub path: String,
}

/// Everything the template needs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HaproxyConfig {
    pub global_maxconn: u32,
    pub limits: HaproxyLimits,
    /// HAProxy's Prometheus exporter, once the unit's address is known.
    pub metrics: Option<MetricsFrontend>,
    pub error_files: Vec<ErrorFile>,
    /// Set while every unit stopped its services on purpose: each frontend
    /// adds `Retry-After` to its 503s.
    pub retry_after_secs: Option<u32>,
    pub services: Vec<Service>,
}

impl HaproxyConfig {
    /// The same configuration with every TLS frontend loading `cert`.
    pub fn with_certificate(&self, cert: &str) -> Self {
        let mut config = self.clone();
        for tls in config.services.iter_mut().filter_map(|s| s.frontend.tls.as_mut()) {
            tls.cert = cert.to_string();
        }
        config
    }
}

/// Where HAProxy's own Prometheus exporter listens: the unit's address (so
/// that the public frontends never serve it), on its own port.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MetricsFrontend {
    /// `10.0.0.1` or `[fd00::1]`, ready for `bind address:port`.
    pub address: String,
    pub port: u16,
    /// The charm's own gauges, served at [`CHARM_METRICS_PATH`]: HAProxy's
    /// exporter knows nothing of the certificate's expiry, the charm does.
    pub charm_metrics: String,
    pub charm_metrics_path: &'static str,
}

/// Where the metrics frontend serves the charm's own gauges.
pub use crate::config::ports::CHARM_METRICS_PATH;

/// The charm's gauges in Prometheus' text format, as one HAProxy string
/// (`\n` is a line break there; the text is numbers and fixed names only).
fn charm_metrics(certificate_expiry: Option<i64>) -> String {
    let mut text = String::from("# HELP landscape_haproxy_certificate_present Whether HAProxy has a certificate.\\n");
    text += "# TYPE landscape_haproxy_certificate_present gauge\\n";
    text += &format!("landscape_haproxy_certificate_present {}\\n", u8::from(certificate_expiry.is_some()));
    if let Some(expiry) = certificate_expiry {
        text += "# HELP landscape_haproxy_certificate_expiry_timestamp_seconds When it expires.\\n";
        text += "# TYPE landscape_haproxy_certificate_expiry_timestamp_seconds gauge\\n";
        text += &format!("landscape_haproxy_certificate_expiry_timestamp_seconds {expiry}\\n");
    }
    text
}

/// `10.1.77.18` → `10-1-77-18`; `fd00::1` → `fd00--1`.
fn ip_slug(ip: &IpAddr) -> String {
    ip.to_string().replace(['.', ':'], "-")
}

/// The whole configuration for this unit.
pub fn build(topology: &Topology, settings: &Settings) -> HaproxyConfig {
    let mut services = vec![web_service(WebScheme::Http, topology, settings)];
    if settings.tls_pem.is_some() {
        services.push(web_service(WebScheme::Https, topology, settings));
        for spec in &ports::SERVICES {
            if let (ports::Route::Grpc { name, port }, true) = (spec.route, settings.serves(spec.service)) {
                let backend_port = settings.ports.base(spec.service);
                services.push(grpc_service(name, port, backend_port, topology, settings));
            }
        }
    }
    HaproxyConfig {
        global_maxconn: settings.global_maxconn,
        limits: settings.limits,
        metrics: settings.metrics.map(|(ip, port)| MetricsFrontend {
            address: bind_address(&ip),
            port,
            charm_metrics: charm_metrics(settings.certificate_expiry),
            charm_metrics_path: CHARM_METRICS_PATH,
        }),
        error_files: error_files(topology.planned_offline(), &settings.errors_dir),
        retry_after_secs: topology.planned_offline().then_some(PLANNED_OFFLINE_RETRY_AFTER_SECS),
        services,
    }
}

/// One `errorfile` per status: Landscape's pages, with its planned-offline
/// page for 503 while the units are stopped on purpose.
fn error_files(planned_offline: bool, errors_dir: &std::path::Path) -> Vec<ErrorFile> {
    ERROR_PAGES
        .iter()
        .map(|&(status, file)| match PLANNED_OFFLINE_PAGE {
            (planned, page) if planned_offline && planned == status => (status, page),
            _ => (status, file),
        })
        .map(|(status, file)| ErrorFile { status, path: errors_dir.join(file).display().to_string() })
        .collect()
}

/// The frontend ports this configuration listens on.
pub fn listening_ports(config: &HaproxyConfig) -> Vec<u16> {
    config.services.iter().map(|s| s.frontend.port).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::CharmConfig;
    use std::path::PathBuf;

    fn settings(tls: bool) -> Settings {
        let config = CharmConfig::parse(Default::default()).unwrap();
        let tls_pem = tls.then(|| PathBuf::from("/etc/haproxy/haproxy.pem"));
        Settings {
            enable_hostagent_messenger: true,
            enable_ubuntu_installer_attach: true,
            ..Settings::from_config(&config, tls_pem, PathBuf::from("/etc/haproxy/errors"))
        }
    }

    fn ips(list: &[&str]) -> Vec<IpAddr> {
        list.iter().map(|s| s.parse().unwrap()).collect()
    }

    #[test]
    fn leader_only_backends_point_at_the_leader_on_every_unit() {
        let topo = Topology::new(ips(&["10.0.0.2", "10.0.0.1"]), Some("10.0.0.2".parse().unwrap()));
        let cfg = build(&topo, &settings(true));
        let https = &cfg.services[1];
        let upload = https.backends.iter().find(|b| b.name == "landscape-https-package-upload").unwrap();
        assert_eq!(
            upload.servers,
            vec![Server::new("landscape-leader-package-upload".into(), "10.0.0.2".parse().unwrap(), 9100, false)]
        );
        let hashids = https.backends.iter().find(|b| b.name == "landscape-https-hashid-databases").unwrap();
        assert_eq!(hashids.servers.iter().map(|s| s.port).collect::<Vec<_>>(), [8080, 8081]);
    }

    #[test]
    fn unknown_leader_leaves_leader_only_backends_declared_but_empty() {
        let cfg = build(&Topology::new(ips(&["10.0.0.1"]), None), &settings(false));
        let http = &cfg.services[0];
        for name in ["landscape-http-package-upload", "landscape-http-hashid-databases"] {
            let b = http.backends.iter().find(|b| b.name == name).expect(name);
            assert!(b.servers.is_empty());
        }
    }

    #[test]
    fn without_a_certificate_only_port_80_is_served() {
        let cfg = build(&Topology::new(ips(&["10.0.0.1"]), None), &settings(false));
        assert_eq!(listening_ports(&cfg), [80]);
        let cfg = build(&Topology::new(ips(&["10.0.0.1"]), None), &settings(true));
        assert_eq!(listening_ports(&cfg), [80, 443, 6554, 50051]);
    }

    #[test]
    fn ipv6_servers_are_bracketed_and_named_without_colons() {
        let cfg = build(&Topology::new(ips(&["fd00::11"]), None), &settings(false));
        let server = &cfg.services[0].backends[0].servers[0];
        assert_eq!(server.address, "[fd00::11]");
        assert_eq!(server.name, "landscape-appserver-fd00--11-0");
    }
}
