//! The external HAProxy of `bundles/landscape-scalable-ingress.yaml`, in a
//! namespace of its own in front of the units.
//!
//! Its config is what haproxy-operator renders for the routes that the
//! bundle's ingress-configurators give it (haproxy-operator's
//! `haproxy_route.cfg.j2` and `haproxy_route_grpc.cfg.j2`, as of its commit
//! 165497fb): one frontend on 80 and 443 with host and path ACLs, the HTTP to
//! HTTPS redirect unless `allow-http`, `X-Forwarded-Proto` from the scheme,
//! a frontend per `external-grpc-port`, and `ssl ca-file` towards https
//! backends; and haproxy-route-tcp routes as `haproxy_route_tcp.cfg.j2`
//! renders them (a `mode tcp` frontend per port, TLS passed through and
//! chosen by SNI). The routes come from the bundle file itself (each
//! configurator's options) and from what the units published on their
//! ingress relations (the port, each unit's `ip`), as ingress-configurator's
//! adapter mode reads them.

use std::path::Path;
use std::process::Child;

use serde_yaml_ng::Value;

use super::model::{INGRESS_RELATIONS, Model, ROUTE_RELATIONS};
use super::net::{Host, ns_spawn};
use super::shims::real_haproxy;

/// One haproxy-route backend, as haproxy-operator sees it.
#[derive(Debug, Clone)]
pub struct Route {
    /// `<model>-<configurator app>`, as ingress-configurator names it, or
    /// the requirer's `service`.
    pub service: String,
    pub hostname: String,
    pub paths: Vec<String>,
    pub deny_paths: Vec<String>,
    pub https: bool,
    pub allow_http: bool,
    pub grpc_port: Option<u16>,
    /// `(interval seconds, rise, fall, path)`.
    pub check: Option<(u64, u64, u64, Option<String>)>,
    pub timeout_server: u64,
    pub servers: Vec<(String, u16)>,
    /// A haproxy-route-tcp route: its port at the edge (TLS passed through;
    /// `hostname` is its SNI).
    pub tcp_port: Option<u16>,
}

/// The requirer application of the lab's haproxy-route-tcp routes (the
/// provider names their backends and servers after it).
const TCP_REQUIRER: &str = "landscape-server";

/// haproxy-operator's order of the HTTP backends: by the depth of their
/// deepest path, deepest first (`len(path.rstrip("/").split("/"))`, 1
/// without paths), ties in relation order (Python's sort is stable).
fn path_depth(route: &Route) -> usize {
    route.paths.iter().map(|p| p.trim_end_matches('/').split('/').count()).max().unwrap_or(1)
}

/// The bundle whose routes the edge serves.
pub fn ingress_bundle() -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("bundles/landscape-scalable-ingress.yaml");
    serde_yaml_ng::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn json_string(raw: Option<&String>) -> Option<String> {
    raw.and_then(|r| serde_json::from_str::<serde_json::Value>(r).ok()).map(|v| match v {
        serde_json::Value::String(s) => s,
        other => other.to_string(),
    })
}

/// The routes of every configurator related to a landscape-server ingress
/// endpoint in `bundle`, with the ports and addresses the units published.
pub fn routes(bundle: &Value, model: &Model) -> Vec<Route> {
    let mut routes = Vec::new();
    for pair in bundle["relations"].as_sequence().into_iter().flatten() {
        let ends: Vec<&str> = [&pair[0], &pair[1]].iter().filter_map(|e| e.as_str()).collect();
        let Some(ours) = ends.iter().find_map(|e| e.strip_prefix("landscape-server:")) else { continue };
        let Some(configurator) = ends.iter().find_map(|e| e.strip_suffix(":ingress")) else { continue };
        let Some((_, id)) = INGRESS_RELATIONS.iter().find(|(endpoint, _)| endpoint == &ours) else { continue };
        let options = &bundle["applications"][configurator]["options"];
        let text = |key: &str| crate::bundles::option_str(options, key);
        let leader = model.leader();
        let app = leader.unit.state.relation(*id).map(|r| r.local_app_data.clone()).unwrap_or_default();
        let port: u16 = json_string(app.get("port")).and_then(|p| p.parse().ok()).expect("the charm published a port");
        let servers = model
            .units
            .iter()
            .filter_map(|u| u.unit.state.relation(*id).and_then(|r| json_string(r.local_unit_data.get("ip"))))
            .map(|ip| (ip, port))
            .collect();
        routes.push(Route {
            service: format!("lab-{configurator}"),
            hostname: text("hostname").expect("a hostname"),
            paths: text("paths").map(|p| p.split(',').map(str::to_string).collect()).unwrap_or_default(),
            deny_paths: vec![],
            https: text("backend-protocol").as_deref() == Some("https"),
            allow_http: options["allow-http"].as_bool().unwrap_or(false),
            grpc_port: text("external-grpc-port").and_then(|p| p.parse().ok()),
            check: ingress_check(options),
            timeout_server: 60,
            servers,
            tcp_port: None,
        });
    }
    routes
}

