//! HAProxy through whole hooks: scaling, leadership, config changes, bad
//! input, a rejected config, and not reloading for nothing.

use serde_json::json;

use crate::harness::{Dispatch, Unit, backend_servers};

fn addresses(config: &str, backend: &str) -> Vec<String> {
    backend_servers(config, backend).into_iter().map(|(_, a)| a).collect()
}

/// A leader at .18 with its certificate, after one config-changed.
fn leader_unit() -> Unit {
    let mut unit = Unit::new(0, "10.1.77.18");
    unit.state.leader = true;
    unit.peer_relation();
    unit.install_test_certificate();
    assert_eq!(unit.hook("config-changed").code, 0);
    unit
}

#[test]
fn scale_from_one_to_three_to_two_units() {
    let mut unit = leader_unit();
    assert_eq!(
        addresses(&unit.haproxy_config().unwrap(), "landscape-https-ping"),
        ["10.1.77.18:8070", "10.1.77.18:8071"]
    );

    unit.add_peer(1, "10.1.77.229");
    unit.relation_changed("replicas", 0, Some("landscape-server/1"));
    unit.add_peer(2, "10.1.77.42");
    let run = unit.relation_changed("replicas", 0, Some("landscape-server/2"));
    assert_eq!(run.code, 0, "{}", run.stderr);
    let config = unit.haproxy_config().unwrap();
    assert_eq!(
        addresses(&config, "landscape-https-ping"),
        [
            "10.1.77.18:8070",
            "10.1.77.18:8071",
            "10.1.77.42:8070",
            "10.1.77.42:8071",
            "10.1.77.229:8070",
            "10.1.77.229:8071"
        ]
    );

    // The departing unit leaves the backends in the departed hook itself.
    let run = unit.run(Dispatch::departed("replicas", 0, "landscape-server/2", "landscape-server/2"));
    assert_eq!(run.code, 0, "{}", run.stderr);
    let config = unit.haproxy_config().unwrap();
    assert!(!config.contains("10.1.77.42"), "departed unit still routed:\n{config}");
    assert_eq!(addresses(&config, "landscape-http-appserver").len(), 4);
    assert!(run.ran("systemctl reload haproxy"));
}

#[test]
fn leader_change_moves_leader_only_backends_in_the_same_hook() {
    // Unit 1 follows the leader at .18.
    let mut unit = Unit::new(1, "10.1.77.229");
    unit.add_peer(0, "10.1.77.18");
    unit.set_published_leader_ip("10.1.77.18");
    unit.hook("config-changed");
    let config = unit.haproxy_config().unwrap();
    assert_eq!(addresses(&config, "landscape-http-package-upload"), ["10.1.77.18:9100"]);
    assert_eq!(addresses(&config, "landscape-http-hashid-databases"), ["10.1.77.18:8080", "10.1.77.18:8081"]);

    // Unit 1 becomes the leader: its own HAProxy follows in leader-elected.
    unit.state.leader = true;
    let run = unit.hook("leader-elected");
    assert_eq!(run.code, 0, "{}", run.stderr);
    let config = unit.haproxy_config().unwrap();
    assert_eq!(addresses(&config, "landscape-http-package-upload"), ["10.1.77.229:9100"]);
    assert_eq!(addresses(&config, "landscape-http-hashid-databases"), ["10.1.77.229:8080", "10.1.77.229:8081"]);
    assert_eq!(unit.peer_app_data().get("leader-ip").map(String::as_str), Some("10.1.77.229"));

    // A follower learns of the new leader from the app databag change.
    let mut follower = Unit::new(2, "10.1.77.42");
    follower.add_peer(1, "10.1.77.229");
    follower.set_published_leader_ip("10.1.77.18");
    follower.hook("config-changed");
    follower.set_published_leader_ip("10.1.77.229");
    let run = follower.relation_changed("replicas", 0, None);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(addresses(&follower.haproxy_config().unwrap(), "landscape-http-package-upload"), ["10.1.77.229:9100"]);
}

