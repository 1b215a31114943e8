//! The crash tests. The fake kills `dispatch` at the k-th call (hook tools
//! and faked commands together), for every k of two hooks: a config change
//! (`worker_counts` 2 → 3) and a certificate arrival. After each kill every
//! file the charm writes is old or new and complete; Juju then retries the
//! hook, and the unit must converge to what an uninterrupted run gives, with
//! no temporary file left and no HAProxy reload owed.
//!
//! Four hooks of the 26.04 parts get the same, and ENOSPC (strace's fault
//! injection) at every file syscall `dispatch` makes on the unit's files:
//! after each fault the files are old or new, and the hook Juju runs next
//! converges, with postfix, systemd, Landscape and the outbox running what
//! is on disk (the fake keeps what each read at its last reload).

use landscape_server::ini::IniDocument;
use serde_json::json;

use crate::fixtures::{TestCa, haproxy_check_strict, issue_certificate};
use crate::harness::{Dispatch, RunResult, TLS_RELATION, Unit, ready_leader};

const RELOAD_OWED: &str = "/var/lib/landscape-server-charm/haproxy-reload-owed";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    ConfigChange,
    CertificateArrival,
}

/// Runs `step` on `unit`, killed at call `kill_at` if given.
fn run_step(unit: &mut Unit, step: Step, ca: &TestCa, kill_at: Option<usize>) -> RunResult {
    unit.state.kill_at_call = kill_at;
    let run = match step {
        Step::ConfigChange => {
            // Its peer never drains it: restart at once.
            unit.set_config("haproxy_drain_timeout", json!(0));
            unit.set_config("worker_counts", json!(3));
            unit.run(Dispatch::Hook("config-changed".into()))
        }
        Step::CertificateArrival => {
            if kill_at.is_some() || unit.relation(TLS_RELATION).remote_app_data.is_empty() {
                issue_certificate(unit, TLS_RELATION, ca, 0, 90);
            }
            unit.relation_changed("load-balancer-certificates", TLS_RELATION, Some("self-signed-certificates/0"))
        }
    };
    unit.state.kill_at_call = None;
    run
}

/// What a kill may leave: each file old or new, and whole.
fn assert_files_whole(unit: &Unit, context: &str) {
    let config = unit.haproxy_config().expect("haproxy.cfg is there");
    haproxy_check_strict(&config).unwrap_or_else(|e| panic!("{context}: haproxy.cfg is not whole: {e}"));
    let pem = unit.read("/etc/haproxy/haproxy.pem").expect("haproxy.pem is there");
    assert!(
        pem.contains("-----BEGIN CERTIFICATE-----") && pem.contains("PRIVATE KEY-----") && pem.ends_with('\n'),
        "{context}: haproxy.pem is not whole"
    );
    let conf = unit.read("/etc/landscape/service.conf").expect("service.conf is there");
    IniDocument::parse(&conf).unwrap_or_else(|e| panic!("{context}: service.conf is not whole: {e}"));
}

/// Files of atomic writes that a killed hook left (`.name.tmp-PID`).
fn temporary_files(unit: &Unit) -> Vec<String> {
    fn walk(dir: &std::path::Path, found: &mut Vec<String>) {
        for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                walk(&path, found);
            } else if path.file_name().is_some_and(|n| n.to_string_lossy().contains(".tmp-")) {
                found.push(path.display().to_string());
            }
        }
    }
    let mut found = vec![];
    walk(&unit.root(), &mut found);
    found
}

fn calls(run: &RunResult) -> usize {
    run.tool_calls.len() + run.commands.len()
}

/// The end state that matters: status, HAProxy's config, the certificate
/// served (the one issued, not the test bundle), nothing owed.
fn end_state(unit: &Unit, issued: bool) -> (String, String, bool) {
    let root = unit.root().display().to_string();
    let config = unit.haproxy_config().unwrap().replace(&root, "");
    // Each run's certificate is signed in its own second: its expiry gauge
    // is the only line that may differ.
    let expiry = "landscape_haproxy_certificate_expiry_timestamp_seconds ";
    let config = match config.find(&format!("\\n{expiry}")) {
        Some(at) => {
            let start = at + 2 + expiry.len();
            let digits = config[start..].chars().take_while(char::is_ascii_digit).count();
            format!("{}N{}", &config[..start], &config[start + digits..])
        }
        None => config,
    };
    let pem = unit.read("/etc/haproxy/haproxy.pem").unwrap();
    (format!("{:?}", unit.status()), config, issued && pem != crate::fixtures::test_pem())
}

