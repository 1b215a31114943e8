//! The Landscape part: packages, service.conf, `/etc/default`, the database
//! schema, the shared secrets, the services and the first account.
//!
//! [`ensure_installed`] runs early in every hook (HAProxy's error pages come
//! from the landscape-server package); [`reconcile`] runs last and brings
//! everything else to what this hook's [`Inputs`] ask for, adding statuses
//! instead of returning early, so the status is always computed from the
//! whole state.

pub mod account;
pub mod amqp;
pub mod database;
pub mod dropins;
mod error;
pub mod etc_default;
pub mod install;
mod leader_services;
pub mod license;
pub mod readiness;
pub mod schema;
pub mod service_conf;
pub mod services;
pub mod shared_secrets;

use sha2::{Digest, Sha256};

pub use error::LandscapeError;

use crate::config::CharmConfig;
use crate::fsutil::{self, Owner};
use crate::host::Host;
use crate::juju::{Bag, LogLevel, StatusName};
use crate::peers::{PeerView, PeerWait};
use crate::status::{Status, StatusCollector};
use crate::system::apt::InstalledPackages;
use crate::unit_state::{StateKey, UnitState};
use amqp::{AmqpRelation, Broker};
use database::{DbConnection, DbObservation};
use readiness::Readiness;
use shared_secrets::SharedSecrets;

pub const PAUSED_MESSAGE: &str = "Paused: Landscape services are stopped (run the resume action)";

/// What the Landscape part needs from the rest of the hook.
#[derive(Debug)]
pub struct Inputs<'a> {
    pub config: &'a CharmConfig,
    pub is_leader: bool,
    pub peers: &'a PeerView,
    pub unit_state: &'a UnitState,
    pub db: &'a DbObservation,
    /// `inbound-amqp` and `outbound-amqp`, in that order.
    pub amqp: &'a [Option<AmqpRelation>; 2],
    /// Whether `load-balancer-certificates` is related, and whether the TLS
    /// part has a certificate installed.
    pub tls_related: bool,
    pub certificate: bool,
    pub packages: &'a InstalledPackages,
    /// `root_url`, or the leader's address; None until that is known.
    pub root_url: Option<String>,
    pub leader_ip: Option<std::net::IpAddr>,
    /// Whether a restart owed may happen in this hook (otherwise the unit
    /// is drained for it first, and the services keep the old files).
    pub restart_now: bool,
    /// Where a handover of the leader-only services stands (an old leader
    /// keeps them while its peers still use them).
    pub handover: &'a PeerWait,
}

/// What Landscape reads at start, as this hook wrote it.
struct Written {
    service_conf: String,
    etc_default: String,
    /// The deployment-mode drop-ins' text (empty for standalone).
    dropins: String,
    license: Option<Vec<u8>>,
}

/// Installs Landscape when it is missing and follows `landscape_ppa`.
pub fn ensure_installed(
    host: &Host<'_>,
    unit_state: &UnitState,
    config: &CharmConfig,
    packages: &InstalledPackages,
) -> Result<(), LandscapeError> {
    let lc = &config.landscape;
    let env = install::proxy_env(&lc.proxies, &host.ctx.proxies);
    let installed = packages.has(install::LANDSCAPE_PACKAGE);
    let recorded_ppa = unit_state.get(&StateKey::LandscapePpa);
    if !installed {
        // Not transactional, so the operator sees it while apt runs.
        host.juju.status_set(StatusName::Maintenance, "Installing Landscape", false)?;
        let needrestart = packages.has(install::NEEDRESTART_PACKAGE);
        install::install_landscape(host.cmds, &host.paths, lc, &env, needrestart).map_err(LandscapeError::Install)?;
        host.log(LogLevel::Info, &format!("installed Landscape from {}", lc.ppa));
    } else if recorded_ppa.is_some_and(|p| *p != lc.ppa) {
        // The upgrade action moves to the new source; the old one goes now.
        install::add_source(host.cmds, &host.paths, lc, &env).map_err(LandscapeError::Install)?;
        if let Some(old) = recorded_ppa {
            install::remove_sources(host.cmds, old, &lc.ppa, &env).map_err(LandscapeError::Install)?;
        }
        host.log(LogLevel::Info, &format!("landscape_ppa is now {}; run the upgrade action to move to it", lc.ppa));
    }
    if recorded_ppa != Some(&lc.ppa) {
        host.stage_state(StateKey::LandscapePpa, lc.ppa.clone());
    }
    Ok(())
}

