//! The Landscape workload: packages, service.conf, `/etc/default`, the
//! database schema, the shared secrets and the services.
//!
//! [`ensure_installed`] runs early in every hook (HAProxy's error pages come
//! from the landscape-server package); [`reconcile`] runs after HAProxy and
//! brings everything else to what this hook's [`World`] asks for, adding
//! statuses instead of returning early, so the status is always computed from
//! the whole state.

pub mod account;
pub mod amqp;
pub mod database;
pub mod defaults;
pub mod ini;
pub mod install;
pub mod service_conf;
pub mod services;
pub mod shared_secrets;

use std::net::IpAddr;

use sha2::{Digest, Sha256};

use crate::charm::{Charm, World, settle};
use crate::config::CharmConfig;
use crate::error::CharmError;
use crate::fsutil::{self, FsError, Owner};
use crate::juju::{Databag, LogLevel, StatusName};
use crate::status::{Status, StatusCollector};
use crate::system::apt::InstalledPackages;
use crate::system::{Cmd, CmdError};
use amqp::AmqpState;
use database::{DbConnection, DbState};
use ini::IniError;
use install::InstallError;
use shared_secrets::{SharedSecretError, SharedSecrets};

/// Unit state: set by `pause`, cleared by `resume`.
pub const STATE_PAUSED: &str = "paused";
/// Unit state: digest of the files Landscape's services read, at their last restart.
pub const STATE_SERVICES_DIGEST: &str = "services-digest";
/// Unit state: the APT source this unit added.
pub const STATE_PPA: &str = "landscape-ppa";
/// Unit state: `leader` or `follower`, how the leader-only services were last set.
pub const STATE_LEADER_SERVICES: &str = "leader-only-services";
/// Peer app data: the database (`user@host:port`) whose schema the leader bootstrapped.
pub const SCHEMA_READY_KEY: &str = "schema-bootstrapped";
pub const PAUSED_MESSAGE: &str = "Paused: Landscape services are stopped (run the resume action)";

