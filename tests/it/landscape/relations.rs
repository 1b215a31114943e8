//! The relations Landscape needs: shared secrets, the database (and the legacy `db`), AMQP, what is missing and
//! what is not ready, removal, hostile data.

use serde_json::json;

use crate::harness::{
    APP, DB_RELATION, Databag, Dispatch, INBOUND_AMQP_RELATION, OUTBOUND_AMQP_RELATION, TLS_RELATION,
};
use crate::scenario::*;

#[test]
fn shared_secrets_live_in_an_application_secret_not_in_peer_data() {
    let (unit, _) = deployed_leader();
    let peer = unit.peer_app_data();
    assert!(!peer.contains_key("secret-token") && !peer.contains_key("cookie-encryption-key"), "{peer:?}");
    let id = &peer["shared-secret-id"];
    let secret = unit.state.secrets.iter().find(|s| &s.id == id).expect("the secret");
    assert_eq!(secret.owner, "application");
    let conf = service_conf(&unit);
    assert_eq!(secret.revisions[0]["secret-token"], conf.get("landscape", "secret-token").unwrap());
    assert_eq!(secret.revisions[0]["cookie-encryption-key"], conf.get("api", "cookie-encryption-key").unwrap());
}

#[test]
fn python_charm_peer_secrets_are_adopted_and_removed_from_peer_data() {
    let mut unit = new_unit(0, "10.1.77.18", true);
    unit.relate_workload();
    let peer = unit.peer_relation();
    peer.local_app_data.insert("secret-token".into(), "tokenFromThePythonCharm".into());
    peer.local_app_data.insert("cookie-encryption-key".into(), "cookieFromThePythonCharm".into());
    unit.mark_installed("landscape-server");
    let run = unit.hook("upgrade-charm");
    assert_eq!(run.code, 0, "{}", run.stderr);
    let conf = service_conf(&unit);
    assert_eq!(conf.get("landscape", "secret-token").as_deref(), Some("tokenFromThePythonCharm"));
    assert_eq!(conf.get("api", "cookie-encryption-key").as_deref(), Some("cookieFromThePythonCharm"));
    let peer = unit.peer_app_data();
    assert!(!peer.contains_key("secret-token"), "{peer:?}");
    assert!(peer.contains_key("shared-secret-id"));
}

#[test]
fn configured_secrets_win_over_the_shared_ones() {
    let (mut unit, _) = deployed_leader();
    unit.set_config("secret_token", json!("operatorToken"));
    unit.hook("config-changed");
    assert_eq!(service_conf(&unit).get("landscape", "secret-token").as_deref(), Some("operatorToken"));
}

#[test]
fn absent_relations_block_and_related_ones_that_are_not_ready_wait() {
    let mut unit = new_unit(0, "10.1.77.18", true);
    boot(&mut unit);
    assert_eq!(
        status(&unit),
        (
            "blocked".into(),
            "Missing relations: database, inbound-amqp, outbound-amqp, load-balancer-certificates".into()
        )
    );
    // Related, but RabbitMQ has not answered yet: no longer missing.
    unit.add_relation("inbound-amqp", INBOUND_AMQP_RELATION, "rabbitmq-server");
    relation_hook(&mut unit, "inbound-amqp", "joined", INBOUND_AMQP_RELATION, Some("rabbitmq-server/0"));
    assert_eq!(
        status(&unit),
        ("blocked".into(), "Missing relations: database, outbound-amqp, load-balancer-certificates".into())
    );
    // Everything related; two of them not ready: Waiting, naming what each lacks.
    unit.add_database(DB_RELATION);
    unit.add_amqp("outbound-amqp", OUTBOUND_AMQP_RELATION);
    unit.add_relation("load-balancer-certificates", TLS_RELATION, "self-signed-certificates");
    relation_hook(&mut unit, "load-balancer-certificates", "created", TLS_RELATION, None);
    assert_eq!(
        status(&unit),
        (
            "waiting".into(),
            "Waiting for inbound-amqp: no password yet; load-balancer-certificates: no certificate yet".into()
        )
    );
}

