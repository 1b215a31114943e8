//! Actions. A failed precondition is reported with `action-fail` and a clear
//! message; the hook still exits 0, as Juju expects.

use std::collections::BTreeMap;

use crate::charm;
use crate::drain;
use crate::edge::ingress;
use crate::error::CharmError;
use crate::fsutil;
use crate::haproxy::apply::first_error_line;
use crate::host::Host;
use crate::juju::LogLevel;
use crate::landscape::install;
use crate::peer_app::PeerKey;
use crate::rollout;
use crate::system::Cmd;
use crate::tls;
use crate::unit_state::StateKey;

/// `action-set` takes one argv element per key; stay below the 128 KiB limit.
const MAX_RESULT_CHUNK: usize = 100 * 1024;

/// The outcome of an action, before it is reported to Juju.
enum Outcome {
    Results(BTreeMap<String, String>),
    Failed(String),
}

pub fn run(host: &Host<'_>, name: &str) -> Result<(), CharmError> {
    let outcome = match name {
        "get-haproxy-config" => get_haproxy_config(host)?,
        "get-ingress-urls" => get_ingress_urls(host)?,
        "get-certificates" => get_certificates(host)?,
        "pause" => pause(host)?,
        "resume" => resume(host)?,
        "upgrade" => upgrade(host)?,
        "rolling-upgrade" => rolling_upgrade(host)?,
        "migrate-schema" => migrate_schema(host)?,
        "hash-id-databases" => hash_id_databases(host)?,
        "migrate-service-conf" => migrate_service_conf(host)?,
        "get-service-conf" => get_service_conf(host)?,
        other => Outcome::Failed(format!("the {other} action is not implemented in this revision of the charm")),
    };
    match outcome {
        Outcome::Results(results) => host.juju.action_set(&results)?,
        Outcome::Failed(message) => host.juju.action_fail(&message)?,
    }
    Ok(())
}

fn is_paused(host: &Host<'_>) -> Result<bool, CharmError> {
    Ok(host.juju.state_get()?.contains_key(&StateKey::Paused.name()))
}

fn done(message: &str) -> Outcome {
    Outcome::Results(BTreeMap::from([("result".to_string(), message.to_string())]))
}

/// Stops every Landscape service and keeps them stopped across hooks. With
/// peers, whose HAProxy route here, it first asks them to drain this unit
/// (see [`crate::drain`]): the services stop in a later hook, once they
/// have, or after `haproxy_drain_timeout`.
fn pause(host: &Host<'_>) -> Result<Outcome, CharmError> {
    let mut world = charm::observe_for_action(host)?;
    let timeout = world.config.as_ref().map_or(0, |c| c.haproxy_limits.drain_timeout_secs);
    let paused = world.unit_state.contains(&StateKey::Paused);
    if !paused && timeout > 0 && !world.peers.peers.is_empty() {
        let peers: Vec<&str> = world.peers.peers.iter().map(|(name, _)| name.as_str()).collect();
        if !world.unit_state.contains(&StateKey::DrainStarted) {
            host.record_state_now(&mut world.unit_state, &[(StateKey::DrainStarted, drain::now().to_string())], &[])?;
            host.log(LogLevel::Info, &format!("pause: asking {} to drain this unit", peers.join(", ")));
        }
        charm::handle_world(host, &world)?;
        return Ok(done(&format!(
            "draining: Landscape services stop once {} drained this unit, or after {timeout}s; \
             the unit is then paused (juju status shows it)",
            peers.join(", ")
        )));
    }
    if let Err(e) = charm::stop_services(host, &world.unit_state) {
        host.log(LogLevel::Error, &format!("pause: {e}"));
        return Ok(Outcome::Failed(format!("Failed to stop services: {e}")));
    }
    // Written at once, not staged: the reconcile below sees the world as
    // it makes it, and staged writes are sent only when they differ from it.
    host.record_state_now(&mut world.unit_state, &[(StateKey::Paused, "true".to_string())], &[])?;
    charm::handle_world(host, &world)?;
    Ok(done("Landscape services stopped"))
}