/// The health check a configurator's options ask haproxy-operator for:
/// interval, rise, fall (all three, or none), and the path.
fn ingress_check(options: &Value) -> Option<(u64, u64, u64, Option<String>)> {
    let n = |key: &str| options[key].as_u64();
    let path = crate::bundles::option_str(options, "health-check-path");
    Some((n("health-check-interval")?, n("health-check-rise")?, n("health-check-fall")?, path))
}

/// The routes the units published on their haproxy-route relations (the
/// leader's application bags, each unit's `address`).
pub fn haproxy_routes(model: &Model) -> Vec<Route> {
    let mut routes = vec![];
    for (_, id) in ROUTE_RELATIONS {
        let app = model.route_request(id);
        if app.is_empty() {
            continue;
        }
        let addresses: Vec<String> = model
            .units
            .iter()
            .filter_map(|u| u.unit.state.relation(id).and_then(|r| json_string(r.local_unit_data.get("address"))))
            .collect();
        routes.push(route_from_bag(&app, &addresses));
    }
    routes
}

/// One route as haproxy-operator reads a requirer's bags: each field of the
/// application bag a JSON document (defaults for absent ones), the servers
/// `hosts` or else the units' addresses, times `ports`.
pub fn route_from_bag(app: &crate::harness::Databag, unit_addresses: &[String]) -> Route {
    let field = |key: &str| app.get(key).map(|raw| serde_json::from_str::<serde_json::Value>(raw).unwrap());
    let strings =
        |key: &str| -> Vec<String> { field(key).map(|v| serde_json::from_value(v).unwrap()).unwrap_or_default() };
    let text = |key: &str| field(key).and_then(|v| v.as_str().map(str::to_string));
    let check = field("check").map(|c| {
        let n = |k: &str| c[k].as_u64().unwrap_or_else(|| panic!("check has no {k}"));
        (n("interval"), n("rise"), n("fall"), c["path"].as_str().map(str::to_string))
    });
    let timeout_server = field("timeout").and_then(|t| t["server"].as_u64()).unwrap_or(60);
    if let Some(port) = field("port").and_then(|p| p.as_u64()).map(|p| p as u16) {
        // haproxy-route-tcp: servers on backend_port (the port by default).
        let backend_port = field("backend_port").and_then(|p| p.as_u64()).map_or(port, |p| p as u16);
        let mut addresses = strings("hosts");
        if addresses.is_empty() {
            addresses = unit_addresses.to_vec();
        }
        return Route {
            service: format!("{TCP_REQUIRER}_{port}_{port}"),
            hostname: text("sni").expect("sni"),
            paths: vec![],
            deny_paths: vec![],
            https: true,
            allow_http: false,
            grpc_port: None,
            check,
            timeout_server,
            servers: addresses.into_iter().map(|a| (a, backend_port)).collect(),
            tcp_port: Some(port),
        };
    }
    let ports: Vec<u16> = field("ports").map(|v| serde_json::from_value(v).unwrap()).expect("ports");
    let mut addresses = strings("hosts");
    if addresses.is_empty() {
        addresses = unit_addresses.to_vec();
    }
    let servers = addresses.iter().flat_map(|a| ports.iter().map(move |p| (a.clone(), *p))).collect();
    Route {
        service: text("service").expect("service"),
        hostname: text("hostname").expect("hostname"),
        paths: strings("paths"),
        deny_paths: strings("deny_paths"),
        https: text("protocol").as_deref() == Some("https"),
        allow_http: field("allow_http").and_then(|v| v.as_bool()).unwrap_or(false),
        grpc_port: field("external_grpc_port").and_then(|v| v.as_u64()).map(|p| p as u16),
        check,
        timeout_server,
        servers,
        tcp_port: None,
    }
}

