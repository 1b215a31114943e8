//! One test per defect of the seed design or the Python charm that this
//! charm fixes, named after it (ripgrep's `regression.rs` style).

use std::process::Command;

use landscape_server::config::{CharmConfig, Network, RedirectHttps};
use landscape_server::haproxy::model::{Settings, Topology, build};
use landscape_server::haproxy::render;
use landscape_server::paths::Paths;
use serde_json::json;

use crate::fixtures::shared_inputs;
use crate::harness::{Unit, ready_leader};

/// Settings for one loopback unit with one worker per service.
pub fn loopback_settings(redirect_https: RedirectHttps) -> Settings {
    let paths = Paths::under(shared_inputs());
    let config = CharmConfig::parse(Default::default()).unwrap();
    Settings {
        worker_counts: 1,
        redirect_https,
        global_maxconn: 256,
        ..Settings::from_config(&config, Some(paths.haproxy_pem()), paths.haproxy_errors_dir())
    }
}

/// Renders the unit's config for `settings` and runs the real HAProxy with
/// it in `unshare -n` (a new network namespace with only loopback, gone when
/// the shell exits), with an echo server for each of `services` (name,
/// port; `name FILE` for one that wants credentials); returns what each `curl` argument list printed, one line each
/// (`-w` given by the caller where the status is wanted).
pub fn through_real_haproxy(settings: &Settings, services: &[(&str, u16)], curls: &[&str]) -> Vec<String> {
    let commands: Vec<String> = curls.iter().map(|args| format!("curl -s {args}; echo")).collect();
    behind_real_haproxy(settings, services, &commands).1
}

/// The same, with any shell commands as the clients; also returns the config.
fn behind_real_haproxy(settings: &Settings, services: &[(&str, u16)], commands: &[String]) -> (String, Vec<String>) {
    behind_real_haproxy_of_units(&["127.0.0.1"], settings, services, &[], commands)
}

/// The same for a deployment of `units` (loopback addresses, the first the
/// leader); the services given run on the first unit only, so every other
/// unit's servers refuse connections but for what the `first` commands
/// start (before HAProxy, whose first failed check marks a server down).
fn behind_real_haproxy_of_units(
    units: &[&str],
    settings: &Settings,
    services: &[(&str, u16)],
    first: &[String],
    commands: &[String],
) -> (String, Vec<String>) {
    let addresses: Vec<std::net::IpAddr> = units.iter().map(|u| u.parse().unwrap()).collect();
    let topology = Topology::new(addresses.clone(), Some(addresses[0]));
    behind_real_haproxy_of(&topology, settings, services, first, commands)
}

/// The same for any topology.
fn behind_real_haproxy_of(
    topology: &Topology,
    settings: &Settings,
    services: &[(&str, u16)],
    first: &[String],
    commands: &[String],
) -> (String, Vec<String>) {
    let config = render(&build(topology, settings)).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("haproxy.cfg");
    std::fs::write(&cfg, &config).unwrap();
    let echo = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/echo_server.py");
    let mut script = String::from(
        r#"set -e
ip link set lo up
pids=""
trap 'kill $pids 2>/dev/null || true' EXIT
wait_for() { for i in $(seq 100); do [ "$(curl -s -o /dev/null -w '%{http_code}' "$1")" != 000 ] && return 0; sleep 0.05; done; return 1; }
"#,
    );
    // Backends first: a server whose first health check fails stays down
    // for rise x inter (10 s). Background processes must not hold our
    // stdout open, and must die with us.
    for (name, port) in services {
        // `name FILE`: a stand-in that wants credentials (echo_server.py).
        let (name, file) = name.split_once(' ').unwrap_or((name, ""));
        script += &format!("python3 {echo} {name} 127.0.0.1 {port} {file} >/dev/null 2>&1 & pids=\"$pids $!\"\n");
        script += &format!("wait_for http://127.0.0.1:{port}/\n");
    }
    for command in first {
        script += &format!("{command}\n");
    }
    script += &format!("haproxy -f {} -db >/dev/null 2>&1 & pids=\"$pids $!\"\n", cfg.display());
    script += "for i in $(seq 100); do curl -s -o /dev/null http://127.0.0.1/ && break; sleep 0.05; done\n";
    for command in commands {
        script += &format!("{command}\n");
    }
    let out = Command::new("unshare").args(["-n", "sh", "-c", &script]).output().expect("unshare runs (needs root)");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "stdout:\n{stdout}\nstderr:\n{}", String::from_utf8_lossy(&out.stderr));
    (config, stdout.lines().filter(|l| !l.is_empty()).map(str::to_string).collect())
}

/// Seed: `http-request replace-path ^([^\ ]*)\ /upload/(.*) /\1` only matches a
/// path with a literal space, which HAProxy rejects before any rule runs. We
/// dropped it; this proves that what users see is unchanged: `/upload/...`
/// reaches the package-upload server with its path intact, over HTTP and
/// HTTPS, through the real HAProxy.
#[test]
fn seed_dead_upload_rewrite_dropped_and_uploads_still_reach_package_upload_unchanged() {
    let settings = loopback_settings(RedirectHttps::None);
    let answers = through_real_haproxy(
        &settings,
        &[("package-upload", 9100), ("appserver", 8080)],
        &[
            "http://127.0.0.1/upload/acct/foo_1.0_all.deb",
            "-k https://127.0.0.1/upload/acct/foo_1.0_all.deb",
            "http://127.0.0.1/somewhere-else",
        ],
    );
    assert_eq!(
        answers,
        [
            "package-upload GET /upload/acct/foo_1.0_all.deb HTTP/1.1",
            "package-upload GET /upload/acct/foo_1.0_all.deb HTTP/1.1",
            "appserver GET /somewhere-else HTTP/1.1",
        ]
    );
}

/// behind an ingress HAProxy that ends TLS and sends both schemes
/// to the units' port 80, `redirect_https` redirected the HTTPS requests too,
/// back to the same ingress: a loop. A request whose trusted proxy says it
/// came over HTTPS (`X-Forwarded-Proto: https`) is now served; plain HTTP is
/// still redirected as configured.
#[test]
fn ingress_redirect_loop_a_request_forwarded_from_https_is_served() {
    for redirect in [RedirectHttps::Default, RedirectHttps::All] {
        let mut settings = loopback_settings(redirect);
        settings.trusted_proxies = vec![Network::parse("127.0.0.1").unwrap()];
        let answers = through_real_haproxy(
            &settings,
            &[("appserver", 8080)],
            &[
                "-o /dev/null -w 'plain %{http_code} %{redirect_url}' http://127.0.0.1/",
                "-H 'X-Forwarded-Proto: https' http://127.0.0.1/",
            ],
        );
        assert_eq!(answers, ["plain 302 https://127.0.0.1/", "appserver GET / HTTP/1.1"], "{redirect:?}");
    }
}

