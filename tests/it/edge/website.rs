//! The deprecated `website` bridge to the legacy HAProxy charm: the bag each
//! unit publishes, read as the legacy charm reads it; trust and root URL
//! while it is related; a refresh from the Python charm with it related.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use crate::harness::{Dispatch, Unit, ready_leader};
use crate::scenario::service_conf;

const WEBSITE: u32 = 60;
const LB_ADDRESS: &str = "10.1.90.5";
const LB_PUBLIC: &str = "landscape.example.com";

/// A leader with two peers, related to one legacy HAProxy unit.
fn bridged(peers: u32) -> Unit {
    let mut unit = ready_leader(peers);
    // The load balancer's address becomes the root URL, which the services
    // restart for; the peers here never drain this unit, so at once.
    unit.set_config("haproxy_drain_timeout", serde_json::json!(0));
    relate_legacy_lb(&mut unit);
    unit
}

fn relate_legacy_lb(unit: &mut Unit) {
    let rel = unit.add_relation("website", WEBSITE, "haproxy");
    let lb = rel.remote_units.get_mut("haproxy/0").unwrap();
    for key in ["ingress-address", "private-address"] {
        lb.insert(key.into(), LB_ADDRESS.into());
    }
    lb.insert("public-address".into(), LB_PUBLIC.into());
    for kind in ["joined", "changed"] {
        let run = unit.run(Dispatch::relation("website", kind, WEBSITE, Some("haproxy/0")));
        assert_eq!(run.code, 0, "{}", run.stderr);
    }
}

/// `services` as the legacy charm reads it (YAML), as JSON values.
fn services(unit: &Unit) -> Vec<Value> {
    let text = unit.relation(WEBSITE).local_unit_data.get("services").expect("services published").clone();
    serde_yaml_ng::from_str(&text).expect("services is YAML")
}

/// Every server line (name, address, port) of every service and backend.
fn servers(services: &[Value]) -> Vec<(String, String, u64, String)> {
    let mut all = vec![];
    for service in services {
        let name = service["service_name"].as_str().unwrap().to_string();
        let lists = std::iter::once(&service["servers"])
            .chain(service["backends"].as_array().into_iter().flatten().map(|b| &b["servers"]));
        for list in lists {
            for server in list.as_array().unwrap() {
                all.push((
                    name.clone(),
                    server[1].as_str().unwrap().to_string(),
                    server[2].as_u64().unwrap(),
                    server[3].as_array().unwrap().iter().map(|o| o.as_str().unwrap()).collect::<Vec<_>>().join(" "),
                ));
            }
        }
    }
    all
}

#[test]
fn every_web_route_goes_to_the_units_own_haproxy_on_port_80() {
    let unit = bridged(2);
    let services = services(&unit);
    let names: Vec<&str> = services.iter().map(|s| s["service_name"].as_str().unwrap()).collect();
    assert_eq!(names, ["landscape-http", "landscape-https"]);
    for (service, address, port, options) in servers(&services) {
        assert_eq!((address.as_str(), port), ("10.1.77.18", 80), "{service}");
        assert!(options.starts_with("check inter 2000 rise 2 fall 3 maxconn 100"), "{options}");
    }
    // Every backend the Python charm declared, so that its units and ours
    // merge alike mid-refresh.
    let backends: Vec<&str> =
        services[1]["backends"].as_array().unwrap().iter().map(|b| b["backend_name"].as_str().unwrap()).collect();
    assert_eq!(
        backends,
        [
            "landscape-https-ping",
            "landscape-https-message",
            "landscape-https-api",
            "landscape-https-package-upload",
            "landscape-https-hashid-databases"
        ]
    );
    let https_options: Vec<&str> =
        services[1]["service_options"].as_array().unwrap().iter().filter_map(|o| o.as_str()).collect();
    assert!(https_options.contains(&"http-request set-header X-Forwarded-Proto https"));
    assert_eq!(services[1]["crts"], json!(["DEFAULT"]));
    assert!(services[0].get("crts").is_none());
    let http_options = services[0]["service_options"].to_string();
    assert!(http_options.contains("redirect scheme https unless ping OR repository"), "{http_options}");
    assert_eq!(unit.status(), ("active".into(), landscape_server::edge::website::BRIDGE_NOTE.into()));
}

