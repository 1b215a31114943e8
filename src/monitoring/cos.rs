//! What cos-agent carries beside the scrape jobs: alert rules and Grafana
//! dashboards, authored as files under `cos/` and built into the charm.
//!
//! The rules are Prometheus rule files (YAML, checked and unit-tested by
//! `promtool` in the tests). The dashboards are Grafana JSON: one for the
//! units' HAProxys, and one per Landscape service family made from one
//! template and the service table, so a service added there gets its
//! dashboard without another list to keep.

use std::io::Write;

use base64::Engine;
use serde_json::Value;

/// Every rule file, by name.
pub const RULE_FILES: &[(&str, &str)] = &[
    ("landscape-haproxy.rules", include_str!("../../cos/alert_rules/landscape-haproxy.rules")),
    ("landscape.rules", include_str!("../../cos/alert_rules/landscape.rules")),
];
pub const HAPROXY_DASHBOARD: &str = include_str!("../../cos/dashboards/landscape-haproxy.json");
/// `__SERVICE__` is the family's `landscape_service` label, `__BACKENDS__` a
/// regex of its HAProxy backends (panels that use it go when it has none).
pub const SERVICE_DASHBOARD_TEMPLATE: &str = include_str!("../../cos/dashboards/landscape-service.json.template");
const SERVICE_TOKEN: &str = "__SERVICE__";
const BACKENDS_TOKEN: &str = "__BACKENDS__";

/// A dashboard family: its service label and, if HAProxy routes to it, the
/// regex of its backends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Family {
    pub service: &'static str,
    pub backends: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum CosContentError {
    #[error("built-in rule file {file} is not valid YAML: {source}")]
    Rules { file: &'static str, source: serde_yaml_ng::Error },
    #[error("built-in dashboard {name} is not valid JSON: {source}")]
    Dashboard { name: String, source: serde_json::Error },
    #[error("compressing dashboard {name}: {source}")]
    Compress { name: String, source: std::io::Error },
}

/// Where the rules come from, as the cos_agent library's provider gives it
/// (`JujuTopology.from_charm`): grafana-agent keeps topology labels a rule
/// already has and adds its own only where one is missing, so a rule
/// without them is attributed to grafana-agent and selects its series.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Topology<'a> {
    pub model: &'a str,
    pub model_uuid: &'a str,
    pub application: &'a str,
    pub charm: &'a str,
}

impl Topology<'_> {
    /// The labels every rule carries (`label_matcher_dict`).
    fn labels(&self) -> [(&'static str, &str); 4] {
        [
            ("juju_model", self.model),
            ("juju_model_uuid", self.model_uuid),
            ("juju_application", self.application),
            ("juju_charm", self.charm),
        ]
    }

    /// The matchers every selector of a rule gets: the labels the scrape
    /// jobs' series carry (not the charm: the jobs have none).
    fn matchers(&self) -> String {
        self.labels()
            .iter()
            .take(3)
            .map(|(k, v)| format!("{k}=\"{}\"", v.replace('\\', "\\\\").replace('"', "\\\"")))
            .collect::<Vec<_>>()
            .join(",")
    }

    /// `<model>_<first 8 of the uuid>_<application>`, the groups' prefix.
    fn identifier(&self) -> String {
        let short: String = self.model_uuid.chars().take(8).collect();
        format!("{}_{short}_{}", self.model, self.application).replace('/', "_")
    }
}

/// Every rule file's groups, as one `{"groups": [...]}` (the library's
/// `metrics_alert_rules`), as the library's provider builds them: each
/// group named `<model>_<uuid8>_<application>_<group>_rules`, each rule
/// labelled with the topology and each selector of its expression matching
/// it (what cos-tool injects), so the alerts are this application's.
pub fn alert_rules(topology: &Topology<'_>) -> Result<Value, CosContentError> {
    let mut groups = vec![];
    for (file, text) in RULE_FILES {
        let parsed: Value = serde_yaml_ng::from_str(text).map_err(|source| CosContentError::Rules { file, source })?;
        for group in parsed.get("groups").and_then(Value::as_array).into_iter().flatten() {
            groups.push(with_topology(group, topology));
        }
    }
    Ok(serde_json::json!({ "groups": groups }))
}