#[test]
fn a_hook_killed_at_any_call_leaves_whole_files_and_the_retry_converges() {
    let ca = TestCa::new("crash-test CA");
    // The uninterrupted run, and how many calls each step makes.
    let mut reference = ready_leader(1);
    let counts = [Step::ConfigChange, Step::CertificateArrival].map(|step| {
        let run = run_step(&mut reference, step, &ca, None);
        assert_eq!(run.code, 0, "{step:?}: {}", run.stderr);
        calls(&run)
    });
    let wanted = end_state(&reference, true);
    assert!(wanted.2, "the issued certificate is served");
    assert!(reference.read(RELOAD_OWED).is_none());

    let (mut kills, mut owed_kills) = (0, 0);
    for (index, step) in [Step::ConfigChange, Step::CertificateArrival].into_iter().enumerate() {
        // The unit before the step, put back before each kill point.
        let mut unit = ready_leader(1);
        if step == Step::CertificateArrival {
            assert_eq!(run_step(&mut unit, Step::ConfigChange, &ca, None).code, 0);
        }
        let saved = unit.save();
        for k in 1..=counts[index] {
            let context = format!("{step:?} killed at call {k}");
            unit.restore(&saved);
            let killed = run_step(&mut unit, step, &ca, Some(k));
            assert_ne!(killed.code, 0, "{context}: the hook was not killed");
            kills += 1;
            assert_files_whole(&unit, &context);
            let owed = unit.read(RELOAD_OWED).is_some();
            owed_kills += usize::from(owed);
            // Juju retries the failed hook; then the rest of the sequence,
            // in this process (the binary's part was the killed run).
            unit.in_process = true;
            let retry = run_step(&mut unit, step, &ca, None);
            assert_eq!(retry.code, 0, "{context}: the retry failed: {}", retry.stderr);
            if owed {
                let reloaded = retry.command_lines().iter().any(|l| {
                    ["systemctl reload haproxy", "systemctl restart haproxy", "systemctl enable --now haproxy"]
                        .contains(&l.as_str())
                });
                assert!(reloaded, "{context}: a reload was owed and the retry did not reload");
            }
            if step == Step::ConfigChange {
                assert_eq!(run_step(&mut unit, Step::CertificateArrival, &ca, None).code, 0);
            }
            unit.in_process = false;
            assert_eq!(end_state(&unit, true), wanted, "{context}: the unit did not converge");
            assert!(unit.read(RELOAD_OWED).is_none(), "{context}: a reload is still owed");
            let left = temporary_files(&unit);
            assert!(left.is_empty(), "{context}: temporary files left: {left:?}");
        }
    }
    assert_eq!(kills, counts[0] + counts[1]);
    // Some kills fell between a rename and its reload: the case that matters.
    assert!(owed_kills > 0, "no kill point left a reload owed");
    println!("{kills} kill points, {owed_kills} of them with a reload owed");
}

/// A hook of the 26.04 parts for the crash test: the unit before it, and
/// the hook (the same for the faulted run and Juju's retry).
struct Scenario {
    name: &'static str,
    setup: fn() -> Unit,
    hook: fn(&mut Unit) -> RunResult,
}

/// smtp relation-changed turning SASL and STARTTLS on.
fn smtp_turns_sasl_and_starttls_on() -> Unit {
    let mut unit = crate::companions::smtp::postfix_unit();
    crate::companions::smtp::add_password_secret(&mut unit);
    let plain = [("host", "smtp.example.com"), ("port", "25"), ("auth_type", "none"), ("transport_security", "none")];
    assert_eq!(crate::companions::smtp::relate(&mut unit, &plain).code, 0);
    let bag = crate::companions::smtp::STARTTLS_SASL.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    unit.state.relation_mut(crate::companions::smtp::REL).unwrap().remote_app_data = bag;
    unit
}

/// The task handler's answer arriving.
fn task_handler_answers() -> Unit {
    let mut unit = crate::companions::task_handler::leader_with_package_service_conf();
    assert_eq!(crate::companions::task_handler::relate_task_handler(&mut unit, &[]).code, 0);
    crate::companions::task_handler::add_certs_secret(&mut unit, crate::companions::task_handler::KEY);
    let answer = [
        ("grpc-address", "landscape.example.com:50053"),
        ("certs-secret-id", crate::companions::task_handler::CERTS_SECRET),
        ("certs-revision", "1"),
    ];
    let rel = unit.state.relation_mut(crate::companions::task_handler::REL).unwrap();
    rel.remote_app_data = answer.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    unit
}

