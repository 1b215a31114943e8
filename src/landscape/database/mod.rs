//! Where Landscape's PostgreSQL is: the `database` relation (`postgresql_client`,
//! preferred), the legacy `db` relation (`pgsql`), or the `db_*` options.
//!
//! Everything read from a relation is checked before it can reach service.conf
//! or a command line: hosts are IPs or DNS names, ports are numbers, and no
//! value may hold a line break.

use std::net::IpAddr;

use crate::config::DbOverrides;
use crate::juju::{Bag, Databag, HookToolError, HookTools, RelationId};
use crate::text::{is_host, is_token};

mod legacy;

pub const DATABASE_ENDPOINT: &str = "database";
pub const LEGACY_DB_ENDPOINT: &str = "db";
/// The database Landscape asks for; Landscape creates its own databases, so
/// this one only carries the superuser grant.
pub const REQUESTED_DATABASE: &str = "database";
pub const EXTRA_USER_ROLES: &str = "SUPERUSER";
/// What the data_interfaces library asks to receive through Juju secrets.
pub const REQUESTED_SECRETS: &str =
    r#"["username", "password", "tls", "tls-ca", "uris", "read-only-uris", "entity-name", "entity-password"]"#;
pub const DEFAULT_PORT: u16 = 5432;

/// A usable connection for the schema superuser.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DbConnection {
    pub host: String,
    pub port: u16,
    /// `[schema] store_user`: the superuser that runs schema changes.
    pub user: String,
    /// `[schema] store_password`.
    pub password: String,
    /// `[stores] password`: what Landscape's own role logs in with.
    pub stores_password: String,
    /// PostgreSQL's major version, when the provider says.
    pub major_version: Option<u32>,
    /// The provider says it serves TLS (`tls`): PostgreSQL then accepts
    /// only TLS connections from other machines, so `sslmode=require`.
    pub tls: bool,
    pub source: DbSource,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DbSource {
    Database(RelationId),
    LegacyDb(RelationId),
    Config,
}

impl DbConnection {
    /// `host:port` as service.conf `[stores] host` takes it.
    pub fn address(&self) -> String {
        match self.host.parse::<IpAddr>() {
            Ok(IpAddr::V6(_)) => format!("[{}]:{}", self.host, self.port),
            _ => format!("{}:{}", self.host, self.port),
        }
    }

    /// The role that owns Landscape's schema: `charmed_dba` from PostgreSQL 16
    /// (the charm no longer hands out `postgres`), `postgres` before.
    pub fn owner_role(&self) -> &'static str {
        if self.major_version.is_some_and(|v| v >= 16) { "charmed_dba" } else { "postgres" }
    }
}

/// The database as this hook sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DbState {
    /// No relation and no `db_host`.
    Missing,
    /// Related, but the provider has not given everything yet.
    Incomplete(String),
    /// The provider's data is unusable; names the field.
    Invalid(String),
    Ready(DbConnection),
}

/// What was read from the `database` relation, for the requirer side.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DatabaseRelation {
    pub relation: RelationId,
    pub own_app: Databag,
}