/// What the Landscape part did to the services, for the parts after it.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct LandscapeOutcome {
    /// The services restarted in this hook (the outbox follows them).
    pub restarted: bool,
    /// The deployment's secret token, once the leader has made it (the
    /// debarchive relation passes it on).
    pub secret_token: Option<String>,
    /// The workers per service that run now, with the files as written
    /// (None while the services do not run).
    pub running_workers: Option<u16>,
    /// The services run with older files than this hook wrote, and may not
    /// restart in this hook ([`Inputs::restart_now`]).
    pub restart_owed: bool,
}

/// Brings Landscape to the state `inputs` ask for.
pub fn reconcile(
    host: &Host<'_>,
    inputs: &Inputs<'_>,
    status: &mut StatusCollector,
) -> Result<LandscapeOutcome, LandscapeError> {
    note_unsupported(inputs.config, status);
    toggle_installer_attach(host, inputs, status)?;
    publish_requests(host, inputs)?;
    let mut readiness = Readiness::default();
    let secrets = shared_secrets::resolve(host, inputs, &mut readiness)?;
    let secret_token = secrets.as_ref().map(|s| s.secret_token.clone());
    let unchanged = LandscapeOutcome { secret_token: secret_token.clone(), ..LandscapeOutcome::default() };
    let db = readiness.database(host, &inputs.db.state, status);
    let broker = readiness.broker(host, inputs.amqp, status);
    readiness.certificate(inputs.tls_related, inputs.certificate);
    let Some(written) = write_files(host, inputs, secrets, db, broker.as_ref(), status)? else { return Ok(unchanged) };
    let schema_ready = match db {
        Some(conn) => {
            let ensured = schema::ensure(host, inputs, conn, &written.service_conf, &mut readiness);
            status.absorb(host, ensured)?.unwrap_or(false)
        }
        None => false,
    };
    let nothing_pending = readiness.report(status);
    let ready = nothing_pending && schema_ready && status.statuses().iter().all(|s| s.name != StatusName::Blocked);
    leader_services::set(host, inputs, ready, status)?;
    if inputs.unit_state.contains(&StateKey::Paused) {
        status.add(Status::maintenance(PAUSED_MESSAGE));
        return Ok(unchanged);
    }
    if !ready {
        return Ok(unchanged);
    }
    start(host, inputs, &written, unchanged, status)
}

/// Landscape, ready to run: restarted if what its services read changed
/// (or the restart owed), then the leader's first account.
fn start(
    host: &Host<'_>,
    inputs: &Inputs<'_>,
    written: &Written,
    unchanged: LandscapeOutcome,
    status: &mut StatusCollector,
) -> Result<LandscapeOutcome, LandscapeError> {
    let restarted = match restart_if_changed(host, inputs, written, status)? {
        Restart::Failed => return Ok(unchanged),
        Restart::Owed => return Ok(LandscapeOutcome { restart_owed: true, ..unchanged }),
        Restart::Deferred => return Ok(unchanged),
        Restart::Unchanged => false,
        Restart::Done => true,
    };
    if inputs.is_leader {
        let root_url = inputs.root_url.clone().unwrap_or_default();
        status.absorb(host, account::ensure(host, inputs, &root_url))?;
    }
    Ok(LandscapeOutcome {
        restarted,
        running_workers: Some(inputs.config.worker_counts),
        restart_owed: false,
        ..unchanged
    })
}

/// Whether the services restarted for what they read.
enum Restart {
    /// Nothing they read changed since their last restart.
    Unchanged,
    Done,
    /// They should, but may not yet ([`Inputs::restart_now`]).
    Owed,
    /// They will, once this old leader handed its leader-only services over.
    Deferred,
    /// They did not start (the unit is Blocked saying why).
    Failed,
}

