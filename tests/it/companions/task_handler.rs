//! The `task-handler` relation (provider side, interface
//! `landscape-task-handler`): the leader's application bag key by key as the
//! task-handler charm reads it, the password's secret, the outbox pointed at
//! the task handler's answer, and hostile answers.

use std::os::unix::fs::MetadataExt;

use serde_json::json;

use crate::harness::{Dispatch, Unit};

pub const REL: u32 = 80;
pub const CERTS_SECRET: &str = "secret:task0hand1er0cert500";
const CERTS_DIR: &str = "/var/snap/landscape-outbox/common/task-handler-certs";

/// A deployed leader whose service.conf has the package's [stores] layout.
pub fn leader_with_package_service_conf() -> Unit {
    let mut unit = Unit::new(0, "10.1.77.18");
    crate::scenario::write_package_service_conf(&unit);
    unit.state.leader = true;
    unit.relate_workload();
    for _ in 0..2 {
        assert_eq!(unit.hook("config-changed").code, 0);
    }
    unit
}

pub fn relate_task_handler(unit: &mut Unit, answer: &[(&str, &str)]) -> crate::harness::RunResult {
    unit.remote_app_answers("task-handler", REL, "landscape-task-handler", answer)
}

pub fn add_certs_secret(unit: &mut Unit, key_pem: &str) {
    let pem = |what: &str| format!("-----BEGIN {what}-----\nMIIB\n-----END {what}-----");
    let bundle = [
        ("ca-cert".to_string(), pem("CERTIFICATE")),
        ("client-cert".to_string(), pem("CERTIFICATE")),
        ("client-key".to_string(), key_pem.to_string()),
    ];
    unit.put_secret(CERTS_SECRET, "landscape-task-handler", bundle.into());
}

pub const KEY: &str = "-----BEGIN PRIVATE KEY-----\nMIIE\n-----END PRIVATE KEY-----";

