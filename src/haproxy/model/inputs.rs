//! What the HAProxy config is built from: the units and their state
//! (`Topology`), and the charm's config with what related charms add
//! (`Settings`).

use std::net::IpAddr;
use std::path::PathBuf;

use super::RouteHealth;
use crate::config::{CharmConfig, HaproxyLimits, LandscapeService, Network, RedirectHttps, ServicePorts};

/// The world as far as HAProxy is concerned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Topology {
    /// Every unit's address, this unit's included; sorted and unique.
    pub unit_ips: Vec<IpAddr>,
    /// The leader's address, when known. Leader-only backends stay empty
    /// (HAProxy answers 503) until it is.
    pub leader_ip: Option<IpAddr>,
    /// Units that asked to be drained before they stop their services:
    /// their servers get no new requests. Not the leader-only servers, which
    /// have nowhere else to go.
    pub draining: Vec<IpAddr>,
    /// How many workers per service the other units say they run. A unit's
    /// servers are `worker_counts`' ports, but never more than it runs: a
    /// worker that every unit adds at once (worker_counts raised) gets a
    /// server only once its unit has it, so no retry meets a worker that is
    /// not there yet on every unit.
    pub announced_workers: Vec<(IpAddr, u16)>,
}

impl Topology {
    pub fn new(mut unit_ips: Vec<IpAddr>, leader_ip: Option<IpAddr>) -> Self {
        unit_ips.sort();
        unit_ips.dedup();
        Self { unit_ips, leader_ip, draining: vec![], announced_workers: vec![] }
    }

    pub fn with_announced_workers(mut self, mut announced: Vec<(IpAddr, u16)>) -> Self {
        announced.sort();
        self.announced_workers = announced;
        self
    }

    /// The workers of the unit at `ip` HAProxy routes to: `configured`, or
    /// fewer if that unit says it runs fewer.
    pub fn workers_of(&self, ip: &IpAddr, configured: u16) -> u16 {
        let announced = self.announced_workers.iter().find(|(unit, _)| unit == ip).map(|(_, n)| *n);
        announced.map_or(configured, |n| n.min(configured))
    }

    pub fn with_draining(mut self, mut draining: Vec<IpAddr>) -> Self {
        draining.sort();
        draining.dedup();
        self.draining = draining;
        self
    }

    /// Every unit, this one included, asked to stop its services (each is
    /// paused or about to be): no server is left to answer, on purpose.
    pub fn planned_offline(&self) -> bool {
        !self.unit_ips.is_empty() && self.unit_ips.iter().all(|ip| self.draining.contains(ip))
    }
}

/// Inputs from config and files rather than from peers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    pub worker_counts: u16,
    pub redirect_https: RedirectHttps,
    pub enable_hostagent_messenger: bool,
    pub enable_ubuntu_installer_attach: bool,
    pub global_maxconn: u32,
    pub limits: HaproxyLimits,
    /// The exporter's address and port; None until the unit's address is known.
    pub metrics: Option<(IpAddr, u16)>,
    /// When the certificate expires (Unix seconds); None without one.
    pub certificate_expiry: Option<i64>,
    /// Whose `X-Forwarded-*` headers pass; everyone else's are replaced.
    pub trusted_proxies: Vec<Network>,
    /// The haproxy-route routes whose health port 80 answers; none without
    /// a haproxy-route relation.
    pub route_health: Vec<RouteHealth>,
    /// The debarchive units `/debarchive` goes to, and their port; no route
    /// without one.
    pub debarchive: Vec<IpAddr>,
    pub debarchive_port: u16,
    pub ports: ServicePorts,
    /// The certificate bundle, once there is one; without it no TLS frontend
    /// is rendered (port 80 still serves).
    pub tls_pem: Option<PathBuf>,
    pub errors_dir: PathBuf,
}

impl Settings {
    pub fn from_config(config: &CharmConfig, tls_pem: Option<PathBuf>, errors_dir: PathBuf) -> Self {
        Self {
            worker_counts: config.worker_counts,
            redirect_https: config.redirect_https,
            enable_hostagent_messenger: config.enable_hostagent_messenger,
            enable_ubuntu_installer_attach: config.enable_ubuntu_installer_attach,
            global_maxconn: config.max_global_haproxy_connections,
            limits: config.haproxy_limits,
            metrics: None,
            certificate_expiry: None,
            trusted_proxies: config.haproxy_trusted_proxies.clone(),
            route_health: vec![],
            debarchive: vec![],
            debarchive_port: config.debarchive_gateway_port,
            ports: config.ports,
            tls_pem,
            errors_dir,
        }
    }
}

impl Settings {
    /// Whether this unit's HAProxy serves `service` (the gRPC ones have a flag each).
    pub fn serves(&self, service: LandscapeService) -> bool {
        match service {
            LandscapeService::HostagentMessenger => self.enable_hostagent_messenger,
            LandscapeService::UbuntuInstallerAttach => self.enable_ubuntu_installer_attach,
            _ => true,
        }
    }
}
