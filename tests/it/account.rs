//! What the leader sets up once or rarely: the license, the first account and
//! autoregistration, the SMTP relay and the deployment mode.

use std::os::unix::fs::MetadataExt;

use serde_json::json;

use crate::harness::{AMQP_PASSWORD, DB_PASSWORD, Unit, ready_leader};
use crate::scenario::service_conf;

const ADMIN_PASSWORD: &str = "Adm1n-pa55word-7e2";
const REGISTRATION_KEY: &str = "reg-key-51c0";

fn set_admin(unit: &mut Unit) {
    unit.set_config("admin_email", json!("admin@example.com"));
    unit.set_config("admin_name", json!("Ada Admin"));
    unit.set_config("admin_password", json!(ADMIN_PASSWORD));
    unit.set_config("registration_key", json!(REGISTRATION_KEY));
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
        "get-service-conf",
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

/// The 26.04 charm retries the first account while PostgreSQL refuses the
/// unit (`no pg_hba.conf entry`: the database charm opens pg_hba.conf after
/// it publishes the credentials): the hook fails, so Juju retries it soon
/// (Juju drops a failed hook's data, so the retry redoes the restart too).
#[test]
fn first_account_is_retried_by_a_failed_hook_while_postgresql_refuses_the_unit() {
    let mut unit = ready_leader(0);
    unit.install_landscape_program("bootstrap-account");
    set_admin(&mut unit);
    let program = "bootstrap-account";
    unit.fail_command(
        program,
        1,
        "psycopg2.OperationalError: FATAL:  no pg_hba.conf entry for host \"10.1.77.18\", user \"landscape\"",
    );
    unit.set_config("worker_counts", json!(3));
    let run = unit.hook("config-changed");
    assert_ne!(run.code, 0, "the hook fails so that Juju retries it");
    assert!(run.stderr.contains("does not accept this unit yet"), "{}", run.stderr);
    assert!(!run.stderr.contains(ADMIN_PASSWORD));
    unit.state.command_behaviours.clear();
    let retry = unit.hook("config-changed");
    assert_eq!(retry.code, 0, "{}", retry.stderr);
    assert!(retry.command_lines().iter().any(|l| l.starts_with(program)), "the account is bootstrapped");
    assert_eq!(unit.status(), ("active".into(), "Unit is ready".into()));
}