/// One group with the topology: its name, each rule's labels and expression.
fn with_topology(group: &Value, topology: &Topology<'_>) -> Value {
    let mut group = group.clone();
    let name = group["name"].as_str().unwrap_or_default();
    let mut name = format!("{}_{name}", topology.identifier());
    if !name.ends_with("_rules") {
        name.push_str("_rules");
    }
    let name: String = name.chars().map(|c| if c.is_ascii_alphanumeric() || c == ':' { c } else { '_' }).collect();
    group["name"] = Value::String(name);
    for rule in group["rules"].as_array_mut().into_iter().flatten() {
        if !rule["labels"].is_object() {
            rule["labels"] = serde_json::json!({});
        }
        for (key, value) in topology.labels() {
            if rule["labels"].get(key).is_none() {
                rule["labels"][key] = Value::String(value.to_string());
            }
        }
        if let Some(expr) = rule["expr"].as_str() {
            rule["expr"] = Value::String(crate::monitoring::promql::inject_matchers(expr, &topology.matchers()));
        }
    }
    group
}

/// The dashboards as the library sends them: each JSON document
/// LZMA-compressed (the xz format Python's `lzma.compress` writes) and
/// base64-encoded (`GrafanaDashboard._serialize`).
pub fn dashboards(families: &[Family]) -> Result<Vec<String>, CosContentError> {
    let mut documents = vec![("landscape-haproxy".to_string(), parse("landscape-haproxy", HAPROXY_DASHBOARD)?)];
    for family in families {
        let name = format!("landscape-{}", family.service);
        documents.push((name.clone(), service_dashboard(&name, family)?));
    }
    documents.into_iter().map(|(name, document)| encode(&name, &document)).collect()
}

/// The template made for one family.
pub fn service_dashboard(name: &str, family: &Family) -> Result<Value, CosContentError> {
    let mut template = parse(name, SERVICE_DASHBOARD_TEMPLATE)?;
    if family.backends.is_none() {
        if let Some(panels) = template.get_mut("panels").and_then(Value::as_array_mut) {
            panels.retain(|panel| !panel.to_string().contains(BACKENDS_TOKEN));
        }
    }
    let text = template
        .to_string()
        .replace(SERVICE_TOKEN, family.service)
        .replace(BACKENDS_TOKEN, &family.backends.clone().unwrap_or_default());
    parse(name, &text)
}

fn parse(name: &str, text: &str) -> Result<Value, CosContentError> {
    serde_json::from_str(text).map_err(|source| CosContentError::Dashboard { name: name.to_string(), source })
}

fn encode(name: &str, document: &Value) -> Result<String, CosContentError> {
    let fail = |source| CosContentError::Compress { name: name.to_string(), source };
    // Preset 1: a 12 KB document needs no bigger window, and the encoder's
    // memory stays a few MB (preset 6 takes about 100 MB) in every hook.
    let mut writer = lzma_rust2::XzWriter::new(Vec::new(), lzma_rust2::XzOptions::with_preset(1)).map_err(fail)?;
    writer.write_all(document.to_string().as_bytes()).map_err(fail)?;
    let compressed = writer.finish().map_err(fail)?;
    Ok(base64::engine::general_purpose::STANDARD.encode(compressed))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_family_without_backends_has_no_haproxy_panels_and_no_token_is_left() {
        let without = service_dashboard("x", &Family { service: "package-search", backends: None }).unwrap();
        let with =
            service_dashboard("y", &Family { service: "api", backends: Some("landscape-https?-api".into()) }).unwrap();
        let panels = |d: &Value| d["panels"].as_array().unwrap().len();
        assert!(panels(&without) < panels(&with));
        for document in [&without, &with] {
            let text = document.to_string();
            assert!(!text.contains(SERVICE_TOKEN) && !text.contains(BACKENDS_TOKEN), "{text}");
        }
        assert_eq!(with["uid"], "landscape-api");
    }
}
