//! The legacy HAProxy charm in front of the units, in a namespace of its
//! own: its config is rendered from the units' `website` bags the way that
//! charm renders it (haproxy-operator's `src/legacy.py`, which carries the
//! legacy charm's code: services merged by name, the first unit's options
//! kept, servers and backends unioned; one `frontend haproxy-<port>` per
//! service, its options split into frontend-only and backend ones; `crts`
//! `DEFAULT` is the charm's own certificate), with haproxy-operator's
//! defaults for it (`mode http`, its timeouts and retries). `tests/it/edge/website.rs` runs that code itself where it is
//! available. Each change is a graceful reload, as the legacy charm's.

use std::path::{Path, PathBuf};
use std::process::Child;

use serde_json::Value;

use super::model::Model;
use super::net::{Host, ns_spawn};
use super::shims::real_haproxy;

/// The legacy charm's frontend-only option prefixes (its
/// `frontend_only_options`, the ones Landscape's services use).
const FRONTEND_ONLY: [&str; 9] = [
    "acl",
    "bind",
    "default_backend",
    "http-request",
    "maxconn",
    "redirect",
    "tcp-request",
    "timeout client",
    "use_backend",
];
/// Options it puts in both.
const BOTH: [&str; 4] = ["mode tcp", "option tcplog", "mode http", "option httplog"];

/// The services of every unit's bag, merged as the legacy charm merges them.
fn merge(bags: &[String]) -> Vec<Value> {
    let mut merged: Vec<Value> = vec![];
    for bag in bags {
        let services: Vec<Value> = serde_yaml_ng::from_str(bag).unwrap_or_default();
        for service in services {
            let name = service["service_name"].clone();
            let Some(old) = merged.iter_mut().find(|s| s["service_name"] == name) else {
                merged.push(service);
                continue;
            };
            union(old, &service, "servers");
            for backend in service["backends"].as_array().cloned().unwrap_or_default() {
                let backends = old["backends"].as_array_mut().expect("backends");
                match backends.iter_mut().find(|b| b["backend_name"] == backend["backend_name"]) {
                    Some(existing) => union(existing, &backend, "servers"),
                    None => backends.push(backend),
                }
            }
            if let Some(backends) = old["backends"].as_array_mut() {
                backends.sort_by_key(|b| b["backend_name"].as_str().unwrap_or_default().to_string());
            }
        }
    }
    merged
}

fn union(into: &mut Value, from: &Value, key: &str) {
    let additions = from[key].as_array().cloned().unwrap_or_default();
    let target = into[key].as_array_mut().expect("a list");
    for item in additions {
        if !target.contains(&item) {
            target.push(item);
        }
    }
}

fn server_lines(servers: &Value) -> String {
    let mut text = String::new();
    for server in servers.as_array().into_iter().flatten() {
        let options: Vec<&str> = server[3].as_array().into_iter().flatten().filter_map(Value::as_str).collect();
        let port = server[2].as_u64().map(|p| p.to_string()).unwrap_or_else(|| server[2].as_str().unwrap_or("").into());
        text += &format!(
            "    server {} {}:{} {}\n",
            server[0].as_str().unwrap(),
            server[1].as_str().unwrap(),
            port,
            options.join(" ")
        );
    }
    text
}

/// The legacy charm's haproxy.cfg for these bags (`lib_dir`: its
/// /var/lib/haproxy, with `default.pem`).
pub fn render(bags: &[String], lib_dir: &Path) -> String {
    let mut config = String::from(
        "global\n    maxconn 4096\n    log /dev/log local0\n\ndefaults\n    log global\n    mode http\n    option httplog\n    option dontlognull\n    \
         retries 3\n    timeout queue 20000\n    timeout client 50000\n    timeout connect 5000\n    timeout server 50000\n",
    );
    let mut services = merge(bags);
    if services.is_empty() {
        // No unit publishes services (`website` removed): the legacy
        // charm's default service, without servers.
        services.push(serde_json::json!({
            "service_name": "haproxy_service", "service_host": "0.0.0.0", "service_port": 80,
            "service_options": ["balance leastconn"], "servers": [],
        }));
    }
    for service in services {
        let name = service["service_name"].as_str().unwrap();
        let options: Vec<&str> =
            service["service_options"].as_array().into_iter().flatten().filter_map(Value::as_str).collect();
        let frontend_only = |o: &&str| FRONTEND_ONLY.iter().any(|p| o.trim().starts_with(p));
        let both: Vec<&str> =
            BOTH.iter().copied().filter(|b| options.iter().any(|o| o.trim().starts_with(b))).collect();
        let fe: Vec<&str> = both.iter().copied().chain(options.iter().copied().filter(frontend_only)).collect();
        let be: Vec<&str> = both
            .iter()
            .copied()
            .chain(options.iter().copied().filter(|o| !frontend_only(o) && !both.contains(o)))
            .collect();
        let mut bind = format!("    bind {}:{}", service["service_host"].as_str().unwrap(), service["service_port"]);
        for (i, crt) in service["crts"].as_array().into_iter().flatten().filter_map(Value::as_str).enumerate() {
            let path = if crt == "DEFAULT" {
                lib_dir.join("default.pem")
            } else {
                use base64::Engine;
                let dir = lib_dir.join(format!("service_{name}"));
                std::fs::create_dir_all(&dir).unwrap();
                let pem = base64::engine::general_purpose::STANDARD.decode(crt).unwrap();
                std::fs::write(dir.join(format!("{i}.pem")), pem).unwrap();
                dir.join(format!("{i}.pem"))
            };
            bind += &format!("{} crt {} no-sslv3", if i == 0 { " ssl" } else { "" }, path.display());
        }
        config += &format!("\nfrontend haproxy-{}\n{bind}\n    default_backend {name}\n", service["service_port"]);
        for option in &fe {
            config += &format!("    {option}\n");
        }
        let backend = |backend_name: &str, servers: &Value| {
            let mut text = format!("\nbackend {backend_name}\n");
            for option in &be {
                text += &format!("    {option}\n");
            }
            text + &server_lines(servers)
        };
        config += &backend(name, &service["servers"]);
        for extra in service["backends"].as_array().into_iter().flatten() {
            config += &backend(extra["backend_name"].as_str().unwrap(), &extra["servers"]);
        }
    }
    config
}

