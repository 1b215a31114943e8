//! The four ingress requirer endpoints through whole hooks, checked against
//! the spec's JSON schema by the real `jsonschema` library.

use std::path::Path;
use std::process::Command;

use serde_json::json;

use crate::harness::{Databag, Unit};

const ENDPOINTS: [(&str, u32); 4] = [
    ("http-ingress", 80),
    ("https-ingress", 443),
    ("hostagent-messenger-ingress", 6554),
    ("ubuntu-installer-attach-ingress", 50051),
];

/// The ingress HAProxy's address, trusted for its `X-Forwarded-*` headers.
const EDGE: &str = "10.1.80.7";

/// A unit with every ingress endpoint related (ids 10..13), both gRPC flags
/// on, the edge trusted and a certificate, after one config-changed.
fn unit_with_ingress(leader: bool) -> Unit {
    let mut unit = Unit::new(0, "10.1.77.18");
    unit.state.leader = leader;
    unit.relate_workload();
    unit.set_config("haproxy_trusted_proxies", json!(EDGE));
    unit.set_config("enable_hostagent_messenger", json!(true));
    unit.set_config("enable_ubuntu_installer_attach", json!(true));
    unit.mark_installed("landscape-ubuntu-installer-attach");
    for (i, (endpoint, _)) in ENDPOINTS.iter().enumerate() {
        unit.add_relation(endpoint, 10 + i as u32, endpoint);
    }
    let run = unit.hook("config-changed");
    assert_eq!(run.code, 0, "{}", run.stderr);
    unit
}

