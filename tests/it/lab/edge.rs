//! The external HAProxy of `bundles/landscape-scalable-ingress.yaml`, in a
//! namespace of its own in front of the units.
//!
//! Its config is what haproxy-operator renders for the routes that the
//! bundle's ingress-configurators give it (haproxy-operator's
//! `haproxy_route.cfg.j2` and `haproxy_route_grpc.cfg.j2`, as of its commit
//! 165497fb): one frontend on 80 and 443 with host and path ACLs, the HTTP to
//! HTTPS redirect unless `allow-http`, `X-Forwarded-Proto` from the scheme,
//! a frontend per `external-grpc-port`, and `ssl ca-file` towards https
//! backends. The routes come from the bundle file itself (each
//! configurator's options) and from what the units published on their
//! ingress relations (the port, each unit's `ip`), as ingress-configurator's
//! adapter mode reads them.

use std::path::Path;
use std::process::Child;

use serde_yaml_ng::Value;

use super::model::{INGRESS_RELATIONS, Model};
use super::net::{Host, ns_spawn};
use super::shims::real_haproxy;

/// One haproxy-route backend, as haproxy-operator sees it.
#[derive(Debug, Clone)]
pub struct Route {
    /// `<model>-<configurator app>`, as ingress-configurator names it.
    pub service: String,
    pub hostname: String,
    pub paths: Vec<String>,
    pub https: bool,
    pub allow_http: bool,
    pub grpc_port: Option<u16>,
    pub servers: Vec<(String, u16)>,
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
            https: text("backend-protocol").as_deref() == Some("https"),
            allow_http: options["allow-http"].as_bool().unwrap_or(false),
            grpc_port: text("external-grpc-port").and_then(|p| p.parse().ok()),
            servers,
        });
    }
    routes
}

/// haproxy-operator's config for `routes`: certificates from `cert_dir`, the
/// CAs of https backends from `cas_file`.
pub fn render(routes: &[Route], cert_dir: &Path, cas_file: &Path) -> String {
    let (cert_dir, cas) = (cert_dir.display(), cas_file.display());
    let mut out = String::from(
        "global\n    maxconn 4096\n\ndefaults\n    log global\n    mode http\n    option httplog\n    \
         option dontlognull\n    retries 3\n    timeout queue 20000\n    timeout connect 5000\n    \
         timeout server 50000\n    timeout client 50000\n\n",
    );
    let http: Vec<&Route> = routes.iter().filter(|r| r.grpc_port.is_none()).collect();
    out += &format!(
        "frontend haproxy\n    mode http\n    bind [::]:80 v4v6\n    bind [::]:443 v4v6 ssl crt {cert_dir} alpn h2,http/1.1\n"
    );
    let allow: Vec<&&Route> = http.iter().filter(|r| r.allow_http).collect();
    for r in &allow {
        out += &format!("    acl is_allow_http req.hdr(host),field(1,:) -i {}\n", r.hostname);
        if !r.paths.is_empty() {
            out += &format!("    acl is_allow_http path_beg -i {}\n", r.paths.join(" "));
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
        out += &format!("    use_backend {name} if {path}acl_host_{name}\n");
    }
    out += "    default_backend default\n\n";
    for r in &http {
        out += &format!("backend {}\n    option forwardfor\n    balance leastconn\n", r.service);
        out += "    timeout server 60s\n    timeout connect 60s\n    timeout queue 60s\n";
        let tls =
            if r.https { format!(" ssl ca-file {cas} alpn h2,http/1.1 check-alpn h2,http/1.1") } else { String::new() };
        if !r.https {
            out += "    option httpchk\n";
        }
        for (i, (address, port)) in r.servers.iter().enumerate() {
            out += &format!("    server {}_{port}_{i} {address}:{port}{tls}\n", r.service);
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
        out += &format!("backend {name}\n    balance leastconn\n    timeout server 60s\n    timeout connect 60s\n");
        for (i, (address, port)) in r.servers.iter().enumerate() {
            out += &format!("    server {name}_{port}_{i} {address}:{port} ssl ca-file {cas} alpn h2 check-alpn h2\n");
        }
        out += "\n";
    }
    out += "backend default\n    http-request return status 200 content-type \"text/plain\" string \"Default page for the haproxy-operator charm\"\n";
    out
}

/// The running edge: its host, and its HAProxy (killed when dropped).
pub struct Edge {
    pub host: Host,
    pub hostname: String,
    haproxy: Child,
}

impl Edge {
    /// Starts the edge for the scalable-ingress bundle's routes: a
    /// certificate for the routes' hostname from the lab CA, the lab CA as
    /// the `receive-ca-certs` CA, the config checked by `haproxy -c` first.
    pub fn start(model: &mut Model, octet: u8) -> Edge {
        let routes = routes(&ingress_bundle(), model);
        assert!(!routes.is_empty(), "the bundle relates no configurator to landscape-server");
        let hostname = routes[0].hostname.clone();
        let dir = model.net.dir().join("edge");
        let cert_dir = dir.join("certs");
        std::fs::create_dir_all(&cert_dir).unwrap();
        let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        let csr = rcgen::CertificateParams::new(vec![hostname.clone()]).unwrap().serialize_request(&key).unwrap();
        let cert = model.ca.sign(&csr.pem().unwrap(), 0, 30);
        std::fs::write(cert_dir.join(format!("{hostname}.pem")), format!("{cert}\n{}", key.serialize_pem())).unwrap();
        let config = dir.join("haproxy.cfg");
        std::fs::write(&config, render(&routes, &cert_dir, &model.ca_file())).unwrap();
        let haproxy = real_haproxy();
        let cfg = config.display().to_string();
        let check = std::process::Command::new(&haproxy).args(["-c", "-q", "-f", &cfg]).output().unwrap();
        assert!(check.status.success(), "edge config:\n{}", String::from_utf8_lossy(&check.stderr));
        let host = model.net.add_host("edge", octet).unwrap_or_else(|e| panic!("{e}"));
        let child = ns_spawn(&host.namespace, &[&haproxy, "-W", "-db", "-f", &cfg], &dir.join("haproxy.log"))
            .unwrap_or_else(|e| panic!("{e}"));
        let edge = Edge { host, hostname, haproxy: child };
        edge.wait_until_listening(&dir.join("haproxy.log"));
        edge
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
        let _ = self.haproxy.kill();
        let _ = self.haproxy.wait();
    }
}
