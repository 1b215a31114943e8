//! The landscape-outbox snap (Landscape 26.04): installed once, following its
//! channel, restarted after Landscape, stopped and started with it.

use serde_json::json;

use crate::harness::{Unit, ready_leader};

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
