//! Unit state: `state-get`, `state-set`, `state-delete`.

use serde_json::Value;

use super::{Databag, HookToolError, HookTools, databag_from_json, owned};

impl HookTools<'_> {
    /// `state-get --format=json`; `null` (printed when nothing is stored) is empty.
    pub fn state_get(&self) -> Result<Databag, HookToolError> {
        let value: Value = self.call_json("state-get", owned(&["--format=json"]))?;
        databag_from_json("state-get", value)
    }

    pub fn state_delete(&self, key: &str) -> Result<(), HookToolError> {
        self.call("state-delete", vec![key.to_string()], None).map(drop)
    }

    pub fn state_set(&self, data: &Databag) -> Result<(), HookToolError> {
        let body = serde_json::to_vec(data).expect("a string map always serializes");
        self.call("state-set", owned(&["--file", "-"]), Some(&body)).map(drop)
    }
}
