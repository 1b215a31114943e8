//! The charm: one typed snapshot of the world per hook, then each part in
//! order, top to bottom.
//!
//! Every hook builds a [`World`] (each part's `observe`), then [`reconcile`]
//! calls the parts (peers, config gate, install, TLS, HAProxy, ingress,
//! monitoring, Landscape), each with the slices of the world it needs and
//! the outcome of the parts before it. A part's failure that explains
//! itself becomes a status ([`crate::status::Explain`]); any other fails the
//! hook for Juju to retry.

use crate::config::{CharmConfig, ConfigError};
use crate::debarchive::{self, DebarchiveRelation};
use crate::drain;
use crate::error::CharmError;
use crate::haproxy::{self, ApplyError, apply, model};
use crate::haproxy_route::{self, RouteRelation};
use crate::host::Host;
use crate::ingress::{self, IngressRelation};
use crate::juju::event::SecretKind;
use crate::juju::metadata::{PEER_ENDPOINT, TLS_ENDPOINT};
use crate::juju::{Event, LogLevel, RelationKind};
use crate::landscape::etc_default::ServiceSelection;
use crate::landscape::{self, amqp, amqp::AmqpRelation, database, database::DbObservation, install};
use crate::monitoring::{self, MonitoringRelations};
use crate::outbox;
use crate::peers::{self, PeerView};
use crate::smtp::{self, SmtpRelation};
use crate::status::{Status, StatusCollector};
use crate::steady::{self, Record};
use crate::system::Cmd;
use crate::system::apt::{self, InstalledPackages};
use crate::task_handler::{self, TaskHandlerRelation};
use crate::tls::{self, TlsRelation};
use crate::unit_state::{StateKey, UnitState};
use crate::website::{self, WebsiteRelation};

/// One typed snapshot of everything a reconcile looks at.
#[derive(Debug)]
pub struct World {
    pub event: Event,
    pub is_leader: bool,
    pub config: Result<CharmConfig, ConfigError>,
    pub peers: PeerView,
    pub ingress: Vec<IngressRelation>,
    pub haproxy_route: Vec<RouteRelation>,
    pub tls: Option<TlsRelation>,
    pub db: DbObservation,
    /// `inbound-amqp` and `outbound-amqp`, in that order.
    pub amqp: [Option<AmqpRelation>; 2],
    pub monitoring: MonitoringRelations,
    pub smtp: Option<SmtpRelation>,
    pub debarchive: Vec<DebarchiveRelation>,
    pub task_handler: Option<TaskHandlerRelation>,
    pub website: Option<WebsiteRelation>,
    /// The charm's own bookkeeping (`state-get`).
    pub unit_state: UnitState,
}

/// Every package whose presence some part decides on, asked in one `dpkg-query`.
const MANAGED_PACKAGES: &[&str] = &[
    install::LANDSCAPE_PACKAGE,
    apply::HAPROXY_PACKAGE,
    install::INSTALLER_ATTACH_PACKAGE,
    install::NEEDRESTART_PACKAGE,
];

impl World {
    /// Reads everything else; `unit_state` and `is_leader` were read first,
    /// to decide whether update-status needs this at all.
    pub fn observe(host: &Host<'_>, event: Event, unit_state: UnitState, is_leader: bool) -> Result<Self, CharmError> {
        let config = CharmConfig::parse(host.juju.config_get()?);
        // Peer data cannot be read during install; a broken relation no
        // longer counts.
        let readable = event != Event::Install;
        let broken = match &event {
            Event::Relation(r) if r.kind == RelationKind::Broken => Some(r.relation.clone()),
            _ => None,
        };
        let broken = broken.as_ref();
        let (unit, app) = (&host.ctx.unit_name, &host.ctx.app_name);
        let peer_broken = broken.filter(|r| r.endpoint == PEER_ENDPOINT);
        let peers = PeerView::observe(&host.juju, unit, app, readable, peer_broken)?;
        let ingress = ingress::observe(&host.juju, is_leader, unit, app, broken)?;
        let haproxy_route = haproxy_route::observe(&host.juju, &event, &unit_state, broken)?;
        let tls = tls::observe(&host.juju, unit, broken)?;
        let overrides = config.as_ref().map(|c| c.landscape.db.clone()).unwrap_or_default();
        let secret_changed = matches!(&event, Event::Secret { kind: SecretKind::Changed, .. });
        let db = database::observe(&host.juju, unit, is_leader, &overrides, broken, secret_changed)?;
        let amqp = [
            amqp::observe(&host.juju, amqp::INBOUND, unit, broken)?,
            amqp::observe(&host.juju, amqp::OUTBOUND, unit, broken)?,
        ];
        let monitoring = MonitoringRelations::observe(&host.juju, unit, is_leader, broken)?;
        let smtp = smtp::observe(&host.juju, broken)?;
        let debarchive = debarchive::observe(&host.juju, app, is_leader, broken)?;
        let task_handler = task_handler::observe(&host.juju, app, is_leader, broken)?;
        let website = website::observe(&host.juju, unit, broken)?;
        Ok(Self {
            event,
            is_leader,
            config,
            peers,
            ingress,
            haproxy_route,
            tls,
            db,
            amqp,
            monitoring,
            smtp,
            debarchive,
            task_handler,
            website,
            unit_state,
        })
    }