/// update-status after a Blocked hook (systemd refused a daemon-reload),
/// the cause gone, a drop-in and the SASL map gone from disk: it falls
/// through to a whole reconcile.
fn update_status_after_a_blocked_hook() -> Unit {
    let mut unit = smtp_turns_sasl_and_starttls_on();
    unit.set_config("deployment_mode", json!("saas"));
    assert_eq!(unit.relation_changed("smtp", crate::companions::smtp::REL, None).code, 0);
    unit.set_config("analytics_id", json!("UA-1"));
    unit.fail_command("systemctl daemon-reload", 1, "Failed to reload daemon: Access denied");
    assert_eq!(unit.hook("config-changed").code, 0);
    assert_eq!(unit.status().0, "blocked");
    unit.state.command_behaviours.clear();
    for gone in [
        "/etc/systemd/system/landscape-api.service.d/deployment-mode.conf",
        "/etc/postfix/sasl_passwd",
        "/etc/postfix/sasl_passwd.db",
    ] {
        std::fs::remove_file(unit.path(gone)).unwrap();
    }
    unit
}

fn run_smtp_changed(unit: &mut Unit) -> RunResult {
    unit.relation_changed("smtp", crate::companions::smtp::REL, None)
}

fn run_task_handler_changed(unit: &mut Unit) -> RunResult {
    unit.relation_changed("task-handler", crate::companions::task_handler::REL, None)
}

fn run_update_status(unit: &mut Unit) -> RunResult {
    unit.hook("update-status")
}

fn run_upgrade_charm(unit: &mut Unit) -> RunResult {
    unit.hook("upgrade-charm")
}

const SCENARIOS: [Scenario; 4] = [
    Scenario { name: "smtp SASL and STARTTLS on", setup: smtp_turns_sasl_and_starttls_on, hook: run_smtp_changed },
    Scenario { name: "the task handler answers", setup: task_handler_answers, hook: run_task_handler_changed },
    Scenario {
        name: "update-status after a blocked hook",
        setup: update_status_after_a_blocked_hook,
        hook: run_update_status,
    },
    Scenario {
        name: "upgrade-charm from the 26.04 charm",
        setup: crate::scenario::unit_as_the_26_04_charm_left_it,
        hook: run_upgrade_charm,
    },
];

/// The files the 26.04 parts write whose text is the same on every unit
/// built the same way (service.conf holds generated secrets): relative
/// path to text, the unit's root taken out.
fn watched_files(unit: &Unit) -> std::collections::BTreeMap<String, String> {
    let root = unit.root();
    let mut found = std::collections::BTreeMap::new();
    for dir in ["etc/haproxy", "etc/postfix", "etc/systemd/system", "etc/default", "var/snap"] {
        let mut stack = vec![root.join(dir)];
        while let Some(dir) = stack.pop() {
            for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
                let path = entry.path();
                let name = entry.file_name().to_string_lossy().into_owned();
                if path.is_dir() {
                    if name != "errors" {
                        stack.push(path);
                    }
                } else if !name.contains(".tmp-") {
                    let text = String::from_utf8_lossy(&std::fs::read(&path).unwrap_or_default()).into_owned();
                    let relative = path.strip_prefix(&root).unwrap().display().to_string();
                    found.insert(relative, text.replace(&root.display().to_string(), ""));
                }
            }
        }
    }
    found
}

/// Whether postfix, systemd, Landscape and the outbox run what is on disk:
/// what each read at its last (re)load or restart (the fake's copies) is
/// what the files hold now. (HAProxy's debt is checked on its own.)
fn services_run_what_is_on_disk(unit: &Unit) -> Result<(), String> {
    let root = unit.root();
    let read = root.join(fake_juju::SERVICES_DIR);
    let same = |running: std::path::PathBuf, disk: std::path::PathBuf| {
        let (r, d) = (std::fs::read(&running).ok(), std::fs::read(&disk).ok());
        if r == d { Ok(()) } else { Err(format!("{} runs another {}", running.display(), disk.display())) }
    };
    if read.join("postfix").exists() {
        for file in ["main.cf", "sasl_passwd.db"] {
            same(read.join("postfix").join(file), root.join("etc/postfix").join(file))?;
        }
    }
    if read.join("landscape").exists() {
        same(read.join("landscape/service.conf"), root.join("etc/landscape/service.conf"))?;
        same(read.join("landscape/landscape-server"), root.join("etc/default/landscape-server"))?;
    }
    let certs = root.join("var/snap/landscape-outbox/common/task-handler-certs");
    for file in ["ca.crt", "client.crt", "client.key"] {
        if read.join("outbox").exists() || certs.join(file).exists() {
            same(read.join("outbox").join(file), certs.join(file))?;
        }
    }
    let system = root.join("etc/systemd/system");
    for entry in std::fs::read_dir(&system).into_iter().flatten().flatten() {
        for file in std::fs::read_dir(entry.path()).into_iter().flatten().flatten() {
            let unit_dir = entry.file_name();
            same(read.join("systemd").join(&unit_dir).join(file.file_name()), file.path())?;
        }
    }
    Ok(())
}

