//! The database schema: the leader bootstraps it once per database (and,
//! on PostgreSQL 16, grants the charmed roles); the other units wait until
//! it says so in peer data.

use super::database::DbConnection;
use super::readiness::Readiness;
use super::{Inputs, LandscapeError, install};
use crate::host::Host;
use crate::ini::IniDocument;
use crate::juju::{LogLevel, StatusName};
use crate::peer_app::PeerKey;
use crate::system::{Cmd, CmdError, CmdOutput, CommandRunner};

/// Leader: bootstrap the schema once per database and say so in peer data.
/// Others: wait until the leader has. Returns whether the schema is ready.
pub fn ensure(
    host: &Host<'_>,
    inputs: &Inputs<'_>,
    conn: &DbConnection,
    service_conf: &str,
    readiness: &mut Readiness,
) -> Result<bool, LandscapeError> {
    let marker = format!("{}@{}", conn.user, conn.address());
    if inputs.peers.app_data.get(PeerKey::SchemaBootstrapped) == Some(&marker) {
        return Ok(true);
    }
    if !inputs.is_leader {
        readiness.wait("database (the leader has not bootstrapped the schema yet)".into());
        return Ok(false);
    }
    if inputs.peers.relation.is_none() {
        return Ok(false);
    }
    host.juju.status_set(StatusName::Maintenance, "Bootstrapping the database schema", false)?;
    let bootstrap = bootstrap_command(host, inputs, conn);
    host.cmds.run(&bootstrap).map_err(LandscapeError::Schema)?;
    if conn.major_version.is_some_and(|v| v >= 16) {
        grant_pg16_roles(host, conn, service_conf)?;
    }
    let wsl = host.paths.landscape_program("update-wsl-distributions");
    if wsl.exists() {
        if let Err(e) = host.cmds.run(&Cmd::new(&wsl.display().to_string(), &[])) {
            host.log(LogLevel::Warning, &format!("update-wsl-distributions failed (Landscape still works): {e}"));
        }
    }
    host.log(LogLevel::Info, &format!("bootstrapped the Landscape schema on {}", conn.address()));
    host.stage_peer_app(PeerKey::SchemaBootstrapped, marker);
    Ok(true)
}

/// `landscape-schema --bootstrap`, with the proxies and the operator's own
/// arguments, none of which is ever logged (they may carry credentials).
fn bootstrap_command(host: &Host<'_>, inputs: &Inputs<'_>, conn: &DbConnection) -> Cmd {
    let lc = &inputs.config.landscape;
    let mut bootstrap = Cmd::new("landscape-schema", &["--bootstrap", "--db-owner-role", conn.owner_role()]);
    let proxies = install::proxy_env(&lc.proxies, &host.ctx.proxies);
    for (name, flag) in
        [("http_proxy", "--with-http-proxy"), ("https_proxy", "--with-https-proxy"), ("no_proxy", "--with-no-proxy")]
    {
        if let Some((_, value)) = proxies.iter().find(|(k, _)| *k == name) {
            bootstrap = bootstrap.arg(flag).secret_arg(value.clone());
        }
    }
    for arg in &lc.schema_bootstrap_args {
        bootstrap = bootstrap.secret_arg(arg.clone());
    }
    bootstrap
}

/// PostgreSQL 16 charms give no `postgres` role: Landscape's own role needs
/// `charmed_dml` to use the tables the schema owner created. The roles are
/// read from the service.conf this hook rendered.
fn grant_pg16_roles(host: &Host<'_>, conn: &DbConnection, service_conf: &str) -> Result<(), LandscapeError> {
    let doc = IniDocument::parse(service_conf).unwrap_or_default();
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
        host.cmds.run(&cmd).map_err(LandscapeError::Schema)?;
    }
    Ok(())
}

/// Migrates the schema (`landscape-schema`); with `allow_connections`, lets
/// the services stay connected meanwhile, when this `landscape-schema`
/// knows `--allow-connections` (its `--help` lists it). Returns its output
/// and whether connections were allowed.
pub fn migrate(cmds: &dyn CommandRunner, allow_connections: bool) -> Result<(CmdOutput, bool), CmdError> {
    let mut migrate = Cmd::new("landscape-schema", &[]);
    let mut allowed = false;
    if allow_connections {
        let help = cmds.output(&Cmd::new("landscape-schema", &["--help"]))?;
        if help.combined().contains("--allow-connections") {
            migrate = migrate.arg("--allow-connections");
            allowed = true;
        }
    }
    Ok((cmds.run(&migrate)?, allowed))
}
