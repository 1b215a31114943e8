//! Opening and closing ports (applied when the hook exits 0).

use serde_json::json;

use crate::args::{Outcome, parse, to_json, usage};
use crate::state::{FakeState, PendingOp};

pub fn run(st: &mut FakeState, tool: &str, args: &[String], _stdin: Option<&str>) -> Outcome {
    match tool {
        "open-port" | "close-port" => {
            let a = parse(args, &["--endpoints"], &[])?;
            let [port] = a.positional.as_slice() else {
                return Err(usage("expected one port"));
            };
            let (number, proto) = port.split_once('/').unwrap_or((port, "tcp"));
            if number.parse::<u16>().map_or(true, |n| n == 0) || !["tcp", "udp"].contains(&proto) {
                return Err(usage(format!("invalid port {port:?}")));
            }
            let canonical = format!("{number}/{proto}");
            st.pending.push(if tool == "open-port" {
                PendingOp::OpenPort(canonical)
            } else {
                PendingOp::ClosePort(canonical)
            });
            Ok(String::new())
        }
        "opened-ports" => {
            parse(args, &["--format"], &[])?.require_json(tool)?;
            Ok(to_json(json!(st.opened_ports)))
        }
        other => Err(usage(format!("fake-juju-tool does not implement {other}"))),
    }
}
