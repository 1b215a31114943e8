//! The eight haproxy-route endpoints through whole hooks: every databag key
//! by key against what the routes should be, every bag against the
//! library's wire format (the spec's field table), the provider's answer,
//! leadership, the flags, the modes of `redirect_https`, the hook-tool cost
//! and a refresh from the 26.04 charm's bags.

use serde_json::{Value, json};

use crate::harness::{Databag, Unit, backend_servers};
use crate::lab::edge;

/// `(endpoint, relation id)`, in the 26.04 charm's metadata order.
pub const ROUTES: [(&str, u32); 8] = [
    ("appserver-haproxy-route", 40),
    ("pingserver-haproxy-route", 41),
    ("message-server-haproxy-route", 42),
    ("api-haproxy-route", 43),
    ("package-upload-haproxy-route", 44),
    ("hostagent-messenger-haproxy-route", 45),
    ("ubuntu-installer-attach-haproxy-route", 46),
    ("repository-haproxy-route", 47),
];
const PROVIDER: &str = "haproxy";
/// The provider unit's address (the harness's remote unit bag).
const PROVIDER_ADDRESS: &str = "10.1.99.1";
const UUID: &str = "d2a6c5e0-4c1b-4f3e-9a55-0123456789ab";
const HOSTNAME: &str = "landscape.example.com";

fn relate_routes(unit: &mut Unit) {
    for (endpoint, id) in ROUTES {
        unit.add_relation(endpoint, id, PROVIDER);
    }
}

/// A leader with every haproxy-route endpoint related, both gRPC flags on,
/// a certificate and a root_url with a host name, before any hook.
fn routed_leader() -> Unit {
    let mut unit = leader_with_routes(Unit::relate_workload);
    unit.set_config("enable_hostagent_messenger", json!(true));
    unit.set_config("enable_ubuntu_installer_attach", json!(true));
    unit.mark_installed("landscape-ubuntu-installer-attach");
    unit
}

/// A leader at root_url's host name, with what `relate` relates and the
/// eight haproxy-route relations, before any hook.
fn leader_with_routes(relate: fn(&mut Unit)) -> Unit {
    let mut unit = Unit::new(0, "10.1.77.18");
    unit.state.leader = true;
    relate(&mut unit);
    unit.set_config("root_url", json!(format!("https://{HOSTNAME}/")));
    relate_routes(&mut unit);
    unit
}

/// [`routed_leader`] after one config-changed.
fn unit_with_routes() -> Unit {
    let mut unit = routed_leader();
    let run = unit.hook("config-changed");
    assert_eq!(run.code, 0, "{}", run.stderr);
    unit
}

fn own_app(unit: &Unit, id: u32) -> Databag {
    unit.relation(id).local_app_data.clone()
}

