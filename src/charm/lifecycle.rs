//! The unit's lifecycle around the reconcile: the packages every part
//! needs, the end of a drain (the services stop), and `stop`/`remove`.

use crate::companions;
use crate::config::CharmConfig;
use crate::drain;
use crate::error::CharmError;
use crate::haproxy::{ApplyError, apply};
use crate::host::Host;
use crate::juju::LogLevel;
use crate::landscape::{self, install};
use crate::system::Cmd;
use crate::system::apt::{self, InstalledPackages};
use crate::unit_state::{StateKey, UnitState};

use super::World;

/// Every package whose presence some part decides on, asked in one `dpkg-query`.
const MANAGED_PACKAGES: &[&str] = &[
    install::LANDSCAPE_PACKAGE,
    apply::HAPROXY_PACKAGE,
    install::INSTALLER_ATTACH_PACKAGE,
    install::NEEDRESTART_PACKAGE,
];

/// Stops the services of a unit whose drain is done (every peer drained
/// it, or the timeout passed), and records it paused. Both records are
/// written at once: a hook killed between the stop and them stops again.
pub(super) fn finish_drain(host: &Host<'_>, world: &mut World) -> Result<(), CharmError> {
    let timeout = world.config.as_ref().map_or(0, |c| c.haproxy_limits.drain_timeout_secs);
    let progress = drain::progress(&host.ctx.unit_name, &world.peers, &world.unit_state, timeout.into(), drain::now());
    let drain::Progress::Stop { not_drained } = progress else { return Ok(()) };
    if !not_drained.is_empty() {
        host.log(
            LogLevel::Warning,
            &format!(
                "drain: {}s passed; stopping although {} did not drain this unit",
                timeout,
                not_drained.join(", ")
            ),
        );
    }
    stop_services(host)?;
    host.juju.state_set(&crate::juju::Databag::from([(StateKey::Paused.name(), "true".to_string())]))?;
    host.juju.state_delete(&StateKey::DrainStarted.name())?;
    world.unit_state.adjust(&StateKey::Paused, Some("true"));
    world.unit_state.adjust(&StateKey::DrainStarted, None);
    host.log(LogLevel::Info, "drain: done; Landscape services stopped, the unit is paused");
    Ok(())
}

/// Stops Landscape's services and the outbox (what `pause` stops).
pub fn stop_services(host: &Host<'_>) -> Result<(), CharmError> {
    landscape::services::stop(host.cmds)?;
    companions::outbox::stop(host.cmds, &UnitState::new(host.juju.state_get()?))?;
    Ok(())
}

/// Landscape and HAProxy installed (what dpkg says is asked once, when a
/// valid config says there is work to do: a config that blocks the unit
/// runs no command at all).
pub(super) fn ensure_packages(
    host: &Host<'_>,
    world: &World,
    config: &CharmConfig,
) -> Result<InstalledPackages, CharmError> {
    let mut packages = InstalledPackages::query(host.cmds, MANAGED_PACKAGES)?;
    landscape::ensure_installed(host, &world.unit_state, config, &packages)?;
    let haproxy = apply::HAPROXY_PACKAGE;
    let installed = apt::install_if_missing(host.cmds, haproxy, packages.has(haproxy)).map_err(ApplyError::Install)?;
    if installed {
        packages.set(haproxy, true);
        host.log(LogLevel::Info, "installed haproxy");
    }
    // An unattended upgrade must not change HAProxy under a config validated
    // for the version in place; the upgrade action unholds it on purpose.
    if apt::hold_if_unheld(host.cmds, haproxy, &packages).map_err(ApplyError::Install)? {
        host.log(LogLevel::Info, "held haproxy (apt-mark hold)");
    }
    Ok(packages)
}

/// `stop`/`remove`: Landscape and HAProxy go down with the unit.
pub(super) fn stop(host: &Host<'_>) -> Result<(), CharmError> {
    landscape::stop(host);
    // The outbox goes down with Landscape: a unit that is going away must not
    // go on publishing its events.
    if let Err(e) = companions::outbox::stop(host.cmds, &UnitState::new(host.juju.state_get()?)) {
        host.log(LogLevel::Warning, &format!("could not stop the outbox: {e}"));
    }
    let out = host.cmds.output(&Cmd::new("systemctl", &["disable", "--now", apply::HAPROXY_SERVICE]))?;
    if !out.success() {
        host.log(LogLevel::Warning, &format!("could not stop haproxy: {}", out.combined()));
    }
    Ok(())
}
