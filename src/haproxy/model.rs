//! The HAProxy configuration as data: Service, Frontend, Backend and Server,
//! built by pure functions from the peers, the leader, the worker count and
//! the feature flags (the seed's `create_*_service`).
//!
//! Every string that reaches the template comes from this module's constants
//! or from typed values (`IpAddr`, `u16`), so relation data cannot inject a
//! directive: an address is an `IpAddr` before it is ever a string.

use std::borrow::Cow;
use std::net::IpAddr;
use std::path::PathBuf;

use serde::Serialize;

use crate::config::ports::{self, Placement, Ports, ServiceSpec, WebPath};
use crate::config::{CharmConfig, HaproxyLimits, LandscapeService, Network, RedirectHttps, ServicePorts};

/// Per-server options beside the check timings (`maxconn` is per server, not
/// HAProxy's global one). Failed requests count as checks: five in a row
/// (refused, reset, timed out, or a 5xx other than 501/505) are a "sudden
/// death": the next failed check, 500 ms later, marks the server down. A
/// server that fails one kind of request but passes its checks stays up, so
/// that one request failing everywhere cannot empty a backend.
pub const SERVER_OPTIONS: &str = "observe layer7 error-limit 5 on-error sudden-death fastinter 500 maxconn 50";
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
pub const CHARM_METRICS_PATH: &str = "/landscape-metrics";

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

/// The world as far as HAProxy is concerned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Topology {
    /// Every unit's address, this unit's included; sorted and unique.
    pub unit_ips: Vec<IpAddr>,
    /// The leader's address, when known. Leader-only backends stay empty
    /// (HAProxy answers 503) until it is.
    pub leader_ip: Option<IpAddr>,
    /// Units that asked to be drained before they stop their services:
    /// their servers get no new requests. Not the leader-only servers, which
    /// have nowhere else to go.
    pub draining: Vec<IpAddr>,
}

impl Topology {
    pub fn new(mut unit_ips: Vec<IpAddr>, leader_ip: Option<IpAddr>) -> Self {
        unit_ips.sort();
        unit_ips.dedup();
        Self { unit_ips, leader_ip, draining: vec![] }
    }

    pub fn with_draining(mut self, mut draining: Vec<IpAddr>) -> Self {
        draining.sort();
        draining.dedup();
        self.draining = draining;
        self
    }
}

/// Inputs from config and files rather than from peers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    pub worker_counts: u16,
    pub redirect_https: RedirectHttps,
    pub enable_hostagent_messenger: bool,
    pub enable_ubuntu_installer_attach: bool,
    pub global_maxconn: u32,
    pub limits: HaproxyLimits,
    /// The exporter's address and port; None until the unit's address is known.
    pub metrics: Option<(IpAddr, u16)>,
    /// When the certificate expires (Unix seconds); None without one.
    pub certificate_expiry: Option<i64>,
    /// Whose `X-Forwarded-*` headers pass; everyone else's are replaced.
    pub trusted_proxies: Vec<Network>,
    /// The haproxy-route routes whose health port 80 answers; none without
    /// a haproxy-route relation.
    pub route_health: Vec<RouteHealth>,
    /// The debarchive units `/debarchive` goes to, and their port; no route
    /// without one.
    pub debarchive: Vec<IpAddr>,
    pub debarchive_port: u16,
    pub ports: ServicePorts,
    /// The certificate bundle, once there is one; without it no TLS frontend
    /// is rendered (port 80 still serves).
    pub tls_pem: Option<PathBuf>,
    pub errors_dir: PathBuf,
}

impl Settings {
    pub fn from_config(config: &CharmConfig, tls_pem: Option<PathBuf>, errors_dir: PathBuf) -> Self {
        Self {
            worker_counts: config.worker_counts,
            redirect_https: config.redirect_https,
            enable_hostagent_messenger: config.enable_hostagent_messenger,
            enable_ubuntu_installer_attach: config.enable_ubuntu_installer_attach,
            global_maxconn: config.max_global_haproxy_connections,
            limits: config.haproxy_limits,
            metrics: None,
            certificate_expiry: None,
            trusted_proxies: config.haproxy_trusted_proxies.clone(),
            route_health: vec![],
            debarchive: vec![],
            debarchive_port: config.debarchive_gateway_port,
            ports: config.ports,
            tls_pem,
            errors_dir,
        }
    }
}