/// The legacy load balancer: its host, and its HAProxy (killed when dropped).
pub struct LegacyLb {
    pub host: Host,
    dir: PathBuf,
    haproxy: Option<Child>,
    pub reloads: u32,
}

impl LegacyLb {
    /// Starts it on `bags`, with a certificate for `site` from the lab CA as
    /// its own (`DEFAULT`).
    pub fn start(model: &mut Model, octet: u8, site: &str, bags: &[String]) -> LegacyLb {
        let dir = model.net.dir().join("legacy-lb");
        std::fs::create_dir_all(&dir).unwrap();
        let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        let csr = rcgen::CertificateParams::new(vec![site.to_string()]).unwrap().serialize_request(&key).unwrap();
        let cert = model.ca.sign(&csr.pem().unwrap(), 0, 30);
        std::fs::write(dir.join("default.pem"), format!("{cert}\n{}", key.serialize_pem())).unwrap();
        let host = model.net.add_host("legacy-lb", octet).unwrap_or_else(|e| panic!("{e}"));
        let mut lb = LegacyLb { host, dir, haproxy: None, reloads: 0 };
        let cfg = lb.write(bags);
        let socket = lb.dir.join("master.sock").display().to_string();
        let log = lb.dir.join("haproxy.log");
        let haproxy = real_haproxy();
        let argv = [haproxy.as_str(), "-W", "-db", "-S", socket.as_str(), "-f", cfg.as_str()];
        lb.haproxy = Some(ns_spawn(&lb.host.namespace, &argv, &log).unwrap_or_else(|e| panic!("{e}")));
        lb.wait_for_workers(0);
        lb
    }

    fn write(&self, bags: &[String]) -> String {
        let cfg = self.dir.join("haproxy.cfg");
        let text = render(bags, &self.dir);
        let haproxy = real_haproxy();
        let candidate = self.dir.join("candidate.cfg");
        std::fs::write(&candidate, &text).unwrap();
        let check =
            std::process::Command::new(&haproxy).args(["-c", "-f", &candidate.display().to_string()]).output().unwrap();
        assert!(check.status.success(), "legacy LB config:\n{}\n{text}", String::from_utf8_lossy(&check.stderr));
        std::fs::rename(&candidate, &cfg).unwrap();
        cfg.display().to_string()
    }

    /// Renders `bags` again and reloads gracefully (the master re-reads the
    /// file; old workers finish their connections).
    pub fn reload(&mut self, bags: &[String]) {
        self.write(bags);
        self.reloads += 1;
        super::probe::master_command(&self.dir.join("master.sock"), "reload").unwrap_or_else(|e| panic!("{e}"));
        self.wait_for_workers(self.reloads);
    }

    /// Until the master counted `reloads` and runs one worker.
    fn wait_for_workers(&self, reloads: u32) {
        let socket = self.dir.join("master.sock");
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        loop {
            if let Ok(state) = super::probe::proc_state(&socket) {
                if state.reloads >= reloads && state.workers == 1 {
                    return;
                }
            }
            assert!(
                std::time::Instant::now() < deadline,
                "the legacy LB does not run; log:\n{}",
                std::fs::read_to_string(self.dir.join("haproxy.log")).unwrap_or_default()
            );
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
    }
}

impl Drop for LegacyLb {
    fn drop(&mut self) {
        if let Some(mut child) = self.haproxy.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