/// the fix above trusted any client's `X-Forwarded-Proto: https`
/// on port 80 (a client could skip its redirect, and Landscape saw "https"
/// on a plain connection), and passed a client's `X-Forwarded-For` on as
/// its address. From a client that is not a trusted proxy both are now
/// replaced with what the connection shows; a trusted proxy's are kept.
#[test]
fn forwarded_headers_from_an_untrusted_client_are_replaced_and_a_trusted_proxys_kept() {
    let seen = "-o /dev/null -w '%{http_code} %header{x-seen-forwarded-proto} %header{x-seen-forwarded-for}'";
    let spoofed = "-H 'X-Forwarded-Proto: https' -H 'X-Forwarded-For: 192.0.2.9'";
    let curls = [format!("{seen} {spoofed} http://127.0.0.1/"), format!("{seen} {spoofed} -k https://127.0.0.1/")];
    let curls: Vec<&str> = curls.iter().map(String::as_str).collect();
    let untrusted = through_real_haproxy(&loopback_settings(RedirectHttps::None), &[("appserver", 8080)], &curls);
    // The frontends bind [::] v4v6: an IPv4 client's address is v4-mapped.
    assert_eq!(untrusted, ["200 http ::ffff:127.0.0.1", "200 https ::ffff:127.0.0.1"]);
    let redirected = through_real_haproxy(&loopback_settings(RedirectHttps::Default), &[("appserver", 8080)], &curls);
    assert_eq!(redirected[0], "302  ", "a client's own X-Forwarded-Proto spares it no redirect");
    let mut trusting = loopback_settings(RedirectHttps::Default);
    trusting.trusted_proxies = vec![Network::parse("127.0.0.0/8").unwrap()];
    let trusted = through_real_haproxy(&trusting, &[("appserver", 8080)], &curls);
    assert_eq!(trusted, ["200 https 192.0.2.9, ::ffff:127.0.0.1", "200 https 192.0.2.9, ::ffff:127.0.0.1"]);
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
    assert!(!unit.status().1.contains("HAProxy"), "{:?}", unit.status());
    assert!(unit.read("/etc/haproxy/errors/timeout-haproxy.html").unwrap().starts_with("HTTP/1.0 504"));
}

/// A hook that renamed a new haproxy.cfg into place and then died before
/// `systemctl reload` (here: the reload fails, so the hook fails and Juju
/// rolls back its unit state) was retried, found the live file equal to the
/// rendered one and never reloaded: HAProxy kept serving the old config.
#[test]
fn reload_lost_when_the_hook_died_between_rename_and_reload() {
    let mut unit = ready_leader(0);
    unit.set_config("worker_counts", json!(3));
    unit.fail_command("systemctl reload haproxy", 1, "Job for haproxy.service canceled.");
    let failed = unit.hook("config-changed");
    assert_ne!(failed.code, 0, "a failed reload fails the hook");
    assert!(unit.haproxy_config().unwrap().contains("10.1.77.18:8082 "), "the new config is live");

    unit.state.command_behaviours.remove("systemctl reload haproxy");
    let retried = unit.hook("update-status");
    assert_eq!(retried.code, 0, "{}", retried.stderr);
    assert!(retried.ran("systemctl reload haproxy"), "the owed reload: {:?}", retried.command_lines());
    let after = unit.hook("update-status");
    assert!(!after.ran("systemctl reload haproxy"), "paid once: {:?}", after.command_lines());
}