#[test]
fn no_route_needs_the_units_own_certificate_and_grpc_goes_to_the_services() {
    // No load-balancer-certificates relation: the unit has no certificate.
    let mut unit = ready_leader(1);
    unit.set_config("enable_hostagent_messenger", json!(true));
    unit.set_config("enable_ubuntu_installer_attach", json!(true));
    relate_legacy_lb(&mut unit);
    let services = services(&unit);
    let ports: BTreeMap<String, Vec<u64>> = servers(&services).into_iter().fold(BTreeMap::new(), |mut m, s| {
        m.entry(s.0).or_default().push(s.2);
        m
    });
    assert_eq!(ports["landscape-grpc"], [50052]);
    assert_eq!(ports["landscape-ubuntu-installer-attach"], [53354]);
    for (service, used) in &ports {
        assert!(
            !used.iter().any(|p| [443, 6554, 50051].contains(p)),
            "{service} needs the unit's TLS frontends: {used:?}"
        );
    }
    let grpc = servers(&services).into_iter().find(|s| s.0 == "landscape-grpc").unwrap();
    assert!(grpc.3.ends_with("proto h2"), "{}", grpc.3);
    let attach = services.iter().find(|s| s["service_name"] == "landscape-ubuntu-installer-attach").unwrap();
    assert!(attach["service_options"].to_string().contains("set-header X-FQDN"));
}

#[test]
fn the_legacy_units_are_trusted_only_while_related_and_keep_the_root_url() {
    let mut unit = bridged(1);
    let config = unit.haproxy_config().unwrap();
    assert!(config.contains(&format!("{LB_ADDRESS}/32")), "the legacy load balancer is a trusted proxy");
    let root = service_conf(&unit).get("global", "root-url").unwrap();
    assert_eq!(root, format!("https://{LB_PUBLIC}/"), "the Python charm's root URL, kept");
    let run = unit.run(Dispatch::relation("website", "broken", WEBSITE, None));
    assert_eq!(run.code, 0, "{}", run.stderr);
    unit.state.relations.retain(|r| r.id != WEBSITE);
    assert!(!unit.haproxy_config().unwrap().contains(&format!("{LB_ADDRESS}/32")));
    assert_eq!(unit.status(), ("active".into(), "Unit is ready".into()));
}

#[test]
fn the_old_certificate_stays_in_service_and_its_key_in_no_output() {
    use base64::Engine;
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    let pem = crate::fixtures::test_pem();
    let cert = &pem[pem.find("-----BEGIN CERTIFICATE-----").unwrap()..];
    let cert = &cert[..cert.find("-----END CERTIFICATE-----").unwrap() + 25];
    let key_start = pem.find("-----BEGIN PRIVATE KEY-----").unwrap();
    let key = &pem[key_start..];
    let mut unit = ready_leader(0);
    unit.set_config("ssl_cert", json!(b64(cert)));
    unit.set_config("ssl_key", json!(b64(key)));
    relate_legacy_lb(&mut unit);
    let crt = services(&unit)[1]["crts"][0].as_str().unwrap().to_string();
    let decoded = String::from_utf8(base64::engine::general_purpose::STANDARD.decode(crt).unwrap()).unwrap();
    assert_eq!(decoded, format!("{cert}\n{key}"), "the Python charm's encoding: certificate, line break, key");
    let secret_line = key.lines().nth(1).unwrap();
    assert!(!unit.log_text().contains(secret_line), "the key is logged");
    assert!(!unit.status().1.contains(secret_line));
}

/// `juju refresh` from the Python charm with `website` related: the
/// harness's metadata check (the endpoint exists) passes, the relation is
/// kept, and the Python charm's `services` are replaced by the bridge's.
#[test]
fn a_refresh_from_the_python_charm_with_website_related_is_accepted() {
    let mut unit = ready_leader(0);
    let rel = unit.add_relation("website", WEBSITE, "haproxy");
    rel.local_unit_data.insert("services".into(), PYTHON_CHARM_SERVICES.into());
    rel.remote_units.get_mut("haproxy/0").unwrap().insert("public-address".into(), LB_PUBLIC.into());
    let dispatch = Dispatch::Hook("upgrade-charm".into());
    unit.check_consistency(&dispatch).expect("a state with website related is one this charm's metadata allows");
    let run = unit.run(dispatch);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let services = services(&unit);
    assert!(servers(&services).iter().all(|s| s.2 == 80), "every server is the unit's HAProxy now");
}

