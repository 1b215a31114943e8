//! The tools of a running action: `action-get`, `-set`, `-fail`, `-log`.

use std::collections::BTreeMap;

use serde_json::Value;

use super::{HookToolError, HookTools, owned};

impl HookTools<'_> {
    pub fn action_get(&self) -> Result<serde_json::Map<String, Value>, HookToolError> {
        let value: Value = self.call_json("action-get", owned(&["--format=json"]))?;
        match value {
            Value::Object(map) => Ok(map),
            Value::Null => Ok(Default::default()),
            other => Err(HookToolError::bad_output("action-get", "a JSON object", other)),
        }
    }

    /// `action-set k=v …`. Keys must be lowercase, digits, `-` and `.`.
    pub fn action_set(&self, results: &BTreeMap<String, String>) -> Result<(), HookToolError> {
        if results.is_empty() {
            return Ok(());
        }
        let args = results.iter().map(|(k, v)| format!("{k}={v}")).collect();
        self.call("action-set", args, None).map(drop)
    }

    pub fn action_fail(&self, message: &str) -> Result<(), HookToolError> {
        self.call("action-fail", owned(&["--", message]), None).map(drop)
    }

    pub fn action_log(&self, message: &str) -> Result<(), HookToolError> {
        self.call("action-log", owned(&["--", message]), None).map(drop)
    }
}
