//! systemd drop-ins that set what Landscape 26.04 reads from its environment.
//!
//! Its unit files hardcode `LANDSCAPE_SYSTEM__DEPLOYMENT_MODE=standalone` in
//! `Environment=`, which overrides service.conf's `deployment_mode`: without a
//! drop-in per service, any other mode is ignored by the services. So each
//! such service gets `deployment-mode.conf` for a mode other than standalone
//! (the package's own value), and the appserver `analytics-id.conf` while
//! `analytics_id` is set. They are written atomically and only when they
//! change, and removed when no longer wanted; systemd reads them at one
//! `daemon-reload` per change. A hook killed between the files and the reload
//! leaves the digest in unit state unchanged, so the next hook reloads.

use crate::config::DeploymentMode;
use crate::fsutil::{self, FsError, Owner};
use crate::host::Host;
use crate::system::{Cmd, CmdError, CommandRunner};
use crate::unit_state::{StateKey, UnitState};

/// The services whose unit files hardcode the standalone mode.
pub const DROPIN_NAME: &str = "deployment-mode.conf";
pub const ANALYTICS_DROPIN: (&str, &str) = ("landscape-appserver.service", "analytics-id.conf");

/// One drop-in: its unit, its file name, and its text (None: absent).
pub type Dropin = (&'static str, &'static str, Option<String>);

/// Every drop-in the charm manages, as it should be.
pub fn desired_all(mode: &DeploymentMode, analytics_id: Option<&str>) -> Vec<Dropin> {
    let mut all: Vec<Dropin> =
        crate::systemd_units::with_dropin().map(|unit| (unit, DROPIN_NAME, desired(mode))).collect();
    let analytics = analytics_id
        .map(|id| format!("[Service]\nEnvironment={}\n", environment_assignment("LANDSCAPE_SYSTEM__ANALYTICS_ID", id)));
    all.push((ANALYTICS_DROPIN.0, ANALYTICS_DROPIN.1, analytics));
    all
}

/// `NAME=value` as systemd's `Environment=` reads it back to the letter:
/// as it is when it holds only plain characters, else quoted, with `\\`
/// and `"` escaped (systemd unquotes C-style) and `%` doubled (systemd
/// expands specifiers such as `%n` even inside quotes).
fn environment_assignment(name: &str, value: &str) -> String {
    let plain = value.chars().all(|c| c.is_ascii_alphanumeric() || "._:/@+,=-".contains(c));
    if plain {
        return format!("{name}={value}");
    }
    let escaped = value.replace('\\', "\\\\").replace('"', "\\\"").replace('%', "%%");
    format!("\"{name}={escaped}\"")
}

