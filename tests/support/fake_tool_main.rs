//! `fake-juju-tool`: a multi-call binary that stands in for the Juju hook
//! tools and for system commands during black-box tests. The harness links it
//! under each tool's name (`relation-get`, `systemctl`, ...) into a directory
//! put first on `PATH`; it dispatches on argv[0].
//!
//! It follows `juju-hook-tools.md`: JSON output (and it insists on
//! `--format=json` where the charm must use it), `ERROR …` on stderr with exit
//! 1 (run-time) or 2 (usage), `-r endpoint:id` (the id after the last colon),
//! pending writes applied only when the hook exits 0, and pending writes of
//! this unit visible to its own reads.

#[path = "state.rs"]
mod state;

use std::io::Read;
use std::process::ExitCode;

use serde_json::{Value, json};
use state::{Behaviour, Call, Databag, FakeState, HOOK_TOOLS, PendingOp, Secret, StatusRecord};

const STATE_ENV: &str = "FAKE_JUJU_STATE";

/// A tool's failure: exit code and stderr.
struct Failure(i32, String);

fn usage(msg: impl Into<String>) -> Failure {
    Failure(2, format!("ERROR {}", msg.into()))
}

fn runtime(msg: impl Into<String>) -> Failure {
    Failure(1, format!("ERROR {}", msg.into()))
}

type Outcome = Result<String, Failure>;

fn main() -> ExitCode {
    let mut argv = std::env::args();
    let program = argv
        .next()
        .and_then(|p| std::path::Path::new(&p).file_name().map(|n| n.to_string_lossy().into_owned()))
        .unwrap_or_default();
    let args: Vec<String> = argv.collect();
    let Ok(path) = std::env::var(STATE_ENV) else {
        eprintln!("ERROR fake-juju-tool: {STATE_ENV} is not set");
        return ExitCode::from(1);
    };
    let mut st: FakeState = match std::fs::read(&path)
        .map_err(|e| e.to_string())
        .and_then(|b| serde_json::from_slice(&b).map_err(|e| e.to_string()))
    {
        Ok(st) => st,
        Err(e) => {
            eprintln!("ERROR fake-juju-tool: cannot load {path}: {e}");
            return ExitCode::from(1);
        }
    };
    let mut stdin = None;
    if args.iter().any(|a| a == "-") && matches!(program.as_str(), "relation-set" | "state-set") {
        let mut buf = String::new();
        let _ = std::io::stdin().read_to_string(&mut buf);
        stdin = Some(buf);
    }
    let is_hook_tool = HOOK_TOOLS.contains(&program.as_str());
    let env = ["DEBIAN_FRONTEND", "http_proxy", "https_proxy", "no_proxy", "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY"]
        .iter()
        .filter_map(|k| std::env::var(k).ok().map(|v| (k.to_string(), v)))
        .collect();
    let call = Call { program: program.clone(), args: args.clone(), stdin: stdin.clone(), env };
    let outcome = if is_hook_tool {
        st.tool_calls.push(call);
        match st.tool_failures.get(&program).cloned() {
            Some(b) => behave(&b),
            None => hook_tool(&mut st, &program, &args, stdin.as_deref()),
        }
    } else {
        let line = call.line();
        st.commands.push(call);
        let behaviour = st
            .command_behaviours
            .iter()
            .filter(|(key, _)| line == **key || line.starts_with(&format!("{key} ")))
            .max_by_key(|(key, _)| key.len())
            .map(|(_, b)| b.clone());
        match (behaviour, program.as_str()) {
            (Some(behaviour), _) => behave(&behaviour),
            (None, "dpkg-query") => behave(&dpkg_query(&st, &args)),
            (None, "apt-mark") => {
                apt_mark(&mut st, &args);
                Ok(String::new())
            }
            (None, _) => behave(&Behaviour::default()),
        }
    };
    if let Err(e) = std::fs::write(&path, serde_json::to_vec_pretty(&st).expect("state serializes")) {
        eprintln!("ERROR fake-juju-tool: cannot save {path}: {e}");
        return ExitCode::from(1);
    }
    match outcome {
        Ok(out) => {
            print!("{out}");
            ExitCode::SUCCESS
        }
        Err(Failure(code, err)) => {
            eprintln!("{err}");
            ExitCode::from(code as u8)
        }
    }
}

