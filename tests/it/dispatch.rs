//! The dispatch binary under the fake Juju: events, hook tools, actions,
//! statuses, and what happens when Juju's tools misbehave.

use serde_json::json;

use crate::harness::{Behaviour, Dispatch, Unit, backend_servers};

fn assert_no_panic(result: &crate::harness::RunResult) {
    assert!(!result.stderr.contains("panicked"), "dispatch panicked: {}", result.stderr);
}

#[test]
fn install_renders_haproxy_for_this_unit_and_opens_port_80() {
    let mut unit = Unit::new(0, "10.1.77.18");
    let run = unit.hook("install");
    assert_eq!(run.code, 0, "{}", run.stderr);
    let query = run.commands.iter().find(|c| c.program == "dpkg-query").expect("one dpkg-query");
    assert!(query.args.contains(&"haproxy".to_string()), "{:?}", run.command_lines());
    let config = unit.haproxy_config().expect("a live config");
    assert_eq!(
        backend_servers(&config, "landscape-http-appserver"),
        [
            ("landscape-appserver-10-1-77-18-0".to_string(), "10.1.77.18:8080".to_string()),
            ("landscape-appserver-10-1-77-18-1".to_string(), "10.1.77.18:8081".to_string()),
        ]
    );
    assert_eq!(unit.state.opened_ports, ["80/tcp"]);
    // Nothing related yet: Blocked, naming the relations to add.
    assert_eq!(unit.status().0, "blocked");
    // HAProxy was started because it was not reported running.
    assert!(run.ran("systemctl is-active --quiet haproxy"));
    assert!(!run.ran("systemctl enable --now haproxy"), "is-active said running (exit 0)");
}

#[test]
fn install_installs_haproxy_when_missing_and_starts_it() {
    let mut unit = Unit::new(0, "10.1.77.18");
    unit.state.command_behaviours.insert("dpkg-query".into(), Behaviour { code: 1, ..Default::default() });
    unit.state.command_behaviours.insert("systemctl is-active".into(), Behaviour { code: 3, ..Default::default() });
    let run = unit.hook("install");
    assert_eq!(run.code, 0, "{}", run.stderr);
    let install = run.commands.iter().find(|c| c.line() == "apt-get install -y -q haproxy").expect("apt-get install");
    assert_eq!(install.env.get("DEBIAN_FRONTEND").map(String::as_str), Some("noninteractive"));
    assert!(run.ran("systemctl enable --now haproxy"));
}

#[test]
fn apt_failure_fails_the_hook_with_the_apt_error_in_the_log() {
    let mut unit = Unit::new(0, "10.1.77.18");
    unit.state.command_behaviours.insert("dpkg-query".into(), Behaviour { code: 1, ..Default::default() });
    unit.state.command_behaviours.insert(
        "apt-get install".into(),
        Behaviour { code: 100, stderr: "E: Unable to locate package haproxy".into(), ..Default::default() },
    );
    let run = unit.hook("install");
    assert_ne!(run.code, 0);
    assert_no_panic(&run);
    assert!(unit.log_text().contains("E: Unable to locate package haproxy"), "{}", unit.log_text());
    assert!(unit.haproxy_config().is_none(), "nothing rendered after a failed install");
}

#[test]
fn config_changed_sets_status_from_the_current_state() {
    let mut unit = Unit::new(0, "10.1.77.18");
    unit.state.leader = true;
    unit.peer_relation();
    let run = unit.hook("config-changed");
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(
        unit.status(),
        (
            "blocked".into(),
            "Missing relations: database, inbound-amqp, outbound-amqp, load-balancer-certificates".into()
        )
    );
    unit.relate_workload();
    unit.hook("config-changed");
    assert_eq!(unit.status(), ("active".into(), "Unit is ready".into()), "status must not stick");
    assert_eq!(unit.state.opened_ports, ["80/tcp", "443/tcp"]);
}

