//! Hook-tool calls and system commands per hook, held to a budget.
//!
//! On a unit every hook tool is a process and a round trip to the unit agent,
//! and every system command a process: with thousands of units running
//! update-status every five minutes, the calls are the load. Counts are
//! deterministic, so they are asserted here; times are measured in
//! `cargo bench`. Each budget is today's count: a change that adds a call
//! fails here and shows the calls, and a budget is raised only on purpose.
//! `python` is what the Python charm made in the same state, where measured.

use serde_json::json;

use crate::harness::{DB_RELATION, INBOUND_AMQP_RELATION, RunResult, TLS_RELATION, Unit, ready_leader};

fn lone_leader() -> Unit {
    let mut unit = Unit::new(0, "10.1.77.18");
    unit.state.leader = true;
    unit.peer_relation();
    for hook in ["install", "leader-elected", "config-changed"] {
        assert_eq!(unit.hook(hook).code, 0);
    }
    unit
}

/// The most calls one hook may make (each relation endpoint costs one
/// `relation-ids` per full hook: `smtp`, `debarchive` and `task-handler`
/// raised them by three, the eight haproxy-route endpoints by
/// eight); `python` is the Python charm's count of hook-tool calls
/// in the same state, where it was measured. `Routed` is `Peers(2)` with the
/// eight haproxy-route relations: in a steady hook they cost nothing more.
struct Budget {
    scenario: Scenario,
    hook: &'static str,
    tools: usize,
    commands: usize,
    python: Option<usize>,
}

#[derive(Debug, Clone, Copy)]
enum Scenario {
    LoneLeader,
    Peers(u32),
    Routed,
}

/// A full hook asks `relation-ids` of every endpoint it reads once (the
/// deprecated `website` bridge included).
const BUDGETS: &[Budget] = &[
    Budget { scenario: Scenario::LoneLeader, hook: "update-status", tools: 3, commands: 1, python: Some(9) },
    Budget {
        scenario: Scenario::LoneLeader,
        hook: "config-changed (nothing changed)",
        tools: 35,
        commands: 2,
        python: None,
    },
    Budget { scenario: Scenario::Peers(2), hook: "update-status", tools: 3, commands: 1, python: Some(9) },
    Budget {
        scenario: Scenario::Peers(2),
        hook: "config-changed (nothing changed)",
        tools: 49,
        commands: 2,
        python: Some(66),
    },
    Budget {
        scenario: Scenario::Peers(2),
        hook: "config-changed (worker_counts 2 -> 3)",
        // One more: the unit says it runs three workers now (peers route
        // to its new ones only then).
        tools: 55,
        // lsctl restart, then snap restart landscape-outbox (it reads the
        // same service.conf).
        commands: 5,
        python: Some(66),
    },
    Budget { scenario: Scenario::Peers(2), hook: "replicas-relation-changed", tools: 49, commands: 2, python: None },
    Budget { scenario: Scenario::Peers(2), hook: "database-relation-changed", tools: 49, commands: 2, python: None },
    Budget {
        scenario: Scenario::Peers(2),
        hook: "inbound-amqp-relation-changed",
        tools: 49,
        commands: 2,
        python: None,
    },
    Budget {
        scenario: Scenario::Peers(2),
        hook: "load-balancer-certificates-relation-changed",
        tools: 49,
        commands: 2,
        python: None,
    },
    Budget { scenario: Scenario::Peers(2), hook: "get-haproxy-config", tools: 1, commands: 0, python: None },
    Budget { scenario: Scenario::Routed, hook: "update-status", tools: 3, commands: 1, python: None },
    Budget {
        scenario: Scenario::Routed,
        hook: "config-changed (nothing changed)",
        tools: 49,
        commands: 2,
        python: None,
    },
    Budget {
        scenario: Scenario::Routed,
        hook: "api-haproxy-route-relation-changed",
        tools: 52,
        commands: 2,
        python: None,
    },
    Budget { scenario: Scenario::Peers(30), hook: "update-status", tools: 3, commands: 1, python: None },
    Budget {
        scenario: Scenario::Peers(30),
        hook: "config-changed (nothing changed)",
        tools: 77,
        commands: 2,
        python: None,
    },
];

/// `ready_leader(2)` with the eight haproxy-route relations, settled.
fn routed_leader() -> Unit {
    let mut unit = ready_leader(2);
    // The peers here never drain this unit: restart at once (the budget of
    // a drained restart is not what this measures).
    unit.set_config("haproxy_drain_timeout", json!(0));
    unit.set_config("root_url", json!("https://landscape.example.com/"));
    for (endpoint, id) in crate::edge::haproxy_route::ROUTES {
        unit.add_relation(endpoint, id, "haproxy");
    }
    for _ in 0..2 {
        assert_eq!(unit.hook("config-changed").code, 0);
    }
    unit
}

fn shown(run: &RunResult) -> String {
    let tools = run.tool_calls.iter().map(|c| format!("  tool {}", c.line()));
    let commands = run.commands.iter().map(|c| format!("  cmd  {}", c.line()));
    tools.chain(commands).collect::<Vec<_>>().join("\n")
}