    /// Whether this hook tears down `load-balancer-certificates`.
    fn tls_removed(&self) -> bool {
        matches!(&self.event, Event::Relation(r)
            if r.kind == RelationKind::Broken && r.relation.endpoint == TLS_ENDPOINT)
    }
}

/// Runs a hook: snapshot, reconcile, status. Returns an error only when Juju
/// should retry the hook.
pub fn handle_hook(host: &Host<'_>, event: Event) -> Result<(), CharmError> {
    if matches!(event, Event::Stop | Event::Remove) {
        return stop(host);
    }
    let (unit_state, is_leader) = (UnitState::new(host.juju.state_get()?), host.juju.is_leader()?);
    // A drain under way may be finished by this hook (its timeout passed).
    if event == Event::UpdateStatus && !unit_state.contains(&StateKey::DrainStarted) {
        match steady::what_changed(host, Record::parse(&unit_state).as_ref(), is_leader)? {
            None => return Ok(()),
            Some(reason) => host.log(LogLevel::Debug, &format!("update-status reconciles: {reason}")),
        }
    }
    let mut world = World::observe(host, event, unit_state, is_leader)?;
    finish_drain(host, &mut world)?;
    handle_world(host, &world)
}

/// Stops the services of a unit whose drain is done (every peer drained
/// it, or the timeout passed), and records it paused. Both records are
/// written at once: a hook killed between the stop and them stops again.
fn finish_drain(host: &Host<'_>, world: &mut World) -> Result<(), CharmError> {
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
    outbox::stop(host.cmds, &UnitState::new(host.juju.state_get()?))?;
    Ok(())
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
    World::observe(host, Event::UpdateStatus, unit_state, is_leader)
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
    let cert = tls::reconcile(host, world.tls.as_ref(), world.tls_removed(), peers.unit_ip, hostname);
    // Unusable provider data blocks the unit; the bundle in place keeps serving.
    let cert = match status.absorb(host, cert)? {
        Some(cert) => cert,
        None => tls::CertOutcome::in_place(&host.paths)?,
    };

    let leader_ip = peers.leader_ip(world.is_leader);
    let legacy_host = website::root_url_host(world.website.as_ref());
    let root_url = peers::root_url(config.root_url.as_ref(), legacy_host.as_deref(), leader_ip);
    front_door(host, world, config, &cert, leader_ip, status)?;
    monitoring::reconcile(host, &world.monitoring, config, world.is_leader, peers.unit_ip, root_url.as_deref())?;
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
    };
    let landscape = landscape::reconcile(host, &landscape_inputs, status)?;
    // The debarchive and the task handler know Landscape by root_url's host
    // name, never an address: they route by it (SNI), which takes no address.
    companions(host, world, config, &landscape, hostname, status)?;
    // Said when nothing else is (the first status of a rank wins).
    if let Some(exposure) = haproxy_route::exposure(&world.haproxy_route, &world.ingress, config) {
        status.add(Status::active(exposure));
    }
    Ok(())
}

/// The unit's HAProxy, then what an external load balancer reads of it:
/// the ingress and haproxy-route publications. Both are published even when
/// HAProxy refuses its new config (the databags depend on the config and
/// addresses, not on HAProxy's verdict); a failure of one is returned after
/// the others ran.
fn front_door(
    host: &Host<'_>,
    world: &World,
    config: &CharmConfig,
    cert: &tls::CertOutcome,
    leader_ip: Option<std::net::IpAddr>,
    status: &mut StatusCollector,
) -> Result<(), CharmError> {
    let peers = &world.peers;
    let haproxy_inputs = haproxy::Inputs {
        config,
        unit_ips: peers.all_ips(),
        unit_ip: peers.unit_ip,
        leader_ip,
        draining: peers.draining_ips(drain::wanted(&world.unit_state)),
        bundle: cert.bundle.clone(),
        certificate_expiry: cert.not_after,
        debarchive: debarchive::backends(&world.debarchive),
        route_health: haproxy_route::health_checks(&world.haproxy_route),
        related_proxies: [
            haproxy_route::trusted_networks(&world.haproxy_route),
            website::trusted_networks(world.website.as_ref()),
        ]
        .concat(),
        errors_dir: host.paths.haproxy_errors_dir(),
    };
    let (desired, digest) = haproxy::desired(&haproxy_inputs, steady::charm_build(), status);
    let applied = world.unit_state.get(&StateKey::HaproxyApplied);
    let served = haproxy::reconcile(host, &desired, &digest, applied, cert.candidate.as_deref(), cert.removed);
    for (key, value) in drain::publication(peers, &world.unit_state, served.is_ok()) {
        host.stage_peer_unit(key, value);
    }
    let timeout = config.haproxy_limits.drain_timeout_secs.into();
    let progress = drain::progress(&host.ctx.unit_name, peers, &world.unit_state, timeout, drain::now());
    if let Some(draining) = drain::status(&progress) {
        status.add(draining);
    }
    let open_ports = model::listening_ports(&desired);
    let published = edges(host, world, config, &open_ports, leader_ip, status);
    served?;
    published
}

