//! Status, version and log: what the unit tells Juju and its operator.

use crate::args::{Outcome, parse, runtime, usage};
use crate::state::{self, FakeState, StatusRecord};

pub fn run(st: &mut FakeState, tool: &str, args: &[String], _stdin: Option<&str>) -> Outcome {
    match tool {
        "status-set" => {
            let a = parse(args, &[], &["--application"])?;
            let [status, rest @ ..] = a.positional.as_slice() else {
                return Err(usage("expected a status"));
            };
            if !["maintenance", "blocked", "waiting", "active"].contains(&status.as_str()) {
                return Err(usage(format!(
                    "invalid status {status:?}, expected one of [maintenance blocked waiting active]"
                )));
            }
            let record = StatusRecord { status: status.clone(), message: rest.join(" ") };
            if a.has("--application") {
                if !st.leader {
                    return Err(runtime("this unit is not the leader"));
                }
                st.app_status = Some(record);
            } else {
                st.unit_status = Some(record);
            }
            Ok(String::new())
        }
        "application-version-set" => {
            let a = parse(args, &[], &[])?;
            st.app_version = Some(a.positional.join(" "));
            Ok(String::new())
        }
        "juju-log" => {
            let a = parse(args, &["--log-level", "-l"], &["--debug"])?;
            let level = a.get("--log-level").or(a.get("-l")).unwrap_or("INFO").to_string();
            st.logs.push(state::LogRecord { level, message: a.positional.join(" ") });
            Ok(String::new())
        }
        other => Err(usage(format!("fake-juju-tool does not implement {other}"))),
    }
}
