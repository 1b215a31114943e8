//! Draining a unit through peer data before its services stop (`pause`),
//! black-box: the action, the peers' answers, the timeout, a killed hook,
//! `resume`.

use crate::harness::{Unit, backend_servers, ready_leader};

const ME: &str = "landscape-server/0";
const MY_ADDRESS: &str = "10.1.77.18";
const APPSERVER: &str = "landscape-http-appserver";

/// The `server` lines of the appserver backend for `address`.
fn appserver_lines(unit: &Unit, address: &str) -> Vec<String> {
    let config = unit.haproxy_config().unwrap();
    let names: Vec<String> = backend_servers(&config, APPSERVER)
        .into_iter()
        .filter(|(_, target)| target.starts_with(&format!("{address}:")))
        .map(|(name, _)| name)
        .collect();
    assert!(!names.is_empty(), "no appserver server on {address}");
    config
        .lines()
        .map(str::trim)
        .filter(|l| names.iter().any(|n| l.starts_with(&format!("server {n} "))))
        .map(str::to_string)
        .collect()
}

fn drained(unit: &Unit, address: &str) -> bool {
    appserver_lines(unit, address).iter().all(|l| l.contains(" weight 0 "))
}

fn not_drained(unit: &Unit, address: &str) -> bool {
    appserver_lines(unit, address).iter().all(|l| !l.contains(" weight "))
}

fn own_bag_value(unit: &mut Unit, key: &str) -> Option<String> {
    unit.peer_relation().local_unit_data.get(key).cloned()
}

fn peer_says(unit: &mut Unit, peer: u32, key: &str, value: &str) {
    let name = format!("landscape-server/{peer}");
    let bag = unit.peer_relation().remote_units.get_mut(&name).unwrap();
    if value.is_empty() {
        bag.remove(key);
    } else {
        bag.insert(key.into(), value.into());
    }
}

fn peer_changed(unit: &mut Unit, peer: u32) -> crate::harness::RunResult {
    let run = unit.relation_changed("replicas", 0, Some(&format!("landscape-server/{peer}")));
    assert_eq!(run.code, 0, "{}", run.stderr);
    run
}

fn action_result(unit: &Unit) -> String {
    let action = unit.state.action.clone().unwrap();
    format!("{:?} {:?}", action.results, action.failed)
}

fn pause_with_two_peers() -> Unit {
    let mut unit = ready_leader(2);
    let run = unit.action("pause");
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(action_result(&unit).contains("draining"), "{}", action_result(&unit));
    assert!(!run.ran("lsctl stop"), "stopped before the peers drained it: {:?}", run.command_lines());
    unit
}

#[test]
fn pause_with_peers_stops_the_services_only_once_every_peer_drained_the_unit() {
    let mut unit = pause_with_two_peers();
    assert!(unit.state.unit_state.contains_key("drain-started"));
    assert!(!unit.state.unit_state.contains_key("paused"));
    assert_eq!(own_bag_value(&mut unit, "drain").as_deref(), Some("pause"));
    assert!(drained(&unit, MY_ADDRESS), "its own HAProxy drains it at once");
    assert!(not_drained(&unit, "10.1.78.1"));
    let (status, message) = unit.status();
    assert_eq!(status, "maintenance");
    assert!(message.contains("landscape-server/1, landscape-server/2"), "{message}");

    // One peer drained it: still waiting for the other.
    peer_says(&mut unit, 1, "drained", ME);
    let run = peer_changed(&mut unit, 1);
    assert!(!run.ran("lsctl stop"));
    assert!(unit.status().1.contains("waiting for landscape-server/2 "), "{:?}", unit.status());

    // A peer's `drained` naming other units only does not count.
    peer_says(&mut unit, 2, "drained", "landscape-server/7,garbage");
    assert!(!peer_changed(&mut unit, 2).ran("lsctl stop"));

    peer_says(&mut unit, 2, "drained", &format!("landscape-server/1,{ME}"));
    let run = peer_changed(&mut unit, 2);
    assert!(run.ran("lsctl stop"), "{:?}", run.command_lines());
    assert!(unit.state.unit_state.contains_key("paused"));
    assert!(!unit.state.unit_state.contains_key("drain-started"));
    assert_eq!(unit.status().0, "maintenance");
    assert!(unit.status().1.starts_with("Paused"), "{:?}", unit.status());
    assert_eq!(own_bag_value(&mut unit, "drain").as_deref(), Some("pause"), "drained while paused");

    // Resume: services back, the peers told to route here again.
    let run = unit.action("resume");
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.ran("lsctl start"));
    assert_eq!(own_bag_value(&mut unit, "drain"), None);
    assert!(not_drained(&unit, MY_ADDRESS));
    assert_eq!(unit.status(), ("active".into(), "Unit is ready".into()));
}

