//! Unit state (`state-get`/`-set`/`-delete`), with pending writes visible to reads.

use serde_json::json;

use crate::args::{Outcome, parse, runtime, to_json, usage};
use crate::state::{Databag, FakeState, PendingOp};

pub fn run(st: &mut FakeState, tool: &str, args: &[String], stdin: Option<&str>) -> Outcome {
    match tool {
        "state-get" => {
            let a = parse(args, &["--format"], &["--strict"])?;
            a.require_json(tool)?;
            let mut data = st.unit_state.clone();
            for op in &st.pending {
                match op {
                    PendingOp::StateSet(d) => data.extend(d.clone()),
                    PendingOp::StateDelete(k) => {
                        data.remove(k);
                    }
                    _ => {}
                }
            }
            // Real Juju prints null when nothing is stored.
            Ok(if data.is_empty() { "null\n".into() } else { to_json(json!(data)) })
        }
        "state-set" => {
            let a = parse(args, &["--file"], &[])?;
            if a.get("--file") != Some("-") {
                return Err(usage("the fake only takes state-set --file -"));
            }
            let data: Databag =
                serde_json::from_str(stdin.unwrap_or_default()).map_err(|e| runtime(format!("bad state: {e}")))?;
            st.pending.push(PendingOp::StateSet(data));
            Ok(String::new())
        }
        "state-delete" => {
            let a = parse(args, &[], &[])?;
            let [key] = a.positional.as_slice() else {
                return Err(usage("expected one key"));
            };
            st.pending.push(PendingOp::StateDelete(key.clone()));
            Ok(String::new())
        }
        other => Err(usage(format!("fake-juju-tool does not implement {other}"))),
    }
}
