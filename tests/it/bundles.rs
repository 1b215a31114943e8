//! The bundles in `bundles/` deploy: every `landscape-server` option exists
//! in config.yaml with the right type, every endpoint in metadata.yaml, and
//! the ingress-configurator and haproxy-operator parts obey those charms'
//! rules (their options, one owner per host and path on haproxy's single
//! 80/443 frontend, a CA for every https backend, haproxy-route-tcp's port
//! and SNI rules, stable channels).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_yaml_ng::Value;

use crate::harness::spec;

/// ingress-configurator's HTTP-route options (its charmcraft.yaml; its
/// `tcp-*` ones are for haproxy-route-tcp, which the bundles relate to
/// Landscape's own endpoints instead).
const INGRESS_CONFIGURATOR_OPTIONS: &[&str] = &[
    "hostname",
    "additional-hostnames",
    "paths",
    "deny-paths",
    "backend-protocol",
    "backend-addresses",
    "backend-ports",
    "allow-http",
    "external-grpc-port",
    "header-rewrite-expressions",
    "path-rewrite-expressions",
    "health-check-interval",
    "health-check-rise",
    "health-check-fall",
    "health-check-path",
    "health-check-port",
    "timeout-server",
    "timeout-connect",
    "timeout-queue",
    "retry-count",
    "retry-redispatch",
    "load-balancing-algorithm",
    "load-balancing-cookie",
    "load-balancing-consistent-hashing",
    "http-server-close",
];

pub fn bundle_paths() -> Vec<PathBuf> {
    crate::fixtures::repo_files("bundles", "yaml", false)
}

