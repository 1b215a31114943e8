//! One typed snapshot of everything a reconcile looks at, read once per
//! hook: each part's `observe`.

use crate::companions::smtp::{self, SmtpRelation};
use crate::companions::task_handler::{self, TaskHandlerRelation};
use crate::companions::{
    self,
    debarchive::{self, DebarchiveRelation},
};
use crate::config::{CharmConfig, ConfigError};
use crate::edge::ingress::{self, IngressRelation};
use crate::edge::website::{self, WebsiteRelation};
use crate::edge::{
    self,
    haproxy_route::{self, RouteRelation},
};
use crate::host::Host;
use crate::juju::event::SecretKind;
use crate::juju::metadata::{PEER_ENDPOINT, TLS_ENDPOINT};
use crate::juju::{Event, HookToolError, RelationId, RelationKind};
use crate::landscape::{amqp, amqp::AmqpRelation, database, database::DbObservation};
use crate::monitoring::MonitoringRelations;
use crate::peers::PeerView;
use crate::tls::{self, TlsRelation};
use crate::unit_state::UnitState;

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

/// The relation this hook tears down, if it does: it no longer counts.
fn broken_relation(event: &Event) -> Option<RelationId> {
    match event {
        Event::Relation(r) if r.kind == RelationKind::Broken => Some(r.relation.clone()),
        _ => None,
    }
}

/// The database's and the message broker's relations, the database's
/// overrides taken from the config.
fn observe_landscape_stores(
    host: &Host<'_>,
    event: &Event,
    config: Option<&CharmConfig>,
    is_leader: bool,
    broken: Option<&RelationId>,
) -> Result<(DbObservation, [Option<AmqpRelation>; 2]), HookToolError> {
    let unit = &host.ctx.unit_name;
    let overrides = config.map(|c| c.landscape.db.clone()).unwrap_or_default();
    let secret_changed = matches!(event, Event::Secret { kind: SecretKind::Changed, .. });
    let db = database::observe(&host.juju, unit, is_leader, &overrides, broken, secret_changed)?;
    let amqp = [
        amqp::observe(&host.juju, amqp::INBOUND, unit, broken)?,
        amqp::observe(&host.juju, amqp::OUTBOUND, unit, broken)?,
    ];
    Ok((db, amqp))
}

impl World {
    /// Reads everything else; `unit_state` and `is_leader` were read first,
    /// to decide whether update-status needs this at all.
    pub fn observe(
        host: &Host<'_>,
        event: Event,
        unit_state: UnitState,
        is_leader: bool,
    ) -> Result<Self, HookToolError> {
        let config = CharmConfig::parse(host.juju.config_get()?);
        // Peer data cannot be read during install; a broken relation no
        // longer counts.
        let readable = event != Event::Install;
        let broken = broken_relation(&event);
        let broken = broken.as_ref();
        let (unit, app) = (&host.ctx.unit_name, &host.ctx.app_name);
        let peers = PeerView::observe(&host.juju, unit, app, readable, broken.filter(|r| r.endpoint == PEER_ENDPOINT))?;
        let ingress = ingress::observe(&host.juju, is_leader, unit, app, broken)?;
        let haproxy_route = haproxy_route::observe(&host.juju, &event, &unit_state, broken)?;
        let tls = tls::observe(&host.juju, unit, broken)?;
        let (db, amqp) = observe_landscape_stores(host, &event, config.as_ref().ok(), is_leader, broken)?;
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

    /// The companions' relations.
    pub fn companion_relations(&self) -> companions::Relations<'_> {
        companions::Relations {
            smtp: self.smtp.as_ref(),
            debarchive: &self.debarchive,
            task_handler: self.task_handler.as_ref(),
        }
    }

    /// The edges' relations.
    pub fn edge_relations(&self) -> edge::Relations<'_> {
        edge::Relations { ingress: &self.ingress, haproxy_route: &self.haproxy_route, website: self.website.as_ref() }
    }

    /// Whether this hook tears down `load-balancer-certificates`.
    pub fn tls_removed(&self) -> bool {
        matches!(&self.event, Event::Relation(r)
            if r.kind == RelationKind::Broken && r.relation.endpoint == TLS_ENDPOINT)
    }
}