/// Starts the services again; if they do not all come up, stops them and
/// stays paused. A drain still under way is called off (the services never
/// stopped); either way the peers are told to route here again.
fn resume(host: &Host<'_>) -> Result<Outcome, CharmError> {
    let mut world = charm::observe_for_action(host)?;
    if world.unit_state.contains(&StateKey::DrainStarted) {
        host.record_state_now(&mut world.unit_state, &[], &[StateKey::DrainStarted])?;
        if !world.unit_state.contains(&StateKey::Paused) {
            charm::handle_world(host, &world)?;
            return Ok(done("drain called off: Landscape services kept running"));
        }
    }
    if let Err(e) = charm::start_services(host, &world.unit_state) {
        host.log(LogLevel::Error, &format!("resume: {e}"));
        if let Err(stop) = charm::stop_services(host, &world.unit_state) {
            host.log(LogLevel::Warning, &format!("resume: stopping again failed too: {stop}"));
        }
        return Ok(Outcome::Failed(format!("Failed to start services: {e}")));
    }
    host.record_state_now(&mut world.unit_state, &[], &[StateKey::Paused])?;
    charm::handle_world(host, &world)?;
    Ok(done("Landscape services started"))
}

/// Starts a rolling upgrade (see [`crate::rollout`]): the plan goes to the
/// peer application bag, and each unit's hooks take it from there.
fn rolling_upgrade(host: &Host<'_>) -> Result<Outcome, CharmError> {
    let world = charm::observe_for_action(host)?;
    if !world.is_leader {
        return Ok(Outcome::Failed("rolling-upgrade runs on the leader (juju status marks it with *)".into()));
    }
    if let Some(plan) = rollout::Plan::read(world.peers.app_data.raw()).filter(rollout::Plan::running) {
        let current = plan.current().unwrap_or_default();
        return Ok(Outcome::Failed(format!("rolling upgrade {} is under way ({current}'s turn)", plan.id)));
    }
    let mut units: Vec<String> = world.peers.peers.iter().map(|(name, _)| name.clone()).collect();
    units.push(host.ctx.unit_name.clone());
    let migrate_schema = host.juju.action_get()?.get("migrate-schema").and_then(serde_json::Value::as_bool);
    let plan = rollout::Plan::new(drain::now().to_string(), &host.ctx.unit_name, units, migrate_schema == Some(true));
    host.stage_peer_app(PeerKey::RollingUpgrade, plan.to_json());
    let mut world = world;
    // The leader goes first to migrate the schema: no hook of its own would
    // follow its own write, so its turn begins here.
    if plan.current() == Some(host.ctx.unit_name.as_str()) {
        charm::begin_rollout_turn(host, &mut world.unit_state, &plan.id)?;
    }
    charm::handle_world(host, &world)?;
    let migration = match &plan.migrate_schema_on {
        Some(unit) => format!("; {unit} migrates the schema after its upgrade, before it starts"),
        None => String::new(),
    };
    Ok(done(&format!(
        "rolling upgrade {}: {}, one at a time: each drained, upgraded and started again{migration} (juju status shows \
         the progress)",
        plan.id,
        plan.order.join(", ")
    )))
}

const NOT_PAUSED: &str = "is refused until the unit is paused: run the pause action first";

fn upgrade(host: &Host<'_>) -> Result<Outcome, CharmError> {
    if !is_paused(host)? {
        return Ok(Outcome::Failed(format!("upgrade {NOT_PAUSED}")));
    }
    match install::upgrade(host.cmds) {
        Ok(()) => Ok(done(&format!("upgraded {}", install::UPGRADED_PACKAGES.join(", ")))),
        Err(e) => {
            host.log(LogLevel::Error, &format!("upgrade: {e}"));
            Ok(Outcome::Failed(format!("Failed to upgrade packages: {e}")))
        }
    }
}

/// Migrates the schema: with Landscape paused, or running when the operator
/// allows connections (`allow-connections`, passed on only to a
/// `landscape-schema` whose `--help` lists it).
fn migrate_schema(host: &Host<'_>) -> Result<Outcome, CharmError> {
    let allow = host.juju.action_get()?.get("allow-connections").and_then(serde_json::Value::as_bool) == Some(true);
    if !allow && !is_paused(host)? {
        return Ok(Outcome::Failed(format!("migrate-schema {NOT_PAUSED}, or pass allow-connections=true")));
    }
    match crate::landscape::schema::migrate(host.cmds, allow) {
        Ok((out, allowed)) => {
            if allow && !allowed {
                host.juju.action_log("this landscape-schema has no --allow-connections; migrated without it")?;
            }
            // landscape-schema's own report, bounded to one line.
            host.juju.action_log(&crate::text::one_line(out.combined().trim()))?;
            Ok(done("schema migrated"))
        }
        Err(e) => {
            host.log(LogLevel::Error, &format!("migrate-schema: {e}"));
            Ok(Outcome::Failed(format!("Failed schema migration: {e}")))
        }
    }
}

