//! The Landscape workload through whole hooks: install, a full deployment in
//! Juju's hook order (leader and non-leader, relations in every order),
//! service.conf and /etc/default, relation removal, actions and bad config.

use landscape_server::ini::IniDocument;
use serde_json::json;

use crate::fixtures::{TestCa, issue_certificate};
use crate::harness::{
    AMQP_PASSWORD, APP, DB_PASSWORD, DB_RELATION, Databag, Dispatch, INBOUND_AMQP_RELATION, OUTBOUND_AMQP_RELATION,
    RunResult, TLS_RELATION, Unit,
};

const READY: (&str, &str) = ("active", "Unit is ready");

fn status(unit: &Unit) -> (String, String) {
    unit.status()
}

fn is_ready(unit: &Unit) -> bool {
    status(unit) == (READY.0.to_string(), READY.1.to_string())
}

fn service_conf(unit: &Unit) -> IniDocument {
    IniDocument::parse(&unit.read("/etc/landscape/service.conf").expect("service.conf")).unwrap()
}

fn relation_hook(unit: &mut Unit, endpoint: &str, kind: &'static str, id: u32, remote_unit: Option<&str>) -> RunResult {
    let run = unit.run(Dispatch::relation(endpoint, kind, id, remote_unit));
    assert_eq!(run.code, 0, "{endpoint}-relation-{kind}: {}", run.stderr);
    run
}

/// A new machine: Landscape not installed yet.
fn new_unit(number: u32, address: &str, leader: bool) -> Unit {
    let mut unit = Unit::new(number, address);
    unit.state.leader = leader;
    for package in ["landscape-server", "landscape-hashids"] {
        unit.mark_not_installed(package);
    }
    unit
}

/// install, replicas-relation-created, leader-elected (or leader-settings-changed),
/// config-changed, start: the first hooks of a unit.
fn boot(unit: &mut Unit) -> Vec<RunResult> {
    let mut runs = vec![unit.hook("install")];
    unit.mark_installed("landscape-server");
    unit.mark_installed("landscape-hashids");
    unit.peer_relation();
    runs.push(relation_hook(unit, "replicas", "created", 0, None));
    let leadership = if unit.state.leader { "leader-elected" } else { "leader-settings-changed" };
    for hook in [leadership, "config-changed", "start"] {
        runs.push(unit.hook(hook));
    }
    for run in &runs {
        assert_eq!(run.code, 0, "{}", run.stderr);
    }
    runs
}

/// One relation as Juju brings it: created, then joined and changed for the remote unit.
fn relate(unit: &mut Unit, which: &str) -> Vec<RunResult> {
    let (endpoint, id) = match which {
        "database" => {
            unit.add_database(DB_RELATION);
            ("database", DB_RELATION)
        }
        "inbound-amqp" => {
            unit.add_amqp("inbound-amqp", INBOUND_AMQP_RELATION);
            ("inbound-amqp", INBOUND_AMQP_RELATION)
        }
        "outbound-amqp" => {
            unit.add_amqp("outbound-amqp", OUTBOUND_AMQP_RELATION);
            ("outbound-amqp", OUTBOUND_AMQP_RELATION)
        }
        "load-balancer-certificates" => {
            unit.add_relation("load-balancer-certificates", TLS_RELATION, "self-signed-certificates");
            let created = relation_hook(unit, "load-balancer-certificates", "created", TLS_RELATION, None);
            let ca = TestCa::new("self-signed-certificates");
            issue_certificate(unit, TLS_RELATION, &ca, 0, 90);
            let changed = relation_hook(unit, "load-balancer-certificates", "changed", TLS_RELATION, None);
            return vec![created, changed];
        }
        other => panic!("unknown relation {other}"),
    };
    let remote = unit.relation(id).remote_units.keys().next().cloned().unwrap();
    vec![
        relation_hook(unit, endpoint, "created", id, None),
        relation_hook(unit, endpoint, "joined", id, Some(&remote)),
        relation_hook(unit, endpoint, "changed", id, Some(&remote)),
    ]
}

const ALL_RELATIONS: [&str; 4] = ["database", "inbound-amqp", "outbound-amqp", "load-balancer-certificates"];