/// The end state a retried hook must reach: status, the watched files,
/// nothing owed, no temporary file, every service running what is on disk.
fn converged(unit: &Unit, wanted: &(String, std::collections::BTreeMap<String, String>)) -> Result<(), String> {
    let status = format!("{:?}", unit.status());
    if status != wanted.0 {
        return Err(format!("status {status}, not {}", wanted.0));
    }
    let files = watched_files(unit);
    if files != wanted.1 {
        let differ: Vec<&String> =
            files.keys().chain(wanted.1.keys()).filter(|k| files.get(*k) != wanted.1.get(*k)).collect();
        return Err(format!("files differ from an uninterrupted run: {differ:?}"));
    }
    let owed = ["haproxy", "postfix", "systemd-daemon"]
        .map(|s| format!("/var/lib/landscape-server-charm/{s}-reload-owed"))
        .into_iter()
        .filter(|m| unit.read(m).is_some())
        .collect::<Vec<_>>();
    if !owed.is_empty() {
        return Err(format!("still owed: {owed:?}"));
    }
    let left = temporary_files(unit);
    if !left.is_empty() {
        return Err(format!("temporary files left: {left:?}"));
    }
    services_run_what_is_on_disk(unit)
}

const HAPROXY_CFG: &str = "etc/haproxy/haproxy.cfg";

/// Every watched file is the one before the hook or the one after it (each
/// checked whole once, HAProxy's config by the real HAProxy).
fn old_or_new(
    unit: &Unit,
    before: &std::collections::BTreeMap<String, String>,
    after: &std::collections::BTreeMap<String, String>,
) -> Result<(), String> {
    // Candidates are scratch: what is live is what matters here.
    for (path, text) in watched_files(unit).into_iter().filter(|(path, _)| !path.ends_with(".candidate")) {
        if before.get(&path) != Some(&text) && after.get(&path) != Some(&text) {
            return Err(format!("{path} is neither old nor new"));
        }
    }
    // service.conf holds generated secrets, so it is not compared with
    // another unit's; a half-written one would not parse.
    if let Some(conf) = unit.read("/etc/landscape/service.conf") {
        IniDocument::parse(&conf).map_err(|e| format!("service.conf is not whole: {e}"))?;
    }
    // Old or new, it was checked whole with the uninterrupted run.
    match unit.haproxy_config() {
        Some(_) => Ok(()),
        None if !before.contains_key(HAPROXY_CFG) => Ok(()),
        None => Err("haproxy.cfg is gone".into()),
    }
}

/// The file syscalls a fault is injected into.
const FILE_SYSCALLS: [&str; 7] = ["openat", "write", "rename", "fsync", "unlink", "mkdir", "fchmod"];

/// Where ENOSPC is injected: for each of [`FILE_SYSCALLS`], the numbers of
/// its calls (strace's `when=`) that `dispatch` made in the uninterrupted
/// hook. Of the opens, those of the unit's files (the rest open /dev/null
/// for a child's stdin, or the loader's and libc's files).
fn injection_points(unit: &mut Unit, hook: fn(&mut Unit) -> RunResult) -> Vec<(&'static str, usize)> {
    let trace = tempfile::NamedTempFile::new().unwrap();
    let path = trace.path().display().to_string();
    let traced = format!("trace={}", FILE_SYSCALLS.join(","));
    unit.wrapper = Some(["strace", "-o", &path, "-e", &traced].map(str::to_string).to_vec());
    assert_eq!(hook(unit).code, 0);
    unit.wrapper = None;
    let root = unit.root().display().to_string();
    let text = std::fs::read_to_string(trace.path()).unwrap();
    let mut seen: std::collections::BTreeMap<&str, usize> = std::collections::BTreeMap::new();
    let mut points = vec![];
    for line in text.lines() {
        let Some(name) = FILE_SYSCALLS.iter().find(|name| line.starts_with(&format!("{name}("))) else { continue };
        let n = seen.entry(name).or_default();
        *n += 1;
        if *name != "openat" || line.contains(&root) {
            points.push((*name, *n));
        }
    }
    points
}