#[test]
fn removing_the_database_waits_again_and_restarts_nothing() {
    let (mut unit, _) = deployed_leader();
    let run = unit.run(Dispatch::relation("database", "broken", DB_RELATION, None));
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(status(&unit), ("blocked".into(), "Missing relations: database".into()));
    assert!(!run.command_lines().iter().any(|l| l.starts_with("lsctl")), "{:?}", run.command_lines());
    // Re-adding a database (a new one) bootstraps its schema and restarts once.
    unit.add_database(DB_RELATION + 10);
    let rel = unit.state.relation_mut(DB_RELATION + 10).unwrap();
    rel.remote_app_data.insert("endpoints".into(), "10.1.99.7:5432".into());
    let run = relation_hook(&mut unit, "database", "changed", DB_RELATION + 10, Some("postgresql/0"));
    assert!(run.ran("landscape-schema --bootstrap --db-owner-role charmed_dba"), "{:?}", run.command_lines());
    assert!(run.ran("lsctl restart"));
    assert_eq!(service_conf(&unit).get("stores", "host").as_deref(), Some("10.1.99.7:5432"));
    assert!(is_ready(&unit));
}

#[test]
fn legacy_pgsql_relation_is_read_from_master_once_we_are_allowed() {
    let mut unit = new_unit(0, "10.1.77.18", true);
    boot(&mut unit);
    unit.add_amqp("inbound-amqp", INBOUND_AMQP_RELATION);
    unit.add_amqp("outbound-amqp", OUTBOUND_AMQP_RELATION);
    unit.add_relation("load-balancer-certificates", TLS_RELATION, "self-signed-certificates");
    let rel = unit.add_relation("db", 30, "postgresql");
    let bag = rel.remote_units.get_mut("postgresql/0").unwrap();
    // A standby's host in `host`: the master string must win.
    bag.extend(Databag::from([
        ("host".into(), "10.1.99.9".into()),
        ("port".into(), "5432".into()),
        ("user".into(), "db_admin_landscape".into()),
        ("password".into(), "legacy-pw".into()),
        ("version".into(), "14".into()),
        (
            "master".into(),
            "dbname=landscape host=10.1.99.3 password=legacy-pw port=5432 user=db_admin_landscape".into(),
        ),
        ("allowed-units".into(), "some-other/0".into()),
    ]));
    relation_hook(&mut unit, "db", "changed", 30, Some("postgresql/0"));
    assert!(status(&unit).1.contains("db: landscape-server/0 is not in allowed-units yet"), "{:?}", status(&unit));
    unit.state
        .relation_mut(30)
        .unwrap()
        .remote_units
        .get_mut("postgresql/0")
        .unwrap()
        .insert("allowed-units".into(), format!("some-other/0 {APP}/0"));
    let run = relation_hook(&mut unit, "db", "changed", 30, Some("postgresql/0"));
    let conf = service_conf(&unit);
    assert_eq!(conf.get("stores", "host").as_deref(), Some("10.1.99.3:5432"));
    assert_eq!(conf.get("schema", "store_user").as_deref(), Some("db_admin_landscape"));
    // PostgreSQL 14: the postgres owner role, and no charmed_* grants.
    assert!(run.ran("landscape-schema --bootstrap --db-owner-role postgres"), "{:?}", run.command_lines());
    assert!(!run.commands.iter().any(|c| c.program == "psql"));
    assert!(
        unit.relation(30).local_app_data.is_empty() && !unit.relation(30).local_unit_data.contains_key("database"),
        "pgsql requirers write nothing"
    );
}

