//! The task-handler part (provider side of `landscape-task-handler`).
//!
//! The leader gives the landscape-task-handler charm, in its application
//! bag, the stores Landscape uses, as service.conf has them: `host`,
//! `port`, `user`, `main`, `account_1`, `resource_1`, `sslmode` (and the
//! `ssl*` paths when set), `hostname`, and `secret-id`, a Juju secret
//! `{"password": ...}` granted to the relation. With a PgBouncer beside
//! Landscape the host is a loopback address, out of the task handler's
//! reach: it is published as one the task handler recognises
//! (`localhost`, `127.0.0.1`, `::1`), which makes it use its own `task-db`
//! relation's host and SSL mode with these credentials, and the log says
//! so.
//!
//! The task handler answers with `grpc-address` and `certs-secret-id` (its
//! mTLS client bundle for the outbox, `ca-cert`, `client-cert`,
//! `client-key`) and `certs-revision`. Every unit writes the bundle where
//! the strictly confined outbox can read it (its `$SNAP_COMMON`) and points
//! the outbox at both with `snap set`; once per revision and address.

use crate::fsutil::{self, FsError, Owner};
use crate::host::Host;
use crate::ini::IniDocument;
use crate::juju::granted_secret;
use crate::juju::{Bag, Databag, HookToolError, HookTools, LogLevel, RelationId};
use crate::status::{Explain, Status, first_line};
use crate::system::{Cmd, CmdError};
use crate::text::quoted;
use crate::unit_state::{StateKey, UnitState};

pub use crate::juju::metadata::TASK_HANDLER_ENDPOINT;
const GRPC_ADDRESS_KEY: &str = "landscape.task-handler.grpc-address";
const CERTS_DIR_KEY: &str = "landscape.task-handler.grpc-certs-dir";
/// Every key of the leader's bag (`hostname` and the `ssl*` ones only
/// sometimes: one published before and not wanted now is deleted).
const PUBLISHED_KEYS: [&str; 12] = [
    "host",
    "port",
    "user",
    "main",
    "account_1",
    "resource_1",
    "secret-id",
    "hostname",
    "sslmode",
    "sslrootcert",
    "sslcert",
    "sslkey",
];
/// The bundle's files, by the secret's content keys.
const CERT_FILES: [(&str, &str, u32); 3] =
    [("ca-cert", "ca.crt", 0o644), ("client-cert", "client.crt", 0o644), ("client-key", "client.key", 0o600)];

/// One task-handler relation as the hook read it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskHandlerRelation {
    pub relation: RelationId,
    pub provider_app: Databag,
    /// This side's application bag (the leader's).
    pub own_app: Option<Databag>,
}

pub fn observe(
    juju: &HookTools<'_>,
    app: &str,
    is_leader: bool,
    broken: Option<&RelationId>,
) -> Result<Option<TaskHandlerRelation>, HookToolError> {
    let Some(relation) = juju.live_relation(TASK_HANDLER_ENDPOINT, broken)? else { return Ok(None) };
    let remote_app = juju.relation_remote_app(&relation)?;
    let provider_app = juju.relation_get_or_empty(&relation, &remote_app, Bag::App)?;
    let own_app = if is_leader { Some(juju.relation_get_or_empty(&relation, app, Bag::App)?) } else { None };
    Ok(Some(TaskHandlerRelation { relation, provider_app, own_app }))
}