/// `dpkg-query -W -f=FORMAT package…` as dpkg answers it: `${Package}` and
/// `${Status}` expanded, `\n` as a newline; exit 1 and a line on stderr for
/// each package it does not know.
fn dpkg_query(st: &FakeState, args: &[String]) -> Behaviour {
    let format = args.iter().find_map(|a| a.strip_prefix("-f=")).unwrap_or("${Package}\t${Version}\n");
    let mut out = Behaviour::default();
    for package in args.iter().filter(|a| !a.starts_with('-')) {
        if st.missing_packages.contains(package) {
            out.code = 1;
            out.stderr.push_str(&format!("dpkg-query: no packages found matching {package}\n"));
            continue;
        }
        let status = if st.held_packages.contains(package) { "hold ok installed" } else { "install ok installed" };
        out.stdout.push_str(&format.replace("${Package}", package).replace("${Status}", status).replace("\\n", "\n"));
    }
    out
}

/// `apt-mark hold|unhold package…`: what dpkg then reports.
fn apt_mark(st: &mut FakeState, args: &[String]) {
    let (verb, packages) = args.split_first().map(|(v, p)| (v.as_str(), p)).unwrap_or(("", &[]));
    for package in packages {
        match verb {
            "hold" => st.held_packages.insert(package.clone()),
            "unhold" => st.held_packages.remove(package),
            _ => false,
        };
    }
}

fn behave(b: &Behaviour) -> Outcome {
    if b.code == 0 {
        eprint!("{}", b.stderr);
        Ok(b.stdout.clone())
    } else {
        print!("{}", b.stdout);
        Err(Failure(b.code, b.stderr.trim_end().to_string()))
    }
}

/// Parsed flags: `--x=y`, `--x y`, bare `--x`, and positionals (after `--`, all positional).
struct Args {
    flags: Vec<(String, Option<String>)>,
    positional: Vec<String>,
}

fn parse(args: &[String], with_value: &[&str], bare: &[&str]) -> Result<Args, Failure> {
    let mut out = Args { flags: vec![], positional: vec![] };
    let mut iter = args.iter();
    while let Some(a) = iter.next() {
        if a == "--" {
            out.positional.extend(iter.by_ref().cloned());
            break;
        }
        if a.starts_with('-') && a != "-" {
            let (name, inline) = match a.split_once('=') {
                Some((n, v)) => (n.to_string(), Some(v.to_string())),
                None => (a.clone(), None),
            };
            if with_value.contains(&name.as_str()) {
                let value = match inline {
                    Some(v) => v,
                    None => iter.next().cloned().ok_or_else(|| usage(format!("flag needs an argument: {name}")))?,
                };
                out.flags.push((name, Some(value)));
            } else if bare.contains(&name.as_str()) {
                out.flags.push((name, inline));
            } else {
                return Err(usage(format!("flag provided but not defined: {name}")));
            }
        } else {
            out.positional.push(a.clone());
        }
    }
    Ok(out)
}

impl Args {
    fn get(&self, name: &str) -> Option<&str> {
        self.flags.iter().find(|(n, _)| n == name).and_then(|(_, v)| v.as_deref())
    }
    fn has(&self, name: &str) -> bool {
        self.flags.iter().any(|(n, _)| n == name)
    }
    /// The harness insists on the JSON forms (the contract with real Juju).
    fn require_json(&self, tool: &str) -> Result<(), Failure> {
        if self.get("--format") == Some("json") {
            Ok(())
        } else {
            Err(usage(format!("{tool}: the fake insists on --format=json")))
        }
    }
}

fn to_json(v: Value) -> String {
    format!("{v}\n")
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

fn hook_tool(st: &mut FakeState, tool: &str, args: &[String], stdin: Option<&str>) -> Outcome {
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
        "secret-add" | "secret-set" | "secret-get" | "secret-ids" | "secret-info-get" => secret_tool(st, tool, args),
        other => Err(usage(format!("fake-juju-tool does not implement {other}"))),
    }
}

/// Secret content from `key#file=path` (or `key=value`) arguments.
fn secret_content(items: &[String]) -> Result<Databag, Failure> {
    let mut content = Databag::new();
    for item in items {
        let (key, value) = if let Some((key, path)) = item.split_once("#file=") {
            (key.to_string(), std::fs::read_to_string(path).map_err(|e| runtime(format!("cannot read {path}: {e}")))?)
        } else {
            let (k, v) = item.split_once('=').ok_or_else(|| usage(format!("invalid content {item:?}")))?;
            (k.to_string(), v.to_string())
        };
        let valid = key.len() >= 3
            && key.starts_with(|c: char| c.is_ascii_lowercase())
            && !key.ends_with('-')
            && !key.contains("--")
            && key.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
        if !valid {
            return Err(usage(format!("invalid secret key {key:?}")));
        }
        content.insert(key, value);
    }
    Ok(content)
}

