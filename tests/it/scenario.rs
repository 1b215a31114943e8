//! The scenarios several test files start from: a new unit, Juju's hook
//! order for it (the one copy), its relations arriving, a deployed leader and
//! a follower.

use landscape_server::ini::IniDocument;
use serde_json::json;

use crate::fixtures::{TestCa, issue_certificate};
use crate::harness::{
    DB_RELATION, Dispatch, INBOUND_AMQP_RELATION, OUTBOUND_AMQP_RELATION, RunResult, TLS_RELATION, Unit,
};

pub const READY: (&str, &str) = ("active", "Unit is ready");

pub fn status(unit: &Unit) -> (String, String) {
    unit.status()
}

pub fn is_ready(unit: &Unit) -> bool {
    status(unit) == (READY.0.to_string(), READY.1.to_string())
}

pub fn service_conf(unit: &Unit) -> IniDocument {
    IniDocument::parse(&unit.read("/etc/landscape/service.conf").expect("service.conf")).unwrap()
}

pub fn relation_hook(
    unit: &mut Unit,
    endpoint: &str,
    kind: &'static str,
    id: u32,
    remote_unit: Option<&str>,
) -> RunResult {
    let run = unit.run(Dispatch::relation(endpoint, kind, id, remote_unit));
    assert_eq!(run.code, 0, "{endpoint}-relation-{kind}: {}", run.stderr);
    run
}

/// A new machine: Landscape not installed yet.
pub fn new_unit(number: u32, address: &str, leader: bool) -> Unit {
    let mut unit = Unit::new(number, address);
    unit.state.leader = leader;
    for package in ["landscape-server", "landscape-hashids"] {
        unit.mark_not_installed(package);
    }
    unit
}

/// Juju's hook order for a new unit (the one copy; the lab's model uses it
/// too): install, `-relation-created` for each relation it starts with,
/// leader-elected (or leader-settings-changed), config-changed, start, then
/// `-relation-joined` and `-changed` for each remote unit already there.
/// `relations` are (endpoint, id, remote unit); the peer relation's units
/// join later, one by one.
pub fn first_hooks(leader: bool, relations: &[(String, u32, Option<String>)]) -> Vec<Dispatch> {
    let mut hooks = vec![Dispatch::Hook("install".into())];
    for (endpoint, id, _) in relations {
        hooks.push(Dispatch::relation(endpoint, "created", *id, None));
    }
    let leadership = if leader { "leader-elected" } else { "leader-settings-changed" };
    for hook in [leadership, "config-changed", "start"] {
        hooks.push(Dispatch::Hook(hook.into()));
    }
    for (endpoint, id, remote) in relations.iter().filter(|(endpoint, ..)| endpoint != "replicas") {
        hooks.extend(relation_hooks(endpoint, *id, remote.as_deref()).into_iter().skip(1));
    }
    hooks
}

/// One relation as Juju brings it: created, then joined and changed for the
/// remote unit (changed alone when there is none yet).
pub fn relation_hooks(endpoint: &str, id: u32, remote: Option<&str>) -> Vec<Dispatch> {
    let mut hooks = vec![Dispatch::relation(endpoint, "created", id, None)];
    if remote.is_some() {
        hooks.push(Dispatch::relation(endpoint, "joined", id, remote));
    }
    hooks.push(Dispatch::relation(endpoint, "changed", id, remote));
    hooks
}

/// The first hooks of a unit with only its peer relation (Landscape
/// installs during `install`).
pub fn boot(unit: &mut Unit) -> Vec<RunResult> {
    unit.peer_relation();
    let hooks = first_hooks(unit.state.leader, &[("replicas".into(), 0, None)]);
    let mut runs = vec![];
    for (i, hook) in hooks.into_iter().enumerate() {
        let run = unit.run(hook);
        assert_eq!(run.code, 0, "{}", run.stderr);
        runs.push(run);
        if i == 0 {
            unit.mark_installed("landscape-server");
            unit.mark_installed("landscape-hashids");
        }
    }
    runs
}

/// One relation as Juju brings it: created, then joined and changed for the remote unit.
pub fn relate(unit: &mut Unit, which: &str) -> Vec<RunResult> {
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
    let remote = unit.relation(id).remote_units.keys().next().cloned();
    relation_hooks(endpoint, id, remote.as_deref())
        .into_iter()
        .map(|hook| {
            let run = unit.run(hook);
            assert_eq!(run.code, 0, "{endpoint}: {}", run.stderr);
            run
        })
        .collect()
}

