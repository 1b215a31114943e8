//! The charm: one snapshot of the world per hook, one reconcile.
//!
//! Every hook builds a [`World`] (context, config, leadership, peers), then
//! [`reconcile`] computes what the unit should look like and makes it so,
//! idempotently. Errors are mapped to statuses in one place
//! ([`crate::error::CharmError::disposition`]).

use std::cell::RefCell;
use std::collections::BTreeSet;
use std::path::PathBuf;

use crate::config::{CharmConfig, ConfigError};
use crate::error::{CharmError, Disposition};
use crate::fsutil;
use crate::fsutil::Owner;
use crate::haproxy::apply::{self, HAPROXY_USER};
use crate::haproxy::{self, ApplyOutcome, HaproxyConfig, Settings, Topology, model};
use crate::ingress::{self, IngressRelation};
use crate::juju::event::SecretKind;
use crate::juju::metadata::PEER_ENDPOINT;
use crate::juju::{Databag, Event, HookToolError, HookTools, JujuContext, LogLevel, RelationId, RelationKind};
use crate::landscape::defaults::ServiceSelection;
use crate::landscape::install;
use crate::landscape::{self, amqp, amqp::AmqpRelation, database, database::DbObservation};
use crate::monitoring::{self, OwnSide};
use crate::paths::Paths;
use crate::peers::{ADDRESS_KEY, LEADER_IP_KEY, PeerView};
use crate::status::{Status, StatusCollector};
use crate::steady::{self, Record};
use crate::system::apt::InstalledPackages;
use crate::system::{Cmd, CommandRunner};
use crate::tls::{self, CertRequest, TlsError, TlsRelation};

/// What the charm works with during one hook.
pub struct Charm<'a> {
    pub ctx: JujuContext,
    pub juju: HookTools<'a>,
    pub cmds: &'a dyn CommandRunner,
    pub paths: Paths,
    /// Peer app bag and unit state changes, sent once at the end of the hook.
    pub staged: RefCell<StagedWrites>,
}

/// Writes to the two bags that several parts change in one hook (the peer
/// application bag and unit state), gathered so that each goes out in one
/// `relation-set --app` and one `state-set`. Both are transactional with the
/// hook in Juju, so sending them at its end changes nothing but the count.
#[derive(Debug, Default)]
pub struct StagedWrites {
    pub peer_app: Databag,
    pub unit_state: Databag,
    pub unit_state_deleted: BTreeSet<String>,
}

impl<'a> Charm<'a> {
    pub fn new(ctx: JujuContext, juju: HookTools<'a>, cmds: &'a dyn CommandRunner, paths: Paths) -> Self {
        Self { ctx, juju, cmds, paths, staged: RefCell::default() }
    }

    /// Sets (or, with an empty value, deletes) keys of the peer app bag at the end of the hook.
    pub fn stage_peer_app(&self, changes: &Databag) {
        self.staged.borrow_mut().peer_app.extend(changes.iter().map(|(k, v)| (k.clone(), v.clone())));
    }

    /// Sets a unit-state key at the end of the hook.
    pub fn stage_state(&self, key: &str, value: impl Into<String>) {
        let mut staged = self.staged.borrow_mut();
        staged.unit_state_deleted.remove(key);
        staged.unit_state.insert(key.to_string(), value.into());
    }

    /// Deletes a unit-state key at the end of the hook.
    pub fn stage_state_delete(&self, key: &str) {
        let mut staged = self.staged.borrow_mut();
        staged.unit_state.remove(key);
        staged.unit_state_deleted.insert(key.to_string());
    }

    /// What a dispatch killed part-way can have left: temporary files of
    /// atomic writes (keys, passwords), secret values for `secret-add`, and a
    /// candidate path that is not a file. Best effort: a failure is logged,
    /// and the write that needs the path fails the hook on its own.
    pub fn clear_crash_leftovers(&self) {
        let mut problems = vec![];
        for dir in self.paths.written_dirs() {
            match fsutil::remove_stale_temps(&dir) {
                Ok(removed) => {
                    for path in removed {
                        self.log(LogLevel::Info, &format!("removed {}, left by an interrupted hook", path.display()));
                    }
                }
                Err(e) => problems.push(e.to_string()),
            }
        }
        for dir in [self.paths.secret_content_dir(), self.paths.haproxy_candidate_config()] {
            if dir.is_dir() {
                if let Err(e) = std::fs::remove_dir_all(&dir) {
                    problems.push(format!("cannot remove {}: {e}", dir.display()));
                }
            }
        }
        for problem in problems {
            self.log(LogLevel::Warning, &problem);
        }
    }