#[test]
fn a_peer_that_asks_to_be_drained_gets_no_new_request_and_is_told_once_the_config_is_live() {
    let mut unit = ready_leader(2);
    peer_says(&mut unit, 1, "drain", "pause");
    peer_changed(&mut unit, 1);
    assert!(drained(&unit, "10.1.78.1"));
    assert!(not_drained(&unit, "10.1.78.2") && not_drained(&unit, MY_ADDRESS));
    assert_eq!(own_bag_value(&mut unit, "drained").as_deref(), Some("landscape-server/1"));
    let config = unit.haproxy_config().unwrap();
    let leader_only = backend_servers(&config, "landscape-http-package-upload");
    assert!(!leader_only.is_empty());
    assert!(
        !config.lines().any(|l| l.contains("landscape-leader-") && l.contains(" weight 0")),
        "leader-only servers have nowhere else to go"
    );

    // HAProxy refuses the next config: the drain is not live, so not told.
    let refusing = unit.bin_dir().join("runuser");
    std::fs::write(&refusing, "#!/bin/sh\necho '[ALERT] refused on purpose' >&2\nexit 1\n").unwrap();
    std::fs::set_permissions(&refusing, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    peer_says(&mut unit, 2, "drain", "pause");
    let run = peer_changed(&mut unit, 2);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(own_bag_value(&mut unit, "drained").as_deref(), Some("landscape-server/1"));
    assert!(unit.status().1.contains("refused on purpose"), "{:?}", unit.status());
    std::fs::remove_file(&refusing).unwrap();
    peer_changed(&mut unit, 2);
    assert_eq!(own_bag_value(&mut unit, "drained").as_deref(), Some("landscape-server/1,landscape-server/2"));

    // Both resumed: every server takes requests again, nothing is listed.
    peer_says(&mut unit, 1, "drain", "");
    peer_says(&mut unit, 2, "drain", "");
    peer_changed(&mut unit, 2);
    assert!(not_drained(&unit, "10.1.78.1") && not_drained(&unit, "10.1.78.2"));
    assert_eq!(own_bag_value(&mut unit, "drained"), None);
}

#[test]
fn a_drain_no_peer_answers_ends_at_the_timeout_on_the_next_hook() {
    let mut unit = pause_with_two_peers();
    // Not yet: update-status reconciles (a drain is pending) and waits.
    let run = unit.hook("update-status");
    assert!(!run.ran("lsctl stop"));
    let started: u64 = unit.state.unit_state["drain-started"].parse().unwrap();
    unit.state.unit_state.insert("drain-started".into(), (started - 61).to_string());
    let run = unit.hook("update-status");
    assert!(run.ran("lsctl stop"), "{:?}", run.command_lines());
    assert!(unit.state.unit_state.contains_key("paused"));
    let log = unit.log_text();
    assert!(log.contains("landscape-server/1, landscape-server/2 did not drain this unit"), "{log}");
}

/// Both peers say they drained this unit; the hook that sees it is killed
/// at `command`.
fn killed_once_drained(unit: &mut Unit, command: &str) {
    for peer in [1, 2] {
        peer_says(unit, peer, "drained", ME);
    }
    unit.state.kill_at_command = Some(command.into());
    let killed = unit.relation_changed("replicas", 0, Some("landscape-server/2"));
    unit.state.kill_at_command = None;
    assert_ne!(killed.code, 0, "killed at {command}");
}

#[test]
fn a_hook_killed_while_stopping_the_drained_services_is_finished_by_the_next() {
    let mut unit = pause_with_two_peers();
    killed_once_drained(&mut unit, "lsctl stop");
    assert!(!unit.state.unit_state.contains_key("paused"));
    let next = unit.hook("update-status");
    assert_eq!(next.code, 0, "{}", next.stderr);
    assert!(next.ran("lsctl stop"));
    assert!(unit.state.unit_state.contains_key("paused") && !unit.state.unit_state.contains_key("drain-started"));
}

#[test]
fn resume_during_a_drain_calls_it_off_and_pause_without_peers_stops_at_once() {
    let mut unit = pause_with_two_peers();
    let run = unit.action("resume");
    assert!(action_result(&unit).contains("called off"), "{}", action_result(&unit));
    assert!(!run.ran("lsctl stop") && !unit.state.unit_state.contains_key("drain-started"));
    assert_eq!(own_bag_value(&mut unit, "drain"), None);
    assert!(not_drained(&unit, MY_ADDRESS));

    let mut alone = ready_leader(0);
    let run = alone.action("pause");
    assert!(run.ran("lsctl stop"), "{:?}", run.command_lines());
    assert!(alone.state.unit_state.contains_key("paused"));

    let mut no_wait = ready_leader(2);
    no_wait.set_config("haproxy_drain_timeout", serde_json::json!(0));
    assert!(no_wait.action("pause").ran("lsctl stop"));
}

fn planned_offline(unit: &Unit) -> bool {
    let config = unit.haproxy_config().unwrap();
    let planned = config.contains("errorfile 503 ") && config.contains("/planned-offline-haproxy.html");
    let retry_after = config.contains("http-after-response set-header Retry-After 60 if { status 503 }");
    assert_eq!(planned, retry_after, "the page and the header go together:\n{config}");
    planned
}

/// Every unit paused (what a schema migration needs): each HAProxy answers
/// with Landscape's planned-offline page and `Retry-After`, and only while
/// no unit is left serving.
#[test]
fn every_unit_paused_serves_the_planned_offline_page_with_retry_after() {
    let mut unit = pause_with_two_peers();
    assert!(!planned_offline(&unit), "its peers still serve");
    peer_says(&mut unit, 1, "drain", "pause");
    peer_changed(&mut unit, 1);
    assert!(!planned_offline(&unit), "landscape-server/2 still serves");
    peer_says(&mut unit, 2, "drain", "pause");
    peer_changed(&mut unit, 2);
    assert!(planned_offline(&unit), "every unit is drained or paused");
    crate::fixtures::haproxy_check_every_version(&unit.haproxy_config().unwrap()).unwrap();
    peer_says(&mut unit, 1, "drain", "");
    peer_changed(&mut unit, 1);
    assert!(!planned_offline(&unit), "landscape-server/1 serves again");

    let mut alone = ready_leader(0);
    assert!(alone.action("pause").ran("lsctl stop"));
    assert!(planned_offline(&alone), "the only unit is paused");
    assert_eq!(alone.action("resume").code, 0);
    assert!(!planned_offline(&alone));
}

#[test]
fn the_drain_keys_are_a_data_format() {
    // Read by the other units, which may run another revision mid-refresh.
    assert_eq!(landscape_server::peers::DRAIN_KEY, "drain");
    assert_eq!(landscape_server::peers::DRAINED_KEY, "drained");
    assert_eq!(landscape_server::drain::PAUSE_REASON, "pause");
    assert_eq!(landscape_server::drain::RESTART_REASON, "restart");
}

fn restart_asked(unit: &mut Unit) -> bool {
    own_bag_value(unit, "drain").as_deref() == Some("restart")
        && unit.state.unit_state.contains_key("restart-drain-started")
}

/// A change every unit's services restart for (a config change, a
/// leadership move) reaches every unit at once: each unit now restarts only
/// once its peers drained it, and keeps serving with the old files until
/// then.
#[test]
fn a_config_change_restarts_the_services_only_once_every_peer_drained_the_unit() {
    let mut unit = ready_leader(2);
    unit.set_config("worker_counts", serde_json::json!(3));
    let run = unit.hook("config-changed");
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(!run.ran("lsctl restart"), "restarted before the peers drained it: {:?}", run.command_lines());
    assert!(restart_asked(&mut unit));
    let (status, message) = unit.status();
    assert_eq!(status, "maintenance");
    assert_eq!(message, "Draining before a restart for the new configuration");
    assert_eq!(own_bag_value(&mut unit, "workers").as_deref(), Some("2"), "still runs two");
    assert!(drained(&unit, MY_ADDRESS) && not_drained(&unit, "10.1.78.1"), "its own HAProxy drains it at once");

    // The next hook waits for the peers.
    let run = unit.hook("update-status");
    assert!(!run.ran("lsctl restart"));
    assert!(drained(&unit, MY_ADDRESS));
    assert!(
        unit.status().1.contains("waiting for landscape-server/1, landscape-server/2 (at most"),
        "{:?}",
        unit.status()
    );
    peer_says(&mut unit, 1, "drained", ME);
    assert!(!peer_changed(&mut unit, 1).ran("lsctl restart"));
    peer_says(&mut unit, 2, "drained", ME);
    let run = peer_changed(&mut unit, 2);
    assert!(run.ran("lsctl restart"), "{:?}", run.command_lines());
    assert_eq!(own_bag_value(&mut unit, "drain"), None, "withdrawn once restarted");
    assert!(!unit.state.unit_state.contains_key("restart-drain-started"));
    assert_eq!(own_bag_value(&mut unit, "workers").as_deref(), Some("3"));
    assert_eq!(unit.status(), ("active".into(), "Unit is ready".into()));
    assert!(not_drained(&unit, MY_ADDRESS), "its own HAProxy serves it again in the same hook");
    assert!(!unit.hook("update-status").ran("lsctl restart"), "restarted once");
}

#[test]
fn a_restart_waits_for_a_peer_restarting_and_ends_at_the_timeout_without_answers() {
    let mut unit = ready_leader(2);
    peer_says(&mut unit, 2, "drain", "restart");
    peer_changed(&mut unit, 2);
    unit.set_config("worker_counts", serde_json::json!(3));
    let run = unit.hook("config-changed");
    assert!(!run.ran("lsctl restart") && !restart_asked(&mut unit));
    assert_eq!(unit.status().1, "Restart for the new configuration waits for landscape-server/2 to restart first");

    // The peer is done: this unit's turn. No peer answers: the timeout.
    peer_says(&mut unit, 2, "drain", "");
    assert!(!peer_changed(&mut unit, 2).ran("lsctl restart"));
    assert!(restart_asked(&mut unit));
    // A peer with a higher number asking now steps back for this one.
    peer_says(&mut unit, 1, "drain", "restart");
    assert!(!peer_changed(&mut unit, 1).ran("lsctl restart"));
    assert!(restart_asked(&mut unit), "landscape-server/0 goes first");
    let started: u64 = unit.state.unit_state["restart-drain-started"].parse().unwrap();
    unit.state.unit_state.insert("restart-drain-started".into(), (started - 61).to_string());
    let run = unit.hook("update-status");
    assert!(run.ran("lsctl restart"), "{:?}", run.command_lines());
    assert!(!restart_asked(&mut unit));
}

#[test]
fn a_restart_with_no_other_unit_serving_is_at_once_and_a_killed_one_is_taken_again() {
    let mut unit = ready_leader(2);
    for peer in [1, 2] {
        peer_says(&mut unit, peer, "drain", "pause");
    }
    peer_changed(&mut unit, 2);
    unit.set_config("worker_counts", serde_json::json!(3));
    assert!(unit.hook("config-changed").ran("lsctl restart"), "nobody else serves: draining gains nothing");

    let mut unit = ready_leader(2);
    unit.set_config("worker_counts", serde_json::json!(3));
    unit.hook("config-changed");
    killed_once_drained(&mut unit, "lsctl restart");
    assert!(restart_asked(&mut unit), "the drain stays asked");
    let next = unit.hook("update-status");
    assert_eq!(next.code, 0, "{}", next.stderr);
    assert!(next.ran("lsctl restart"));
    assert!(!restart_asked(&mut unit));
}

/// Two units that get the same change ask to restart in the same moment.
/// Each unit's HAProxy drained both, so with two units every server had
/// weight 0 until the higher one stepped back: HAProxy answered 503. Now
/// only the lower one is drained; the higher one serves meanwhile.
#[test]
fn two_units_asking_to_restart_at_once_left_every_server_drained() {
    let mut unit = ready_leader(1);
    unit.set_config("worker_counts", serde_json::json!(3));
    assert_eq!(unit.hook("config-changed").code, 0);
    assert!(restart_asked(&mut unit));
    peer_says(&mut unit, 1, "drain", "restart");
    peer_changed(&mut unit, 1);
    assert!(restart_asked(&mut unit), "landscape-server/0 goes first");
    assert!(drained(&unit, MY_ADDRESS));
    assert!(not_drained(&unit, "10.1.78.1"), "landscape-server/1 steps back and serves meanwhile");
    assert!(!planned_offline(&unit));
    assert_eq!(own_bag_value(&mut unit, "drained"), None, "not drained, so not said");
}

/// Each hook-tool call is a round trip to the unit agent: the hook that
/// stops a drained unit read its unit state twice (once more to find the
/// outbox's record while stopping).
#[test]
fn the_hook_that_stops_a_drained_unit_reads_unit_state_once() {
    let mut unit = pause_with_two_peers();
    for peer in [1, 2] {
        peer_says(&mut unit, peer, "drained", ME);
    }
    let run = peer_changed(&mut unit, 2);
    assert!(run.ran("lsctl stop"), "{:?}", run.command_lines());
    let reads = run.tool_calls.iter().filter(|c| c.program == "state-get").count();
    assert_eq!(reads, 1);
}