/// Keys whose values are never shown: passwords, secrets, tokens and keys.
const REDACTED_KEY_PARTS: [&str; 4] = ["password", "secret", "token", "key"];
pub const REDACTED: &str = "(redacted)";

/// service.conf as `{section: {key: value}}` JSON, every secret value
/// replaced with `(redacted)` (the 26.04 charm's action shows them all).
fn get_service_conf(host: &Host<'_>) -> Result<Outcome, CharmError> {
    let Some(bytes) = fsutil::read_optional(&host.paths.service_conf())? else {
        return Ok(Outcome::Failed("service.conf does not exist yet: Landscape is not installed".into()));
    };
    let (text, _) = crate::text::decode_file(&bytes);
    let doc = match crate::ini::IniDocument::parse(&text) {
        Ok(doc) => doc,
        Err(e) => return Ok(Outcome::Failed(format!("service.conf does not parse: {e}"))),
    };
    let mut sections = serde_json::Map::new();
    for section in doc.sections() {
        let entries: serde_json::Map<String, serde_json::Value> = doc
            .entries(section)
            .into_iter()
            .map(|(key, value)| {
                let secret = REDACTED_KEY_PARTS.iter().any(|part| key.to_ascii_lowercase().contains(part));
                (key, serde_json::Value::String(if secret { REDACTED.to_string() } else { value }))
            })
            .collect();
        sections.insert(section.to_string(), serde_json::Value::Object(entries));
    }
    let json = serde_json::Value::Object(sections).to_string();
    if json.len() > MAX_RESULT_CHUNK {
        return Ok(Outcome::Failed(format!("service.conf is too large to return ({} bytes as JSON)", json.len())));
    }
    Ok(Outcome::Results(BTreeMap::from([("config".to_string(), json)])))
}

/// A program the landscape-server package ships, if this unit has it.
fn landscape_program(host: &Host<'_>, name: &str) -> Result<String, Outcome> {
    let path = host.paths.landscape_program(name);
    if path.exists() {
        Ok(path.display().to_string())
    } else {
        Err(Outcome::Failed(format!("{} is missing: this unit's Landscape does not provide {name}", path.display())))
    }
}

fn hash_id_databases(host: &Host<'_>) -> Result<Outcome, CharmError> {
    let program = match landscape_program(host, "hash-id-databases-ignore-maintenance") {
        Ok(p) => p,
        Err(outcome) => return Ok(outcome),
    };
    // It must run as the landscape user, which owns the hash-id files.
    match host.cmds.run(&Cmd::new("sudo", &["-u", "landscape", &program])) {
        Ok(_) => Ok(done("hash-id databases generated")),
        Err(e) => {
            host.log(LogLevel::Error, &format!("hash-id-databases: {e}"));
            Ok(Outcome::Failed(format!("hash-id-databases failed: {e}")))
        }
    }
}

/// Converts service.conf to the section and key names of Landscape 25.10.
fn migrate_service_conf(host: &Host<'_>) -> Result<Outcome, CharmError> {
    let program = match landscape_program(host, "migrate-service-conf") {
        Ok(p) => p,
        Err(outcome) => return Ok(outcome),
    };
    match host.cmds.run(&Cmd::new(&program, &[])) {
        Ok(_) => Ok(done("service.conf migrated")),
        Err(e) => {
            host.log(LogLevel::Error, &format!("migrate-service-conf: {e}"));
            Ok(Outcome::Failed(format!("migrate-service-conf failed: {e}")))
        }
    }
}

/// Puts `text` under `key`, or under `key-part-1`… with `key-parts` when it
/// is too long for one argument.
fn insert_chunked(results: &mut BTreeMap<String, String>, key: &str, text: &str) {
    if text.len() <= MAX_RESULT_CHUNK {
        results.insert(key.to_string(), text.to_string());
        return;
    }
    let mut parts = 0;
    let mut rest = text;
    while !rest.is_empty() {
        let mut cut = MAX_RESULT_CHUNK.min(rest.len());
        while !rest.is_char_boundary(cut) {
            cut -= 1;
        }
        parts += 1;
        results.insert(format!("{key}-part-{parts}"), rest[..cut].to_string());
        rest = &rest[cut..];
    }
    results.insert(format!("{key}-parts"), parts.to_string());
}

