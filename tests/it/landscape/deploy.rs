//! A whole deployment in Juju's hook order: the leader and a follower, relations in every order, installing,
//! leadership moving, stopping.

use serde_json::json;

use crate::harness::{AMQP_PASSWORD, DB_PASSWORD, DB_RELATION, INBOUND_AMQP_RELATION, OUTBOUND_AMQP_RELATION};
use crate::scenario::*;

#[test]
fn leader_full_deployment_ends_ready_with_the_expected_files_and_commands() {
    let (unit, runs) = deployed_leader();
    assert_eq!(status(&unit), (READY.0.into(), READY.1.into()));

    // Install: needrestart checked, PPA added, Landscape and hashids installed and held.
    let install = runs[0].command_lines();
    for expected in [
        "dpkg-query -W -f=${Package} ${Status}\\n landscape-server haproxy landscape-ubuntu-installer-attach needrestart",
        "add-apt-repository -y ppa:landscape/self-hosted-beta",
        "apt-get update -q",
        "apt-get install -y -q landscape-server landscape-hashids",
        "apt-mark hold landscape-server landscape-hashids",
    ] {
        assert!(install.iter().any(|l| l == expected), "missing {expected:?} in {install:#?}");
    }
    let apt = runs[0].commands.iter().find(|c| c.line().starts_with("apt-get install")).unwrap();
    assert_eq!(apt.env.get("DEBIAN_FRONTEND").map(String::as_str), Some("noninteractive"));

    let conf = service_conf(&unit);
    let get = |s: &str, k: &str| conf.get(s, k).unwrap_or_else(|| panic!("[{s}] {k} missing"));
    for section in ["landscape", "api", "message-server", "pingserver"] {
        assert_eq!(get(section, "workers"), "2");
    }
    for section in ["global", "api", "package-upload"] {
        assert_eq!(get(section, "root-url"), "https://10.1.77.18/", "the leader's address when root_url is unset");
    }
    assert_eq!(get("global", "deployment-mode"), "standalone");
    assert_eq!(get("stores", "host"), "10.1.99.1:5432");
    assert_eq!(get("stores", "password"), DB_PASSWORD);
    assert_eq!(get("schema", "store_user"), "relation-20");
    assert_eq!(get("schema", "store_password"), DB_PASSWORD);
    assert_eq!(get("broker", "host"), "10.1.99.1");
    assert_eq!(get("broker", "password"), AMQP_PASSWORD);
    assert_eq!(get("package-search", "host"), "localhost");
    assert_eq!(get("landscape", "secret-token").len(), 172);
    assert_eq!(get("api", "cookie-encryption-key").len(), 44);

    let defaults = unit.read("/etc/default/landscape-server").unwrap();
    assert!(defaults.starts_with("DEPLOYED_FROM=\"charm\"\n"), "{defaults}");
    for line in [
        "RUN_ALL=\"no\"",
        "RUN_APPSERVER=\"2\"",
        "RUN_CRON=\"yes\"",
        "RUN_PACKAGESEARCH=\"yes\"",
        "RUN_PACKAGEUPLOADSERVER=\"yes\"",
    ] {
        assert!(defaults.lines().any(|l| l == line), "missing {line} in {defaults}");
    }

    // PostgreSQL 16: the charmed_dba owner role, then the charmed_dml grant.
    assert_eq!(count(&runs, "landscape-schema --bootstrap --db-owner-role charmed_dba"), 1);
    let grant = runs.iter().flat_map(|r| r.commands.iter()).find(|c| c.program == "psql").expect("a grant");
    assert!(grant.line().ends_with("-c GRANT charmed_dml TO landscape"), "{}", grant.line());
    assert_eq!(unit.peer_app_data()["schema-bootstrapped"], "relation-20@10.1.99.1:5432");
    // Services: started once, when everything was there; the leader runs the leader-only ones.
    assert_eq!(count(&runs, "lsctl restart"), 1);
    for service in ["landscape-package-search", "landscape-package-upload"] {
        assert_eq!(count(&runs, &format!("systemctl unmask {service}")), 1);
        assert_eq!(count(&runs, &format!("systemctl enable --now {service}")), 1);
    }
    // The request on each relation, in the interfaces' formats.
    let db_app = &unit.relation(DB_RELATION).local_app_data;
    assert_eq!(db_app["database"], "database");
    assert_eq!(db_app["extra-user-roles"], "SUPERUSER");
    let requested: Vec<String> = serde_json::from_str(&db_app["requested-secrets"]).unwrap();
    assert!(requested.contains(&"username".to_string()) && requested.contains(&"password".to_string()));
    for (id, vhost) in [(INBOUND_AMQP_RELATION, "landscape"), (OUTBOUND_AMQP_RELATION, "landscape-hostagent")] {
        let bag = &unit.relation(id).local_unit_data;
        assert_eq!((bag["username"].as_str(), bag["vhost"].as_str()), ("landscape", vhost));
    }
}