#[derive(Debug, thiserror::Error)]
pub enum LandscapeError {
    #[error("cannot install Landscape: {0}")]
    Install(#[source] InstallError),
    #[error("cannot {action} {package}: {source}")]
    OptionalPackage {
        action: &'static str,
        package: &'static str,
        #[source]
        source: InstallError,
    },
    #[error("{path} cannot be edited: {source}")]
    ServiceConf {
        path: String,
        #[source]
        source: IniError,
    },
    #[error(transparent)]
    SharedSecrets(#[from] SharedSecretError),
    #[error(transparent)]
    Fs(#[from] FsError),
    #[error(transparent)]
    HookTool(#[from] crate::juju::HookToolError),
    #[error("database schema bootstrap failed: {0}")]
    Schema(#[source] CmdError),
    #[error("Landscape services failed to start: {0}")]
    Start(#[source] CmdError),
    #[error("cannot set up the leader-only services: {0}")]
    LeaderServices(#[source] CmdError),
    #[error("license_file: cannot fetch {url}: {reason}")]
    License { url: String, reason: String },
    #[error("Failed to bootstrap the first account: {0}")]
    Account(#[source] CmdError),
    #[error("Failed to set autoregistration: {0}")]
    Autoregistration(#[source] CmdError),
    #[error("postfix configuration failed: {0}")]
    Postfix(String),
}

impl LandscapeError {
    /// What the operator sees; `None` means Juju should retry the hook.
    pub fn status(&self) -> Option<Status> {
        let first_line = |e: &dyn std::fmt::Display| {
            let text = e.to_string();
            text.lines().next().unwrap_or_default().chars().take(200).collect::<String>()
        };
        match self {
            LandscapeError::OptionalPackage { .. } => Some(Status::blocked(first_line(self))),
            LandscapeError::ServiceConf { .. } => Some(Status::blocked(first_line(self))),
            LandscapeError::Schema(e) => {
                Some(Status::blocked(format!("Failed to bootstrap the database schema: {}", first_line(e))))
            }
            LandscapeError::Start(e) => Some(Status::blocked(format!("Failed to start services: {}", first_line(e)))),
            LandscapeError::License { .. }
            | LandscapeError::Account(_)
            | LandscapeError::Autoregistration(_)
            | LandscapeError::Postfix(_) => Some(Status::blocked(first_line(self))),
            LandscapeError::Install(_)
            | LandscapeError::SharedSecrets(_)
            | LandscapeError::Fs(_)
            | LandscapeError::HookTool(_)
            | LandscapeError::LeaderServices(_) => None,
        }
    }
}

/// Installs Landscape when it is missing and follows `landscape_ppa`.
pub fn ensure_installed(
    charm: &Charm<'_>,
    world: &World,
    config: &CharmConfig,
    packages: &InstalledPackages,
) -> Result<(), CharmError> {
    let lc = &config.landscape;
    let env = install::proxy_env(&lc.proxies, &charm.ctx.proxies);
    let installed = packages.has(install::LANDSCAPE_PACKAGE);
    let recorded_ppa = world.unit_state.get(STATE_PPA);
    if !installed {
        // Not transactional, so the operator sees it while apt runs.
        charm.juju.status_set(StatusName::Maintenance, "Installing Landscape", false)?;
        let needrestart = packages.has(install::NEEDRESTART_PACKAGE);
        install::install_landscape(charm.cmds, &charm.paths, lc, &env, needrestart).map_err(LandscapeError::Install)?;
        charm.log(LogLevel::Info, &format!("installed Landscape from {}", lc.ppa));
    } else if recorded_ppa.is_some_and(|p| *p != lc.ppa) {
        // The upgrade action moves to the new source; the old one goes now.
        install::add_source(charm.cmds, &charm.paths, lc, &env).map_err(LandscapeError::Install)?;
        if let Some(old) = recorded_ppa {
            install::remove_source(charm.cmds, old, &env).map_err(LandscapeError::Install)?;
        }
        charm.log(LogLevel::Info, &format!("landscape_ppa is now {}; run the upgrade action to move to it", lc.ppa));
    }
    if recorded_ppa != Some(&lc.ppa) {
        charm.stage_state(STATE_PPA, lc.ppa.clone());
    }
    Ok(())
}

/// A host from relation data: an IP address or a DNS name, nothing around it.
pub(crate) fn is_host(value: &str) -> bool {
    value.parse::<IpAddr>().is_ok() || crate::config::is_dns_name(value)
}

/// A credential from relation data, fit for service.conf and argv: one word.
pub(crate) fn is_token(value: &str) -> bool {
    !value.is_empty() && !value.contains(|c: char| c.is_whitespace() || c.is_control())
}

/// The leader's address: this unit's own on the leader, the published one elsewhere.
pub fn leader_ip(world: &World) -> Option<IpAddr> {
    if world.is_leader { world.peers.unit_ip } else { world.peers.published_leader_ip }
}

/// `root_url`, or `https://<leader-ip>/` when it is unset; None until the leader's address is known.
pub fn root_url(world: &World, config: &CharmConfig) -> Option<String> {
    match &config.root_url {
        Some(url) => Some(url.url.clone()),
        None => leader_ip(world).map(default_root_url),
    }
}

/// `https://<leader-ip>/` (IPv6 bracketed), the root URL when `root_url` is unset.
pub fn default_root_url(leader_ip: IpAddr) -> String {
    match leader_ip {
        IpAddr::V4(ip) => format!("https://{ip}/"),
        IpAddr::V6(ip) => format!("https://[{ip}]/"),
    }
}

/// Brings Landscape to the state `world` asks for.
pub fn reconcile(
    charm: &Charm<'_>,
    world: &World,
    config: &CharmConfig,
    packages: &InstalledPackages,
    status: &mut StatusCollector,
) -> Result<(), CharmError> {
    let lc = &config.landscape;
    let attach = config.enable_ubuntu_installer_attach;
    let package = install::INSTALLER_ATTACH_PACKAGE;
    let toggled = install::ensure_package(charm.cmds, package, attach, packages.has(package)).map_err(|source| {
        LandscapeError::OptionalPackage { action: if attach { "install" } else { "remove" }, package, source }
    });
    if settle(charm, status, toggled)?.unwrap_or(false) {
        charm.log(LogLevel::Info, &format!("{} {package}", if attach { "installed" } else { "removed" }));
    }

    publish_requests(charm, world)?;
    // Juju's convention: a required relation that is absent needs the
    // operator (Blocked); one that is related but not ready yet needs time
    // (Waiting).
    let mut missing: Vec<&'static str> = vec![];
    let mut waiting: Vec<String> = vec![];
    let secrets = shared_secrets(charm, world, config, &mut waiting)?;

    let db = match &world.db.state {
        DbState::Ready(conn) => Some(conn),
        DbState::Missing => {
            missing.push(crate::juju::metadata::DATABASE_ENDPOINT);
            None
        }
        DbState::Incomplete(what) => {
            waiting.push(what.clone());
            None
        }
        DbState::Invalid(problem) => {
            charm.log(LogLevel::Error, problem);
            status.add(Status::blocked(format!("Unusable database settings: {problem}")));
            None
        }
    };
    let states: Vec<AmqpState> =
        world.amqp.iter().map(|r| r.as_ref().map_or(AmqpState::Missing, |r| r.state())).collect();
    let broker = match amqp::broker(&states[0], &states[1]) {
        Ok(broker) => Some(broker),
        Err(problems) => {
            for state in &states {
                if let AmqpState::Invalid(problem) = state {
                    charm.log(LogLevel::Error, problem);
                }
            }
            if states.iter().all(|s| matches!(s, AmqpState::Ready(_))) {
                status.add(Status::blocked(problems.join("; ")));
            }
            for (endpoint, state) in [amqp::INBOUND, amqp::OUTBOUND].iter().zip(&states) {
                match state {
                    AmqpState::Missing => missing.push(endpoint.name),
                    AmqpState::Incomplete(why) | AmqpState::Invalid(why) => waiting.push(why.clone()),
                    AmqpState::Ready(_) => {}
                }
            }
            None
        }
    };
    match &world.tls {
        None => missing.push(crate::juju::metadata::TLS_ENDPOINT),
        Some(_) if !charm.paths.haproxy_pem().exists() => {
            waiting.push(format!("{} (no certificate yet)", crate::juju::metadata::TLS_ENDPOINT))
        }
        Some(_) => {}
    }

    let leader_ip = leader_ip(world);
    let root_url = root_url(world, config);
    let package_search_host =
        if world.is_leader { Some("localhost".to_string()) } else { leader_ip.map(|ip| ip.to_string()) };
    let license = match &lc.license {
        Some(source) => settle(charm, status, account::license_bytes(charm.cmds, source))?,
        None => None,
    };
    if let Some(bytes) = &license {
        if account::write_license(&charm.paths, bytes)? == fsutil::Written::Changed {
            charm.log(LogLevel::Info, "wrote the Landscape license");
        }
    }
    if account::ensure_deployment_mode_link(&charm.paths, &lc.deployment_mode)? {
        charm
            .log(LogLevel::Info, &format!("linked the {} deployment mode's configs to standalone", lc.deployment_mode));
    }
    if let Some(relay) = &lc.smtp_relay_host {
        settle(charm, status, configure_smtp(charm, relay))?;
    }
    let inputs = service_conf::ServiceConfInputs {
        ports: config.ports,
        workers: config.worker_counts,
        root_url,
        deployment_mode: &lc.deployment_mode,
        identity: &lc.identity,
        secrets,
        package_search_host,
        db,
        broker: broker.as_ref(),
        additional: lc.additional_service_config.as_ref(),
    };
    let Some(conf_text) = settle(charm, status, write_service_conf(charm, &inputs))? else { return Ok(()) };

    let selection = defaults::ServiceSelection::of(config, world.is_leader);
    let defaults_path = charm.paths.landscape_defaults();
    let current = fsutil::read_optional(&defaults_path)?.unwrap_or_default();
    let defaults_text = defaults::apply(&String::from_utf8_lossy(&current), &selection.run_keys());
    let (mode, owner) = fsutil::mode_and_owner(&defaults_path)?.unwrap_or((0o644, Owner::default()));
    fsutil::write_atomic(&defaults_path, defaults_text.as_bytes(), mode, owner)?;

    let schema_ready = match db {
        Some(conn) => settle(charm, status, ensure_schema(charm, world, conn, lc, &mut waiting))?.unwrap_or(false),
        None => false,
    };
    let ready = missing.is_empty()
        && waiting.is_empty()
        && schema_ready
        && status.statuses().iter().all(|s| s.name != StatusName::Blocked);
    if !missing.is_empty() {
        status.add(Status::missing_relations(&missing));
    }
    if !waiting.is_empty() {
        status.add(Status::waiting(waiting_message(&waiting)));
    }

    let role = match (world.is_leader, ready) {
        (true, true) => Some("leader"),
        (false, _) => Some("follower"),
        (true, false) => None,
    };
    if let Some(role) = role.filter(|r| world.unit_state.get(STATE_LEADER_SERVICES).map(String::as_str) != Some(*r)) {
        services::set_leader_only_services(charm.cmds, role == "leader").map_err(LandscapeError::LeaderServices)?;
        charm.stage_state(STATE_LEADER_SERVICES, role);
        charm.log(LogLevel::Info, &format!("leader-only services set up for a {role}"));
    }

    if world.unit_state.contains_key(STATE_PAUSED) {
        status.add(Status::maintenance(PAUSED_MESSAGE));
        return Ok(());
    }
    if !ready {
        return Ok(());
    }
    let digest = services_digest(&[&conf_text, &defaults_text, if attach { "attach" } else { "" }], license.as_deref());
    if world.unit_state.get(STATE_SERVICES_DIGEST) != Some(&digest) {
        charm.juju.status_set(StatusName::Maintenance, "Restarting Landscape services", false)?;
        let restarted = services::restart(charm.cmds).map_err(LandscapeError::Start);
        if settle(charm, status, restarted)?.is_none() {
            return Ok(());
        }
        charm.log(LogLevel::Info, "restarted Landscape services for their new configuration");
        charm.stage_state(STATE_SERVICES_DIGEST, digest);
    }
    if world.is_leader {
        let root_url = inputs.root_url.clone().unwrap_or_default();
        settle(charm, status, ensure_account(charm, world, lc, &root_url))?;
    }
    Ok(())
}

/// postfix's `relayhost`, and a reload when it changed.
fn configure_smtp(charm: &Charm<'_>, relay: &str) -> Result<(), LandscapeError> {
    if account::set_relay_host(&charm.paths, relay)? {
        charm
            .cmds
            .run(&Cmd::new("systemctl", &["reload", "postfix"]))
            .map_err(|e| LandscapeError::Postfix(e.to_string()))?;
        charm.log(LogLevel::Info, &format!("postfix relays through {relay}"));
    }
    Ok(())
}

/// Leader, services running: the first account once, then autoregistration
/// whenever its setting differs from the one last applied.
fn ensure_account(
    charm: &Charm<'_>,
    world: &World,
    lc: &crate::config::LandscapeConfig,
    root_url: &str,
) -> Result<(), LandscapeError> {
    if world.peers.relation.is_none() {
        return Ok(());
    }
    let app = &world.peers.app_data;
    let mut changes = Databag::new();
    if !app.contains_key(account::ACCOUNT_BOOTSTRAPPED_KEY) {
        let Some(admin) = &lc.admin else { return Ok(()) };
        account::bootstrap_account(charm.cmds, &charm.paths, admin, root_url)?;
        charm.log(LogLevel::Info, &format!("bootstrapped the first account for {}", admin.email));
        changes.insert(account::ACCOUNT_BOOTSTRAPPED_KEY.to_string(), "true".to_string());
    }
    let wanted = if lc.autoregistration { "on" } else { "off" };
    // Off is Landscape's default: nothing to do until it was turned on once.
    let applied = app.get(account::AUTOREGISTRATION_KEY).map_or("off", String::as_str);
    let mut result = Ok(());
    if applied != wanted {
        result = account::set_autoregistration(charm.cmds, &charm.paths, lc.autoregistration);
        if result.is_ok() {
            charm.log(LogLevel::Info, &format!("autoregistration is {wanted}"));
            changes.insert(account::AUTOREGISTRATION_KEY.to_string(), wanted.to_string());
        }
    }
    // A bootstrap that happened stays recorded even when autoregistration failed.
    charm.stage_peer_app(&changes);
    result
}

/// This unit's side of the database and AMQP relations.
fn publish_requests(charm: &Charm<'_>, world: &World) -> Result<(), CharmError> {
    if let (Some(db), true) = (&world.db.database, world.is_leader) {
        let changes = db.request_changes();
        if !changes.is_empty() {
            charm.juju.relation_set(&db.relation, &changes, true)?;
        }
    }
    for rel in world.amqp.iter().flatten() {
        let changes = rel.request_changes();
        if !changes.is_empty() {
            charm.juju.relation_set(&rel.relation, &changes, false)?;
        }
    }
    Ok(())
}

/// Config values first; otherwise the ones the leader shares.
fn shared_secrets(
    charm: &Charm<'_>,
    world: &World,
    config: &CharmConfig,
    waiting: &mut Vec<String>,
) -> Result<Option<SharedSecrets>, CharmError> {
    let lc = &config.landscape;
    if let (Some(token), Some(key)) = (&lc.secret_token, &lc.cookie_encryption_key) {
        return Ok(Some(SharedSecrets { secret_token: token.clone(), cookie_encryption_key: key.clone() }));
    }
    if world.peers.relation.is_none() {
        waiting.push(format!("{} (not joined yet)", crate::juju::metadata::PEER_ENDPOINT));
        return Ok(None);
    }
    let shared = if world.is_leader {
        let outcome =
            shared_secrets::leader_ensure(&charm.juju, &world.peers.app_data).map_err(LandscapeError::from)?;
        if outcome.created {
            charm.log(LogLevel::Info, "shared secret-token and cookie-encryption-key through a Juju secret");
        }
        charm.stage_peer_app(&outcome.peer_app_changes);
        outcome.secrets
    } else {
        shared_secrets::follower_read(&charm.juju, &world.peers.app_data).map_err(LandscapeError::from)?
    };
    let Some(shared) = shared else {
        waiting.push(format!("{} (the leader has not shared secret-token yet)", crate::juju::metadata::PEER_ENDPOINT));
        return Ok(None);
    };
    Ok(Some(SharedSecrets {
        secret_token: lc.secret_token.clone().unwrap_or(shared.secret_token),
        cookie_encryption_key: lc.cookie_encryption_key.clone().unwrap_or(shared.cookie_encryption_key),
    }))
}

/// Writes service.conf when its text changes; returns the text.
fn write_service_conf(
    charm: &Charm<'_>,
    inputs: &service_conf::ServiceConfInputs<'_>,
) -> Result<String, LandscapeError> {
    let path = charm.paths.service_conf();
    let current = fsutil::read_optional(&path)?.unwrap_or_default();
    let current = String::from_utf8_lossy(&current);
    let text = service_conf::render(&current, inputs)
        .map_err(|source| LandscapeError::ServiceConf { path: path.display().to_string(), source })?;
    if text != current {
        // Keep the package's owner and mode (service.conf holds passwords).
        let (mode, owner) = fsutil::mode_and_owner(&path)?.unwrap_or((0o640, Owner::default()));
        fsutil::write_atomic(&path, text.as_bytes(), mode, owner)?;
        charm.log(LogLevel::Info, &format!("updated {}", path.display()));
    }
    Ok(text)
}

/// Leader: bootstrap the schema once per database and say so in peer data.
/// Others: wait until the leader has. Returns whether the schema is ready.
fn ensure_schema(
    charm: &Charm<'_>,
    world: &World,
    conn: &DbConnection,
    lc: &crate::config::LandscapeConfig,
    waiting: &mut Vec<String>,
) -> Result<bool, LandscapeError> {
    let marker = format!("{}@{}", conn.user, conn.address());
    if world.peers.app_data.get(SCHEMA_READY_KEY) == Some(&marker) {
        return Ok(true);
    }
    if !world.is_leader {
        waiting.push("database (the leader has not bootstrapped the schema yet)".into());
        return Ok(false);
    }
    if world.peers.relation.is_none() {
        return Ok(false);
    }
    charm.juju.status_set(StatusName::Maintenance, "Bootstrapping the database schema", false)?;
    let mut bootstrap = Cmd::new("landscape-schema", &["--bootstrap", "--db-owner-role", conn.owner_role()]);
    let proxies = install::proxy_env(&lc.proxies, &charm.ctx.proxies);
    for (name, flag) in
        [("http_proxy", "--with-http-proxy"), ("https_proxy", "--with-https-proxy"), ("no_proxy", "--with-no-proxy")]
    {
        if let Some((_, value)) = proxies.iter().find(|(k, _)| *k == name) {
            // A proxy URL may carry credentials: never in a log or an error.
            bootstrap = bootstrap.arg(flag).secret_arg(value.clone());
        }
    }
    charm.cmds.run(&bootstrap).map_err(LandscapeError::Schema)?;
    if conn.major_version.is_some_and(|v| v >= 16) {
        grant_pg16_roles(charm, conn)?;
    }
    let wsl = charm.paths.landscape_program("update-wsl-distributions");
    if wsl.exists() {
        if let Err(e) = charm.cmds.run(&Cmd::new(&wsl.display().to_string(), &[])) {
            charm.log(LogLevel::Warning, &format!("update-wsl-distributions failed (Landscape still works): {e}"));
        }
    }
    charm.log(LogLevel::Info, &format!("bootstrapped the Landscape schema on {}", conn.address()));
    charm.stage_peer_app(&Databag::from([(SCHEMA_READY_KEY.to_string(), marker)]));
    Ok(true)
}

/// PostgreSQL 16 charms give no `postgres` role: Landscape's own role needs
/// `charmed_dml` to use the tables the schema owner created.
fn grant_pg16_roles(charm: &Charm<'_>, conn: &DbConnection) -> Result<(), LandscapeError> {
    let conf = fsutil::read_optional(&charm.paths.service_conf())?.unwrap_or_default();
    let doc = ini::IniDocument::parse(&String::from_utf8_lossy(&conf)).unwrap_or_default();
    let is_role =
        |r: &str| !r.is_empty() && r.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    let mut grants = vec![];
    let stores_user = doc.get("stores", "user").unwrap_or_else(|| "landscape".into());
    if is_role(&stores_user) {
        grants.push(format!("GRANT charmed_dml TO {stores_user}"));
    }
    if let Some(superuser) = doc.get("schema", "store_superuser").filter(|u| is_role(u)) {
        grants.push(format!("GRANT charmed_dba TO {superuser}"));
    }
    for grant in grants {
        let cmd =
            Cmd::new("psql", &["-h", &conn.host, "-p", &conn.port.to_string(), "-U", &conn.user, "-d", "postgres"])
                .arg("-v")
                .arg("ON_ERROR_STOP=1")
                .arg("-c")
                .arg(grant)
                .env("PGPASSWORD", &conn.password);
        charm.cmds.run(&cmd).map_err(LandscapeError::Schema)?;
    }
    Ok(())
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
pub fn stop(charm: &Charm<'_>) {
    if let Err(e) = services::stop(charm.cmds) {
        charm.log(LogLevel::Warning, &format!("could not stop Landscape services: {e}"));
    }
}

/// "Waiting for inbound-amqp: no password yet; database: ..." from entries
/// written as `endpoint (what it lacks)` or a bare `endpoint`.
fn waiting_message(entries: &[String]) -> String {
    let parts: Vec<String> = entries
        .iter()
        .map(|entry| match entry.split_once(" (").and_then(|(name, rest)| Some((name, rest.strip_suffix(')')?))) {
            Some((name, why)) => format!("{name}: {why}"),
            None => entry.clone(),
        })
        .collect();
    format!("Waiting for {}", parts.join("; "))
}

#[cfg(test)]
mod tests {
    use super::waiting_message;

    #[test]
    fn waiting_names_each_relation_and_what_it_lacks() {
        let entries = [
            "inbound-amqp (no password yet)".to_string(),
            "database (the leader has not bootstrapped the schema yet)".to_string(),
        ];
        assert_eq!(
            waiting_message(&entries),
            "Waiting for inbound-amqp: no password yet; database: the leader has not bootstrapped the schema yet"
        );
        assert_eq!(waiting_message(&["replicas".to_string()]), "Waiting for replicas");
    }
}
