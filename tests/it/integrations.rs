//! The rest of the Python charm's surface: license, first account and
//! autoregistration, SMTP, deployment mode, NRPE, cos-agent, the application
//! dashboard and per-service base ports.

use std::os::unix::fs::MetadataExt;

use landscape_server::ini::IniDocument;
use serde_json::{Value, json};

use crate::harness::{AMQP_PASSWORD, DB_PASSWORD, Dispatch, Unit, backend_servers, ready_leader};

const ADMIN_PASSWORD: &str = "Adm1n-pa55word-7e2";
const REGISTRATION_KEY: &str = "reg-key-51c0";

fn set_admin(unit: &mut Unit) {
    unit.set_config("admin_email", json!("admin@example.com"));
    unit.set_config("admin_name", json!("Ada Admin"));
    unit.set_config("admin_password", json!(ADMIN_PASSWORD));
    unit.set_config("registration_key", json!(REGISTRATION_KEY));
}

fn service_conf(unit: &Unit) -> IniDocument {
    IniDocument::parse(&unit.read("/etc/landscape/service.conf").unwrap()).unwrap()
}

#[test]
fn license_from_base64_is_written_for_landscape_and_restarts_once() {
    let mut unit = ready_leader(0);
    unit.set_config("license_file", json!("TElDRU5TRS1URVhU")); // "LICENSE-TEXT"
    let run = unit.hook("config-changed");
    assert_eq!(unit.read("/etc/landscape/license.txt").as_deref(), Some("LICENSE-TEXT"));
    let meta = std::fs::metadata(unit.path("/etc/landscape/license.txt")).unwrap();
    let landscape = landscape_server::fsutil::Owner::of_user("landscape").unwrap();
    assert_eq!((meta.mode() & 0o777, Some(meta.uid()), meta.gid()), (0o640, landscape.uid, 0));
    assert!(run.ran("lsctl restart"), "a new license needs a restart");
    assert!(!unit.hook("update-status").ran("lsctl restart"));
}

#[test]
fn license_from_a_url_is_fetched_and_an_unreachable_one_blocks_naming_it() {
    let mut unit = ready_leader(0);
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), "FROM-A-FILE-URL\n").unwrap();
    unit.set_config("license_file", json!(format!("file://{}", file.path().display())));
    unit.hook("config-changed");
    assert_eq!(unit.read("/etc/landscape/license.txt").as_deref(), Some("FROM-A-FILE-URL\n"));

    // Port 9 on loopback: connection refused, at once.
    unit.set_config("license_file", json!("http://127.0.0.1:9/license.txt"));
    let run = unit.hook("config-changed");
    assert_eq!(run.code, 0, "{}", run.stderr);
    let (status, message) = unit.status();
    assert_eq!(status, "blocked");
    assert!(message.starts_with("license_file: cannot fetch http://127.0.0.1:9/license.txt"), "{message}");
    assert_eq!(unit.read("/etc/landscape/license.txt").as_deref(), Some("FROM-A-FILE-URL\n"), "the old one stays");

    unit.set_config("license_file", json!("not base64 and not a URL!"));
    unit.hook("config-changed");
    assert!(
        unit.status().1.contains("license_file must be a file://, http:// or https:// URL, or the license in base64")
    );
}

#[test]
fn first_account_is_bootstrapped_once_on_the_leader_without_leaking_secrets() {
    let mut unit = ready_leader(0);
    unit.install_landscape_program("bootstrap-account");
    set_admin(&mut unit);
    unit.set_config("autoregistration", json!(true));
    let run = unit.hook("config-changed");
    assert_eq!(run.code, 0, "{}", run.stderr);
    let program = unit.path("/opt/canonical/landscape/bootstrap-account").display().to_string();
    let bootstrap = run.commands.iter().find(|c| c.program == "bootstrap-account").expect("bootstrap-account ran");
    assert_eq!(
        bootstrap.args,
        [
            "--admin_email",
            "admin@example.com",
            "--admin_name",
            "Ada Admin",
            "--admin_password",
            ADMIN_PASSWORD,
            "--root_url",
            "https://10.1.77.18/",
            "--registration_key",
            REGISTRATION_KEY
        ],
        "{program}"
    );
    assert_eq!(unit.peer_app_data()["account-bootstrapped"], "true");
    // Autoregistration through Landscape's Python, on Landscape's path.
    let python = run.commands.iter().find(|c| c.program == "python3").expect("autoregistration ran");
    assert_eq!(python.args.last().map(String::as_str), Some("on"));
    assert!(python.args[1].contains("auto_register_new_computers"));
    assert_eq!(unit.peer_app_data()["autoregistration"], "on");
    // Once only.
    let run = unit.hook("config-changed");
    assert!(!run.commands.iter().any(|c| c.program == "bootstrap-account" || c.program == "python3"));
    unit.set_config("autoregistration", json!(false));
    let run = unit.hook("config-changed");
    let python = run.commands.iter().find(|c| c.program == "python3").expect("turned off");
    assert_eq!(python.args.last().map(String::as_str), Some("off"));
    assert!(!unit.log_text().contains(ADMIN_PASSWORD) && !unit.log_text().contains(REGISTRATION_KEY));
}