/// haproxy-operator's config for `routes`: certificates from `cert_dir`, the
/// CAs of https backends from `cas_file`.
pub fn render(routes: &[Route], cert_dir: &Path, cas_file: &Path) -> String {
    let (cert_dir, cas) = (cert_dir.display(), cas_file.display());
    let mut out = String::from(
        "global\n    maxconn 4096\n    log stdout format raw local0\n\ndefaults\n    log global\n    mode http\n    option httplog\n    \
         option dontlognull\n    retries 3\n    timeout queue 20000\n    timeout connect 5000\n    \
         timeout server 50000\n    timeout client 50000\n\n",
    );
    let mut http: Vec<&Route> = routes.iter().filter(|r| r.grpc_port.is_none() && r.tcp_port.is_none()).collect();
    http.sort_by_key(|r| std::cmp::Reverse(path_depth(r)));
    out += &format!(
        "frontend haproxy\n    mode http\n    bind [::]:80 v4v6\n    bind [::]:443 v4v6 ssl crt {cert_dir} alpn h2,http/1.1\n"
    );
    let allow: Vec<&&Route> = http.iter().filter(|r| r.allow_http).collect();
    for r in &allow {
        out += &format!("    acl is_allow_http req.hdr(host),field(1,:) -i {}\n", r.hostname);
        if !r.paths.is_empty() {
            out += &format!("    acl is_allow_http path_beg -i {}\n", r.paths.join(" "));
        }
        if !r.deny_paths.is_empty() {
            out += &format!("    acl is_allow_http !path_beg -i {}\n", r.deny_paths.join(" "));
        }
    }
    let unless_allowed = if allow.is_empty() { "" } else { " || is_allow_http" };
    out += &format!("    http-request redirect scheme https unless {{ ssl_fc }}{unless_allowed}\n");
    out += "    http-request set-header X-Forwarded-Proto %[ssl_fc,iif(https,http)]\n";
    for r in &http {
        let name = &r.service;
        if !r.paths.is_empty() {
            out += &format!("    acl acl_path_{name} path_beg -i {}\n", r.paths.join(" "));
        }
        out += &format!("    acl acl_host_{name} req.hdr(host),field(1,:) -i {}\n", r.hostname);
        let path = if r.paths.is_empty() { String::new() } else { format!("acl_path_{name} ") };
        let deny = if r.deny_paths.is_empty() {
            String::new()
        } else {
            out += &format!("    acl acl_deny_path_{name} path_beg -i {}\n", r.deny_paths.join(" "));
            format!(" !acl_deny_path_{name}")
        };
        out += &format!("    use_backend {name} if {path}acl_host_{name}{deny}\n");
    }
    out += "    default_backend default\n\n";
    for r in &http {
        out += &format!("backend {}\n    option forwardfor\n    balance leastconn\n", r.service);
        out += &format!("    timeout server {}s\n    timeout connect 60s\n    timeout queue 60s\n", r.timeout_server);
        let tls =
            if r.https { format!(" ssl ca-file {cas} alpn h2,http/1.1 check-alpn h2,http/1.1") } else { String::new() };
        if !r.https {
            let path = r.check.as_ref().and_then(|c| c.3.as_ref()).map(|p| format!(" GET {p}")).unwrap_or_default();
            out += &format!("    option httpchk{path}\n    http-check send hdr Host {}\n", r.hostname);
        }
        let check = server_check(r);
        for (i, (address, port)) in r.servers.iter().enumerate() {
            out += &format!("    server {}_{port}_{i} {address}:{port}{check}{tls}\n", r.service);
        }
        out += "\n";
    }
    for r in routes.iter().filter(|r| r.grpc_port.is_some()) {
        let (name, port) = (&r.service, r.grpc_port.unwrap_or_default());
        out += &format!(
            "frontend {name}\n    mode http\n    bind [::]:{port} v4v6 ssl crt {cert_dir} alpn h2\n    \
             acl acl_host_{name} req.hdr(host),field(1,:) -i {}\n    use_backend {name} if acl_host_{name}\n\n",
            r.hostname
        );
        out += &format!(
            "backend {name}\n    balance leastconn\n    timeout server {}s\n    timeout connect 60s\n",
            r.timeout_server
        );
        for (i, (address, port)) in r.servers.iter().enumerate() {
            out += &format!("    server {name}_{port}_{i} {address}:{port} ssl ca-file {cas} alpn h2 check-alpn h2\n");
        }
        out += "\n";
    }
    out += "backend default\n    http-request return status 200 content-type \"text/plain\" string \"Default page for the haproxy-operator charm\"\n";
    for r in routes.iter().filter(|r| r.tcp_port.is_some()) {
        out += &render_tcp(r);
    }
    out
}

/// A server's check as haproxy-operator renders it: only when one was sent.
fn server_check(r: &Route) -> String {
    r.check
        .as_ref()
        .map(|(interval, rise, fall, _)| format!(" check inter {interval}s rise {rise} fall {fall}"))
        .unwrap_or_default()
}