#[test]
fn worker_counts_change_adds_and_removes_servers() {
    let mut unit = leader_unit();
    unit.set_config("worker_counts", json!(4));
    let run = unit.hook("config-changed");
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(
        addresses(&unit.haproxy_config().unwrap(), "landscape-https-api"),
        ["10.1.77.18:9080", "10.1.77.18:9081", "10.1.77.18:9082", "10.1.77.18:9083"]
    );
    assert!(run.ran("systemctl reload haproxy"));
    unit.set_config("worker_counts", json!(1));
    unit.hook("config-changed");
    assert_eq!(addresses(&unit.haproxy_config().unwrap(), "landscape-https-api"), ["10.1.77.18:9080"]);
}

#[test]
fn invalid_config_blocks_and_leaves_haproxy_alone() {
    for (option, value, message) in [
        ("worker_counts", json!(0), "Invalid config: worker_counts must be between 1 and 64 (got 0)"),
        ("worker_counts", json!(65), "Invalid config: worker_counts must be between 1 and 64 (got 65)"),
        (
            "redirect_https",
            json!("sometimes"),
            "Invalid config: redirect_https must be all, default or none (got \"sometimes\")",
        ),
        (
            "max_global_haproxy_connections",
            json!(0),
            "Invalid config: max_global_haproxy_connections must be between 1 and 2147483647 (got 0)",
        ),
        ("root_url", json!("landscape.example.com"), "Invalid config: root_url must start with https:// or http://"),
    ] {
        let mut unit = leader_unit();
        let before = unit.haproxy_config().unwrap();
        unit.set_config(option, value);
        let run = unit.hook("config-changed");
        assert_eq!(run.code, 0, "{option}: {}", run.stderr);
        assert_eq!(unit.status(), ("blocked".into(), message.into()), "{option}");
        assert_eq!(unit.haproxy_config().unwrap(), before, "{option}: live config changed");
        assert!(run.commands.is_empty(), "{option}: ran {:?}", run.command_lines());
        assert!(unit.log_text().contains(option), "{option}: the log does not name it");
    }
}

/// A leader with its backends and a TLS relation whose provider has not
/// answered yet, after config-changed.
fn leader_awaiting_a_certificate() -> Unit {
    let mut unit = Unit::new(0, "10.1.77.18");
    unit.state.leader = true;
    unit.relate_landscape_backends();
    unit.add_relation("load-balancer-certificates", crate::harness::TLS_RELATION, "self-signed-certificates");
    unit.hook("config-changed");
    unit
}

#[test]
fn rejected_config_keeps_the_live_one_and_explains_why() {
    let mut unit = leader_awaiting_a_certificate();
    let before = unit.haproxy_config().unwrap();
    // A certificate bundle HAProxy cannot load: the TLS frontends appear, and
    // the real haproxy -c refuses them.
    std::fs::write(
        unit.path("/etc/haproxy/haproxy.pem"),
        "-----BEGIN CERTIFICATE-----\ngarbage\n-----END CERTIFICATE-----\n",
    )
    .unwrap();
    let run = unit.hook("config-changed");
    assert_eq!(run.code, 0, "{}", run.stderr);
    let (status, message) = unit.status();
    assert_eq!(status, "blocked");
    assert!(message.starts_with("HAProxy rejected the new config: "), "{message}");
    assert!(message.contains("haproxy.pem"), "the first error names the file: {message}");
    assert_eq!(unit.haproxy_config().unwrap(), before, "live config touched");
    let rejected = unit.read("/etc/haproxy/haproxy.cfg.rejected").expect("the rejected candidate is kept");
    assert!(rejected.contains("frontend landscape-https"));
    assert!(!run.ran("systemctl reload haproxy"), "{:?}", run.command_lines());
    assert!(unit.read("/etc/haproxy/haproxy.cfg.candidate").is_none());

    // The action shows it without SSH.
    unit.action("get-haproxy-config");
    let results = unit.state.action.clone().unwrap().results;
    assert_eq!(results["rejected"], "true");
    assert!(results["rejected-error"].contains("haproxy.pem"), "{results:?}");
    assert_eq!(results["config"], before);

    // Fixing the cause clears the rejection and the status.
    unit.install_test_certificate();
    unit.hook("update-status");
    assert_eq!(unit.status().0, "active");
    assert!(unit.read("/etc/haproxy/haproxy.cfg.rejected").is_none());
}

