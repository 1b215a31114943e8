//! The crash test: the fake kills `dispatch` at the k-th call (hook tools and
//! faked commands together), for every k of two hooks: a config change
//! (`worker_counts` 2 → 3) and a certificate arrival. After each kill every
//! file the charm writes is old or new and complete; Juju then retries the
//! hook, and the unit must converge to what an uninterrupted run gives, with
//! no temporary file left and no HAProxy reload owed.

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
        for k in 1..=counts[index] {
            let context = format!("{step:?} killed at call {k}");
            let mut unit = ready_leader(1);
            if step == Step::CertificateArrival {
                assert_eq!(run_step(&mut unit, Step::ConfigChange, &ca, None).code, 0);
            }
            let killed = run_step(&mut unit, step, &ca, Some(k));
            assert_ne!(killed.code, 0, "{context}: the hook was not killed");
            kills += 1;
            assert_files_whole(&unit, &context);
            let owed = unit.read(RELOAD_OWED).is_some();
            owed_kills += usize::from(owed);
            // Juju retries the failed hook; then the rest of the sequence.
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