/// One haproxy-route-tcp route as `haproxy_route_tcp.cfg.j2` renders a port
/// with one SNI backend and TLS passed through: the hello inspected, the
/// backend chosen by `req.ssl_sni`, anything else refused.
fn render_tcp(r: &Route) -> String {
    let (name, port) = (&r.service, r.tcp_port.unwrap_or_default());
    let default = format!("haproxy_route_tcp_{port}_default_backend");
    let mut out = format!(
        "\nfrontend haproxy_route_tcp_{port}\n    mode tcp\n    option tcplog\n    bind [::]:{port} v4v6\n    \
         tcp-request inspect-delay 5s\n    tcp-request content accept if {{ req_ssl_hello_type 1 }}\n    \
         tcp-request content reject\n    acl is_{name} req.ssl_sni -i {}\n    use_backend {name} if is_{name}\n    \
         default_backend {default}\n\nbackend {default}\n    mode tcp\n\n",
        r.hostname
    );
    out += &format!("backend {name}\n    mode tcp\n    timeout server {}s\n", r.timeout_server);
    let check = server_check(r);
    for (i, (address, port)) in r.servers.iter().enumerate() {
        let address = if address.contains(':') { format!("[{address}]") } else { address.clone() };
        out += &format!("    server {TCP_REQUIRER}-{i} {address}:{port}{check}\n");
    }
    out
}

/// The running edge: its host, and its HAProxy (killed when dropped).
pub struct Edge {
    pub host: Host,
    pub hostname: String,
    dir: std::path::PathBuf,
    haproxy: Option<Child>,
}

impl Edge {
    /// Starts the edge for the scalable-ingress bundle's routes.
    pub fn start(model: &mut Model, octet: u8) -> Edge {
        let routes = routes(&ingress_bundle(), model);
        assert!(!routes.is_empty(), "the bundle relates no configurator to landscape-server");
        Edge::start_with(model, octet, &routes)
    }

    /// Starts the edge for `routes`: a certificate for the routes' hostname
    /// from the lab CA, the lab CA as the `receive-ca-certs` CA.
    pub fn start_with(model: &mut Model, octet: u8, routes: &[Route]) -> Edge {
        let hostname = routes[0].hostname.clone();
        let dir = model.net.dir().join("edge");
        let cert_dir = dir.join("certs");
        std::fs::create_dir_all(&cert_dir).unwrap();
        let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        let csr = rcgen::CertificateParams::new(vec![hostname.clone()]).unwrap().serialize_request(&key).unwrap();
        let cert = model.ca.sign(&csr.pem().unwrap(), 0, 30);
        std::fs::write(cert_dir.join(format!("{hostname}.pem")), format!("{cert}\n{}", key.serialize_pem())).unwrap();
        let host = model.net.add_host("edge", octet).unwrap_or_else(|e| panic!("{e}"));
        let mut edge = Edge { host, hostname, dir, haproxy: None };
        edge.serve(model, routes);
        edge
    }

    /// (Re)starts the edge's HAProxy on `routes`, as haproxy-operator
    /// renders them after a change; the config is checked by `haproxy -c` first.
    pub fn serve(&mut self, model: &Model, routes: &[Route]) {
        self.stop();
        let config = self.dir.join("haproxy.cfg");
        std::fs::write(&config, render(routes, &self.dir.join("certs"), &model.ca_file())).unwrap();
        let haproxy = real_haproxy();
        let cfg = config.display().to_string();
        let check = std::process::Command::new(&haproxy).args(["-c", "-q", "-f", &cfg]).output().unwrap();
        assert!(check.status.success(), "edge config:\n{}", String::from_utf8_lossy(&check.stderr));
        let socket = self.master_socket().display().to_string();
        let log = self.dir.join("haproxy.log");
        let argv = [haproxy.as_str(), "-W", "-db", "-S", socket.as_str(), "-f", cfg.as_str()];
        self.haproxy = Some(ns_spawn(&self.host.namespace, &argv, &log).unwrap_or_else(|e| panic!("{e}")));
        self.wait_until_listening(&log);
    }

    /// The edge HAProxy's master CLI.
    pub fn master_socket(&self) -> std::path::PathBuf {
        self.dir.join("master.sock")
    }

    /// The edge's config as it is running.
    pub fn config(&self) -> String {
        std::fs::read_to_string(self.dir.join("haproxy.cfg")).unwrap_or_default()
    }

    fn stop(&mut self) {
        if let Some(mut child) = self.haproxy.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Until HAProxy accepts on port 80 (its default page answers).
    fn wait_until_listening(&self, log: &Path) {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        let url = format!("http://{}/", self.host.address);
        loop {
            let out = super::net::ns_output(&self.host.namespace, &["curl", "-s", "-o", "/dev/null", &url]);
            if out.status.success() {
                return;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "the edge HAProxy does not listen; log:\n{}",
                std::fs::read_to_string(log).unwrap_or_default()
            );
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
    }
}

impl Drop for Edge {
    fn drop(&mut self) {
        self.stop();
    }
}
