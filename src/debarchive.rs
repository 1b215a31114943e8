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

/// What turns the leader's bag on one relation into what it publishes: the
/// secret's id, its revision when it changed, and the hostname (removed
/// when there is none).
fn bag_changes(own: &Databag, hostname: Option<&str>, secret_id: &str, revision: Option<u64>) -> Databag {
    let mut wanted = Databag::from([
        ("hostname".to_string(), hostname.unwrap_or_default().to_string()),
        ("secret-token-id".to_string(), secret_id.to_string()),
    ]);
    if let Some(revision) = revision {
        wanted.insert("secret-token-revision".into(), revision.to_string());
    }
    // An empty value deletes the key; one that is not there needs nothing.
    wanted.into_iter().filter(|(k, v)| own.get(k).map_or(!v.is_empty(), |current| current != v)).collect()
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
        let revision = match &secret {
            GrantedSecret::Updated(_) => {
                Some(own.get("secret-token-revision").and_then(|r| r.parse::<u64>().ok()).unwrap_or(0) + 1)
            }
            GrantedSecret::Unchanged(_) | GrantedSecret::Created(_) => None,
        };
        let secret_id = secret.id().to_string();
        let changes = bag_changes(own, hostname, &secret_id, revision);
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
        let changes = bag_changes(&own, Some("landscape.example"), "secret:abc", Some(2));
        assert_eq!(changes.len(), 2);
        assert_eq!(changes["secret-token-revision"], "2");
        assert!(!changes.contains_key("hostname"));
        let changes = bag_changes(&own, None, "secret:abc", None);
        assert_eq!(changes["hostname"], "", "a hostname no longer wanted is deleted");
        assert!(!bag_changes(&Databag::new(), None, "secret:abc", None).contains_key("hostname"));
    }
}