#[test]
fn leader_elected_publishes_leader_ip_and_takes_the_leader_only_backends() {
    let mut unit = Unit::new(1, "10.1.77.229");
    unit.add_peer(0, "10.1.77.18");
    unit.state.leader = true;
    let run = unit.hook("leader-elected");
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(unit.peer_app_data().get("leader-ip").map(String::as_str), Some("10.1.77.229"));
    let config = unit.haproxy_config().unwrap();
    assert_eq!(
        backend_servers(&config, "landscape-http-package-upload"),
        [("landscape-leader-package-upload".to_string(), "10.1.77.229:9100".to_string())]
    );
    // Every unit publishes its own replicas address for the others.
    let own = &unit.state.relations[0].local_unit_data;
    assert_eq!(own.get("address").map(String::as_str), Some("10.1.77.229"));
}

#[test]
fn relation_changed_with_remote_data_adds_the_peer() {
    let mut unit = Unit::new(0, "10.1.77.18");
    unit.hook("install");
    unit.add_peer(1, "10.1.77.229");
    let run = unit.relation_changed("replicas", 0, Some("landscape-server/1"));
    assert_eq!(run.code, 0, "{}", run.stderr);
    let servers = backend_servers(&unit.haproxy_config().unwrap(), "landscape-http-api");
    let addresses: Vec<&str> = servers.iter().map(|(_, a)| a.as_str()).collect();
    assert_eq!(addresses, ["10.1.77.18:9080", "10.1.77.18:9081", "10.1.77.229:9080", "10.1.77.229:9081"]);
    // The reload happened because the config changed.
    assert!(run.ran("systemctl reload haproxy"), "{:?}", run.command_lines());
}

#[test]
fn action_with_results_returns_the_live_config() {
    let mut unit = Unit::new(0, "10.1.77.18");
    unit.hook("config-changed");
    let run = unit.action("get-haproxy-config");
    assert_eq!(run.code, 0, "{}", run.stderr);
    let action = unit.state.action.clone().unwrap();
    assert_eq!(action.failed, None);
    assert_eq!(action.results.get("config"), unit.haproxy_config().as_ref());
    assert_eq!(action.results.get("rejected").map(String::as_str), Some("false"));
}

#[test]
fn action_that_fails_says_why_and_exits_zero() {
    let mut unit = Unit::new(0, "10.1.77.18");
    let run = unit.action("get-haproxy-config");
    assert_eq!(run.code, 0, "action failures are reported with action-fail, not an exit code");
    let action = unit.state.action.clone().unwrap();
    assert_eq!(action.failed.as_deref(), Some("no HAProxy config has been rendered on this unit yet"));
    assert!(action.results.is_empty());
}

#[test]
fn unknown_hook_is_logged_and_ignored() {
    let mut unit = Unit::new(0, "10.1.77.18");
    for path in
        ["hooks/certificates-relation-joined", "hooks/collect-metrics", "actions/enable-ubuntu-installer-attach"]
    {
        let run = unit.run(Dispatch::Raw(path.into()));
        assert_eq!(run.code, 0, "{path}: {}", run.stderr);
        assert!(run.commands.is_empty(), "{path} ran commands: {:?}", run.command_lines());
    }
    assert!(unit.log_text().contains("ignoring hooks/certificates-relation-joined"), "{}", unit.log_text());
    assert_eq!(unit.state.unit_status, None);
}

#[test]
fn failing_hook_tool_fails_the_hook_and_drops_queued_writes() {
    let mut unit = Unit::new(0, "10.1.77.18");
    unit.state.leader = true;
    unit.peer_relation();
    // relation-set (leader-ip) is queued before opened-ports fails.
    unit.state.tool_failures.insert(
        "opened-ports".into(),
        Behaviour { code: 1, stderr: "ERROR connection to the agent lost".into(), ..Default::default() },
    );
    let run = unit.hook("config-changed");
    assert_ne!(run.code, 0);
    assert_no_panic(&run);
    assert!(
        unit.log_text().contains("opened-ports --format=json failed (exit status 1): connection to the agent lost"),
        "{}",
        unit.log_text()
    );
    assert!(unit.peer_app_data().is_empty(), "queued relation data must not be committed");
    assert_eq!(unit.state.unit_status, None, "Juju shows the error state; no status is set");
}