pub const ALL_RELATIONS: [&str; 4] = ["database", "inbound-amqp", "outbound-amqp", "load-balancer-certificates"];

pub fn count(runs: &[RunResult], line: &str) -> usize {
    runs.iter().flat_map(|r| r.command_lines()).filter(|l| l == line).count()
}

pub fn deployed_leader() -> (Unit, Vec<RunResult>) {
    let mut unit = new_unit(0, "10.1.77.18", true);
    let mut runs = boot(&mut unit);
    for which in ALL_RELATIONS {
        runs.extend(relate(&mut unit, which));
    }
    (unit, runs)
}

/// A second unit that joins a deployed leader.
pub fn follower() -> Unit {
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

/// Sections and keys, sorted: what Landscape reads, whatever the file order.
pub fn canonical(conf: &IniDocument) -> Vec<(String, Vec<(String, String)>)> {
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

/// service.conf as the landscape-server package ships it, as far as the
/// parts that read it back care: the `[stores]` user and database names.
pub fn write_package_service_conf(unit: &Unit) {
    let conf = unit.path("/etc/landscape/service.conf");
    std::fs::create_dir_all(conf.parent().unwrap()).unwrap();
    std::fs::write(
        &conf,
        "[stores]\nuser = landscape\nmain = landscape-standalone-main\naccount-1 = landscape-standalone-account-1\n\
         resource-1 = landscape-standalone-resource-1\n",
    )
    .unwrap();
}

/// The secret token a unit of the 26.04 charm kept in plain peer data.
pub const TOKEN_OF_THE_26_04_CHARM: &str = "t0ken-from-the-26.04-charm";
/// The debarchive secret the 26.04 charm made and published.
pub const SECRET_OF_THE_26_04_CHARM: &str = "secret:deba0rchive0t0ken000";

/// A leader as the 26.04 charm leaves it, before `upgrade-charm`: its
/// option names, its `smtp`, `debarchive` and `task-handler` relations with
/// their data (and the debarchive secret it made), its peer data (the
/// secret token in plain peer data).
pub fn unit_as_the_26_04_charm_left_it() -> Unit {
    let mut unit = Unit::new(0, "10.1.77.18");
    crate::scenario::write_package_service_conf(&unit);
    unit.state.leader = true;
    unit.relate_workload();
    let token = TOKEN_OF_THE_26_04_CHARM;
    {
        let peers = unit.peer_relation();
        peers.local_app_data.insert("leader-ip".into(), "10.1.77.18".into());
        peers.local_app_data.insert("secret-token".into(), token.into());
        peers.local_app_data.insert("cookie-encryption-key".into(), "Y29va2llLWtleS1mcm9tLTI2LjA0LWNoYXJtISE=".into());
    }
    for (option, value) in [
        ("hostagent_server_base_port", json!(50060)),
        ("enable_hostagent_messenger", json!(true)),
        ("outbox_snap_channel", json!("latest/candidate")),
        ("analytics_id", json!("UA-2604-1")),
        ("nagios_context", json!("prod")),
        ("root_url", json!("https://landscape.example.com/")),
    ] {
        unit.set_config(option, value);
    }
    // smtp, as smtp-integrator answered the 26.04 charm.
    let cf = unit.path("/etc/postfix/main.cf");
    std::fs::create_dir_all(cf.parent().unwrap()).unwrap();
    std::fs::write(&cf, "relayhost = [smtp.example.com]:25\n").unwrap();
    unit.add_relation("smtp", 60, "smtp-integrator").remote_app_data =
        [("host", "smtp.example.com"), ("port", "25"), ("auth_type", "none"), ("transport_security", "none")]
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
    // debarchive, with the secret the 26.04 charm made and published.
    let old_secret = SECRET_OF_THE_26_04_CHARM;
    unit.put_secret(old_secret, "application", [("secret-token".to_string(), token.to_string())].into());
    unit.state.secrets.last_mut().unwrap().granted = vec![70];
    let rel = unit.add_relation("debarchive", 70, "landscape-debarchive");
    rel.local_app_data = [
        ("hostname".to_string(), "landscape.example.com".to_string()),
        ("secret-token-id".to_string(), old_secret.to_string()),
    ]
    .into();
    rel.remote_units
        .insert("landscape-debarchive/0".into(), [("ingress-address".to_string(), "10.1.90.4".to_string())].into());
    unit.add_relation("task-handler", 80, "landscape-task-handler");

    unit
}
