//! The debarchive part (provider side of `landscape-debarchive`): what the
//! landscape-debarchive charm needs from Landscape, and the `/debarchive`
//! route on every unit's HAProxy.
//!
//! The leader publishes, in its application bag on each relation, as the
//! 26.04 charm does: `hostname` (root_url's host name; none when root_url
//! names an address, which the debarchive's own haproxy-route refuses),
//! `secret-token-id` (a Juju secret `{"secret-token": <token>}`,
//! one per relation, granted to it) and `secret-token-revision` (+1 when
//! the token's content changes). The relation carries no address back, so
//! every unit routes `/debarchive` (prefix stripped) to the debarchive
//! units' own relation addresses (`ingress-address`, which Juju puts in
//! every unit's bag) on `debarchive_gateway_port`: the route exists only
//! while a debarchive unit is there to serve it.

use std::net::IpAddr;

use crate::host::Host;
use crate::juju::granted_secret::{self, GrantedSecret};
use crate::juju::{Bag, Databag, HookToolError, HookTools, LogLevel, RelationId};
use crate::status::{Explain, Status};
use crate::unit_state::{StateKey, UnitState};

pub use crate::juju::metadata::DEBARCHIVE_ENDPOINT;
const SECRET_CONTENT_KEY: &str = "secret-token";

/// One debarchive relation as the hook read it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DebarchiveRelation {
    pub relation: RelationId,
    /// This side's application bag (the leader's to read and write).
    pub own_app: Option<Databag>,
    /// Each debarchive unit's address on the relation, as parsed.
    pub unit_addresses: Vec<IpAddr>,
}

/// Reads every debarchive relation: the remote units' addresses for the
/// route, and (leader) this side's bag.
pub fn observe(
    juju: &HookTools<'_>,
    app: &str,
    is_leader: bool,
    broken: Option<&RelationId>,
) -> Result<Vec<DebarchiveRelation>, HookToolError> {
    let mut relations = vec![];
    for relation in juju.relation_ids(DEBARCHIVE_ENDPOINT)?.into_iter().filter(|r| Some(r) != broken) {
        let mut unit_addresses = vec![];
        for unit in juju.relation_list(&relation)? {
            let bag = juju.relation_get_or_empty(&relation, &unit, Bag::Unit)?;
            // An address that does not parse is no backend: it is skipped.
            let address = bag.get("ingress-address").or_else(|| bag.get("private-address"));
            unit_addresses.extend(address.and_then(|a| crate::text::parse_routable_ip(a)));
        }
        unit_addresses.sort();
        unit_addresses.dedup();
        let own_app = if is_leader { Some(juju.relation_get_or_empty(&relation, app, Bag::App)?) } else { None };
        relations.push(DebarchiveRelation { relation, own_app, unit_addresses });
    }
    Ok(relations)
}

/// The debarchive servers every unit's HAProxy routes `/debarchive` to.
pub fn backends(relations: &[DebarchiveRelation]) -> Vec<IpAddr> {
    let mut all: Vec<IpAddr> = relations.iter().flat_map(|r| r.unit_addresses.iter().copied()).collect();
    all.sort();
    all.dedup();
    all
}

#[derive(Debug, thiserror::Error)]
pub enum DebarchiveError {
    #[error(transparent)]
    HookTool(#[from] HookToolError),
}

/// Hook tools: faults for Juju to retry.
impl Explain for DebarchiveError {
    fn status(&self) -> Option<Status> {
        None
    }
}

/// Every key of the leader's bag.
const PUBLISHED_KEYS: [&str; 3] = ["hostname", "secret-token-id", "secret-token-revision"];

/// What the leader publishes on one relation: the hostname (none when
/// root_url names no host), the secret's id and its revision (absent until
/// the content first changes).
fn wanted_bag(hostname: Option<&str>, secret_id: &str, revision: Option<String>) -> Databag {
    let mut wanted = Databag::from([("secret-token-id".to_string(), secret_id.to_string())]);
    if let Some(hostname) = hostname {
        wanted.insert("hostname".into(), hostname.to_string());
    }
    if let Some(revision) = revision {
        wanted.insert("secret-token-revision".into(), revision);
    }
    wanted
}

/// The leader's side: the secret made or updated, granted, and the bag
/// published, only where something changed. Nothing until there is a
/// secret token (the Landscape part makes it).
pub fn reconcile(
    host: &Host<'_>,
    relations: &[DebarchiveRelation],
    unit_state: &UnitState,
    hostname: Option<&str>,
    secret_token: Option<&str>,
) -> Result<(), DebarchiveError> {
    let Some(token) = secret_token else {
        if !relations.is_empty() {
            host.log(LogLevel::Debug, "debarchive: no secret token yet; the relation is answered once there is one");
        }
        return Ok(());
    };
    let token_digest = crate::fsutil::sha256_hex(&[token.as_bytes()]);
    for rel in relations {
        let Some(own) = &rel.own_app else { continue };
        let content = Databag::from([(SECRET_CONTENT_KEY.to_string(), token.to_string())]);
        let state_key = StateKey::DebarchiveToken(rel.relation.id);
        let label = format!("debarchive.{}.secret-token", rel.relation.id);
        let changed = unit_state.get(&state_key) != Some(&token_digest);
        let published = own.get("secret-token-id").map(String::as_str);
        let secret = granted_secret::ensure(&host.juju, &rel.relation, &label, &content, published, changed)?;
        // The revision tells the debarchive to read the secret again.
        let published_revision = own.get("secret-token-revision");
        let revision = match &secret {
            GrantedSecret::Updated(_) => {
                let previous = published_revision.and_then(|r| r.parse::<u64>().ok()).unwrap_or(0);
                Some((previous + 1).to_string())
            }
            GrantedSecret::Unchanged(_) | GrantedSecret::Created(_) => published_revision.cloned(),
        };
        let wanted = wanted_bag(hostname, secret.id(), revision);
        let changes = crate::juju::databag::changes(own, &wanted, &PUBLISHED_KEYS);
        if !changes.is_empty() {
            host.juju.relation_set(&rel.relation, &changes, Bag::App)?;
            let message = match hostname {
                Some(hostname) => format!("{}: published the hostname and secret token for {hostname}", rel.relation),
                None => format!("{}: published the secret token (root_url names no host)", rel.relation),
            };
            host.log(LogLevel::Info, &message);
        }
        host.stage_state(state_key, token_digest.clone());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_what_changed_is_published() {
        let own = Databag::from([("hostname".to_string(), "landscape.example".to_string())]);
        let changes = |own: &Databag, hostname, revision| {
            crate::juju::databag::changes(own, &wanted_bag(hostname, "secret:abc", revision), &PUBLISHED_KEYS)
        };
        let published = changes(&own, Some("landscape.example"), Some("2".to_string()));
        assert_eq!(published.len(), 2);
        assert_eq!(published["secret-token-revision"], "2");
        assert!(!published.contains_key("hostname"));
        assert_eq!(changes(&own, None, None)["hostname"], "", "a hostname no longer wanted is deleted");
        assert!(!changes(&Databag::new(), None, None).contains_key("hostname"));
    }
}
