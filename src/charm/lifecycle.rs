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
use crate::peer_app::PeerKey;
use crate::rollout;
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
    let crate::peers::PeerWait::Over { silent: not_drained } = progress else { return Ok(()) };
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
    stop_services(host, &world.unit_state)?;
    let paused = [(StateKey::Paused, "true".to_string())];
    host.record_state_now(&mut world.unit_state, &paused, &[StateKey::DrainStarted])?;
    host.log(LogLevel::Info, "drain: done; Landscape services stopped, the unit is paused");
    Ok(())
}

/// Records where a restart the services owe stands after the Landscape part
/// ran (`ask`, from [`drain::restart_drain_wanted`]): a drain asked for it, or
/// withdrawn once it is no longer owed (done, or the files are back as the
/// services read them) or another unit goes first; and the workers that run
/// now. Staged: a hook killed before the end asks again.
pub(super) fn restart_in_turn(
    host: &Host<'_>,
    unit_state: &UnitState,
    turn: &drain::RestartTurn,
    ask: bool,
    landscape: &landscape::LandscapeOutcome,
    status: &mut crate::status::StatusCollector,
) {
    if let Some(workers) = landscape.running_workers {
        host.stage_peer_unit(crate::peers::WORKERS_KEY, workers.to_string());
    }
    let asked = unit_state.contains(&StateKey::RestartDrainStarted);
    if ask && !asked {
        host.stage_state(StateKey::RestartDrainStarted, drain::now().to_string());
        host.log(LogLevel::Info, "the services owe a restart for their new files; draining this unit first");
    } else if asked && !ask {
        host.stage_state_delete(StateKey::RestartDrainStarted);
    }
    if ask != asked && !drain::pausing(unit_state) {
        host.stage_peer_unit(crate::peers::DRAIN_KEY, if ask { drain::RESTART_REASON } else { "" });
    }
    if let (true, Some(waiting)) = (landscape.restart_owed, drain::restart_status(turn)) {
        status.add(waiting);
    }
}

/// This unit's step of a rolling upgrade (see [`rollout`]): the leader
/// moves what the units said into the plan; the unit whose turn it is
/// drains, then (drained and stopped) upgrades and starts again. Unit state
/// is written at once, so a hook killed half-way is finished by the next.
pub(super) fn take_rollout_step(host: &Host<'_>, world: &mut World) -> Result<(), CharmError> {
    let Some(mut plan) = rollout::Plan::read(world.peers.app_data.raw()) else { return Ok(()) };
    let unit = host.ctx.unit_name.clone();
    let mut own = rollout::said(&world.peers.own_bag, &plan.id);
    if world.is_leader {
        plan = advance(host, &world.peers, plan, &[])?;
    }
    let step_of = world.unit_state.get(&StateKey::RolloutStep).cloned();
    let paused = world.unit_state.contains(&StateKey::Paused);
    match rollout::turn(&plan, &unit, step_of.as_deref(), paused, &own) {
        rollout::Turn::Drain => begin_rollout_turn(host, &mut world.unit_state, &plan.id)?,
        rollout::Turn::Upgrade => {
            own = upgrade_in_turn(host, world, &plan.id, plan.migrates_schema(&unit))?;
            if world.is_leader {
                advance(host, &world.peers, plan, &[(unit, own)])?;
            }
        }
        rollout::Turn::Wait | rollout::Turn::None => {}
    }
    Ok(())
}

/// This unit's turn in rollout `id` begins: it asks to be drained, as
/// `pause` does (recorded at once: the drain spans hooks).
pub fn begin_rollout_turn(host: &Host<'_>, unit_state: &mut UnitState, id: &str) -> Result<(), CharmError> {
    let records = [(StateKey::DrainStarted, drain::now().to_string()), (StateKey::RolloutStep, id.to_string())];
    host.record_state_now(unit_state, &records, &[])?;
    host.log(LogLevel::Info, &format!("rolling upgrade {id}: this unit's turn; draining"));
    Ok(())
}