/// `juju refresh` from the 26.04 charm, which still provides `website`
/// until Landscape 26.10, with a legacy load balancer related: the state
/// passes the harness's metadata check, the hooks succeed, the relation and
/// every 26.04 relation are kept, and the 26.04 charm's `services` (the
/// Python charm's format) become the bridge's.
#[test]
fn a_refresh_from_the_26_04_charm_with_website_related_is_accepted() {
    // The 26.04 unit holds relation 60 (smtp) already.
    const WEBSITE_2604: u32 = 160;
    let mut unit = crate::scenario::unit_as_the_26_04_charm_left_it();
    let before: Vec<u32> = unit.state.relations.iter().map(|r| r.id).collect();
    let rel = unit.add_relation("website", WEBSITE_2604, "haproxy");
    rel.local_unit_data.insert("services".into(), python_charm_services("landscape-server/0", "10.1.77.18", 2, true));
    let lb = rel.remote_units.get_mut("haproxy/0").unwrap();
    lb.insert("public-address".into(), LB_PUBLIC.into());
    for hook in ["upgrade-charm", "config-changed"] {
        let dispatch = Dispatch::Hook(hook.into());
        unit.check_consistency(&dispatch).expect("website is one of this charm's endpoints");
        let run = unit.run(dispatch);
        assert_eq!(run.code, 0, "{hook}: {}", run.stderr);
    }
    for id in before.iter().chain([&WEBSITE_2604]) {
        assert!(unit.state.relation(*id).is_some(), "relation {id} kept");
    }
    let text = unit.relation(WEBSITE_2604).local_unit_data.get("services").cloned().expect("services");
    let services: Vec<Value> = serde_yaml_ng::from_str(&text).unwrap();
    let web: Vec<_> =
        servers(&services).into_iter().filter(|s| s.0 == "landscape-http" || s.0 == "landscape-https").collect();
    assert!(
        !web.is_empty() && web.iter().all(|s| s.1 == "10.1.77.18" && s.2 == 80),
        "the bridge's servers now: {web:?}"
    );
    let (status, message) = unit.status();
    assert_eq!((status.as_str(), message.as_str()), ("active", landscape_server::edge::website::BRIDGE_NOTE));
}

/// The start of what the Python charm publishes (its `services`, YAML).
const PYTHON_CHARM_SERVICES: &str = "- service_name: landscape-http\n  service_host: 0.0.0.0\n  service_port: 80\n  servers:\n  - - landscape-appserver-landscape-server-0-0\n    - 10.1.77.18\n    - 8080\n    - - check\n      - inter 5000\n";