impl Settings {
    /// Whether this unit's HAProxy serves `service` (the gRPC ones have a flag each).
    pub fn serves(&self, service: LandscapeService) -> bool {
        match service {
            LandscapeService::HostagentMessenger => self.enable_hostagent_messenger,
            LandscapeService::UbuntuInstallerAttach => self.enable_ubuntu_installer_attach,
            _ => true,
        }
    }
}

/// `10.1.77.18` → `10-1-77-18`; `fd00::1` → `fd00--1`.
fn ip_slug(ip: &IpAddr) -> String {
    ip.to_string().replace(['.', ':'], "-")
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum WebScheme {
    Http,
    Https,
}

impl WebScheme {
    fn prefix(self) -> &'static str {
        match self {
            WebScheme::Http => "landscape-http",
            WebScheme::Https => "landscape-https",
        }
    }
}

/// `path_beg -i <prefix>`, named as the table names it.
fn path_acl(path: WebPath) -> Acl {
    Acl { name: path.acl, criterion: Cow::Owned(format!("path_beg -i {}", path.prefix)) }
}
const ACL_METRICS: Acl = Acl::fixed("metrics", "path_end /metrics");
const ACL_PROMETHEUS_METRICS: Acl = Acl::fixed("prometheus_metrics", "path_beg -i /metrics");
/// `/debarchive` and below, not `/debarchive-other`.
const ACL_DEBARCHIVE: Acl = Acl::fixed("debarchive", "path_reg -i ^/debarchive(/|$)");
const DEBARCHIVE_BACKEND: &str = "debarchive";
/// The debarchive service's own health endpoint, under the stripped prefix.
const DEBARCHIVE_CHECK_PATH: &str = "/v1beta1/mirrors";
/// The debarchive API answers a request without credentials (the check's)
/// with 401: that answer proves it is serving, so it counts as up.
const DEBARCHIVE_CHECK_EXPECT: &str = "rstatus ^([23][0-9][0-9]|401)$";
/// A trusted proxy in front (the ingress HAProxy) ended TLS and says so.
/// Redirecting such a request would send the client back to the same proxy,
/// which sends it here again: a loop.
const ACL_FORWARDED_HTTPS: Acl = Acl::fixed("forwarded_https", "req.hdr(X-Forwarded-Proto) -i https");
const ACL_FORWARDED_PROTO: Acl = Acl::fixed("forwarded_proto", "req.hdr(X-Forwarded-Proto) -m found");
/// The last `X-Forwarded-For` entry (over every header line), when it is an
/// address: the one the sending proxy appended.
const LAST_FORWARDED_FOR: &str = "req.hdr_ip(X-Forwarded-For,-1)";
const ACL_FORWARDED_FOR: Acl = Acl::fixed("forwarded_for", "req.hdr_ip(X-Forwarded-For,-1) -m found");
const TRUSTED_PROXY: &str = "trusted_proxy";

/// The `X-Forwarded-*` headers Landscape gets: a client's own are dropped
/// (`X-Forwarded-For`, which `option forwardfor` then sets from the
/// connection) or replaced (`X-Forwarded-Proto`, the scheme of the
/// connection: `proto`), unless it is a trusted proxy. Of a trusted proxy's
/// `X-Forwarded-For` only the last entry is kept, the address that proxy
/// saw: the entries before it came from its client, who can write anything
/// there. Landscape builds absolute URLs and decides "secure" from these
/// headers, and records the client's address, so a value any client can
/// send must not reach it unchanged.
fn forwarded_headers(proto: &str, trusted: &[Network]) -> (Vec<Acl>, Vec<String>) {
    if trusted.is_empty() {
        let rules = vec!["del-header X-Forwarded-For".to_string(), format!("set-header X-Forwarded-Proto {proto}")];
        return (vec![], rules);
    }
    let mut acls = trusted_proxy_acls(trusted);
    acls.extend([ACL_FORWARDED_FOR, ACL_FORWARDED_PROTO]);
    let trusted_for = format!("{TRUSTED_PROXY} {}", ACL_FORWARDED_FOR.name);
    let rules = vec![
        format!("set-header X-Forwarded-For %[{LAST_FORWARDED_FOR}] if {trusted_for}"),
        format!("del-header X-Forwarded-For unless {trusted_for}"),
        format!("set-header X-Forwarded-Proto {proto} unless {TRUSTED_PROXY} {}", ACL_FORWARDED_PROTO.name),
    ];
    (acls, rules)
}

