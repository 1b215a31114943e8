//! service.conf as the config makes it: edits that keep the operator's lines, additional config, identity
//! providers, invalid combinations.

use serde_json::json;

use crate::scenario::*;

#[test]
fn service_conf_edits_keep_comments_and_unknown_keys() {
    let mut unit = new_unit(0, "10.1.77.18", true);
    let path = unit.path("/etc/landscape/service.conf");
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let packaged = "# Shipped by landscape-server; the operator added a note below.\n\
                    [stores]\n\
                    # keep: our DBA asked for this\n\
                    user = landscape\n\
                    Unknown_Key = Kept As Is\n\
                    \n\
                    [maintenance]\n\
                    threshold = 7\n";
    std::fs::write(&path, packaged).unwrap();
    boot(&mut unit);
    for which in ALL_RELATIONS {
        relate(&mut unit, which);
    }
    let text = unit.read("/etc/landscape/service.conf").unwrap();
    assert!(text.starts_with("# Shipped by landscape-server; the operator added a note below.\n[stores]\n# keep: our DBA asked for this\nuser = landscape\nUnknown_Key = Kept As Is\n"), "{text}");
    assert!(text.contains("[maintenance]\nthreshold = 7\n"), "{text}");
    assert!(text.contains("host = 10.1.99.1:5432"), "{text}");
}

#[test]
fn additional_service_config_is_merged_last() {
    let (mut unit, _) = deployed_leader();
    unit.set_config(
        "additional_service_config",
        json!("[ubuntu_installer_attach]\nbase_port = 53354\n[api]\nworkers = 5\n"),
    );
    unit.hook("config-changed");
    let conf = service_conf(&unit);
    assert_eq!(conf.get("ubuntu_installer_attach", "base_port").as_deref(), Some("53354"));
    assert_eq!(conf.get("api", "workers").as_deref(), Some("5"));
    assert_eq!(conf.get("landscape", "workers").as_deref(), Some("2"));
}

#[test]
fn every_invalid_config_combination_blocks_and_names_its_option() {
    let cases: Vec<(Vec<(&str, serde_json::Value)>, &str)> = vec![
        (vec![("openid_provider_url", json!("https://idp/"))], "openid_logout_url is required"),
        (vec![("openid_logout_url", json!("https://idp/logout"))], "openid_provider_url is required"),
        (
            vec![("oidc_issuer", json!("https://idp/")), ("oidc_client_id", json!("landscape"))],
            "oidc_client_secret is required for OIDC",
        ),
        (
            vec![
                ("openid_provider_url", json!("https://idp/")),
                ("openid_logout_url", json!("https://idp/l")),
                ("oidc_issuer", json!("https://o/")),
            ],
            "openid_provider_url and the oidc_* options cannot both be set",
        ),
        (
            vec![("openid_provider_url", json!("idp.example")), ("openid_logout_url", json!("https://idp/l"))],
            "openid_provider_url must be an http:// or https:// URL",
        ),
        (vec![("db_port", json!("fifty"))], "db_port must be a port number"),
        (vec![("db_host", json!("db.example"))], "db_host is set without a database relation"),
        (vec![("deployment_mode", json!("../../etc"))], "deployment_mode must be a word"),
        (
            vec![("additional_service_config", json!("workers = 3"))],
            "additional_service_config is not valid INI: line 1",
        ),
        (
            vec![("landscape_ppa_key", json!("not a key"))],
            "landscape_ppa_key must be an ASCII-armoured PGP public key block",
        ),
        (vec![("secret_token", json!("two words"))], "secret_token must be a single word"),
        (vec![("landscape_ppa", json!(""))], "landscape_ppa must name a PPA"),
    ];
    for (settings, expected) in cases {
        let mut unit = new_unit(0, "10.1.77.18", true);
        unit.relate_workload();
        unit.mark_installed("landscape-server");
        unit.hook("config-changed");
        assert!(is_ready(&unit), "{:?}", status(&unit));
        let before = unit.read("/etc/landscape/service.conf").unwrap();
        for (option, value) in &settings {
            unit.set_config(option, value.clone());
        }
        // db_host alone only fails without a database relation.
        if settings.iter().any(|(o, _)| *o == "db_host") {
            unit.state.relations.retain(|r| r.endpoint != "database");
        }
        let run = unit.hook("config-changed");
        assert_eq!(run.code, 0, "{settings:?}: {}", run.stderr);
        let (name, message) = status(&unit);
        assert_eq!(name, "blocked", "{settings:?}: {message}");
        assert!(message.contains(expected), "{settings:?}: {message}");
        if !settings.iter().any(|(o, _)| *o == "db_host") {
            assert_eq!(unit.read("/etc/landscape/service.conf").unwrap(), before, "{settings:?} touched service.conf");
        }
        assert!(!run.ran("lsctl restart"), "{settings:?}");
    }
}

#[test]
fn oidc_keys_are_written_and_removed_when_switched_off() {
    let (mut unit, _) = deployed_leader();
    for (k, v) in [
        ("oidc_issuer", "https://idp.example/"),
        ("oidc_client_id", "landscape"),
        ("oidc_client_secret", "oidc-s3cret"),
    ] {
        unit.set_config(k, json!(v));
    }
    unit.hook("config-changed");
    assert_eq!(service_conf(&unit).get("landscape", "oidc-client-secret").as_deref(), Some("oidc-s3cret"));
    assert!(!unit.log_text().contains("oidc-s3cret"), "secrets stay out of the log");
    for k in ["oidc_issuer", "oidc_client_id", "oidc_client_secret"] {
        unit.set_config(k, serde_json::Value::Null);
    }
    unit.hook("config-changed");
    assert_eq!(service_conf(&unit).get("landscape", "oidc-issuer"), None);
}
