//! Fuzzing every relation field the charm reads (proptest, seeded and
//! bounded, so a run is repeatable and never depends on the machine): one
//! field of a ready leader's relations gets a hostile value, and the hook
//! that delivers it must end cleanly (exit 0, or a clean retry: never a
//! panic), inject nothing into HAProxy's config, service.conf or
//! `/etc/default`, leave a config the real HAProxy accepts, and show no
//! password it was given.

use landscape_server::ini::IniDocument;
use proptest::prelude::*;
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};

use crate::fixtures::haproxy_check_strict;
use crate::harness::{
    AMQP_PASSWORD, DB_PASSWORD, DB_RELATION, Dispatch, INBOUND_AMQP_RELATION, OUTBOUND_AMQP_RELATION, TLS_RELATION,
    Unit, ready_leader,
};

/// A word that must never show up where it was not put.
const MARKER: &str = "INJECTED";

/// Where a field lives: (endpoint, relation id, the remote unit's bag, or
/// the remote application's when None), and its name.
const FIELDS: &[(&str, u32, Option<&str>, &str)] = &[
    ("database", DB_RELATION, None, "endpoints"),
    ("database", DB_RELATION, None, "secret-user"),
    ("database", DB_RELATION, None, "version"),
    ("database", DB_RELATION, None, "username"),
    ("database", DB_RELATION, None, "password"),
    ("inbound-amqp", INBOUND_AMQP_RELATION, Some("rabbitmq-server/0"), "hostname"),
    ("inbound-amqp", INBOUND_AMQP_RELATION, Some("rabbitmq-server/0"), "password"),
    ("outbound-amqp", OUTBOUND_AMQP_RELATION, Some("rabbitmq-server/0"), "hostname"),
    ("outbound-amqp", OUTBOUND_AMQP_RELATION, Some("rabbitmq-server/0"), "password"),
    ("load-balancer-certificates", TLS_RELATION, None, "certificates"),
    ("replicas", 0, Some("landscape-server/1"), "address"),
    ("replicas", 0, Some("landscape-server/1"), "ingress-address"),
    (ROUTE_ENDPOINT, ROUTE_RELATION, None, "endpoints"),
    (ROUTE_ENDPOINT, ROUTE_RELATION, Some("haproxy/0"), "ingress-address"),
    (ROUTE_ENDPOINT, ROUTE_RELATION, Some("haproxy/0"), "egress-subnets"),
];

/// A haproxy-route relation of the fuzzed leader.
const ROUTE_ENDPOINT: &str = "api-haproxy-route";
const ROUTE_RELATION: u32 = 43;

/// A ready leader with one peer and a haproxy-route relation.
fn fuzzed_leader() -> Unit {
    let mut unit = ready_leader(1);
    unit.set_config("root_url", serde_json::json!("https://landscape.example.com/"));
    unit.add_relation(ROUTE_ENDPOINT, ROUTE_RELATION, "haproxy");
    assert_eq!(unit.hook("config-changed").code, 0);
    unit
}

/// The most a unit-state value may hold: what the charm keeps there is its
/// own bookkeeping, never a provider's data as written.
const MAX_STATE_VALUE: usize = 16 * 1024;

/// Hostile values: line breaks, HAProxy and INI syntax, shell, escapes,
/// JSON that is almost right, huge ones; each carries the marker, some a
/// password-like secret.
fn hostile_value() -> impl Strategy<Value = String> {
    let fragments = prop::sample::select(vec![
        "\n".to_string(),
        "\r\n".to_string(),
        " ".to_string(),
        "#".to_string(),
        "%(x)s".to_string(),
        "'\"".to_string(),
        "$(id)".to_string(),
        ";".to_string(),
        "\u{1b}[31m".to_string(),
        "\0".to_string(),
        "server evil 6.6.6.6:80".to_string(),
        "[landscape]\nsecret-token = x".to_string(),
        "10.1.77.18".to_string(),
        "fd00::1".to_string(),
        "0.0.0.0".to_string(),
        ":5432".to_string(),
        "[\"a\"]".to_string(),
        "{\"ca\": 1}".to_string(),
        "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----".to_string(),
        "secret:".to_string(),
        "é✓".to_string(),
        "x".repeat(70_000),
    ]);
    prop::collection::vec(fragments, 1..5).prop_map(|parts| format!("{MARKER}{}", parts.concat()))
}

