//! The system commands the charm runs, as the fake answers them: a
//! behaviour the test set, or dpkg-query's and apt-mark's own model, or
//! what postfix and systemd read when they (re)load.

use crate::Reply;
use crate::state::{Behaviour, FakeState};

/// `dpkg-query -W -f=FORMAT package…` as dpkg answers it: `${Package}` and
/// `${Status}` expanded, `\n` as a newline; exit 1 and a line on stderr for
/// each package it does not know.
pub fn dpkg_query(st: &FakeState, args: &[String]) -> Behaviour {
    let format = args.iter().find_map(|a| a.strip_prefix("-f=")).unwrap_or("${Package}\t${Version}\n");
    let mut out = Behaviour::default();
    for package in args.iter().filter(|a| !a.starts_with('-')) {
        if st.missing_packages.contains(package) {
            out.code = 1;
            out.stderr.push_str(&format!("dpkg-query: no packages found matching {package}\n"));
            continue;
        }
        let status = if st.held_packages.contains(package) { "hold ok installed" } else { "install ok installed" };
        out.stdout.push_str(&format.replace("${Package}", package).replace("${Status}", status).replace("\\n", "\n"));
    }
    out
}

/// `apt-mark hold|unhold package…`: what dpkg then reports.
pub fn apt_mark(st: &mut FakeState, args: &[String]) {
    let (verb, packages) = args.split_first().map(|(v, p)| (v.as_str(), p)).unwrap_or(("", &[]));
    for package in packages {
        match verb {
            "hold" => st.held_packages.insert(package.clone()),
            "unhold" => st.held_packages.remove(package),
            _ => false,
        };
    }
}

/// What a command with behaviour `b` prints and how it exits.
pub fn behave(b: &Behaviour) -> Reply {
    Reply { code: b.code, stdout: b.stdout.clone(), stderr: b.stderr.clone() }
}

/// Where the fake keeps what a service read at its last (re)load.
pub const SERVICES_DIR: &str = "run/fake-services";

/// Where `systemctl reload haproxy` leaves one line per signal to the master.
pub const HAPROXY_SIGNALS: &str = "run/fake-services/haproxy-signals";

/// `postmap FILE` writes its map (`FILE.db`, here FILE's text); a reload
/// or restart of postfix reads main.cf and that map, Landscape's start or
/// restart (`lsctl`) service.conf and /etc/default, the outbox (restarted
/// by `snap set`) the task handler's client bundle, and systemd's
/// daemon-reload every drop-in: each copied under [`SERVICES_DIR`]. A
/// reload of HAProxy is a line in [`HAPROXY_SIGNALS`]. Without
/// a root (a test that sets none), nothing is read.
pub fn services(st: &FakeState, program: &str, args: &[String]) {
    let Some(root) = st.fs_root.as_deref().map(std::path::Path::new) else { return };
    let words: Vec<&str> = args.iter().map(String::as_str).collect();
    match (program, words.as_slice()) {
        ("postmap", [.., file]) => {
            let _ = std::fs::copy(file, format!("{file}.db"));
        }
        // The signal a reload sends HAProxy's master, one line each: a test's
        // fake master CLI counts them.
        ("systemctl", ["reload", "haproxy"]) => {
            use std::io::Write;
            let _ = std::fs::create_dir_all(root.join(SERVICES_DIR));
            let signals = std::fs::OpenOptions::new().create(true).append(true).open(root.join(HAPROXY_SIGNALS));
            let _ = signals.and_then(|mut f| f.write_all(b"SIGUSR2\n"));
        }
        ("systemctl", ["reload" | "restart", "postfix"]) => {
            let read = root.join(SERVICES_DIR).join("postfix");
            snapshot(&[root.join("etc/postfix/main.cf"), root.join("etc/postfix/sasl_passwd.db")], &read);
        }
        ("lsctl", ["start" | "restart"]) => {
            let read = root.join(SERVICES_DIR).join("landscape");
            snapshot(&[root.join("etc/landscape/service.conf"), root.join("etc/default/landscape-server")], &read);
        }
        // snapd restarts the outbox when its options change.
        ("snap", ["set" | "restart", "landscape-outbox", ..]) => {
            let certs = root.join("var/snap/landscape-outbox/common/task-handler-certs");
            let files: Vec<std::path::PathBuf> =
                std::fs::read_dir(&certs).into_iter().flatten().flatten().map(|f| f.path()).collect();
            let read = root.join(SERVICES_DIR).join("outbox");
            let _ = std::fs::remove_dir_all(&read);
            snapshot(&files, &read);
        }
        ("systemctl", ["daemon-reload"]) => {
            let system = root.join("etc/systemd/system");
            let dropins: Vec<std::path::PathBuf> = std::fs::read_dir(&system)
                .into_iter()
                .flatten()
                .flatten()
                .filter(|d| d.file_name().to_string_lossy().ends_with(".d"))
                .flat_map(|d| std::fs::read_dir(d.path()).into_iter().flatten().flatten().map(|f| f.path()))
                .collect();
            let read = root.join(SERVICES_DIR).join("systemd");
            let _ = std::fs::remove_dir_all(&read);
            for file in dropins {
                let unit = file.parent().and_then(|p| p.file_name()).map(|n| n.to_string_lossy().into_owned());
                snapshot(std::slice::from_ref(&file), &read.join(unit.unwrap_or_default()));
            }
        }
        _ => {}
    }
}

/// Copies each of `files` that exists into `dir` (emptied first), by name.
fn snapshot(files: &[std::path::PathBuf], dir: &std::path::Path) {
    if files.len() > 1 {
        let _ = std::fs::remove_dir_all(dir);
    }
    let _ = std::fs::create_dir_all(dir);
    for file in files {
        if let Some(name) = file.file_name() {
            let _ = std::fs::copy(file, dir.join(name));
        }
    }
}
