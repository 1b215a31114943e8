//! Actions. A failed precondition is reported with `action-fail` and a clear
//! message; the hook still exits 0, as Juju expects.

use std::collections::BTreeMap;

use crate::charm::Charm;
use crate::error::CharmError;
use crate::fsutil;
use crate::haproxy::apply::first_error_line;
use crate::ingress;
use crate::tls;

/// `action-set` takes one argv element per key; stay below the 128 KiB limit.
const MAX_RESULT_CHUNK: usize = 100 * 1024;

/// The outcome of an action, before it is reported to Juju.
enum Outcome {
    Results(BTreeMap<String, String>),
    Failed(String),
}

pub fn run(charm: &Charm<'_>, name: &str) -> Result<(), CharmError> {
    let outcome = match name {
        "get-haproxy-config" => get_haproxy_config(charm)?,
        "get-ingress-urls" => get_ingress_urls(charm)?,
        "get-certificates" => get_certificates(charm)?,
        other => Outcome::Failed(format!("the {other} action is not implemented in this revision of the charm")),
    };
    match outcome {
        Outcome::Results(results) => charm.juju.action_set(&results)?,
        Outcome::Failed(message) => charm.juju.action_fail(&message)?,
    }
    Ok(())
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

fn get_haproxy_config(charm: &Charm<'_>) -> Result<Outcome, CharmError> {
    let live = fsutil::read_optional(&charm.paths.haproxy_config())?;
    let rejected = fsutil::read_optional(&charm.paths.haproxy_rejected_config())?;
    if live.is_none() && rejected.is_none() {
        return Ok(Outcome::Failed("no HAProxy config has been rendered on this unit yet".into()));
    }
    let mut results = BTreeMap::new();
    insert_chunked(&mut results, "config", &String::from_utf8_lossy(&live.unwrap_or_default()));
    results.insert("rejected".into(), rejected.is_some().to_string());
    if rejected.is_some() {
        let reason = fsutil::read_optional(&charm.paths.haproxy_rejected_reason())?.unwrap_or_default();
        let reason = String::from_utf8_lossy(&reason);
        results.insert("rejected-error".into(), first_error_line(&reason));
        results.insert("rejected-path".into(), charm.paths.haproxy_rejected_config().display().to_string());
    }
    Ok(Outcome::Results(results))
}

/// This unit's certificate, its CA and its chain (joined by blank lines).
/// Never the private key.
fn get_certificates(charm: &Charm<'_>) -> Result<Outcome, CharmError> {
    let Some(rel) = tls::observe(&charm.juju, &charm.ctx.unit_name, None)? else {
        return Ok(Outcome::Failed("TLS certificate not available: load-balancer-certificates is not related".into()));
    };
    let Some(key) = tls::load_key(&charm.paths)? else {
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

/// The URL each ingress provider returned; `<endpoint>-error` for data that
/// does not hold a valid one.
fn get_ingress_urls(charm: &Charm<'_>) -> Result<Outcome, CharmError> {
    let relations = ingress::observe(&charm.juju, false, &charm.ctx.unit_name, &charm.ctx.app_name, None)?;
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
    if results.is_empty() {
        let message = if relations.is_empty() {
            "no ingress endpoint is related".to_string()
        } else {
            "no ingress provider has returned a URL yet".to_string()
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