/// The most networks one `acl` line names: HAProxy reads at most 64 words a
/// line, and the line has three more (`acl`, the name, `src`).
pub const NETWORKS_PER_ACL_LINE: usize = 60;

/// `acl trusted_proxy src …`, over as many lines as the networks need
/// (HAProxy ORs the lines of one ACL).
fn trusted_proxy_acls(trusted: &[Network]) -> Vec<Acl> {
    trusted
        .chunks(NETWORKS_PER_ACL_LINE)
        .map(|chunk| {
            let sources: Vec<String> = chunk.iter().map(Network::to_string).collect();
            Acl { name: TRUSTED_PROXY, criterion: Cow::Owned(format!("src {}", sources.join(" "))) }
        })
        .collect()
}

/// The HTTP (80) or HTTPS (443) service: one definition for both.
///
/// The seed also carried `http-request replace-path ^([^\ ]*)\ /upload/(.*) /\1`.
/// It is left out on purpose: the regex only matches a path with a literal
/// space, and HAProxy rejects such requests with 400 before any rule runs, so
/// the rule never fired. `/upload/...` reaches the package-upload server
/// unchanged, exactly as it does today (a test proves it).
fn web_service(scheme: WebScheme, topology: &Topology, settings: &Settings) -> Service {
    Service { frontend: web_frontend(scheme, settings), backends: web_backends(scheme, topology, settings) }
}

/// The frontend on 80 or 443: metrics refused, the redirect on 80, a route
/// per path prefix, the appserver by default.
fn web_frontend(scheme: WebScheme, settings: &Settings) -> Frontend {
    let prefix = scheme.prefix();
    let backend = |suffix: &str| format!("{prefix}-{suffix}");
    let trusted = &settings.trusted_proxies;
    let mut acls = vec![
        path_acl(ports::PING_PATH),
        path_acl(ports::REPOSITORY_PATH),
        path_acl(ports::MESSAGE_SYSTEM_PATH),
        path_acl(ports::ATTACHMENT_PATH),
        path_acl(ports::API_PATH),
        path_acl(ports::HASH_ID_DATABASES_PATH),
        path_acl(ports::UPLOAD_PATH),
        ACL_METRICS,
        ACL_PROMETHEUS_METRICS,
    ];
    let mut http_request = vec!["deny if metrics".to_string(), "deny if prometheus_metrics".to_string()];
    let (proto, tls) = match scheme {
        WebScheme::Http => ("http", None),
        WebScheme::Https => {
            let cert = settings.tls_pem.as_ref().map(|p| p.display().to_string()).unwrap_or_default();
            ("https", Some(Tls { cert, alpn_h2: false }))
        }
    };
    if scheme == WebScheme::Http {
        // First: a health check must not be redirected or denied.
        http_request.splice(0..0, route_health_rules(&settings.route_health));
    }
    let (forwarded_acls, forwarded_rules) = forwarded_headers(proto, trusted);
    acls.extend(forwarded_acls);
    http_request.extend(forwarded_rules);
    let redirect = if scheme == WebScheme::Http { port_80_redirect(settings) } else { None };
    if redirect.is_some() && !trusted.is_empty() {
        acls.push(ACL_FORWARDED_HTTPS);
    }
    let routes = web_routes(scheme, settings, &mut acls);
    Frontend {
        name: prefix,
        port: if scheme == WebScheme::Http { HTTP_PORT } else { HTTPS_PORT },
        tls,
        timeout_client: Some(CLIENT_TIMEOUT_MS),
        acls,
        http_request,
        redirect,
        routes,
        default_backend: backend("appserver"),
    }
}

/// Port 80's redirect to HTTPS, as `redirect_https` says.
fn port_80_redirect(settings: &Settings) -> Option<String> {
    // Only a trusted proxy's word that TLS ended in front spares a redirect.
    let trusted = !settings.trusted_proxies.is_empty();
    let spared = trusted.then(|| format!("{TRUSTED_PROXY} {}", ACL_FORWARDED_HTTPS.name));
    match (settings.redirect_https, &spared) {
        (RedirectHttps::None, _) => None,
        (RedirectHttps::All, None) => Some("redirect scheme https".to_string()),
        (RedirectHttps::All, Some(spared)) => Some(format!("redirect scheme https unless {spared}")),
        // Like /repository, the debarchive serves APT clients, which the
        // 26.04 charm let use plain HTTP (its route's allow_http).
        (RedirectHttps::Default, spared) => Some(format!(
            "redirect scheme https unless {} OR {}{}{}",
            ports::PING_PATH.acl,
            ports::REPOSITORY_PATH.acl,
            if settings.debarchive.is_empty() { "" } else { " OR debarchive" },
            spared.as_ref().map(|s| format!(" OR {s}")).unwrap_or_default()
        )),
    }
}