/// Options of the 26.04 charm this one accepts (so that a refresh keeps
/// them) but does not act on: said in the status while they are set.
fn note_unsupported(config: &CharmConfig, status: &mut StatusCollector) {
    let options = &config.landscape.accepted_only;
    if options.demo_data {
        status.add(Status::active("demo_data is on, but this charm bootstraps without demo data"));
    }
    if options.gpg_secret_id.is_some() {
        status.add(Status::active("gpg_secret_id is set, but this charm does not import GPG keys yet"));
    }
}

/// `ubuntu-installer-attach` installed while its option is on, removed when off.
fn toggle_installer_attach(
    host: &Host<'_>,
    inputs: &Inputs<'_>,
    status: &mut StatusCollector,
) -> Result<(), LandscapeError> {
    let attach = inputs.config.enable_ubuntu_installer_attach;
    let package = install::INSTALLER_ATTACH_PACKAGE;
    let toggled = install::ensure_package(host.cmds, package, attach, inputs.packages.has(package)).map_err(|source| {
        LandscapeError::OptionalPackage { action: if attach { "install" } else { "remove" }, package, source }
    });
    if status.absorb(host, toggled)?.unwrap_or(false) {
        host.log(LogLevel::Info, &format!("{} {package}", if attach { "installed" } else { "removed" }));
    }
    Ok(())
}

/// The license, the deployment mode's link, the SMTP relay, service.conf
/// and `/etc/default/landscape-server`. None when service.conf could not
/// be written (the unit is Blocked saying why).
fn write_files(
    host: &Host<'_>,
    inputs: &Inputs<'_>,
    secrets: Option<SharedSecrets>,
    db: Option<&DbConnection>,
    broker: Option<&Broker>,
    status: &mut StatusCollector,
) -> Result<Option<Written>, LandscapeError> {
    let (config, lc) = (inputs.config, &inputs.config.landscape);
    let license = write_license(host, inputs, status)?;
    let package_search_host = if leader_services::runs(inputs) {
        Some("localhost".to_string())
    } else {
        inputs.leader_ip.map(|ip| ip.to_string())
    };
    let conf_inputs = service_conf::ServiceConfInputs {
        ports: config.ports,
        workers: config.worker_counts,
        root_url: inputs.root_url.clone(),
        deployment_mode: lc.deployment_mode.as_str(),
        identity: &lc.identity,
        secrets,
        package_search_host,
        db,
        broker,
        additional: lc.additional_service_config.as_ref(),
    };
    let Some(service_conf) = status.absorb(host, write_service_conf(host, &conf_inputs))? else { return Ok(None) };
    let etc_default = write_etc_default(host, inputs)?;
    let analytics = lc.analytics_id.as_deref();
    let dropins = status.absorb(host, dropins::reconcile(host, inputs.unit_state, &lc.deployment_mode, analytics))?;
    let Some(dropins) = dropins else { return Ok(None) };
    Ok(Some(Written { service_conf, etc_default, dropins, license }))
}

/// The license, when one is configured and can be read, and the deployment
/// mode's link to the standalone configs.
fn write_license(
    host: &Host<'_>,
    inputs: &Inputs<'_>,
    status: &mut StatusCollector,
) -> Result<Option<Vec<u8>>, LandscapeError> {
    let lc = &inputs.config.landscape;
    let license = match &lc.license {
        Some(source) => status.absorb(host, license::license_bytes(host.cmds, source))?,
        None => None,
    };
    if let Some(bytes) = &license {
        if license::write_license(&host.paths, bytes)? == fsutil::Written::Changed {
            host.log(LogLevel::Info, "wrote the Landscape license");
        }
    }
    if license::ensure_deployment_mode_link(&host.paths, &lc.deployment_mode)? {
        let message = format!("linked the {} deployment mode's configs to standalone", lc.deployment_mode);
        host.log(LogLevel::Info, &message);
    }
    Ok(license)
}

/// `/etc/default/landscape-server`: which services run on this unit.
fn write_etc_default(host: &Host<'_>, inputs: &Inputs<'_>) -> Result<String, LandscapeError> {
    let selection = etc_default::ServiceSelection {
        leader_services: leader_services::runs(inputs),
        ..etc_default::ServiceSelection::of(inputs.config, inputs.is_leader)
    };
    let path = host.paths.landscape_defaults();
    let (current, encoding) = crate::text::decode_file(&fsutil::read_optional(&path)?.unwrap_or_default());
    let text = etc_default::apply(&current, &selection.run_keys());
    let (mode, owner) = fsutil::mode_and_owner(&path)?.unwrap_or((0o644, Owner::default()));
    fsutil::write_atomic(&path, &crate::text::encode_file(&text, encoding), mode, owner)?;
    Ok(text)
}