#[test]
fn garbage_tool_output_fails_the_hook_with_a_clear_message() {
    let mut unit = Unit::new(0, "10.1.77.18");
    unit.state
        .tool_failures
        .insert("is-leader".into(), Behaviour { code: 0, stdout: "maybe\n".into(), ..Default::default() });
    let run = unit.hook("update-status");
    assert_ne!(run.code, 0);
    assert_no_panic(&run);
    assert!(run.stderr.contains("is-leader printed output that is not the expected JSON"), "{}", run.stderr);
}

#[test]
fn relation_gone_mid_hook_reads_as_empty() {
    let mut unit = Unit::new(0, "10.1.77.18");
    unit.add_peer(1, "10.1.77.229");
    unit.state.tool_failures.insert(
        "relation-get".into(),
        Behaviour { code: 1, stderr: "ERROR relation not found (replicas:0)".into(), ..Default::default() },
    );
    let run = unit.relation_changed("replicas", 0, Some("landscape-server/1"));
    assert_eq!(run.code, 0, "{}", run.stderr);
    let servers = backend_servers(&unit.haproxy_config().unwrap(), "landscape-http-appserver");
    assert!(servers.iter().all(|(_, a)| a.starts_with("10.1.77.18:")), "{servers:?}");
}

#[test]
fn harness_refuses_states_that_contradict_the_metadata() {
    let mut unit = Unit::new(0, "10.1.77.18");
    unit.state.relations.push(crate::harness::Relation {
        id: 9,
        endpoint: "certificates".into(),
        remote_app: "haproxy".into(),
        ..Default::default()
    });
    let err = unit.try_run(Dispatch::Hook("config-changed".into())).unwrap_err();
    assert!(err.contains("undeclared endpoint certificates"), "{err}");

    let mut unit = Unit::new(0, "10.1.77.18");
    unit.set_config("ssl_certificate", json!("DEFAULT"));
    assert!(
        unit.try_run(Dispatch::Hook("config-changed".into()))
            .unwrap_err()
            .contains("undeclared config option ssl_certificate")
    );

    let mut unit = Unit::new(0, "10.1.77.18");
    unit.set_config("worker_counts", json!("two"));
    assert!(unit.try_run(Dispatch::Hook("config-changed".into())).unwrap_err().contains("worker_counts is a int"));
}

#[test]
fn hook_tool_argv_uses_the_json_forms() {
    let mut unit = Unit::new(0, "10.1.77.18");
    unit.state.leader = true;
    unit.add_peer(1, "10.1.77.229");
    let run = unit.hook("config-changed");
    assert_eq!(run.code, 0, "{}", run.stderr);
    let lines: Vec<String> = run.tool_calls.iter().map(|c| c.line()).collect();
    for expected in [
        "config-get --format=json --all",
        "is-leader --format=json",
        "network-get --format=json replicas",
        "relation-ids replicas --format=json",
        "relation-list --format=json -r replicas:0",
        "relation-get --format=json -r replicas:0 --app - landscape-server",
        "relation-get --format=json -r replicas:0 - landscape-server/1",
        "relation-set -r replicas:0 --app --file -",
        "status-set blocked -- Missing relations: database, inbound-amqp, outbound-amqp, load-balancer-certificates",
    ] {
        assert!(lines.iter().any(|l| l == expected), "missing {expected:?} in {lines:#?}");
    }
    // Every change to the peer app bag goes out in one write.
    let sets: Vec<_> =
        run.tool_calls.iter().filter(|c| c.line() == "relation-set -r replicas:0 --app --file -").collect();
    assert_eq!(sets.len(), 1, "{lines:#?}");
    let written: serde_json::Map<String, serde_json::Value> =
        serde_json::from_str(sets[0].stdin.as_deref().unwrap()).unwrap();
    assert_eq!(written["leader-ip"], "10.1.77.18");
}