    /// Sends what was staged and differs from the bags as the hook found them
    /// (`peer_app`, `unit_state`): one call per bag that changed, none for a
    /// value staged again unchanged or a key deleted that was never there.
    pub fn flush_staged(
        &self,
        peer_relation: Option<&RelationId>,
        peer_app: &Databag,
        unit_state: &Databag,
    ) -> Result<(), HookToolError> {
        let staged = std::mem::take(&mut *self.staged.borrow_mut());
        // An empty value deletes a relation key: a change only if the key is there.
        let peer_changes: Databag = staged
            .peer_app
            .into_iter()
            .filter(|(k, v)| peer_app.get(k).map_or(!v.is_empty(), |current| current != v))
            .collect();
        if let (Some(relation), false) = (peer_relation, peer_changes.is_empty()) {
            self.juju.relation_set(relation, &peer_changes, true)?;
        }
        let state_changes: Databag =
            staged.unit_state.into_iter().filter(|(k, v)| unit_state.get(k) != Some(v)).collect();
        if !state_changes.is_empty() {
            self.juju.state_set(&state_changes)?;
        }
        for key in staged.unit_state_deleted.iter().filter(|k| unit_state.contains_key(*k)) {
            self.juju.state_delete(key)?;
        }
        Ok(())
    }

