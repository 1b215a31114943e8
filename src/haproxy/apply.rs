//! Putting a rendered configuration into service, safely.
//!
//! The candidate is written beside the live file, checked by `haproxy -c` as
//! the haproxy user, and only then renamed over `/etc/haproxy/haproxy.cfg`. A
//! rejected candidate never touches the live file or the running HAProxy; it
//! is kept as `haproxy.cfg.rejected` with HAProxy's reason beside it.

use std::collections::BTreeSet;
use std::path::Path;

use super::master;
use super::model::{ERROR_PAGES, PLANNED_OFFLINE_PAGE};
use crate::fsutil::{self, FsError, Owner};
use crate::paths::Paths;
use crate::system::{Cmd, CmdError, CommandRunner};

pub use crate::paths::HAPROXY_USER;
pub const HAPROXY_SERVICE: &str = "haproxy";
pub const HAPROXY_PACKAGE: &str = "haproxy";
/// HAProxy refuses error pages larger than its buffer; stay well below 16 KiB.
const MAX_ERROR_PAGE_BYTES: usize = 15 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    #[error(transparent)]
    Fs(#[from] FsError),
    #[error("cannot install haproxy: {0}")]
    Install(#[source] CmdError),
    #[error("cannot check the HAProxy config: {0}")]
    Validate(#[source] CmdError),
    #[error("HAProxy rejected the new config: {first_error}")]
    Rejected { first_error: String, output: String },
    #[error("HAProxy rejected the new certificate: {first_error}")]
    BundleRejected { first_error: String },
    #[error("cannot reload or start HAProxy: {0}")]
    Service(#[source] CmdError),
    #[error("HAProxy has not taken the new config: its master did not reload on two signals; retrying")]
    ReloadUnconfirmed,
}

/// A refused config blocks the unit with HAProxy's first error; the live one
/// keeps serving. Everything else is a fault to retry.
impl crate::status::Explain for ApplyError {
    fn status(&self) -> Option<crate::status::Status> {
        match self {
            ApplyError::Rejected { .. } | ApplyError::BundleRejected { .. } => {
                Some(crate::status::Status::blocked(self.to_string()))
            }
            // The reload stays owed: update-status sends it again.
            ApplyError::ReloadUnconfirmed => Some(crate::status::Status::waiting(self.to_string())),
            ApplyError::Fs(_) | ApplyError::Install(_) | ApplyError::Validate(_) | ApplyError::Service(_) => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApplyOutcome {
    Unchanged,
    Applied,
}

/// A built-in page with a valid status line, for when Landscape's `file` is
/// missing.
fn builtin_page(status: u16, file: &str) -> String {
    let reason = match status {
        403 => "Forbidden",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => "Error",
    };
    let why = if file == PLANNED_OFFLINE_PAGE.1 {
        "Landscape is down for maintenance; please try again in a few minutes."
    } else {
        "Landscape is not available right now."
    };
    format!(
        "HTTP/1.0 {status} {reason}\r\nCache-Control: no-cache\r\nConnection: close\r\nContent-Type: text/html\r\n\r\n\
         <html><body><h1>{status} {reason}</h1>\n<p>{why}</p></body></html>\n"
    )
}

/// Why a Landscape error page cannot be used as an HAProxy errorfile.
fn page_problem(page: &[u8]) -> Option<&'static str> {
    if page.len() > MAX_ERROR_PAGE_BYTES {
        Some("it is larger than HAProxy's buffer")
    } else if !page.starts_with(b"HTTP/1.") {
        Some("it does not start with an HTTP status line")
    } else if !page.windows(4).any(|w| w == b"\r\n\r\n") && !page.windows(2).any(|w| w == b"\n\n") {
        Some("it has no end of headers")
    } else {
        None
    }
}

/// Copies Landscape's error pages into HAProxy's errors directory, replacing
/// any missing or unusable one by a built-in page, so that `haproxy -c` never
/// fails for want of a page. Returns notes for the log, for the pages it
/// wrote: a built-in page already in place is not logged again every hook.
pub fn sync_error_pages(paths: &Paths, owner: Owner) -> Result<Vec<String>, ApplyError> {
    let mut notes = vec![];
    let mut done = BTreeSet::new();
    for (status, file) in ERROR_PAGES.iter().chain([&PLANNED_OFFLINE_PAGE]) {
        if !done.insert(*file) {
            continue;
        }
        let source = paths.landscape_offline_dir().join(file);
        let (page, note) = match fsutil::read_optional(&source)? {
            Some(page) => match page_problem(&page) {
                None => (page, None),
                Some(problem) => (
                    builtin_page(*status, file).into_bytes(),
                    Some(format!("{} is not usable ({problem}); serving a built-in page", source.display())),
                ),
            },
            None => (
                builtin_page(*status, file).into_bytes(),
                Some(format!("{} is missing; serving a built-in page", source.display())),
            ),
        };
        let written = fsutil::write_atomic(&paths.haproxy_errors_dir().join(file), &page, 0o644, owner)?;
        if written == fsutil::Written::Changed {
            notes.extend(note);
        }
    }
    Ok(notes)
}

/// The first error line of `haproxy -c` output, without its `[ALERT] (pid) :` prefix.
pub fn first_error_line(output: &str) -> String {
    let line = output
        .lines()
        .find(|l| l.contains("[ALERT]"))
        .or_else(|| output.lines().find(|l| !l.trim().is_empty()))
        .unwrap_or("no output from haproxy -c");
    let line = line.trim();
    match line.strip_prefix("[ALERT]") {
        Some(rest) => rest.split_once(" : ").map(|(_, msg)| msg).unwrap_or(rest).trim().to_string(),
        None => line.to_string(),
    }
}

/// `haproxy -c -f <file>`, run as the haproxy user so that files it cannot
/// read are found now rather than at reload.
pub fn validate(cmds: &dyn CommandRunner, file: &Path) -> Result<(), ApplyError> {
    let check = Cmd::new("runuser", &["-u", HAPROXY_USER, "--", "haproxy", "-c", "-f"]).arg(file.display().to_string());
    let out = cmds.output(&check).map_err(ApplyError::Validate)?;
    if out.success() {
        Ok(())
    } else {
        let output = out.combined();
        Err(ApplyError::Rejected { first_error: first_error_line(&output), output })
    }
}

/// Forgets a candidate an earlier hook rejected: once the live config is the
/// one wanted, that candidate is no longer what we want.
pub fn clear_rejected(paths: &Paths) -> Result<(), ApplyError> {
    fsutil::remove_optional(&paths.haproxy_rejected_config())?;
    fsutil::remove_optional(&paths.haproxy_rejected_reason())?;
    Ok(())
}

/// Validates `text` and makes it the live configuration if it differs from it.
pub fn apply_config(
    paths: &Paths,
    cmds: &dyn CommandRunner,
    text: &str,
    owner: Owner,
) -> Result<ApplyOutcome, ApplyError> {
    let live = paths.haproxy_config();
    if fsutil::read_optional(&live)?.is_some_and(|current| current == text.as_bytes()) {
        clear_rejected(paths)?;
        return Ok(ApplyOutcome::Unchanged);
    }
    let candidate = paths.haproxy_candidate_config();
    fsutil::write_atomic(&candidate, text.as_bytes(), 0o644, owner)?;
    match validate(cmds, &candidate) {
        Ok(()) => {
            owe_reload(paths)?;
            fsutil::rename_durable(&candidate, &live)?;
            clear_rejected(paths)?;
            Ok(ApplyOutcome::Applied)
        }
        Err(rejected @ ApplyError::Rejected { .. }) => {
            fsutil::rename_durable(&candidate, &paths.haproxy_rejected_config())?;
            if let ApplyError::Rejected { output, .. } = &rejected {
                fsutil::write_atomic(&paths.haproxy_rejected_reason(), output.as_bytes(), 0o644, Owner::default())?;
            }
            Err(rejected)
        }
        Err(other) => {
            let _ = fsutil::remove_optional(&candidate);
            Err(other)
        }
    }
}

/// Puts the candidate bundle into service only if HAProxy loads it with the
/// config that will use it: `check_text` is that config, naming the
/// candidate's path. A refusal removes the candidate, and the live bundle
/// keeps serving.
pub fn install_bundle(
    paths: &Paths,
    cmds: &dyn CommandRunner,
    check_text: &str,
    owner: Owner,
) -> Result<(), ApplyError> {
    let check = paths.haproxy_candidate_config();
    fsutil::write_atomic(&check, check_text.as_bytes(), 0o644, owner)?;
    let verdict = validate(cmds, &check);
    fsutil::remove_optional(&check)?;
    match verdict {
        Ok(()) => {
            owe_reload(paths)?;
            fsutil::rename_durable(&paths.haproxy_candidate_pem(), &paths.haproxy_pem())?;
            Ok(())
        }
        Err(ApplyError::Rejected { first_error, .. }) => {
            fsutil::remove_optional(&paths.haproxy_candidate_pem())?;
            Err(ApplyError::BundleRejected { first_error })
        }
        Err(other) => Err(other),
    }
}

/// Records, durably, that HAProxy must reload: called before a new config or
/// bundle replaces the live one, so that a crash between the rename and the
/// reload leaves the debt for the next hook.
pub fn owe_reload(paths: &Paths) -> Result<(), FsError> {
    fsutil::owe(&paths.haproxy_reload_owed())
}

/// Makes sure HAProxy runs the live configuration: starts it when it is not
/// running, reloads it (seamlessly: the Ubuntu unit runs master-worker) when
/// `changed` or when an earlier hook owes a reload, and otherwise leaves it
/// alone. The debt is paid only once systemd says the start worked, or the
/// master's reload count moved (when there is a master CLI to ask).
pub fn ensure_running(paths: &Paths, cmds: &dyn CommandRunner, changed: bool) -> Result<(), ApplyError> {
    let owed = fsutil::is_owed(&paths.haproxy_reload_owed());
    let active = cmds
        .output(&Cmd::new("systemctl", &["is-active", "--quiet", HAPROXY_SERVICE]))
        .map_err(ApplyError::Service)?
        .success();
    if !active {
        cmds.run(&Cmd::new("systemctl", &["enable", "--now", HAPROXY_SERVICE])).map_err(ApplyError::Service)?;
    } else if changed || owed {
        reload_confirmed(paths, cmds)?;
    }
    if owed {
        fsutil::pay(&paths.haproxy_reload_owed())?;
    }
    Ok(())
}

/// `systemctl reload`, then the master's word that it reloaded; a signal the
/// master lost is sent once more. Without a master CLI, systemd's word is all
/// there is.
fn reload_confirmed(paths: &Paths, cmds: &dyn CommandRunner) -> Result<(), ApplyError> {
    let socket = paths.haproxy_master_socket();
    let before = master::reloads(&socket);
    for _ in 0..2 {
        cmds.run(&Cmd::new("systemctl", &["reload", HAPROXY_SERVICE])).map_err(ApplyError::Service)?;
        match before {
            None => return Ok(()),
            Some(before) if master::wait_past(&socket, before) => return Ok(()),
            Some(_) => {}
        }
    }
    // Owed still (a new config is owed before it is written): the next hook,
    // or update-status, reloads again.
    fsutil::owe(&paths.haproxy_reload_owed())?;
    Err(ApplyError::ReloadUnconfirmed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_error_line_strips_the_alert_prefix() {
        let out = "[NOTICE]   (1) : haproxy version is 2.6\n[ALERT]    (12) : config : parsing [x.cfg:3] : unknown keyword 'bogus'\n[ALERT] (12) : other";
        assert_eq!(first_error_line(out), "config : parsing [x.cfg:3] : unknown keyword 'bogus'");
        assert_eq!(first_error_line(""), "no output from haproxy -c");
    }

    #[test]
    fn builtin_pages_are_usable_error_files() {
        for (status, file) in ERROR_PAGES.iter().chain([&PLANNED_OFFLINE_PAGE]) {
            assert_eq!(page_problem(builtin_page(*status, file).as_bytes()), None);
        }
        assert!(page_problem(b"<html>oops</html>").is_some());
    }

    #[test]
    fn the_planned_offline_page_is_written_beside_the_others() {
        let dir = tempfile::tempdir().unwrap();
        let paths = Paths::under(dir.path());
        sync_error_pages(&paths, Owner::default()).unwrap();
        let planned = std::fs::read_to_string(paths.haproxy_errors_dir().join(PLANNED_OFFLINE_PAGE.1)).unwrap();
        assert!(planned.starts_with("HTTP/1.0 503 ") && planned.contains("maintenance"), "{planned}");
    }
}
