//! Landscape's actions: pause and resume, the ones that need a paused unit, failures that say why, Landscape's
//! own programs.

use serde_json::json;

use crate::scenario::*;

#[test]
fn pause_resume_and_the_actions_that_need_a_paused_unit() {
    let (mut unit, _) = deployed_leader();
    for action in ["upgrade", "migrate-schema"] {
        let run = unit.action(action);
        assert_eq!(run.code, 0);
        let failed = unit.state.action.clone().unwrap().failed.unwrap_or_default();
        assert!(failed.contains("run the pause action first"), "{action}: {failed}");
        assert!(!run.command_lines().iter().any(|l| l.starts_with("apt-get") || l.starts_with("landscape-schema")));
    }
    let run = unit.action("pause");
    assert!(run.ran("lsctl stop"));
    assert_eq!(status(&unit).0, "maintenance");
    // Paused stays paused across hooks, even when config changes.
    unit.set_config("worker_counts", json!(3));
    let run = unit.hook("config-changed");
    assert!(!run.ran("lsctl restart"));
    assert!(status(&unit).1.starts_with("Paused"), "{:?}", status(&unit));

    let run = unit.action("upgrade");
    assert_eq!(unit.state.action.clone().unwrap().failed, None);
    let lines = run.command_lines();
    let unhold = lines.iter().position(|l| l == "apt-mark unhold landscape-server haproxy").unwrap();
    let install = lines
        .iter()
        .position(|l| {
            l == "apt-get install -y -q landscape-server landscape-client landscape-common haproxy \
                  -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold"
        })
        .unwrap();
    let hold = lines.iter().position(|l| l == "apt-mark hold landscape-server haproxy").unwrap();
    assert!(unhold < install && install < hold, "{lines:?}");
    let run = unit.action("migrate-schema");
    assert!(run.ran("landscape-schema"));

    // resume: start, check, and the pending config change is applied.
    let run = unit.action("resume");
    assert!(run.ran("lsctl start") && run.ran("lsctl status"), "{:?}", run.command_lines());
    assert!(run.ran("lsctl restart"), "the worker change made while paused is applied");
    assert!(is_ready(&unit), "{:?}", status(&unit));
}

#[test]
fn failed_actions_say_why() {
    let (mut unit, _) = deployed_leader();
    unit.state.command_behaviours.insert(
        "lsctl status".into(),
        crate::harness::Behaviour { code: 3, stdout: "landscape-appserver: failed".into(), stderr: String::new() },
    );
    unit.action("pause");
    let run = unit.action("resume");
    assert!(run.ran("lsctl stop"), "a failed resume stops again");
    let failed = unit.state.action.clone().unwrap().failed.unwrap_or_default();
    assert!(
        failed.starts_with("Failed to start services") && failed.contains("landscape-appserver: failed"),
        "{failed}"
    );
    assert!(status(&unit).1.starts_with("Paused"));

    unit.fail_command(
        "apt-get install -y -q landscape-server landscape-client",
        100,
        "E: Unable to locate package landscape-client",
    );
    let run = unit.action("upgrade");
    assert!(run.ran("apt-mark hold landscape-server haproxy"), "held again after a failure");
    assert!(unit.state.action.clone().unwrap().failed.unwrap().starts_with("Failed to upgrade packages"));

    // Programs that only a Landscape install provides.
    for action in ["hash-id-databases", "migrate-service-conf"] {
        unit.action(action);
        let failed = unit.state.action.clone().unwrap().failed.unwrap_or_default();
        assert!(failed.contains("is missing"), "{action}: {failed}");
    }
}

#[test]
fn hash_id_databases_and_migrate_service_conf_run_landscapes_programs() {
    let (mut unit, _) = deployed_leader();
    for program in ["hash-id-databases-ignore-maintenance", "migrate-service-conf"] {
        unit.install_landscape_program(program);
    }
    let run = unit.action("hash-id-databases");
    let program = unit.path("/opt/canonical/landscape/hash-id-databases-ignore-maintenance");
    assert!(run.ran(&format!("sudo -u landscape {}", program.display())), "{:?}", run.command_lines());
    assert_eq!(unit.state.action.clone().unwrap().failed, None);
    let run = unit.action("migrate-service-conf");
    assert!(run.commands.iter().any(|c| c.program == "migrate-service-conf"), "{:?}", run.command_lines());
    assert_eq!(unit.state.action.clone().unwrap().failed, None);
}
