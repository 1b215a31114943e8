//! The charm: one typed snapshot of the world per hook, then each part in
//! order, top to bottom.
//!
//! Every hook builds a [`World`] (each part's `observe`), finishes a drain
//! whose time has come, then [`reconcile`] calls the parts (peers, the
//! config gate, packages, TLS, monitoring, Landscape, HAProxy, the edges,
//! the companions), each with the slices of the world it needs and the
//! outcome of the parts before it. A part's failure that explains
//! itself becomes a status ([`crate::status::Explain`]); any other fails the
//! hook for Juju to retry.

use crate::companions;
use crate::config::CharmConfig;
use crate::drain;
use crate::edge::{self, website};
use crate::error::CharmError;
use crate::handover;
use crate::host::Host;
use crate::juju::{Event, LogLevel};
use crate::landscape;
use crate::landscape::etc_default::ServiceSelection;
use crate::monitoring;
use crate::peers;
use crate::status::{Status, StatusCollector};
use crate::steady::{self, Record};
use crate::tls;
use crate::unit_state::{StateKey, UnitState};
pub use crate::world::World;

mod front_door;
mod lifecycle;

use front_door::{front_door, peer_duties};
pub use lifecycle::{begin_rollout_turn, start_services, stop_services};
use lifecycle::{ensure_packages, finish_drain, restart_in_turn, stop, take_rollout_step};

/// Runs a hook: snapshot, reconcile, status. Returns an error only when Juju
/// should retry the hook.
pub fn handle_hook(host: &Host<'_>, event: Event) -> Result<(), CharmError> {
    if matches!(event, Event::Stop | Event::Remove) {
        return stop(host);
    }
    let (unit_state, is_leader) = (UnitState::new(host.juju.state_get()?), host.juju.is_leader()?);
    // A drain under way may be finished by this hook (its timeout passed).
    let under_way =
        [StateKey::DrainStarted, StateKey::RestartDrainStarted, StateKey::RolloutStep, StateKey::LeaderHandoverStarted]
            .iter()
            .any(|key| unit_state.contains(key));
    if event == Event::UpdateStatus && !under_way {
        match steady::what_changed(host, Record::parse(&unit_state).as_ref(), is_leader)? {
            None => return Ok(()),
            Some(reason) => host.log(LogLevel::Debug, &format!("update-status reconciles: {reason}")),
        }
    }
    let mut world = World::observe(host, event, unit_state, is_leader)?;
    finish_drain(host, &mut world)?;
    take_rollout_step(host, &mut world)?;
    handle_world(host, &world)
}

/// After an action changed what this unit should be (paused, resumed),
/// reconciles and recomputes the status as a hook would; `adjust` applies the
/// action's own state writes, which Juju commits only when the action ends.
pub fn reconcile_after_action(host: &Host<'_>, adjust: impl FnOnce(&mut World)) -> Result<(), CharmError> {
    let mut world = observe_for_action(host)?;
    adjust(&mut world);
    handle_world(host, &world)
}

/// The world as an action finds it (for an action that decides on it, then
/// reconciles with [`handle_world`]).
pub fn observe_for_action(host: &Host<'_>) -> Result<World, CharmError> {
    let (unit_state, is_leader) = (UnitState::new(host.juju.state_get()?), host.juju.is_leader()?);
    Ok(World::observe(host, Event::UpdateStatus, unit_state, is_leader)?)
}

/// Reconciles `world` and sets the status.
pub fn handle_world(host: &Host<'_>, world: &World) -> Result<(), CharmError> {
    let mut status = StatusCollector::new();
    let result = reconcile(host, world, &mut status);
    status.absorb(host, result)?;
    let resolved = status.resolve();
    host.stage_state(StateKey::LastReconcile, record_of(host, world, &resolved).to_json());
    host.flush_staged(world.peers.relation.as_ref(), &world.peers.app_data, &world.peers.own_bag, &world.unit_state)?;
    host.juju.status_set(resolved.name, &resolved.message, false)?;
    Ok(())
}

/// What update-status will compare the next time (see [`steady`]).
fn record_of(host: &Host<'_>, world: &World, status: &Status) -> Record {
    let landscape_units = match &world.config {
        Ok(config) => ServiceSelection::of(config, world.is_leader).systemd_units(),
        Err(_) => vec![],
    };
    Record::new(host, world.is_leader, world.peers.unit_ip.map(|ip| ip.to_string()), status, &landscape_units)
}

