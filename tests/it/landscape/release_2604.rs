//! What Landscape 26.04 needs beyond the older releases: the deployment-mode
//! drop-ins (its unit files hardcode standalone), the landscape-outbox snap,
//! and the 26.04 charm's option names.

use std::os::unix::fs::MetadataExt;

use serde_json::json;

use crate::harness::{Dispatch, Unit, ready_leader};

const SERVICES: [&str; 8] = [
    "landscape-api",
    "landscape-appserver",
    "landscape-async-frontend",
    "landscape-job-handler",
    "landscape-msgserver",
    "landscape-package-search",
    "landscape-package-upload",
    "landscape-pingserver",
];

fn dropin(unit: &Unit, service: &str) -> Option<String> {
    unit.read(&format!("/etc/systemd/system/{service}.service.d/deployment-mode.conf"))
}

fn daemon_reloads(run: &crate::harness::RunResult) -> usize {
    run.command_lines().iter().filter(|l| *l == "systemctl daemon-reload").count()
}

#[test]
fn a_non_standalone_mode_gets_a_drop_in_per_service_and_one_daemon_reload() {
    let mut unit = ready_leader(0);
    for service in SERVICES {
        assert_eq!(dropin(&unit, service), None, "standalone needs none");
    }
    unit.set_config("deployment_mode", json!("saas"));
    let run = unit.hook("config-changed");
    assert_eq!(run.code, 0, "{}", run.stderr);
    for service in SERVICES {
        let text = dropin(&unit, service).unwrap_or_else(|| panic!("{service}: no drop-in"));
        assert_eq!(text, "[Service]\nEnvironment=LANDSCAPE_SYSTEM__DEPLOYMENT_MODE=saas\n", "{service}");
        let path = unit.path(&format!("/etc/systemd/system/{service}.service.d/deployment-mode.conf"));
        assert_eq!(std::fs::metadata(path).unwrap().mode() & 0o777, 0o644);
    }
    assert_eq!(daemon_reloads(&run), 1);
    // systemd reads the drop-ins before the services restart with them.
    let lines = run.command_lines();
    let reload = lines.iter().position(|l| l == "systemctl daemon-reload").unwrap();
    let restart = lines.iter().position(|l| l == "lsctl restart").expect("the services restart for the new mode");
    assert!(reload < restart, "{lines:?}");
    // Nothing changed: no rewrite, no reload, no restart.
    let run = unit.hook("config-changed");
    assert_eq!((daemon_reloads(&run), run.ran("lsctl restart")), (0, false));
}

#[test]
fn back_to_standalone_removes_the_drop_ins_and_their_directories() {
    let mut unit = ready_leader(0);
    unit.set_config("deployment_mode", json!("saas"));
    unit.hook("config-changed");
    // An operator's own drop-in keeps its directory.
    let own = "/etc/systemd/system/landscape-api.service.d/limits.conf";
    std::fs::write(unit.path(own), "[Service]\nLimitNOFILE=65536\n").unwrap();
    unit.set_config("deployment_mode", json!("standalone"));
    let run = unit.hook("config-changed");
    assert_eq!(daemon_reloads(&run), 1);
    for service in SERVICES {
        assert_eq!(dropin(&unit, service), None, "{service}");
    }
    assert!(unit.read(own).is_some());
    assert!(!unit.path("/etc/systemd/system/landscape-appserver.service.d").exists());
}

#[test]
fn a_removed_drop_in_comes_back_and_a_failed_reload_is_retried() {
    let mut unit = ready_leader(0);
    unit.set_config("deployment_mode", json!("saas"));
    unit.hook("config-changed");
    std::fs::remove_file(unit.path("/etc/systemd/system/landscape-api.service.d/deployment-mode.conf")).unwrap();
    let run = unit.hook("update-status");
    assert_eq!(run.code, 0);
    unit.hook("config-changed");
    assert!(dropin(&unit, "landscape-api").is_some(), "restored");
    // systemd refuses the reload: Blocked, saying so; the next hook reloads.
    unit.set_config("deployment_mode", json!("dedicated"));
    unit.fail_command("systemctl daemon-reload", 1, "Failed to reload daemon: Access denied");
    unit.hook("config-changed");
    let (status, message) = unit.status();
    assert_eq!(status, "blocked");
    assert!(message.contains("daemon-reload") && message.contains("Access denied"), "{message}");
    unit.state.command_behaviours.clear();
    let run = unit.hook("config-changed");
    assert_eq!(daemon_reloads(&run), 1, "the reload owed is made");
    assert_eq!(unit.status(), ("active".into(), "Unit is ready".into()));
}

