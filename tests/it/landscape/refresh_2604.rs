//! The 26.04 charm's option names, and a refresh from that charm through
//! Juju's hook order.

use serde_json::json;

use super::dropins::{daemon_reloads, dropin};
use crate::harness::{Dispatch, Unit, ready_leader};

#[test]
fn the_26_04_options_are_accepted_and_act() {
    let mut unit = ready_leader(0);
    unit.set_config("analytics_id", json!("UA-12345-6"));
    unit.hook("config-changed");
    assert_eq!(
        unit.read("/etc/systemd/system/landscape-appserver.service.d/analytics-id.conf").as_deref(),
        Some("[Service]\nEnvironment=LANDSCAPE_SYSTEM__ANALYTICS_ID=UA-12345-6\n")
    );
    // systemd expands `%` specifiers and C escapes: such a value used to
    // reach the appserver changed (`UA-1%n` as `UA-1landscape-appserver.service`).
    unit.set_config("analytics_id", json!(r#"UA-1%n\x41"q""#));
    unit.hook("config-changed");
    assert_eq!(
        unit.read("/etc/systemd/system/landscape-appserver.service.d/analytics-id.conf").as_deref(),
        Some("[Service]\nEnvironment=\"LANDSCAPE_SYSTEM__ANALYTICS_ID=UA-1%%n\\\\x41\\\"q\\\"\"\n")
    );
    unit.set_config("analytics_id", json!(""));
    let run = unit.hook("config-changed");
    assert_eq!(daemon_reloads(&run), 1);
    assert!(unit.read("/etc/systemd/system/landscape-appserver.service.d/analytics-id.conf").is_none());
    // Options this charm keeps but does not act on say so.
    unit.set_config("gpg_secret_id", json!("secret:d0mo0k3n5ecret000001"));
    unit.hook("config-changed");
    assert_eq!(
        unit.status(),
        ("active".into(), "gpg_secret_id is set, but this charm does not import GPG keys yet".into())
    );
}

/// A unit as the 26.04 charm leaves it: its option names, its `smtp`,
/// `debarchive` and `task-handler` relations with their data (and the
/// debarchive secret it made), its peer data (the secret token in plain
/// peer data). After `upgrade-charm` and the hooks Juju runs next, the unit
/// is ready, every option acted on and every relation served.
#[test]
fn refresh_from_the_26_04_charm_keeps_its_options_and_relations() {
    let mut unit = crate::scenario::unit_as_the_26_04_charm_left_it();
    let (token, old_secret) = (crate::scenario::TOKEN_OF_THE_26_04_CHARM, crate::scenario::SECRET_OF_THE_26_04_CHARM);
    for hook in ["upgrade-charm", "config-changed"] {
        let run = unit.hook(hook);
        assert_eq!(run.code, 0, "{hook}: {}", run.stderr);
    }
    assert_eq!(unit.status(), ("active".into(), "Unit is ready".into()));
    let conf = crate::scenario::service_conf(&unit);
    assert_eq!(conf.get("landscape", "secret-token").as_deref(), Some(token), "the token is kept: sessions stay valid");
    assert_eq!(conf.get("hostagent-message-server", "base_port").as_deref(), Some("50060"));
    assert!(unit.state.commands.iter().any(|c| c.line() == "snap install landscape-outbox --channel=latest/candidate"));
    assert!(unit.read("/etc/systemd/system/landscape-appserver.service.d/analytics-id.conf").is_some());
    assert!(unit.read("/etc/postfix/main.cf").unwrap().contains("relayhost = [smtp.example.com]:25"));
    let config = unit.haproxy_config().unwrap();
    assert!(config.contains("server landscape-debarchive-10-1-90-4 10.1.90.4:8100"), "the /debarchive route");
    let debarchive = unit.relation(70).local_app_data.clone();
    assert_eq!(debarchive.get("secret-token-id").map(String::as_str), Some(old_secret), "the same secret");
    assert_eq!(debarchive.get("hostname").map(String::as_str), Some("landscape.example.com"));
    let task_handler = unit.relation(80).local_app_data.clone();
    for key in ["host", "port", "user", "main", "account_1", "resource_1", "secret-id", "hostname"] {
        assert!(task_handler.contains_key(key), "task-handler {key}: {task_handler:?}");
    }
    assert!(!unit.peer_app_data().contains_key("secret-token"), "moved out of plain peer data");
}

/// A new 26.04 unit, leader, in a non-standalone mode, with task-handler and
/// debarchive related from the start, through the hooks Juju runs in their
/// order (install, relation-created, leader-elected, config-changed, start,
/// then joined and changed for each relation): it ends ready with every
/// 26.04 part in place, and with each companion relation removed the unit
/// stays ready without it.
#[test]
fn a_26_04_unit_with_its_companions_through_juju_s_hook_order() {
    let mut unit = Unit::new(0, "10.1.77.18");
    crate::scenario::write_package_service_conf(&unit);
    unit.state.leader = true;
    unit.relate_workload();
    unit.set_config("deployment_mode", json!("dedicated"));
    unit.set_config("root_url", json!("https://landscape.example.com/"));
    unit.add_relation("task-handler", 80, "landscape-task-handler");
    let deb = unit.add_relation("debarchive", 70, "landscape-debarchive");
    deb.remote_units
        .insert("landscape-debarchive/0".into(), [("ingress-address".to_string(), "10.1.90.4".to_string())].into());
    let relations: Vec<(String, u32, Option<String>)> = unit
        .state
        .relations
        .iter()
        .map(|r| (r.endpoint.clone(), r.id, r.remote_units.keys().next().cloned().filter(|_| r.endpoint != "replicas")))
        .collect();
    let mut snaps = vec![];
    for dispatch in crate::scenario::first_hooks(true, &relations) {
        let run = unit.run(dispatch);
        assert_eq!(run.code, 0, "{}", run.stderr);
        snaps.extend(run.command_lines().into_iter().filter(|l| l.starts_with("snap ")));
    }
    assert_eq!(unit.status(), ("active".into(), "Unit is ready".into()));
    assert_eq!(snaps.iter().filter(|l| l.starts_with("snap install landscape-outbox")).count(), 1, "{snaps:?}");
    assert!(dropin(&unit, "landscape-api").is_some_and(|t| t.contains("DEPLOYMENT_MODE=dedicated")));
    let th = unit.relation(80).local_app_data.clone();
    assert_eq!(th.get("main").map(String::as_str), Some("landscape-standalone-main"));
    assert_eq!(th.get("hostname").map(String::as_str), Some("landscape.example.com"));
    let deb = unit.relation(70).local_app_data.clone();
    assert!(deb.get("secret-token-id").is_some_and(|id| id.starts_with("secret:")));
    assert!(unit.haproxy_config().unwrap().contains("use_backend landscape-https-debarchive if debarchive"));
    // Each companion goes: the unit stays ready, the route goes with debarchive.
    for (endpoint, id) in [("debarchive", 70), ("task-handler", 80)] {
        let run = unit.run(Dispatch::relation(endpoint, "broken", id, None));
        assert_eq!(run.code, 0, "{endpoint}: {}", run.stderr);
        unit.state.relations.retain(|r| r.id != id);
        assert_eq!(unit.status(), ("active".into(), "Unit is ready".into()), "{endpoint}");
    }
    assert!(!unit.haproxy_config().unwrap().contains("debarchive"));
}
