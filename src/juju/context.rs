//! The hook environment, decoded once into a typed context (the Rust
//! counterpart of ops' `JujuContext`). Pure: it reads a map, not the process
//! environment, so tests feed it directly.

use std::collections::HashMap;
use std::fmt;
use std::path::PathBuf;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ContextError {
    #[error("the Juju environment lacks {0}")]
    Missing(&'static str),
    #[error("the Juju environment has an invalid {var}: {value:?} ({reason})")]
    Invalid { var: &'static str, value: String, reason: &'static str },
}

/// A relation as Juju names it: `endpoint:id`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RelationId {
    pub endpoint: String,
    pub id: u32,
}

impl RelationId {
    /// Parses `endpoint:id` (the form of `JUJU_RELATION_ID` and `relation-ids`).
    pub fn parse(text: &str) -> Option<Self> {
        let (endpoint, id) = text.rsplit_once(':')?;
        if endpoint.is_empty() {
            return None;
        }
        Some(Self { endpoint: endpoint.to_string(), id: id.parse().ok()? })
    }
}

impl fmt::Display for RelationId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.endpoint, self.id)
    }
}

/// The model's proxy settings for workload downloads (`JUJU_CHARM_*_PROXY`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ModelProxies {
    pub http: Option<String>,
    pub https: Option<String>,
    pub no_proxy: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JujuContext {
    pub dispatch_path: String,
    pub hook_name: String,
    pub unit_name: String,
    pub app_name: String,
    pub unit_number: u32,
    pub model_name: String,
    pub model_uuid: String,
    pub juju_version: String,
    pub charm_dir: PathBuf,
    pub relation: Option<String>,
    pub relation_id: Option<RelationId>,
    pub remote_app: Option<String>,
    pub remote_unit: Option<String>,
    pub departing_unit: Option<String>,
    pub action_name: Option<String>,
    pub action_uuid: Option<String>,
    pub secret_id: Option<String>,
    pub secret_label: Option<String>,
    pub secret_revision: Option<u32>,
    pub proxies: ModelProxies,
}

impl JujuContext {
    /// Decodes the variables a unit agent sets for a hook or an action.
    /// Requires what ops requires; empty optional values count as absent.
    pub fn from_env(env: &HashMap<String, String>) -> Result<Self, ContextError> {
        let required = |var: &'static str| env.get(var).cloned().ok_or(ContextError::Missing(var));
        let optional = |var: &str| env.get(var).filter(|v| !v.is_empty()).cloned();

        let dispatch_path = optional("JUJU_DISPATCH_PATH").ok_or(ContextError::Missing("JUJU_DISPATCH_PATH"))?;
        let unit_name = required("JUJU_UNIT_NAME")?;
        let (app_name, unit_number) = unit_of(&unit_name)?;
        let relation_id = parse_optional(
            optional("JUJU_RELATION_ID"),
            "JUJU_RELATION_ID",
            "expected <endpoint>:<number>",
            RelationId::parse,
        )?;
        let revision = optional("JUJU_SECRET_REVISION");
        let secret_revision =
            parse_optional(revision, "JUJU_SECRET_REVISION", "expected a number", |t| t.parse().ok())?;
        let charm_dir = optional("JUJU_CHARM_DIR").or_else(|| optional("CHARM_DIR")).unwrap_or_else(|| ".".into());

        Ok(Self {
            dispatch_path,
            hook_name: env.get("JUJU_HOOK_NAME").cloned().unwrap_or_default(),
            app_name,
            unit_number,
            unit_name,
            model_name: required("JUJU_MODEL_NAME")?,
            model_uuid: required("JUJU_MODEL_UUID")?,
            juju_version: required("JUJU_VERSION")?,
            charm_dir: PathBuf::from(charm_dir),
            relation: optional("JUJU_RELATION"),
            relation_id,
            remote_app: optional("JUJU_REMOTE_APP"),
            remote_unit: optional("JUJU_REMOTE_UNIT"),
            departing_unit: optional("JUJU_DEPARTING_UNIT"),
            action_name: optional("JUJU_ACTION_NAME"),
            action_uuid: optional("JUJU_ACTION_UUID"),
            secret_id: optional("JUJU_SECRET_ID"),
            secret_label: optional("JUJU_SECRET_LABEL"),
            secret_revision,
            proxies: ModelProxies {
                http: optional("JUJU_CHARM_HTTP_PROXY"),
                https: optional("JUJU_CHARM_HTTPS_PROXY"),
                no_proxy: optional("JUJU_CHARM_NO_PROXY"),
            },
        })
    }
}