/// Kills at every call, and ENOSPC at every file syscall `dispatch` makes
/// on the unit's files, in `scenario`: after each fault every watched file
/// is old or new and whole, and the hook Juju runs next (the retry of a
/// failed hook, or update-status after one that blocked) converges to the
/// uninterrupted end state with every service running what is on disk.
/// The faulted run is the binary; the next hook runs in this process.
fn every_fault_converges(scenario: &Scenario) {
    let mut unit = (scenario.setup)();
    let saved = unit.save();
    let before = watched_files(&unit);
    let reference = (scenario.hook)(&mut unit);
    assert_eq!(reference.code, 0, "{}: {}", scenario.name, reference.stderr);
    let wanted = (format!("{:?}", unit.status()), watched_files(&unit));
    converged(&unit, &wanted).unwrap_or_else(|e| panic!("{}: the uninterrupted run: {e}", scenario.name));
    for config in [before.get(HAPROXY_CFG), wanted.1.get(HAPROXY_CFG)].into_iter().flatten() {
        let config = config.replace("/etc/", &format!("{}/etc/", unit.root().display()));
        haproxy_check_strict(&config).unwrap_or_else(|e| panic!("{}: haproxy.cfg: {e}", scenario.name));
    }
    let calls = calls(&reference);
    unit.restore(&saved);
    let points = injection_points(&mut unit, scenario.hook);
    let mut faults: Vec<(String, Option<Vec<String>>, Option<usize>)> =
        (1..=calls).map(|k| (format!("killed at call {k}"), None, Some(k))).collect();
    for (name, n) in &points {
        let inject = format!("inject={name}:error=ENOSPC:when={n}");
        let wrapper = ["strace", "-o", "/dev/null", "-e", &format!("trace={name}"), "-e", &inject];
        faults.push((format!("ENOSPC at {name} {n}"), Some(wrapper.map(str::to_string).to_vec()), None));
    }
    let (mut failed_hooks, mut blocked_hooks) = (0, 0);
    for (fault, wrapper, kill_at) in &faults {
        let context = format!("{}: {fault}", scenario.name);
        unit.restore(&saved);
        unit.wrapper = wrapper.clone();
        unit.state.kill_at_call = *kill_at;
        let faulted = (scenario.hook)(&mut unit);
        unit.wrapper = None;
        unit.state.kill_at_call = None;
        old_or_new(&unit, &before, &wanted.1).unwrap_or_else(|e| panic!("{context}: {e}"));
        if faulted.code == 0 && format!("{:?}", unit.status()) == wanted.0 {
            // A hook that says it worked did all of it.
            converged(&unit, &wanted).unwrap_or_else(|e| panic!("{context}, which exited 0: {e}"));
            continue;
        }
        // A failed hook is retried by Juju; one that said what stopped it
        // (Blocked) is finished by the next update-status, which falls
        // through to a whole reconcile after a Blocked hook.
        unit.in_process = true;
        let next = if faulted.code == 0 {
            blocked_hooks += 1;
            run_update_status(&mut unit)
        } else {
            failed_hooks += 1;
            (scenario.hook)(&mut unit)
        };
        unit.in_process = false;
        assert_eq!(next.code, 0, "{context}: the next hook failed: {}", next.stderr);
        converged(&unit, &wanted).unwrap_or_else(|e| panic!("{context}, then the next hook: {e}"));
    }
    assert!(failed_hooks > 0, "{}: no fault failed the hook", scenario.name);
    println!(
        "{}: {} faults ({calls} kills, {} ENOSPC), {failed_hooks} failed the hook, {blocked_hooks} blocked it",
        scenario.name,
        faults.len(),
        points.len()
    );
}

#[test]
fn smtp_turning_sasl_and_starttls_on_converges_after_any_fault() {
    every_fault_converges(&SCENARIOS[0]);
}

#[test]
fn the_task_handlers_answer_converges_after_any_fault() {
    every_fault_converges(&SCENARIOS[1]);
}

#[test]
fn update_status_after_a_blocked_hook_converges_after_any_fault() {
    every_fault_converges(&SCENARIOS[2]);
}

#[test]
fn upgrade_charm_from_the_26_04_charm_converges_after_any_fault() {
    every_fault_converges(&SCENARIOS[3]);
}