fn get_haproxy_config(host: &Host<'_>) -> Result<Outcome, CharmError> {
    let live = fsutil::read_optional(&host.paths.haproxy_config())?;
    let rejected = fsutil::read_optional(&host.paths.haproxy_rejected_config())?;
    if live.is_none() && rejected.is_none() {
        return Ok(Outcome::Failed("no HAProxy config has been rendered on this unit yet".into()));
    }
    let mut results = BTreeMap::new();
    insert_chunked(&mut results, "config", &String::from_utf8_lossy(&live.unwrap_or_default()));
    results.insert("rejected".into(), rejected.is_some().to_string());
    if rejected.is_some() {
        let reason = fsutil::read_optional(&host.paths.haproxy_rejected_reason())?.unwrap_or_default();
        let reason = String::from_utf8_lossy(&reason);
        results.insert("rejected-error".into(), first_error_line(&reason));
        results.insert("rejected-path".into(), host.paths.haproxy_rejected_config().display().to_string());
    }
    Ok(Outcome::Results(results))
}

/// This unit's certificate, its CA and its chain (joined by blank lines).
/// Never the private key.
fn get_certificates(host: &Host<'_>) -> Result<Outcome, CharmError> {
    let Some(rel) = tls::observe(&host.juju, &host.ctx.unit_name, None)? else {
        return Ok(Outcome::Failed("TLS certificate not available: load-balancer-certificates is not related".into()));
    };
    let Some(key) = tls::load_key(&host.paths)? else {
        return Ok(Outcome::Failed("TLS certificate not available: this unit has not requested one yet".into()));
    };
    let now = tls::now();
    for csr in tls::published_csrs(&rel.own_unit) {
        if let Ok(Some((issued, _))) = tls::valid_issued(&rel.provider_app, &csr, &key, now) {
            let mut results = BTreeMap::new();
            results.insert("certificate".to_string(), issued.certificate.trim().to_string());
            results.insert("ca".to_string(), issued.ca.trim().to_string());
            let chain: Vec<&str> = issued.chain.iter().map(|c| c.trim()).collect();
            results.insert("chain".to_string(), chain.join("\n\n"));
            return Ok(Outcome::Results(results));
        }
    }
    Ok(Outcome::Failed("No assigned TLS certificate found for this unit".into()))
}

/// The URL each ingress provider returned, and the URLs (comma-separated)
/// each haproxy-route provider serves; `<endpoint>-error` for data that does
/// not hold a valid one.
fn get_ingress_urls(host: &Host<'_>) -> Result<Outcome, CharmError> {
    let relations = ingress::observe(&host.juju, false, &host.ctx.unit_name, &host.ctx.app_name, None)?;
    let mut results = BTreeMap::new();
    for rel in &relations {
        match rel.url() {
            Ok(Some(url)) => {
                results.insert(rel.endpoint.name.to_string(), url);
            }
            Ok(None) => {}
            Err(problem) => {
                results.insert(format!("{}-error", rel.endpoint.name), problem);
            }
        }
    }
    let routes = crate::edge::haproxy_route::answers(&host.juju)?;
    for (endpoint, answer) in &routes {
        match answer {
            Some(Ok(urls)) if !urls.is_empty() => {
                results.insert(endpoint.to_string(), urls.join(","));
            }
            Some(Ok(_)) => {
                let problem = "the provider serves no endpoint for this route (it found the route invalid)";
                results.insert(format!("{endpoint}-error"), problem.to_string());
            }
            None => {}
            Some(Err(problem)) => {
                results.insert(format!("{endpoint}-error"), problem.clone());
            }
        }
    }
    if results.is_empty() {
        let message = if relations.is_empty() && routes.is_empty() {
            "no ingress or haproxy-route endpoint is related".to_string()
        } else {
            "no ingress or haproxy-route provider has returned a URL yet".to_string()
        };
        return Ok(Outcome::Failed(message));
    }
    Ok(Outcome::Results(results))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_results_are_split_and_rejoin_exactly() {
        let text = "é".repeat(MAX_RESULT_CHUNK); // two bytes each: needs two parts
        let mut results = BTreeMap::new();
        insert_chunked(&mut results, "config", &text);
        assert_eq!(results["config-parts"], "2");
        assert_eq!(format!("{}{}", results["config-part-1"], results["config-part-2"]), text);
    }
}