#[test]
fn an_existing_account_counts_as_bootstrapped_and_a_failure_blocks_redacted() {
    let mut unit = ready_leader(0);
    unit.install_landscape_program("bootstrap-account");
    set_admin(&mut unit);
    // A failure whose output echoes the password: masked in status and log.
    unit.fail_command("bootstrap-account", 1, &format!("bad password {ADMIN_PASSWORD}"));
    let run = unit.hook("config-changed");
    assert_eq!(run.code, 0, "{}", run.stderr);
    let (status, message) = unit.status();
    assert_eq!(status, "blocked");
    assert!(message.starts_with("Failed to bootstrap the first account"), "{message}");
    for text in [&message, &unit.log_text(), &run.stderr] {
        assert!(!text.contains(ADMIN_PASSWORD) && !text.contains(REGISTRATION_KEY), "{text}");
    }
    assert!(unit.log_text().contains("<redacted>"));
    // Already there: done.
    unit.fail_command("bootstrap-account", 1, "DuplicateAccountError: standalone");
    unit.hook("config-changed");
    assert_eq!(unit.status().0, "active");
    assert_eq!(unit.peer_app_data()["account-bootstrapped"], "true");
}

#[test]
fn followers_never_bootstrap() {
    let mut unit = ready_leader(0);
    unit.install_landscape_program("bootstrap-account");
    set_admin(&mut unit);
    unit.state.leader = false;
    unit.set_published_leader_ip("10.1.77.229");
    let run = unit.hook("config-changed");
    assert!(!run.commands.iter().any(|c| c.program == "bootstrap-account"));
}

#[test]
fn smtp_relay_host_rewrites_postfix_and_reloads_only_on_change() {
    let mut unit = ready_leader(0);
    unit.set_config("smtp_relay_host", json!("[smtp.example.com]:587"));
    unit.hook("config-changed");
    assert_eq!(
        unit.status().1,
        "postfix configuration failed: /etc/postfix/main.cf does not exist: is postfix installed?"
            .replace("/etc", &unit.path("/etc").display().to_string())
    );
    let cf = unit.path("/etc/postfix/main.cf");
    std::fs::create_dir_all(cf.parent().unwrap()).unwrap();
    std::fs::write(&cf, "# postfix\nmyhostname = landscape\nrelayhost = \ninet_interfaces = all\n").unwrap();
    let run = unit.hook("config-changed");
    assert_eq!(
        unit.read("/etc/postfix/main.cf").unwrap(),
        "# postfix\nmyhostname = landscape\nrelayhost = [smtp.example.com]:587\ninet_interfaces = all\n"
    );
    assert!(run.ran("systemctl reload postfix"));
    assert_eq!(unit.status().0, "active");
    assert!(!unit.hook("config-changed").ran("systemctl reload postfix"));
    // A reload that fails blocks, and the next change tries again.
    unit.fail_command("systemctl reload postfix", 1, "Job failed");
    unit.set_config("smtp_relay_host", json!("relay.internal"));
    unit.hook("config-changed");
    assert!(unit.status().1.starts_with("postfix configuration failed"), "{:?}", unit.status());
}

#[test]
fn deployment_mode_links_its_configs_and_stops_package_upload() {
    let mut unit = ready_leader(0);
    unit.set_config("deployment_mode", json!("saas"));
    unit.hook("config-changed");
    let link = unit.path("/opt/canonical/landscape/configs/saas");
    assert_eq!(std::fs::read_link(link).unwrap(), std::path::Path::new("standalone"));
    assert_eq!(service_conf(&unit).get("global", "deployment-mode").as_deref(), Some("saas"));
    assert!(unit.read("/etc/default/landscape-server").unwrap().contains("RUN_PACKAGEUPLOADSERVER=\"no\""));
}