pub fn read_bundle(path: &Path) -> Value {
    serde_yaml_ng::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn yaml_type_ok(kind: &str, value: &Value) -> bool {
    match kind {
        "string" => value.is_string(),
        "int" => value.as_i64().is_some(),
        "float" => value.as_f64().is_some(),
        "boolean" => value.is_bool(),
        _ => false,
    }
}

/// Each relation as (app, endpoint) pairs.
fn relations(bundle: &Value) -> Vec<[(String, String); 2]> {
    let split = |end: &Value| {
        let text = end.as_str().unwrap_or_default();
        let (app, endpoint) = text.split_once(':').unwrap_or((text, ""));
        (app.to_string(), endpoint.to_string())
    };
    bundle["relations"]
        .as_sequence()
        .map(|all| all.iter().map(|pair| [split(&pair[0]), split(&pair[1])]).collect())
        .unwrap_or_default()
}

/// An option's value as text (strings, numbers and booleans alike).
pub fn option_str(options: &Value, key: &str) -> Option<String> {
    match &options[key] {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// Everything wrong with `bundle`, one line each.
pub fn problems(bundle: &Value) -> Vec<String> {
    let mut found = Vec::new();
    let apps = bundle["applications"].as_mapping().cloned().unwrap_or_default();
    let charm_of = |app: &str| apps.get(app).and_then(|a| a["charm"].as_str()).unwrap_or_default().to_string();
    for (name, app) in &apps {
        let name = name.as_str().unwrap_or_default();
        let charm = app["charm"].as_str().unwrap_or_default();
        let local = charm.starts_with("./") || charm.starts_with('/');
        let channel = app["channel"].as_str().unwrap_or_default();
        if !local && app.get("revision").is_none() && !channel.ends_with("/stable") {
            found.push(format!("{name}: channel {channel:?} is neither stable nor pinned by revision"));
        }
        let options = app["options"].as_mapping().cloned().unwrap_or_default();
        for (key, value) in &options {
            let key = key.as_str().unwrap_or_default();
            if charm.contains("landscape-server") {
                match spec().options.get(key) {
                    None => found.push(format!("{name}: unknown option {key:?} (not in config.yaml)")),
                    Some((kind, _)) if !yaml_type_ok(kind, value) => {
                        found.push(format!("{name}: option {key:?} is not a {kind}"))
                    }
                    Some(_) => {}
                }
            } else if charm == "ingress-configurator" && !INGRESS_CONFIGURATOR_OPTIONS.contains(&key) {
                found.push(format!("{name}: unknown ingress-configurator option {key:?}"));
            }
        }
    }
    let rels = relations(bundle);
    for [a, b] in &rels {
        for (app, endpoint) in [a, b] {
            if charm_of(app).contains("landscape-server") && !spec().endpoints.contains_key(endpoint) {
                found.push(format!("relation {app}:{endpoint}: no such endpoint in metadata.yaml"));
            }
            if !apps.contains_key(app.as_str()) {
                found.push(format!("relation {app}:{endpoint}: no such application"));
            }
        }
    }
    found.extend(ingress_problems(bundle, &rels));
    found.extend(route_problems(bundle, &rels));
    found
}

/// What haproxy-operator and this charm need of a bundle that relates the
/// haproxy-route endpoints: a root_url that names a host (haproxy refuses an
/// IP), each endpoint on the provider's endpoint of its interface, the gRPC
/// routes' flags on (else they are unused) and the units' certificates for
/// them (TLS is passed through to the units), and haproxy-route-tcp's rules
/// for the TCP routes on one haproxy: never on 80 or 443, and a port shared
/// only by routes that each have their own SNI.
fn route_problems(bundle: &Value, rels: &[[(String, String); 2]]) -> Vec<String> {
    let routes: Vec<(&str, &(String, String))> = rels
        .iter()
        .filter_map(|[a, b]| match (a, b) {
            (ours, theirs) | (theirs, ours) if ours.0 == "landscape-server" && ours.1.ends_with("-haproxy-route") => {
                Some((ours.1.as_str(), theirs))
            }
            _ => None,
        })
        .collect();
    if routes.is_empty() {
        return vec![];
    }
    let mut found = Vec::new();
    let options = &bundle["applications"]["landscape-server"]["options"];
    let root_url = option_str(options, "root_url");
    let host = root_url.as_deref().and_then(|u| landscape_server::config::RootUrl::parse(u).ok());
    let hostname = host.as_ref().and_then(|h| h.hostname()).map(str::to_string);
    if let Some(problem) = landscape_server::edge::haproxy_route::routes::hostname_problem(hostname.as_deref()) {
        found.push(format!("landscape-server: root_url must name a host for haproxy-route: {problem}"));
    }
    let related = |endpoint: &str| rels.iter().flatten().any(|(_, e)| e == endpoint);
    // (haproxy app, port, SNI, who) of every TCP route.
    let mut tcp_routes: Vec<(String, u16, Option<String>, String)> = vec![];
    for (endpoint, (provider, provider_endpoint)) in &routes {
        let Some(route) = landscape_server::edge::haproxy_route::ENDPOINTS.iter().find(|e| e.name == *endpoint) else {
            continue;
        };
        if provider_endpoint.as_str() != route.interface() {
            found.push(format!(
                "landscape-server:{endpoint} speaks {}: relate it to {provider}:{}",
                route.interface(),
                route.interface()
            ));
        }
        let Some(flag) = route.flag() else { continue };
        if options[flag.option()].as_bool() != Some(true) {
            found.push(format!("landscape-server:{endpoint} is related but unused: {} is off", flag.option()));
        }
        if !related("load-balancer-certificates") {
            found.push(format!(
                "landscape-server:{endpoint}: its route passes TLS through to the units' TLS frontend, \
                 which needs load-balancer-certificates"
            ));
        }
        tcp_routes.push((
            provider.clone(),
            route.unit_port(),
            hostname.clone(),
            format!("landscape-server:{endpoint}"),
        ));
    }
    // The task handler's route: its grpc-external-port (50053 by default),
    // by the hostname Landscape gives it.
    for [a, b] in rels {
        for ((app, endpoint), (provider, _)) in [(a, b), (b, a)] {
            if endpoint == "grpc-haproxy-route" {
                let port =
                    bundle["applications"][app.as_str()]["options"]["grpc-external-port"].as_u64().unwrap_or(50053);
                tcp_routes.push((provider.clone(), port as u16, hostname.clone(), format!("{app}:{endpoint}")));
            }
        }
    }
    for (i, (provider, port, sni, who)) in tcp_routes.iter().enumerate() {
        if [80, 443].contains(port) {
            found.push(format!("{who}: TCP port {port} clashes with {provider}'s HTTP frontends"));
        }
        for (other_provider, other_port, other_sni, other) in &tcp_routes[i + 1..] {
            let shared = provider == other_provider && port == other_port;
            if shared && (sni.is_none() || other_sni.is_none() || sni == other_sni) {
                found
                    .push(format!("{who} and {other}: both on {provider}'s TCP port {port} without SNIs of their own"));
            }
        }
    }
    found
}

/// haproxy-operator's rules for the routes ingress-configurators give it.
fn ingress_problems(bundle: &Value, rels: &[[(String, String); 2]]) -> Vec<String> {
    let mut found = Vec::new();
    let apps = bundle["applications"].as_mapping().cloned().unwrap_or_default();
    let mut owners: BTreeMap<(String, String), String> = BTreeMap::new();
    let mut grpc_ports: BTreeMap<String, String> = BTreeMap::new();
    let mut https_routes = Vec::new();
    for (name, app) in &apps {
        let name = name.as_str().unwrap_or_default().to_string();
        if app["charm"].as_str() != Some("ingress-configurator") {
            continue;
        }
        let options = &app["options"];
        let protocol = option_str(options, "backend-protocol").unwrap_or_else(|| "http".into());
        let grpc = option_str(options, "external-grpc-port");
        let allow_http = options["allow-http"].as_bool().unwrap_or(false);
        let Some(hostname) = option_str(options, "hostname") else {
            found.push(format!("{name}: no hostname: haproxy drops the route"));
            continue;
        };
        if let Some(port) = &grpc {
            if protocol != "https" {
                found.push(format!("{name}: external-grpc-port needs backend-protocol https"));
            }
            if allow_http {
                found.push(format!("{name}: allow-http cannot be true with external-grpc-port"));
            }
            if let Some(other) = grpc_ports.insert(port.clone(), name.clone()) {
                found.push(format!("{name} and {other}: both claim external gRPC port {port}"));
            }
        } else {
            // Routes without a gRPC port share haproxy's one 80/443 frontend.
            let paths = option_str(options, "paths").unwrap_or_else(|| "/".into());
            for path in paths.split(',') {
                if let Some(other) = owners.insert((hostname.clone(), path.to_string()), name.clone()) {
                    found.push(format!("{name} and {other}: both claim {hostname}{path} on haproxy's 80/443 frontend"));
                }
            }
        }
        // haproxy-operator renders `check` on a route's servers only when
        // its configurator sets all three; without them a dead unit keeps
        // its share of the traffic.
        let checked = ["health-check-interval", "health-check-rise", "health-check-fall"]
            .iter()
            .all(|key| options[*key].as_u64().is_some_and(|n| n > 0));
        if !checked {
            found.push(format!(
                "{name}: no health check (interval, rise and fall): haproxy keeps sending a dead unit its share"
            ));
        }
        if protocol == "https" {
            https_routes.push(name);
        }
    }
    let has_ca = rels.iter().any(|pair| pair.iter().any(|(_, endpoint)| endpoint == "receive-ca-certs"));
    if !has_ca {
        for name in https_routes {
            found.push(format!("{name}: backend-protocol https needs a CA on haproxy:receive-ca-certs"));
        }
    }
    found
}

#[test]
fn every_bundle_uses_only_real_options_endpoints_and_valid_routes() {
    let paths = bundle_paths();
    assert!(paths.len() >= 2, "bundles/ holds {paths:?}");
    for path in paths {
        let found = problems(&read_bundle(&path));
        assert!(found.is_empty(), "{}:\n{}", path.display(), found.join("\n"));
    }
}

/// The problems of `bundles/<file>` after `change`, one a line.
fn problems_once_changed(file: &str, change: &dyn Fn(&mut Value)) -> String {
    let mut bundle = read_bundle(&Path::new(env!("CARGO_MANIFEST_DIR")).join("bundles").join(file));
    change(&mut bundle);
    problems(&bundle).join("\n")
}

#[test]
fn the_bundle_check_fails_on_each_kind_of_mistake() {
    let mutate = |change: &dyn Fn(&mut Value)| problems_once_changed("landscape-scalable-ingress.yaml", change);
    let unknown = mutate(&|b| {
        b["applications"]["landscape-server"]["options"]["ssl_certificate"] = Value::String("x".into());
    });
    assert!(unknown.contains(r#"landscape-server: unknown option "ssl_certificate""#), "{unknown}");
    let wrong_type = mutate(&|b| {
        b["applications"]["landscape-server"]["options"]["worker_counts"] = Value::String("2".into());
    });
    assert!(wrong_type.contains(r#"option "worker_counts" is not a int"#), "{wrong_type}");
    let no_ca = mutate(&|b| {
        let rels = b["relations"].as_sequence_mut().unwrap();
        rels.retain(|pair| !format!("{pair:?}").contains("receive-ca-certs"));
    });
    assert!(no_ca.contains("hostagent-messenger-ingress: backend-protocol https needs a CA"), "{no_ca}");
    let second_owner = mutate(&|b| {
        let copy = b["applications"]["http-ingress"].clone();
        b["applications"]["https-ingress"] = copy;
    });
    assert!(second_owner.contains("both claim landscape.local/ on haproxy's 80/443 frontend"), "{second_owner}");
    let edge = mutate(&|b| b["applications"]["haproxy"]["channel"] = Value::String("2.8/edge".into()));
    assert!(edge.contains(r#"haproxy: channel "2.8/edge" is neither stable"#), "{edge}");
    let endpoint = mutate(&|b| {
        let rels = b["relations"].as_sequence_mut().unwrap();
        rels.push(serde_yaml_ng::from_str("[landscape-server:certificates, haproxy:reverseproxy]").unwrap());
    });
    assert!(endpoint.contains("landscape-server:certificates: no such endpoint"), "{endpoint}");
    let ic_option = mutate(&|b| {
        b["applications"]["http-ingress"]["options"]["redirect-https"] = Value::Bool(true);
    });
    assert!(ic_option.contains(r#"unknown ingress-configurator option "redirect-https""#), "{ic_option}");
    let unchecked = mutate(&|b| {
        b["applications"]["http-ingress"]["options"].as_mapping_mut().unwrap().remove("health-check-fall");
    });
    assert!(unchecked.contains("http-ingress: no health check (interval, rise and fall)"), "{unchecked}");
}

#[test]
fn the_route_check_fails_on_each_kind_of_mistake() {
    let mutate = |change: &dyn Fn(&mut Value)| problems_once_changed("landscape-26.04.yaml", change);
    let by_ip = mutate(&|b| {
        b["applications"]["landscape-server"]["options"]["root_url"] = Value::String("https://10.0.0.5/".into());
    });
    assert!(by_ip.contains("root_url must name a host for haproxy-route"), "{by_ip}");
    let flag_off = mutate(&|b| {
        b["applications"]["landscape-server"]["options"]["enable_hostagent_messenger"] = Value::Bool(false);
    });
    assert!(flag_off.contains("hostagent-messenger-haproxy-route is related but unused"), "{flag_off}");
    let no_certificates = mutate(&|b| {
        let rels = b["relations"].as_sequence_mut().unwrap();
        rels.retain(|pair| !format!("{pair:?}").contains("landscape-server:load-balancer-certificates"));
    });
    assert!(no_certificates.contains("which needs load-balancer-certificates"), "{no_certificates}");
    let http_interface = mutate(&|b| {
        for pair in b["relations"].as_sequence_mut().unwrap() {
            if format!("{pair:?}").contains("hostagent-messenger-haproxy-route") {
                pair[1] = Value::String("haproxy:haproxy-route".into());
            }
        }
    });
    assert!(
        http_interface.contains("speaks haproxy-route-tcp: relate it to haproxy:haproxy-route-tcp"),
        "{http_interface}"
    );
    let same_port = mutate(&|b| {
        b["applications"]["landscape-task-handler"]["options"] =
            serde_yaml_ng::from_str("{grpc-external-port: 6554}").unwrap();
    });
    assert!(same_port.contains("both on haproxy's TCP port 6554 without SNIs of their own"), "{same_port}");
    let on_443 = mutate(&|b| {
        b["applications"]["landscape-task-handler"]["options"] =
            serde_yaml_ng::from_str("{grpc-external-port: 443}").unwrap();
    });
    assert!(on_443.contains("TCP port 443 clashes with haproxy's HTTP frontends"), "{on_443}");
}
