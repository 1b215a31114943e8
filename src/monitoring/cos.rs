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

/// Every rule file's groups, as one `{"groups": [...]}` (the library's
/// `metrics_alert_rules`).
pub fn alert_rules() -> Result<Value, CosContentError> {
    let mut groups = vec![];
    for (file, text) in RULE_FILES {
        let parsed: Value = serde_yaml_ng::from_str(text).map_err(|source| CosContentError::Rules { file, source })?;
        if let Some(list) = parsed.get("groups").and_then(Value::as_array) {
            groups.extend(list.iter().cloned());
        }
    }
    Ok(serde_json::json!({ "groups": groups }))
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