/// `JUJU_UNIT_NAME`'s application and number.
fn unit_of(unit_name: &str) -> Result<(String, u32), ContextError> {
    let (app, number) = split_unit_name(unit_name).ok_or_else(|| ContextError::Invalid {
        var: "JUJU_UNIT_NAME",
        value: unit_name.to_string(),
        reason: "expected <application>/<number>",
    })?;
    Ok((app.to_string(), number))
}

/// An optional variable's value parsed, or why it is invalid.
fn parse_optional<T>(
    value: Option<String>,
    var: &'static str,
    reason: &'static str,
    parse: impl FnOnce(&str) -> Option<T>,
) -> Result<Option<T>, ContextError> {
    value.map(|text| parse(&text).ok_or(ContextError::Invalid { var, value: text, reason })).transpose()
}

/// `landscape-server/3` → (`landscape-server`, 3).
pub fn split_unit_name(unit: &str) -> Option<(&str, u32)> {
    let (app, number) = unit.rsplit_once('/')?;
    if app.is_empty() {
        return None;
    }
    Some((app, number.parse().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base_env() -> HashMap<String, String> {
        [
            ("JUJU_DISPATCH_PATH", "hooks/install"),
            ("JUJU_HOOK_NAME", "install"),
            ("JUJU_UNIT_NAME", "landscape-server/2"),
            ("JUJU_MODEL_NAME", "prod"),
            ("JUJU_MODEL_UUID", "b0b5c5d2-0000-4000-8000-000000000000"),
            ("JUJU_VERSION", "3.6.8"),
            ("JUJU_CHARM_DIR", "/var/lib/juju/agents/unit-landscape-server-2/charm"),
            ("JUJU_REMOTE_UNIT", ""),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
    }

    #[test]
    fn decodes_unit_and_treats_empty_as_absent() {
        let ctx = JujuContext::from_env(&base_env()).unwrap();
        assert_eq!(ctx.app_name, "landscape-server");
        assert_eq!(ctx.unit_number, 2);
        assert_eq!(ctx.remote_unit, None);
        assert_eq!(ctx.relation_id, None);
    }

    #[test]
    fn relation_id_keeps_the_number_after_the_last_colon() {
        let mut env = base_env();
        env.insert("JUJU_RELATION_ID".into(), "replicas:12".into());
        let ctx = JujuContext::from_env(&env).unwrap();
        assert_eq!(ctx.relation_id, Some(RelationId { endpoint: "replicas".into(), id: 12 }));
        assert_eq!(ctx.relation_id.unwrap().to_string(), "replicas:12");
    }

    #[test]
    fn missing_and_invalid_variables_are_named() {
        let mut env = base_env();
        env.remove("JUJU_MODEL_UUID");
        assert_eq!(JujuContext::from_env(&env), Err(ContextError::Missing("JUJU_MODEL_UUID")));
        let mut env = base_env();
        env.insert("JUJU_UNIT_NAME".into(), "no-slash".into());
        assert!(matches!(JujuContext::from_env(&env), Err(ContextError::Invalid { var: "JUJU_UNIT_NAME", .. })));
        let mut env = base_env();
        env.insert("JUJU_RELATION_ID".into(), "replicas:x".into());
        assert!(matches!(JujuContext::from_env(&env), Err(ContextError::Invalid { var: "JUJU_RELATION_ID", .. })));
    }
}
