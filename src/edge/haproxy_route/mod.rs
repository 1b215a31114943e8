//! The eight `haproxy-route` requirer endpoints of the 26.04 charm, served
//! so that a deployment refreshed from it keeps its external HAProxy's
//! backends, with the routes of [`routes`] instead of the 26.04 charm's.
//!
//! The wire format is the haproxy-route library's (v1 and v2 agree): each
//! top-level field its own JSON document, defaults omitted; the leader
//! writes the application bag, every unit its `address`. The provider
//! answers `endpoints` (a JSON list of URLs) in its application bag.
//!
//! Hook-tool calls: a full hook costs one `relation-ids` per endpoint. The
//! provider's side (its answer, its units' addresses) is read only in a hook
//! of that relation, after a refresh, or when nothing is on record, since
//! Juju runs `relation-changed` (or `-departed`) for every change of it; what
//! this unit published is on record too, so a bag is written only when it
//! changes and never read back. Both records live in unit state, which Juju
//! commits with the relation writes or not at all.

pub mod routes;

use serde::{Deserialize, Serialize};

use crate::config::Network;
use crate::host::Host;
use crate::juju::{Bag, Databag, Event, HookToolError, HookTools, LogLevel, RelationId};
use crate::status::{Status, StatusCollector};
use crate::unit_state::{StateKey, UnitState};
pub use routes::{ENDPOINTS, RouteEndpoint, Target};

/// What this unit knows of one relation's provider side, as unit state
/// keeps it: bounded whatever the provider writes.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProviderView {
    /// A digest of the provider's `endpoints` as written (a change is
    /// logged once).
    #[serde(default)]
    pub answer_digest: Option<String>,
    /// Its units' addresses, as host networks (`10.0.0.5/32`): their
    /// `ingress-address` and the host networks of their `egress-subnets`.
    #[serde(default)]
    pub proxies: Vec<String>,
    /// How many more addresses its units had than are trusted.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub proxies_left_out: usize,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

/// The most provider addresses trusted on one relation (a provider has a
/// few units; more is not an address list but an attack on unit state).
const MAX_PROXIES: usize = 64;

/// The unit-state record of one relation: the provider's side as last read,
/// and this unit's bags as last written (the application bag only while
/// leader: another leader may have written it since).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    #[serde(default)]
    pub provider: ProviderView,
    #[serde(default)]
    pub app: Option<Databag>,
    #[serde(default)]
    pub unit: Option<Databag>,
}

impl Record {
    fn parse(raw: Option<&String>) -> Option<Self> {
        raw.and_then(|text| serde_json::from_str(text).ok())
    }
}

/// One related haproxy-route endpoint, as the hook sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteRelation {
    pub endpoint: &'static RouteEndpoint,
    pub relation: RelationId,
    pub provider: ProviderView,
    /// The provider's `endpoints` as written, when read in this hook.
    pub answer: Option<String>,
    /// Whether the provider's side was read in this hook (else `provider`
    /// is the record's).
    pub read_now: bool,
    /// What is on record for this relation (default: nothing).
    pub record: Record,
}

/// Reads every related haproxy-route endpoint: `relation-ids` for each, and
/// the provider's side only where it may have changed.
pub fn observe(
    juju: &HookTools<'_>,
    event: &Event,
    unit_state: &UnitState,
    broken: Option<&RelationId>,
) -> Result<Vec<RouteRelation>, HookToolError> {
    let mut found = vec![];
    for endpoint in &ENDPOINTS {
        let Some(relation) = juju.live_relation(endpoint.name, broken)? else { continue };
        let on_record = Record::parse(unit_state.get(&StateKey::HaproxyRoute(relation.to_string())));
        let this_relation = matches!(event, Event::Relation(r) if r.relation == relation);
        let refreshed = matches!(event, Event::UpgradeCharm);
        let must_read = this_relation || refreshed || on_record.is_none();
        let mut record = on_record.unwrap_or_default();
        if refreshed {
            // A refresh writes every bag whole once: the charm before may have
            // written other fields (the 26.04 charm did).
            (record.app, record.unit) = (None, None);
        }
        if matches!(event, Event::LeaderElected) {
            // Another leader may have written the application bag since this
            // unit last did, without this unit running a hook in between.
            record.app = None;
        }
        let (provider, answer) =
            if must_read { read_provider(juju, event, &relation)? } else { (record.provider.clone(), None) };
        found.push(RouteRelation { endpoint, relation, provider, answer, read_now: must_read, record });
    }
    Ok(found)
}