/// What external load balancers read of this unit: the ingress and
/// haproxy-route publications, and the deprecated website bridge. Each runs
/// even when another failed; the first failure is returned.
fn edges(
    host: &Host<'_>,
    world: &World,
    config: &CharmConfig,
    open_ports: &[u16],
    leader_ip: Option<std::net::IpAddr>,
    status: &mut StatusCollector,
) -> Result<(), CharmError> {
    let unit_ip = world.peers.unit_ip;
    let (is_leader, unit_state) = (world.is_leader, &world.unit_state);
    let ingress_inputs = ingress::Inputs { config, is_leader, unit_ip, open_ports, unit_state };
    let published = ingress::reconcile(host, &world.ingress, &ingress_inputs, status);
    let tls_related = world.tls.is_some();
    let route_inputs =
        haproxy_route::Inputs { config, is_leader, unit_ip, leader_ip, open_ports, tls_related, unit_state };
    let routed = haproxy_route::reconcile(host, &world.haproxy_route, &route_inputs, status);
    let bridged = website::reconcile(host, world.website.as_ref(), config);
    if world.website.is_some() {
        status.add(Status::active(website::BRIDGE_NOTE));
    }
    published?;
    routed?;
    bridged?;
    Ok(())
}

/// The parts that follow Landscape: the mail relay (a broken one must not
/// hold Landscape back), the debarchive (the secret token Landscape's part
/// made), the outbox (after Landscape's restart), the task handler (which
/// configures the outbox).
fn companions(
    host: &Host<'_>,
    world: &World,
    config: &CharmConfig,
    landscape: &landscape::LandscapeOutcome,
    hostname: Option<&str>,
    status: &mut StatusCollector,
) -> Result<(), CharmError> {
    if hostname.is_none() && (world.task_handler.is_some() || !world.debarchive.is_empty()) {
        status.add(Status::active(
            "root_url names no host: the task handler and debarchive are reached by their own addresses",
        ));
    }
    let relay = config.landscape.smtp_relay_host.as_deref();
    let mail = smtp::reconcile(host, world.smtp.as_ref(), relay, &world.unit_state, status);
    status.absorb(host, mail)?;
    let token = landscape.secret_token.as_deref();
    let published = debarchive::reconcile(host, &world.debarchive, &world.unit_state, hostname, token);
    status.absorb(host, published)?;
    let outbox_inputs =
        outbox::Inputs { config, unit_state: &world.unit_state, landscape_restarted: landscape.restarted };
    let outbox_installed = status.absorb(host, outbox::reconcile(host, &outbox_inputs))?.is_some();
    let task_handler = world.task_handler.as_ref();
    let answered = task_handler::reconcile(host, task_handler, &world.unit_state, hostname, outbox_installed);
    status.absorb(host, answered)?;
    Ok(())
}

/// Landscape and HAProxy installed (what dpkg says is asked once, when a
/// valid config says there is work to do: a config that blocks the unit
/// runs no command at all).
fn ensure_packages(host: &Host<'_>, world: &World, config: &CharmConfig) -> Result<InstalledPackages, CharmError> {
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
fn stop(host: &Host<'_>) -> Result<(), CharmError> {
    landscape::stop(host);
    // The outbox goes down with Landscape: a unit that is going away must not
    // go on publishing its events.
    if let Err(e) = outbox::stop(host.cmds, &UnitState::new(host.juju.state_get()?)) {
        host.log(LogLevel::Warning, &format!("could not stop the outbox: {e}"));
    }
    let out = host.cmds.output(&Cmd::new("systemctl", &["disable", "--now", apply::HAPROXY_SERVICE]))?;
    if !out.success() {
        host.log(LogLevel::Warning, &format!("could not stop haproxy: {}", out.combined()));
    }
    Ok(())
}
