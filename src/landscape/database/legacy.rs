//! The legacy `db` relation (`pgsql`): the provider unit that allows us,
//! and the connection its libpq `master` string gives.

use super::{DEFAULT_PORT, DbConnection, DbSource, DbState, major_version};
use crate::juju::{Bag, Databag, HookToolError, HookTools, RelationId};
use crate::text::{is_host, is_token};

/// Reads the legacy `db` relation: the first provider unit that lists us in
/// `allowed-units`; host and password from `master` (never a standby).
pub(super) fn read_legacy(
    juju: &HookTools<'_>,
    relation: &RelationId,
    unit_name: &str,
) -> Result<Result<DbConnection, DbState>, HookToolError> {
    let mut units = juju.relation_list(relation)?;
    units.sort();
    // An allowed unit whose `master` is unusable is the provider's bad data,
    // not a wait for allowed-units.
    let mut unusable = None;
    for unit in units {
        let bag = juju.relation_get_or_empty(relation, &unit, Bag::Unit)?;
        let allowed = bag.get("allowed-units").is_some_and(|a| a.split_whitespace().any(|u| u == unit_name));
        let Some(master) = bag.get("master").filter(|_| allowed) else { continue };
        let master = parse_libpq(master);
        let user = bag.get("user").or(master.get("user"));
        let (Some(host), Some(password), Some(user)) = (master.get("host"), master.get("password"), user) else {
            let lacking =
                lacking(&[("host", master.get("host")), ("password", master.get("password")), ("user", user)]);
            unusable = Some(format!("db: {unit}'s master connection string has no {lacking}"));
            continue;
        };
        return Ok(legacy_connection(relation, &bag, &master, (host, user, password)).map_err(DbState::Invalid));
    }
    Ok(Err(match unusable {
        Some(problem) => DbState::Invalid(problem),
        None => DbState::Incomplete(format!("db ({unit_name} is not in allowed-units yet)")),
    }))
}

/// The connection an allowed unit's bag and `master` give, checked.
fn legacy_connection(
    relation: &RelationId,
    bag: &Databag,
    master: &Databag,
    (host, user, password): (&String, &String, &String),
) -> Result<DbConnection, String> {
    let port = match bag.get("port").or(master.get("port")) {
        None => DEFAULT_PORT,
        Some(p) => p
            .parse::<u16>()
            .ok()
            .filter(|p| *p > 0)
            .ok_or_else(|| format!("db: port {} is not a port", crate::text::quoted(p)))?,
    };
    if !is_host(host) {
        return Err(format!("db: master host {} is not an IP address or a host name", crate::text::quoted(host)));
    }
    if !is_token(user) || !is_token(password) {
        return Err("db: user or password holds spaces or control characters".into());
    }
    Ok(DbConnection {
        host: host.clone(),
        port,
        user: user.clone(),
        password: password.clone(),
        stores_password: password.clone(),
        major_version: major_version(bag.get("version")),
        tls: false,
        source: DbSource::LegacyDb(relation.clone()),
    })
}

/// The names of the fields that are not there, comma-separated.
fn lacking(fields: &[(&str, Option<&String>)]) -> String {
    fields.iter().filter(|(_, v)| v.is_none()).map(|(k, _)| *k).collect::<Vec<_>>().join(", ")
}

/// Parses a libpq `key=value ...` string (values may be single-quoted).
pub fn parse_libpq(text: &str) -> Databag {
    let mut out = Databag::new();
    let mut chars = text.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        let key: String = std::iter::from_fn(|| chars.next_if(|c| *c != '=' && !c.is_whitespace())).collect();
        if key.is_empty() || chars.next() != Some('=') {
            break;
        }
        let mut value = String::new();
        if chars.peek() == Some(&'\'') {
            chars.next();
            while let Some(c) = chars.next() {
                match c {
                    '\\' => value.extend(chars.next()),
                    '\'' => break,
                    c => value.push(c),
                }
            }
        } else {
            value = std::iter::from_fn(|| chars.next_if(|c| !c.is_whitespace())).collect();
        }
        out.insert(key, value);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn libpq_strings_parse_with_quotes() {
        let parsed = parse_libpq("dbname=landscape host=10.0.0.7 password='p w\\'d' port=5432 user=relation_5");
        assert_eq!(parsed["host"], "10.0.0.7");
        assert_eq!(parsed["password"], "p w'd");
        assert_eq!(parsed["user"], "relation_5");
    }
}