#[derive(Debug, thiserror::Error)]
pub enum TaskHandlerError {
    /// The provider's answer is unusable.
    #[error("task-handler: {0}")]
    Provider(String),
    #[error("snap set landscape-outbox: {0}")]
    Snap(#[source] CmdError),
    #[error(transparent)]
    HookTool(#[from] HookToolError),
    #[error(transparent)]
    Fs(#[from] FsError),
}

impl Explain for TaskHandlerError {
    fn status(&self) -> Option<Status> {
        match self {
            TaskHandlerError::Provider(_) | TaskHandlerError::Snap(_) => Some(Status::blocked(first_line(self))),
            TaskHandlerError::HookTool(_) | TaskHandlerError::Fs(_) => None,
        }
    }
}

/// The stores as the task handler takes them, from service.conf, and the
/// password apart (it goes in the secret). None until service.conf has them.
pub fn stores(service_conf: &str, hostname: Option<&str>) -> Result<Option<(Databag, String)>, TaskHandlerError> {
    let Ok(doc) = IniDocument::parse(service_conf) else { return Ok(None) };
    let get = |keys: &[&str]| keys.iter().find_map(|k| doc.get("stores", k)).filter(|v| !v.is_empty());
    let (Some(address), Some(user), Some(password)) = (get(&["host"]), get(&["user"]), get(&["password"])) else {
        return Ok(None);
    };
    let (Some(main), Some(account), Some(resource)) =
        (get(&["main"]), get(&["account_1", "account-1"]), get(&["resource_1", "resource-1"]))
    else {
        return Ok(None);
    };
    let (mut host, port) = split_address(&address);
    if is_loopback(&host) && !TASK_HANDLER_LOOPBACK.contains(&host.to_ascii_lowercase().as_str()) {
        // Any other loopback address is one the task handler would dial.
        host = "127.0.0.1".to_string();
    }
    let mut bag = Databag::from([
        ("host".to_string(), host),
        ("port".to_string(), port),
        ("user".to_string(), user),
        ("main".to_string(), main),
        ("account_1".to_string(), account),
        ("resource_1".to_string(), resource),
    ]);
    if let Some(hostname) = hostname {
        bag.insert("hostname".to_string(), hostname.to_string());
    }
    for key in ["sslmode", "sslrootcert", "sslcert", "sslkey"] {
        if let Some(value) = get(&[key]) {
            bag.insert(key.to_string(), value);
        }
    }
    Ok(Some((bag, password)))
}

/// `host:port` (`[v6]:port`), the port 5432 when absent.
fn split_address(address: &str) -> (String, String) {
    if let Some(rest) = address.strip_prefix('[') {
        if let Some((host, port)) = rest.split_once("]:") {
            return (host.to_string(), port.to_string());
        }
        return (rest.trim_end_matches(']').to_string(), "5432".into());
    }
    match address.rsplit_once(':') {
        Some((host, port)) if !host.contains(':') => (host.to_string(), port.to_string()),
        _ => (address.to_string(), "5432".into()),
    }
}

/// The stores' hosts the task handler takes for "on Landscape's unit, out of
/// my reach" (a PgBouncer beside Landscape): it then uses its own `task-db`
/// relation's host and SSL mode for them. Published as they are, so that
/// it does.
const TASK_HANDLER_LOOPBACK: [&str; 3] = ["localhost", "127.0.0.1", "::1"];

/// `localhost` and loopback addresses (the whole 127/8).
fn is_loopback(host: &str) -> bool {
    host.eq_ignore_ascii_case("localhost") || host.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// The part: the leader publishes the stores service.conf has; every unit
/// points its outbox at the task handler's answer.
pub fn reconcile(
    host: &Host<'_>,
    rel: Option<&TaskHandlerRelation>,
    unit_state: &UnitState,
    hostname: Option<&str>,
    outbox_installed: bool,
) -> Result<(), TaskHandlerError> {
    if let Some(rel) = rel.filter(|r| r.own_app.is_some()) {
        let conf = fsutil::read_optional(&host.paths.service_conf())?.unwrap_or_default();
        let stores = stores(&crate::text::decode_file(&conf).0, hostname)?;
        publish(host, rel, unit_state, stores)?;
    }
    configure_outbox(host, rel, unit_state, outbox_installed)
}

/// The leader's side: the stores published, the password in a granted
/// secret, only where something changed.
pub fn publish(
    host: &Host<'_>,
    rel: &TaskHandlerRelation,
    unit_state: &UnitState,
    stores: Option<(Databag, String)>,
) -> Result<(), TaskHandlerError> {
    let (Some(own), Some((mut wanted, password))) = (&rel.own_app, stores) else { return Ok(()) };
    let content = Databag::from([("password".to_string(), password.clone())]);
    let digest = fsutil::sha256_hex(&[password.as_bytes()]);
    let state_key = StateKey::TaskHandlerPassword(rel.relation.id);
    let label = format!("task-handler.{}.password", rel.relation.id);
    let changed = unit_state.get(&state_key) != Some(&digest);
    let published = own.get("secret-id").map(String::as_str);
    let secret = granted_secret::ensure(&host.juju, &rel.relation, &label, &content, published, changed)?;
    let secret_id = secret.id().to_string();
    wanted.insert("secret-id".into(), secret_id);
    let changes = crate::juju::databag::changes(own, &wanted, &PUBLISHED_KEYS);
    if !changes.is_empty() {
        host.juju.relation_set(&rel.relation, &changes, Bag::App)?;
        let used = match wanted.get("host") {
            Some(h) if is_loopback(h) => "a PgBouncer on this unit, so the task handler uses its own task-db database",
            _ => "the task handler uses them",
        };
        host.log(LogLevel::Info, &format!("{}: published the stores ({used})", rel.relation));
    }
    host.stage_state(state_key, digest);
    Ok(())
}

/// Every unit: the outbox pointed at the task handler, with its client
/// bundle, once per address and revision; unset when the relation goes.
pub fn configure_outbox(
    host: &Host<'_>,
    rel: Option<&TaskHandlerRelation>,
    unit_state: &UnitState,
    outbox_installed: bool,
) -> Result<(), TaskHandlerError> {
    let applied = unit_state.get(&StateKey::TaskHandlerOutbox);
    let Some(rel) = rel else {
        if applied.is_some() && outbox_installed {
            unset_outbox(host)?;
        }
        return Ok(());
    };
    let bag = &rel.provider_app;
    let (Some(address), Some(secret_id)) = (bag.get("grpc-address"), bag.get("certs-secret-id")) else { return Ok(()) };
    if !crate::text::is_host_port(address) {
        return Err(TaskHandlerError::Provider(format!("grpc-address is not host:port: {}", quoted(address))));
    }
    let revision = bag.get("certs-revision").map(String::as_str).unwrap_or_default();
    // A digest: unit state keeps no provider value as written (any size).
    let marker = fsutil::sha256_hex(&[address.as_bytes(), b" ", secret_id.as_bytes(), b" ", revision.as_bytes()]);
    if applied == Some(&marker) || !outbox_installed {
        return Ok(());
    }
    if !crate::text::is_secret_uri(secret_id) {
        return Err(TaskHandlerError::Provider(format!(
            "certs-secret-id is not a Juju secret URI: {}",
            quoted(secret_id)
        )));
    }
    write_bundle(host, secret_id)?;
    let address_arg = format!("{GRPC_ADDRESS_KEY}={address}");
    // The snap reads the machine's path (CHARM_FS_ROOT, in tests, moves
    // only where the charm writes).
    let dir_arg =
        format!("{CERTS_DIR_KEY}={}", crate::paths::Paths::system().outbox_task_handler_certs_dir().display());
    let set = Cmd::new("snap", &["set", crate::companions::outbox::SNAP]).arg(address_arg).arg(dir_arg);
    host.cmds.run(&set).map_err(TaskHandlerError::Snap)?;
    host.log(LogLevel::Info, &format!("the outbox reaches the task handler at {address}"));
    host.stage_state(StateKey::TaskHandlerOutbox, marker);
    Ok(())
}

/// The relation gone: the outbox forgets the task handler and its bundle.
fn unset_outbox(host: &Host<'_>) -> Result<(), TaskHandlerError> {
    let unset = Cmd::new("snap", &["unset", crate::companions::outbox::SNAP, GRPC_ADDRESS_KEY, CERTS_DIR_KEY]);
    host.cmds.run(&unset).map_err(TaskHandlerError::Snap)?;
    for (_, file, _) in CERT_FILES {
        fsutil::remove_optional(&host.paths.outbox_task_handler_certs_dir().join(file))?;
    }
    host.stage_state_delete(StateKey::TaskHandlerOutbox);
    Ok(())
}

/// The task handler's client bundle, from its secret, into the files the
/// outbox reads; every file checked before any is written, so none is left
/// half-updated.
fn write_bundle(host: &Host<'_>, secret_id: &str) -> Result<(), TaskHandlerError> {
    let bundle = match host.juju.secret_get(Some(secret_id), None, true) {
        Ok(bundle) => bundle,
        // Gone or not granted: the provider's to fix. Anything else (the
        // tool could not run) is a fault for Juju to retry.
        Err(e) if e.is_secret_unavailable() => {
            return Err(TaskHandlerError::Provider(format!(
                "certs-secret-id's secret cannot be read: {}",
                first_line(&e)
            )));
        }
        Err(e) => return Err(e.into()),
    };
    for (key, _, _) in CERT_FILES {
        let pem = bundle.get(key).map(String::as_str).unwrap_or_default();
        if let Some(problem) = pem_problem(key, pem) {
            return Err(TaskHandlerError::Provider(format!("certs-secret-id's secret's {key} {problem}")));
        }
    }
    let dir = host.paths.outbox_task_handler_certs_dir();
    for (key, file, mode) in CERT_FILES {
        let pem = bundle.get(key).map(String::as_str).unwrap_or_default();
        fsutil::write_atomic(&dir.join(file), format!("{}\n", pem.trim_end()).as_bytes(), mode, Owner::default())?;
    }
    Ok(())
}

/// A PEM the outbox may be given for `key`: text without NUL or other
/// control characters, every block a certificate (`ca-cert`, `client-cert`,
/// which are written world-readable) or a private key (`client-key`).
fn pem_problem(key: &str, pem: &str) -> Option<&'static str> {
    if pem.chars().any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t')) {
        return Some("holds control characters");
    }
    let labels: Vec<&str> =
        pem.lines().filter_map(|l| l.trim().strip_prefix("-----BEGIN ")?.strip_suffix("-----")).collect();
    let wanted_key = key == "client-key";
    if labels.is_empty() {
        return Some("is not PEM");
    }
    if wanted_key && !labels.iter().all(|l| l.ends_with("PRIVATE KEY")) {
        return Some("holds something other than a private key");
    }
    if !wanted_key && !labels.iter().all(|l| *l == "CERTIFICATE") {
        return Some("holds something other than certificates");
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    const CONF: &str = "[stores]\nuser = landscape\nhost = 10.0.0.5:5432\npassword = pw\nmain = landscape-standalone-main\naccount-1 = landscape-standalone-account-1\nresource-1 = landscape-standalone-resource-1\n";

    #[test]
    fn the_stores_as_the_task_handler_reads_them() {
        let (bag, password) = stores(CONF, Some("landscape.example")).unwrap().unwrap();
        assert_eq!(bag["host"], "10.0.0.5");
        assert_eq!(bag["port"], "5432");
        assert_eq!(bag["account_1"], "landscape-standalone-account-1");
        assert_eq!(bag["resource_1"], "landscape-standalone-resource-1");
        assert_eq!(bag["hostname"], "landscape.example");
        assert!(!bag.values().any(|v| v == "pw"), "the password goes in the secret");
        assert_eq!(password, "pw");
        assert_eq!(stores("[stores]\nhost = db:5432\n", None).unwrap(), None, "not complete yet");
    }

    #[test]
    fn a_pgbouncer_beside_landscape_is_published_as_the_task_handler_knows_it() {
        for (address, host) in [
            ("localhost:6432", "localhost"),
            ("127.0.0.1:6432", "127.0.0.1"),
            ("[::1]:6432", "::1"),
            ("127.0.1.1:6432", "127.0.0.1"),
        ] {
            let conf = CONF.replace("10.0.0.5:5432", address);
            let (bag, _) = stores(&conf, None).unwrap().unwrap();
            assert_eq!((bag["host"].as_str(), bag["port"].as_str()), (host, "6432"), "{address}");
        }
        assert_eq!(split_address("[fd00::5]:5433"), ("fd00::5".into(), "5433".into()));
    }

    #[test]
    fn only_certificates_and_a_key_reach_the_outbox() {
        let cert = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";
        let key = "-----BEGIN EC PRIVATE KEY-----\nMHc\n-----END EC PRIVATE KEY-----\n";
        assert_eq!(pem_problem("ca-cert", cert), None);
        assert_eq!(pem_problem("client-key", key), None);
        assert!(pem_problem("ca-cert", &format!("{cert}{key}")).is_some(), "a key in a 0644 file");
        assert!(pem_problem("client-cert", key).is_some());
        assert!(pem_problem("client-key", cert).is_some());
        assert!(pem_problem("ca-cert", &cert.replace("MIIB", "MI\0IB")).is_some(), "NUL");
        assert!(pem_problem("ca-cert", "not pem").is_some());
    }
}