#[derive(Debug, thiserror::Error)]
pub enum DropinError {
    #[error(transparent)]
    Fs(#[from] FsError),
    #[error("systemctl daemon-reload: {0}")]
    DaemonReload(#[source] CmdError),
}

/// A reload systemd refuses blocks the unit (the services would run with
/// the old mode); files are faults for Juju to retry.
impl crate::status::Explain for DropinError {
    fn status(&self) -> Option<crate::status::Status> {
        match self {
            DropinError::DaemonReload(_) => Some(crate::status::Status::blocked(crate::status::first_line(self))),
            DropinError::Fs(_) => None,
        }
    }
}

/// Each service's drop-in text for `mode`; none for standalone.
pub fn desired(mode: &DeploymentMode) -> Option<String> {
    (!mode.is_standalone()).then(|| {
        format!(
            "[Service]\nEnvironment={}\n",
            environment_assignment("LANDSCAPE_SYSTEM__DEPLOYMENT_MODE", mode.as_str())
        )
    })
}

/// Puts the drop-ins in place; returns their text, empty when none is
/// wanted (part of what the services read, so a change restarts them).
pub fn reconcile(
    host: &Host<'_>,
    unit_state: &UnitState,
    mode: &DeploymentMode,
    analytics_id: Option<&str>,
) -> Result<String, DropinError> {
    let wanted = desired_all(mode, analytics_id);
    let text: String =
        wanted.iter().filter_map(|(unit, name, text)| Some(format!("{unit}/{name}\n{}", text.as_ref()?))).collect();
    let digest = fsutil::sha256_hex(&[text.as_bytes()]);
    let in_place = |(unit, name, text): &Dropin| {
        let path = host.paths.systemd_dropin(unit, name);
        match text {
            Some(text) => fsutil::is_current(&path, text.as_bytes(), 0o644, Owner::default()),
            None => !path.exists(),
        }
    };
    // The files are checked too: one an operator removed comes back.
    let owed = host.paths.daemon_reload_owed();
    let applied = unit_state.get(&StateKey::DeploymentModeDropins) == Some(&digest);
    if applied && wanted.iter().all(in_place) && !fsutil::is_owed(&owed) {
        return Ok(text);
    }
    // Owed until systemd has re-read them: the digest on record may match
    // already (a drop-in went missing), so a hook killed before the
    // daemon-reload would otherwise leave systemd with another unit.
    fsutil::owe(&owed)?;
    write_all(host, &wanted)?;
    daemon_reload(host.cmds).map_err(DropinError::DaemonReload)?;
    fsutil::pay(&owed)?;
    host.log(crate::juju::LogLevel::Info, &format!("systemd drop-ins now: {}", summary(&wanted)));
    host.stage_state(StateKey::DeploymentModeDropins, digest);
    Ok(text)
}

/// Each drop-in written, or removed when it is not wanted.
fn write_all(host: &Host<'_>, wanted: &[Dropin]) -> Result<(), DropinError> {
    for (unit, name, contents) in wanted {
        let path = host.paths.systemd_dropin(unit, name);
        match contents {
            Some(contents) => {
                fsutil::write_atomic(&path, contents.as_bytes(), 0o644, Owner::default())?;
            }
            None => {
                fsutil::remove_optional(&path)?;
                // Ours alone: an operator's other drop-ins keep the directory.
                if let Some(dir) = path.parent() {
                    let _ = std::fs::remove_dir(dir);
                }
            }
        }
    }
    Ok(())
}

/// `deployment-mode.conf x8, analytics-id.conf`, or `none`.
fn summary(wanted: &[Dropin]) -> String {
    let mut names: Vec<(&str, usize)> = vec![];
    for (_, name, _) in wanted.iter().filter(|(_, _, text)| text.is_some()) {
        match names.iter_mut().find(|(n, _)| n == name) {
            Some((_, count)) => *count += 1,
            None => names.push((name, 1)),
        }
    }
    if names.is_empty() {
        return "none".into();
    }
    let shown: Vec<String> =
        names.iter().map(|(n, c)| if *c > 1 { format!("{n} x{c}") } else { n.to_string() }).collect();
    shown.join(", ")
}

fn daemon_reload(cmds: &dyn CommandRunner) -> Result<(), CmdError> {
    cmds.run(&Cmd::new("systemctl", &["daemon-reload"])).map(drop)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_drop_in_is_two_lines_and_standalone_needs_none() {
        let mode = |m: &str| DeploymentMode::parse(m).unwrap();
        assert_eq!(desired(&mode("standalone")), None);
        assert_eq!(
            desired(&mode("saas")).as_deref(),
            Some("[Service]\nEnvironment=LANDSCAPE_SYSTEM__DEPLOYMENT_MODE=saas\n")
        );
    }

    /// systemd.syntax(7): in a quoted word `\\` and `\"` are escapes, and
    /// systemd.unit(5): `%` starts a specifier anywhere. Each value must be
    /// read back by systemd exactly as given.
    #[test]
    fn values_are_escaped_for_systemd() {
        let cases = [
            ("UA-1", "X=UA-1"),
            ("UA-1%n", "\"X=UA-1%%n\""),
            ("UA\\x41", "\"X=UA\\\\x41\""),
            ("UA\\nINJ", "\"X=UA\\\\nINJ\""),
            ("a \"b\" 'c'", "\"X=a \\\"b\\\" 'c'\""),
            ("%Z", "\"X=%%Z\""),
        ];
        for (value, line) in cases {
            assert_eq!(environment_assignment("X", value), line, "{value}");
        }
    }
}