fn snap_lines(run: &crate::harness::RunResult) -> Vec<String> {
    run.command_lines().into_iter().filter(|l| l.starts_with("snap ")).collect()
}

#[test]
fn the_outbox_snap_is_installed_once_follows_its_channel_and_restarts_after_landscape() {
    let mut unit = Unit::new(0, "10.1.77.18");
    unit.state.leader = true;
    unit.relate_workload();
    unit.set_config("bootstrap_schema_override_args", json!("--with-foo, --with-bar=1"));
    let first = unit.hook("config-changed");
    assert_eq!(snap_lines(&first), ["snap install landscape-outbox --channel=latest/stable"]);
    let bootstrap = first.command_lines().into_iter().find(|l| l.starts_with("landscape-schema --bootstrap")).unwrap();
    assert!(bootstrap.ends_with(" --with-foo --with-bar=1"), "each comma's argument, in order: {bootstrap}");
    assert!(!unit.log_text().contains("--with-bar"), "never logged");
    assert!(!first.command_lines().iter().any(|l| l.contains("--classic")), "strictly confined");
    // Nothing to do: no snap at all.
    let idle = unit.hook("config-changed");
    assert_eq!(snap_lines(&idle), Vec::<String>::new());
    // Landscape restarts for a change: the outbox after it.
    unit.set_config("worker_counts", json!(3));
    let run = unit.hook("config-changed");
    let lines = run.command_lines();
    let lsctl = lines.iter().position(|l| l == "lsctl restart").expect("Landscape restarts");
    let outbox = lines.iter().position(|l| l == "snap restart landscape-outbox").expect("the outbox follows");
    assert!(lsctl < outbox, "{lines:?}");
    // A new channel: one refresh, no reinstall.
    unit.set_config("outbox_snap_channel", json!("latest/edge"));
    let run = unit.hook("config-changed");
    assert_eq!(snap_lines(&run), ["snap refresh landscape-outbox --channel=latest/edge"]);
    assert_eq!(unit.status(), ("active".into(), "Unit is ready".into()));
}

#[test]
fn a_snap_that_fails_or_a_machine_without_snapd_blocks_and_the_next_hook_retries() {
    let mut unit = ready_leader(0);
    unit.set_config("outbox_snap_channel", json!("recent/stable"));
    unit.fail_command("snap refresh", 1, "error: requested a non-existing track \"recent\"");
    unit.hook("config-changed");
    let (status, message) = unit.status();
    assert_eq!(status, "blocked");
    assert!(message.starts_with("Failed to refresh the landscape-outbox snap"), "{message}");
    assert!(message.contains("non-existing track"), "{message}");
    unit.set_config("outbox_snap_channel", json!("latest/candidate"));
    unit.state.command_behaviours.clear();
    let run = unit.hook("config-changed");
    assert_eq!(snap_lines(&run), ["snap refresh landscape-outbox --channel=latest/candidate"]);
    assert_eq!(unit.status().0, "active");

    // No snapd: the unit says what to install.
    let mut bare = Unit::new(0, "10.1.77.18");
    bare.state.leader = true;
    bare.relate_workload();
    std::fs::remove_file(bare.bin_dir().join("snap")).unwrap();
    let run = bare.hook("config-changed");
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(
        bare.status(),
        (
            "blocked".into(),
            "landscape-outbox needs snapd, which is not installed on this machine (apt install snapd)".into()
        )
    );
    assert!(bare.haproxy_config().is_some(), "HAProxy serves meanwhile");
}

#[test]
fn pause_and_resume_stop_and_start_the_outbox_with_landscape() {
    let mut unit = ready_leader(0);
    let paused = unit.action("pause");
    assert_eq!(snap_lines(&paused), ["snap stop landscape-outbox"]);
    let resumed = unit.action("resume");
    assert_eq!(snap_lines(&resumed), ["snap start landscape-outbox"]);
    unit.fail_command("snap stop", 1, "error: cannot stop");
    let failed = unit.action("pause");
    assert!(
        failed.stderr.contains("landscape-outbox")
            || unit.log_text().contains("Failed to stop the landscape-outbox snap")
    );
}

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