/// The provider's answer (as written) and its units' addresses.
fn read_provider(
    juju: &HookTools<'_>,
    event: &Event,
    relation: &RelationId,
) -> Result<(ProviderView, Option<String>), HookToolError> {
    // A hook of this relation names the remote application; no need to ask.
    let named = match event {
        Event::Relation(r) if &r.relation == relation => r.remote_app.clone().filter(|a| !a.is_empty()),
        _ => None,
    };
    let remote_app = match named {
        Some(app) => app,
        None => juju.relation_remote_app(relation)?,
    };
    let app = juju.relation_get_or_empty(relation, &remote_app, Bag::App)?;
    let mut proxies = vec![];
    for unit in juju.relation_list(relation)? {
        let bag = juju.relation_get_or_empty(relation, &unit, Bag::Unit)?;
        let subnets = bag.get("egress-subnets").map(|s| s.split(',').collect::<Vec<_>>()).unwrap_or_default();
        let candidates = bag.get("ingress-address").map(String::as_str).into_iter().chain(subnets);
        proxies.extend(candidates.filter_map(|raw| host_network(raw.trim())).map(|n| n.to_string()));
    }
    proxies.sort();
    proxies.dedup();
    let proxies_left_out = proxies.len().saturating_sub(MAX_PROXIES);
    proxies.truncate(MAX_PROXIES);
    let answer = app.get("endpoints").cloned();
    let answer_digest = answer.as_ref().map(|text| crate::fsutil::sha256_hex(&[text.as_bytes()]));
    Ok((ProviderView { answer_digest, proxies, proxies_left_out }, answer))
}

/// An address, or a network of one address: what a proxy's unit is. A wider
/// egress network is not trusted (a NAT's whole subnet would be).
fn host_network(raw: &str) -> Option<Network> {
    Network::parse(raw).ok().filter(|n| n.prefix == if n.address.is_ipv4() { 32 } else { 128 })
}

/// The provider units' addresses, trusted for their `X-Forwarded-*`
/// headers for as long as they are related.
pub fn trusted_networks(relations: &[RouteRelation]) -> Vec<Network> {
    let mut networks: Vec<Network> =
        relations.iter().flat_map(|rel| rel.provider.proxies.iter()).filter_map(|raw| host_network(raw)).collect();
    networks.sort();
    networks.dedup();
    networks
}

/// What port 80 answers for the related web routes' health checks.
pub fn health_checks(relations: &[RouteRelation]) -> Vec<crate::haproxy::model::RouteHealth> {
    relations.iter().filter_map(|rel| rel.endpoint.health()).collect()
}

/// The provider's `endpoints`, validated: a JSON list of `http(s)` URLs
/// (`[""]`, its answer for a route without paths, is none).
pub fn parse_endpoints(raw: &str, endpoint: &RouteEndpoint) -> Result<Vec<String>, String> {
    let tcp = matches!(endpoint.target, Target::Grpc { .. });
    let field = "endpoints";
    // What is logged or shown of the answer never carries a URL's credentials.
    let shown = || crate::text::quoted(&crate::text::mask_userinfo_in(raw));
    let value: serde_json::Value =
        serde_json::from_str(raw).map_err(|e| format!("{field} is not JSON ({e}): {}", shown()))?;
    let list = value.as_array().ok_or_else(|| format!("{field} is not a JSON list: {}", shown()))?;
    let mut urls = vec![];
    for item in list {
        let url = item.as_str().ok_or_else(|| format!("{field} holds a non-string: {}", shown()))?;
        if url.is_empty() {
            continue;
        }
        let masked = crate::text::mask_userinfo_in(url);
        // haproxy-route-tcp answers `<sni>:<port>` (the SNI may be a wildcard).
        if tcp && !crate::text::is_host_port(url.strip_prefix("*.").unwrap_or(url)) {
            return Err(format!("{field} holds {}, not host:port", crate::text::quoted(&masked)));
        }
        if !tcp && !crate::edge::ingress::is_provider_url(url) {
            return Err(format!("{field} holds {}, not an http(s) URL", crate::text::quoted(&masked)));
        }
        urls.push(masked);
    }
    Ok(urls)
}

pub use super::Inputs;