#[test]
fn database_without_secrets_and_with_overrides() {
    let mut unit = new_unit(0, "10.1.77.18", true);
    boot(&mut unit);
    // The non-secrets variant: plain username and password in the app bag.
    let rel = unit.add_relation("database", DB_RELATION, "postgresql");
    rel.remote_app_data = Databag::from([
        ("endpoints".into(), "10.1.99.1:5432".into()),
        ("username".into(), "relation-20".into()),
        ("password".into(), "plain-pw".into()),
        ("version".into(), "14.12".into()),
    ]);
    unit.set_config("db_port", json!("6432"));
    unit.set_config("db_schema_password", json!("schema-override"));
    relation_hook(&mut unit, "database", "changed", DB_RELATION, Some("postgresql/0"));
    let conf = service_conf(&unit);
    assert_eq!(conf.get("stores", "host").as_deref(), Some("10.1.99.1:6432"));
    assert_eq!(conf.get("stores", "password").as_deref(), Some("plain-pw"));
    assert_eq!(conf.get("schema", "store_password").as_deref(), Some("schema-override"));
}

#[test]
fn hostile_relation_data_never_reaches_service_conf() {
    let mut unit = new_unit(0, "10.1.77.18", true);
    boot(&mut unit);
    unit.add_database(DB_RELATION);
    unit.state
        .relation_mut(DB_RELATION)
        .unwrap()
        .remote_app_data
        .insert("endpoints".into(), "10.1.99.1:5432\n[evil]".into());
    unit.add_amqp("inbound-amqp", INBOUND_AMQP_RELATION);
    let bag =
        unit.state.relation_mut(INBOUND_AMQP_RELATION).unwrap().remote_units.get_mut("rabbitmq-server/0").unwrap();
    bag.insert("hostname".into(), "10.1.99.1\nhost = attacker".into());
    relation_hook(&mut unit, "database", "changed", DB_RELATION, Some("postgresql/0"));
    let text = unit.read("/etc/landscape/service.conf").unwrap();
    assert!(!text.contains("evil") && !text.contains("attacker"), "{text}");
    let (name, message) = status(&unit);
    assert_eq!(name, "blocked");
    assert!(message.contains("database: endpoints"), "{message}");
    assert!(unit.log_text().contains("inbound-amqp: rabbitmq-server/0 hostname"), "{}", unit.log_text());
}

#[test]
fn an_unusable_outbound_amqp_is_logged_by_name_beside_a_good_inbound() {
    let mut unit = new_unit(0, "10.1.77.18", true);
    boot(&mut unit);
    unit.add_amqp("inbound-amqp", INBOUND_AMQP_RELATION);
    unit.add_amqp("outbound-amqp", OUTBOUND_AMQP_RELATION);
    let bag =
        unit.state.relation_mut(OUTBOUND_AMQP_RELATION).unwrap().remote_units.get_mut("rabbitmq-server/0").unwrap();
    bag.insert("password".into(), "two words".into());
    relation_hook(&mut unit, "outbound-amqp", "changed", OUTBOUND_AMQP_RELATION, Some("rabbitmq-server/0"));
    let log = unit.log_text();
    assert!(log.contains("outbound-amqp: rabbitmq-server/0 published a password with spaces"), "{log}");
    assert!(!service_conf(&unit).to_string().contains("two words"));
}

#[test]
fn schema_bootstrap_passes_the_proxies_on() {
    let mut unit = new_unit(0, "10.1.77.18", true);
    unit.set_config("https_proxy", json!("http://squid.internal:3128"));
    unit.set_config("no_proxy", json!("10.0.0.0/8"));
    let mut runs = boot(&mut unit);
    for which in ALL_RELATIONS {
        runs.extend(relate(&mut unit, which));
    }
    let line = "landscape-schema --bootstrap --db-owner-role charmed_dba \
                --with-https-proxy http://squid.internal:3128 --with-no-proxy 10.0.0.0/8";
    assert_eq!(count(&runs, line), 1, "{:?}", runs.iter().flat_map(|r| r.command_lines()).collect::<Vec<_>>());
}

#[test]
fn removing_an_amqp_relation_waits_again_and_restarts_nothing() {
    let (mut unit, _) = deployed_leader();
    let run = unit.run(Dispatch::relation("outbound-amqp", "broken", OUTBOUND_AMQP_RELATION, None));
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(status(&unit), ("blocked".into(), "Missing relations: outbound-amqp".into()));
    assert!(!run.command_lines().iter().any(|l| l.starts_with("lsctl")), "{:?}", run.command_lines());
}
