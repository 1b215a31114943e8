//! The charm: one snapshot of the world per hook, one reconcile.
//!
//! Every hook builds a [`World`] (context, config, leadership, peers), then
//! [`reconcile`] computes what the unit should look like and makes it so,
//! idempotently. Errors are mapped to statuses in one place
//! ([`crate::error::CharmError::disposition`]).

use std::path::PathBuf;

use crate::config::{CharmConfig, ConfigError};
use crate::error::{CharmError, Disposition};
use crate::fsutil::Owner;
use crate::haproxy::apply::{self, HAPROXY_USER};
use crate::haproxy::{self, ApplyOutcome, Settings, Topology, model};
use crate::juju::metadata::PEER_ENDPOINT;
use crate::juju::{Databag, Event, HookTools, JujuContext, LogLevel, RelationKind};
use crate::paths::Paths;
use crate::peers::{ADDRESS_KEY, LEADER_IP_KEY, PeerView};
use crate::status::{Status, StatusCollector};
use crate::system::{Cmd, CommandRunner};

/// What the charm works with during one hook.
pub struct Charm<'a> {
    pub ctx: JujuContext,
    pub juju: HookTools<'a>,
    pub cmds: &'a dyn CommandRunner,
    pub paths: Paths,
}

impl Charm<'_> {
    /// Logs through `juju-log`; if even that fails, to stderr (which Juju
    /// also keeps, at WARNING).
    pub fn log(&self, level: LogLevel, message: &str) {
        if let Err(e) = self.juju.juju_log(level, message) {
            eprintln!("{message} (juju-log failed: {e})");
        }
    }
}

/// One typed snapshot of everything a reconcile looks at.
#[derive(Debug)]
pub struct World {
    pub event: Event,
    pub is_leader: bool,
    pub config: Result<CharmConfig, ConfigError>,
    pub peers: PeerView,
}

impl World {
    pub fn observe(charm: &Charm<'_>, event: Event) -> Result<Self, CharmError> {
        let config = CharmConfig::parse(charm.juju.config_get()?);
        let is_leader = charm.juju.is_leader()?;
        // Peer data cannot be read during install; a broken peer relation no
        // longer counts.
        let readable = event != Event::Install;
        let broken = match &event {
            Event::Relation(r)
                if r.kind == RelationKind::Broken && r.relation.endpoint == PEER_ENDPOINT =>
            {
                Some(r.relation.clone())
            }
            _ => None,
        };
        let peers = PeerView::observe(
            &charm.juju,
            &charm.ctx.unit_name,
            &charm.ctx.app_name,
            readable,
            broken.as_ref(),
        )?;
        Ok(Self {
            event,
            is_leader,
            config,
            peers,
        })
    }
}

/// Runs a hook: snapshot, reconcile, status. Returns an error only when Juju
/// should retry the hook.
pub fn handle_hook(charm: &Charm<'_>, event: Event) -> Result<(), CharmError> {
    if matches!(event, Event::Stop | Event::Remove) {
        return stop(charm);
    }
    let world = World::observe(charm, event)?;
    let mut status = StatusCollector::new();
    if let Err(err) = reconcile(charm, &world, &mut status) {
        match err.disposition() {
            Disposition::Status(s) => {
                charm.log(LogLevel::Error, &err.to_string());
                status.add(s);
            }
            Disposition::Retry => {
                charm.log(
                    LogLevel::Error,
                    &format!("hook failed, Juju will retry it: {err}"),
                );
                return Err(err);
            }
        }
    }
    let resolved = status.resolve();
    charm
        .juju
        .status_set(resolved.name, &resolved.message, false)?;
    Ok(())
}

/// Computes and applies the desired state of this unit.
pub fn reconcile(
    charm: &Charm<'_>,
    world: &World,
    status: &mut StatusCollector,
) -> Result<(), CharmError> {
    for rejected in &world.peers.rejected {
        charm.log(LogLevel::Warning, &rejected.to_string());
    }
    publish_peer_addresses(charm, world)?;
    // Invalid config: say which option is wrong and change nothing else, so
    // the live HAProxy config stays as it was.
    let config = world
        .config
        .as_ref()
        .map_err(|e| CharmError::Config(e.clone()))?;
    reconcile_haproxy(charm, world, config, status)
}

