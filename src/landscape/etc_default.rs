//! `/etc/default/landscape-server`: which Landscape services `lsctl` runs.
//!
//! The file is shell (`KEY="value"` lines) shipped by the package. Keys the
//! charm manages are replaced in place; a managed key the file lacks is
//! appended, so a package that stops shipping a key cannot silently leave a
//! service in its packaged state (the Python charm only replaced keys already
//! present). Every other line is kept as it is.

use std::collections::BTreeMap;

use crate::config::CharmConfig;
use crate::config::ports::{Placement, Ports, SERVICES};

/// Set first in the file, so Landscape can tell how it was deployed.
pub const DEPLOYED_FROM: (&str, &str) = ("DEPLOYED_FROM", "charm");

/// What this unit runs, from `worker_counts`, leadership and deployment mode.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceSelection {
    pub workers: u16,
    /// Runs cron: the leader alone, from the moment it leads.
    pub is_leader: bool,
    /// Runs package search and the leader-only services of the port table:
    /// the leader, and an old leader while it hands them over.
    pub leader_services: bool,
    pub standalone: bool,
}

impl ServiceSelection {
    /// What a unit with `config` runs, as the leader or not.
    pub fn of(config: &CharmConfig, is_leader: bool) -> Self {
        Self {
            workers: config.worker_counts,
            is_leader,
            leader_services: is_leader,
            standalone: config.landscape.deployment_mode.is_standalone(),
        }
    }

    /// The `RUN_*` values, as the Python charm sets them.
    pub fn run_keys(&self) -> BTreeMap<&'static str, String> {
        let yes_no = |b: bool| if b { "yes" } else { "no" }.to_string();
        // The services of the port table: a worker count, or yes/no.
        let mut keys: BTreeMap<&'static str, String> = SERVICES
            .iter()
            .filter_map(|spec| {
                let value = match (spec.ports, spec.placement) {
                    (Ports::PerWorker, _) => self.workers.to_string(),
                    (Ports::One, Placement::EveryUnit) => "yes".to_string(),
                    (Ports::One, Placement::Leader) => yes_no(self.leader_services && self.standalone),
                };
                Some((spec.run_key?, value))
            })
            .collect();
        // The services without a port of their own.
        keys.extend([
            ("RUN_ALL", "no".to_string()),
            ("RUN_ASYNC_FRONTEND", "yes".to_string()),
            ("RUN_JOBHANDLER", "yes".to_string()),
            ("RUN_CRON", yes_no(self.is_leader)),
            ("RUN_PACKAGESEARCH", yes_no(self.leader_services)),
            ("RUN_PPPA_PROXY", "no".to_string()),
        ]);
        keys
    }
}

impl ServiceSelection {
    /// The systemd units that run while Landscape is up, for this selection:
    /// what update-status checks with one `systemctl is-active`.
    pub fn systemd_units(&self) -> Vec<&'static str> {
        crate::systemd_units::steady(self.leader_services, self.standalone)
    }
}

fn key_of(line: &str) -> Option<&str> {
    let line = line.trim_start();
    let line = line.strip_prefix("export ").unwrap_or(line);
    let (key, _) = line.split_once('=')?;
    (!key.is_empty() && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')).then_some(key)
}

/// Returns `text` with `values` set. Only the charm's own values are written,
/// and they are all plain words or numbers, so quoting is simple.
pub fn apply(text: &str, values: &BTreeMap<&'static str, String>) -> String {
    // Every other line as it was, in the file's own line ending.
    let eol = crate::text::line_ending(text);
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    let (deployed_key, deployed_value) = DEPLOYED_FROM;
    if !lines.iter().any(|l| key_of(l) == Some(deployed_key)) {
        lines.insert(0, format!("{deployed_key}=\"{deployed_value}\""));
    }
    for (key, value) in values {
        let wanted = format!("{key}=\"{value}\"");
        match lines.iter().position(|l| key_of(l) == Some(key)) {
            Some(i) => lines[i] = wanted,
            None => lines.push(wanted),
        }
    }
    let mut out = lines.join(eol);
    out.push_str(eol);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_in_place_appends_missing_and_marks_the_deployment() {
        let packaged = "# Landscape services\nRUN_ALL=\"yes\"\nRUN_APPSERVER=\"1\"\nOTHER=keep\n";
        let keys =
            ServiceSelection { workers: 3, is_leader: false, leader_services: false, standalone: true }.run_keys();
        let out = apply(packaged, &keys);
        assert!(
            out.starts_with("DEPLOYED_FROM=\"charm\"\n# Landscape services\nRUN_ALL=\"no\"\nRUN_APPSERVER=\"3\"\n")
        );
        assert!(out.contains("OTHER=keep\n"));
        assert!(out.contains("RUN_PACKAGESEARCH=\"no\"\n"));
        assert_eq!(apply(&out, &keys), out, "applying twice changes nothing");
    }

    #[test]
    fn leader_runs_the_leader_only_services_and_upload_only_standalone() {
        let leader =
            ServiceSelection { workers: 2, is_leader: true, leader_services: true, standalone: true }.run_keys();
        assert_eq!(leader["RUN_PACKAGESEARCH"], "yes");
        assert_eq!(leader["RUN_CRON"], "yes");
        assert_eq!(leader["RUN_PACKAGEUPLOADSERVER"], "yes");
        let saas =
            ServiceSelection { workers: 2, is_leader: true, leader_services: true, standalone: false }.run_keys();
        assert_eq!(saas["RUN_PACKAGEUPLOADSERVER"], "no");
    }

    #[test]
    fn an_old_leader_handing_over_keeps_package_search_and_upload_but_not_cron() {
        let old = ServiceSelection { workers: 2, is_leader: false, leader_services: true, standalone: true }.run_keys();
        assert_eq!(old["RUN_PACKAGESEARCH"], "yes");
        assert_eq!(old["RUN_PACKAGEUPLOADSERVER"], "yes");
        assert_eq!(old["RUN_CRON"], "no");
    }
}