#[test]
fn nothing_changed_means_no_reload_and_no_rewrite() {
    let mut unit = leader_unit();
    let path = unit.path("/etc/haproxy/haproxy.cfg");
    let modified = std::fs::metadata(&path).unwrap().modified().unwrap();
    for hook in ["config-changed", "update-status", "start"] {
        let run = unit.hook(hook);
        assert_eq!(run.code, 0, "{hook}: {}", run.stderr);
        let lines = run.command_lines();
        assert!(
            !lines.iter().any(|l| l.starts_with("systemctl reload") || l.starts_with("apt-get")),
            "{hook}: {lines:?}"
        );
        assert!(!lines.iter().any(|l| l.starts_with("runuser")), "{hook}: validated an unchanged config");
    }
    assert_eq!(std::fs::metadata(&path).unwrap().modified().unwrap(), modified);
}

#[test]
fn live_config_mode_and_owner() {
    use std::os::unix::fs::MetadataExt;
    let unit = leader_unit();
    let meta = std::fs::metadata(unit.path("/etc/haproxy/haproxy.cfg")).unwrap();
    let haproxy = landscape_server::fsutil::Owner::of_user("haproxy").unwrap();
    assert_eq!(meta.mode() & 0o777, 0o644);
    assert_eq!(Some(meta.uid()), haproxy.uid);
}

#[test]
fn hostile_peer_data_never_reaches_the_config() {
    let hostile = [
        "10.0.0.5\n    server evil 192.0.2.66:80",
        "10.0.0.6 check",
        "10.0.0.7#",
        "bind :9999",
        "landscape-server-3.lxd",
        &"9".repeat(10_000),
        "fe80::1%eth0",
    ];
    let mut unit = leader_unit();
    for (i, value) in hostile.iter().enumerate() {
        let mut bag = crate::harness::default_unit_bag("10.9.9.9");
        bag.insert("address".into(), value.to_string());
        unit.peer_relation().remote_units.insert(format!("landscape-server/{}", i + 1), bag);
    }
    unit.add_peer(20, "10.1.77.42");
    let run = unit.relation_changed("replicas", 0, Some("landscape-server/20"));
    assert_eq!(run.code, 0, "{}", run.stderr);
    let config = unit.haproxy_config().unwrap();
    for needle in
        ["evil", "192.0.2.66", "10.0.0.5", "10.0.0.6", "10.0.0.7", "9999", "lxd", "999999999", "fe80", "10.9.9.9"]
    {
        assert!(!config.contains(needle), "{needle:?} reached the config");
    }
    assert!(config.contains("10.1.77.42:8080"), "the good peer is routed");
    let log = unit.log_text();
    assert!(
        log.contains("ignoring address of landscape-server/1: not a routable IP address: \"10.0.0.5\\n    server evil"),
        "{log}"
    );
    assert!(log.contains("landscape-server/5"), "the log names each unit");
    assert!(log.lines().all(|l| l.len() < 400), "a 10 kB value was logged whole");
    // The unit's config points at the unit's own files, so HAProxy can check it as is.
    crate::fixtures::haproxy_check_strict(&config).unwrap_or_else(|e| panic!("{e}"));
}

#[test]
fn hostile_leader_ip_is_refused() {
    let mut unit = Unit::new(1, "10.1.77.229");
    unit.relate_workload();
    unit.add_peer(0, "10.1.77.18");
    unit.set_published_leader_ip("10.1.77.18 backup\n");
    let run = unit.hook("config-changed");
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(addresses(&unit.haproxy_config().unwrap(), "landscape-http-package-upload").is_empty());
    assert_eq!(unit.status(), ("waiting".into(), "Waiting for the leader's address on the replicas relation".into()));
    assert!(unit.log_text().contains("ignoring leader-ip of the landscape-server application"));
}

