//! The deployment-mode drop-ins Landscape 26.04 needs: its unit files
//! hardcode standalone.

use std::os::unix::fs::MetadataExt;

use serde_json::json;

use crate::harness::{Unit, ready_leader};

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

pub fn dropin(unit: &Unit, service: &str) -> Option<String> {
    unit.read(&format!("/etc/systemd/system/{service}.service.d/deployment-mode.conf"))
}

pub fn daemon_reloads(run: &crate::harness::RunResult) -> usize {
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