/// Publishes this side of every haproxy-route relation, logs the provider's
/// answer when it changes, and says what is missing.
pub fn reconcile(
    host: &Host<'_>,
    relations: &[RouteRelation],
    inputs: &Inputs<'_>,
    status: &mut StatusCollector,
) -> Result<(), HookToolError> {
    forget_gone_relations(host, relations, inputs.unit_state);
    if relations.is_empty() {
        return Ok(());
    }
    let hostname = inputs.config.root_url.as_ref().and_then(|u| u.hostname());
    let hostname_problem = routes::hostname_problem(hostname);
    if let Some(problem) = &hostname_problem {
        status.add(Status::blocked(format!("root_url must name a host for haproxy-route: {problem}")));
    }
    let route_inputs = routes::RouteInputs {
        hostname: hostname.unwrap_or_default(),
        model_uuid: &host.ctx.model_uuid,
        redirect_https: inputs.config.redirect_https,
        leader_ip: inputs.leader_ip,
    };
    for rel in relations {
        publish(host, rel, inputs, &route_inputs, hostname_problem.is_some(), status)?;
    }
    Ok(())
}

/// One relation: what is missing said, both bags written where they changed,
/// the provider's new answer logged, and what was published recorded.
fn publish(
    host: &Host<'_>,
    rel: &RouteRelation,
    inputs: &Inputs<'_>,
    route_inputs: &routes::RouteInputs<'_>,
    hostname_missing: bool,
    status: &mut StatusCollector,
) -> Result<(), HookToolError> {
    if rel.provider.proxies_left_out > 0 {
        status.add(Status::blocked(format!(
            "{}: the provider's units have {} addresses, more than the {MAX_PROXIES} trusted: \
             set haproxy_trusted_proxies to their network",
            rel.endpoint.name,
            MAX_PROXIES + rel.provider.proxies_left_out
        )));
    }
    let withheld = withheld(rel.endpoint, inputs, hostname_missing);
    if let Some(Withheld::Because(note)) = &withheld {
        status.add(note.clone());
    }
    let app = if withheld.is_none() { routes::app_bag(rel.endpoint, route_inputs) } else { Databag::new() };
    let unit = routes::unit_bag(inputs.unit_ip);
    let mut record = Record { provider: rel.provider.clone(), app: None, unit: Some(unit.clone()) };
    if inputs.is_leader {
        write_changes(host, &rel.relation, Bag::App, rel.record.app.as_ref(), &app, &rel.endpoint.app_keys())?;
        record.app = Some(app);
    }
    write_changes(host, &rel.relation, Bag::Unit, rel.record.unit.as_ref(), &unit, &routes::UNIT_KEYS)?;
    if rel.read_now && rel.provider.answer_digest != rel.record.provider.answer_digest {
        log_answer(host, rel);
    }
    let text = serde_json::to_string(&record).unwrap_or_default();
    host.stage_state(StateKey::HaproxyRoute(rel.relation.to_string()), text);
    Ok(())
}

/// Why an endpoint publishes no route now.
enum Withheld {
    Because(Status),
    /// Said once for every endpoint (the hostname).
    AlreadySaid,
}

/// Why `endpoint` publishes no route now; None when it does.
fn withheld(endpoint: &RouteEndpoint, inputs: &Inputs<'_>, no_hostname: bool) -> Option<Withheld> {
    if let Some(reason) = endpoint.unused_reason(inputs.config) {
        return Some(Withheld::Because(Status::active(reason)));
    }
    if no_hostname {
        return Some(Withheld::AlreadySaid);
    }
    if matches!(endpoint.target, Target::Grpc { .. }) && !inputs.open_ports.contains(&endpoint.unit_port()) {
        let name = endpoint.name;
        return Some(Withheld::Because(if inputs.tls_related {
            Status::waiting(format!("Waiting for this unit's certificate to serve {name} over TLS"))
        } else {
            Status::blocked(format!(
                "{name} needs load-balancer-certificates: its route passes TLS through to the units' TLS frontend"
            ))
        }));
    }
    None
}

/// One `relation-set` with what turns the bag as last written into
/// `wanted`; with nothing on record, the whole bag: every field of the
/// library not wanted is deleted (a leader new to the bag, or a refresh
/// from the 26.04 charm, whose bag held other fields), as the library
/// clears the bag before it writes.
fn write_changes(
    host: &Host<'_>,
    relation: &RelationId,
    bag: Bag,
    written: Option<&Databag>,
    wanted: &Databag,
    keys: &[&str],
) -> Result<(), HookToolError> {
    let changes = match written {
        Some(current) => crate::juju::databag::changes(current, wanted, keys),
        None => keys.iter().map(|k| (k.to_string(), wanted.get(*k).cloned().unwrap_or_default())).collect(),
    };
    if !changes.is_empty() {
        host.juju.relation_set(relation, &changes, bag)?;
    }
    Ok(())
}

