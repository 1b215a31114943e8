//! The `relation-*` tools: ids, units and databags, with this unit's pending writes visible to its own reads.

use serde_json::json;

use crate::args::{Args, Failure, Outcome, parse, runtime, to_json, usage};
use crate::state::{self, Databag, FakeState, PendingOp};

pub fn run(st: &mut FakeState, tool: &str, args: &[String], stdin: Option<&str>) -> Outcome {
    let app = st.app().to_string();
    match tool {
        "relation-ids" => {
            let a = parse(args, &["--format"], &[])?;
            a.require_json(tool)?;
            let [endpoint] = a.positional.as_slice() else {
                return Err(usage("expected one endpoint"));
            };
            let mut ids: Vec<String> =
                st.relations.iter().filter(|r| &r.endpoint == endpoint).map(|r| r.name()).collect();
            ids.sort();
            Ok(to_json(json!(ids)))
        }
        "relation-list" => {
            let (a, id) = open_relation_read(st, tool, args)?;
            let rel = st.relation(id).expect("checked");
            if a.has("--app") {
                return Ok(to_json(json!(rel.remote_app)));
            }
            let units: Vec<&String> =
                rel.remote_units.keys().filter(|u| Some(*u) != rel.departing_unit.as_ref()).collect();
            Ok(to_json(json!(units)))
        }
        "relation-get" => {
            let (a, id) = open_relation_read(st, tool, args)?;
            let [key, member] = a.positional.as_slice() else {
                return Err(usage("expected <key> <unit-or-app>"));
            };
            if key != "-" {
                return Err(usage("the fake only serves whole databags (key -)"));
            }
            let rel = st.relation(id).expect("checked");
            let member_app = member.split('/').next().unwrap_or_default();
            let bag = if a.has("--app") {
                if member_app == app {
                    let peer = rel.remote_app == app;
                    if !peer && !st.leader {
                        return Err(runtime("permission denied"));
                    }
                    own_bag(st, id, true)
                } else if member_app == rel.remote_app {
                    rel.remote_app_data.clone()
                } else {
                    return Err(runtime(format!("unknown application {member}")));
                }
            } else if *member == st.unit {
                own_bag(st, id, false)
            } else {
                rel.remote_units
                    .get(member)
                    .cloned()
                    .ok_or_else(|| runtime(format!("cannot read settings for unit {member:?}")))?
            };
            Ok(to_json(json!(bag)))
        }
        "relation-set" => {
            let a = parse(args, &["-r", "--file"], &["--app"])?;
            let id = relation_of(st, a.get("-r"))?;
            if a.get("--file") != Some("-") || !a.positional.is_empty() {
                return Err(usage("the fake only takes relation-set --file -"));
            }
            let body = stdin.unwrap_or_default();
            let data: Databag = serde_json::from_str(body)
                .map_err(|e| runtime(format!("cannot parse settings: expected a map of strings: {e}")))?;
            let app_bag = a.has("--app");
            if app_bag && !st.leader {
                return Err(runtime("cannot write relation settings"));
            }
            peer_data_available(st, id)?;
            st.pending.push(PendingOp::RelationSet { relation: id, app: app_bag, data });
            Ok(String::new())
        }
        other => Err(usage(format!("fake-juju-tool does not implement {other}"))),
    }
}

/// `-r endpoint:id` → the relation id (Juju keeps the int after the last colon).
fn relation_of(st: &FakeState, r: Option<&str>) -> Result<u32, Failure> {
    let r = r.ok_or_else(|| usage("no relation id specified"))?;
    let id: u32 = r.rsplit(':').next().unwrap_or(r).parse().map_err(|_| usage(format!("invalid relation id {r:?}")))?;
    let rel = st.relation(id).ok_or_else(|| runtime(format!("relation not found: {r}")))?;
    if let Some((ep, _)) = r.rsplit_once(':') {
        if ep != rel.endpoint {
            return Err(runtime(format!("relation not found: {r} is not on endpoint {ep}")));
        }
    }
    Ok(id)
}

/// A bag of this unit, with its own pending writes applied.
fn own_bag(st: &FakeState, id: u32, app: bool) -> Databag {
    let rel = st.relation(id).expect("checked");
    let mut bag = if app { rel.local_app_data.clone() } else { rel.local_unit_data.clone() };
    for op in &st.pending {
        if let PendingOp::RelationSet { relation, app: a, data } = op {
            if *relation == id && *a == app {
                state::merge(&mut bag, data);
            }
        }
    }
    bag
}

/// During install, peer relation data can be neither read nor written (as in Juju).
fn peer_data_available(st: &FakeState, id: u32) -> Result<(), Failure> {
    if !st.peer_data_readable && st.relation(id).is_some_and(|r| r.remote_app == st.app()) {
        Err(runtime("peer relation data is not available during install"))
    } else {
        Ok(())
    }
}

/// What `relation-list` and `relation-get` check first: their flags, JSON
/// output, a known `-r`, and peer data being available.
fn open_relation_read(st: &FakeState, tool: &str, args: &[String]) -> Result<(Args, u32), Failure> {
    let a = parse(args, &["--format", "-r"], &["--app"])?;
    a.require_json(tool)?;
    let id = relation_of(st, a.get("-r"))?;
    peer_data_available(st, id)?;
    Ok((a, id))
}