#[test]
fn the_leader_publishes_the_stores_key_by_key_and_the_password_in_a_granted_secret() {
    let mut unit = leader_with_package_service_conf();
    unit.set_config("root_url", json!("https://landscape.example.com/"));
    let run = relate_task_handler(&mut unit, &[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let bag = unit.relation(REL).local_app_data.clone();
    let conf = crate::scenario::service_conf(&unit);
    let (db_host, db_port) =
        conf.get("stores", "host").unwrap().rsplit_once(':').map(|(h, p)| (h.to_string(), p.to_string())).unwrap();
    for (key, value) in [
        ("host", db_host.as_str()),
        ("port", db_port.as_str()),
        ("user", "landscape"),
        ("main", "landscape-standalone-main"),
        ("account_1", "landscape-standalone-account-1"),
        ("resource_1", "landscape-standalone-resource-1"),
        ("hostname", "landscape.example.com"),
    ] {
        assert_eq!(bag.get(key).map(String::as_str), Some(value), "{key}");
    }
    let id = bag.get("secret-id").expect("secret-id");
    let secret = unit.state.secrets.iter().find(|s| &s.id == id).expect("the secret");
    let password = conf.get("stores", "password").unwrap();
    assert_eq!(secret.revisions.last().unwrap().get("password"), Some(&password));
    assert_eq!(secret.granted, [REL]);
    assert!(!bag.values().any(|v| *v == password), "the password is only in the secret");
    assert!(!unit.log_text().contains(&password));
    // A PgBouncer beside Landscape (the scale guidance): Landscape stays
    // Active, the stores are published with the loopback address the task
    // handler recognises (it then uses its own task-db relation's host and
    // SSL mode), and the log says which database it uses.
    unit.set_config("db_host", json!("127.0.0.1"));
    unit.set_config("db_port", json!("6432"));
    unit.hook("config-changed");
    assert_eq!(unit.status(), ("active".into(), "Unit is ready".into()));
    let bag = unit.relation(REL).local_app_data.clone();
    assert_eq!((bag["host"].as_str(), bag["port"].as_str()), ("127.0.0.1", "6432"));
    assert!(unit.log_text().contains("the task handler uses its own task-db database"), "{}", unit.log_text());
}

#[test]
fn every_unit_points_the_outbox_at_the_task_handler_once_per_revision() {
    let mut unit = leader_with_package_service_conf();
    add_certs_secret(&mut unit, KEY);
    let answer =
        [("grpc-address", "landscape.example.com:50053"), ("certs-secret-id", CERTS_SECRET), ("certs-revision", "1")];
    let run = relate_task_handler(&mut unit, &answer);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let set = format!(
        "snap set landscape-outbox landscape.task-handler.grpc-address=landscape.example.com:50053 \
         landscape.task-handler.grpc-certs-dir={CERTS_DIR}"
    );
    assert!(run.ran(&set), "{:?}", run.command_lines());
    for (file, mode) in [("ca.crt", 0o644), ("client.crt", 0o644), ("client.key", 0o600)] {
        let path = unit.path(&format!("{CERTS_DIR}/{file}"));
        assert_eq!(std::fs::metadata(&path).unwrap().mode() & 0o777, mode, "{file}");
    }
    assert_eq!(unit.read(&format!("{CERTS_DIR}/client.key")).unwrap(), format!("{KEY}\n"));
    assert!(!unit.log_text().contains("MIIE"));
    // The same answer: nothing again. A new revision: read and set again.
    let again = relate_task_handler(&mut unit, &answer);
    assert!(!again.command_lines().iter().any(|l| l.starts_with("snap set")));
    let rotated = [answer[0], answer[1], ("certs-revision", "2")];
    let run = relate_task_handler(&mut unit, &rotated);
    assert!(run.ran(&set));
    // The relation goes: the outbox forgets it.
    let run = unit.run(Dispatch::relation("task-handler", "broken", REL, None));
    assert!(
        run.ran(
            "snap unset landscape-outbox landscape.task-handler.grpc-address landscape.task-handler.grpc-certs-dir"
        )
    );
    assert!(unit.read(&format!("{CERTS_DIR}/client.key")).is_none());
    assert_eq!(unit.status(), ("active".into(), "Unit is ready".into()));
}

#[test]
fn hostile_answers_block_naming_the_field_and_write_nothing() {
    let mut unit = leader_with_package_service_conf();
    add_certs_secret(&mut unit, "not a key");
    for (answer, says) in [
        (vec![("grpc-address", "evil; rm -rf /"), ("certs-secret-id", CERTS_SECRET)], "grpc-address"),
        (vec![("grpc-address", "10.1.1.9:50051"), ("certs-secret-id", "../../etc/shadow")], "certs-secret-id"),
        (
            vec![("grpc-address", "10.1.1.9:50051"), ("certs-secret-id", CERTS_SECRET)],
            "certs-secret-id's secret's client-key is not PEM",
        ),
    ] {
        let run = relate_task_handler(&mut unit, &answer);
        assert_eq!(run.code, 0, "{}", run.stderr);
        let (status, message) = unit.status();
        assert_eq!(status, "blocked", "{says}");
        assert!(message.starts_with(&format!("task-handler: {says}")), "{says}: {message}");
        assert!(!run.command_lines().iter().any(|l| l.starts_with("snap set")), "{says}");
        assert!(unit.read(&format!("{CERTS_DIR}/client.key")).is_none(), "{says}");
    }
}

/// PostgreSQL with TLS (`tls` true on `database`, in the secret the
/// provider names) accepts only TLS from other machines, yet the stores
/// were published without `sslmode`, so the task handler used
/// `ssl=disable`. Landscape's stores and the task handler's now say
/// `sslmode=require`.
#[test]
fn a_database_with_tls_was_published_to_the_task_handler_without_sslmode() {
    let mut unit = leader_with_package_service_conf();
    let uri = "secret:pgtls000000000000001";
    unit.put_secret(uri, "postgresql", [("tls".to_string(), "True".to_string())].into());
    let db = crate::harness::DB_RELATION;
    unit.state.relation_mut(db).unwrap().remote_app_data.insert("secret-tls".into(), uri.into());
    unit.relation_changed("database", db, None);
    let run = relate_task_handler(&mut unit, &[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(crate::scenario::service_conf(&unit).get("stores", "sslmode").as_deref(), Some("require"));
    assert_eq!(unit.relation(REL).local_app_data.get("sslmode").map(String::as_str), Some("require"));
}

/// Our own bag is input too. An id of a secret that is gone, or another
/// application's, made `secret-set` fail; a bag that lost the id of the
/// secret this application made made `secret-add` fail on its label. Both
/// failed every retry. Each is repaired now.
#[test]
fn a_gone_or_lost_secret_id_in_our_own_bag_failed_every_hook() {
    let mut unit = leader_with_package_service_conf();
    let rel = unit.add_relation("task-handler", REL, "landscape-task-handler");
    rel.local_app_data.insert("secret-id".into(), "secret:g0ne0000000000000000".into());
    let run = unit.relation_changed("task-handler", REL, None);
    assert_eq!(run.code, 0, "a gone secret: {}", run.stderr);
    let id = unit.relation(REL).local_app_data.get("secret-id").cloned().unwrap_or_default();
    let made = unit.state.secrets.iter().find(|s| s.id == id).expect("a secret of ours");
    assert_eq!(made.granted, [REL]);
    // The bag loses the id (another charm, an operator): the labelled secret
    // is found again, not made twice.
    unit.state.relation_mut(REL).unwrap().local_app_data.remove("secret-id");
    unit.state.unit_state.clear();
    let run = unit.relation_changed("task-handler", REL, None);
    assert_eq!(run.code, 0, "a lost id: {}", run.stderr);
    assert_eq!(unit.relation(REL).local_app_data.get("secret-id"), Some(&id), "the same secret");
    let label = format!("task-handler.{REL}.password");
    let ours = unit.state.secrets.iter().filter(|s| s.label.as_deref() == Some(label.as_str())).count();
    assert_eq!(ours, 1, "made once");
}

/// A task handler's `certs-revision` (or address) of 64 KiB was copied into
/// unit state as written, until `state-set` refused it on every retry.
#[test]
fn an_oversized_certs_revision_was_copied_into_unit_state() {
    let mut unit = leader_with_package_service_conf();
    add_certs_secret(&mut unit, KEY);
    let huge = "7".repeat(70 * 1024);
    let answer = [("grpc-address", "10.1.1.9:50051"), ("certs-secret-id", CERTS_SECRET), ("certs-revision", &huge)];
    let run = relate_task_handler(&mut unit, &answer);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let largest = unit.state.unit_state.values().map(String::len).max().unwrap_or(0);
    assert!(largest < 16 * 1024, "a unit-state value of {largest} bytes");
    assert!(run.command_lines().iter().any(|l| l.starts_with("snap set")));
}

/// Provider data that reached the outbox unchecked: a `grpc-address`
/// without a port (`fd00::53` was read as host `fd00::53`, port 5432), a
/// NUL in the CA, and a private key inside a certificate, which went to a
/// world-readable file.
#[test]
fn unchecked_task_handler_answers_reached_the_outbox() {
    let mut unit = leader_with_package_service_conf();
    let pem = |what: &str| format!("-----BEGIN {what}-----\nMIIB\n-----END {what}-----");
    for (address, ca, cert, says) in [
        ("fd00::53", pem("CERTIFICATE"), pem("CERTIFICATE"), "grpc-address is not host:port"),
        ("[fd00::53]", pem("CERTIFICATE"), pem("CERTIFICATE"), "grpc-address is not host:port"),
        ("[fd00::53]:50051", pem("CERTIFICATE").replace("MIIB", "MI\0IB"), pem("CERTIFICATE"), "ca-cert holds control"),
        ("10.1.1.9:50051", pem("CERTIFICATE"), format!("{}\n{KEY}", pem("CERTIFICATE")), "client-cert holds something"),
    ] {
        let bundle =
            [("ca-cert".to_string(), ca), ("client-cert".to_string(), cert), ("client-key".to_string(), KEY.into())];
        unit.state.secrets.retain(|s| s.id != CERTS_SECRET);
        unit.put_secret(CERTS_SECRET, "landscape-task-handler", bundle.into());
        let answer = [("grpc-address", address), ("certs-secret-id", CERTS_SECRET), ("certs-revision", says)];
        let run = relate_task_handler(&mut unit, &answer);
        assert_eq!(run.code, 0, "{}", run.stderr);
        let (status, message) = unit.status();
        assert_eq!(status, "blocked", "{says}");
        assert!(message.contains(says), "{says}: {message}");
        assert!(!run.command_lines().iter().any(|l| l.starts_with("snap set")), "{says}");
        assert!(unit.read(&format!("{CERTS_DIR}/ca.crt")).is_none(), "{says}: nothing written");
    }
}
