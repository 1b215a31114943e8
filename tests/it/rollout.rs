//! The rolling upgrade through peer data, black-box: the leader's plan, one
//! unit's turn (drained, upgraded, started), a failure that stops the
//! rollout, and a leader that changes mid-rollout.

use serde_json::{Value, json};

use crate::harness::{Unit, ready_leader};

const PLAN: &str = "rolling-upgrade";

fn plan_of(unit: &mut Unit) -> Value {
    let text = unit.peer_relation().local_app_data.get(PLAN).cloned().expect("a plan in the peer application bag");
    serde_json::from_str(&text).unwrap()
}

fn set_plan(unit: &mut Unit, plan: Value) {
    unit.peer_relation().local_app_data.insert(PLAN.into(), plan.to_string());
}

fn peer_bag(unit: &mut Unit, peer: u32) -> &mut crate::harness::Databag {
    unit.peer_relation().remote_units.get_mut(&format!("landscape-server/{peer}")).unwrap()
}

fn own(unit: &mut Unit, key: &str) -> Option<String> {
    unit.peer_relation().local_unit_data.get(key).cloned()
}

fn changed(unit: &mut Unit, peer: u32) -> crate::harness::RunResult {
    let run = unit.relation_changed("replicas", 0, Some(&format!("landscape-server/{peer}")));
    assert_eq!(run.code, 0, "{}", run.stderr);
    run
}

/// Unit 1 (not the leader) of three, with a plan that makes it first.
fn follower_in_its_turn() -> Unit {
    let mut unit = ready_leader(2);
    unit.state.leader = false;
    set_plan(
        &mut unit,
        json!({"id": "7", "order": ["landscape-server/0", "landscape-server/1", "landscape-server/2"], "done": []}),
    );
    unit
}

#[test]
fn the_leader_plans_every_unit_one_at_a_time_itself_last() {
    let mut unit = ready_leader(2);
    let run = unit.action("rolling-upgrade");
    assert_eq!(run.code, 0, "{}", run.stderr);
    let plan = plan_of(&mut unit);
    assert_eq!(plan["order"], json!(["landscape-server/1", "landscape-server/2", "landscape-server/0"]));
    assert_eq!(plan["done"], json!([]));
    assert!(!run.ran("lsctl stop"), "the leader goes last");
    // Under way: a second one is refused.
    unit.action("rolling-upgrade");
    let failed = unit.state.action.clone().unwrap().failed.unwrap_or_default();
    assert!(failed.contains("is under way (landscape-server/1's turn)"), "{failed}");

    let mut follower = ready_leader(1);
    follower.state.leader = false;
    follower.action("rolling-upgrade");
    assert!(follower.state.action.clone().unwrap().failed.unwrap_or_default().contains("runs on the leader"));
}

#[test]
fn in_its_turn_a_unit_is_drained_then_upgraded_and_started_and_says_so() {
    let mut unit = follower_in_its_turn();
    // Its turn: it asks to be drained, and stops nothing yet.
    let run = changed(&mut unit, 1);
    assert!(!run.ran("lsctl stop") && !run.command_lines().iter().any(|l| l.starts_with("apt-get")));
    assert_eq!(own(&mut unit, "drain").as_deref(), Some("pause"));
    assert_eq!(unit.state.unit_state.get("rollout-step").map(String::as_str), Some("7"));
    assert!(unit.status().1.starts_with("Rolling upgrade 1/3: this unit"), "{:?}", unit.status());
    // The peers drained it: services stop, packages upgrade, services start.
    for peer in [1, 2] {
        peer_bag(&mut unit, peer).insert("drained".into(), "landscape-server/0".into());
    }
    let run = changed(&mut unit, 2);
    let lines = run.command_lines();
    let at = |prefix: &str| {
        lines.iter().position(|l| l.starts_with(prefix)).unwrap_or_else(|| panic!("no {prefix}: {lines:?}"))
    };
    assert!(at("lsctl stop") < at("apt-get install") && at("apt-get install") < at("lsctl start"), "{lines:?}");
    assert_eq!(own(&mut unit, "upgraded").as_deref(), Some("7"));
    assert_eq!(own(&mut unit, "drain"), None, "routed to again");
    assert!(!unit.state.unit_state.contains_key("paused") && !unit.state.unit_state.contains_key("rollout-step"));
    // Its next hook does nothing more.
    let run = changed(&mut unit, 2);
    assert!(!run.command_lines().iter().any(|l| l.starts_with("apt-get") || l.starts_with("lsctl stop")));
}

#[test]
fn a_failed_upgrade_stops_the_rollout_with_the_unit_drained_and_says_why() {
    let mut unit = follower_in_its_turn();
    changed(&mut unit, 1);
    for peer in [1, 2] {
        peer_bag(&mut unit, peer).insert("drained".into(), "landscape-server/0".into());
    }
    unit.fail_command("apt-get install", 100, "E: Unable to locate package landscape-server");
    let run = changed(&mut unit, 2);
    assert!(run.ran("lsctl stop") && !run.ran("lsctl start"), "{:?}", run.command_lines());
    let failed = own(&mut unit, "upgrade-failed").unwrap_or_default();
    assert!(failed.starts_with("7: upgrade failed") && failed.contains("Unable to locate package"), "{failed}");
    assert!(unit.state.unit_state.contains_key("paused"), "stays stopped");
    assert_eq!(own(&mut unit, "drain").as_deref(), Some("pause"), "stays drained");
    unit.state.command_behaviours.clear();
    let run = changed(&mut unit, 2);
    assert!(!run.command_lines().iter().any(|l| l.starts_with("apt-get")), "no retry on its own");
    let (status, message) = unit.status();
    assert_eq!(status, "blocked");
    assert!(message.starts_with("Rolling upgrade stopped: landscape-server/0: upgrade failed"), "{message}");
}