#[test]
fn nrpe_checks_follow_the_services_this_unit_runs() {
    let mut unit = ready_leader(0);
    unit.add_relation("nrpe-external-master", 40, "nrpe");
    let run = unit.relation_changed("nrpe-external-master", 40, Some("nrpe/0"));
    assert_eq!(run.code, 0, "{}", run.stderr);
    let check = unit
        .read("/etc/nagios/nrpe.d/check_landscape-package-search.cfg")
        .expect("leader checks its leader-only services");
    assert_eq!(
        check,
        "command[check_landscape-package-search]=/usr/local/lib/nagios/plugins/check_systemd.py landscape-package-search\n"
    );
    assert!(unit.read("/etc/nagios/nrpe.d/check_landscape-appserver.cfg").is_some());
    let monitors = unit.relation(40).local_unit_data["monitors"].clone();
    let parsed: serde_yaml_ng::Value = serde_yaml_ng::from_str(&monitors).unwrap();
    assert_eq!(parsed["monitors"]["remote"]["nrpe"]["landscape-api"]["command"], "check_landscape-api");
    assert_eq!(parsed["monitors"]["remote"]["nrpe"].as_mapping().unwrap().len(), 10);

    // Leadership moves away: the leader-only checks go.
    unit.state.leader = false;
    unit.set_published_leader_ip("10.1.77.229");
    unit.hook("leader-settings-changed");
    assert!(unit.read("/etc/nagios/nrpe.d/check_landscape-package-search.cfg").is_none());
    assert!(unit.read("/etc/nagios/nrpe.d/check_landscape-appserver.cfg").is_some());
    // Someone else's check is never touched; ours go with the relation.
    std::fs::write(unit.path("/etc/nagios/nrpe.d/check_disk.cfg"), "command[check_disk]=x\n").unwrap();
    unit.run(Dispatch::relation("nrpe-external-master", "broken", 40, None));
    let left: Vec<String> = std::fs::read_dir(unit.path("/etc/nagios/nrpe.d"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(left, ["check_disk.cfg"]);
}

fn cos_config(unit: &Unit, id: u32) -> Value {
    serde_json::from_str(&unit.relation(id).local_unit_data["config"]).unwrap()
}

fn scrape_targets(config: &Value, service: &str) -> Vec<String> {
    let job = config["metrics_scrape_jobs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|j| j["static_configs"][0]["labels"]["landscape_service"] == service)
        .unwrap_or_else(|| panic!("no {service} job"));
    job["static_configs"][0]["targets"].as_array().unwrap().iter().map(|t| t.as_str().unwrap().to_string()).collect()
}

#[test]
fn cos_agent_scrapes_every_worker_and_alerts_on_package_search() {
    let mut unit = ready_leader(0);
    unit.set_config("worker_counts", json!(3));
    unit.add_relation("cos-agent", 41, "grafana-agent");
    unit.relation_changed("cos-agent", 41, Some("grafana-agent/0"));
    let config = cos_config(&unit, 41);
    assert_eq!(scrape_targets(&config, "appserver"), ["localhost:8080", "localhost:8081", "localhost:8082"]);
    assert_eq!(scrape_targets(&config, "api"), ["localhost:9080", "localhost:9081", "localhost:9082"]);
    assert_eq!(scrape_targets(&config, "package-search"), ["localhost:9099"]);
    let job = &config["metrics_scrape_jobs"][0];
    assert_eq!((job["metrics_path"].as_str(), job["scrape_interval"].as_str()), (Some("/metrics"), Some("1m")));
    let rule = &config["metrics_alert_rules"]["groups"][0]["rules"][0];
    assert_eq!(rule["alert"], "PackageSearchDown");
    assert_eq!(rule["expr"], "absent(up{landscape_service=\"package-search\"}==1)");
    for key in ["log_alert_rules", "dashboards", "log_slots"] {
        assert!(config.get(key).is_some(), "the cos_agent model requires {key}");
    }
}

#[test]
fn application_dashboard_entry_comes_from_the_leader_only() {
    let mut unit = ready_leader(0);
    unit.set_config("site_name", json!("acme"));
    unit.add_relation("application-dashboard", 42, "homer");
    unit.relation_changed("application-dashboard", 42, Some("homer/0"));
    let app = unit.relation(42).local_app_data.clone();
    assert_eq!(app["name"], "Landscape");
    assert_eq!(app["url"], "https://10.1.77.18/");
    assert_eq!(app["group"], "acme");
    assert!(app["subtitle"].contains("acme") && app.contains_key("icon"));
    let mut follower = Unit::new(1, "10.1.77.229");
    follower.add_relation("application-dashboard", 42, "homer");
    let run = follower.relation_changed("application-dashboard", 42, Some("homer/0"));
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(follower.relation(42).local_app_data.is_empty());
}

/// One hook moves HAProxy's servers, Landscape's own ports and the scrape
/// targets together, and the real haproxy accepts the result.
#[test]
fn a_base_port_change_moves_haproxy_service_conf_and_scrape_jobs_in_one_hook() {
    let mut unit = ready_leader(0);
    unit.add_relation("cos-agent", 41, "grafana-agent");
    unit.hook("config-changed");
    unit.set_config("appserver_base_port", json!(18080));
    unit.set_config("api_base_port", json!(19080));
    let run = unit.hook("config-changed");
    assert_eq!(run.code, 0, "{}", run.stderr);
    let haproxy = unit.haproxy_config().unwrap();
    let servers: Vec<String> =
        backend_servers(&haproxy, "landscape-https-appserver").into_iter().map(|(_, a)| a).collect();
    assert_eq!(servers, ["10.1.77.18:18080", "10.1.77.18:18081"]);
    assert_eq!(service_conf(&unit).get("landscape", "base_port").as_deref(), Some("18080"));
    assert_eq!(service_conf(&unit).get("api", "base_port").as_deref(), Some("19080"));
    assert_eq!(scrape_targets(&cos_config(&unit, 41), "api"), ["localhost:19080", "localhost:19081"]);
    crate::fixtures::haproxy_check_strict(&haproxy).unwrap();
    assert!(run.ran("lsctl restart") && run.ran("systemctl reload haproxy"));
}

/// Every secret the charm handles, with every feature on and every action
/// run: none appears in a juju-log line, stderr or an action's output.
#[test]
fn secrets_never_reach_a_log_line_or_an_action_result() {
    let mut unit = ready_leader(0);
    unit.install_landscape_program("bootstrap-account");
    set_admin(&mut unit);
    for (k, v) in [
        ("oidc_issuer", "https://idp.example/"),
        ("oidc_client_id", "landscape"),
        ("oidc_client_secret", "oidc-s3cret-99"),
    ] {
        unit.set_config(k, json!(v));
    }
    unit.set_config("db_landscape_password", json!("db-override-pw-31"));
    unit.set_config("license_file", json!("TElDRU5TRS1URVhU"));
    let mut stderr = String::new();
    stderr.push_str(&unit.hook("config-changed").stderr);
    let mut outputs = String::new();
    for action in [
        "get-haproxy-config",
        "get-certificates",
        "get-ingress-urls",
        "pause",
        "resume",
        "hash-id-databases",
        "migrate-service-conf",
    ] {
        stderr.push_str(&unit.action(action).stderr);
        let state = unit.state.action.clone().unwrap();
        outputs.push_str(&format!("{:?} {:?} {:?}", state.results, state.failed, state.logs));
    }
    let token = service_conf(&unit).get("landscape", "secret-token").unwrap();
    let cookie = service_conf(&unit).get("api", "cookie-encryption-key").unwrap();
    let secrets = [
        ADMIN_PASSWORD,
        REGISTRATION_KEY,
        "oidc-s3cret-99",
        "db-override-pw-31",
        DB_PASSWORD,
        AMQP_PASSWORD,
        &token,
        &cookie,
    ];
    let log = unit.log_text();
    for secret in secrets {
        assert!(!log.contains(secret), "{secret} in the log:\n{log}");
        assert!(!stderr.contains(secret), "{secret} on stderr");
        assert!(!outputs.contains(secret), "{secret} in an action's output");
    }
    // The search can fail: the values are really there, in service.conf.
    let conf = unit.read("/etc/landscape/service.conf").unwrap();
    assert!(conf.contains("oidc-s3cret-99") && conf.contains("db-override-pw-31") && conf.contains(AMQP_PASSWORD));
}