fn ours(bag: &Databag) -> Databag {
    bag.iter()
        .filter(|(k, _)| !["egress-subnets", "ingress-address", "private-address"].contains(&k.as_str()))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

fn hostname_json() -> String {
    format!("\"{}\"", landscape_server::edge::ingress::hostname())
}

#[test]
fn leader_publishes_every_endpoint_byte_for_byte() {
    let unit = unit_with_ingress(true);
    for (i, (endpoint, port)) in ENDPOINTS.iter().enumerate() {
        let rel = unit.relation(10 + i as u32);
        let mut expected = Databag::from([
            ("model".to_string(), "\"landscape\"".to_string()),
            ("name".to_string(), "\"landscape-server\"".to_string()),
            ("port".to_string(), port.to_string()),
            ("is_port_open".to_string(), "true".to_string()),
            ("redirect-https".to_string(), "true".to_string()),
        ]);
        if *port != 80 {
            expected.insert("scheme".into(), "\"https\"".into());
        }
        assert_eq!(rel.local_app_data, expected, "{endpoint}");
        assert_eq!(
            ours(&rel.local_unit_data),
            Databag::from([("host".to_string(), hostname_json()), ("ip".to_string(), "\"10.1.77.18\"".to_string())]),
            "{endpoint}"
        );
        // Juju's own keys are left alone.
        assert_eq!(rel.local_unit_data.get("private-address").map(String::as_str), Some("10.1.77.18"));
    }
}

#[test]
fn non_leader_publishes_only_its_unit_databag() {
    let mut unit = unit_with_ingress(false);
    for (i, (endpoint, _)) in ENDPOINTS.iter().enumerate() {
        let rel = unit.relation(10 + i as u32);
        assert!(rel.local_app_data.is_empty(), "{endpoint}: a non-leader wrote the app databag");
        assert_eq!(rel.local_unit_data.get("ip").map(String::as_str), Some("\"10.1.77.18\""), "{endpoint}");
    }
    let run = unit.relation_changed("http-ingress", 10, Some("http-ingress/0"));
    assert!(!run.tool_calls.iter().any(|c| c.program == "relation-set" && c.args.contains(&"--app".to_string())));
    // Juju refuses a non-leader's read of its own app databag on a non-peer relation.
    let reads_own_app_bag = |c: &crate::harness::Call| {
        c.program == "relation-get" && c.line().contains("-ingress:") && c.line().ends_with("--app - landscape-server")
    };
    assert!(!run.tool_calls.iter().any(reads_own_app_bag), "{:#?}", run.tool_calls);
}

#[test]
fn https_before_a_certificate_says_the_port_is_not_open() {
    let mut unit = Unit::new(0, "10.1.77.18");
    unit.state.leader = true;
    unit.add_relation("https-ingress", 11, "https-ingress");
    unit.hook("config-changed");
    let app = &unit.relation(11).local_app_data;
    assert_eq!(app.get("port").map(String::as_str), Some("443"));
    assert!(!app.contains_key("is_port_open"), "{app:?}");
}

/// Behind the ingress HAProxy, which ends TLS for port 80's routes, an
/// untrusted edge's `X-Forwarded-Proto: https` is replaced and the request
/// redirected back to it: a loop. The unit says so until the edge is trusted
/// or nothing is redirected.
#[test]
fn http_ingress_without_a_trusted_edge_is_blocked_naming_the_option() {
    let mut unit = unit_with_ingress(true);
    for (option, value) in [("haproxy_trusted_proxies", json!("")), ("redirect_https", json!("all"))] {
        unit.set_config(option, value);
        unit.hook("config-changed");
    }
    let (status, message) = unit.status();
    assert_eq!(status, "blocked");
    assert!(message.contains("http-ingress") && message.contains("haproxy_trusted_proxies"), "{message}");
    assert!(unit.haproxy_config().unwrap().contains("frontend landscape-http"), "HAProxy still serves");
    unit.set_config("redirect_https", json!("none"));
    unit.hook("config-changed");
    assert_eq!(unit.status(), ("active".into(), "Unit is ready".into()));
    unit.set_config("redirect_https", json!("default"));
    unit.set_config("haproxy_trusted_proxies", json!(format!("{EDGE}, fd00::7")));
    unit.hook("config-changed");
    assert_eq!(unit.status(), ("active".into(), "Unit is ready".into()));
    let config = unit.haproxy_config().unwrap();
    assert!(config.contains(&format!("acl trusted_proxy src {EDGE}/32 fd00::7/128")), "{config}");
}

#[test]
fn a_malformed_trusted_proxy_list_blocks_naming_the_entry() {
    let mut unit = unit_with_ingress(true);
    let before = unit.haproxy_config().unwrap();
    unit.set_config("haproxy_trusted_proxies", json!("10.1.80.7/24"));
    unit.hook("config-changed");
    let (status, message) = unit.status();
    assert_eq!(status, "blocked");
    assert!(message.contains("haproxy_trusted_proxies") && message.contains("10.1.80.0/24"), "{message}");
    assert_eq!(unit.haproxy_config().unwrap(), before, "nothing written from a bad value");
}

#[test]
fn turning_a_grpc_flag_off_clears_the_relation_and_says_so() {
    let mut unit = unit_with_ingress(true);
    unit.set_config("enable_hostagent_messenger", json!(false));
    let run = unit.hook("config-changed");
    assert_eq!(run.code, 0, "{}", run.stderr);
    let rel = unit.relation(12);
    assert!(rel.local_app_data.is_empty(), "{:?}", rel.local_app_data);
    assert!(ours(&rel.local_unit_data).is_empty(), "{:?}", rel.local_unit_data);
    assert!(rel.local_unit_data.contains_key("private-address"), "Juju's keys stay");
    assert_eq!(
        unit.status(),
        (
            "active".into(),
            "hostagent-messenger-ingress is related but unused: enable_hostagent_messenger is off".into()
        )
    );
    // The other gRPC endpoint is untouched; turning the flag on republishes.
    assert!(unit.relation(13).local_app_data.contains_key("port"));
    unit.set_config("enable_hostagent_messenger", json!(true));
    unit.hook("config-changed");
    assert_eq!(unit.relation(12).local_app_data.get("port").map(String::as_str), Some("6554"));
    assert_eq!(unit.status(), ("active".into(), "Unit is ready".into()));
}

#[test]
fn a_new_unit_address_reaches_the_provider_in_the_same_hook() {
    let mut unit = unit_with_ingress(true);
    unit.set_address("10.1.77.99");
    let run = unit.hook("config-changed");
    assert_eq!(run.code, 0, "{}", run.stderr);
    for (i, (endpoint, _)) in ENDPOINTS.iter().enumerate() {
        assert_eq!(
            unit.relation(10 + i as u32).local_unit_data.get("ip").map(String::as_str),
            Some("\"10.1.77.99\""),
            "{endpoint}"
        );
    }
}

#[test]
fn nothing_is_rewritten_when_nothing_changed() {
    let mut unit = unit_with_ingress(true);
    let run = unit.hook("update-status");
    assert!(!run.tool_calls.iter().any(|c| c.program == "relation-set"), "{:?}", run.tool_calls);
}

#[test]
fn provider_url_is_read_logged_once_and_shown_by_the_action() {
    let mut unit = unit_with_ingress(false);
    // The shapes the spec gives: pydantic may or may not add a trailing slash.
    unit.state
        .relation_mut(10)
        .unwrap()
        .remote_app_data
        .insert("ingress".into(), r#"{"url": "https://landscape.local/"}"#.into());
    unit.state
        .relation_mut(11)
        .unwrap()
        .remote_app_data
        .insert("ingress".into(), r#"{"url": "https://landscape.local"}"#.into());
    unit.relation_changed("http-ingress", 10, None);
    assert!(
        unit.log_text().contains("http-ingress: the ingress provider serves Landscape at https://landscape.local/")
    );
    assert_eq!(
        unit.state.unit_state.get("ingress-url.http-ingress").map(String::as_str),
        Some("https://landscape.local/")
    );
    let logs_before = unit.state.logs.len();
    unit.hook("update-status");
    assert!(!unit.state.logs[logs_before..].iter().any(|l| l.message.contains("serves Landscape")), "logged again");

    unit.action("get-ingress-urls");
    let action = unit.state.action.clone().unwrap();
    assert_eq!(action.failed, None);
    assert_eq!(action.results.get("http-ingress").map(String::as_str), Some("https://landscape.local/"));
    assert_eq!(action.results.get("https-ingress").map(String::as_str), Some("https://landscape.local"));
}

#[test]
fn malformed_provider_data_is_logged_with_its_field_and_ignored() {
    let mut unit = unit_with_ingress(true);
    for (id, raw) in [(10, "not json"), (11, r#"{"url": "javascript:alert(1)"}"#), (12, r#"{"link": "https://x/"}"#)] {
        unit.state.relation_mut(id).unwrap().remote_app_data.insert("ingress".into(), raw.into());
    }
    let run = unit.relation_changed("http-ingress", 10, None);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let log = unit.log_text();
    assert!(log.contains("http-ingress: ignoring the provider's data: ingress is not JSON"), "{log}");
    assert!(log.contains("https-ingress: ignoring the provider's data: ingress url is not an http(s) URL"), "{log}");
    assert!(
        log.contains("hostagent-messenger-ingress: ignoring the provider's data: ingress has no url string"),
        "{log}"
    );
    assert_eq!(unit.status().0, "active", "the unit still serves");
    unit.action("get-ingress-urls");
    let results = unit.state.action.clone().unwrap().results;
    assert!(results["http-ingress-error"].contains("not JSON"), "{results:?}");
}

#[test]
fn action_without_ingress_fails_clearly() {
    let mut unit = Unit::new(0, "10.1.77.18");
    unit.action("get-ingress-urls");
    assert_eq!(
        unit.state.action.clone().unwrap().failed.as_deref(),
        Some("no ingress or haproxy-route endpoint is related")
    );
}

#[test]
fn published_databags_validate_against_the_spec_schema() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let python = root.join(".venv-test/bin/python");
    assert!(python.exists(), "{} is missing: run scripts/setup-test-env", python.display());
    let mut bags = vec![];
    for leader_unit in [unit_with_ingress(true), unit_with_ingress(false)] {
        for (i, (endpoint, _)) in ENDPOINTS.iter().enumerate() {
            let rel = leader_unit.relation(10 + i as u32);
            if leader_unit.state.leader {
                bags.push(json!({"kind": "app", "name": format!("{endpoint} app"), "data": rel.local_app_data}));
            }
            bags.push(json!({"kind": "unit", "name": format!("{endpoint} unit"), "data": ours(&rel.local_unit_data)}));
        }
    }
    // The validator must be able to fail: a bag without `ip` is refused.
    let broken = json!([{"kind": "unit", "name": "no ip", "data": {"host": "\"h\""}}]);
    let run = |bags: &serde_json::Value| {
        let file = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(file.path(), bags.to_string()).unwrap();
        Command::new(&python)
            .arg(root.join("tests/fixtures/validate_ingress.py"))
            .arg(root.join("tests/fixtures/ingress-v2.schema.json"))
            .arg(file.path())
            .output()
            .unwrap()
    };
    let out = run(&json!(bags));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("validated 12 databags, 0 problems"), "{stdout}");
    let out = run(&broken);
    assert!(!out.status.success() && String::from_utf8_lossy(&out.stdout).contains("'ip' is a required property"));
}