fn count(runs: &[RunResult], line: &str) -> usize {
    runs.iter().flat_map(|r| r.command_lines()).filter(|l| l == line).count()
}

fn deployed_leader() -> (Unit, Vec<RunResult>) {
    let mut unit = new_unit(0, "10.1.77.18", true);
    let mut runs = boot(&mut unit);
    for which in ALL_RELATIONS {
        runs.extend(relate(&mut unit, which));
    }
    (unit, runs)
}

#[test]
fn leader_full_deployment_ends_ready_with_the_expected_files_and_commands() {
    let (unit, runs) = deployed_leader();
    assert_eq!(status(&unit), (READY.0.into(), READY.1.into()));

    // Install: needrestart checked, PPA added, Landscape and hashids installed and held.
    let install = runs[0].command_lines();
    for expected in [
        "dpkg-query -W -f=${Package} ${Status}\\n landscape-server haproxy landscape-ubuntu-installer-attach needrestart",
        "add-apt-repository -y ppa:landscape/self-hosted-beta",
        "apt-get update -q",
        "apt-get install -y -q landscape-server landscape-hashids",
        "apt-mark hold landscape-server landscape-hashids",
    ] {
        assert!(install.iter().any(|l| l == expected), "missing {expected:?} in {install:#?}");
    }
    let apt = runs[0].commands.iter().find(|c| c.line().starts_with("apt-get install")).unwrap();
    assert_eq!(apt.env.get("DEBIAN_FRONTEND").map(String::as_str), Some("noninteractive"));

    let conf = service_conf(&unit);
    let get = |s: &str, k: &str| conf.get(s, k).unwrap_or_else(|| panic!("[{s}] {k} missing"));
    for section in ["landscape", "api", "message-server", "pingserver"] {
        assert_eq!(get(section, "workers"), "2");
    }
    for section in ["global", "api", "package-upload"] {
        assert_eq!(get(section, "root-url"), "https://10.1.77.18/", "the leader's address when root_url is unset");
    }
    assert_eq!(get("global", "deployment-mode"), "standalone");
    assert_eq!(get("stores", "host"), "10.1.99.1:5432");
    assert_eq!(get("stores", "password"), DB_PASSWORD);
    assert_eq!(get("schema", "store_user"), "relation-20");
    assert_eq!(get("schema", "store_password"), DB_PASSWORD);
    assert_eq!(get("broker", "host"), "10.1.99.1");
    assert_eq!(get("broker", "password"), AMQP_PASSWORD);
    assert_eq!(get("package-search", "host"), "localhost");
    assert_eq!(get("landscape", "secret-token").len(), 172);
    assert_eq!(get("api", "cookie-encryption-key").len(), 44);

    let defaults = unit.read("/etc/default/landscape-server").unwrap();
    assert!(defaults.starts_with("DEPLOYED_FROM=\"charm\"\n"), "{defaults}");
    for line in [
        "RUN_ALL=\"no\"",
        "RUN_APPSERVER=\"2\"",
        "RUN_CRON=\"yes\"",
        "RUN_PACKAGESEARCH=\"yes\"",
        "RUN_PACKAGEUPLOADSERVER=\"yes\"",
    ] {
        assert!(defaults.lines().any(|l| l == line), "missing {line} in {defaults}");
    }

    // PostgreSQL 16: the charmed_dba owner role, then the charmed_dml grant.
    assert_eq!(count(&runs, "landscape-schema --bootstrap --db-owner-role charmed_dba"), 1);
    let grant = runs.iter().flat_map(|r| r.commands.iter()).find(|c| c.program == "psql").expect("a grant");
    assert!(grant.line().ends_with("-c GRANT charmed_dml TO landscape"), "{}", grant.line());
    assert_eq!(unit.peer_app_data()["schema-bootstrapped"], "relation-20@10.1.99.1:5432");
    // Services: started once, when everything was there; the leader runs the leader-only ones.
    assert_eq!(count(&runs, "lsctl restart"), 1);
    for service in ["landscape-package-search", "landscape-package-upload"] {
        assert_eq!(count(&runs, &format!("systemctl unmask {service}")), 1);
        assert_eq!(count(&runs, &format!("systemctl enable --now {service}")), 1);
    }
    // The request on each relation, in the interfaces' formats.
    let db_app = &unit.relation(DB_RELATION).local_app_data;
    assert_eq!(db_app["database"], "database");
    assert_eq!(db_app["extra-user-roles"], "SUPERUSER");
    let requested: Vec<String> = serde_json::from_str(&db_app["requested-secrets"]).unwrap();
    assert!(requested.contains(&"username".to_string()) && requested.contains(&"password".to_string()));
    for (id, vhost) in [(INBOUND_AMQP_RELATION, "landscape"), (OUTBOUND_AMQP_RELATION, "landscape-hostagent")] {
        let bag = &unit.relation(id).local_unit_data;
        assert_eq!((bag["username"].as_str(), bag["vhost"].as_str()), ("landscape", vhost));
    }
}