fn own_unit(unit: &Unit, id: u32) -> Databag {
    unit.relation(id)
        .local_unit_data
        .iter()
        .filter(|(k, _)| !["egress-subnets", "ingress-address", "private-address"].contains(&k.as_str()))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

fn bag(pairs: &[(&str, String)]) -> Databag {
    pairs.iter().map(|(k, v)| (k.to_string(), v.clone())).collect()
}

/// What each endpoint's application bag should hold, as `json.dumps`
/// writes each field: `redirect` is redirect_https, `leader` the address in
/// the leader-only route's `hosts`.
fn expected_app(endpoint: &str, redirect: &str, leader: Option<&str>) -> Databag {
    let route = endpoint.strip_suffix("-haproxy-route").unwrap();
    let grpc_port = match route {
        "hostagent-messenger" => Some(6554),
        "ubuntu-installer-attach" => Some(50051),
        _ => None,
    };
    if let Some(port) = grpc_port {
        // haproxy-route-tcp, TLS passed through by SNI to the unit's TLS
        // frontend, as the library writes it (checked against the library
        // itself once; see the closing note of the change).
        return bag(&[
            ("port", port.to_string()),
            ("backend_port", port.to_string()),
            ("sni", format!("\"{HOSTNAME}\"")),
            ("check", r#"{"interval": 5, "rise": 2, "fall": 5}"#.into()),
            ("timeout", r#"{"server": 300, "connect": null, "queue": null}"#.into()),
            ("bandwidth_limit", "{}".into()),
            ("tls_terminate", "false".into()),
        ]);
    }
    let mut fields = vec![
        ("service", format!("\"landscape-{route}-{UUID}\"")),
        ("hostname", format!("\"{HOSTNAME}\"")),
        ("timeout", r#"{"server": 300}"#.to_string()),
    ];
    let paths = match route {
        "appserver" => r#"["/"]"#,
        "pingserver" => r#"["/ping"]"#,
        "message-server" => r#"["/message-system", "/attachment"]"#,
        "api" => r#"["/api"]"#,
        "package-upload" => r#"["/upload", "/hash-id-databases"]"#,
        "repository" => r#"["/repository"]"#,
        other => panic!("no route {other}"),
    };
    fields.push(("ports", "[80]".into()));
    fields.push(("paths", paths.into()));
    fields.push((
        "check",
        format!(r#"{{"interval": 5, "rise": 2, "fall": 5, "path": "/haproxy-route-health/{route}"}}"#),
    ));
    if redirect != "all" {
        fields.push(("allow_http", "true".into()));
    }
    if let (Some(leader), "package-upload") = (leader, route) {
        fields.push(("hosts", format!("[\"{leader}\"]")));
    }
    bag(&fields)
}

/// The library's `RequirerApplicationData` fields and their defaults (the
/// spec's table; a field equal to its default is omitted).
fn library_defaults() -> Vec<(&'static str, Option<Value>)> {
    vec![
        ("service", None),
        ("ports", None),
        ("protocol", Some(json!("http"))),
        ("hosts", Some(json!([]))),
        ("paths", Some(json!([]))),
        ("hostname", Some(Value::Null)),
        ("additional_hostnames", Some(json!([]))),
        ("rewrites", Some(json!([]))),
        ("check", Some(Value::Null)),
        ("load_balancing", Some(json!({"algorithm": "leastconn", "cookie": null, "consistent_hashing": false}))),
        ("rate_limit", Some(Value::Null)),
        ("bandwidth_limit", Some(json!({"upload": null, "download": null}))),
        ("retry", Some(Value::Null)),
        ("deny_paths", Some(json!([]))),
        ("timeout", Some(json!({"server": 60, "connect": 60, "queue": 60}))),
        ("server_maxconn", Some(Value::Null)),
        ("http_server_close", Some(json!(false))),
        ("allow_http", Some(json!(false))),
        ("external_grpc_port", Some(Value::Null)),
    ]
}

/// Each field of `app` as JSON, and what is wrong: a field the library
/// lacks, one that is not JSON, one equal to its default (which the library
/// leaves out).
fn parse_fields(app: &Databag, defaults: &[(&str, Option<Value>)]) -> (serde_json::Map<String, Value>, Vec<String>) {
    let mut problems = vec![];
    let mut parsed = serde_json::Map::new();
    for (key, raw) in app {
        let Some((_, default)) = defaults.iter().find(|(k, _)| k == key) else {
            problems.push(format!("{key} is not a field of the library"));
            continue;
        };
        match serde_json::from_str::<Value>(raw) {
            Err(e) => problems.push(format!("{key} is not JSON: {e}")),
            Ok(value) if Some(&value) == default.as_ref() => problems.push(format!("{key} is its default")),
            Ok(value) => {
                parsed.insert(key.clone(), value);
            }
        }
    }
    (parsed, problems)
}

/// The haproxy-route-tcp library's `TcpRequirerApplicationData` fields and
/// their defaults (a field equal to its default is omitted; a field with
/// none is required).
fn tcp_library_defaults() -> Vec<(&'static str, Option<Value>)> {
    vec![
        ("port", Some(Value::Null)),
        ("backend_port", Some(Value::Null)),
        ("port_mapping", Some(Value::Null)),
        ("sni", Some(Value::Null)),
        ("hosts", Some(json!([]))),
        ("check", Some(Value::Null)),
        ("load_balancing", Some(Value::Null)),
        ("rate_limit", Some(Value::Null)),
        ("bandwidth_limit", Some(Value::Null)),
        ("retry", Some(Value::Null)),
        ("timeout", Some(Value::Null)),
        ("server_maxconn", Some(Value::Null)),
        ("ip_deny_list", Some(json!([]))),
        ("enforce_tls", Some(json!(true))),
        ("tls_terminate", Some(json!(true))),
        ("proxy_protocol", Some(json!(false))),
    ]
}

/// What haproxy-operator would refuse in a haproxy-route-tcp bag, by the
/// library's and the provider's rules: a port (or a port mapping), never
/// 80 or 443 (its HTTP frontends); an SNI only with TLS enforced, and a
/// domain, not an address; a complete check; a timeout with all three of
/// its fields (its model has no defaults).
fn tcp_wire_format_problems(app: &Databag) -> Vec<String> {
    let (parsed, mut problems) = parse_fields(app, &tcp_library_defaults());
    let port = parsed.get("port").and_then(Value::as_u64);
    if port.is_none() && !parsed.contains_key("port_mapping") {
        problems.push("neither port nor port_mapping".into());
    }
    if port.is_some_and(|p| p == 80 || p == 443) {
        problems.push("port 80 or 443 clashes with the provider's HTTP frontends".into());
    }
    let enforce_tls = parsed.get("enforce_tls").and_then(Value::as_bool).unwrap_or(true);
    match parsed.get("sni").and_then(Value::as_str) {
        Some(_) if !enforce_tls => problems.push("sni without enforce_tls".into()),
        Some(sni) if sni.parse::<std::net::IpAddr>().is_ok() => problems.push(format!("sni {sni} is an address")),
        Some(_) => {}
        None => problems.push("no sni: a passthrough route shares its port only by SNI".into()),
    }
    match parsed.get("check") {
        Some(check) if ["interval", "rise", "fall"].iter().all(|k| check[*k].as_u64() > Some(0)) => {}
        _ => problems.push("no complete health check".into()),
    }
    if let Some(timeout) = parsed.get("timeout") {
        if !["server", "connect", "queue"].iter().all(|k| timeout.get(*k).is_some()) {
            problems.push(format!("timeout {timeout} lacks a field (its model has no defaults)"));
        }
    }
    problems
}

/// What the provider would refuse or render wrongly in an application bag,
/// by the spec's rules (what the haproxy-route library validates, and what follows from it).
fn wire_format_problems(app: &Databag) -> Vec<String> {
    if app.contains_key("port") || app.contains_key("port_mapping") {
        return tcp_wire_format_problems(app);
    }
    let (parsed, mut problems) = parse_fields(app, &library_defaults());
    for required in ["service", "ports"] {
        if !parsed.contains_key(required) {
            problems.push(format!("{required} is missing"));
        }
    }
    let service = parsed.get("service").and_then(Value::as_str).unwrap_or_default();
    if service.chars().any(|c| "\n\t#\\'\"\r$ ".contains(c)) {
        problems.push(format!("service {service:?} has a character HAProxy cannot take"));
    }
    if parsed.contains_key("allow_http") && parsed.contains_key("deny_paths") {
        problems.push("allow_http with deny_paths renders `!path_beg`, which HAProxy refuses".into());
    }
    if let Some(check) = parsed.get("check") {
        let set = ["interval", "rise", "fall"].iter().filter(|k| check.get(**k).is_some_and(|v| v.as_u64() > Some(0)));
        if set.count() != 3 {
            problems.push(format!("check {check} lacks interval, rise or fall (the library drops it)"));
        }
    } else {
        problems.push("no health check".into());
    }
    let https = parsed.get("protocol").and_then(Value::as_str) == Some("https");
    if parsed.contains_key("external_grpc_port") && !https {
        problems.push("external_grpc_port without protocol https".into());
    }
    let hostname = parsed.get("hostname").and_then(Value::as_str).unwrap_or_default();
    if hostname.parse::<std::net::IpAddr>().is_ok() {
        problems.push(format!("hostname {hostname} is an IP address, which the provider refuses"));
    }
    problems
}

#[test]
fn every_route_is_published_key_by_key_in_the_librarys_wire_format() {
    let unit = unit_with_routes();
    for (endpoint, id) in ROUTES {
        let app = own_app(&unit, id);
        assert_eq!(app, expected_app(endpoint, "default", Some("10.1.77.18")), "{endpoint}");
        assert_eq!(wire_format_problems(&app), Vec::<String>::new(), "{endpoint}");
        assert_eq!(own_unit(&unit, id), bag(&[("address", "\"10.1.77.18\"".into())]), "{endpoint}");
    }
    let (name, message) = unit.status();
    assert_eq!(name, "active", "{message}");
    assert_eq!(
        message,
        "Unit is ready; web via haproxy-route, hostagent-messenger via haproxy-route-tcp, \
         ubuntu-installer-attach via haproxy-route-tcp"
    );
}

#[test]
fn the_wire_format_check_catches_what_the_26_04_charm_published() {
    // The 26.04 charm's appserver route under redirect_https=none, as the
    // spec shows it: allow_http with deny_paths, no check, an IP hostname.
    let theirs = bag(&[
        ("service", format!("\"landscape-appserver-{UUID}\"")),
        ("ports", "[8080, 8081]".into()),
        ("paths", r#"["/", "/hash-id-databases"]"#.into()),
        ("hostname", "\"10.1.77.18\"".into()),
        ("deny_paths", r#"["/ping"]"#.into()),
        ("allow_http", "true".into()),
        ("protocol", "\"http\"".into()),
    ]);
    let problems = wire_format_problems(&theirs).join("\n");
    for expected in ["protocol is its default", "allow_http with deny_paths", "no health check", "is an IP address"] {
        assert!(problems.contains(expected), "{expected:?} not in:\n{problems}");
    }
}

#[test]
fn worker_counts_3_changes_the_units_haproxy_and_not_a_route() {
    let mut unit = unit_with_routes();
    let before: Vec<Databag> = ROUTES.iter().map(|(_, id)| own_app(&unit, *id)).collect();
    unit.set_config("worker_counts", json!(3));
    let run = unit.hook("config-changed");
    assert_eq!(run.code, 0, "{}", run.stderr);
    let after: Vec<Databag> = ROUTES.iter().map(|(_, id)| own_app(&unit, *id)).collect();
    assert_eq!(before, after, "the routes' servers are the units' HAProxys, not the workers");
    let sets: Vec<String> = run.tool_calls.iter().filter(|c| c.program == "relation-set").map(|c| c.line()).collect();
    assert!(sets.iter().all(|l| !l.contains("haproxy-route")), "{sets:#?}");
    let config = unit.haproxy_config().unwrap();
    assert_eq!(backend_servers(&config, "landscape-http-appserver").len(), 3, "three appserver workers behind port 80");
}

#[test]
fn each_redirect_https_mode_means_at_the_provider_what_it_means_on_the_unit() {
    let mut unit = unit_with_routes();
    for mode in ["all", "none", "default"] {
        unit.set_config("redirect_https", json!(mode));
        let run = unit.hook("config-changed");
        assert_eq!(run.code, 0, "{}", run.stderr);
        for (endpoint, id) in ROUTES {
            let app = own_app(&unit, id);
            assert_eq!(app, expected_app(endpoint, mode, Some("10.1.77.18")), "{endpoint} with {mode}");
            assert_eq!(wire_format_problems(&app), Vec::<String>::new(), "{endpoint} with {mode}");
        }
        // The unit decides the redirect; it believes the provider's word that
        // a request came over HTTPS, and no one else's.
        let config = unit.haproxy_config().unwrap();
        let trusted = format!("acl trusted_proxy src {PROVIDER_ADDRESS}/32");
        assert!(config.contains(&trusted), "{mode}: the provider is not trusted:\n{config}");
    }
}

#[test]
fn the_units_port_80_answers_each_routes_health_check() {
    let unit = unit_with_routes();
    let config = unit.haproxy_config().unwrap();
    let frontend = crate::fixtures::parse_sections(&config)
        .into_iter()
        .find(|s| s.kind == "frontend" && s.name == "landscape-http")
        .unwrap();
    let rules: Vec<&String> = frontend.lines.iter().filter(|l| l.contains("/haproxy-route-health/")).collect();
    // The leader-only route is up while either backend is: the hash-id
    // databases stay reachable where package upload does not run.
    for backend in ["package-upload", "hashid-databases"] {
        let up = format!(
            "http-request return status 200 content-type text/plain string up if \
             {{ path /haproxy-route-health/package-upload }} {{ nbsrv(landscape-http-{backend}) gt 0 }}"
        );
        assert!(rules.iter().any(|l| **l == up), "{up} not in {rules:#?}");
    }
    assert_eq!(rules.len(), 8, "six routes (two rules for package upload) and the 503 for the rest: {rules:#?}");
    let https = crate::fixtures::parse_sections(&config).into_iter().find(|s| s.name == "landscape-https").unwrap();
    assert!(!https.lines.iter().any(|l| l.contains("haproxy-route-health")), "port 80 only");
}

#[test]
fn grpc_routes_follow_their_flags_and_wait_for_the_units_tls_frontend() {
    let mut unit = unit_with_routes();
    unit.set_config("enable_hostagent_messenger", json!(false));
    let run = unit.hook("config-changed");
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(own_app(&unit, 45), Databag::new(), "the flag is off: no route");
    assert_eq!(own_app(&unit, 46), expected_app("ubuntu-installer-attach-haproxy-route", "default", None));
    assert_eq!(
        unit.status().1,
        "hostagent-messenger-haproxy-route is related but unused: enable_hostagent_messenger is off"
    );

    // No certificate yet: no TLS frontend on 50051, so no route to it.
    let mut fresh = Unit::new(0, "10.1.77.18");
    fresh.state.leader = true;
    fresh.relate_landscape_backends();
    fresh.set_config("root_url", json!(format!("https://{HOSTNAME}/")));
    fresh.set_config("enable_ubuntu_installer_attach", json!(true));
    fresh.mark_installed("landscape-ubuntu-installer-attach");
    fresh.add_relation("ubuntu-installer-attach-haproxy-route", 46, PROVIDER);
    assert_eq!(fresh.hook("config-changed").code, 0);
    assert_eq!(own_app(&fresh, 46), Databag::new());
    assert_eq!(
        fresh.status(),
        (
            "blocked".into(),
            "ubuntu-installer-attach-haproxy-route needs load-balancer-certificates: its route passes TLS through \
             to the units' TLS frontend"
                .into()
        )
    );
    fresh.add_relation("load-balancer-certificates", crate::harness::TLS_RELATION, "self-signed-certificates");
    assert_eq!(fresh.hook("config-changed").code, 0);
    let (name, message) = fresh.status();
    assert_eq!(name, "waiting", "{message}");
    fresh.install_test_certificate();
    assert_eq!(fresh.relation_changed("load-balancer-certificates", crate::harness::TLS_RELATION, None).code, 0);
    let _ = fresh.hook("config-changed");
    assert_eq!(own_app(&fresh, 46), expected_app("ubuntu-installer-attach-haproxy-route", "default", None));
}

#[test]
fn the_leader_only_route_follows_leadership() {
    // A follower: only its address; the application bag is the leader's.
    let mut unit = Unit::new(1, "10.1.77.229");
    unit.relate_workload();
    unit.set_config("root_url", json!(format!("https://{HOSTNAME}/")));
    unit.peer_relation();
    unit.set_published_leader_ip("10.1.77.18");
    relate_routes(&mut unit);
    assert_eq!(unit.hook("config-changed").code, 0);
    for (_, id) in ROUTES {
        assert_eq!(own_app(&unit, id), Databag::new());
        assert_eq!(own_unit(&unit, id), bag(&[("address", "\"10.1.77.229\"".into())]));
    }
    // Another leader wrote the bag meanwhile, with its own address.
    for (endpoint, id) in ROUTES {
        unit.state.relation_mut(id).unwrap().local_app_data = expected_app(endpoint, "default", Some("10.1.77.18"));
    }
    // Leadership comes here: the leader-only route is this unit's.
    unit.state.leader = true;
    let run = unit.hook("leader-elected");
    assert_eq!(run.code, 0, "{}", run.stderr);
    let upload = own_app(&unit, 44);
    assert_eq!(upload["hosts"], "[\"10.1.77.229\"]");
    assert_eq!(upload, expected_app("package-upload-haproxy-route", "default", Some("10.1.77.229")));
    // And goes: this unit stops writing the bag; when it comes back, the
    // whole bag is written again, whatever the other leader left there.
    unit.state.leader = false;
    unit.set_published_leader_ip("10.1.77.18");
    assert_eq!(unit.hook("leader-settings-changed").code, 0);
    let marked = Databag::from([("rewrites".to_string(), "[]".to_string())]);
    unit.state.relation_mut(44).unwrap().local_app_data = marked;
    unit.state.leader = true;
    assert_eq!(unit.hook("leader-elected").code, 0);
    assert_eq!(own_app(&unit, 44), expected_app("package-upload-haproxy-route", "default", Some("10.1.77.229")));
}

#[test]
fn without_a_root_url_host_name_the_unit_blocks_and_publishes_no_route() {
    for root_url in [None, Some("https://10.1.77.18/"), Some("https://landscape/")] {
        let mut unit = Unit::new(0, "10.1.77.18");
        unit.state.leader = true;
        unit.relate_workload();
        if let Some(url) = root_url {
            unit.set_config("root_url", json!(url));
        }
        relate_routes(&mut unit);
        assert_eq!(unit.hook("config-changed").code, 0);
        let (name, message) = unit.status();
        assert_eq!(name, "blocked", "{root_url:?}: {message}");
        assert!(message.starts_with("root_url must name a host for haproxy-route: "), "{message}");
        for (_, id) in ROUTES {
            assert_eq!(own_app(&unit, id), Databag::new(), "{root_url:?}");
        }
    }
}

#[test]
fn the_providers_answer_is_validated_logged_once_and_returned_by_the_action() {
    let mut unit = unit_with_routes();
    let answer = format!(r#"["https://{HOSTNAME}/"]"#);
    let run = unit.remote_app_answers("appserver-haproxy-route", 40, PROVIDER, &[("endpoints", &answer)]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let line = format!("appserver-haproxy-route: the provider serves https://{HOSTNAME}/");
    assert!(unit.log_text().contains(&line), "{}", unit.log_text());
    assert_eq!(unit.hook("config-changed").code, 0);
    assert_eq!(unit.log_text().matches(&line).count(), 1, "logged once");
    // A provider that found the route invalid, and one that writes junk.
    unit.remote_app_answers("api-haproxy-route", 43, PROVIDER, &[("endpoints", "[]")]);
    unit.remote_app_answers("pingserver-haproxy-route", 41, PROVIDER, &[("endpoints", "{\"url\": 1}")]);
    let log = unit.log_text();
    assert!(log.contains("api-haproxy-route: the provider serves no endpoint for this route"), "{log}");
    assert!(
        log.contains("pingserver-haproxy-route: ignoring the provider's data: endpoints is not a JSON list"),
        "{log}"
    );
    assert_eq!(unit.status().0, "active", "the provider's answer is for operators: the unit still serves");
    let run = unit.action("get-ingress-urls");
    assert_eq!(run.code, 0, "{}", run.stderr);
    let results = unit.state.action.clone().unwrap().results;
    assert_eq!(results["appserver-haproxy-route"], format!("https://{HOSTNAME}/"));
    assert!(results["api-haproxy-route-error"].contains("found the route invalid"));
    assert!(results["pingserver-haproxy-route-error"].starts_with("endpoints is not a JSON list"));
}

#[test]
fn a_steady_hook_reads_and_writes_no_haproxy_route_bag() {
    let mut unit = unit_with_routes();
    let run = unit.hook("config-changed");
    assert_eq!(run.code, 0, "{}", run.stderr);
    let touching: Vec<String> = run
        .tool_calls
        .iter()
        .filter(|c| c.program.starts_with("relation-") && c.program != "relation-ids")
        .map(|c| c.line())
        .filter(|l| l.contains("haproxy-route"))
        .collect();
    assert_eq!(touching, Vec::<String>::new(), "only relation-ids, one per endpoint");
    let ids = run.tool_calls.iter().filter(|c| c.program == "relation-ids" && c.line().contains("haproxy-route"));
    assert_eq!(ids.count(), 8);
}

#[test]
fn a_removed_route_relation_is_forgotten() {
    let mut unit = unit_with_routes();
    assert!(unit.state.unit_state.contains_key("haproxy-route.api-haproxy-route:43"));
    let run = unit.run(crate::harness::Dispatch::relation("api-haproxy-route", "broken", 43, None));
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(!unit.state.unit_state.contains_key("haproxy-route.api-haproxy-route:43"));
    assert!(unit.state.unit_state.contains_key("haproxy-route.appserver-haproxy-route:40"));
}

/// The 26.04 charm's bags, as that charm publishes them (redirect_https
/// default, two workers): the leader's route to its workers with the
/// X-Forwarded-Proto rewrite, deny_paths on the appserver route.
fn bags_of_the_26_04_charm(endpoint: &str) -> Databag {
    let route = endpoint.strip_suffix("-haproxy-route").unwrap();
    let rewrite = r#"[{"method": "set-header", "expression": "https", "header": "X-Forwarded-Proto"}]"#;
    let mut fields = vec![
        ("service", format!("\"landscape-{route}-{UUID}\"")),
        ("hostname", format!("\"{HOSTNAME}\"")),
        ("ports", "[8080, 8081]".to_string()),
        ("rewrites", rewrite.to_string()),
    ];
    if route == "appserver" {
        fields.push(("paths", r#"["/", "/hash-id-databases"]"#.into()));
        fields.push(("deny_paths", r#"["/ping", "/message-system", "/attachment", "/api", "/upload"]"#.into()));
    }
    if route == "package-upload" {
        fields.push(("check", r#"{"interval": 2000, "rise": 2, "fall": 3, "path": "/upload"}"#.into()));
    }
    bag(&fields)
}

#[test]
fn refresh_from_the_26_04_charm_keeps_every_relation_and_republishes_every_route() {
    let mut unit = routed_leader();
    for (endpoint, id) in ROUTES {
        let rel = unit.state.relation_mut(id).unwrap();
        rel.local_app_data = bags_of_the_26_04_charm(endpoint);
        rel.local_unit_data.insert("address".into(), "\"10.1.77.18\"".into());
        rel.remote_app_data.insert("endpoints".into(), format!(r#"["https://{HOSTNAME}/"]"#));
    }
    let run = unit.hook("upgrade-charm");
    assert_eq!(run.code, 0, "{}", run.stderr);
    for (endpoint, id) in ROUTES {
        assert!(unit.state.relation(id).is_some(), "{endpoint} is still related");
        assert_eq!(own_app(&unit, id), expected_app(endpoint, "default", Some("10.1.77.18")), "{endpoint}");
        assert_eq!(own_unit(&unit, id), bag(&[("address", "\"10.1.77.18\"".into())]));
    }
    let log = unit.log_text();
    assert!(log.contains(&format!("repository-haproxy-route: the provider serves https://{HOSTNAME}/")), "{log}");
}

/// The 26.04 charm's gRPC routes as its released revisions publish them on
/// haproxy-route-tcp (a passthrough route by the Landscape host name, to
/// its workers' own ports), with an `endpoints` answer to match.
fn tcp_bags_of_the_26_04_charm(port: u16) -> Databag {
    bag(&[
        ("port", port.to_string()),
        ("backend_port", "50052".into()),
        ("sni", format!("\"{HOSTNAME}\"")),
        ("tls_terminate", "false".into()),
        ("load_balancing", r#"{"algorithm": "roundrobin"}"#.into()),
    ])
}

/// A refresh from the 26.04 charm as released now, its gRPC routes on
/// haproxy-route-tcp: every relation stays, every option, and each route is
/// replaced whole (fields the 26.04 charm set and this one does not go);
/// haproxy's `<sni>:<port>` answer is taken.
#[test]
fn refresh_from_the_26_04_charm_with_its_grpc_routes_on_haproxy_route_tcp() {
    let mut unit = routed_leader();
    for (endpoint, id) in ROUTES {
        let grpc_port = match endpoint {
            "hostagent-messenger-haproxy-route" => Some(6554),
            "ubuntu-installer-attach-haproxy-route" => Some(50051),
            _ => None,
        };
        let rel = unit.state.relation_mut(id).unwrap();
        rel.local_app_data = grpc_port.map_or_else(|| bags_of_the_26_04_charm(endpoint), tcp_bags_of_the_26_04_charm);
        rel.local_unit_data.insert("address".into(), "\"10.1.77.18\"".into());
        let answer = match grpc_port {
            Some(port) => format!(r#"["{HOSTNAME}:{port}"]"#),
            None => format!(r#"["https://{HOSTNAME}/"]"#),
        };
        rel.remote_app_data.insert("endpoints".into(), answer);
    }
    let options_before = unit.state.config.clone();
    let run = unit.hook("upgrade-charm");
    assert_eq!(run.code, 0, "{}", run.stderr);
    for (endpoint, id) in ROUTES {
        assert!(unit.state.relation(id).is_some(), "{endpoint} is still related");
        let app = own_app(&unit, id);
        assert_eq!(app, expected_app(endpoint, "default", Some("10.1.77.18")), "{endpoint}");
        assert_eq!(wire_format_problems(&app), Vec::<String>::new(), "{endpoint}");
    }
    assert_eq!(unit.state.config, options_before);
    let log = unit.log_text();
    let answer = format!("hostagent-messenger-haproxy-route: the provider serves {HOSTNAME}:6554");
    assert!(log.contains(&answer), "{log}");
    assert!(!log.contains("ignoring the provider's data"), "{log}");
}

/// haproxy-operator's config for routes given as application bags, checked
/// by the real `haproxy -c`: the certificate and the CA are the test ones.
fn haproxy_operator_config(bags: &[Databag], unit_addresses: &[String]) -> (String, Result<(), String>) {
    let routes: Vec<edge::Route> = bags.iter().map(|app| edge::route_from_bag(app, unit_addresses)).collect();
    let dir = tempfile::tempdir().unwrap();
    let certs = dir.path().join("certs");
    std::fs::create_dir_all(&certs).unwrap();
    let pem = crate::fixtures::test_pem();
    std::fs::write(certs.join("landscape.example.com.pem"), pem).unwrap();
    let cert_only = &pem[..pem.find("-----BEGIN PRIVATE KEY").unwrap_or(pem.len())];
    std::fs::write(dir.path().join("cas.pem"), cert_only).unwrap();
    let config = edge::render(&routes, &certs, &dir.path().join("cas.pem"));
    let checked = crate::fixtures::haproxy_check_every_version(&config);
    (config, checked)
}

#[test]
fn haproxy_operator_renders_our_routes_into_a_config_haproxy_accepts_and_the_26_04_charms_into_one_it_refuses() {
    let unit = unit_with_routes();
    let ours: Vec<Databag> = ROUTES.iter().map(|(_, id)| own_app(&unit, *id)).collect();
    let (config, checked) = haproxy_operator_config(&ours, &["10.1.77.18".to_string()]);
    checked.unwrap_or_else(|e| panic!("{e}\n{config}"));
    // haproxy-operator orders its backends deepest path first: `/` is last,
    // so it takes only what no other route takes.
    let sections = crate::fixtures::parse_sections(&config);
    let frontend = sections.iter().find(|s| s.kind == "frontend" && s.name == "haproxy").unwrap();
    let uses: Vec<&String> = frontend.lines.iter().filter(|l| l.starts_with("use_backend")).collect();
    assert!(uses.last().is_some_and(|l| l.contains("use_backend landscape-appserver-")), "{uses:#?}");
    assert!(config.contains("server landscape-package-upload-"), "{config}");
    assert!(config.contains("check inter 5s rise 2 fall 5"), "{config}");
    assert!(config.contains("option httpchk GET /haproxy-route-health/package-upload"), "{config}");
    // The 26.04 charm's appserver route under redirect_https=none.
    let mut theirs = bags_of_the_26_04_charm("appserver-haproxy-route");
    theirs.insert("allow_http".into(), "true".into());
    let (config, checked) = haproxy_operator_config(&[theirs], &["10.1.77.18".to_string()]);
    let refused = checked.expect_err(&config);
    assert!(refused.contains("missing fetch method in ACL expression '!path_beg'"), "{refused}");
}

#[test]
fn a_unit_with_ingress_and_haproxy_route_serves_both_and_says_how() {
    let mut unit = routed_leader();
    unit.set_config("haproxy_trusted_proxies", json!("10.1.80.7"));
    for (endpoint, id) in [("http-ingress", 10), ("https-ingress", 11), ("hostagent-messenger-ingress", 12)] {
        unit.add_relation(endpoint, id, "ingress-configurator");
    }
    let run = unit.hook("config-changed");
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(
        unit.status(),
        (
            "active".into(),
            "Unit is ready; web via haproxy-route and ingress, hostagent-messenger via haproxy-route-tcp and ingress, \
             ubuntu-installer-attach via haproxy-route-tcp"
                .into()
        )
    );
    assert_eq!(own_app(&unit, 10)["port"], "80", "the ingress request");
    assert_eq!(own_app(&unit, 40), expected_app("appserver-haproxy-route", "default", Some("10.1.77.18")));
    let config = unit.haproxy_config().unwrap();
    assert!(config.contains("acl trusted_proxy src 10.1.80.7/32 10.1.99.1/32"), "both proxies trusted:\n{config}");
}

#[test]
fn the_default_config_publishes_the_six_web_routes_and_says_the_grpc_ones_are_unused() {
    let mut unit = leader_with_routes(Unit::relate_workload);
    let run = unit.hook("config-changed");
    assert_eq!(run.code, 0, "{}", run.stderr);
    for (endpoint, id) in ROUTES {
        let expected = if endpoint.contains("hostagent") || endpoint.contains("installer") {
            Databag::new()
        } else {
            expected_app(endpoint, "default", Some("10.1.77.18"))
        };
        assert_eq!(own_app(&unit, id), expected, "{endpoint}");
        assert_eq!(own_unit(&unit, id), bag(&[("address", "\"10.1.77.18\"".into())]), "{endpoint}");
    }
    assert_eq!(
        unit.status(),
        (
            "active".into(),
            "hostagent-messenger-haproxy-route is related but unused: enable_hostagent_messenger is off".into()
        )
    );
}

#[test]
fn refresh_from_the_26_04_charm_without_a_tls_provider_keeps_the_web_routes_serving() {
    // The 26.04 charm has no load-balancer-certificates: right after the
    // refresh the unit lacks it, and says so, while port 80 and the web
    // routes serve.
    let mut unit = leader_with_routes(Unit::relate_landscape_backends);
    for (endpoint, id) in ROUTES {
        unit.state.relation_mut(id).unwrap().local_app_data = bags_of_the_26_04_charm(endpoint);
    }
    let run = unit.hook("upgrade-charm");
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(unit.status(), ("blocked".into(), "Missing relations: load-balancer-certificates".into()));
    for (endpoint, id) in ROUTES.iter().filter(|(e, _)| !e.contains("hostagent") && !e.contains("installer")) {
        assert_eq!(own_app(&unit, *id), expected_app(endpoint, "default", Some("10.1.77.18")), "{endpoint}");
    }
    let config = unit.haproxy_config().unwrap();
    assert!(config.contains("frontend landscape-http\n"), "{config}");
    assert!(config.contains("/haproxy-route-health/appserver"), "port 80 answers the provider's checks");
}

/// A provider's answer with a URL's credentials (`user:password@`) was
/// logged, and returned by the action, as written.
#[test]
fn a_providers_url_credentials_reached_the_log() {
    let mut unit = unit_with_routes();
    let answer = format!(r#"["https://admin:s3cr3t-pw@{HOSTNAME}/"]"#);
    let run = unit.remote_app_answers("appserver-haproxy-route", 40, PROVIDER, &[("endpoints", &answer)]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    unit.remote_app_answers("api-haproxy-route", 43, PROVIDER, &[("endpoints", r#"["ftp://admin:s3cr3t-pw@x/"]"#)]);
    unit.remote_app_answers(
        "pingserver-haproxy-route",
        41,
        PROVIDER,
        &[("endpoints", r#"["https://admin:s3cr3t-pw@x/""#)],
    );
    let action = unit.action("get-ingress-urls");
    let log = unit.log_text();
    assert!(log.contains(&format!("the provider serves https://<redacted>@{HOSTNAME}/")), "{log}");
    let results = format!("{:?}", unit.state.action.clone().unwrap().results);
    for (what, text) in [("log", log.as_str()), ("action", results.as_str()), ("stderr", action.stderr.as_str())] {
        assert!(!text.contains("s3cr3t-pw"), "{what}: {text}");
    }
}