#[test]
fn the_leader_records_each_turn_and_a_new_leader_carries_on() {
    let mut unit = ready_leader(2);
    unit.action("rolling-upgrade");
    let id = plan_of(&mut unit)["id"].as_str().unwrap().to_string();
    peer_bag(&mut unit, 1).insert("upgraded".into(), id.clone());
    changed(&mut unit, 1);
    assert_eq!(plan_of(&mut unit)["done"], json!(["landscape-server/1"]));
    assert!(unit.status().1.starts_with("Rolling upgrade 2/3: landscape-server/2"), "{:?}", unit.status());

    // Leadership moves to a unit that has the plan as the old leader left it.
    let mut next = Unit::new(1, "10.1.78.1");
    next.state.leader = true;
    next.relate_workload();
    next.add_peer(0, "10.1.77.18");
    next.add_peer(2, "10.1.78.2");
    let plan = plan_of(&mut unit);
    set_plan(&mut next, plan);
    next.peer_relation().local_unit_data.insert("upgraded".into(), id.clone());
    peer_bag(&mut next, 2).insert("upgrade-failed".into(), format!("{id}: upgrade failed: no space left"));
    let run = next.hook("leader-elected");
    assert_eq!(run.code, 0, "{}", run.stderr);
    let plan = plan_of(&mut next);
    assert_eq!(plan["done"], json!(["landscape-server/1"]));
    assert_eq!(plan["failed"], json!("landscape-server/2: upgrade failed: no space left"));
    next.hook("update-status");
    assert!(next.status().1.starts_with("Rolling upgrade stopped: landscape-server/2"), "{:?}", next.status());
}

fn rolling_upgrade_migrating(unit: &mut Unit) -> crate::harness::RunResult {
    let params = json!({"migrate-schema": true}).as_object().cloned().unwrap_or_default();
    let run = unit.run(crate::harness::Dispatch::Action { name: "rolling-upgrade".into(), params });
    assert_eq!(run.code, 0, "{}", run.stderr);
    run
}

/// The leader of three, its `rolling-upgrade migrate-schema=true` planned
/// and its peers having drained it.
fn leader_migrating_in_its_turn() -> Unit {
    let mut unit = ready_leader(2);
    let help = crate::harness::Behaviour { code: 0, stdout: "[--allow-connections]".into(), stderr: String::new() };
    unit.state.command_behaviours.insert("landscape-schema --help".into(), help);
    let run = rolling_upgrade_migrating(&mut unit);
    assert!(!run.ran("lsctl stop"), "drained first");
    let plan = plan_of(&mut unit);
    assert_eq!(plan["order"], json!(["landscape-server/0", "landscape-server/1", "landscape-server/2"]));
    assert_eq!(plan["migrate_schema_on"], json!("landscape-server/0"));
    let result = format!("{:?}", unit.state.action.clone().unwrap().results);
    assert!(result.contains("landscape-server/0 migrates the schema"), "{result}");
    // Its turn begins in the action: no hook of its own follows its write
    // of the plan (the next would be update-status, minutes later).
    assert_eq!(own(&mut unit, "drain").as_deref(), Some("pause"));
    assert!(unit.state.unit_state.contains_key("rollout-step"));
    for peer in [1, 2] {
        peer_bag(&mut unit, peer).insert("drained".into(), "landscape-server/0".into());
    }
    unit
}

/// With `migrate-schema`, the leader goes first and migrates (connections
/// allowed, the others still on the old version) between its upgrade and
/// its start; a failed migration stops the rollout with it stopped.
#[test]
fn with_migrate_schema_the_leader_goes_first_and_migrates_before_it_starts() {
    let mut unit = leader_migrating_in_its_turn();
    let run = changed(&mut unit, 2);
    let lines = run.command_lines();
    let at = |prefix: &str| {
        lines.iter().position(|l| l.starts_with(prefix)).unwrap_or_else(|| panic!("no {prefix}: {lines:?}"))
    };
    assert!(at("apt-get install") < at("landscape-schema --allow-connections"), "{lines:?}");
    assert!(at("landscape-schema --allow-connections") < at("lsctl start"), "{lines:?}");
    assert_eq!(plan_of(&mut unit)["done"], json!(["landscape-server/0"]));
    assert!(unit.status().1.starts_with("Rolling upgrade 2/3: landscape-server/1"), "{:?}", unit.status());

    let mut failing = leader_migrating_in_its_turn();
    failing.fail_command("landscape-schema --allow-connections", 1, "patch 477 failed");
    let run = changed(&mut failing, 2);
    assert!(run.ran("lsctl stop") && !run.ran("lsctl start"), "{:?}", run.command_lines());
    let plan = plan_of(&mut failing);
    let failed = plan["failed"].as_str().unwrap_or_default();
    assert!(
        failed.starts_with("landscape-server/0: schema migration failed") && failed.contains("patch 477"),
        "{plan}"
    );
    assert!(failing.state.unit_state.contains_key("paused"), "stays stopped");
    assert_eq!(failing.status().0, "blocked");
}