#[test]
fn an_idle_hook_after_deployment_restarts_nothing_and_rewrites_nothing() {
    let (mut unit, _) = deployed_leader();
    let before = unit.read("/etc/landscape/service.conf").unwrap();
    let run = unit.hook("update-status");
    assert!(is_ready(&unit));
    let lines = run.command_lines();
    assert!(
        !lines.iter().any(|l| l.starts_with("lsctl") || l.starts_with("landscape-schema") || l.starts_with("apt-get")),
        "{lines:?}"
    );
    assert_eq!(unit.read("/etc/landscape/service.conf").unwrap(), before);
    // A worker_counts change restarts once, and only once.
    unit.set_config("worker_counts", json!(3));
    let run = unit.hook("config-changed");
    assert_eq!(count(&[run], "lsctl restart"), 1);
    assert_eq!(service_conf(&unit).get("api", "workers").as_deref(), Some("3"));
    assert_eq!(count(&[unit.hook("config-changed")], "lsctl restart"), 0);
}

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

/// A second unit that joins a deployed leader.
fn follower() -> Unit {
    let (leader, _) = deployed_leader();
    let mut unit = new_unit(1, "10.1.77.229", false);
    // What the leader published for everyone: its address, the secret, the schema marker.
    unit.state.secrets = leader.state.secrets.clone();
    let mut app = leader.peer_app_data();
    app.retain(|k, _| ["leader-ip", "shared-secret-id", "schema-bootstrapped"].contains(&k.as_str()));
    unit.peer_relation().local_app_data = app;
    unit.add_peer(0, "10.1.77.18");
    let mut runs = boot(&mut unit);
    for which in ALL_RELATIONS {
        runs.extend(relate(&mut unit, which));
    }
    assert_eq!(count(&runs, "lsctl restart"), 1);
    assert!(
        !runs.iter().flat_map(|r| r.command_lines()).any(|l| l.starts_with("landscape-schema")),
        "followers leave the schema to the leader"
    );
    for service in ["landscape-package-search", "landscape-package-upload"] {
        assert_eq!(count(&runs, &format!("systemctl mask {service}")), 1);
    }
    unit
}

#[test]
fn non_leader_full_deployment_uses_the_leaders_secrets_and_address() {
    let unit = follower();
    assert!(is_ready(&unit), "{:?}", status(&unit));
    let conf = service_conf(&unit);
    assert_eq!(conf.get("package-search", "host").as_deref(), Some("10.1.77.18"));
    assert_eq!(conf.get("global", "root-url").as_deref(), Some("https://10.1.77.18/"));
    assert_eq!(conf.get("landscape", "secret-token").unwrap().len(), 172);
    let defaults = unit.read("/etc/default/landscape-server").unwrap();
    assert!(defaults.contains("RUN_PACKAGESEARCH=\"no\"") && defaults.contains("RUN_CRON=\"no\""), "{defaults}");
    assert!(unit.relation(DB_RELATION).local_app_data.is_empty(), "only the leader writes the request");
}

#[test]
fn non_leader_waits_for_the_leaders_schema_and_secrets() {
    let mut unit = new_unit(1, "10.1.77.229", false);
    unit.set_published_leader_ip("10.1.77.18");
    boot(&mut unit);
    for which in ALL_RELATIONS {
        relate(&mut unit, which);
    }
    assert_eq!(
        status(&unit),
        (
            "waiting".into(),
            "Waiting for replicas: the leader has not shared secret-token yet; database: the leader has not bootstrapped the schema yet".into()
        )
    );
    assert!(!unit.state.commands.iter().any(|c| c.line() == "lsctl restart"));
}

