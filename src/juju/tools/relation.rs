//! The relation tools: `relation-ids`, `-list`, `-get` and `-set`.

use serde_json::Value;

use super::{Bag, Databag, HookToolError, HookTools, databag_from_json, owned};
use crate::juju::context::RelationId;

impl HookTools<'_> {
    /// `relation-ids <endpoint> --format=json`, parsed and sorted by id.
    pub fn relation_ids(&self, endpoint: &str) -> Result<Vec<RelationId>, HookToolError> {
        let ids: Vec<String> = self.call_json("relation-ids", owned(&[endpoint, "--format=json"]))?;
        let mut parsed = ids
            .iter()
            .map(|text| {
                RelationId::parse(text)
                    .filter(|r| r.endpoint == endpoint)
                    .ok_or_else(|| HookToolError::bad_output("relation-ids", "endpoint:id strings", text))
            })
            .collect::<Result<Vec<_>, _>>()?;
        parsed.sort_by_key(|r| r.id);
        Ok(parsed)
    }

    /// `relation-list --format=json -r ep:id`: the remote units (never this unit).
    pub fn relation_list(&self, relation: &RelationId) -> Result<Vec<String>, HookToolError> {
        let units: Option<Vec<String>> =
            self.call_json("relation-list", owned(&["--format=json", "-r", &relation.to_string()]))?;
        Ok(units.unwrap_or_default())
    }

    /// `relation-list --app`: the remote application's name.
    pub fn relation_remote_app(&self, relation: &RelationId) -> Result<String, HookToolError> {
        self.call_json("relation-list", owned(&["--format=json", "--app", "-r", &relation.to_string()]))
    }

    /// A unit databag (`member` is a unit name) or an application databag
    /// (`Bag::App`; `member` is the application or one of its units).
    pub fn relation_get(&self, relation: &RelationId, member: &str, bag: Bag) -> Result<Databag, HookToolError> {
        let rel = relation.to_string();
        let mut args = owned(&["--format=json", "-r", &rel]);
        if bag == Bag::App {
            args.push("--app".into());
        }
        args.extend(owned(&["-", member]));
        let value: Value = self.call_json("relation-get", args)?;
        databag_from_json("relation-get", value)
    }

    /// Like [`Self::relation_get`], but a relation that went away under us
    /// reads as empty (ops does the same): its data no longer exists.
    pub fn relation_get_or_empty(
        &self,
        relation: &RelationId,
        member: &str,
        bag: Bag,
    ) -> Result<Databag, HookToolError> {
        match self.relation_get(relation, member, bag) {
            Err(HookToolError::RelationNotFound { .. }) => Ok(Databag::new()),
            other => other,
        }
    }

    /// The relation on a `limit: 1` endpoint, leaving out `broken` (the one
    /// being torn down in this hook, which `relation-ids` may still list).
    pub fn live_relation(
        &self,
        endpoint: &str,
        broken: Option<&RelationId>,
    ) -> Result<Option<RelationId>, HookToolError> {
        Ok(self.relation_ids(endpoint)?.into_iter().find(|r| Some(r) != broken))
    }

    /// `relation-set -r ep:id [--app] --file -` with a JSON object on stdin.
    /// An empty value deletes the key; keys not mentioned are left alone.
    pub fn relation_set(&self, relation: &RelationId, data: &Databag, bag: Bag) -> Result<(), HookToolError> {
        let rel = relation.to_string();
        let mut args = owned(&["-r", &rel]);
        if bag == Bag::App {
            args.push("--app".into());
        }
        args.extend(owned(&["--file", "-"]));
        let body = serde_json::to_vec(data).expect("a string map always serializes");
        self.call("relation-set", args, Some(&body)).map(drop)
    }
}