fn find_secret<'s>(st: &'s FakeState, id: Option<&str>, label: Option<&str>) -> Result<&'s Secret, Failure> {
    let xid = |s: &str| s.rsplit(['/', ':']).next().unwrap_or(s).to_string();
    let found = st.secrets.iter().chain(st.pending.iter().filter_map(|op| match op {
        PendingOp::SecretAdd(s) => Some(s),
        _ => None,
    }));
    let found: Vec<&Secret> = found
        .filter(|s| {
            id.is_none_or(|id| xid(&s.id) == xid(id))
                && (id.is_some() || label.is_some_and(|l| s.label.as_deref() == Some(l)))
        })
        .collect();
    found.into_iter().next().ok_or_else(|| runtime(format!("secret {:?} not found", id.or(label).unwrap_or_default())))
}

fn secret_tool(st: &mut FakeState, tool: &str, args: &[String]) -> Outcome {
    match tool {
        "secret-add" => {
            let a = parse(args, &["--label", "--owner", "--description", "--expire", "--rotate"], &[])?;
            let owner = a.get("--owner").unwrap_or("application").to_string();
            if owner == "application" && !st.leader {
                return Err(runtime("permission denied: only the leader can add application secrets"));
            }
            let content = secret_content(&a.positional)?;
            let n = st.secrets.len() + st.pending.len() + 1;
            let id = format!("secret:fake{n:016}");
            let secret = Secret {
                id: id.clone(),
                owner,
                label: a.get("--label").map(str::to_string),
                revisions: vec![content],
                tracked: None,
            };
            st.pending.push(PendingOp::SecretAdd(secret));
            Ok(format!("{id}\n"))
        }
        "secret-set" => {
            let a = parse(args, &["--label", "--owner", "--description", "--expire", "--rotate"], &[])?;
            let [id, items @ ..] = a.positional.as_slice() else {
                return Err(usage("expected a secret id"));
            };
            let secret = find_secret(st, Some(id), None)?;
            if secret.owner == "application" && !st.leader {
                return Err(runtime("permission denied"));
            }
            let id = secret.id.clone();
            let content = secret_content(items)?;
            st.pending.push(PendingOp::SecretSet { id, content });
            Ok(String::new())
        }
        "secret-get" => {
            let a = parse(args, &["--format", "--label"], &["--refresh", "--peek"])?;
            a.require_json(tool)?;
            let id = a.positional.first().map(String::as_str);
            let secret = find_secret(st, id, a.get("--label"))?.clone();
            let latest = secret.revisions.len();
            let revision =
                if a.has("--refresh") || a.has("--peek") { latest } else { secret.tracked.unwrap_or(latest) };
            let content = secret.revisions.get(revision.saturating_sub(1)).cloned().unwrap_or_default();
            if let Some(s) = st.secrets.iter_mut().find(|s| s.id == secret.id) {
                if a.has("--refresh") || s.tracked.is_none() {
                    s.tracked = Some(latest);
                }
                if let (Some(_), Some(label)) = (id, a.get("--label")) {
                    s.label = Some(label.to_string());
                }
            }
            Ok(to_json(json!(content)))
        }
        "secret-ids" => {
            parse(args, &["--format"], &[])?.require_json(tool)?;
            let ids: Vec<String> =
                st.secrets.iter().map(|s| s.id.rsplit(':').next().unwrap_or(&s.id).to_string()).collect();
            Ok(to_json(json!(ids)))
        }
        "secret-info-get" => {
            let a = parse(args, &["--format", "--label"], &[])?;
            a.require_json(tool)?;
            let secret = find_secret(st, a.positional.first().map(String::as_str), a.get("--label"))?;
            if secret.owner == "application" && !st.leader {
                return Err(runtime(format!("secret {:?} not found", secret.id)));
            }
            let xid = secret.id.rsplit(':').next().unwrap_or(&secret.id).to_string();
            Ok(to_json(
                json!({ xid: {"revision": secret.revisions.len(), "label": secret.label, "owner": secret.owner} }),
            ))
        }
        _ => unreachable!(),
    }
}

/// Bindings `network-get` knows even without a relation (the charm's endpoints).
const ENDPOINT_NAMES: &[&str] = &[
    "replicas",
    "database",
    "db",
    "inbound-amqp",
    "outbound-amqp",
    "application-dashboard",
    "load-balancer-certificates",
    "http-ingress",
    "https-ingress",
    "hostagent-messenger-ingress",
    "ubuntu-installer-attach-ingress",
    "nrpe-external-master",
    "cos-agent",
    "data",
    "hosted",
    "juju-info",
];

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