#[test]
fn an_idle_hook_after_deployment_restarts_nothing_and_rewrites_nothing() {
    let (mut unit, _) = deployed_leader();
    let before = unit.read("/etc/landscape/service.conf").unwrap();
    let run = unit.hook("update-status");
    assert!(is_ready(&unit));
    let lines = run.command_lines();
    assert!(
        !lines.iter().any(|l| l.starts_with("lsctl") || l.starts_with("landscape-schema") || l.starts_with("apt-get")),
        "{lines:?}"
    );
    assert_eq!(unit.read("/etc/landscape/service.conf").unwrap(), before);
    // A worker_counts change restarts once, and only once.
    unit.set_config("worker_counts", json!(3));
    let run = unit.hook("config-changed");
    assert_eq!(count(&[run], "lsctl restart"), 1);
    assert_eq!(service_conf(&unit).get("api", "workers").as_deref(), Some("3"));
    assert_eq!(count(&[unit.hook("config-changed")], "lsctl restart"), 0);
}

#[test]
fn non_leader_full_deployment_uses_the_leaders_secrets_and_address() {
    let unit = follower();
    assert!(is_ready(&unit), "{:?}", status(&unit));
    let conf = service_conf(&unit);
    assert_eq!(conf.get("package-search", "host").as_deref(), Some("10.1.77.18"));
    assert_eq!(conf.get("global", "root-url").as_deref(), Some("https://10.1.77.18/"));
    assert_eq!(conf.get("landscape", "secret-token").unwrap().len(), 172);
    let defaults = unit.read("/etc/default/landscape-server").unwrap();
    assert!(defaults.contains("RUN_PACKAGESEARCH=\"no\"") && defaults.contains("RUN_CRON=\"no\""), "{defaults}");
    assert!(unit.relation(DB_RELATION).local_app_data.is_empty(), "only the leader writes the request");
}

#[test]
fn non_leader_waits_for_the_leaders_schema_and_secrets() {
    let mut unit = new_unit(1, "10.1.77.229", false);
    unit.set_published_leader_ip("10.1.77.18");
    boot(&mut unit);
    for which in ALL_RELATIONS {
        relate(&mut unit, which);
    }
    assert_eq!(
        status(&unit),
        (
            "waiting".into(),
            "Waiting for replicas: the leader has not shared secret-token yet; database: the leader has not bootstrapped the schema yet".into()
        )
    );
    assert!(!unit.state.commands.iter().any(|c| c.line() == "lsctl restart"));
}

/// Every relation arrives first once and last once (the four rotations and
/// their reverses), and every order ends in the same configuration with one
/// restart, made only when the last relation arrived.
#[test]
fn relations_arriving_in_any_order_end_in_the_same_state_with_one_restart() {
    let mut reference = None;
    let mut orders = vec![];
    for start in 0..ALL_RELATIONS.len() {
        let rotation: Vec<&str> = ALL_RELATIONS.iter().cycle().skip(start).take(ALL_RELATIONS.len()).copied().collect();
        orders.push(rotation.iter().rev().copied().collect::<Vec<_>>());
        orders.push(rotation);
    }
    for order in orders {
        let mut unit = new_unit(0, "10.1.77.18", true);
        let mut runs = boot(&mut unit);
        for (i, which) in order.iter().enumerate() {
            runs.extend(relate(&mut unit, which));
            let expected_ready = i == order.len() - 1;
            assert_eq!(is_ready(&unit), expected_ready, "{order:?} after {which}: {:?}", status(&unit));
        }
        assert_eq!(count(&runs, "lsctl restart"), 1, "{order:?}");
        // Everything but the generated secrets is the same whatever the order.
        let mut conf = service_conf(&unit);
        conf.set("landscape", "secret-token", "x").unwrap();
        conf.set("api", "cookie-encryption-key", "x").unwrap();
        let seen = canonical(&conf);
        match &reference {
            None => reference = Some(seen),
            Some(r) => assert_eq!(&seen, r, "{order:?}"),
        }
    }
}

