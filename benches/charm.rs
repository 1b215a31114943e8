//! Benchmarks (`cargo bench`): one full hook through the fake Juju, and
//! render + `haproxy -c` for growing deployments. Wall-clock medians over
//! repeated runs; results go in README.md. Not a test: nothing here asserts
//! a time.

#![allow(dead_code)]

use fake_juju::state;

#[path = "../tests/it/fixtures.rs"]
mod fixtures;

#[path = "../tests/it/harness.rs"]
mod harness;

#[path = "../tests/it/in_process.rs"]
mod in_process;

use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

use landscape_server::config::{LandscapeService, ServicePorts};
use landscape_server::haproxy::model::{Settings, Topology, build};
use landscape_server::haproxy::render;
use landscape_server::paths::Paths;

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

fn measure(runs: usize, mut f: impl FnMut()) -> Duration {
    f(); // warm-up
    median(
        (0..runs)
            .map(|_| {
                let start = Instant::now();
                f();
                start.elapsed()
            })
            .collect(),
    )
}

fn unit_config() -> landscape_server::config::CharmConfig {
    landscape_server::config::CharmConfig::parse(serde_json::Map::new()).unwrap()
}

fn main() {
    // A filter argument (as `cargo bench -- name`) or `--bench` may be passed.
    println!("| benchmark | median |");
    println!("|---|---|");

    // Steady state: leader, every relation answered. Spawns are hook tools +
    // system commands of one hook (the budget test asserts them).
    for units in [3u32, 30, 100] {
        let mut unit = harness::Unit::new(0, "10.1.77.18");
        unit.state.leader = true;
        unit.relate_workload();
        for n in 1..units {
            unit.add_peer(n, &format!("10.1.{}.{}", 78 + n / 250, n % 250 + 1));
        }
        for _ in 0..2 {
            assert_eq!(unit.hook("config-changed").code, 0);
        }
        for hook in ["update-status", "config-changed"] {
            let run = unit.hook(hook);
            let spawns = run.tool_calls.len() + run.commands.len();
            let time = measure(20, || assert_eq!(unit.hook(hook).code, 0));
            println!(
                "| {hook} hook, {units} units, nothing changed ({spawns} spawns, fake Juju) | {:.1} ms |",
                time.as_secs_f64() * 1e3
            );
        }
        // The charm's own time: the same hook with the fake in-process.
        let hook = harness::Dispatch::Hook("config-changed".into());
        let time = measure(20, || assert_eq!(unit.run_in_process(hook.clone()).code, 0));
        println!(
            "| config-changed hook, {units} units, nothing changed (fake Juju in-process: the charm's own time) | {:.2} ms |",
            time.as_secs_f64() * 1e3
        );
    }

    let mut unit = harness::Unit::new(0, "10.1.77.18");
    unit.state.leader = true;
    unit.add_peer(1, "10.1.77.229");
    unit.add_peer(2, "10.1.77.42");
    unit.install_test_certificate();
    assert_eq!(unit.hook("config-changed").code, 0);
    let mut workers = 1;
    let changed = measure(20, || {
        workers = workers % 4 + 1;
        unit.set_config("worker_counts", serde_json::json!(workers));
        assert_eq!(unit.hook("config-changed").code, 0);
    });
    println!(
        "| config-changed hook, 3 units, new config validated and applied (fake Juju) | {:.1} ms |",
        changed.as_secs_f64() * 1e3
    );

    // What a hook with cos-agent related adds: the rules parsed and seven
    // dashboards compressed for the bag.
    let mut bag = String::new();
    let cos = measure(20, || {
        let topology = landscape_server::monitoring::cos::Topology {
            model: "landscape",
            model_uuid: "d2a6c5e0-4c1b-4f3e-9a55-0123456789ab",
            application: "landscape-server",
            charm: "landscape-server",
        };
        let ip = Some(IpAddr::V4(Ipv4Addr::LOCALHOST));
        bag = landscape_server::monitoring::cos_agent_config(&unit_config(), true, ip, &topology).unwrap()
    });
    println!(
        "| cos-agent bag: rules parsed, 7 dashboards compressed ({} KiB) | {:.2} ms |",
        bag.len() / 1024,
        cos.as_secs_f64() * 1e3
    );

    let inputs = Paths::under(fixtures::shared_inputs());
    for units in [3u32, 30, 100] {
        for workers in [2u16, 16] {
            let ips: Vec<IpAddr> = (0..units).map(|i| IpAddr::V4(Ipv4Addr::from(0x0a01_0000 + i))).collect();
            let topology = Topology::new(ips.clone(), Some(ips[0]));
            // 16 workers do not fit Landscape's default port layout; spread the bases.
            let ports = ServicePorts::default()
                .with(LandscapeService::Appserver, 8000)
                .with(LandscapeService::Pingserver, 8100)
                .with(LandscapeService::MessageServer, 8200)
                .with(LandscapeService::Api, 8300);
            let settings = Settings {
                worker_counts: workers,
                enable_hostagent_messenger: true,
                enable_ubuntu_installer_attach: true,
                ports,
                ..Settings::from_config(&unit_config(), Some(inputs.haproxy_pem()), inputs.haproxy_errors_dir())
            };
            let mut text = String::new();
            let render_time = measure(50, || text = render(&build(&topology, &settings)).unwrap());
            let check_time = measure(5, || fixtures::haproxy_check_strict(&text).unwrap());
            println!(
                "| render, {units} units x {workers} workers ({} servers, {} KiB) | {:.2} ms |",
                text.matches("\n    server ").count(),
                text.len() / 1024,
                render_time.as_secs_f64() * 1e3
            );
            println!(
                "| haproxy -dW -c, {units} units x {workers} workers | {:.1} ms |",
                check_time.as_secs_f64() * 1e3
            );
        }
    }
}
