//! Fuzzing every relation field the charm reads (proptest, seeded and
//! bounded, so a run is repeatable and never depends on the machine): one
//! field of a ready leader's relations gets a hostile value, and the hook
//! that delivers it must end cleanly (exit 0, or a clean retry: never a
//! panic), inject nothing into HAProxy's config, service.conf or
//! `/etc/default`, postfix's main.cf or the systemd drop-ins, leave a
//! config the real HAProxy accepts, and show no password it was given.
//! The 26.04 parts' fields are fuzzed too (smtp, the task handler's answer,
//! the debarchive units), and what the charm reads back as input: its own
//! application bags, its unit state and `analytics_id`.

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
    (TCP_ROUTE_ENDPOINT, TCP_ROUTE_RELATION, None, "endpoints"),
    ("smtp", SMTP_RELATION, None, "host"),
    ("smtp", SMTP_RELATION, None, "port"),
    ("smtp", SMTP_RELATION, None, "auth_type"),
    ("smtp", SMTP_RELATION, None, "transport_security"),
    ("smtp", SMTP_RELATION, None, "skip_ssl_verify"),
    ("smtp", SMTP_RELATION, None, "user"),
    ("smtp", SMTP_RELATION, None, "password_id"),
    ("task-handler", TASK_HANDLER_RELATION, None, "grpc-address"),
    ("task-handler", TASK_HANDLER_RELATION, None, "certs-secret-id"),
    ("task-handler", TASK_HANDLER_RELATION, None, "certs-revision"),
    ("debarchive", DEBARCHIVE_RELATION, Some("landscape-debarchive/0"), "ingress-address"),
    ("task-handler", TASK_HANDLER_RELATION, Some(OWN_APP), "secret-id"),
    ("debarchive", DEBARCHIVE_RELATION, Some(OWN_APP), "secret-token-id"),
    (UNIT_STATE, 0, None, "smtp-applied"),
    (UNIT_STATE, 0, None, "smtp-relation-keys"),
    (UNIT_STATE, 0, None, "task-handler-outbox"),
    (UNIT_STATE, 0, None, "deployment-mode-dropins"),
    (UNIT_STATE, 0, None, "haproxy-applied"),
    (UNIT_STATE, 0, None, "last-reconcile"),
    (UNIT_STATE, 0, None, "haproxy-route.api-haproxy-route:43"),
    (CONFIG, 0, None, "analytics_id"),
];

/// A haproxy-route-tcp relation of the fuzzed leader.
const TCP_ROUTE_ENDPOINT: &str = "hostagent-messenger-haproxy-route";
const TCP_ROUTE_RELATION: u32 = 45;
/// The 26.04 parts' relations of the fuzzed leader.
const SMTP_RELATION: u32 = 60;
const TASK_HANDLER_RELATION: u32 = 80;
const DEBARCHIVE_RELATION: u32 = 70;
/// A member that stands for this side's own application bag.
const OWN_APP: &str = "(own application)";
/// Endpoints that stand for the unit's state and its config.
const UNIT_STATE: &str = "(unit state)";
const CONFIG: &str = "(config)";
const CERTS_SECRET: &str = "secret:fuzz0cert5000000000";

/// A haproxy-route relation of the fuzzed leader.
const ROUTE_ENDPOINT: &str = "api-haproxy-route";
const ROUTE_RELATION: u32 = 43;

/// A ready leader with one peer, a haproxy-route relation, and smtp, the
/// task handler and the debarchive answered, in a mode with drop-ins.
fn fuzzed_leader() -> Unit {
    let mut unit = ready_leader(1);
    unit.set_config("root_url", serde_json::json!("https://landscape.example.com/"));
    unit.set_config("deployment_mode", serde_json::json!("saas"));
    unit.add_relation(ROUTE_ENDPOINT, ROUTE_RELATION, "haproxy");
    unit.add_relation(TCP_ROUTE_ENDPOINT, TCP_ROUTE_RELATION, "haproxy");
    let cf = unit.path("/etc/postfix/main.cf");
    std::fs::create_dir_all(cf.parent().unwrap()).unwrap();
    std::fs::write(&cf, "myhostname = landscape\nrelayhost =\n").unwrap();
    let smtp = [("host", "smtp.example.com"), ("port", "587"), ("auth_type", "plain"), ("user", "landscape")];
    unit.add_relation("smtp", SMTP_RELATION, "smtp-integrator").remote_app_data =
        smtp.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    let pem = |what: &str| format!("-----BEGIN {what}-----\nMIIB\n-----END {what}-----");
    let bundle =
        [("ca-cert", pem("CERTIFICATE")), ("client-cert", pem("CERTIFICATE")), ("client-key", pem("PRIVATE KEY"))];
    unit.put_secret(CERTS_SECRET, "landscape-task-handler", bundle.map(|(k, v)| (k.to_string(), v)).into());
    let answer = [("grpc-address", "10.1.1.9:50051"), ("certs-secret-id", CERTS_SECRET), ("certs-revision", "1")];
    unit.add_relation("task-handler", TASK_HANDLER_RELATION, "landscape-task-handler").remote_app_data =
        answer.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    let rel = unit.add_relation("debarchive", DEBARCHIVE_RELATION, "landscape-debarchive");
    rel.remote_units
        .insert("landscape-debarchive/0".into(), [("ingress-address".to_string(), "10.1.90.4".to_string())].into());
    assert_eq!(unit.hook("config-changed").code, 0);
    unit
}

