//! One test per defect of the seed design or the Python charm that this
//! charm fixes, named after it (ripgrep's `regression.rs` style).

use std::process::Command;

use landscape_server::config::{RedirectHttps, ServicePorts};
use landscape_server::haproxy::model::{Settings, Topology, build};
use landscape_server::haproxy::render;
use landscape_server::paths::Paths;
use serde_json::json;

use crate::fixtures::shared_inputs;
use crate::harness::Unit;

/// Seed: `http-request replace-path ^([^\ ]*)\ /upload/(.*) /\1` only matches a
/// path with a literal space, which HAProxy rejects before any rule runs. We
/// dropped it; this proves that what users see is unchanged: `/upload/...`
/// reaches the package-upload server with its path intact, over HTTP and
/// HTTPS, through the real HAProxy, in a private network namespace.
#[test]
fn seed_dead_upload_rewrite_dropped_and_uploads_still_reach_package_upload_unchanged() {
    let paths = Paths::under(shared_inputs());
    let settings = Settings {
        worker_counts: 1,
        redirect_https: RedirectHttps::None,
        enable_hostagent_messenger: false,
        enable_ubuntu_installer_attach: false,
        global_maxconn: 256,
        ports: ServicePorts::default(),
        tls_pem: Some(paths.haproxy_pem()),
        errors_dir: paths.haproxy_errors_dir(),
    };
    let loopback = "127.0.0.1".parse().unwrap();
    let config = render(&build(&Topology::new(vec![loopback], Some(loopback)), &settings)).unwrap();
    assert!(!config.contains("replace-path"));
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("haproxy.cfg");
    std::fs::write(&cfg, &config).unwrap();
    let echo = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/echo_server.py");
    // Everything runs inside `unshare -n`: a new network namespace with only
    // loopback, gone when the shell exits; nothing is reachable from outside.
    let script = format!(
        r#"set -e
ip link set lo up
# Background processes must not hold our stdout open, and must die with us.
python3 {echo} package-upload 127.0.0.1 9100 >/dev/null 2>&1 & pids="$!"
python3 {echo} appserver 127.0.0.1 8080 >/dev/null 2>&1 & pids="$pids $!"
trap 'kill $pids 2>/dev/null || true' EXIT
wait_for() {{ for i in $(seq 100); do curl -sf -o /dev/null "$1" && return 0; sleep 0.05; done; return 1; }}
# Backends first: a server whose first health check fails stays down for
# rise x inter (10 s).
wait_for http://127.0.0.1:9100/ && wait_for http://127.0.0.1:8080/
haproxy -f {cfg} -db >/dev/null 2>&1 & pids="$pids $!"
wait_for http://127.0.0.1/
curl -s http://127.0.0.1/upload/acct/foo_1.0_all.deb
curl -sk https://127.0.0.1/upload/acct/foo_1.0_all.deb
curl -s http://127.0.0.1/somewhere-else
"#,
        cfg = cfg.display()
    );
    let out = Command::new("unshare").args(["-n", "sh", "-c", &script]).output().expect("unshare runs (needs root)");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "stdout:\n{stdout}\nstderr:\n{}", String::from_utf8_lossy(&out.stderr));
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(
        lines,
        [
            "package-upload GET /upload/acct/foo_1.0_all.deb HTTP/1.1",
            "package-upload GET /upload/acct/foo_1.0_all.deb HTTP/1.1",
            "appserver GET /somewhere-else HTTP/1.1",
        ]
    );
}

/// Python charm: `_update_ready_status` returned early on Blocked or
/// Maintenance, so statuses stuck after their cause was gone.
#[test]
fn python_charm_sticky_blocked_status_clears_when_the_cause_goes() {
    let mut unit = Unit::new(0, "10.1.77.18");
    unit.state.leader = true;
    unit.relate_workload();
    unit.set_config("worker_counts", json!(0));
    unit.hook("config-changed");
    assert_eq!(unit.status().0, "blocked");
    unit.set_config("worker_counts", json!(2));
    unit.hook("config-changed");
    assert_eq!(unit.status(), ("active".into(), "Unit is ready".into()));
}

/// Python charm: `replicas-relation-departed` was not observed, so a removed
/// unit stayed in every backend until some later event.
#[test]
fn python_charm_departed_unit_left_in_backends() {
    let mut unit = Unit::new(0, "10.1.77.18");
    unit.state.leader = true;
    unit.add_peer(1, "10.1.77.229");
    unit.hook("config-changed");
    assert!(unit.haproxy_config().unwrap().contains("10.1.77.229"));
    unit.run(crate::harness::Dispatch::departed("replicas", 0, "landscape-server/1", "landscape-server/1"));
    assert!(!unit.haproxy_config().unwrap().contains("10.1.77.229"));
}

/// Python charm: error pages were copied at install only, and a missing one
/// made `haproxy -c` fail, blocking the unit.
#[test]
fn python_charm_missing_error_page_broke_validation() {
    let mut unit = Unit::new(0, "10.1.77.18");
    unit.hook("install");
    std::fs::remove_file(unit.path("/etc/haproxy/errors/timeout-haproxy.html")).unwrap();
    unit.set_config("worker_counts", json!(3));
    let run = unit.hook("config-changed");
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_ne!(unit.status().0, "blocked");
    assert!(unit.read("/etc/haproxy/errors/timeout-haproxy.html").unwrap().starts_with("HTTP/1.0 504"));
}