/// This unit's address in its peer databag; the leader's in the app databag.
fn publish_peer_addresses(charm: &Charm<'_>, world: &World) -> Result<(), CharmError> {
    let peers = &world.peers;
    let (Some(relation), Some(ip)) = (&peers.relation, peers.unit_ip) else {
        return Ok(());
    };
    let ip = ip.to_string();
    if peers.published_own_address.as_deref() != Some(ip.as_str()) {
        charm.juju.relation_set(
            relation,
            &Databag::from([(ADDRESS_KEY.to_string(), ip.clone())]),
            false,
        )?;
    }
    if world.is_leader
        && peers.published_leader_ip.map(|l| l.to_string()).as_deref() != Some(ip.as_str())
    {
        charm.log(LogLevel::Info, &format!("publishing leader-ip {ip}"));
        charm.juju.relation_set(
            relation,
            &Databag::from([(LEADER_IP_KEY.to_string(), ip)]),
            true,
        )?;
    }
    Ok(())
}

fn reconcile_haproxy(
    charm: &Charm<'_>,
    world: &World,
    config: &CharmConfig,
    status: &mut StatusCollector,
) -> Result<(), CharmError> {
    if apply::ensure_installed(charm.cmds)? {
        charm.log(LogLevel::Info, "installed haproxy");
    }
    let owner = Owner::of_user(HAPROXY_USER)?;
    for note in apply::sync_error_pages(&charm.paths, owner)? {
        charm.log(LogLevel::Warning, &note);
    }

    let peers = &world.peers;
    if peers.unit_ip.is_none() {
        status.add(Status::waiting(
            "Waiting for this unit's address on the replicas binding",
        ));
    }
    let leader_ip = if world.is_leader {
        peers.unit_ip
    } else {
        peers.published_leader_ip
    };
    if leader_ip.is_none() {
        status.add(Status::waiting(
            "Waiting for the leader's address on the replicas relation",
        ));
    }
    let topology = Topology::new(peers.all_ips(), leader_ip);

    let pem = charm.paths.haproxy_pem();
    let tls_pem: Option<PathBuf> = pem.exists().then_some(pem);
    if tls_pem.is_none() {
        status.add(Status::waiting("Waiting for load balancer TLS certificate"));
    }
    let settings = Settings::from_config(config, tls_pem, charm.paths.haproxy_errors_dir());
    let desired = model::build(&topology, &settings);
    let text = haproxy::render(&desired)?;

    let outcome = apply::apply_config(&charm.paths, charm.cmds, &text, owner)?;
    if outcome == ApplyOutcome::Applied {
        charm.log(
            LogLevel::Info,
            &format!(
                "applied a new HAProxy config ({} units)",
                topology.unit_ips.len()
            ),
        );
    }
    apply::ensure_running(charm.cmds, outcome == ApplyOutcome::Applied)?;
    sync_ports(charm, &model::listening_ports(&desired))
}

/// Opens the frontend ports this unit serves and closes the ones it no longer does.
fn sync_ports(charm: &Charm<'_>, wanted: &[u16]) -> Result<(), CharmError> {
    let all = [
        model::HTTP_PORT,
        model::HTTPS_PORT,
        model::HOSTAGENT_MESSENGER_PORT,
        model::UBUNTU_INSTALLER_ATTACH_PORT,
    ];
    let opened = charm.juju.opened_tcp_ports()?;
    for port in all {
        match (wanted.contains(&port), opened.contains(&port)) {
            (true, false) => charm.juju.open_port(port)?,
            (false, true) => charm.juju.close_port(port)?,
            _ => {}
        }
    }
    Ok(())
}

/// `stop`/`remove`: HAProxy goes down with the unit.
fn stop(charm: &Charm<'_>) -> Result<(), CharmError> {
    let out = charm.cmds.output(&Cmd::new(
        "systemctl",
        &["disable", "--now", apply::HAPROXY_SERVICE],
    ))?;
    if !out.success() {
        charm.log(
            LogLevel::Warning,
            &format!("could not stop haproxy: {}", out.combined()),
        );
    }
    Ok(())
}
