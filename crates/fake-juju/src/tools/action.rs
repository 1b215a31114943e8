//! The `action-*` tools of a running action.

use serde_json::Value;

use crate::args::{Outcome, parse, runtime, to_json, usage};
use crate::state::FakeState;

pub fn run(st: &mut FakeState, tool: &str, args: &[String], _stdin: Option<&str>) -> Outcome {
    match tool {
        "action-get" => {
            let a = parse(args, &["--format"], &[])?;
            a.require_json(tool)?;
            let action = st.action.as_ref().ok_or_else(|| runtime("not running an action"))?;
            Ok(to_json(Value::Object(action.params.clone())))
        }
        "action-set" => {
            let a = parse(args, &[], &[])?;
            let action = st.action.as_mut().ok_or_else(|| runtime("not running an action"))?;
            for kv in &a.positional {
                let (k, v) =
                    kv.split_once('=').ok_or_else(|| usage(format!("argument {kv:?} must be <key>=<value>")))?;
                if ["stdout", "stdout-encoding", "stderr", "stderr-encoding"].contains(&k) {
                    return Err(runtime(format!("cannot set reserved action key {k:?}")));
                }
                let valid = k.split('.').all(|seg| {
                    !seg.is_empty()
                        && seg.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.')
                        && seg.chars().next().is_some_and(|c| c.is_ascii_alphanumeric())
                        && seg.chars().last().is_some_and(|c| c.is_ascii_alphanumeric())
                });
                if !valid {
                    return Err(usage(format!("key {k:?} must start and end with lowercase alphanumeric")));
                }
                action.results.insert(k.to_string(), v.to_string());
            }
            Ok(String::new())
        }
        "action-fail" => {
            let a = parse(args, &[], &[])?;
            let action = st.action.as_mut().ok_or_else(|| runtime("not running an action"))?;
            action.failed = Some(a.positional.join(" "));
            Ok(String::new())
        }
        "action-log" => {
            let a = parse(args, &[], &[])?;
            let action = st.action.as_mut().ok_or_else(|| runtime("not running an action"))?;
            action.logs.push(a.positional.join(" "));
            Ok(String::new())
        }
        other => Err(usage(format!("fake-juju-tool does not implement {other}"))),
    }
}