    /// Logs through `juju-log`; if even that fails, to stderr (which Juju
    /// also keeps, at WARNING).
    pub fn log(&self, level: LogLevel, message: &str) {
        if let Err(e) = self.juju.juju_log(level, message) {
            eprintln!("{} (juju-log failed: {e})", crate::text::one_line(message));
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
    pub ingress: Vec<IngressRelation>,
    pub tls: Option<TlsRelation>,
    pub db: DbObservation,
    /// `inbound-amqp` and `outbound-amqp`, in that order.
    pub amqp: [Option<AmqpRelation>; 2],
    pub nrpe: Vec<OwnSide>,
    pub cos_agent: Vec<OwnSide>,
    /// Read only by the leader (the application's own bag).
    pub dashboard: Vec<OwnSide>,
    /// The charm's own bookkeeping (`state-get`).
    pub unit_state: Databag,
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
    pub fn observe(charm: &Charm<'_>, event: Event, unit_state: Databag, is_leader: bool) -> Result<Self, CharmError> {
        let config = CharmConfig::parse(charm.juju.config_get()?);
        // Peer data cannot be read during install; a broken peer relation no
        // longer counts.
        let readable = event != Event::Install;
        let broken = match &event {
            Event::Relation(r) if r.kind == RelationKind::Broken => Some(r.relation.clone()),
            _ => None,
        };
        let broken = broken.as_ref();
        let (unit, app) = (&charm.ctx.unit_name, &charm.ctx.app_name);
        let peer_broken = broken.filter(|r| r.endpoint == PEER_ENDPOINT);
        let peers = PeerView::observe(&charm.juju, unit, app, readable, peer_broken)?;
        let ingress = ingress::observe(&charm.juju, is_leader, unit, app, broken)?;
        let tls = tls::observe(&charm.juju, unit, broken)?;
        let overrides = config.as_ref().map(|c| c.landscape.db.clone()).unwrap_or_default();
        let secret_changed = matches!(&event, Event::Secret { kind: SecretKind::Changed, .. });
        let db = database::observe(&charm.juju, unit, is_leader, &overrides, broken, secret_changed)?;
        let amqp = [
            amqp::observe(&charm.juju, amqp::INBOUND, unit, broken)?,
            amqp::observe(&charm.juju, amqp::OUTBOUND, unit, broken)?,
        ];
        let nrpe = monitoring::observe(&charm.juju, monitoring::NRPE_ENDPOINT, unit, false, broken)?;
        let cos_agent = monitoring::observe(&charm.juju, monitoring::COS_AGENT_ENDPOINT, unit, false, broken)?;
        let dashboard = if is_leader {
            monitoring::observe(&charm.juju, monitoring::DASHBOARD_ENDPOINT, unit, true, broken)?
        } else {
            vec![]
        };
        Ok(Self { event, is_leader, config, peers, ingress, tls, db, amqp, nrpe, cos_agent, dashboard, unit_state })
    }
}

/// Runs a hook: snapshot, reconcile, status. Returns an error only when Juju
/// should retry the hook.
pub fn handle_hook(charm: &Charm<'_>, event: Event) -> Result<(), CharmError> {
    if matches!(event, Event::Stop | Event::Remove) {
        return stop(charm);
    }
    let (unit_state, is_leader) = (charm.juju.state_get()?, charm.juju.is_leader()?);
    if event == Event::UpdateStatus {
        match steady::what_changed(charm, Record::parse(&unit_state).as_ref(), is_leader)? {
            None => return Ok(()),
            Some(reason) => charm.log(LogLevel::Debug, &format!("update-status reconciles: {reason}")),
        }
    }
    let world = World::observe(charm, event, unit_state, is_leader)?;
    handle_world(charm, &world)
}

/// After an action changed what this unit should be (paused, resumed),
/// reconciles and recomputes the status as a hook would; `adjust` applies the
/// action's own state writes, which Juju commits only when the action ends.
pub fn reconcile_after_action(charm: &Charm<'_>, adjust: impl FnOnce(&mut World)) -> Result<(), CharmError> {
    let (unit_state, is_leader) = (charm.juju.state_get()?, charm.juju.is_leader()?);
    let mut world = World::observe(charm, Event::UpdateStatus, unit_state, is_leader)?;
    adjust(&mut world);
    handle_world(charm, &world)
}

fn handle_world(charm: &Charm<'_>, world: &World) -> Result<(), CharmError> {
    let mut status = StatusCollector::new();
    let result = reconcile(charm, world, &mut status);
    if let Err(err) = settle(charm, &mut status, result) {
        charm.log(LogLevel::Error, &format!("hook failed, Juju will retry it: {err}"));
        return Err(err);
    }
    let resolved = status.resolve();
    charm.stage_state(steady::RECORD_KEY, record_of(charm, world, &resolved).to_json());
    charm.flush_staged(world.peers.relation.as_ref(), &world.peers.app_data, &world.unit_state)?;
    charm.juju.status_set(resolved.name, &resolved.message, false)?;
    Ok(())
}

/// What update-status will compare the next time (see [`steady`]).
fn record_of(charm: &Charm<'_>, world: &World, status: &Status) -> Record {
    let landscape_units = match &world.config {
        Ok(config) => ServiceSelection::of(config, world.is_leader).systemd_units(),
        Err(_) => vec![],
    };
    Record::new(charm, world.is_leader, world.peers.unit_ip.map(|ip| ip.to_string()), status, &landscape_units)
}

/// Computes and applies the desired state of this unit.
pub fn reconcile(charm: &Charm<'_>, world: &World, status: &mut StatusCollector) -> Result<(), CharmError> {
    for rejected in &world.peers.rejected {
        charm.log(LogLevel::Warning, &rejected.to_string());
    }
    publish_peer_addresses(charm, world)?;
    // Invalid config: say which option is wrong and change nothing else, so
    // the live HAProxy config stays as it was.
    let config = world.config.as_ref().map_err(|e| CharmError::Config(e.clone()))?;
    // Asked once a valid config says there is work to do: a config that
    // blocks the unit runs no command at all.
    let mut packages = InstalledPackages::query(charm.cmds, MANAGED_PACKAGES)?;
    landscape::ensure_installed(charm, world, config, &packages)?;
    if apply::ensure_installed(charm.cmds, packages.has(apply::HAPROXY_PACKAGE))? {
        packages.set(apply::HAPROXY_PACKAGE, true);
        charm.log(LogLevel::Info, "installed haproxy");
    }
    let bundle_changed = settle(charm, status, reconcile_tls(charm, world, config))?.unwrap_or(false);
    let (desired, inputs_digest) = desired_haproxy(charm, world, config, status);
    // Ingress is published even when HAProxy refuses its new config: the
    // databags depend on the config and addresses, not on HAProxy's verdict.
    let haproxy = reconcile_haproxy(charm, world, &desired, &inputs_digest, bundle_changed);
    let ingress = reconcile_ingress(charm, world, config, &model::listening_ports(&desired), status);
    haproxy.and(ingress)?;
    monitoring::reconcile(charm, world, config, landscape::root_url(world, config).as_deref())?;
    landscape::reconcile(charm, world, config, &packages, status)
}

/// This unit's address in its peer databag; the leader's in the app databag.
fn publish_peer_addresses(charm: &Charm<'_>, world: &World) -> Result<(), CharmError> {
    let peers = &world.peers;
    let (Some(relation), Some(ip)) = (&peers.relation, peers.unit_ip) else {
        return Ok(());
    };
    let ip = ip.to_string();
    if peers.published_own_address.as_deref() != Some(ip.as_str()) {
        charm.juju.relation_set(relation, &Databag::from([(ADDRESS_KEY.to_string(), ip.clone())]), false)?;
    }
    if world.is_leader && peers.published_leader_ip.map(|l| l.to_string()).as_deref() != Some(ip.as_str()) {
        charm.log(LogLevel::Info, &format!("publishing leader-ip {ip}"));
        charm.stage_peer_app(&Databag::from([(LEADER_IP_KEY.to_string(), ip)]));
    }
    Ok(())
}

/// The HAProxy configuration this unit should run (pure but for one file
/// check: whether the certificate bundle exists), and a digest of what it is
/// built from.
fn desired_haproxy(
    charm: &Charm<'_>,
    world: &World,
    config: &CharmConfig,
    status: &mut StatusCollector,
) -> (HaproxyConfig, String) {
    let peers = &world.peers;
    if peers.unit_ip.is_none() {
        status.add(Status::waiting("Waiting for this unit's address on the replicas binding"));
    }
    let leader_ip = landscape::leader_ip(world);
    if leader_ip.is_none() {
        status.add(Status::waiting("Waiting for the leader's address on the replicas relation"));
    }
    let topology = Topology::new(peers.all_ips(), leader_ip);

    // Without a certificate only port 80 is served; the Landscape part lists
    // load-balancer-certificates among the relations it waits on.
    let pem = charm.paths.haproxy_pem();
    let tls_pem: Option<PathBuf> = pem.exists().then_some(pem);
    let settings = Settings::from_config(config, tls_pem, charm.paths.haproxy_errors_dir());
    // The template is part of the build, so the build is part of the inputs.
    let inputs = format!("{} {topology:?} {settings:?}", steady::charm_build());
    (model::build(&topology, &settings), fsutil::sha256_hex(&[inputs.as_bytes()]))
}

/// Turns a failure that explains itself into a status and lets the hook go
/// on; a failure Juju should retry still fails the hook. Takes any error the
/// charm knows, so every part maps failures through [`CharmError::disposition`].
pub(crate) fn settle<T, E: Into<CharmError>>(
    charm: &Charm<'_>,
    status: &mut StatusCollector,
    result: Result<T, E>,
) -> Result<Option<T>, CharmError> {
    match result.map_err(Into::into) {
        Ok(value) => Ok(Some(value)),
        Err(err) => match err.disposition() {
            Disposition::Status(s) => {
                charm.log(LogLevel::Error, &err.to_string());
                status.add(s);
                Ok(None)
            }
            Disposition::Retry => Err(err),
        },
    }
}

/// Keeps this unit's CSR current on `load-balancer-certificates` and installs
/// the certificate issued for it. Returns whether the installed bundle changed.
fn reconcile_tls(charm: &Charm<'_>, world: &World, config: &CharmConfig) -> Result<bool, CharmError> {
    let Some(rel) = &world.tls else {
        // The relation is being removed: no key, no bundle, so a re-added
        // relation starts afresh with a new key.
        let removed = matches!(&world.event, Event::Relation(r)
            if r.kind == RelationKind::Broken && r.relation.endpoint == crate::juju::metadata::TLS_ENDPOINT);
        if removed {
            tls::forget(&charm.paths)?;
            charm.log(LogLevel::Info, "load-balancer-certificates removed: forgot the key and the certificate");
        }
        return Ok(removed);
    };
    // Without an address there is nothing to ask for; the HAProxy part says why.
    let Some(ip) = world.peers.unit_ip else { return Ok(false) };
    let key = tls::load_or_create_key(&charm.paths)?;
    let request = CertRequest::new(config.root_url.as_ref().and_then(|u| u.hostname()), ip);
    let current = tls::published_csrs(&rel.own_unit).into_iter().find(|csr| tls::csr_matches(csr, &request, &key));
    let mut changed = false;
    let mut renew = false;
    let mut problem = None;
    if let Some(csr) = &current {
        let now = tls::now();
        match tls::valid_issued(&rel.provider_app, csr, &key, now) {
            Ok(Some((_, checked))) => {
                let owner = Owner::of_user(HAPROXY_USER)?;
                let bundle = tls::bundle(&checked, &key);
                let pem = charm.paths.haproxy_pem();
                if !fsutil::is_current(&pem, bundle.as_bytes(), 0o600, owner) {
                    // Owed before the rename, paid by the reload below or a later hook's.
                    apply::owe_reload(&charm.paths)?;
                    fsutil::write_atomic(&pem, bundle.as_bytes(), 0o600, owner)?;
                    charm.log(
                        LogLevel::Info,
                        &format!("installed the load balancer certificate for {}", request.common_name),
                    );
                    changed = true;
                }
                renew = tls::needs_renewal(checked.validity, now);
                if renew {
                    charm.log(
                        LogLevel::Info,
                        "the load balancer certificate has less than a third of its validity left; renewing",
                    );
                }
            }
            Ok(None) => {}
            Err(e) => problem = Some(e),
        }
    }
    if current.is_none() || renew {
        // The old certificate, if any, keeps serving until the new one arrives.
        let csr = tls::make_csr(&request, &key)?;
        let data = Databag::from([(tls::CSRS_KEY.to_string(), tls::csrs_value(&csr))]);
        charm.juju.relation_set(&rel.relation, &data, false)?;
        charm.log(LogLevel::Info, &format!("requested a load balancer certificate for {} ({ip})", request.common_name));
    }
    match problem {
        Some(problem) => Err(TlsError::BadProviderData(problem).into()),
        None => Ok(changed),
    }
}

/// Unit state: `<inputs digest> <live config digest>` of the last config applied.
const HAPROXY_APPLIED_KEY: &str = "haproxy-applied";

fn reconcile_haproxy(
    charm: &Charm<'_>,
    world: &World,
    desired: &HaproxyConfig,
    inputs_digest: &str,
    bundle_changed: bool,
) -> Result<(), CharmError> {
    let owner = Owner::of_user(HAPROXY_USER)?;
    for note in apply::sync_error_pages(&charm.paths, owner)? {
        charm.log(LogLevel::Warning, &note);
    }
    // Rendering is most of the charm's own time at scale (1.3 MB for 100
    // units of 16 workers): skip it when the inputs are those of the live
    // config, and the live file is still what was applied.
    let live = fsutil::read_optional(&charm.paths.haproxy_config())?;
    let applied = |text: &[u8]| format!("{inputs_digest} {}", fsutil::sha256_hex(&[text]));
    let unchanged =
        live.as_deref().is_some_and(|text| world.unit_state.get(HAPROXY_APPLIED_KEY) == Some(&applied(text)));
    let outcome = if unchanged {
        apply::clear_rejected(&charm.paths)?;
        ApplyOutcome::Unchanged
    } else {
        let text = haproxy::render(desired)?;
        let outcome = apply::apply_config(&charm.paths, charm.cmds, &text, owner)?;
        charm.stage_state(HAPROXY_APPLIED_KEY, applied(text.as_bytes()));
        outcome
    };
    if outcome == ApplyOutcome::Applied {
        charm.log(LogLevel::Info, "applied a new HAProxy config");
    }
    // A new certificate needs a reload even when the config text is the same.
    apply::ensure_running(&charm.paths, charm.cmds, outcome == ApplyOutcome::Applied || bundle_changed)?;
    sync_ports(charm, &model::listening_ports(desired))
}

/// State key under which the last URL seen on an ingress endpoint is kept,
/// so that a change is logged once rather than every hook.
fn ingress_url_key(endpoint: &str) -> String {
    format!("ingress-url.{endpoint}")
}

/// Publishes this side of every ingress relation and reads back the URLs.
fn reconcile_ingress(
    charm: &Charm<'_>,
    world: &World,
    config: &CharmConfig,
    open_ports: &[u16],
    status: &mut StatusCollector,
) -> Result<(), CharmError> {
    let hostname = ingress::hostname();
    let requirer = ingress::Requirer {
        model: &charm.ctx.model_name,
        app: &charm.ctx.app_name,
        hostname: &hostname,
        is_leader: world.is_leader,
    };
    let mut stale_keys: Vec<String> =
        world.unit_state.keys().filter(|k| k.starts_with("ingress-url.")).cloned().collect();
    for rel in &world.ingress {
        let endpoint = rel.endpoint;
        let unused = endpoint.unused_reason(config);
        let unit_ip = match rel.unit_address.as_deref() {
            Some(raw) => crate::peers::parse_ip(raw).or_else(|| {
                charm.log(
                    LogLevel::Warning,
                    &format!("{}: network-get gave no IP address: {}", endpoint.name, crate::text::quoted(raw)),
                );
                world.peers.unit_ip
            }),
            None => world.peers.unit_ip,
        };
        let wanted =
            ingress::desired(endpoint, unused.is_none(), &requirer, unit_ip, open_ports.contains(&endpoint.port));
        if let (Some(current), Some(app)) = (&rel.own_app, &wanted.app) {
            let changes = ingress::app_changes(current, app);
            if !changes.is_empty() {
                charm.juju.relation_set(&rel.relation, &changes, true)?;
            }
        }
        let changes = ingress::unit_changes(&rel.own_unit, &wanted.unit);
        if !changes.is_empty() {
            charm.juju.relation_set(&rel.relation, &changes, false)?;
        }
        if let Some(reason) = unused {
            status.add(Status::active(reason));
            continue;
        }
        // The URL is for operators only: bad provider data is logged (naming
        // the endpoint and the field) and ignored, since it does not stop this
        // unit from serving.
        let key = ingress_url_key(endpoint.name);
        match rel.url() {
            Ok(Some(url)) => {
                stale_keys.retain(|k| *k != key);
                if world.unit_state.get(&key) != Some(&url) {
                    let message = format!("{}: the ingress provider serves Landscape at {url}", endpoint.name);
                    charm.log(LogLevel::Info, &message);
                    charm.stage_state(&key, url);
                }
            }
            Ok(None) => {}
            Err(problem) => {
                charm.log(LogLevel::Warning, &format!("{}: ignoring the provider's data: {problem}", endpoint.name))
            }
        }
    }
    for key in stale_keys {
        charm.stage_state_delete(&key);
    }
    Ok(())
}
/// Opens the frontend ports this unit serves and closes the ones it no longer does.
fn sync_ports(charm: &Charm<'_>, wanted: &[u16]) -> Result<(), CharmError> {
    let all =
        [model::HTTP_PORT, model::HTTPS_PORT, model::HOSTAGENT_MESSENGER_PORT, model::UBUNTU_INSTALLER_ATTACH_PORT];
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

/// `stop`/`remove`: Landscape and HAProxy go down with the unit.
fn stop(charm: &Charm<'_>) -> Result<(), CharmError> {
    landscape::stop(charm);
    let out = charm.cmds.output(&Cmd::new("systemctl", &["disable", "--now", apply::HAPROXY_SERVICE]))?;
    if !out.success() {
        charm.log(LogLevel::Warning, &format!("could not stop haproxy: {}", out.combined()));
    }
    Ok(())
}
