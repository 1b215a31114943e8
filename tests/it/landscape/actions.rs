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

fn action_with(unit: &mut crate::harness::Unit, name: &str, params: serde_json::Value) -> crate::harness::RunResult {
    let params = params.as_object().cloned().unwrap_or_default();
    unit.run(crate::harness::Dispatch::Action { name: name.into(), params })
}

/// The 26.04 charm's `allow-connections`: a migration while Landscape runs,
/// with `--allow-connections` only for a landscape-schema that knows it.
#[test]
fn migrate_schema_while_running_needs_allow_connections_which_is_passed_when_supported() {
    let (mut unit, _) = deployed_leader();
    let help = |text: &str| crate::harness::Behaviour { code: 0, stdout: text.into(), stderr: String::new() };
    unit.state
        .command_behaviours
        .insert("landscape-schema --help".into(), help("usage: landscape-schema [--allow-connections] ..."));
    let run = action_with(&mut unit, "migrate-schema", json!({"allow-connections": true}));
    assert!(run.ran("landscape-schema --allow-connections"), "{:?}", run.command_lines());
    assert_eq!(unit.state.action.clone().unwrap().failed, None);
    // An older landscape-schema: migrated without the flag, and said so.
    unit.state.command_behaviours.insert("landscape-schema --help".into(), help("usage: landscape-schema [-h]"));
    let run = action_with(&mut unit, "migrate-schema", json!({"allow-connections": true}));
    assert!(run.ran("landscape-schema") && !run.ran("landscape-schema --allow-connections"));
    // Without it, a running unit is refused, saying both ways out.
    let run = action_with(&mut unit, "migrate-schema", json!({"allow-connections": false}));
    assert!(!run.command_lines().iter().any(|l| l.starts_with("landscape-schema")));
    let failed = unit.state.action.clone().unwrap().failed.unwrap_or_default();
    assert!(failed.contains("pause") && failed.contains("allow-connections"), "{failed}");
}

#[test]
fn get_service_conf_returns_every_section_with_the_secrets_redacted() {
    let (mut unit, _) = deployed_leader();
    unit.set_config("oidc_issuer", json!("https://idp.example/"));
    unit.set_config("oidc_client_id", json!("landscape"));
    unit.set_config("oidc_client_secret", json!("oidc-s3cret-77"));
    unit.hook("config-changed");
    let conf = std::fs::read_to_string(unit.path("/etc/landscape/service.conf")).unwrap();
    let run = unit.action("get-service-conf");
    assert_eq!(run.code, 0, "{}", run.stderr);
    let results = unit.state.action.clone().unwrap().results;
    let config: serde_json::Value = serde_json::from_str(&results["config"]).unwrap();
    assert_eq!(config["stores"]["password"], "(redacted)");
    assert_eq!(config["landscape"]["oidc-client-secret"], "(redacted)");
    assert_eq!(config["landscape"]["oidc-client-id"], "landscape");
    assert!(config["stores"]["host"].as_str().unwrap().contains(':'), "{config}");
    // Every secret of the file is absent from the result.
    let doc = landscape_server::ini::IniDocument::parse(&conf).unwrap();
    for section in doc.sections() {
        for (key, value) in doc.entries(section) {
            let secret = ["password", "secret", "token", "key"].iter().any(|p| key.contains(p));
            if secret && value.len() > 3 {
                assert!(!results["config"].contains(&value), "[{section}] {key} leaked");
            }
        }
    }
}

/// On a unit that never started Landscape, `upgrade` and `migrate-schema`
/// were refused "while Landscape is running", which it was not. The
/// refusal says what is true: they wait for the pause action.
#[test]
fn the_refusal_claimed_landscape_was_running_on_a_unit_that_never_started_it() {
    let mut unit = crate::harness::Unit::new(0, "10.1.77.18");
    unit.state.leader = true;
    assert_eq!(unit.hook("install").code, 0);
    for action in ["upgrade", "migrate-schema"] {
        unit.action(action);
        let failed = unit.state.action.clone().unwrap().failed.unwrap_or_default();
        assert!(failed.starts_with(&format!("{action} is refused until the unit is paused")), "{failed}");
        assert!(!failed.contains("running"), "{failed}");
    }
}
