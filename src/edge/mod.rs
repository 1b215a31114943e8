//! What external load balancers read of this unit: the four `ingress`
//! endpoints, the eight `haproxy-route`/`haproxy-route-tcp` endpoints, and
//! the deprecated `website` bridge to the legacy HAProxy charm. Each
//! publishes where the unit's own HAProxy listens; none routes on its own.

pub mod exposure;
pub mod haproxy_route;
pub mod ingress;
pub mod website;

use std::net::IpAddr;

use crate::config::CharmConfig;
use crate::host::Host;
use crate::juju::HookToolError;
use crate::status::{Status, StatusCollector};
use crate::unit_state::UnitState;

/// The edges' relations, as the hook read them.
#[derive(Debug)]
pub struct Relations<'a> {
    pub ingress: &'a [ingress::IngressRelation],
    pub haproxy_route: &'a [haproxy_route::RouteRelation],
    pub website: Option<&'a website::WebsiteRelation>,
}

/// What the edges publish from: the config, the unit, and the ports its
/// HAProxy listens on.
#[derive(Debug)]
pub struct Inputs<'a> {
    pub config: &'a CharmConfig,
    pub is_leader: bool,
    /// The `replicas` bind address, for an endpoint whose own is unknown.
    pub unit_ip: Option<IpAddr>,
    pub leader_ip: Option<IpAddr>,
    /// The frontend ports this unit's HAProxy serves (a gRPC route only
    /// while its TLS frontend is there).
    pub open_ports: &'a [u16],
    /// Whether `load-balancer-certificates` is related (what a gRPC route
    /// without its frontend waits for).
    pub tls_related: bool,
    /// Unit state: what each edge last published and read.
    pub unit_state: &'a UnitState,
}

/// Publishes every edge. Each runs even when another failed (the databags
/// depend on the config and addresses, not on each other); the first
/// failure is returned.
pub fn reconcile(
    host: &Host<'_>,
    relations: &Relations<'_>,
    inputs: &Inputs<'_>,
    status: &mut StatusCollector,
) -> Result<(), HookToolError> {
    let published = ingress::reconcile(host, relations.ingress, inputs, status);
    let routed = haproxy_route::reconcile(host, relations.haproxy_route, inputs, status);
    let bridged = website::reconcile(host, relations.website, inputs.config);
    if relations.website.is_some() {
        status.add(Status::active(website::BRIDGE_NOTE));
    }
    published?;
    routed?;
    bridged
}