/// A route per path prefix, and `/debarchive` while a debarchive unit is
/// there to serve it (it goes first: `/` must not swallow it).
fn web_routes(scheme: WebScheme, settings: &Settings, acls: &mut Vec<Acl>) -> Vec<Route> {
    let backend = |suffix: &str| format!("{}-{suffix}", scheme.prefix());
    let mut routes = vec![];
    if !settings.debarchive.is_empty() {
        acls.push(ACL_DEBARCHIVE);
        routes.push(Route { backend: backend(DEBARCHIVE_BACKEND), acl: ACL_DEBARCHIVE.name });
    }
    routes.extend([
        Route { backend: backend("message"), acl: ports::MESSAGE_SYSTEM_PATH.acl },
        Route { backend: backend("message"), acl: ports::ATTACHMENT_PATH.acl },
        Route { backend: backend("api"), acl: ports::API_PATH.acl },
        Route { backend: backend("ping"), acl: ports::PING_PATH.acl },
        Route { backend: backend(HASHIDS_BACKEND), acl: ports::HASH_ID_DATABASES_PATH.acl },
        Route { backend: backend("package-upload"), acl: ports::UPLOAD_PATH.acl },
    ]);
    routes
}

/// Where port 80 answers a haproxy-route provider's health check of one
/// route: `<prefix><route>`.
pub const ROUTE_HEALTH_PREFIX: &str = "/haproxy-route-health/";

/// One haproxy-route route's health on this unit: up while one of its
/// backends (suffixes of `landscape-http-…`) has a server up. (The
/// leader-only route carries package upload and the hash-id databases; in
/// the deployment modes without package upload, the hash-id databases must
/// still be reachable through it.)
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteHealth {
    pub route: &'static str,
    pub backends: Vec<&'static str>,
}

/// `200 up` for a route with a backend that has a server up, `503 down` for
/// any other path under the prefix. The provider's check then follows the
/// route's backends on this unit, not just this HAProxy being there.
fn route_health_rules(routes: &[RouteHealth]) -> Vec<String> {
    if routes.is_empty() {
        return vec![];
    }
    let mut rules: Vec<String> = routes
        .iter()
        .flat_map(|route| {
            route.backends.iter().map(move |backend| {
                format!(
                    "return status 200 content-type text/plain string up if {{ path {ROUTE_HEALTH_PREFIX}{} }} \
                     {{ nbsrv({}-{backend}) gt 0 }}",
                    route.route,
                    WebScheme::Http.prefix()
                )
            })
        })
        .collect();
    rules
        .push(format!("return status 503 content-type text/plain string down if {{ path_beg {ROUTE_HEALTH_PREFIX} }}"));
    rules
}

/// The hash-id databases are the leader's appservers.
pub const HASHIDS_BACKEND: &str = "hashid-databases";

/// A backend per web service of the table, in its order, then the hash-id
/// databases: every unit's workers, or the leader's for a leader-only one.
fn web_backends(scheme: WebScheme, topology: &Topology, settings: &Settings) -> Vec<Backend> {
    let http_backend = |suffix: &str, servers| Backend {
        name: format!("{}-{suffix}", scheme.prefix()),
        http_checks: true,
        check_path: "/",
        check_expect: None,
        http_request: vec![],
        timeout_server: SERVER_TIMEOUT_MS,
        servers,
    };
    let mut backends: Vec<Backend> = ports::SERVICES
        .iter()
        .filter_map(|spec| match spec.route {
            ports::Route::Web { backend } => Some(http_backend(backend, servers_of(spec, topology, settings))),
            ports::Route::Grpc { .. } => None,
        })
        .collect();
    let appserver = ports::spec(LandscapeService::Appserver);
    backends.push(http_backend(HASHIDS_BACKEND, leader_servers(appserver, topology.leader_ip, settings)));
    if !settings.debarchive.is_empty() {
        let servers = settings
            .debarchive
            .iter()
            .map(|ip| {
                Server::new(format!("landscape-debarchive-{}", ip_slug(ip)), *ip, settings.debarchive_port, false)
            })
            .collect();
        backends.push(Backend {
            check_path: DEBARCHIVE_CHECK_PATH,
            check_expect: Some(DEBARCHIVE_CHECK_EXPECT),
            // The debarchive service serves from `/`.
            http_request: vec!["set-path %[path,regsub(^/debarchive/?,/)]".to_string()],
            ..http_backend(DEBARCHIVE_BACKEND, servers)
        });
    }
    backends
}