/// HAProxy's master CLI as far as the charm reads it: `show proc`, answered
/// once the client has shut its side (as the master does), with a
/// reload count that moves, for each signal `systemctl reload haproxy` sent
/// since the last question, only while the master `takes` them (HAProxy
/// 2.6's master loses a SIGUSR2 that arrives while it re-executes itself).
struct FakeMaster {
    takes: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl FakeMaster {
    fn start(unit: &Unit) -> Self {
        use std::io::{Read, Write};
        let socket = unit.path("/run/haproxy-master.sock");
        std::fs::create_dir_all(socket.parent().unwrap()).unwrap();
        let listener = std::os::unix::net::UnixListener::bind(&socket).unwrap();
        let signals = unit.path(&format!("/{}", fake_juju::HAPROXY_SIGNALS));
        let takes = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
        let taking = takes.clone();
        std::thread::spawn(move || {
            let (mut seen, mut reloads) = (0, 0);
            for mut stream in listener.incoming().flatten() {
                // As HAProxy's master: the commands, up to the client's end
                // of them, then the answer.
                let mut commands = String::new();
                let _ = (&stream).read_to_string(&mut commands);
                let sent = std::fs::read_to_string(&signals).map(|t| t.lines().count()).unwrap_or(0);
                if taking.load(std::sync::atomic::Ordering::SeqCst) {
                    reloads += sent - seen;
                }
                seen = sent;
                let answer = format!(
                    "#<PID> <type> <reloads> <uptime> <version>\n4242 master {reloads} [failed: 0] 0d00h00m09s 2.6.12\n"
                );
                let _ = stream.write_all(answer.as_bytes());
            }
        });
        FakeMaster { takes }
    }

    fn takes_signals(&self, takes: bool) {
        self.takes.store(takes, std::sync::atomic::Ordering::SeqCst);
    }
}

/// `systemctl reload haproxy` only signals HAProxy's master and returns. A
/// signal the master lost left the old config serving while the charm took
/// systemd's word and paid the reload it owed: nothing sent it again.
#[test]
fn a_reload_the_haproxy_master_never_took_was_counted_as_done() {
    let mut unit = ready_leader(0);
    let master = FakeMaster::start(&unit);
    master.takes_signals(false);
    unit.set_config("worker_counts", json!(3));
    let lost = unit.hook("config-changed");
    assert_eq!(lost.code, 0, "{}", lost.stderr);
    let signals = lost.command_lines().iter().filter(|l| *l == "systemctl reload haproxy").count();
    assert_eq!(signals, 2, "sent once more: {:?}", lost.command_lines());
    let (status, message) = unit.status();
    assert_eq!(status, "waiting");
    assert!(message.starts_with("HAProxy has not taken the new config"), "{message}");
    assert!(unit.path("/var/lib/landscape-server-charm/haproxy-reload-owed").exists(), "the reload stays owed");

    // The master takes signals again: update-status sends the one owed.
    master.takes_signals(true);
    let retried = unit.hook("update-status");
    assert_eq!(retried.code, 0, "{}", retried.stderr);
    let signals = retried.command_lines().iter().filter(|l| *l == "systemctl reload haproxy").count();
    assert_eq!(signals, 1, "once, and confirmed: {:?}", retried.command_lines());
    assert_eq!(unit.status(), ("active".into(), "Unit is ready".into()));
    assert!(!unit.path("/var/lib/landscape-server-charm/haproxy-reload-owed").exists(), "paid");
    let after = unit.hook("update-status");
    assert!(!after.ran("systemctl reload haproxy"), "paid once: {:?}", after.command_lines());
}

/// A leader whose `load-balancer-certificates` provider (relation 7) has
/// issued a good certificate, installed in its bundle.
fn leader_with_a_certificate() -> (Unit, crate::fixtures::TestCa, String) {
    let mut unit = Unit::new(0, "10.1.77.18");
    unit.state.leader = true;
    unit.relate_landscape_backends();
    unit.add_relation("load-balancer-certificates", 7, "lb-certs");
    assert_eq!(unit.run(crate::harness::Dispatch::relation("load-balancer-certificates", "created", 7, None)).code, 0);
    let ca = crate::fixtures::TestCa::new("regression-ca");
    crate::fixtures::issue_certificate(&mut unit, 7, &ca, 0, 90);
    assert_eq!(unit.relation_changed("load-balancer-certificates", 7, None).code, 0);
    let bundle = unit.read("/etc/haproxy/haproxy.pem").expect("a bundle");
    (unit, ca, bundle)
}

/// Fault review 1: only the first PEM block of `certificate` (and of each
/// chain entry) was parsed, but the provider's raw text was written into
/// haproxy.pem: a certificate with another private key appended gave a
/// bundle with two keys, which HAProxy refuses at its next start.
#[test]
fn certificate_with_an_appended_key_became_a_bundle_haproxy_cannot_load() {
    let (mut unit, ca, before) = leader_with_a_certificate();
    let csr = crate::fixtures::published_csrs(&unit, 7).pop().unwrap();
    let cert = ca.sign(&csr, 0, 90);
    let foreign_key = rcgen::KeyPair::generate().unwrap().serialize_pem();
    for (field, databag) in [
        ("certificate", ca.provider_databag(&[(&csr, &format!("{cert}\n{foreign_key}"))])),
        (
            "chain[0]",
            crate::harness::Databag::from([(
                "certificates".to_string(),
                json!([{"ca": ca.pem, "certificate_signing_request": csr, "certificate": cert,
                        "chain": [format!("{}\n{foreign_key}", ca.pem)]}])
                .to_string(),
            )]),
        ),
    ] {
        unit.state.relation_mut(7).unwrap().remote_app_data = databag;
        let run = unit.relation_changed("load-balancer-certificates", 7, None);
        assert_eq!(run.code, 0, "{}", run.stderr);
        let (status, message) = unit.status();
        assert_eq!(status, "blocked", "{field}: {message}");
        assert!(message.contains(&format!("{field} holds a \"PRIVATE KEY\" block")), "{field}: {message}");
        assert_eq!(unit.read("/etc/haproxy/haproxy.pem").unwrap(), before, "{field}: the good bundle keeps serving");
    }
    // A clean issue is installed, and the bundle is built from the DER: one key, ours.
    unit.state.relation_mut(7).unwrap().remote_app_data = ca.provider_databag(&[(&csr, &format!("junk\n{cert}\n"))]);
    assert_eq!(unit.relation_changed("load-balancer-certificates", 7, None).code, 0);
    let bundle = unit.read("/etc/haproxy/haproxy.pem").unwrap();
    assert_eq!(bundle.matches("PRIVATE KEY-----\n").count(), 2, "one key block (BEGIN and END):\n{bundle}");
    assert!(!bundle.contains("junk"));
    assert!(!bundle.contains(foreign_key.lines().nth(1).unwrap()));
}

/// Fault review 3: notBefore was never checked, so a certificate that is not
/// valid yet (a provider with a skewed clock) replaced the good one.
#[test]
fn certificate_not_valid_yet_replaced_the_good_one() {
    let (mut unit, ca, before) = leader_with_a_certificate();
    crate::fixtures::issue_certificate(&mut unit, 7, &ca, -2, 90);
    let run = unit.relation_changed("load-balancer-certificates", 7, None);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let (status, message) = unit.status();
    assert_eq!(status, "blocked");
    assert!(message.contains("is not valid yet"), "{message}");
    assert_eq!(unit.read("/etc/haproxy/haproxy.pem").unwrap(), before);
}

/// Fault review 4: error messages echoed relation values in full; past
/// 128 KiB the spawn of `status-set`/`juju-log` failed (E2BIG) on every
/// retry, wedging the unit in hook-error.
#[test]
fn oversized_relation_value_wedged_the_unit_in_hook_error() {
    let mut unit = ready_leader(0);
    let huge = "h".repeat(200_000);
    unit.state.relation_mut(crate::harness::DB_RELATION).unwrap().remote_app_data.insert("endpoints".into(), huge);
    let bag = unit.state.relation_mut(crate::harness::INBOUND_AMQP_RELATION).unwrap();
    bag.remote_units.get_mut("rabbitmq-server/0").unwrap().insert("hostname".into(), "x ".repeat(100_000));
    let run = unit.hook("config-changed");
    assert_eq!(run.code, 0, "{}", run.stderr);
    let (status, message) = unit.status();
    assert_eq!(status, "blocked");
    assert!(message.contains("(200000 characters)"), "{message}");
    assert!(message.chars().count() <= landscape_server::text::MAX_MESSAGE_CHARS + 1, "{}", message.len());
    for call in run.tool_calls.iter().filter(|c| c.program == "juju-log" || c.program == "status-set") {
        assert!(call.line().len() < 4096, "{} is {} bytes", call.program, call.line().len());
    }
}

/// Fault review 7: credentials in URLs were shown in status and juju-log
/// (`license_file=https://user:pw@…` when the fetch failed).
#[test]
fn credentials_in_a_license_url_were_shown_in_status_and_log() {
    let mut unit = ready_leader(0);
    unit.set_config("license_file", json!("http://ops:hunter2-license@127.0.0.1:9/license.txt"));
    let run = unit.hook("config-changed");
    assert_eq!(run.code, 0, "{}", run.stderr);
    let (status, message) = unit.status();
    assert_eq!(status, "blocked");
    assert!(message.starts_with("license_file: cannot fetch http://<redacted>@127.0.0.1:9/license.txt"), "{message}");
    assert!(!message.contains("hunter2") && !unit.log_text().contains("hunter2"), "{message}\n{}", unit.log_text());
}

/// Fault review 6: temporary files survived a crash: `.haproxy.pem.tmp-PID`
/// and `.lb-private-key.pem.tmp-PID` (private keys), `.service.conf.tmp-PID`
/// (passwords), and secret values written for `secret-add`.
#[test]
fn temporary_files_of_a_killed_hook_survived_it() {
    let mut unit = ready_leader(0);
    let leftovers = [
        "/etc/haproxy/.haproxy.pem.tmp-999999991",
        "/var/lib/landscape-server-charm/.lb-private-key.pem.tmp-999999992",
        "/etc/landscape/.service.conf.tmp-999999993",
        "/var/lib/landscape-server-charm/secret-content/landscape-charm-secret-4245-00/secret-token",
    ];
    for path in leftovers {
        std::fs::create_dir_all(unit.path(path).parent().unwrap()).unwrap();
        std::fs::write(unit.path(path), "-----BEGIN PRIVATE KEY-----\nsecret\n").unwrap();
    }
    // Someone else's dot file is not ours to remove, nor a live process's.
    std::fs::write(unit.path("/etc/haproxy/.keep.tmp-notapid"), "x").unwrap();
    let live = format!("/etc/haproxy/.haproxy.cfg.tmp-{}", std::process::id());
    std::fs::write(unit.path(&live), "x").unwrap();
    let run = unit.hook("update-status");
    assert_eq!(run.code, 0, "{}", run.stderr);
    for path in leftovers {
        assert!(!unit.path(path).exists(), "{path} is still there");
    }
    assert!(unit.path("/etc/haproxy/.keep.tmp-notapid").exists());
    assert!(unit.path(&live).exists());
}

/// Fault review 8: a leftover `haproxy.cfg.candidate` that is a directory
/// failed every hook.
#[test]
fn candidate_config_left_as_a_directory_failed_every_hook() {
    let mut unit = Unit::new(0, "10.1.77.18");
    assert_eq!(unit.hook("install").code, 0);
    std::fs::create_dir_all(unit.path("/etc/haproxy/haproxy.cfg.candidate/x")).unwrap();
    unit.set_config("worker_counts", json!(3));
    let run = unit.hook("config-changed");
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(unit.haproxy_config().unwrap().contains("10.1.77.18:8082 "));
}

/// Fault review 8: a private key found at 0644 was never tightened.
#[test]
fn private_key_found_world_readable_was_left_so() {
    use std::os::unix::fs::PermissionsExt;
    let (mut unit, _, _) = leader_with_a_certificate();
    let key = unit.path("/var/lib/landscape-server-charm/lb-private-key.pem");
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
    assert_eq!(unit.relation_changed("load-balancer-certificates", 7, None).code, 0);
    assert_eq!(std::fs::metadata(&key).unwrap().permissions().mode() & 0o777, 0o600);
}

/// Fault review 9: turning `enable_ubuntu_installer_attach` on installed the
/// package without `apt-get update` first, and the `upgrade` action ran
/// `apt-get install` with no conffile policy (dpkg would prompt, with no terminal).
#[test]
fn optional_package_installed_from_a_stale_index_and_upgrade_without_conffile_policy() {
    let mut unit = ready_leader(0);
    unit.set_config("enable_ubuntu_installer_attach", json!(true));
    let run = unit.hook("config-changed");
    let lines = run.command_lines();
    let update = lines.iter().position(|l| l == "apt-get update -q").expect("apt-get update");
    let install = lines.iter().position(|l| l == "apt-get install -y -q landscape-ubuntu-installer-attach").unwrap();
    assert!(update < install, "{lines:#?}");

    unit.state.unit_state.insert("paused".into(), "true".into());
    let run = unit.action("upgrade");
    let install = run.commands.iter().find(|c| c.line().starts_with("apt-get install")).unwrap();
    assert!(install.args.windows(2).any(|w| w == ["-o", "Dpkg::Options::=--force-confold"]), "{}", install.line());
}

/// a malformed `secret-user` went to `secret-get`'s argv, which
/// failed with exit 2 on every retry (the unit wedged in hook-error), and its
/// line breaks and escape codes reached the unit log. It is now checked
/// first: the unit blocks naming the field, nothing reaches argv.
#[test]
fn malformed_secret_user_uri_wedged_every_hook() {
    let mut unit = ready_leader(0);
    let hostile = format!("secret:x\n\u{1b}[31mERROR forged{}", "y".repeat(200_000));
    unit.state.relation_mut(crate::harness::DB_RELATION).unwrap().remote_app_data.insert("secret-user".into(), hostile);
    let run = unit.relation_changed("database", crate::harness::DB_RELATION, Some("postgresql/0"));
    assert_eq!(run.code, 0, "{}", run.stderr);
    let (status, message) = unit.status();
    assert_eq!(status, "blocked");
    assert!(message.starts_with("Unusable database settings: database: secret-user is not a Juju secret URI: "));
    assert!(message.len() < 300 && !message.contains('\n') && !message.contains('\u{1b}'), "{message:?}");
    let reached: Vec<String> = run
        .tool_calls
        .iter()
        .filter(|c| c.program == "secret-get" && c.line().contains("forged"))
        .map(|c| c.line())
        .collect();
    assert!(reached.is_empty(), "it reached secret-get's argv: {:.300?}", reached);
    // Shown only escaped and cut: no raw line break or escape code in any message.
    assert!(run.tool_calls.iter().all(|c| !c.line().contains('\u{1b}') && c.line().len() < 3000));
    assert!(!run.stderr.contains('\u{1b}'));
}

/// peers could publish `0.0.0.0`, `::`, loopback or link-local
/// addresses into every unit's server lines (traffic to the sender itself,
/// or nowhere), and all-numeric "host names" (`2130706433` is 127.0.0.1)
/// passed as database hosts.
#[test]
fn unroutable_peer_addresses_and_numeric_host_names_were_accepted() {
    let mut unit = Unit::new(0, "10.1.77.18");
    unit.state.leader = true;
    unit.relate_workload();
    for (n, bad) in [(1, "0.0.0.0"), (2, "127.0.0.1"), (3, "169.254.10.1"), (4, "::")] {
        unit.add_peer(n, bad);
    }
    unit.add_peer(5, "10.1.77.229");
    unit.hook("config-changed");
    let config = unit.haproxy_config().unwrap();
    let servers: Vec<&str> = config.lines().filter(|l| l.trim_start().starts_with("server ")).collect();
    assert!(servers.iter().any(|l| l.contains("10.1.77.229:")));
    for bad in ["0.0.0.0", "127.0.0.1", "169.254.10.1", "[::]"] {
        assert!(!servers.iter().any(|l| l.contains(&format!(" {bad}:"))), "{bad} in the server lines");
    }
    assert!(unit.log_text().contains("ignoring address of landscape-server/1: not a routable IP address: \"0.0.0.0\""));
    assert!(!landscape_server::text::is_host("2130706433") && !landscape_server::text::is_host("10.1.2"));
    assert!(landscape_server::text::is_host("db1.example") && landscape_server::text::is_host("10.1.2.3"));
}

/// an unparseable legacy `master` showed "waiting for
/// allowed-units", though the unit was allowed: the provider's data was
/// bad, and the status sent the operator after the wrong thing.
#[test]
fn unusable_legacy_master_said_waiting_for_allowed_units() {
    let mut unit = Unit::new(0, "10.1.77.18");
    unit.state.leader = true;
    unit.peer_relation();
    unit.add_amqp("inbound-amqp", crate::harness::INBOUND_AMQP_RELATION);
    unit.add_amqp("outbound-amqp", crate::harness::OUTBOUND_AMQP_RELATION);
    unit.add_relation("load-balancer-certificates", crate::harness::TLS_RELATION, "self-signed-certificates");
    let rel = unit.add_relation("db", 30, "postgresql");
    let bag = rel.remote_units.get_mut("postgresql/0").unwrap();
    bag.insert("master".into(), "dbname=landscape port=5432".into());
    bag.insert("allowed-units".into(), "landscape-server/0".into());
    let run = unit.run(crate::harness::Dispatch::relation("db", "changed", 30, Some("postgresql/0")));
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(
        unit.status(),
        (
            "blocked".into(),
            "Unusable database settings: db: postgresql/0's master connection string has no host, password, user"
                .into()
        )
    );
}

/// a relation that vanished while the hook read it (or any
/// failure before the parts ran) failed the hook with stderr only; the
/// unit's log, where operators look, said nothing.
#[test]
fn a_hook_that_failed_while_reading_the_world_said_nothing_in_the_log() {
    let mut unit = ready_leader(0);
    unit.state.tool_failures.insert(
        "relation-list".into(),
        crate::state::Behaviour { code: 1, stdout: String::new(), stderr: "ERROR connection is shut down\n".into() },
    );
    let run = unit.hook("config-changed");
    assert_ne!(run.code, 0);
    assert!(unit.log_text().contains("ERROR hook failed, Juju will retry it: relation-list"), "{}", unit.log_text());
}

/// a new bundle went live without HAProxy ever loading it
/// (`haproxy -c` ran only when haproxy.cfg's text changed). A certificate
/// that parses but HAProxy refuses (here one signed with SHA-1, which
/// OpenSSL 3 will not load) would take 443, 6554 and 50051 down at the next
/// restart. The candidate bundle and the config that uses it are now checked
/// together first; a refused one never goes live.
#[test]
fn a_bundle_haproxy_cannot_load_went_live_unchecked() {
    let (mut unit, _, before) = leader_with_a_certificate();
    let csr = crate::fixtures::published_csrs(&unit, 7).pop().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = |name: &str| dir.path().join(name).display().to_string();
    std::fs::write(path("unit.csr"), &csr).unwrap();
    let openssl = |args: &[&str]| {
        let out = Command::new("openssl").args(args).output().expect("openssl runs");
        assert!(out.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    };
    let (ca_key, ca_pem, cert) = (path("ca.key"), path("ca.pem"), path("unit.pem"));
    let subject = ["-subj", "/CN=an old CA"];
    openssl(
        &[&["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", &ca_key, "-out", &ca_pem][..], &subject]
            .concat(),
    );
    openssl(&[
        "x509",
        "-req",
        "-in",
        &path("unit.csr"),
        "-CA",
        &ca_pem,
        "-CAkey",
        &ca_key,
        "-CAcreateserial",
        "-out",
        &cert,
        "-days",
        "2",
        "-sha1",
    ]);
    let (ca, cert) = (std::fs::read_to_string(&ca_pem).unwrap(), std::fs::read_to_string(&cert).unwrap());
    let entry = json!([{"ca": ca, "certificate_signing_request": csr, "certificate": cert, "chain": [cert, ca]}]);
    unit.state.relation_mut(7).unwrap().remote_app_data =
        crate::harness::Databag::from([("certificates".to_string(), entry.to_string())]);
    let run = unit.relation_changed("load-balancer-certificates", 7, None);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let (status, message) = unit.status();
    assert_eq!(status, "blocked");
    assert!(message.starts_with("HAProxy rejected the new certificate: "), "{message}");
    assert!(message.contains("unable to load SSL certificate"), "{message}");
    assert_eq!(unit.read("/etc/haproxy/haproxy.pem").unwrap(), before, "the good bundle keeps serving");
    assert!(unit.read("/etc/haproxy/haproxy.pem.candidate").is_none(), "the refused candidate is gone");
    assert!(!run.ran("systemctl reload haproxy"), "nothing new to serve");
}

/// service.conf and `/etc/default/landscape-server` were
/// rewritten through a lossy UTF-8 decode, so a Latin-1 byte in an
/// operator's comment became U+FFFD, and CRLF line endings became LF. Every
/// line the charm does not own now goes back byte for byte.
#[test]
fn operator_files_lost_their_encoding_and_line_endings() {
    let mut unit = Unit::new(0, "10.1.77.18");
    unit.state.leader = true;
    let conf: &[u8] = b"# Caf\xe9 Landscape, edited on Windows\r\n[stores]\r\nunknown_key = kept\r\n";
    let defaults: &[u8] = b"# M\xfcller's settings\r\nRUN_ALL=\"yes\"\r\nOTHER=keep\r\n";
    for (path, bytes) in [("/etc/landscape/service.conf", conf), ("/etc/default/landscape-server", defaults)] {
        let path = unit.path(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, bytes).unwrap();
    }
    unit.relate_workload();
    assert_eq!(unit.hook("config-changed").code, 0);
    let conf = std::fs::read(unit.path("/etc/landscape/service.conf")).unwrap();
    assert!(conf.starts_with(b"# Caf\xe9 Landscape, edited on Windows\r\n[stores]\r\nunknown_key = kept\r\n"));
    assert!(conf.windows(2).filter(|w| w == b"\r\n").count() == conf.iter().filter(|b| **b == b'\n').count());
    assert!(String::from_utf8_lossy(&conf).contains("host = 10.1.99.1:5432\r\n"));
    let defaults = std::fs::read(unit.path("/etc/default/landscape-server")).unwrap();
    assert!(defaults.windows(b"# M\xfcller's settings\r\n".len()).any(|w| w == b"# M\xfcller's settings\r\n"));
    assert!(defaults.windows(12).any(|w| w == b"OTHER=keep\r\n") && !defaults.contains(&0xef), "{defaults:?}");
}

/// the gRPC services' backends had their frontends' names (the
/// seed's), which HAProxy 3.2 warns about and 3.3 refuses. No backend of any
/// config the charm renders shares a frontend's name.
#[test]
fn grpc_backends_named_as_their_frontends() {
    let paths = Paths::under(shared_inputs());
    let mut settings = loopback_settings(RedirectHttps::Default);
    settings.enable_hostagent_messenger = true;
    settings.enable_ubuntu_installer_attach = true;
    settings.tls_pem = Some(paths.haproxy_pem());
    let loopback = "127.0.0.1".parse().unwrap();
    let config = render(&build(&Topology::new(vec![loopback], Some(loopback)), &settings)).unwrap();
    let sections = crate::fixtures::parse_sections(&config);
    let frontends: Vec<&str> = sections.iter().filter(|s| s.kind == "frontend").map(|s| s.name.as_str()).collect();
    assert!(frontends.contains(&"landscape-hostagent-messenger") && frontends.len() == 4, "{frontends:?}");
    for backend in sections.iter().filter(|s| s.kind == "backend") {
        assert!(!frontends.contains(&backend.name.as_str()), "backend {} is named as a frontend", backend.name);
    }
}

/// HAProxy was not held, so an unattended upgrade could change it
/// under a config validated for the version in place. It is held once
/// installed (and only then: a held package costs no call afterwards).
#[test]
fn haproxy_was_left_to_unattended_upgrades() {
    let mut unit = Unit::new(0, "10.1.77.18");
    unit.state.leader = true;
    unit.relate_workload();
    let run = unit.hook("config-changed");
    assert!(run.ran("apt-mark hold haproxy"), "{:?}", run.command_lines());
    assert!(unit.state.held_packages.contains("haproxy"));
    let run = unit.hook("config-changed");
    assert!(!run.command_lines().iter().any(|l| l.starts_with("apt-mark")), "held already");
}

/// a client had 120 s (the client timeout) to send its request
/// headers, so a few slow-loris connections sending a byte now and then
/// could hold HAProxy's connections. `timeout http-request` now cuts them
/// off (here set to 1 s; the default is 10 s): the client, which means to
/// trickle headers for 20 s, is answered 408 and closed long before.
#[test]
fn slow_loris_clients_held_connections_for_two_minutes() {
    let mut settings = loopback_settings(RedirectHttps::None);
    settings.limits.http_request_secs = 1;
    let client = r#"
import socket, sys, time
s = socket.create_connection(("127.0.0.1", 80))
s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n")
s.settimeout(0.01)
for sent in range(1, 101):
    time.sleep(0.2)
    try:
        s.sendall(b"X")
        answer = s.recv(4096)
    except socket.timeout:
        continue
    except OSError:
        print("closed after", sent, "bytes")
        sys.exit(0)
    print("answered after", sent, "bytes:", answer.split(b"\r\n")[0].decode())
    sys.exit(0)
print("not cut off")
"#;
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("slow_client.py");
    std::fs::write(&script, client).unwrap();
    let (config, answers) = behind_real_haproxy(&settings, &[], &[format!("python3 {}", script.display())]);
    assert!(config.contains("timeout http-request 1s"));
    let answer = answers.join("\n");
    assert!(answer.contains("answered after") && answer.contains("408"), "{answer}");
}

/// a `%` in a relation password was written verbatim, and
/// Landscape's tools read service.conf with Python's ConfigParser, which
/// takes `%` as interpolation (a bare one raises; `%(x)s` is replaced). The
/// unit now blocks naming the key, and writes nothing it would misread.
#[test]
fn a_percent_in_a_password_was_written_for_configparser_to_misread() {
    let mut unit = ready_leader(0);
    for id in [crate::harness::INBOUND_AMQP_RELATION, crate::harness::OUTBOUND_AMQP_RELATION] {
        let bag = unit.state.relation_mut(id).unwrap().remote_units.get_mut("rabbitmq-server/0").unwrap();
        bag.insert("password".into(), "rabbit%(home)s-93c2".into());
    }
    let run = unit.relation_changed("inbound-amqp", crate::harness::INBOUND_AMQP_RELATION, Some("rabbitmq-server/0"));
    assert_eq!(run.code, 0, "{}", run.stderr);
    let (status, message) = unit.status();
    assert_eq!(status, "blocked");
    assert!(message.contains("[broker] password: contains '%'"), "{message}");
    assert!(!message.contains("rabbit%(home)s") && !unit.log_text().contains("rabbit%(home)s"));
    assert!(!unit.read("/etc/landscape/service.conf").unwrap().contains('%'));
}

/// the first health answer for the leader-only haproxy-route
/// route asked both of its backends to be up, so in a deployment mode
/// without package upload haproxy-operator would have marked the leader
/// down and lost the hash-id databases with it. The route is now up while
/// either backend is; a route whose only backend is down answers 503,
/// through the real HAProxy.
#[test]
fn haproxy_route_health_of_the_leader_route_needed_package_upload_too() {
    let mut settings = loopback_settings(RedirectHttps::Default);
    settings.route_health =
        landscape_server::edge::haproxy_route::ENDPOINTS.iter().filter_map(|endpoint| endpoint.health()).collect();
    let health = |route: &str| format!("http://127.0.0.1/haproxy-route-health/{route}");
    // No api server: its first check fails, and the route goes down once it
    // has (bounded polling, not a timing).
    let api = format!(
        "for i in $(seq 200); do c=$(curl -s -o /dev/null -w '%{{http_code}}' {}); \
         [ \"$c\" = 503 ] && break; sleep 0.05; done; echo \"api $c\"",
        health("api")
    );
    let code = |route: &str| format!("curl -s -o /dev/null -w '{route} %{{http_code}}' {}; echo", health(route));
    let commands = [api, code("package-upload"), code("appserver"), code("no-such-route")];
    let (_, answers) = behind_real_haproxy(&settings, &[("appserver", 8080)], &commands);
    assert_eq!(answers, ["api 503", "package-upload 200", "appserver 200", "no-such-route 503"]);
}

/// The debarchive API answers a request without credentials, HAProxy's
/// health check among them, with 401. The check expected 2xx or 3xx, so the
/// first check marked the debarchive DOWN and every `/debarchive` request,
/// authenticated or not, got 503. A 401 now counts as up.
#[test]
fn debarchive_went_down_when_its_api_answered_the_health_check_with_401() {
    let mut settings = loopback_settings(RedirectHttps::None);
    settings.debarchive = vec!["127.0.0.1".parse().unwrap()];
    settings.debarchive_port = 8100;
    let dir = tempfile::tempdir().unwrap();
    let checks = dir.path().join("unauthenticated");
    let stand_in = format!("debarchive {}", checks.display());
    let checks = checks.display();
    let authenticated = "curl -s -o /dev/null -w 'authenticated %{http_code}\\n' -H 'Authorization: Bearer t' \
                         http://127.0.0.1/debarchive/v1beta1/mirrors";
    let commands = [
        // Until HAProxy's first check has had its answer.
        format!("for i in $(seq 200); do grep -q HEAD {checks} 2>/dev/null && break; sleep 0.05; done"),
        "sleep 0.5".to_string(),
        format!("grep -c 'HEAD /v1beta1/mirrors HTTP/1.0' {checks}"),
        authenticated.to_string(),
        "curl -s -o /dev/null -w 'anonymous %{http_code}\\n' http://127.0.0.1/debarchive/v1beta1/mirrors".to_string(),
    ];
    let (config, answers) = behind_real_haproxy(&settings, &[(&stand_in, 8100), ("appserver", 8080)], &commands);
    assert!(answers[0].parse::<u32>().is_ok_and(|n| n >= 1), "the check ran: {answers:?}");
    assert_eq!(answers[1..], ["authenticated 200", "anonymous 401"], "the API answers, not HAProxy's 503");
    assert!(config.contains("http-check expect rstatus"), "{config}");
}

/// Through a trusted proxy (an external haproxy), a client's own
/// `X-Forwarded-For: 203.0.113.66` arrived as `203.0.113.66, <client>,
/// <proxy>`: the proxy appends, and the unit kept the whole list. Only the
/// entry the proxy appended (the last, when it is an address) is kept now.
#[test]
fn a_client_chose_the_x_forwarded_for_landscape_saw_through_a_trusted_proxy() {
    let mut settings = loopback_settings(RedirectHttps::None);
    settings.trusted_proxies = vec![Network::parse("127.0.0.0/8").unwrap()];
    let seen = "-o /dev/null -w '%header{x-seen-forwarded-for}'";
    let curls = [
        format!("{seen} -H 'X-Forwarded-For: 203.0.113.66, 192.0.2.9' http://127.0.0.1/"),
        format!("{seen} -H 'X-Forwarded-For: 203.0.113.66' -H 'X-Forwarded-For: 192.0.2.9' -k https://127.0.0.1/"),
        format!("{seen} -H 'X-Forwarded-For: 192.0.2.9, not-an-address' http://127.0.0.1/"),
        format!("{seen} http://127.0.0.1/"),
    ];
    let curls: Vec<&str> = curls.iter().map(String::as_str).collect();
    let answers = through_real_haproxy(&settings, &[("appserver", 8080)], &curls);
    assert_eq!(
        answers,
        ["192.0.2.9, ::ffff:127.0.0.1", "192.0.2.9, ::ffff:127.0.0.1", "::ffff:127.0.0.1", "::ffff:127.0.0.1"]
    );
}

/// A line of HAProxy's config holds at most 64 words: the trusted-proxy ACL
/// of a haproxy-route provider with many units (or a long
/// haproxy_trusted_proxies) was one line, which HAProxy refused, so the unit
/// blocked with HAProxy's parser error and kept its old config. The ACL now
/// spans lines; a provider with more units than are trusted blocks naming
/// its relation.
#[test]
fn many_trusted_proxies_made_an_acl_line_haproxy_refuses() {
    let mut unit = ready_leader(1);
    let many: Vec<String> = (0..150).map(|i| format!("10.9.{}.{}", i / 200, i % 200 + 1)).collect();
    unit.set_config("haproxy_trusted_proxies", json!(many.join(",")));
    unit.set_config("root_url", json!("https://landscape.example.com/"));
    let rel = unit.add_relation("api-haproxy-route", 43, "haproxy");
    for i in 0..300u32 {
        let address = format!("10.8.{}.{}", i / 200, i % 200 + 1);
        let bag =
            [("ingress-address".to_string(), address.clone()), ("egress-subnets".to_string(), format!("{address}/32"))];
        rel.remote_units.insert(format!("haproxy/{i}"), bag.into());
    }
    let run = unit.relation_changed("api-haproxy-route", 43, Some("haproxy/0"));
    assert_eq!(run.code, 0, "{}", run.stderr);
    let config = unit.haproxy_config().unwrap();
    assert!(config.contains("10.9.0.150/32") && config.contains("10.8.0.1/32"), "the new config is live");
    crate::fixtures::haproxy_check_every_version(&config).unwrap();
    let longest = config.lines().map(|l| l.split_whitespace().count()).max().unwrap_or(0);
    assert!(longest <= 64, "a line of {longest} words");
    let (status, message) = unit.status();
    assert_eq!(status, "blocked");
    assert_eq!(
        message,
        "api-haproxy-route: the provider's units have 300 addresses, more than the 64 trusted: \
         set haproxy_trusted_proxies to their network"
    );
}

/// The hook that found the SASL map gone wrote it again and was killed
/// before `postmap`. Unit state still held the digest of what postfix had
/// been reloaded with (the same text), so the retry found everything in
/// place and skipped `postmap` and the reload: postfix ran without the map
/// on disk. A debt on disk now lasts from before the write to the reload.
#[test]
fn a_postfix_reload_was_lost_when_the_hook_died_before_postmap() {
    let mut unit = crate::companions::smtp::postfix_unit();
    crate::companions::smtp::add_password_secret(&mut unit);
    assert_eq!(crate::companions::smtp::relate(&mut unit, crate::companions::smtp::STARTTLS_SASL).code, 0);
    for gone in ["/etc/postfix/sasl_passwd", "/etc/postfix/sasl_passwd.db"] {
        std::fs::remove_file(unit.path(gone)).unwrap();
    }
    unit.state.kill_at_command = Some("postmap".into());
    let killed = unit.hook("config-changed");
    unit.state.kill_at_command = None;
    assert_ne!(killed.code, 0, "killed at postmap");
    let retry = unit.hook("config-changed");
    assert_eq!(retry.code, 0, "{}", retry.stderr);
    assert!(retry.command_lines().iter().any(|l| l.starts_with("postmap ")), "{:?}", retry.command_lines());
    assert!(retry.ran("systemctl reload postfix"));
    let map = unit.read("/etc/postfix/sasl_passwd.db");
    assert_eq!(map, unit.read("/etc/postfix/sasl_passwd"), "the map is made from the file");
    let running = unit.read(&format!("/{}/postfix/sasl_passwd.db", fake_juju::SERVICES_DIR));
    assert_eq!(running, map, "postfix runs the map on disk");
}

/// With the live certificate bundle unreadable for a moment (ENOSPC on its
/// open), the bundle's expiry was taken as absent: the hook rendered a
/// config without the expiry gauge, neither the one before nor the one an
/// uninterrupted run writes, and put it live. A bundle that cannot be read
/// now fails the hook, and the live config stays as it was.
#[test]
fn an_unreadable_bundle_put_a_config_neither_old_nor_new_live() {
    let (mut unit, _ca, _) = leader_with_a_certificate();
    let before = unit.haproxy_config().unwrap();
    assert!(before.contains("landscape_haproxy_certificate_expiry_timestamp_seconds"), "{before}");
    let pem = unit.path("/etc/haproxy/haproxy.pem").display().to_string();
    let wrapper = ["strace", "-o", "/dev/null", "-P", &pem, "-e", "trace=openat", "-e", "inject=openat:error=ENOSPC"];
    unit.wrapper = Some(wrapper.map(str::to_string).to_vec());
    let faulted = unit.hook("config-changed");
    unit.wrapper = None;
    assert_eq!(unit.haproxy_config().unwrap(), before, "the live config is the one before");
    assert_ne!(faulted.code, 0, "the hook fails for Juju to retry");
    assert!(faulted.stderr.contains("haproxy.pem"), "{}", faulted.stderr);
    assert_eq!(unit.hook("config-changed").code, 0);
    assert_eq!(unit.haproxy_config().unwrap(), before);
}

/// `retries 3` without `option redispatch`: a request whose connection to a
/// unit that just went away was refused was retried three times on that
/// same unit, then answered 503, until the health checks took the unit out
/// (25 s). Now every retry goes to another server. Unit 127.0.0.2 runs
/// nothing, so half of the first requests meet a refused connection; all
/// are served, GETs and POSTs alike (a refused connection carried nothing).
#[test]
fn retries_went_back_to_a_dead_units_server_and_failed_the_request() {
    let settings = loopback_settings(RedirectHttps::None);
    let status = "curl -s -o /dev/null -w '%{http_code}\\n'";
    let commands = vec![format!(
        "for i in $(seq 10); do {status} http://127.0.0.1/ping; {status} -d x http://127.0.0.1/message-system; done"
    )];
    let (_, answers) = behind_real_haproxy_of_units(
        &["127.0.0.1", "127.0.0.2"],
        &settings,
        &[("pingserver", 8070), ("message-server", 8090), ("appserver", 8080)],
        &[],
        &commands,
    );
    let failed: Vec<&String> = answers.iter().filter(|a| *a != "200").collect();
    assert_eq!(answers.len(), 20, "{answers:?}");
    assert!(failed.is_empty(), "failed with a dead unit in the backends: {failed:?}");
}

/// What a server that dies while serving costs, by method. A GET that got
/// an empty answer is replayed on another server and served; a POST is
/// never replayed (the dead server may have acted on it): its client gets
/// HAProxy's 502 and decides. Every POST reaches exactly one server.
#[test]
fn a_get_whose_server_died_mid_request_is_replayed_and_a_post_never_is() {
    let settings = loopback_settings(RedirectHttps::None);
    let dir = tempfile::tempdir().unwrap();
    let seen = dir.path().join("closing-server.log");
    let closer = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/closing_server.py");
    let status = "curl -s -o /dev/null -w";
    let first = vec![
        format!("python3 {closer} 127.0.0.2 8090 {} & pids=\"$pids $!\"", seen.display()),
        "for i in $(seq 100); do curl -sI -o /dev/null http://127.0.0.2:8090/ && break; sleep 0.05; done".to_string(),
    ];
    let commands = vec![
        format!("for i in $(seq 10); do {status} 'GET %{{http_code}}\\n' http://127.0.0.1/message-system; done"),
        format!("for i in $(seq 10); do {status} 'POST %{{http_code}}\\n' -d x http://127.0.0.1/message-system; done"),
    ];
    let (_, answers) = behind_real_haproxy_of_units(
        &["127.0.0.1", "127.0.0.2"],
        &settings,
        &[("message-server", 8090), ("pingserver", 8070), ("appserver", 8080)],
        &first,
        &commands,
    );
    let log = std::fs::read_to_string(&seen).unwrap_or_default();
    let got_by_closer =
        |method: &str| log.lines().filter(|l| l.starts_with(&format!("{method} /message-system"))).count();
    let count = |answer: &str| answers.iter().filter(|a| *a == answer).count();
    println!("answers: {answers:?}\nthe dying server saw:\n{log}");
    assert_eq!(count("GET 200"), 10, "every GET served: {answers:?}");
    assert!(got_by_closer("GET") > 0, "no GET met the dying server, so nothing was shown:\n{log}");
    assert_eq!(
        count("POST 502"),
        got_by_closer("POST"),
        "each POST the dying server took is answered 502, not replayed"
    );
    assert_eq!(count("POST 200") + count("POST 502"), 10, "{answers:?}");
}

/// Every unit paused for a schema migration: each HAProxy answered 503 with
/// Landscape's "unplanned offline" page and no hint of when to come back.
/// Now, while every unit is drained or paused, the 503 is Landscape's
/// planned-offline page with `Retry-After`, for GETs and POSTs alike; a unit
/// that serves again ends it.
#[test]
fn every_unit_paused_answered_with_the_unplanned_offline_page() {
    let settings = loopback_settings(RedirectHttps::None);
    let units: Vec<std::net::IpAddr> = ["127.0.0.1", "127.0.0.2"].iter().map(|u| u.parse().unwrap()).collect();
    let answer = "curl -s -D - -o /dev/null";
    let page = "curl -s";
    let commands = vec![
        format!("{answer} http://127.0.0.1/ping | tr -d '\\r' | grep -iE '^(HTTP|retry-after)' | tr '\\n' ' '"),
        "echo".into(),
        format!(
            "{answer} -d x http://127.0.0.1/message-system | tr -d '\\r' | grep -iE '^(HTTP|retry-after)' | tr '\\n' ' '"
        ),
        "echo".into(),
        format!("{page} http://127.0.0.1/ | grep -c maintenance || true"),
    ];
    let services = [("pingserver", 8070), ("message-server", 8090), ("appserver", 8080)];
    let all_paused = Topology::new(units.clone(), Some(units[0])).with_draining(units.clone());
    let (_, answers) = behind_real_haproxy_of(&all_paused, &settings, &services, &[], &commands);
    assert_eq!(
        answers,
        ["HTTP/1.0 503 Service Unavailable retry-after: 60 ", "HTTP/1.0 503 Service Unavailable retry-after: 60 ", "1"]
    );

    let one_serving = Topology::new(units.clone(), Some(units[0])).with_draining(vec![units[1]]);
    let (_, answers) = behind_real_haproxy_of(&one_serving, &settings, &services, &[], &commands);
    assert_eq!(answers, ["HTTP/1.1 200 OK ", "HTTP/1.1 200 OK ", "0"]);
}

/// worker_counts raised on every unit at once: each unit's HAProxy added the
/// new worker of every unit before those units ran it, so with three units a
/// request could meet the absent new worker of each in turn and use up its
/// retries (the lab saw 3 of 2,128 HTTPS requests fail). A peer's workers
/// now get servers once it says it runs them (`workers` in its peer bag);
/// this unit's own, which it starts in the same hook, at once.
#[test]
fn a_worker_added_everywhere_at_once_was_routed_to_before_its_unit_ran_it() {
    let mut unit = ready_leader(2);
    for peer in [1, 2] {
        let bag = unit.peer_relation().remote_units.get_mut(&format!("landscape-server/{peer}")).unwrap();
        bag.insert("workers".into(), "2".into());
    }
    // Restart at once rather than drained first (tests/it/drain.rs).
    unit.set_config("haproxy_drain_timeout", json!(0));
    unit.set_config("worker_counts", json!(3));
    assert_eq!(unit.hook("config-changed").code, 0);
    let count = |unit: &Unit, address: &str| {
        let config = unit.haproxy_config().unwrap();
        crate::harness::backend_servers(&config, "landscape-http-appserver")
            .iter()
            .filter(|(_, target)| target.starts_with(&format!("{address}:")))
            .count()
    };
    assert_eq!((count(&unit, "10.1.77.18"), count(&unit, "10.1.78.1"), count(&unit, "10.1.78.2")), (3, 2, 2));
    assert_eq!(unit.peer_relation().local_unit_data.get("workers").map(String::as_str), Some("3"));
    let bag = unit.peer_relation().remote_units.get_mut("landscape-server/1").unwrap();
    bag.insert("workers".into(), "3".into());
    assert_eq!(unit.relation_changed("replicas", 0, Some("landscape-server/1")).code, 0);
    assert_eq!((count(&unit, "10.1.78.1"), count(&unit, "10.1.78.2")), (3, 2));
    // Lowered: every unit's servers go at once (they go before the workers stop).
    unit.set_config("worker_counts", json!(1));
    assert_eq!(unit.hook("config-changed").code, 0);
    assert_eq!((count(&unit, "10.1.77.18"), count(&unit, "10.1.78.1"), count(&unit, "10.1.78.2")), (1, 1, 1));
}
