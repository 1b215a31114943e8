//! update-status without the full reconcile.
//!
//! Relation data and config change only through their own hooks, and each of
//! those runs the full reconcile. Between hooks only four things can change:
//! leadership, the unit's address, the workload (a process dies) and the
//! clock (a certificate's renewal falls due). So every successful full
//! reconcile records what it saw of them, and the status it set, in unit
//! state, which is transactional with the hook: a hook that fails leaves the
//! record of the last one that did not. update-status compares the present
//! with that record and, when everything still holds, stops: `state-get`,
//! `is-leader`, `network-get` and one `systemctl is-active`, whatever the
//! number of peers. Anything that differs falls through to the full
//! reconcile, as does a Blocked unit (something outside Juju, a URL or an
//! archive, may have recovered since). A Waiting unit waits on relations and
//! the leader, which only hooks bring.

use std::os::unix::fs::MetadataExt;

use serde::{Deserialize, Serialize};

use crate::fsutil;
use crate::haproxy::apply::HAPROXY_SERVICE;
use crate::host::Host;
use crate::juju::metadata::PEER_ENDPOINT;
use crate::juju::{HookToolError, StatusName};
use crate::status::Status;
use crate::system::Cmd;
use crate::tls;
use crate::unit_state::{StateKey, UnitState};

// Unit state: the last full reconcile's [`Record`], as JSON.

/// What the last full reconcile saw and set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    /// The build that wrote it: a refreshed charm starts afresh.
    pub charm: String,
    pub leader: bool,
    /// This unit's `replicas` bind address.
    pub address: Option<String>,
    pub status: String,
    pub message: String,
    /// The systemd units that must be active.
    pub units: Vec<String>,
    /// Whether an HAProxy certificate bundle was installed.
    pub certificate: bool,
}

impl Record {
    /// The record of a reconcile that ended with `status`; `landscape_units`
    /// are the Landscape services this unit runs when it is ready.
    pub fn new(
        host: &Host<'_>,
        leader: bool,
        address: Option<String>,
        status: &Status,
        landscape_units: &[&str],
    ) -> Self {
        let mut units = vec![HAPROXY_SERVICE.to_string()];
        // Active means Landscape is ready and not paused: its services run.
        if status.name == StatusName::Active {
            units.extend(landscape_units.iter().map(|u| u.to_string()));
        }
        Record {
            charm: charm_build().to_string(),
            leader,
            address,
            status: status.name.as_str().to_string(),
            message: status.message.clone(),
            units,
            certificate: host.paths.haproxy_pem().exists(),
        }
    }

    pub fn parse(unit_state: &UnitState) -> Option<Self> {
        serde_json::from_str(unit_state.get(&StateKey::LastReconcile)?).ok()
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("a record always serializes")
    }
}

/// This build of the charm: its version and its binary's size and mtime, so
/// that `juju refresh` (a new `dispatch`) never trusts an older record.
/// Asked of the filesystem once per dispatch.
pub fn charm_build() -> &'static str {
    static BUILD: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    BUILD.get_or_init(|| {
        let binary = std::env::current_exe().and_then(std::fs::metadata);
        match binary {
            Ok(meta) => format!("{} {} {}", env!("CARGO_PKG_VERSION"), meta.len(), meta.mtime()),
            Err(_) => env!("CARGO_PKG_VERSION").to_string(),
        }
    })
}

/// Why update-status must run the full reconcile, or `None` when the last
/// record still holds. `is_leader` is read by the caller (the full reconcile
/// needs it too).
pub fn what_changed(
    host: &Host<'_>,
    record: Option<&Record>,
    is_leader: bool,
) -> Result<Option<String>, HookToolError> {
    let Some(record) = record else { return Ok(Some("no record of a full reconcile".into())) };
    if record.charm != charm_build() {
        return Ok(Some("the charm was refreshed".into()));
    }
    // Blocked may have a cause outside Juju (a URL, an archive, a service
    // that would not start) that has recovered since: look again. Not when
    // it only asks for relations: those come with their own hooks.
    if record.status == StatusName::Blocked.as_str()
        && !crate::status::Status::only_missing_relations(&record.status, &record.message)
    {
        return Ok(Some(format!("the unit is blocked ({})", record.message)));
    }
    let debts = [
        (host.paths.haproxy_reload_owed(), "an HAProxy reload is owed"),
        (host.paths.postfix_reload_owed(), "a postfix reload is owed"),
        (host.paths.daemon_reload_owed(), "a systemd daemon-reload is owed"),
    ];
    if let Some((_, why)) = debts.iter().find(|(marker, _)| fsutil::is_owed(marker)) {
        return Ok(Some(why.to_string()));
    }
    if record.leader != is_leader {
        return Ok(Some("leadership moved".into()));
    }
    let network = host.juju.network_get(PEER_ENDPOINT, None)?;
    let address = network.bind_addresses.first().and_then(|a| crate::text::parse_ip(a)).map(|ip| ip.to_string());
    if address != record.address {
        return Ok(Some("the unit's address changed".into()));
    }
    if let Some(why) = certificate_change(host, record) {
        return Ok(Some(why));
    }
    let units: Vec<&str> = record.units.iter().map(String::as_str).collect();
    let active = Cmd::new("systemctl", &["is-active", "--quiet"]);
    let active = units.iter().fold(active, |cmd, unit| cmd.arg(*unit));
    match host.cmds.output(&active) {
        Ok(out) if out.success() => Ok(None),
        Ok(_) => Ok(Some(format!("a service is not running ({})", units.join(", ")))),
        Err(e) => Ok(Some(format!("cannot ask systemd: {e}"))),
    }
}

/// Why the certificate the record vouched for no longer holds, if it does not.
fn certificate_change(host: &Host<'_>, record: &Record) -> Option<String> {
    if !record.certificate {
        return None;
    }
    let bundle = fsutil::read_optional(&host.paths.haproxy_pem()).ok().flatten().unwrap_or_default();
    match tls::bundle_validity(&String::from_utf8_lossy(&bundle)) {
        None => Some("the certificate bundle is gone or unreadable".into()),
        Some(validity) if tls::needs_renewal(validity, tls::now()) => Some("the certificate is due for renewal".into()),
        Some(_) => None,
    }
}