/// The servers of one service: on every unit, or on the leader.
fn servers_of(spec: &ServiceSpec, topology: &Topology, settings: &Settings) -> Vec<Server> {
    if spec.placement == Placement::Leader {
        return leader_servers(spec, topology.leader_ip, settings);
    }
    let ports = settings.ports.ports_of(spec.service, settings.worker_counts);
    topology
        .unit_ips
        .iter()
        .flat_map(|ip| {
            ports.iter().enumerate().map(move |(i, port)| {
                Server::new(format!("landscape-{}-{}-{i}", spec.server, ip_slug(ip)), *ip, *port, false)
                    .drained_if(topology, ip)
            })
        })
        .collect()
}

/// The servers of one service on the leader, once its address is known:
/// `landscape-leader-<server>`, with `-<i>` per worker.
fn leader_servers(spec: &ServiceSpec, leader: Option<IpAddr>, settings: &Settings) -> Vec<Server> {
    let Some(ip) = leader else { return vec![] };
    let ports = settings.ports.ports_of(spec.service, settings.worker_counts);
    ports
        .iter()
        .enumerate()
        .map(|(i, port)| {
            let name = if spec.ports == Ports::One {
                format!("landscape-leader-{}", spec.server)
            } else {
                format!("landscape-leader-{}-{i}", spec.server)
            };
            Server::new(name, ip, *port, false)
        })
        .collect()
}

/// The backend of a gRPC frontend. Not the frontend's own name (the seed's
/// choice): HAProxy 3.2 warns that a backend named as a frontend "will not be
/// supported anymore in version 3.3", and 3.3 refuses it.
fn grpc_backend_name(frontend: &str) -> String {
    format!("{frontend}-servers")
}

/// A gRPC service: TLS with ALPN h2 in front, one h2c server per unit behind.
fn grpc_service(name: &'static str, port: u16, backend_port: u16, topology: &Topology, settings: &Settings) -> Service {
    let (mut acls, mut http_request) = forwarded_headers("https", &settings.trusted_proxies);
    if name == "landscape-ubuntu-installer-attach" {
        // The X-FQDN header is required for multitenant installations.
        acls.push(Acl::fixed("host_found", "hdr(host) -m found"));
        http_request.extend([
            "set-var(req.full_fqdn) hdr(authority) if !host_found".to_string(),
            "set-var(req.full_fqdn) hdr(host) if host_found".to_string(),
            "set-header X-FQDN %[var(req.full_fqdn)]".to_string(),
        ]);
    }
    let cert = settings.tls_pem.as_ref().map(|p| p.display().to_string()).unwrap_or_default();
    Service {
        frontend: Frontend {
            name,
            port,
            tls: Some(Tls { cert, alpn_h2: true }),
            timeout_client: None,
            acls,
            http_request,
            redirect: None,
            routes: vec![],
            default_backend: grpc_backend_name(name),
        },
        backends: vec![Backend {
            name: grpc_backend_name(name),
            http_checks: false,
            check_path: "/",
            check_expect: None,
            http_request: vec![],
            timeout_server: SERVER_TIMEOUT_MS,
            servers: topology
                .unit_ips
                .iter()
                .map(|ip| {
                    Server::new(format!("{name}-{}", ip_slug(ip)), *ip, backend_port, true).drained_if(topology, ip)
                })
                .collect(),
        }],
    }
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
        error_files: ERROR_PAGES
            .iter()
            .map(|(status, file)| ErrorFile {
                status: *status,
                path: settings.errors_dir.join(file).display().to_string(),
            })
            .collect(),
        services,
    }
}

/// The frontend ports this configuration listens on.
pub fn listening_ports(config: &HaproxyConfig) -> Vec<u16> {
    config.services.iter().map(|s| s.frontend.port).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

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