/// Sections and keys, sorted: what Landscape reads, whatever the file order.
fn canonical(conf: &IniDocument) -> Vec<(String, Vec<(String, String)>)> {
    let mut sections: Vec<_> = conf
        .sections()
        .into_iter()
        .map(|s| {
            let mut entries = conf.entries(s);
            entries.sort();
            (s.to_string(), entries)
        })
        .collect();
    sections.sort();
    sections
}

/// Every relation arrives first once and last once (the four rotations and
/// their reverses), and every order ends in the same configuration with one
/// restart, made only when the last relation arrived.
#[test]
fn relations_arriving_in_any_order_end_in_the_same_state_with_one_restart() {
    let mut reference = None;
    let mut orders = vec![];
    for start in 0..ALL_RELATIONS.len() {
        let rotation: Vec<&str> = ALL_RELATIONS.iter().cycle().skip(start).take(ALL_RELATIONS.len()).copied().collect();
        orders.push(rotation.iter().rev().copied().collect::<Vec<_>>());
        orders.push(rotation);
    }
    for order in orders {
        let mut unit = new_unit(0, "10.1.77.18", true);
        let mut runs = boot(&mut unit);
        for (i, which) in order.iter().enumerate() {
            runs.extend(relate(&mut unit, which));
            let expected_ready = i == order.len() - 1;
            assert_eq!(is_ready(&unit), expected_ready, "{order:?} after {which}: {:?}", status(&unit));
        }
        assert_eq!(count(&runs, "lsctl restart"), 1, "{order:?}");
        // Everything but the generated secrets is the same whatever the order.
        let mut conf = service_conf(&unit);
        conf.set("landscape", "secret-token", "x").unwrap();
        conf.set("api", "cookie-encryption-key", "x").unwrap();
        let seen = canonical(&conf);
        match &reference {
            None => reference = Some(seen),
            Some(r) => assert_eq!(&seen, r, "{order:?}"),
        }
    }
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
fn service_conf_edits_keep_comments_and_unknown_keys() {
    let mut unit = new_unit(0, "10.1.77.18", true);
    let path = unit.path("/etc/landscape/service.conf");
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let packaged = "# Shipped by landscape-server; the operator added a note below.\n\
                    [stores]\n\
                    # keep: our DBA asked for this\n\
                    user = landscape\n\
                    Unknown_Key = Kept As Is\n\
                    \n\
                    [maintenance]\n\
                    threshold = 7\n";
    std::fs::write(&path, packaged).unwrap();
    boot(&mut unit);
    for which in ALL_RELATIONS {
        relate(&mut unit, which);
    }
    let text = unit.read("/etc/landscape/service.conf").unwrap();
    assert!(text.starts_with("# Shipped by landscape-server; the operator added a note below.\n[stores]\n# keep: our DBA asked for this\nuser = landscape\nUnknown_Key = Kept As Is\n"), "{text}");
    assert!(text.contains("[maintenance]\nthreshold = 7\n"), "{text}");
    assert!(text.contains("host = 10.1.99.1:5432"), "{text}");
}

#[test]
fn additional_service_config_is_merged_last() {
    let (mut unit, _) = deployed_leader();
    unit.set_config(
        "additional_service_config",
        json!("[ubuntu_installer_attach]\nbase_port = 53354\n[api]\nworkers = 5\n"),
    );
    unit.hook("config-changed");
    let conf = service_conf(&unit);
    assert_eq!(conf.get("ubuntu_installer_attach", "base_port").as_deref(), Some("53354"));
    assert_eq!(conf.get("api", "workers").as_deref(), Some("5"));
    assert_eq!(conf.get("landscape", "workers").as_deref(), Some("2"));
}

#[test]
fn every_invalid_config_combination_blocks_and_names_its_option() {
    let cases: Vec<(Vec<(&str, serde_json::Value)>, &str)> = vec![
        (vec![("openid_provider_url", json!("https://idp/"))], "openid_logout_url is required"),
        (vec![("openid_logout_url", json!("https://idp/logout"))], "openid_provider_url is required"),
        (
            vec![("oidc_issuer", json!("https://idp/")), ("oidc_client_id", json!("landscape"))],
            "oidc_client_secret is required for OIDC",
        ),
        (
            vec![
                ("openid_provider_url", json!("https://idp/")),
                ("openid_logout_url", json!("https://idp/l")),
                ("oidc_issuer", json!("https://o/")),
            ],
            "openid_provider_url and the oidc_* options cannot both be set",
        ),
        (
            vec![("openid_provider_url", json!("idp.example")), ("openid_logout_url", json!("https://idp/l"))],
            "openid_provider_url must be an http:// or https:// URL",
        ),
        (vec![("db_port", json!("fifty"))], "db_port must be a port number"),
        (vec![("db_host", json!("db.example"))], "db_host is set without a database relation"),
        (vec![("deployment_mode", json!("../../etc"))], "deployment_mode must be a word"),
        (
            vec![("additional_service_config", json!("workers = 3"))],
            "additional_service_config is not valid INI: line 1",
        ),
        (
            vec![("landscape_ppa_key", json!("not a key"))],
            "landscape_ppa_key must be an ASCII-armoured PGP public key block",
        ),
        (vec![("secret_token", json!("two words"))], "secret_token must be a single word"),
        (vec![("landscape_ppa", json!(""))], "landscape_ppa must name a PPA"),
    ];
    for (settings, expected) in cases {
        let mut unit = new_unit(0, "10.1.77.18", true);
        unit.relate_workload();
        unit.mark_installed("landscape-server");
        unit.hook("config-changed");
        assert!(is_ready(&unit), "{:?}", status(&unit));
        let before = unit.read("/etc/landscape/service.conf").unwrap();
        for (option, value) in &settings {
            unit.set_config(option, value.clone());
        }
        // db_host alone only fails without a database relation.
        if settings.iter().any(|(o, _)| *o == "db_host") {
            unit.state.relations.retain(|r| r.endpoint != "database");
        }
        let run = unit.hook("config-changed");
        assert_eq!(run.code, 0, "{settings:?}: {}", run.stderr);
        let (name, message) = status(&unit);
        assert_eq!(name, "blocked", "{settings:?}: {message}");
        assert!(message.contains(expected), "{settings:?}: {message}");
        if !settings.iter().any(|(o, _)| *o == "db_host") {
            assert_eq!(unit.read("/etc/landscape/service.conf").unwrap(), before, "{settings:?} touched service.conf");
        }
        assert!(!run.ran("lsctl restart"), "{settings:?}");
    }
}

#[test]
fn oidc_keys_are_written_and_removed_when_switched_off() {
    let (mut unit, _) = deployed_leader();
    for (k, v) in [
        ("oidc_issuer", "https://idp.example/"),
        ("oidc_client_id", "landscape"),
        ("oidc_client_secret", "oidc-s3cret"),
    ] {
        unit.set_config(k, json!(v));
    }
    unit.hook("config-changed");
    assert_eq!(service_conf(&unit).get("landscape", "oidc-client-secret").as_deref(), Some("oidc-s3cret"));
    assert!(!unit.log_text().contains("oidc-s3cret"), "secrets stay out of the log");
    for k in ["oidc_issuer", "oidc_client_id", "oidc_client_secret"] {
        unit.set_config(k, serde_json::Value::Null);
    }
    unit.hook("config-changed");
    assert_eq!(service_conf(&unit).get("landscape", "oidc-issuer"), None);
}

#[test]
fn apt_failure_fails_the_hook_and_logs_the_apt_error() {
    let mut unit = new_unit(0, "10.1.77.18", true);
    unit.fail_command("apt-get install -y -q landscape-server", 100, "E: Unable to locate package landscape-server");
    let run = unit.hook("install");
    assert_ne!(run.code, 0);
    assert!(unit.log_text().contains("E: Unable to locate package landscape-server"), "{}", unit.log_text());
    // The next hook tries again.
    unit.state.command_behaviours.remove("apt-get install -y -q landscape-server");
    let run = unit.hook("install");
    assert_eq!(run.code, 0, "{}", run.stderr);
}

#[test]
fn install_honours_proxies_min_install_and_a_ppa_key() {
    let mut unit = new_unit(0, "10.1.77.18", true);
    unit.set_config("https_proxy", json!("http://squid.internal:3128"));
    unit.set_config("min_install", json!(true));
    let key = "-----BEGIN PGP PUBLIC KEY BLOCK-----\n\nmQINBF...\n-----END PGP PUBLIC KEY BLOCK-----";
    unit.set_config("landscape_ppa_key", json!(key));
    unit.mark_installed("needrestart");
    let run = unit.hook("install");
    assert_eq!(run.code, 0, "{}", run.stderr);
    let add = run.commands.iter().find(|c| c.program == "add-apt-repository").unwrap();
    assert_eq!(add.env.get("https_proxy").map(String::as_str), Some("http://squid.internal:3128"));
    assert!(run.ran("apt-get remove -y -q needrestart"), "{:?}", run.command_lines());
    assert!(run.ran("apt-get install -y -q --no-install-recommends landscape-server"), "{:?}", run.command_lines());
    assert!(run.ran("apt-mark hold landscape-server"));
    assert_eq!(unit.read("/etc/apt/trusted.gpg.d/landscape-charm-ppa.asc").unwrap(), format!("{key}\n"));
    // A new PPA later: added, the old one removed, nothing reinstalled.
    unit.mark_installed("landscape-server");
    unit.set_config("landscape_ppa", json!("ppa:landscape/latest-stable"));
    let run = unit.hook("config-changed");
    assert!(run.ran("add-apt-repository -y ppa:landscape/latest-stable"), "{:?}", run.command_lines());
    assert!(run.ran("add-apt-repository -y --remove ppa:landscape/self-hosted-beta"));
    assert!(!run.command_lines().iter().any(|l| l.starts_with("apt-get install")));
}

#[test]
fn installer_attach_package_follows_its_flag_and_a_failure_blocks_without_sticking() {
    let (mut unit, _) = deployed_leader();
    unit.set_config("enable_ubuntu_installer_attach", json!(true));
    unit.fail_command("apt-get install -y -q landscape-ubuntu-installer-attach", 100, "E: broken");
    unit.hook("config-changed");
    let (name, message) = status(&unit);
    assert_eq!(
        (name.as_str(), message.contains("cannot install landscape-ubuntu-installer-attach")),
        ("blocked", true),
        "{message}"
    );
    unit.state.command_behaviours.remove("apt-get install -y -q landscape-ubuntu-installer-attach");
    let run = unit.hook("update-status");
    assert!(run.ran("apt-get install -y -q landscape-ubuntu-installer-attach"));
    unit.mark_installed("landscape-ubuntu-installer-attach");
    unit.hook("update-status");
    assert!(is_ready(&unit), "{:?}", status(&unit));
    unit.set_config("enable_ubuntu_installer_attach", json!(false));
    let run = unit.hook("config-changed");
    assert!(run.ran("apt-get remove -y -q landscape-ubuntu-installer-attach"));
}

#[test]
fn pause_resume_and_the_actions_that_need_a_paused_unit() {
    let (mut unit, _) = deployed_leader();
    for action in ["upgrade", "migrate-schema"] {
        let run = unit.action(action);
        assert_eq!(run.code, 0);
        let failed = unit.state.action.clone().unwrap().failed.unwrap_or_default();
        assert!(failed.contains("run the pause action first"), "{action}: {failed}");
        assert!(!run.command_lines().iter().any(|l| l.starts_with("apt-get") || l.starts_with("landscape-schema")));
    }
    let run = unit.action("pause");
    assert!(run.ran("lsctl stop"));
    assert_eq!(status(&unit).0, "maintenance");
    // Paused stays paused across hooks, even when config changes.
    unit.set_config("worker_counts", json!(3));
    let run = unit.hook("config-changed");
    assert!(!run.ran("lsctl restart"));
    assert!(status(&unit).1.starts_with("Paused"), "{:?}", status(&unit));

    let run = unit.action("upgrade");
    assert_eq!(unit.state.action.clone().unwrap().failed, None);
    let lines = run.command_lines();
    let unhold = lines.iter().position(|l| l == "apt-mark unhold landscape-server").unwrap();
    let install = lines
        .iter()
        .position(|l| {
            l == "apt-get install -y -q landscape-server landscape-client landscape-common \
                  -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold"
        })
        .unwrap();
    let hold = lines.iter().position(|l| l == "apt-mark hold landscape-server").unwrap();
    assert!(unhold < install && install < hold, "{lines:?}");
    let run = unit.action("migrate-schema");
    assert!(run.ran("landscape-schema"));

    // resume: start, check, and the pending config change is applied.
    let run = unit.action("resume");
    assert!(run.ran("lsctl start") && run.ran("lsctl status"), "{:?}", run.command_lines());
    assert!(run.ran("lsctl restart"), "the worker change made while paused is applied");
    assert!(is_ready(&unit), "{:?}", status(&unit));
}

#[test]
fn failed_actions_say_why() {
    let (mut unit, _) = deployed_leader();
    unit.state.command_behaviours.insert(
        "lsctl status".into(),
        crate::harness::Behaviour { code: 3, stdout: "landscape-appserver: failed".into(), stderr: String::new() },
    );
    unit.action("pause");
    let run = unit.action("resume");
    assert!(run.ran("lsctl stop"), "a failed resume stops again");
    let failed = unit.state.action.clone().unwrap().failed.unwrap_or_default();
    assert!(
        failed.starts_with("Failed to start services") && failed.contains("landscape-appserver: failed"),
        "{failed}"
    );
    assert!(status(&unit).1.starts_with("Paused"));

    unit.fail_command(
        "apt-get install -y -q landscape-server landscape-client",
        100,
        "E: Unable to locate package landscape-client",
    );
    let run = unit.action("upgrade");
    assert!(run.ran("apt-mark hold landscape-server"), "held again after a failure");
    assert!(unit.state.action.clone().unwrap().failed.unwrap().starts_with("Failed to upgrade packages"));

    // Programs that only a Landscape install provides.
    for action in ["hash-id-databases", "migrate-service-conf"] {
        unit.action(action);
        let failed = unit.state.action.clone().unwrap().failed.unwrap_or_default();
        assert!(failed.contains("is missing"), "{action}: {failed}");
    }
}

#[test]
fn hash_id_databases_and_migrate_service_conf_run_landscapes_programs() {
    let (mut unit, _) = deployed_leader();
    for program in ["hash-id-databases-ignore-maintenance", "migrate-service-conf"] {
        unit.install_landscape_program(program);
    }
    let run = unit.action("hash-id-databases");
    let program = unit.path("/opt/canonical/landscape/hash-id-databases-ignore-maintenance");
    assert!(run.ran(&format!("sudo -u landscape {}", program.display())), "{:?}", run.command_lines());
    assert_eq!(unit.state.action.clone().unwrap().failed, None);
    let run = unit.action("migrate-service-conf");
    assert!(run.commands.iter().any(|c| c.program == "migrate-service-conf"), "{:?}", run.command_lines());
    assert_eq!(unit.state.action.clone().unwrap().failed, None);
}

#[test]
fn leadership_moving_away_masks_the_leader_only_services_and_restarts() {
    let (mut unit, _) = deployed_leader();
    unit.state.leader = false;
    unit.set_published_leader_ip("10.1.77.229");
    unit.add_peer(1, "10.1.77.229");
    let run = unit.hook("leader-settings-changed");
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.ran("systemctl disable --now landscape-package-search")
            && run.ran("systemctl mask landscape-package-upload")
    );
    assert!(run.ran("lsctl restart"), "RUN_* changed");
    assert_eq!(service_conf(&unit).get("package-search", "host").as_deref(), Some("10.1.77.229"));
    assert!(unit.read("/etc/default/landscape-server").unwrap().contains("RUN_PACKAGESEARCH=\"no\""));
}

#[test]
fn stop_stops_landscape_and_haproxy() {
    let (mut unit, _) = deployed_leader();
    let run = unit.hook("stop");
    assert_eq!(run.code, 0);
    assert_eq!(run.command_lines(), ["lsctl stop", "systemctl disable --now haproxy"]);
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