/// Every section and key of service.conf: what an injection would add to.
fn shape(conf: &str) -> Vec<(String, Vec<String>)> {
    let doc = IniDocument::parse(conf).expect("service.conf stays valid INI");
    doc.sections().into_iter().map(|s| (s.to_string(), doc.entries(s).into_iter().map(|(k, _)| k).collect())).collect()
}

fn check(unit: &mut Unit, field: usize, value: &str, before: &[(String, Vec<String>)]) -> Result<(), TestCaseError> {
    let (endpoint, id, member, key) = FIELDS[field];
    let rel = unit.state.relation_mut(id).expect("related");
    let bag = match member {
        Some(member) => rel.remote_units.get_mut(member).expect("the remote unit"),
        None => &mut rel.remote_app_data,
    };
    bag.insert(key.to_string(), value.to_string());
    let remote = member.map(str::to_string).or_else(|| rel.remote_units.keys().next().cloned());
    let run = unit.run(Dispatch::relation(endpoint, "changed", id, remote.as_deref()));
    let context = format!("{endpoint} {key}");
    prop_assert!(!run.stderr.contains("panicked"), "{context}: dispatch panicked: {}", run.stderr);
    // A retry is a clean error of the charm's own, bounded.
    prop_assert!(run.code == 0 || run.stderr.starts_with("landscape-server: "), "{context}: {}", run.stderr);
    let config = unit.haproxy_config().expect("haproxy.cfg");
    prop_assert!(!config.contains(MARKER), "{context}: the value reached haproxy.cfg");
    prop_assert!(haproxy_check_strict(&config).is_ok(), "{context}: {:?}", haproxy_check_strict(&config));
    let conf = unit.read("/etc/landscape/service.conf").expect("service.conf");
    prop_assert_eq!(&shape(&conf), before, "{}: service.conf gained a section or key", context);
    let defaults = unit.read("/etc/default/landscape-server").unwrap_or_default();
    prop_assert!(!defaults.contains(MARKER), "{context}: the value reached /etc/default");
    let (status, message) = unit.status();
    let log = unit.log_text();
    for secret in [DB_PASSWORD, AMQP_PASSWORD] {
        prop_assert!(!log.contains(secret) && !message.contains(secret), "{context}: a password was shown");
        prop_assert!(!run.stderr.contains(secret), "{context}: a password reached stderr");
    }
    prop_assert!(message.chars().count() <= 2000 && !message.contains('\n'), "{context}: status {status} unbounded");
    prop_assert!(log.lines().all(|l| l.chars().count() <= 2100), "{context}: an unbounded log line");
    // (The last reconcile's record holds the status, which quotes a bad
    // value cut short; the haproxy-route records hold none.)
    let kept = unit
        .state
        .unit_state
        .iter()
        .find(|(k, v)| v.len() > MAX_STATE_VALUE || (k.starts_with("haproxy-route.") && v.contains(MARKER)));
    prop_assert!(kept.is_none(), "{context}: unit state keeps the provider's data: {:?}", kept.map(|(k, _)| k));
    Ok(())
}

#[test]
fn hostile_values_in_every_relation_field_inject_nothing_and_never_panic() {
    let config = Config { cases: 36, failure_persistence: None, ..Config::default() };
    let mut runner = TestRunner::new_with_rng(config, TestRng::deterministic_rng(RngAlgorithm::ChaCha));
    let base = fuzzed_leader();
    let before = shape(&base.read("/etc/landscape/service.conf").unwrap());
    drop(base);
    // Every field at least once, then random ones.
    let strategy = (0..FIELDS.len(), hostile_value());
    let seen = std::cell::RefCell::new(std::collections::BTreeSet::new());
    runner
        .run(&strategy, |(field, value)| {
            seen.borrow_mut().insert(field);
            let mut unit = fuzzed_leader();
            check(&mut unit, field, &value, &before)
        })
        .unwrap_or_else(|e| panic!("{e}"));
    for (field, _) in FIELDS.iter().enumerate().filter(|(f, _)| !seen.borrow().contains(f)) {
        let mut unit = fuzzed_leader();
        let value = format!("{MARKER}\n server evil 6.6.6.6:80 #");
        check(&mut unit, field, &value, &before).unwrap_or_else(|e| panic!("{e}"));
    }
}