fn dispatch(unit: &mut Unit, hook: &str) -> RunResult {
    let run = match hook {
        "config-changed (worker_counts 2 -> 3)" => {
            unit.set_config("worker_counts", json!(3));
            unit.hook("config-changed")
        }
        "config-changed (nothing changed)" => unit.hook("config-changed"),
        "replicas-relation-changed" => unit.relation_changed("replicas", 0, Some("landscape-server/1")),
        "database-relation-changed" => unit.relation_changed("database", DB_RELATION, Some("postgresql/0")),
        "inbound-amqp-relation-changed" => {
            unit.relation_changed("inbound-amqp", INBOUND_AMQP_RELATION, Some("rabbitmq-server/0"))
        }
        "load-balancer-certificates-relation-changed" => {
            unit.relation_changed("load-balancer-certificates", TLS_RELATION, Some("self-signed-certificates/0"))
        }
        "get-haproxy-config" => unit.action("get-haproxy-config"),
        "api-haproxy-route-relation-changed" => unit.relation_changed("api-haproxy-route", 43, Some("haproxy/0")),
        other => unit.hook(other),
    };
    assert_eq!(run.code, 0, "{hook}: {}", run.stderr);
    run
}

#[test]
fn every_hook_stays_within_its_call_budget_and_the_python_charms_count() {
    let mut over = vec![];
    for budget in BUDGETS {
        let mut unit = match budget.scenario {
            Scenario::LoneLeader => lone_leader(),
            Scenario::Peers(n) => ready_leader(n),
            Scenario::Routed => routed_leader(),
        };
        let run = dispatch(&mut unit, budget.hook);
        let (tools, commands) = (run.tool_calls.len(), run.commands.len());
        // Shown with --nocapture: the counts README's table gives.
        println!("{:?} {}: {tools} tool calls + {commands} commands", budget.scenario, budget.hook);
        let python_ok = budget.python.is_none_or(|p| tools <= p);
        if tools > budget.tools || commands > budget.commands || !python_ok {
            over.push(format!(
                "{:?} {}: {tools} tool calls (budget {}, Python charm {:?}), {commands} commands (budget {}):\n{}",
                budget.scenario,
                budget.hook,
                budget.tools,
                budget.python,
                budget.commands,
                shown(&run)
            ));
        }
    }
    assert!(over.is_empty(), "over budget:\n{}", over.join("\n\n"));
}

#[test]
fn steady_update_status_spawns_at_most_five_processes_whatever_the_number_of_peers() {
    for peers in [2, 30] {
        let mut unit = ready_leader(peers);
        let run = unit.hook("update-status");
        let spawns = run.tool_calls.len() + run.commands.len();
        assert!(spawns <= 5, "{peers} peers: {spawns} spawns:\n{}", shown(&run));
        assert_eq!(unit.status(), ("active".into(), "Unit is ready".into()));
    }
}

/// Whether `run` was the full reconcile (it reads config) or the steady check.
fn reconciled(run: &RunResult) -> bool {
    run.tool_calls.iter().any(|c| c.program == "config-get")
}

/// A steady leader, `change`d as the world can change between hooks, then
/// update-status, which must have run the full reconcile.
fn update_status_after(change: impl FnOnce(&mut Unit)) -> (Unit, RunResult) {
    let mut unit = ready_leader(2);
    change(&mut unit);
    let run = unit.hook("update-status");
    assert!(reconciled(&run), "{}", shown(&run));
    (unit, run)
}

#[test]
fn update_status_reconciles_when_leadership_moved() {
    let (unit, run) = update_status_after(|unit| {
        unit.state.leader = false;
        unit.set_published_leader_ip("10.1.78.1");
    });
    // The hand-over of the leader-only services starts at once, not at the
    // next hook.
    assert!(unit.state.unit_state.contains_key("leader-handover-started"), "{}", shown(&run));
}

#[test]
fn update_status_reconciles_and_restarts_haproxy_when_it_is_down() {
    let (_, run) = update_status_after(|unit| unit.fail_command("systemctl is-active", 3, ""));
    assert!(run.ran("systemctl enable --now haproxy"), "{}", shown(&run));
}

#[test]
fn update_status_reconciles_when_its_record_is_missing() {
    let (mut unit, _) = update_status_after(|unit| {
        unit.state.unit_state.remove("last-reconcile");
    });
    assert!(unit.state.unit_state.contains_key("last-reconcile"), "the full reconcile records itself again");
    assert!(!reconciled(&unit.hook("update-status")));
}

#[test]
fn update_status_reconciles_when_the_address_changed() {
    let (unit, _) = update_status_after(|unit| unit.set_address("10.1.77.99"));
    assert!(unit.haproxy_config().unwrap().contains("10.1.77.99"));
}

#[test]
fn update_status_reconciles_when_the_certificate_is_due_for_renewal() {
    update_status_after(|unit| {
        // A bundle two thirds through its validity, as the clock would bring it.
        let key = rcgen::KeyPair::generate().unwrap();
        let mut params = rcgen::CertificateParams::new(vec!["10.1.77.18".to_string()]).unwrap();
        let now = time::OffsetDateTime::now_utc();
        params.not_before = now - time::Duration::days(61);
        params.not_after = now + time::Duration::days(29);
        let cert = params.self_signed(&key).unwrap();
        std::fs::write(unit.path("/etc/haproxy/haproxy.pem"), format!("{}{}", cert.pem(), key.serialize_pem()))
            .unwrap();
    });
}
