//! Handing the leader-only services over when leadership moves, black-box:
//! the old leader keeps package upload and package search running until
//! every peer says (peer data `follows`) that its HAProxy and its services
//! use the new leader, bounded by `haproxy_drain_timeout`.

use crate::harness::{RunResult, Unit, ready_leader};

const OLD_LEADER: &str = "10.1.77.18";
const NEW_LEADER: &str = "10.1.78.1";

fn own(unit: &mut Unit, key: &str) -> Option<String> {
    unit.peer_relation().local_unit_data.get(key).cloned()
}

fn peer_follows(unit: &mut Unit, peer: u32, leader: &str) -> RunResult {
    let name = format!("landscape-server/{peer}");
    unit.peer_relation().remote_units.get_mut(&name).unwrap().insert("follows".into(), leader.into());
    let run = unit.relation_changed("replicas", 0, Some(&name));
    assert_eq!(run.code, 0, "{}", run.stderr);
    run
}

fn stopped_leader_services(run: &RunResult) -> bool {
    ["landscape-package-upload", "landscape-package-search"].iter().all(|service| {
        run.ran(&format!("systemctl disable --now {service}")) && run.ran(&format!("systemctl mask {service}"))
    })
}

fn etc_default(unit: &Unit, key: &str) -> String {
    let text = std::fs::read_to_string(unit.path("/etc/default/landscape-server")).unwrap();
    let line = text.lines().find(|l| l.starts_with(&format!("{key}="))).unwrap_or_default();
    line.split_once('=').map(|(_, v)| v.trim_matches('"').to_string()).unwrap_or_default()
}

/// The leader of three units, leadership moved to unit 1.
fn old_leader() -> (Unit, RunResult) {
    let mut unit = ready_leader(2);
    assert_eq!(own(&mut unit, "follows").as_deref(), Some(OLD_LEADER), "the leader follows itself");
    unit.state.leader = false;
    unit.set_published_leader_ip(NEW_LEADER);
    let run = unit.hook("leader-settings-changed");
    assert_eq!(run.code, 0, "{}", run.stderr);
    (unit, run)
}

/// The old leader stopped package upload and search in the hook that found
/// leadership gone, while the other units still sent it uploads (until
/// their HAProxy reloaded) and package searches (until their services
/// restarted): those failed meanwhile.
#[test]
fn the_old_leader_keeps_upload_and_search_until_every_peer_follows_the_new_leader() {
    let (mut unit, run) = old_leader();
    assert!(!stopped_leader_services(&run), "stopped while peers use them: {:?}", run.command_lines());
    assert!(unit.state.unit_state.contains_key("leader-handover-started"));
    assert_eq!(unit.state.unit_state.get("leader-only-services").map(String::as_str), Some("leader"));
    assert_eq!(own(&mut unit, "drain"), None, "its services restart once, after the handover");
    let message = unit.status().1;
    assert!(message.contains("waiting for landscape-server/1, landscape-server/2"), "{message}");
    // Cron follows leadership at once; package search and upload stay.
    assert_eq!(etc_default(&unit, "RUN_CRON"), "no");
    assert_eq!(etc_default(&unit, "RUN_PACKAGESEARCH"), "yes");
    assert_eq!(etc_default(&unit, "RUN_PACKAGEUPLOADSERVER"), "yes");
    // Its own HAProxy sends uploads to the new leader already.
    let config = unit.haproxy_config().unwrap();
    assert!(config.contains(&format!("landscape-leader-package-upload {NEW_LEADER}:")), "{config}");

    assert!(!stopped_leader_services(&peer_follows(&mut unit, 1, NEW_LEADER)));
    assert!(unit.status().1.contains("waiting for landscape-server/2 (at most"), "{:?}", unit.status());
    assert!(!stopped_leader_services(&peer_follows(&mut unit, 2, OLD_LEADER)), "unit 2 still follows it");
    let run = peer_follows(&mut unit, 2, NEW_LEADER);
    assert!(stopped_leader_services(&run), "{:?}", run.command_lines());
    assert_eq!(unit.state.unit_state.get("leader-only-services").map(String::as_str), Some("follower"));
    assert!(!unit.state.unit_state.contains_key("leader-handover-started"));
    assert!(!unit.status().1.contains("Handing"), "{:?}", unit.status());
    assert_eq!(etc_default(&unit, "RUN_PACKAGESEARCH"), "no");
    assert!(!stopped_leader_services(&unit.hook("update-status")), "once");
}

#[test]
fn a_handover_no_peer_answers_ends_at_the_timeout_and_update_status_takes_it() {
    let (mut unit, _) = old_leader();
    let started: u64 = unit.state.unit_state["leader-handover-started"].parse().unwrap();
    assert!(!stopped_leader_services(&unit.hook("update-status")), "not yet");
    unit.state.unit_state.insert("leader-handover-started".into(), (started - 61).to_string());
    let run = unit.hook("update-status");
    assert!(stopped_leader_services(&run), "{:?}", run.command_lines());
    assert!(unit.log_text().contains("still following this unit: landscape-server/1, landscape-server/2"));
    assert!(!unit.state.unit_state.contains_key("leader-handover-started"));
}

#[test]
fn without_a_drain_timeout_or_peers_the_old_leader_stops_them_at_once() {
    let mut unit = ready_leader(2);
    unit.set_config("haproxy_drain_timeout", serde_json::json!(0));
    assert_eq!(unit.hook("config-changed").code, 0);
    unit.state.leader = false;
    unit.set_published_leader_ip(NEW_LEADER);
    assert!(stopped_leader_services(&unit.hook("leader-settings-changed")));

    let mut alone = ready_leader(0);
    alone.state.leader = false;
    assert!(stopped_leader_services(&alone.hook("leader-settings-changed")));
}

/// A unit says it follows a leader only once both its HAProxy and its
/// running services use it: its services restart for the move (package
/// search's address), one unit at a time, drained first.
#[test]
fn a_follower_follows_the_new_leader_once_its_services_restarted_for_it() {
    let mut unit = crate::scenario::follower();
    assert_eq!(own(&mut unit, "follows").as_deref(), Some(OLD_LEADER));
    let new_leader = "10.1.77.230";
    unit.add_peer(2, new_leader);
    unit.set_published_leader_ip(new_leader);
    let run = unit.hook("leader-settings-changed");
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(!run.ran("lsctl restart"), "drained first");
    assert_eq!(own(&mut unit, "follows").as_deref(), Some(OLD_LEADER), "its services still ask the old leader");
    for peer in [0, 2] {
        let name = format!("landscape-server/{peer}");
        unit.peer_relation().remote_units.get_mut(&name).unwrap().insert("drained".into(), "landscape-server/1".into());
    }
    let run = unit.relation_changed("replicas", 0, Some("landscape-server/2"));
    assert!(run.ran("lsctl restart"), "{:?}", run.command_lines());
    assert_eq!(unit.hook("update-status").code, 0);
    assert_eq!(own(&mut unit, "follows").as_deref(), Some(new_leader));
}

#[test]
fn the_handover_keys_are_a_data_format() {
    // Read by the other units, which may run another revision mid-refresh.
    assert_eq!(landscape_server::peers::FOLLOWS_KEY, "follows");
    assert_eq!(landscape_server::handover::LEADER_ROLE, "leader");
    assert_eq!(landscape_server::handover::FOLLOWER_ROLE, "follower");
}
