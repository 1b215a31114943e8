//! What a unit asks about itself: `config-get`, `is-leader`, `network-get`.

use serde_json::Value;

use super::{HookToolError, HookTools, NetworkInfo, owned};
use crate::juju::context::RelationId;

impl HookTools<'_> {
    pub fn config_get(&self) -> Result<serde_json::Map<String, Value>, HookToolError> {
        let value: Value = self.call_json("config-get", owned(&["--format=json", "--all"]))?;
        match value {
            Value::Object(map) => Ok(map),
            Value::Null => Ok(Default::default()),
            other => Err(HookToolError::bad_output("config-get", "a JSON object", other)),
        }
    }

    pub fn is_leader(&self) -> Result<bool, HookToolError> {
        self.call_json("is-leader", owned(&["--format=json"]))
    }

    /// `network-get --format=json [-r ep:id] <binding>`; with a relation, the
    /// addresses as that relation sees them (what the ingress library uses).
    pub fn network_get(&self, binding: &str, relation: Option<&RelationId>) -> Result<NetworkInfo, HookToolError> {
        let mut args = owned(&["--format=json"]);
        if let Some(relation) = relation {
            args.extend(["-r".to_string(), relation.to_string()]);
        }
        args.push(binding.to_string());
        let value: Value = self.call_json("network-get", args)?;
        let bad = |detail: &str| HookToolError::bad_output("network-get", "network-get JSON", detail);
        let mut info = NetworkInfo::default();
        for bind in value.get("bind-addresses").and_then(Value::as_array).into_iter().flatten() {
            for addr in bind.get("addresses").and_then(Value::as_array).into_iter().flatten() {
                // Juju ≥ 2.9 says `value`; older ones said `address`.
                let text = addr.get("value").or_else(|| addr.get("address")).and_then(Value::as_str);
                info.bind_addresses.push(text.ok_or_else(|| bad("an address without a value"))?.to_string());
            }
        }
        for addr in value.get("ingress-addresses").and_then(Value::as_array).into_iter().flatten() {
            info.ingress_addresses.push(addr.as_str().ok_or_else(|| bad("a non-string ingress address"))?.to_string());
        }
        Ok(info)
    }
}
