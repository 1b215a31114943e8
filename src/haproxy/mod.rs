//! The HAProxy part: the model (pure), the renderer (pure) and the apply
//! step (files and commands), ordered by [`reconcile`]: render unless the
//! inputs are those of the live config, apply (validated, atomic), reload
//! when the config or the certificate changed, and open the frontend ports.

pub mod apply;
pub mod master;
pub mod model;
pub mod render;

use std::net::IpAddr;
use std::path::{Path, PathBuf};

pub use apply::{ApplyError, ApplyOutcome};
pub use model::{HaproxyConfig, Settings, Topology};
pub use render::{RenderError, render};

use crate::config::CharmConfig;
use crate::fsutil::{self, FsError, Owner};
use crate::host::Host;
use crate::juju::{HookToolError, LogLevel};
use crate::status::{Explain, Status, StatusCollector};
use crate::unit_state::StateKey;

#[derive(Debug, thiserror::Error)]
pub enum HaproxyError {
    #[error(transparent)]
    Apply(#[from] ApplyError),
    #[error(transparent)]
    Render(#[from] RenderError),
    #[error(transparent)]
    Fs(#[from] FsError),
    #[error(transparent)]
    HookTool(#[from] HookToolError),
}

impl Explain for HaproxyError {
    fn status(&self) -> Option<Status> {
        match self {
            HaproxyError::Apply(e) => e.status(),
            HaproxyError::Render(e) => e.status(),
            // Files and hook tools: faults for Juju to retry.
            HaproxyError::Fs(_) | HaproxyError::HookTool(_) => None,
        }
    }
}

/// What this unit's HAProxy is built from.
#[derive(Debug)]
pub struct Inputs<'a> {
    pub config: &'a CharmConfig,
    /// Every unit's address, this unit's included.
    pub unit_ips: Vec<IpAddr>,
    /// This unit's own address, once Juju gives it.
    pub unit_ip: Option<IpAddr>,
    pub leader_ip: Option<IpAddr>,
    /// Units whose servers get no new requests (they are about to stop).
    pub draining: Vec<IpAddr>,
    /// How many workers the other units say they run.
    pub announced_workers: Vec<(IpAddr, u16)>,
    /// The TLS part's bundle; None serves port 80 only.
    pub bundle: Option<PathBuf>,
    /// When its certificate expires (Unix seconds), for the exporter.
    pub certificate_expiry: Option<i64>,
    /// The debarchive units `/debarchive` goes to.
    pub debarchive: Vec<IpAddr>,
    /// The haproxy-route routes whose health port 80 answers.
    pub route_health: Vec<model::RouteHealth>,
    /// Trusted besides `haproxy_trusted_proxies`: the haproxy-route
    /// provider's units, for as long as they are related.
    pub related_proxies: Vec<crate::config::Network>,
    pub errors_dir: PathBuf,
}

/// The configuration this unit should run, and a digest of what it is built
/// from (pure). Adds a Waiting status for an address that is not known yet.
pub fn desired(inputs: &Inputs<'_>, build: &str, status: &mut StatusCollector) -> (HaproxyConfig, String) {
    if inputs.unit_ip.is_none() {
        status.add(Status::waiting("Waiting for this unit's address on the replicas binding"));
    }
    if inputs.leader_ip.is_none() {
        status.add(Status::waiting("Waiting for the leader's address on the replicas relation"));
    }
    let topology = Topology::new(inputs.unit_ips.clone(), inputs.leader_ip)
        .with_draining(inputs.draining.clone())
        .with_announced_workers(inputs.announced_workers.clone());
    let mut settings = Settings::from_config(inputs.config, inputs.bundle.clone(), inputs.errors_dir.clone());
    settings.metrics = inputs.unit_ip.map(|ip| (ip, inputs.config.haproxy_metrics_port));
    settings.certificate_expiry = inputs.bundle.as_ref().and(inputs.certificate_expiry);
    settings.debarchive = inputs.debarchive.clone();
    settings.route_health = inputs.route_health.clone();
    settings.trusted_proxies.extend(inputs.related_proxies.iter().copied());
    settings.trusted_proxies.sort();
    settings.trusted_proxies.dedup();
    // The template is part of the build, so the build is part of the inputs.
    let digest_input = format!("{build} {topology:?} {settings:?}");
    (model::build(&topology, &settings), fsutil::sha256_hex(&[digest_input.as_bytes()]))
}

/// Puts `desired` into service. `applied` is the unit-state record of the
/// last config applied; `candidate` is a new certificate bundle the TLS
/// part left (it goes live only once HAProxy loads it with this config);
/// `bundle_removed` forces a reload for a bundle taken away.
pub fn reconcile(
    host: &Host<'_>,
    desired: &HaproxyConfig,
    inputs_digest: &str,
    applied: Option<&String>,
    candidate: Option<&Path>,
    bundle_removed: bool,
) -> Result<(), HaproxyError> {
    let owner = Owner::of_user(apply::HAPROXY_USER)?;
    for note in apply::sync_error_pages(&host.paths, owner)? {
        host.log(LogLevel::Warning, &note);
    }
    if let Some(candidate) = candidate {
        // The config as it will be, naming the candidate where it will name
        // the live bundle: both are checked together before either is live.
        let check = render(&desired.with_certificate(&candidate.display().to_string()))?;
        apply::install_bundle(&host.paths, host.cmds, &check, owner)?;
        host.log(LogLevel::Info, "installed the load balancer certificate (HAProxy loads it)");
    }
    let bundle_changed = candidate.is_some() || bundle_removed;
    // Rendering is most of the charm's own time at scale (1.3 MB for 100
    // units of 16 workers): skip it when the inputs are those of the live
    // config, and the live file is still what was applied.
    let live = fsutil::read_optional(&host.paths.haproxy_config())?;
    let record = |text: &[u8]| format!("{inputs_digest} {}", fsutil::sha256_hex(&[text]));
    let outcome = if live.as_deref().is_some_and(|text| applied == Some(&record(text))) {
        apply::clear_rejected(&host.paths)?;
        ApplyOutcome::Unchanged
    } else {
        let text = render(desired)?;
        let outcome = apply::apply_config(&host.paths, host.cmds, &text, owner)?;
        host.stage_state(StateKey::HaproxyApplied, record(text.as_bytes()));
        outcome
    };
    if outcome == ApplyOutcome::Applied {
        host.log(LogLevel::Info, "applied a new HAProxy config");
    }
    apply::ensure_running(&host.paths, host.cmds, outcome == ApplyOutcome::Applied || bundle_changed)?;
    sync_ports(host, &model::listening_ports(desired))?;
    Ok(())
}

/// Opens the frontend ports this unit serves and closes the ones it no longer does.
fn sync_ports(host: &Host<'_>, wanted: &[u16]) -> Result<(), HookToolError> {
    let opened = host.juju.opened_tcp_ports()?;
    for port in model::FRONTEND_PORTS {
        match (wanted.contains(&port), opened.contains(&port)) {
            (true, false) => host.juju.open_port(port)?,
            (false, true) => host.juju.close_port(port)?,
            _ => {}
        }
    }
    Ok(())
}