#[test]
fn leadership_moving_away_masks_the_leader_only_services_and_restarts() {
    let (mut unit, _) = deployed_leader();
    unit.state.leader = false;
    unit.set_published_leader_ip("10.1.77.229");
    unit.add_peer(1, "10.1.77.229");
    // The new leader follows itself: nobody else uses this unit's
    // leader-only services.
    unit.peer_relation()
        .remote_units
        .get_mut("landscape-server/1")
        .unwrap()
        .insert("follows".into(), "10.1.77.229".into());
    let run = unit.hook("leader-settings-changed");
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.ran("systemctl disable --now landscape-package-search")
            && run.ran("systemctl mask landscape-package-upload")
    );
    assert_eq!(service_conf(&unit).get("package-search", "host").as_deref(), Some("10.1.77.229"));
    assert!(unit.read("/etc/default/landscape-server").unwrap().contains("RUN_PACKAGESEARCH=\"no\""));
    // RUN_* and service.conf changed: the restart waits for the peer to
    // drain this unit, which the new leader still serves through.
    assert!(!run.ran("lsctl restart"), "restarted before the peer drained it");
    assert_eq!(unit.peer_relation().local_unit_data.get("drain").map(String::as_str), Some("restart"));
    unit.peer_relation()
        .remote_units
        .get_mut("landscape-server/1")
        .unwrap()
        .insert("drained".into(), "landscape-server/0".into());
    let run = unit.relation_changed("replicas", 0, Some("landscape-server/1"));
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.ran("lsctl restart"), "RUN_* changed");
    assert_eq!(unit.peer_relation().local_unit_data.get("drain"), None);
    assert!(!unit.state.unit_state.contains_key("restart-drain-started"));
}

#[test]
fn stop_stops_landscape_the_outbox_and_haproxy() {
    let (mut unit, _) = deployed_leader();
    let run = unit.hook("stop");
    assert_eq!(run.code, 0);
    assert_eq!(run.command_lines(), ["lsctl stop", "snap stop landscape-outbox", "systemctl disable --now haproxy"]);
}

#[test]
fn apt_failure_fails_the_hook_and_logs_the_apt_error() {
    let mut unit = new_unit(0, "10.1.77.18", true);
    unit.fail_command("apt-get install -y -q landscape-server", 100, "E: Unable to locate package landscape-server");
    let run = unit.hook("install");
    assert_ne!(run.code, 0);
    assert!(unit.log_text().contains("E: Unable to locate package landscape-server"), "{}", unit.log_text());
    // The next hook tries again.
    unit.state.command_behaviours.remove("apt-get install -y -q landscape-server");
    let run = unit.hook("install");
    assert_eq!(run.code, 0, "{}", run.stderr);
}

#[test]
fn install_honours_proxies_min_install_and_a_ppa_key() {
    let mut unit = new_unit(0, "10.1.77.18", true);
    unit.set_config("https_proxy", json!("http://squid.internal:3128"));
    unit.set_config("min_install", json!(true));
    let key = "-----BEGIN PGP PUBLIC KEY BLOCK-----\n\nmQINBF...\n-----END PGP PUBLIC KEY BLOCK-----";
    unit.set_config("landscape_ppa_key", json!(key));
    unit.mark_installed("needrestart");
    let run = unit.hook("install");
    assert_eq!(run.code, 0, "{}", run.stderr);
    let add = run.commands.iter().find(|c| c.program == "add-apt-repository").unwrap();
    assert_eq!(add.env.get("https_proxy").map(String::as_str), Some("http://squid.internal:3128"));
    assert!(run.ran("apt-get remove -y -q needrestart"), "{:?}", run.command_lines());
    assert!(run.ran("apt-get install -y -q --no-install-recommends landscape-server"), "{:?}", run.command_lines());
    assert!(run.ran("apt-mark hold landscape-server"));
    assert_eq!(unit.read("/etc/apt/trusted.gpg.d/landscape-charm-ppa.asc").unwrap(), format!("{key}\n"));
    // A new PPA later: added, the old one removed, nothing reinstalled.
    unit.mark_installed("landscape-server");
    unit.set_config("landscape_ppa", json!("ppa:landscape/latest-stable"));
    let run = unit.hook("config-changed");
    assert!(run.ran("add-apt-repository -y ppa:landscape/latest-stable"), "{:?}", run.command_lines());
    assert!(run.ran("add-apt-repository -y --remove ppa:landscape/self-hosted-beta"));
    assert!(!run.command_lines().iter().any(|l| l.starts_with("apt-get install")));
}

#[test]
fn installer_attach_package_follows_its_flag_and_a_failure_blocks_without_sticking() {
    let (mut unit, _) = deployed_leader();
    unit.set_config("enable_ubuntu_installer_attach", json!(true));
    unit.fail_command("apt-get install -y -q landscape-ubuntu-installer-attach", 100, "E: broken");
    unit.hook("config-changed");
    let (name, message) = status(&unit);
    assert_eq!(
        (name.as_str(), message.contains("cannot install landscape-ubuntu-installer-attach")),
        ("blocked", true),
        "{message}"
    );
    unit.state.command_behaviours.remove("apt-get install -y -q landscape-ubuntu-installer-attach");
    let run = unit.hook("update-status");
    assert!(run.ran("apt-get install -y -q landscape-ubuntu-installer-attach"));
    unit.mark_installed("landscape-ubuntu-installer-attach");
    unit.hook("update-status");
    assert!(is_ready(&unit), "{:?}", status(&unit));
    unit.set_config("enable_ubuntu_installer_attach", json!(false));
    let run = unit.hook("config-changed");
    assert!(run.ran("apt-get remove -y -q landscape-ubuntu-installer-attach"));
}