#[test]
fn error_pages_come_from_landscape_or_a_builtin_with_a_status_line() {
    let mut unit = Unit::new(0, "10.1.77.18");
    let offline = unit.path("/opt/canonical/landscape/canonical/landscape/offline");
    std::fs::create_dir_all(&offline).unwrap();
    let landscape_page =
        "HTTP/1.0 503 Service Unavailable\r\nContent-Type: text/html\r\n\r\n<html>Landscape is down</html>";
    std::fs::write(offline.join("unplanned-offline-haproxy.html"), landscape_page).unwrap();
    std::fs::write(offline.join("timeout-haproxy.html"), "<html>no status line</html>").unwrap();
    let run = unit.hook("install");
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(unit.read("/etc/haproxy/errors/unplanned-offline-haproxy.html").unwrap(), landscape_page);
    for (file, status) in
        [("timeout-haproxy.html", "504"), ("unauthorized-haproxy.html", "403"), ("exception-haproxy.html", "500")]
    {
        let page = unit.read(&format!("/etc/haproxy/errors/{file}")).unwrap();
        assert!(page.starts_with(&format!("HTTP/1.0 {status} ")), "{file}: {page}");
    }
    assert!(
        unit.log_text().contains("timeout-haproxy.html is not usable (it does not start with an HTTP status line)")
    );
}

#[test]
fn redirect_https_values_reach_the_http_frontend() {
    let spared = "trusted_proxy forwarded_https";
    for (value, trusted, expected) in [
        ("all", "", Some("redirect scheme https".to_string())),
        ("default", "", Some("redirect scheme https unless ping OR repository".to_string())),
        ("none", "", None),
        ("all", "10.1.80.0/24", Some(format!("redirect scheme https unless {spared}"))),
        ("default", "10.1.80.0/24", Some(format!("redirect scheme https unless ping OR repository OR {spared}"))),
        ("none", "10.1.80.0/24", None),
    ] {
        let mut unit = leader_unit();
        unit.set_config("redirect_https", json!(value));
        unit.set_config("haproxy_trusted_proxies", json!(trusted));
        unit.hook("config-changed");
        let config = unit.haproxy_config().unwrap();
        let http = crate::fixtures::parse_sections(&config).into_iter().find(|s| s.name == "landscape-http").unwrap();
        let redirect = http.lines.iter().find(|l| l.starts_with("redirect "));
        assert_eq!(redirect, expected.as_ref(), "{value} {trusted}");
    }
}

#[test]
fn stop_takes_haproxy_down() {
    let mut unit = leader_unit();
    let run = unit.hook("stop");
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.ran("systemctl disable --now haproxy"));
}

/// The render is skipped when the inputs are those of the live config; a
/// rejection left by a candidate in between must still be forgotten then,
/// or get-haproxy-config keeps reporting it.
#[test]
fn going_back_to_the_live_config_forgets_the_rejected_candidate() {
    let mut unit = leader_awaiting_a_certificate();
    let pem = unit.path("/etc/haproxy/haproxy.pem");
    std::fs::write(&pem, "-----BEGIN CERTIFICATE-----\ngarbage\n-----END CERTIFICATE-----\n").unwrap();
    unit.hook("config-changed");
    assert!(unit.read("/etc/haproxy/haproxy.cfg.rejected").is_some());
    // The bad bundle goes: the inputs are again those of the live config.
    std::fs::remove_file(&pem).unwrap();
    let run = unit.hook("config-changed");
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(unit.read("/etc/haproxy/haproxy.cfg.rejected").is_none());
    assert!(unit.read("/etc/haproxy/haproxy.cfg.rejected.reason").is_none());
    unit.action("get-haproxy-config");
    assert_eq!(unit.state.action.clone().unwrap().results["rejected"], "false");
}