/// The leader's update of the plan from what every unit said (and `extra`,
/// what this unit said in this hook), staged for the end of the hook.
fn advance(
    host: &Host<'_>,
    peers: &crate::peers::PeerView,
    plan: rollout::Plan,
    extra: &[(String, rollout::Said)],
) -> Result<rollout::Plan, CharmError> {
    let mut said: Vec<(String, rollout::Said)> =
        peers.peer_bags.iter().map(|(name, bag)| (name.clone(), rollout::said(bag, &plan.id))).collect();
    said.push((host.ctx.unit_name.clone(), rollout::said(&peers.own_bag, &plan.id)));
    said.extend(extra.iter().cloned());
    let Some(next) = rollout::advance(&plan, &said) else { return Ok(plan) };
    host.stage_peer_app(PeerKey::RollingUpgrade, next.to_json());
    Ok(next)
}

/// Upgrades the packages of a drained, stopped unit (and migrates the
/// schema, with connections allowed, when `migrate_schema`) and starts it
/// again; says how it went in its own peer bag. A failure leaves it
/// stopped. A hook killed before the records are written does it all again
/// (`landscape-schema` on a migrated schema has nothing to do).
fn upgrade_in_turn(
    host: &Host<'_>,
    world: &mut World,
    id: &str,
    migrate_schema: bool,
) -> Result<rollout::Said, CharmError> {
    let outcome = install::upgrade(host.cmds)
        .map_err(|e| format!("upgrade failed: {e}"))
        .and_then(|()| if migrate_schema { migrate_schema_in_turn(host, id) } else { Ok(()) })
        .and_then(|()| {
            start_services(host, &world.unit_state)
                .map_err(|e| format!("services did not start after the upgrade: {e}"))
        });
    match outcome {
        Ok(()) => {
            host.record_state_now(&mut world.unit_state, &[], &[StateKey::Paused, StateKey::RolloutStep])?;
            host.stage_peer_unit(rollout::UPGRADED_KEY, id);
            host.stage_peer_unit(rollout::FAILED_KEY, "");
            host.log(LogLevel::Info, &format!("rolling upgrade {id}: upgraded; services started"));
            Ok(rollout::Said::Upgraded)
        }
        Err(why) => {
            host.log(LogLevel::Error, &format!("rolling upgrade {id}: {why}; the unit stays drained and stopped"));
            host.stage_peer_unit(rollout::FAILED_KEY, format!("{id}: {}", crate::text::one_line(&why)));
            Ok(rollout::Said::Failed(why))
        }
    }
}

/// The schema migration of a rollout's first unit, the other units still
/// serving with the old version.
fn migrate_schema_in_turn(host: &Host<'_>, id: &str) -> Result<(), String> {
    match landscape::schema::migrate(host.cmds, true) {
        Ok((out, allowed)) => {
            let how = if allowed { "with connections allowed" } else { "(no --allow-connections here)" };
            let report = crate::text::one_line(out.combined().trim());
            host.log(LogLevel::Info, &format!("rolling upgrade {id}: schema migrated {how}: {report}"));
            Ok(())
        }
        Err(e) => Err(format!("schema migration failed: {e}")),
    }
}

/// Starts Landscape's services and the outbox (what `resume` and a
/// rollout's turn start). `unit_state` is the hook's own: the outbox's
/// record is read from it, not asked of Juju again.
pub fn start_services(host: &Host<'_>, unit_state: &UnitState) -> Result<(), CharmError> {
    landscape::services::start(host.cmds)?;
    companions::outbox::start(host.cmds, unit_state)?;
    Ok(())
}

/// Stops Landscape's services and the outbox (what `pause` and a drain
/// stop).
pub fn stop_services(host: &Host<'_>, unit_state: &UnitState) -> Result<(), CharmError> {
    landscape::services::stop(host.cmds)?;
    companions::outbox::stop(host.cmds, unit_state)?;
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
