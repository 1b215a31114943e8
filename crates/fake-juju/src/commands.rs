//! The system commands the charm runs, as the fake answers them: a
//! behaviour the test set, or dpkg-query's and apt-mark's own model.

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