/// The bags of a three-unit deployment mid-refresh, read by the legacy
/// charm's own code (haproxy-operator's `src/legacy.py`), and its config
/// checked by the real HAProxy. That code is not on a package index: the
/// test reads it from a fetched haproxy-operator (`HAPROXY_OPERATOR_REPO`, a
/// git directory), and says so and passes where there is none.
#[test]
fn the_legacy_charms_own_code_renders_a_config_haproxy_accepts() {
    let repo = std::env::var("HAPROXY_OPERATOR_REPO")
        .unwrap_or_else(|_| "/work/.mirror/canonical+haproxy-operator/repo".into());
    let legacy = std::process::Command::new("git")
        .args(["--git-dir", &repo, "show", "HEAD:haproxy-operator/src/legacy.py"])
        .output();
    let Some(legacy) = legacy.ok().filter(|o| o.status.success()) else {
        println!("no haproxy-operator at {repo}: the legacy charm's code is not run here");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let legacy_py = dir.path().join("legacy.py");
    std::fs::write(&legacy_py, legacy.stdout).unwrap();
    std::fs::write(dir.path().join("default.pem"), crate::fixtures::test_pem()).unwrap();
    let mut bags = vec![];
    for (number, address) in [(0, "10.1.77.18"), (1, "10.1.78.1")] {
        let mut unit = Unit::new(number, address);
        unit.state.leader = number == 0;
        unit.relate_workload();
        unit.set_config("enable_hostagent_messenger", json!(true));
        unit.set_config("enable_ubuntu_installer_attach", json!(true));
        unit.add_peer(1 - number, if number == 0 { "10.1.78.1" } else { "10.1.77.18" });
        unit.set_published_leader_ip("10.1.77.18");
        relate_legacy_lb(&mut unit);
        bags.push(json!([format!("landscape-server/{number}"), unit.relation(WEBSITE).local_unit_data]));
    }
    // A unit still on the Python charm, mid-refresh.
    let python = python_charm_services("landscape-server/2", "10.1.78.2", 2, false);
    bags.push(json!(["landscape-server/2", {"private-address": "10.1.78.2", "services": python}]));
    let bags_json = dir.path().join("bags.json");
    std::fs::write(&bags_json, serde_json::to_string(&bags).unwrap()).unwrap();
    let python = concat!(env!("CARGO_MANIFEST_DIR"), "/.venv-test/bin/python");
    let oracle = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/legacy_lb_oracle.py");
    let out = std::process::Command::new(python)
        .args([
            oracle,
            &legacy_py.display().to_string(),
            &bags_json.display().to_string(),
            &dir.path().display().to_string(),
        ])
        .output()
        .unwrap();
    let config = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(out.status.success(), "{}\n{config}", String::from_utf8_lossy(&out.stderr));
    crate::fixtures::haproxy_check_strict(&config).unwrap_or_else(|e| panic!("{e}\n{config}"));
    for server in
        ["landscape-haproxy-landscape-server-0 10.1.77.18:80", "landscape-haproxy-landscape-server-1 10.1.78.1:80"]
    {
        let in_backends = config.lines().filter(|l| l.trim().starts_with(&format!("server {server}"))).count();
        assert_eq!(in_backends, 12, "{server} in each of the two services' six backends:\n{config}");
    }
    assert!(config.contains("server landscape-appserver-landscape-server-2-0 10.1.78.2:8080"), "{config}");
    assert!(config.contains("frontend haproxy-443\n    bind 0.0.0.0:443 ssl crt"), "{config}");
    // The lab's legacy load balancer renders the same frontends and backends.
    let services: Vec<String> = bags.iter().map(|b| b[1]["services"].as_str().unwrap().to_string()).collect();
    let lab = crate::lab::legacy_lb::render(&services, dir.path());
    let sections = |text: &str| -> Vec<(String, String, Vec<String>)> {
        let mut all: Vec<_> = crate::fixtures::parse_sections(text)
            .into_iter()
            .filter(|s| s.kind == "frontend" || s.kind == "backend")
            .map(|mut s| {
                s.lines.sort();
                (s.kind, s.name, s.lines)
            })
            .collect();
        all.sort();
        all
    };
    assert_eq!(
        sections(&lab),
        sections(&config),
        "the lab's legacy load balancer differs from the legacy charm's code"
    );
}

/// What the Python charm's unit publishes on `website` (its
/// `_update_haproxy_connection`: `create_http_service` and
/// `create_https_service`, server options and all), as its YAML.
pub fn python_charm_services(unit: &str, address: &str, workers: u16, leader: bool) -> String {
    let unit = unit.replace('/', "-");
    let options = json!(["check", "inter 5000", "rise 2", "fall 5", "maxconn 50"]);
    let servers = |name: &str, base: u16, count: u16| -> Vec<Value> {
        (0..count).map(|i| json!([format!("landscape-{name}-{unit}-{i}"), address, base + i, options])).collect()
    };
    let appservers = servers("appserver", 8080, workers);
    let only_leader = |list: Vec<Value>| if leader { list } else { vec![] };
    let acls = [
        "acl ping path_beg -i /ping",
        "acl repository path_beg -i /repository",
        "acl message path_beg -i /message-system",
        "acl attachment path_beg -i /attachment",
        "acl api path_beg -i /api",
        "acl hashids path_beg -i /hash-id-databases",
        "acl package-upload path_beg -i /upload",
    ];
    let service = |scheme: &str, port: u16| {
        let mut options: Vec<String> = [
            "mode http",
            "timeout client 300000",
            "timeout server 300000",
            "balance leastconn",
            "option httpchk HEAD / HTTP/1.0",
        ]
        .map(str::to_string)
        .to_vec();
        if scheme == "https" {
            options.push("http-request set-header X-Forwarded-Proto https".into());
        }
        options.extend(acls.map(str::to_string));
        if scheme == "http" {
            options.push("redirect scheme https unless ping OR repository".into());
        }
        options.push("http-request replace-path ^([^\\ ]*)\\ /upload/(.*) /\\1".into());
        for (backend, acl) in [
            ("message", "message"),
            ("message", "attachment"),
            ("api", "api"),
            ("ping", "ping"),
            ("hashid-databases", "hashids"),
            ("package-upload", "package-upload"),
        ] {
            options.push(format!("use_backend landscape-{scheme}-{backend} if {acl}"));
        }
        options.extend(
            [
                "acl metrics path_end /metrics",
                "http-request deny if metrics",
                "acl prometheus_metrics path_beg -i /metrics",
                "http-request deny if prometheus_metrics",
            ]
            .map(str::to_string),
        );
        let mut service = json!({
            "service_name": format!("landscape-{scheme}"), "service_host": "0.0.0.0", "service_port": port,
            "server_options": [], "service_options": options, "servers": appservers,
            "backends": [
                {"backend_name": format!("landscape-{scheme}-ping"), "servers": servers("pingserver", 8070, workers)},
                {"backend_name": format!("landscape-{scheme}-message"), "servers": servers("message-server", 8090, workers)},
                {"backend_name": format!("landscape-{scheme}-api"), "servers": servers("api", 9080, workers)},
                {"backend_name": format!("landscape-{scheme}-package-upload"), "servers": only_leader(servers("package-upload", 9100, 1))},
                {"backend_name": format!("landscape-{scheme}-hashid-databases"), "servers": only_leader(appservers.clone())},
            ],
            "error_files": [],
        });
        if scheme == "https" {
            service["crts"] = json!(["DEFAULT"]);
        }
        service
    };
    serde_yaml_ng::to_string(&json!([service("http", 80), service("https", 443)])).unwrap()
}
