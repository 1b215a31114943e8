//! What a unit asks about itself: its config, its leadership, its network.

use serde_json::{Value, json};

use crate::args::{Outcome, parse, runtime, to_json, usage};
use crate::state::FakeState;

pub fn run(st: &mut FakeState, tool: &str, args: &[String], _stdin: Option<&str>) -> Outcome {
    match tool {
        "config-get" => {
            let a = parse(args, &["--format"], &["--all", "-a"])?;
            a.require_json(tool)?;
            match a.positional.as_slice() {
                [] => Ok(to_json(Value::Object(
                    st.config
                        .iter()
                        .filter(|(_, v)| a.has("--all") || a.has("-a") || !v.is_null())
                        .map(|(k, v)| (k.clone(), v.clone()))
                        .collect(),
                ))),
                [key] => Ok(to_json(st.config.get(key).cloned().unwrap_or(Value::Null))),
                _ => Err(usage("too many arguments")),
            }
        }
        "is-leader" => {
            parse(args, &["--format"], &[])?.require_json(tool)?;
            Ok(to_json(json!(st.leader)))
        }
        "network-get" => {
            let a = parse(args, &["--format", "-r"], &[])?;
            a.require_json(tool)?;
            let [binding] = a.positional.as_slice() else {
                return Err(usage("expected one binding"));
            };
            let known = st.relations.iter().any(|r| &r.endpoint == binding) || st.networks.contains_key(binding);
            let address = st.networks.get(binding).cloned().unwrap_or_else(|| "192.0.2.0".into());
            if !known && !ENDPOINT_NAMES.contains(&binding.as_str()) {
                return Err(runtime(format!("relation not found: no network config for {binding}")));
            }
            Ok(to_json(json!({
                "bind-addresses": [{"mac-address": "", "interface-name": "eth0",
                                     "addresses": [{"hostname": "", "value": address, "cidr": ""}]}],
                "egress-subnets": [format!("{address}/32")],
                "ingress-addresses": [address],
            })))
        }
        other => Err(usage(format!("fake-juju-tool does not implement {other}"))),
    }
}

/// Bindings `network-get` knows even without a relation (the charm's endpoints).
pub const ENDPOINT_NAMES: &[&str] = &[
    "replicas",
    "website",
    "database",
    "db",
    "inbound-amqp",
    "outbound-amqp",
    "application-dashboard",
    "smtp",
    "load-balancer-certificates",
    "http-ingress",
    "https-ingress",
    "hostagent-messenger-ingress",
    "ubuntu-installer-attach-ingress",
    "appserver-haproxy-route",
    "pingserver-haproxy-route",
    "message-server-haproxy-route",
    "api-haproxy-route",
    "package-upload-haproxy-route",
    "hostagent-messenger-haproxy-route",
    "ubuntu-installer-attach-haproxy-route",
    "repository-haproxy-route",
    "nrpe-external-master",
    "cos-agent",
    "debarchive",
    "task-handler",
    "data",
    "hosted",
    "juju-info",
];