/// Restarts the services when what they read changed since their last
/// restart.
fn restart_if_changed(
    host: &Host<'_>,
    inputs: &Inputs<'_>,
    written: &Written,
    status: &mut StatusCollector,
) -> Result<Restart, LandscapeError> {
    let attach = if inputs.config.enable_ubuntu_installer_attach { "attach" } else { "" };
    let mut read = vec![written.service_conf.as_str(), &written.etc_default, attach];
    // Standalone has none, and its digest stays what it was before drop-ins.
    if !written.dropins.is_empty() {
        read.push(&written.dropins);
    }
    let digest = services_digest(&read, written.license.as_deref());
    if inputs.unit_state.get(&StateKey::ServicesDigest) == Some(&digest) {
        return Ok(Restart::Unchanged);
    }
    // An old leader restarts once its peers no longer use its leader-only
    // services, for everything at once; cron, which reads the file at each
    // run, is off already.
    if inputs.handover.waiting() {
        return Ok(Restart::Deferred);
    }
    if !inputs.restart_now {
        return Ok(Restart::Owed);
    }
    host.juju.status_set(StatusName::Maintenance, "Restarting Landscape services", false)?;
    if status.absorb(host, services::restart(host.cmds).map_err(LandscapeError::Start))?.is_none() {
        return Ok(Restart::Failed);
    }
    host.log(LogLevel::Info, "restarted Landscape services for their new configuration");
    host.stage_state(StateKey::ServicesDigest, digest);
    Ok(Restart::Done)
}

/// This unit's side of the database and AMQP relations.
fn publish_requests(host: &Host<'_>, inputs: &Inputs<'_>) -> Result<(), LandscapeError> {
    if let (Some(db), true) = (&inputs.db.database, inputs.is_leader) {
        let changes = db.request_changes();
        if !changes.is_empty() {
            host.juju.relation_set(&db.relation, &changes, Bag::App)?;
        }
    }
    for rel in inputs.amqp.iter().flatten() {
        let changes = rel.request_changes();
        if !changes.is_empty() {
            host.juju.relation_set(&rel.relation, &changes, Bag::Unit)?;
        }
    }
    Ok(())
}

/// Writes service.conf when its text changes; returns the text.
fn write_service_conf(host: &Host<'_>, inputs: &service_conf::ServiceConfInputs<'_>) -> Result<String, LandscapeError> {
    let path = host.paths.service_conf();
    let bytes = fsutil::read_optional(&path)?.unwrap_or_default();
    // Every line the charm does not own goes back byte for byte, whatever
    // the file's encoding and line endings.
    let (current, encoding) = crate::text::decode_file(&bytes);
    let text = service_conf::render(&current, inputs)
        .map_err(|source| LandscapeError::ServiceConf { path: path.display().to_string(), source })?;
    if text != current {
        // Keep the package's owner and mode (service.conf holds passwords).
        let (mode, owner) = fsutil::mode_and_owner(&path)?.unwrap_or((0o640, Owner::default()));
        fsutil::write_atomic(&path, &crate::text::encode_file(&text, encoding), mode, owner)?;
        host.log(LogLevel::Info, &format!("updated {}", path.display()));
    }
    Ok(text)
}

/// What decides a restart: the files the services read and the optional package.
fn services_digest(parts: &[&str], license: Option<&[u8]>) -> String {
    let mut hash = Sha256::new();
    for part in parts {
        hash.update(part.as_bytes());
        hash.update(b"\0");
    }
    hash.update(license.unwrap_or_default());
    hash.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// `stop` and `remove`: Landscape's services go down with the unit.
pub fn stop(host: &Host<'_>) {
    if let Err(e) = services::stop(host.cmds) {
        host.log(LogLevel::Warning, &format!("could not stop Landscape services: {e}"));
    }
}