impl DatabaseRelation {
    /// What the leader must write to its app bag (data_interfaces' request).
    pub fn request_changes(&self) -> Databag {
        let wanted = [
            ("requested-secrets", REQUESTED_SECRETS),
            ("database", REQUESTED_DATABASE),
            ("extra-user-roles", EXTRA_USER_ROLES),
        ];
        wanted
            .iter()
            .filter(|(k, v)| self.own_app.get(*k).map(String::as_str) != Some(*v))
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DbObservation {
    pub database: Option<DatabaseRelation>,
    pub state: DbState,
}

/// Splits `host:port` (`[v6]:port` too). The first entry of a list wins.
pub fn parse_endpoint(text: &str) -> Result<(String, u16), String> {
    let first = text.split(',').next().unwrap_or_default().trim();
    let (host, port) = if let Some(rest) = first.strip_prefix('[') {
        let (host, port) =
            rest.split_once("]:").ok_or_else(|| format!("{} is not [address]:port", crate::text::quoted(first)))?;
        (host, port)
    } else {
        first.rsplit_once(':').ok_or_else(|| format!("{} is not host:port", crate::text::quoted(first)))?
    };
    if !is_host(host) {
        return Err(format!("{} is not an IP address or a host name", crate::text::quoted(host)));
    }
    let port = port
        .parse::<u16>()
        .ok()
        .filter(|p| *p > 0)
        .ok_or_else(|| format!("{} is not a port", crate::text::quoted(port)))?;
    Ok((host.to_string(), port))
}

fn major_version(text: Option<&String>) -> Option<u32> {
    text?.split('.').next()?.trim().parse().ok()
}

/// Reads the `database` relation's provider data, following `secret-user`.
/// `refresh` (only in `secret-changed`) moves to the credentials' latest
/// revision; other hooks read the revision this unit tracks.
fn read_database(
    juju: &HookTools<'_>,
    relation: &RelationId,
    refresh: bool,
) -> Result<Result<DbConnection, DbState>, HookToolError> {
    let remote_app = juju.relation_remote_app(relation)?;
    let provider = juju.relation_get_or_empty(relation, &remote_app, Bag::App)?;
    let Some(endpoints) = provider.get("endpoints") else {
        return Ok(Err(DbState::Incomplete("database (no endpoints yet)".into())));
    };
    let credentials = match provider_secret(juju, relation, &provider, ("user", "credentials"), refresh)? {
        Ok(Some(content)) => content,
        Ok(None) => provider.clone(),
        Err(state) => return Ok(Err(state)),
    };
    let (Some(user), Some(password)) = (credentials.get("username"), credentials.get("password")) else {
        return Ok(Err(DbState::Incomplete("database (no credentials yet)".into())));
    };
    let (host, port) = match parse_endpoint(endpoints) {
        Ok(hp) => hp,
        Err(e) => return Ok(Err(DbState::Invalid(format!("database: endpoints {e}")))),
    };
    if !is_token(user) || !is_token(password) {
        return Ok(Err(DbState::Invalid("database: username or password holds spaces or control characters".into())));
    }
    let tls = match read_tls(juju, relation, &provider, refresh)? {
        Ok(tls) => tls,
        Err(state) => return Ok(Err(state)),
    };
    Ok(Ok(DbConnection {
        host,
        port,
        user: user.clone(),
        password: password.clone(),
        stores_password: password.clone(),
        major_version: major_version(provider.get("version")),
        tls,
        source: DbSource::Database(relation.clone()),
    }))
}

/// The content of the secret the provider names in `secret-<group>` (the
/// secrets variant this charm asks for; `what` it holds, for the status);
/// None when it names none (the values are then in its bag).
fn provider_secret(
    juju: &HookTools<'_>,
    relation: &RelationId,
    provider: &Databag,
    (group, what): (&str, &str),
    refresh: bool,
) -> Result<Result<Option<Databag>, DbState>, HookToolError> {
    let Some(uri) = provider.get(&format!("secret-{group}")) else { return Ok(Ok(None)) };
    // Checked before it reaches argv: anything else is the provider's bad data.
    if !crate::text::is_secret_uri(uri) {
        let shown = crate::text::quoted(uri);
        return Ok(Err(DbState::Invalid(format!("database: secret-{group} is not a Juju secret URI: {shown}"))));
    }
    let label = format!("{}.{}.{group}.secret", relation.endpoint, relation.id);
    match juju.secret_get(Some(uri), Some(&label), refresh) {
        Ok(content) => Ok(Ok(Some(content))),
        // Not granted to us yet, or already rotated away: wait for the next change.
        Err(HookToolError::SecretNotFound { .. }) => {
            Ok(Err(DbState::Incomplete(format!("database ({what} secret not readable yet)"))))
        }
        Err(e) => Err(e),
    }
}

/// Whether the provider serves TLS: `tls` in its bag, or in the secret
/// `secret-tls` names (the secrets variant this charm asks for).
fn read_tls(
    juju: &HookTools<'_>,
    relation: &RelationId,
    provider: &Databag,
    refresh: bool,
) -> Result<Result<bool, DbState>, HookToolError> {
    let flag = match provider_secret(juju, relation, provider, ("tls", "TLS"), refresh)? {
        Ok(Some(content)) => content.get("tls").cloned(),
        Ok(None) => provider.get("tls").cloned(),
        Err(state) => return Ok(Err(state)),
    };
    Ok(Ok(flag.is_some_and(|f| f.trim().eq_ignore_ascii_case("true"))))
}

/// The connection the `db_*` options alone give, with no database relation.
fn config_only(host: &str, overrides: &DbOverrides) -> Result<DbConnection, String> {
    let (Some(user), Some(password)) =
        (overrides.schema_user.clone(), overrides.schema_password.clone().or(overrides.landscape_password.clone()))
    else {
        return Err("db_host is set without a database relation, so db_schema_user and db_schema_password \
                    (or db_landscape_password) are required"
            .into());
    };
    Ok(DbConnection {
        host: host.to_string(),
        port: DEFAULT_PORT,
        user,
        stores_password: password.clone(),
        password,
        major_version: None,
        tls: false,
        source: DbSource::Config,
    })
}

/// Applies the `db_*` options over a relation's connection (or stands in
/// for one when `db_host` is set without any relation).
fn apply_overrides(found: Result<DbConnection, DbState>, overrides: &DbOverrides) -> DbState {
    let mut conn = match (found, &overrides.host) {
        (Ok(conn), _) => conn,
        (Err(DbState::Missing), Some(host)) => match config_only(host, overrides) {
            Ok(conn) => conn,
            Err(reason) => return DbState::Invalid(reason),
        },
        (Err(state), _) => return state,
    };
    if let Some(host) = &overrides.host {
        conn.host = host.clone();
    }
    if let Some(port) = overrides.port {
        conn.port = port;
    }
    if let Some(user) = &overrides.schema_user {
        conn.user = user.clone();
    }
    // db_landscape_password sets both passwords; db_schema_password only the schema one.
    if let Some(password) = &overrides.landscape_password {
        conn.stores_password = password.clone();
        conn.password = password.clone();
    }
    if let Some(password) = &overrides.schema_password {
        conn.password = password.clone();
    }
    DbState::Ready(conn)
}

/// Reads whichever database source is in use: `database`, and the legacy
/// `db` only when `database` is not related. `broken` is a relation being
/// torn down in this hook, which no longer counts; `refresh_secrets` is set
/// in `secret-changed`.
pub fn observe(
    juju: &HookTools<'_>,
    unit_name: &str,
    is_leader: bool,
    overrides: &DbOverrides,
    broken: Option<&RelationId>,
    refresh_secrets: bool,
) -> Result<DbObservation, HookToolError> {
    let modern = juju.live_relation(DATABASE_ENDPOINT, broken)?;
    let database = match &modern {
        // Only the leader may read (and write) its application's bag.
        Some(relation) if is_leader => {
            let own_app = juju.relation_get_or_empty(relation, unit_name, Bag::App)?;
            Some(DatabaseRelation { relation: relation.clone(), own_app })
        }
        _ => None,
    };
    let found = match &modern {
        Some(relation) => read_database(juju, relation, refresh_secrets)?,
        None => match juju.live_relation(LEGACY_DB_ENDPOINT, broken)? {
            Some(relation) => legacy::read_legacy(juju, &relation, unit_name)?,
            None => Err(DbState::Missing),
        },
    };
    Ok(DbObservation { database, state: apply_overrides(found, overrides) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_parse_strictly() {
        assert_eq!(parse_endpoint("10.0.0.5:5432").unwrap(), ("10.0.0.5".into(), 5432));
        assert_eq!(parse_endpoint("db.example:6432,10.0.0.6:5432").unwrap(), ("db.example".into(), 6432));
        assert_eq!(parse_endpoint("[fd00::5]:5432").unwrap(), ("fd00::5".into(), 5432));
        for bad in ["10.0.0.5", "10.0.0.5:0", "a b:5432", "host\n[x]:5432", "h:99999"] {
            assert!(parse_endpoint(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn overrides_win_and_config_alone_needs_credentials() {
        let conn = DbConnection {
            host: "10.0.0.5".into(),
            port: 5432,
            user: "relation-4".into(),
            password: "pw".into(),
            stores_password: "pw".into(),
            tls: false,
            major_version: Some(16),
            source: DbSource::Config,
        };
        let overrides =
            DbOverrides { port: Some(6432), schema_password: Some("override".into()), ..Default::default() };
        let DbState::Ready(out) = apply_overrides(Ok(conn), &overrides) else { panic!() };
        assert_eq!(
            (out.address(), out.password.as_str(), out.stores_password.as_str(), out.owner_role()),
            ("10.0.0.5:6432".into(), "override", "pw", "charmed_dba")
        );
        let only_host = DbOverrides { host: Some("db".into()), ..Default::default() };
        assert!(matches!(apply_overrides(Err(DbState::Missing), &only_host), DbState::Invalid(_)));
        assert_eq!(apply_overrides(Err(DbState::Missing), &DbOverrides::default()), DbState::Missing);
    }
}