/// The parts, in order. Each gets the slices of the world it needs and what
/// the parts before it produced.
pub fn reconcile(host: &Host<'_>, world: &World, status: &mut StatusCollector) -> Result<(), CharmError> {
    let peers = &world.peers;
    peers.publish(host, world.is_leader)?;
    // Invalid config: say which option is wrong and change nothing else, so
    // the live HAProxy config stays as it was.
    let config = world.config.as_ref().map_err(|e| CharmError::Config(e.clone()))?;
    let packages = ensure_packages(host, world, config)?;
    let hostname = config.root_url.as_ref().and_then(|u| u.hostname());
    let cert = certificate(host, world, hostname, status)?;

    let leader_ip = peers.leader_ip(world.is_leader);
    let legacy_host = website::root_url_host(world.website.as_ref());
    let root_url = peers::root_url(config.root_url.as_ref(), legacy_host.as_deref(), leader_ip);
    monitoring::reconcile(host, &world.monitoring, config, world.is_leader, peers.unit_ip, root_url.as_deref())?;
    let before_landscape = status.mark();
    let turn = restart_turn(host, world, config);
    let handover_timeout = config.haproxy_limits.drain_timeout_secs.into();
    let landscape_inputs = landscape::Inputs {
        config,
        is_leader: world.is_leader,
        peers,
        unit_state: &world.unit_state,
        db: &world.db,
        amqp: &world.amqp,
        tls_related: world.tls.is_some(),
        certificate: cert.bundle.is_some(),
        packages: &packages,
        root_url,
        leader_ip,
        restart_now: turn == drain::RestartTurn::Now,
        handover: &handover::progress(peers, &world.unit_state, world.is_leader, handover_timeout, drain::now()),
    };
    let landscape = landscape::reconcile(host, &landscape_inputs, status)?;
    // HAProxy after Landscape, so that it is reloaded once per hook with
    // this unit's own servers as the restart left them: drained from the
    // hook that finds a restart owed, serving again in the hook that did it.
    let duties = peer_duties(host, world, &turn, landscape.restart_owed);
    let before_front_door = status.mark();
    let front = front_door(host, world, config, &cert, leader_ip, &duties, status);
    // What HAProxy and the edges say ranks as if they had run first.
    status.rank_first(before_landscape, before_front_door);
    restart_in_turn(host, &world.unit_state, &turn, duties.restart_drain, &landscape, status);
    front?;
    companions_then_exposure(host, world, config, hostname, &landscape, status)
}

/// The parts that follow Landscape, then the word on how the unit is
/// exposed, said when nothing else is (the first status of a rank wins).
fn companions_then_exposure(
    host: &Host<'_>,
    world: &World,
    config: &CharmConfig,
    hostname: Option<&str>,
    landscape: &landscape::LandscapeOutcome,
    status: &mut StatusCollector,
) -> Result<(), CharmError> {
    // The debarchive and the task handler know Landscape by root_url's host
    // name, never an address: they route by it (SNI), which takes no address.
    let companions = companions::Inputs {
        config,
        unit_state: &world.unit_state,
        hostname,
        secret_token: landscape.secret_token.as_deref(),
        landscape_restarted: landscape.restarted,
    };
    companions::reconcile(host, &world.companion_relations(), &companions, status)?;
    if let Some(exposure) = edge::exposure::exposure(&world.haproxy_route, &world.ingress, config) {
        status.add(Status::active(exposure));
    }
    Ok(())
}

/// When a restart the services may owe in this hook can happen.
fn restart_turn(host: &Host<'_>, world: &World, config: &CharmConfig) -> drain::RestartTurn {
    let timeout = config.haproxy_limits.drain_timeout_secs.into();
    drain::restart_turn(&host.ctx.unit_name, &world.peers, &world.unit_state, timeout, drain::now())
}

/// This unit's certificate: the TLS part's outcome, or (when the
/// provider's data is unusable, which blocks the unit) the bundle in place,
/// which keeps serving.
fn certificate(
    host: &Host<'_>,
    world: &World,
    hostname: Option<&str>,
    status: &mut StatusCollector,
) -> Result<tls::CertOutcome, CharmError> {
    let cert = tls::reconcile(host, world.tls.as_ref(), world.tls_removed(), world.peers.unit_ip, hostname);
    match status.absorb(host, cert)? {
        Some(cert) => Ok(cert),
        None => Ok(tls::CertOutcome::in_place(&host.paths)?),
    }
}
