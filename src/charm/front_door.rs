//! The unit's front door: its HAProxy (with what it owes its peers in
//! drains and handovers), then what external load balancers read of it.

use super::World;
use crate::companions;
use crate::config::CharmConfig;
use crate::drain;
use crate::edge::{self, haproxy_route, website};
use crate::error::CharmError;
use crate::handover;
use crate::haproxy::{self, model};
use crate::host::Host;
use crate::peer_app::PeerKey;
use crate::peers;
use crate::rollout;
use crate::status::StatusCollector;
use crate::steady;
use crate::tls;
use crate::unit_state::StateKey;

/// What a drain or a rolling upgrade under way says (the plan as this hook
/// leaves it: the leader may have moved it on).
fn operations_status(host: &Host<'_>, world: &World, config: &CharmConfig, status: &mut StatusCollector) {
    let peers = &world.peers;
    let timeout = config.haproxy_limits.drain_timeout_secs.into();
    let progress = drain::progress(&host.ctx.unit_name, peers, &world.unit_state, timeout, drain::now());
    let staged_plan = host.staged.borrow().peer_app.get(PeerKey::RollingUpgrade.name()).cloned();
    let plan = staged_plan.as_deref().map_or_else(|| rollout::Plan::read(peers.app_data.raw()), rollout::Plan::parse);
    if let Some(plan) = plan {
        let own = rollout::said(&peers.own_bag, &plan.id);
        if let Some(rolling) = rollout::status(&plan, &host.ctx.unit_name, &own) {
            status.add(rolling);
        }
    }
    if let Some(draining) = drain::status(&progress) {
        status.add(draining);
    }
}

/// What this unit's HAProxy owes its peers in this hook, and what it tells
/// them once its config is live.
pub(super) struct PeerDuties {
    /// This unit's own servers get no new requests (paused, or drained for
    /// a restart owed).
    self_draining: bool,
    /// Drained for a restart owed.
    pub(super) restart_drain: bool,
    /// The peers whose servers get no new requests either.
    drained: Vec<String>,
    /// The services run with older files (so `follows` waits).
    restart_owed: bool,
}

/// The duties after the Landscape part said whether a restart is owed.
pub(super) fn peer_duties(host: &Host<'_>, world: &World, turn: &drain::RestartTurn, restart_owed: bool) -> PeerDuties {
    let restart_drain = drain::restart_drain_wanted(turn, restart_owed);
    let pausing = drain::pausing(&world.unit_state);
    let drained = drain::drained_peers(&host.ctx.unit_name, &world.peers, restart_drain && !pausing);
    PeerDuties { self_draining: pausing || restart_drain, restart_drain, drained, restart_owed }
}

/// What the unit's HAProxy config is made of: the charm's config, the peers
/// (draining ones marked), the certificate and the related charms' routes.
fn haproxy_inputs<'a>(
    host: &Host<'_>,
    world: &World,
    config: &'a CharmConfig,
    cert: &tls::CertOutcome,
    leader_ip: Option<std::net::IpAddr>,
    duties: &PeerDuties,
) -> haproxy::Inputs<'a> {
    let peers = &world.peers;
    haproxy::Inputs {
        config,
        unit_ips: peers.all_ips(),
        unit_ip: peers.unit_ip,
        leader_ip,
        draining: peers.draining_ips(duties.self_draining, &duties.drained),
        announced_workers: peers.announced_workers.clone(),
        bundle: cert.bundle.clone(),
        certificate_expiry: cert.not_after,
        debarchive: companions::debarchive::backends(&world.debarchive),
        route_health: haproxy_route::health_checks(&world.haproxy_route),
        related_proxies: [
            haproxy_route::trusted_networks(&world.haproxy_route),
            website::trusted_networks(world.website.as_ref()),
        ]
        .concat(),
        errors_dir: host.paths.haproxy_errors_dir(),
    }
}

/// The unit's HAProxy, then what an external load balancer reads of it:
/// the ingress and haproxy-route publications. Both are published even when
/// HAProxy refuses its new config (the databags depend on the config and
/// addresses, not on HAProxy's verdict); a failure of one is returned after
/// the others ran.
pub(super) fn front_door(
    host: &Host<'_>,
    world: &World,
    config: &CharmConfig,
    cert: &tls::CertOutcome,
    leader_ip: Option<std::net::IpAddr>,
    duties: &PeerDuties,
    status: &mut StatusCollector,
) -> Result<(), CharmError> {
    let peers = &world.peers;
    let haproxy_inputs = haproxy_inputs(host, world, config, cert, leader_ip, duties);
    let (desired, digest) = haproxy::desired(&haproxy_inputs, steady::charm_build(), status);
    let applied = world.unit_state.get(&StateKey::HaproxyApplied);
    let served = haproxy::reconcile(host, &desired, &digest, applied, cert.candidate.as_deref(), cert.removed);
    for (key, value) in drain::publication(peers, &duties.drained, &world.unit_state, served.is_ok()) {
        host.stage_peer_unit(key, value);
    }
    if let Some(leader) = handover::follows(leader_ip, served.is_ok(), duties.restart_owed) {
        host.stage_peer_unit(peers::FOLLOWS_KEY, leader);
    }
    operations_status(host, world, config, status);
    let open_ports = model::listening_ports(&desired);
    let inputs = edge::Inputs {
        config,
        is_leader: world.is_leader,
        unit_ip: peers.unit_ip,
        leader_ip,
        open_ports: &open_ports,
        tls_related: world.tls.is_some(),
        unit_state: &world.unit_state,
    };
    let published = edge::reconcile(host, &world.edge_relations(), &inputs, status);
    served?;
    Ok(published?)
}