/// The provider's new answer, once: its URLs, or what is wrong with it.
fn log_answer(host: &Host<'_>, rel: &RouteRelation) {
    let name = rel.endpoint.name;
    match rel.answer.as_deref().map(|raw| parse_endpoints(raw, rel.endpoint)) {
        None => host.log(LogLevel::Info, &format!("{name}: the provider has not answered with endpoints yet")),
        Some(Ok(urls)) if urls.is_empty() => host.log(
            LogLevel::Warning,
            &format!("{name}: the provider serves no endpoint for this route (it found the route invalid)"),
        ),
        Some(Ok(urls)) => host.log(LogLevel::Info, &format!("{name}: the provider serves {}", urls.join(", "))),
        Some(Err(problem)) => host.log(LogLevel::Warning, &format!("{name}: ignoring the provider's data: {problem}")),
    }
}

/// Records of relations that are no longer there go.
fn forget_gone_relations(host: &Host<'_>, relations: &[RouteRelation], unit_state: &UnitState) {
    for name in unit_state.haproxy_route_relations() {
        if !relations.iter().any(|rel| rel.relation.to_string() == name) {
            host.stage_state_delete(StateKey::HaproxyRoute(name));
        }
    }
}

/// A provider's answer: none yet, its URLs, or what is wrong with it.
pub type Answer = Option<Result<Vec<String>, String>>;

/// The provider's answer on every related endpoint, read now (the
/// `get-ingress-urls` action).
pub fn answers(juju: &HookTools<'_>) -> Result<Vec<(&'static str, Answer)>, HookToolError> {
    let mut found = vec![];
    for endpoint in &ENDPOINTS {
        let Some(relation) = juju.live_relation(endpoint.name, None)? else { continue };
        let remote_app = juju.relation_remote_app(&relation)?;
        let app = juju.relation_get_or_empty(&relation, &remote_app, Bag::App)?;
        found.push((endpoint.name, app.get("endpoints").map(|raw| parse_endpoints(raw, endpoint))));
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn provider_endpoints_are_validated() {
        let web = &ENDPOINTS[0];
        let parse = |raw: &str| parse_endpoints(raw, web);
        assert_eq!(
            parse(r#"["https://landscape.example.com/", "https://landscape.example.com/hash-id-databases"]"#),
            Ok(vec!["https://landscape.example.com/".into(), "https://landscape.example.com/hash-id-databases".into()])
        );
        assert_eq!(parse(r#"[""]"#), Ok(vec![]));
        assert_eq!(parse("[]"), Ok(vec![]));
        let err = parse("not json").unwrap_err();
        assert!(err.starts_with("endpoints is not JSON"), "{err}");
        assert!(parse(r#"{"url": "x"}"#).unwrap_err().contains("not a JSON list"));
        assert!(parse(r#"[1]"#).unwrap_err().contains("non-string"));
        assert!(parse(r#"["ftp://x"]"#).unwrap_err().contains("not an http(s) URL"));
        assert!(parse(r#"["https://x/\nbad"]"#).is_err());
        assert!(parse(r#"["https://"]"#).is_err(), "a scheme alone is no URL");
        // haproxy-route-tcp answers `<sni>:<port>`.
        let grpc = ENDPOINTS.iter().find(|e| e.interface() == "haproxy-route-tcp").unwrap();
        let tcp = |raw: &str| parse_endpoints(raw, grpc);
        assert_eq!(tcp(r#"["landscape.example.com:6554"]"#), Ok(vec!["landscape.example.com:6554".into()]));
        assert!(tcp(r#"["https://landscape.example.com/"]"#).unwrap_err().contains("not host:port"));
        assert!(tcp(r#"["landscape.example.com"]"#).is_err());
    }

    #[test]
    fn only_host_networks_of_the_provider_are_trusted() {
        let found: Vec<String> = ["10.1.99.1", "10.1.99.1/32", "10.0.0.0/8", "fd00::7", "junk", "10.1.99.2/31"]
            .iter()
            .filter_map(|raw| host_network(raw))
            .map(|n| n.to_string())
            .collect();
        assert_eq!(found, ["10.1.99.1/32", "10.1.99.1/32", "fd00::7/128"]);
    }
}