/// main.cf's keys: the file's own and those the smtp part manages.
fn main_cf_keys_are_known(unit: &Unit) -> Result<(), String> {
    let text = unit.read("/etc/postfix/main.cf").unwrap_or_default();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let key = line.split('=').next().unwrap_or_default().trim();
        let known = ["myhostname", "relayhost"].contains(&key)
            || landscape_server::companions::smtp::MANAGED_KEYS.contains(&key);
        if !known {
            return Err(format!("main.cf gained {line:?}"));
        }
    }
    Ok(())
}

/// Each drop-in is a `[Service]` line and one `Environment=` line.
fn dropins_are_two_lines(unit: &Unit) -> Result<(), String> {
    let system = unit.root().join("etc/systemd/system");
    for dir in std::fs::read_dir(&system).into_iter().flatten().flatten() {
        for file in std::fs::read_dir(dir.path()).into_iter().flatten().flatten() {
            let text = std::fs::read_to_string(file.path()).unwrap_or_default();
            let lines: Vec<&str> = text.lines().collect();
            if lines.len() != 2 || lines[0] != "[Service]" || !lines[1].starts_with("Environment=") {
                return Err(format!("{} is {text:?}", file.path().display()));
            }
        }
    }
    Ok(())
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
    let dispatch = match endpoint {
        UNIT_STATE => {
            unit.state.unit_state.insert(key.to_string(), value.to_string());
            Dispatch::Hook("config-changed".into())
        }
        CONFIG => {
            unit.set_config(key, serde_json::json!(value));
            Dispatch::Hook("config-changed".into())
        }
        _ => {
            let rel = unit.state.relation_mut(id).expect("related");
            let bag = match member {
                Some(OWN_APP) => &mut rel.local_app_data,
                Some(member) => rel.remote_units.get_mut(member).expect("the remote unit"),
                None => &mut rel.remote_app_data,
            };
            bag.insert(key.to_string(), value.to_string());
            let remote = member.filter(|m| *m != OWN_APP).map(str::to_string);
            let remote = remote.or_else(|| rel.remote_units.keys().next().cloned());
            Dispatch::relation(endpoint, "changed", id, remote.as_deref())
        }
    };
    let run = unit.run(dispatch);
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
    prop_assert!(main_cf_keys_are_known(unit).is_ok(), "{context}: {:?}", main_cf_keys_are_known(unit));
    prop_assert!(dropins_are_two_lines(unit).is_ok(), "{context}: {:?}", dropins_are_two_lines(unit));
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
    // One leader, its files and state put back before each case.
    let unit = std::cell::RefCell::new(fuzzed_leader());
    let saved = unit.borrow().save();
    let before = shape(&unit.borrow().read("/etc/landscape/service.conf").unwrap());
    let case = |field: usize, value: &str| {
        let mut unit = unit.borrow_mut();
        unit.restore(&saved);
        check(&mut unit, field, value, &before)
    };
    // Every field at least once, then random ones.
    let strategy = (0..FIELDS.len(), hostile_value());
    let seen = std::cell::RefCell::new(std::collections::BTreeSet::new());
    runner
        .run(&strategy, |(field, value)| {
            seen.borrow_mut().insert(field);
            case(field, &value)
        })
        .unwrap_or_else(|e| panic!("{e}"));
    for (field, _) in FIELDS.iter().enumerate().filter(|(f, _)| !seen.borrow().contains(f)) {
        let value = format!("{MARKER}\n server evil 6.6.6.6:80 #");
        case(field, &value).unwrap_or_else(|e| panic!("{e}"));
    }
}
