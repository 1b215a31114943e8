//! A fake Juju for black-box tests: state in, state out.
//!
//! A [`Unit`] owns a private filesystem root (`CHARM_FS_ROOT`), a directory of
//! shims on `PATH` (every hook tool and the faked system commands link to
//! `fake-juju-tool`), and a [`FakeState`]. [`Unit::run`] writes the state,
//! runs the real compiled `dispatch` binary with the environment a unit agent
//! sets, commits the queued writes only if it exited 0 (as Juju does), and
//! reads the state back. `haproxy` and `runuser` stay the real ones.

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use serde_json::{Map, Value};

pub use crate::state::{Behaviour, Call, Databag, FakeState, HOOK_TOOLS, Relation, default_unit_bag};

pub const APP: &str = "landscape-server";
const DISPATCH: &str = env!("CARGO_BIN_EXE_landscape-server");

/// `fake-juju-tool`, built once per test run. It lives in the `fake-juju`
/// crate (so that building the charm never compiles it), and Cargo builds
/// only this package's binaries for its tests: the harness asks Cargo for it,
/// with the same profile and target directory, and takes the path Cargo
/// reports.
fn fake_tool() -> &'static str {
    static PATH: OnceLock<String> = OnceLock::new();
    PATH.get_or_init(|| {
        let out = Command::new(env!("CARGO"))
            .args([
                "build",
                "--locked",
                "--quiet",
                "--message-format=json",
                "-p",
                "fake-juju",
                "--bin",
                "fake-juju-tool",
            ])
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .output()
            .expect("cargo runs");
        assert!(out.status.success(), "building fake-juju-tool failed:\n{}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|line| serde_json::from_str::<Value>(line).ok())
            .find_map(|message| {
                let is_tool = message["target"]["name"] == "fake-juju-tool";
                message["executable"].as_str().filter(|_| is_tool).map(str::to_string)
            })
            .expect("cargo reports the fake-juju-tool executable")
    })
}

/// System commands that are faked (recorded, scripted); the rest are real.
pub const FAKED_COMMANDS: &[&str] = &[
    "apt-get",
    "add-apt-repository",
    "apt-mark",
    "dpkg-query",
    "systemctl",
    "lsctl",
    "landscape-schema",
    "psql",
    "sudo",
    "python3",
    "snap",
    "postmap",
];

/// The charm's declared surface, read from the real YAML files once.
pub struct CharmSpec {
    pub endpoints: BTreeMap<String, (String, String)>, // name → (role, interface)
    pub options: BTreeMap<String, (String, Option<Value>)>, // name → (type, default)
    pub actions: Vec<String>,
}

pub fn spec() -> &'static CharmSpec {
    static SPEC: OnceLock<CharmSpec> = OnceLock::new();
    SPEC.get_or_init(|| {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let read = |name: &str| -> serde_yaml_ng::Value {
            serde_yaml_ng::from_str(&std::fs::read_to_string(root.join(name)).unwrap()).unwrap()
        };
        let metadata = read("metadata.yaml");
        let mut endpoints = BTreeMap::new();
        for role in ["requires", "provides", "peers"] {
            if let Some(map) = metadata[role].as_mapping() {
                for (name, body) in map {
                    endpoints.insert(
                        name.as_str().unwrap().to_string(),
                        (role.to_string(), body["interface"].as_str().unwrap().to_string()),
                    );
                }
            }
        }
        let config = read("config.yaml");
        let options = config["options"]
            .as_mapping()
            .unwrap()
            .iter()
            .map(|(name, body)| {
                let default = body.get("default").map(|d| serde_json::to_value(d).unwrap());
                (name.as_str().unwrap().to_string(), (body["type"].as_str().unwrap().to_string(), default))
            })
            .collect();
        let actions =
            read("actions.yaml").as_mapping().unwrap().keys().map(|k| k.as_str().unwrap().to_string()).collect();
        CharmSpec { endpoints, options, actions }
    })
}

/// What happened in one dispatch.
#[derive(Debug)]
pub struct RunResult {
    pub code: i32,
    pub stderr: String,
    /// Hook tool calls of this run only.
    pub tool_calls: Vec<Call>,
    /// System command calls of this run only.
    pub commands: Vec<Call>,
}

impl RunResult {
    pub fn command_lines(&self) -> Vec<String> {
        self.commands.iter().map(Call::line).collect()
    }
    pub fn ran(&self, line: &str) -> bool {
        self.command_lines().iter().any(|l| l == line)
    }
}

/// The hook or action to run.
#[derive(Debug, Clone)]
pub enum Dispatch {
    Hook(String),
    Relation {
        endpoint: String,
        kind: &'static str,
        id: u32,
        remote_unit: Option<String>,
        departing: Option<String>,
    },
    Action {
        name: String,
        params: Map<String, Value>,
    },
    /// A dispatch path of any form, for unknown hooks.
    Raw(String),
}

impl Dispatch {
    /// `<endpoint>-relation-<kind>` on relation `id`, from `remote_unit`.
    pub fn relation(endpoint: &str, kind: &'static str, id: u32, remote_unit: Option<&str>) -> Self {
        Dispatch::Relation {
            endpoint: endpoint.into(),
            kind,
            id,
            remote_unit: remote_unit.map(str::to_string),
            departing: None,
        }
    }

    /// `<endpoint>-relation-departed`: `remote_unit` is seen to go, and
    /// `departing` is the unit that leaves (it, or the one that runs the hook).
    pub fn departed(endpoint: &str, id: u32, remote_unit: &str, departing: &str) -> Self {
        Dispatch::Relation {
            endpoint: endpoint.into(),
            kind: "departed",
            id,
            remote_unit: Some(remote_unit.into()),
            departing: Some(departing.into()),
        }
    }
}

pub const DB_RELATION: u32 = 20;
pub const INBOUND_AMQP_RELATION: u32 = 21;
pub const OUTBOUND_AMQP_RELATION: u32 = 22;
pub const TLS_RELATION: u32 = 23;
pub const DB_PASSWORD: &str = "pg-password-6f1d";
pub const AMQP_PASSWORD: &str = "rabbit-password-93c2";

/// What [`Unit::save`] keeps.
pub struct Saved {
    state: FakeState,
    files: tempfile::TempDir,
}

pub struct Unit {
    dir: tempfile::TempDir,
    pub state: FakeState,
    runs: u32,
    /// A command that runs `dispatch` (its path the last argument), such as
    /// `strace` injecting a fault; None runs it directly.
    pub wrapper: Option<Vec<String>>,
    /// Runs hooks in this process ([`Unit::run_in_process`]): for the many
    /// hooks of a test whose subject is not the binary itself.
    pub in_process: bool,
}

impl Unit {
    /// A unit of `landscape-server` with every config option at its default,
    /// `network-get replicas` answering `address`, no relations.
    pub fn new(number: u32, address: &str) -> Self {
        Self::new_in(&std::env::temp_dir(), number, address)
    }

    /// [`Unit::new`], with the unit's directory made inside `parent`.
    pub fn new_in(parent: &Path, number: u32, address: &str) -> Self {
        let dir = tempfile::Builder::new().prefix("landscape-unit-").tempdir_in(parent).unwrap();
        // HAProxy validates the candidate config as the haproxy user.
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        let bin = dir.path().join("bin");
        std::fs::create_dir_all(&bin).unwrap();
        std::fs::create_dir_all(dir.path().join("root")).unwrap();
        std::fs::create_dir_all(dir.path().join("charm")).unwrap();
        for tool in HOOK_TOOLS.iter().chain(FAKED_COMMANDS) {
            std::os::unix::fs::symlink(fake_tool(), bin.join(tool)).unwrap();
        }
        let config: Map<String, Value> = spec()
            .options
            .iter()
            .map(|(name, (_, default))| (name.clone(), default.clone().unwrap_or(Value::Null)))
            .collect();
        let state = FakeState {
            unit: format!("{APP}/{number}"),
            model_uuid: "d2a6c5e0-4c1b-4f3e-9a55-0123456789ab".into(),
            config,
            // Every binding in the same space: one address for all endpoints.
            networks: spec().endpoints.keys().map(|e| (e.clone(), address.to_string())).collect(),
            // Landscape and HAProxy are installed; the optional packages are not.
            missing_packages: ["landscape-ubuntu-installer-attach", "needrestart"].map(str::to_string).into(),
            peer_data_readable: true,
            ..Default::default()
        };
        Self { dir, state, runs: 0, wrapper: None, in_process: false }
    }

    /// The unit as it is now, state and files, to [`Unit::restore`] any
    /// number of times (each fault of the crash test starts from it).
    pub fn save(&self) -> Saved {
        let copy = tempfile::Builder::new().prefix("landscape-unit-saved-").tempdir().unwrap();
        let status = Command::new("cp").arg("-a").arg(self.root()).arg(copy.path().join("root")).status().unwrap();
        assert!(status.success(), "cp -a of the unit's files");
        Saved { state: self.state.clone(), files: copy }
    }

    /// Puts back what [`Unit::save`] saved, at this unit's own paths (files
    /// name them, so a copy elsewhere would differ).
    pub fn restore(&mut self, saved: &Saved) {
        std::fs::remove_dir_all(self.root()).unwrap();
        let status =
            Command::new("cp").arg("-a").arg(saved.files.path().join("root")).arg(self.root()).status().unwrap();
        assert!(status.success(), "cp -a back to the unit's files");
        self.state = saved.state.clone();
    }

    /// Moves the unit to a new address on every binding.
    pub fn set_address(&mut self, address: &str) {
        for value in self.state.networks.values_mut() {
            *value = address.to_string();
        }
    }

    /// Relates `endpoint` (id `id`) to one unit of `remote_app`.
    pub fn add_relation(&mut self, endpoint: &str, id: u32, remote_app: &str) -> &mut Relation {
        let own = default_unit_bag(&self.address());
        self.state.relations.push(Relation {
            id,
            endpoint: endpoint.into(),
            remote_app: remote_app.into(),
            local_unit_data: own,
            remote_units: BTreeMap::from([(format!("{remote_app}/0"), default_unit_bag("10.1.99.1"))]),
            ..Default::default()
        });
        self.state.relation_mut(id).unwrap()
    }

    pub fn relation(&self, id: u32) -> &Relation {
        self.state.relation(id).expect("the relation exists")
    }

    pub fn address(&self) -> String {
        self.state.networks["replicas"].clone()
    }

    /// The directory first on the unit's `PATH`: hook tools and faked commands.
    pub fn bin_dir(&self) -> PathBuf {
        self.dir.path().join("bin")
    }

    /// The unit's `CHARM_FS_ROOT`.
    pub fn root(&self) -> PathBuf {
        self.dir.path().join("root")
    }

    /// A path inside the unit's root, given as the absolute system path.
    pub fn path(&self, absolute: &str) -> PathBuf {
        self.root().join(absolute.trim_start_matches('/'))
    }

    pub fn read(&self, absolute: &str) -> Option<String> {
        std::fs::read_to_string(self.path(absolute)).ok()
    }

    pub fn haproxy_config(&self) -> Option<String> {
        self.read("/etc/haproxy/haproxy.cfg")
    }

    pub fn set_config(&mut self, key: &str, value: Value) {
        self.state.config.insert(key.to_string(), value);
    }

    /// Adds the peer relation (id 0) if missing and returns it.
    pub fn peer_relation(&mut self) -> &mut Relation {
        if !self.state.relations.iter().any(|r| r.endpoint == "replicas") {
            let own = default_unit_bag(&self.address());
            self.state.relations.push(Relation {
                id: 0,
                endpoint: "replicas".into(),
                remote_app: APP.into(),
                local_unit_data: own,
                ..Default::default()
            });
        }
        self.state.relations.iter_mut().find(|r| r.endpoint == "replicas").unwrap()
    }

    /// Sets `leader-ip` in the peer application databag, as the leader would
    /// have (for a peer relation that bag is this application's own).
    pub fn set_published_leader_ip(&mut self, value: &str) {
        self.peer_relation().local_app_data.insert("leader-ip".into(), value.into());
    }

    /// Puts a peer with Juju's default databag plus the charm's `address` key.
    pub fn add_peer(&mut self, number: u32, address: &str) {
        let mut bag = default_unit_bag(address);
        bag.insert("address".into(), address.into());
        self.peer_relation().remote_units.insert(format!("{APP}/{number}"), bag);
    }

    /// Puts a recording stand-in for a program the landscape-server package
    /// ships under /opt/canonical/landscape (recorded under its file name).
    pub fn install_landscape_program(&self, name: &str) {
        let path = self.path(&format!("/opt/canonical/landscape/{name}"));
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::os::unix::fs::symlink(fake_tool(), &path).unwrap();
    }

    /// Makes every command line that starts with `prefix` exit `code` with
    /// `stderr` (the longest matching prefix wins, as in the fake).
    pub fn fail_command(&mut self, prefix: &str, code: i32, stderr: &str) {
        let behaviour = Behaviour { code, stdout: String::new(), stderr: stderr.to_string() };
        self.state.command_behaviours.insert(prefix.to_string(), behaviour);
    }

    /// Makes `dpkg-query` report `package` as missing.
    pub fn mark_not_installed(&mut self, package: &str) {
        self.state.missing_packages.insert(package.to_string());
    }

    /// Makes `dpkg-query` report `package` as installed.
    pub fn mark_installed(&mut self, package: &str) {
        self.state.missing_packages.remove(package);
    }

    /// A secret this unit can read, owned by `owner` (`application`: ours),
    /// with `content` as its one revision.
    pub fn put_secret(&mut self, id: &str, owner: &str, content: Databag) {
        self.state.secrets.retain(|s| s.id != id);
        self.state.secrets.push(crate::state::Secret {
            id: id.into(),
            owner: owner.into(),
            label: None,
            revisions: vec![content],
            tracked: None,
            granted: vec![],
        });
    }

    /// The remote application on relation `id` of `endpoint` (added if it
    /// is not there yet) answers with `bag`; relation-changed runs.
    pub fn remote_app_answers(&mut self, endpoint: &str, id: u32, remote_app: &str, bag: &[(&str, &str)]) -> RunResult {
        if self.state.relation_mut(id).is_none() {
            self.add_relation(endpoint, id, remote_app);
        }
        self.state.relation_mut(id).unwrap().remote_app_data =
            bag.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        self.relation_changed(endpoint, id, None)
    }

    /// A `database` relation to postgresql as the current VM charm answers
    /// (the postgresql_client interface, secrets variant): endpoints and
    /// version in the app bag, credentials in a secret granted to us.
    pub fn add_database(&mut self, id: u32) {
        let uri = format!("secret:pgcreds{id:013}"); // a 20-character id, as Juju makes
        let credentials = Databag::from([
            ("username".to_string(), format!("relation-{id}")),
            ("password".to_string(), DB_PASSWORD.to_string()),
            ("uris".to_string(), format!("postgresql://relation-{id}:{DB_PASSWORD}@10.1.99.1:5432/database")),
        ]);
        self.put_secret(&uri, "postgresql", credentials);
        let rel = self.add_relation("database", id, "postgresql");
        rel.remote_app_data = Databag::from([
            ("database".to_string(), "database".to_string()),
            ("endpoints".to_string(), "10.1.99.1:5432".to_string()),
            ("read-only-endpoints".to_string(), "10.1.99.2:5432".to_string()),
            ("secret-user".to_string(), uri),
            ("version".to_string(), "16.9".to_string()),
        ]);
    }

    /// An AMQP relation whose rabbit unit has answered.
    pub fn add_amqp(&mut self, endpoint: &str, id: u32) {
        let rel = self.add_relation(endpoint, id, "rabbitmq-server");
        let bag = rel.remote_units.get_mut("rabbitmq-server/0").unwrap();
        bag.insert("hostname".into(), "10.1.99.1".into());
        bag.insert("password".into(), AMQP_PASSWORD.into());
    }

    /// Peers, a database and both AMQP relations, all answered.
    pub fn relate_landscape_backends(&mut self) {
        self.peer_relation();
        self.add_database(DB_RELATION);
        self.add_amqp("inbound-amqp", INBOUND_AMQP_RELATION);
        self.add_amqp("outbound-amqp", OUTBOUND_AMQP_RELATION);
    }

    /// Everything Landscape needs to be ready: the backends plus a TLS
    /// relation with a real certificate installed.
    pub fn relate_workload(&mut self) {
        self.relate_landscape_backends();
        self.add_relation("load-balancer-certificates", TLS_RELATION, "self-signed-certificates");
        self.install_test_certificate();
    }

    /// Installs a real certificate bundle where HAProxy expects one.
    pub fn install_test_certificate(&self) {
        let pem = crate::fixtures::test_pem();
        let path = self.path("/etc/haproxy/haproxy.pem");
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, pem).unwrap();
    }

    pub fn hook(&mut self, name: &str) -> RunResult {
        self.run(Dispatch::Hook(name.to_string()))
    }

    pub fn relation_changed(&mut self, endpoint: &str, id: u32, remote_unit: Option<&str>) -> RunResult {
        self.run(Dispatch::relation(endpoint, "changed", id, remote_unit))
    }

    pub fn action(&mut self, name: &str) -> RunResult {
        self.run(Dispatch::Action { name: name.into(), params: Map::new() })
    }

    /// Refuses states that contradict metadata.yaml/config.yaml, like
    /// Scenario's consistency checker.
    pub fn check_consistency(&self, dispatch: &Dispatch) -> Result<(), String> {
        let spec = spec();
        for rel in &self.state.relations {
            let Some((role, _)) = spec.endpoints.get(&rel.endpoint) else {
                return Err(format!("relation {} uses undeclared endpoint {}", rel.id, rel.endpoint));
            };
            if (role == "peers") != (rel.remote_app == APP) {
                return Err(format!(
                    "relation {}: remote app {} does not fit a {role} endpoint",
                    rel.id, rel.remote_app
                ));
            }
        }
        for (key, value) in &self.state.config {
            let Some((kind, _)) = spec.options.get(key) else {
                return Err(format!("undeclared config option {key}"));
            };
            let fits = match (kind.as_str(), value) {
                (_, Value::Null) => true,
                ("string", Value::String(_)) | ("boolean", Value::Bool(_)) => true,
                ("int", Value::Number(n)) => n.is_i64(),
                ("float", Value::Number(_)) => true,
                _ => false,
            };
            if !fits {
                return Err(format!("config option {key} is a {kind}, not {value}"));
            }
        }
        match dispatch {
            Dispatch::Action { name, .. } if !spec.actions.contains(name) => Err(format!("undeclared action {name}")),
            Dispatch::Relation { endpoint, id, .. } => match self.state.relation(*id) {
                Some(rel) if &rel.endpoint == endpoint => Ok(()),
                _ => Err(format!("no relation {endpoint}:{id} in the state")),
            },
            _ => Ok(()),
        }
    }

    fn env(&self, dispatch: &Dispatch) -> Vec<(String, String)> {
        let mut env: Vec<(String, String)> = vec![
            ("JUJU_UNIT_NAME".into(), self.state.unit.clone()),
            ("JUJU_MODEL_NAME".into(), "landscape".into()),
            ("JUJU_MODEL_UUID".into(), self.state.model_uuid.clone()),
            ("JUJU_VERSION".into(), "3.6.8".into()),
            ("JUJU_CHARM_DIR".into(), self.dir.path().join("charm").display().to_string()),
            ("CHARM_DIR".into(), self.dir.path().join("charm").display().to_string()),
            ("JUJU_CONTEXT_ID".into(), format!("{}-run-{}", self.state.unit, self.runs)),
            ("JUJU_AGENT_SOCKET_ADDRESS".into(), "@/var/lib/juju/agents/unit-fake/agent.socket".into()),
            ("JUJU_AGENT_SOCKET_NETWORK".into(), "unix".into()),
            ("JUJU_MACHINE_ID".into(), "0".into()),
            ("JUJU_PRINCIPAL_UNIT".into(), String::new()),
            ("JUJU_AVAILABILITY_ZONE".into(), String::new()),
            ("JUJU_CHARM_HTTP_PROXY".into(), String::new()),
            ("JUJU_CHARM_HTTPS_PROXY".into(), String::new()),
            ("JUJU_CHARM_NO_PROXY".into(), String::new()),
            ("CHARM_FS_ROOT".into(), self.root().display().to_string()),
            ("FAKE_JUJU_STATE".into(), self.dir.path().join("state.json").display().to_string()),
            (
                "PATH".into(),
                format!("{}:{}", self.dir.path().join("bin").display(), std::env::var("PATH").unwrap_or_default()),
            ),
        ];
        let mut set = |k: &str, v: String| env.push((k.to_string(), v));
        match dispatch {
            Dispatch::Hook(name) => {
                set("JUJU_DISPATCH_PATH", format!("hooks/{name}"));
                set("JUJU_HOOK_NAME", name.clone());
            }
            Dispatch::Raw(path) => {
                set("JUJU_DISPATCH_PATH", path.clone());
                set("JUJU_HOOK_NAME", path.rsplit('/').next().unwrap_or_default().to_string());
            }
            Dispatch::Relation { endpoint, kind, id, remote_unit, departing } => {
                let name = format!("{endpoint}-relation-{kind}");
                let remote_app = self.state.relation(*id).map(|r| r.remote_app.clone()).unwrap_or_default();
                set("JUJU_DISPATCH_PATH", format!("hooks/{name}"));
                set("JUJU_HOOK_NAME", name);
                set("JUJU_RELATION", endpoint.clone());
                set("JUJU_RELATION_ID", format!("{endpoint}:{id}"));
                set("JUJU_REMOTE_APP", remote_app);
                // Real Juju always exports it, empty when there is no remote unit.
                set("JUJU_REMOTE_UNIT", remote_unit.clone().unwrap_or_default());
                if let Some(departing) = departing {
                    set("JUJU_DEPARTING_UNIT", departing.clone());
                }
            }
            Dispatch::Action { name, .. } => {
                set("JUJU_DISPATCH_PATH", format!("actions/{name}"));
                set("JUJU_HOOK_NAME", String::new());
                set("JUJU_ACTION_NAME", name.clone());
                set("JUJU_ACTION_UUID", self.runs.to_string());
                set("JUJU_ACTION_TAG", format!("action-{}", self.runs));
            }
        }
        env
    }

    /// Runs the real binary once. Panics on an inconsistent state: a test
    /// that feeds impossible input is a broken test.
    pub fn run(&mut self, dispatch: Dispatch) -> RunResult {
        self.try_run(dispatch).unwrap_or_else(|e| panic!("inconsistent test state: {e}"))
    }

    pub fn try_run(&mut self, dispatch: Dispatch) -> Result<RunResult, String> {
        let execution = if self.in_process { Execution::InProcess } else { Execution::Binary };
        self.try_run_as(dispatch, execution)
    }

    /// Runs the charm's library in this process, with the fake's answers
    /// behind its runner traits (no process per tool call): the same state
    /// in and out as [`Self::run`].
    pub fn run_in_process(&mut self, dispatch: Dispatch) -> RunResult {
        self.try_run_as(dispatch, Execution::InProcess).unwrap_or_else(|e| panic!("inconsistent test state: {e}"))
    }

    fn try_run_as(&mut self, dispatch: Dispatch, execution: Execution) -> Result<RunResult, String> {
        self.check_consistency(&dispatch)?;
        self.runs += 1;
        let mut state = self.state.clone();
        // The fake rewrites the state file on every call: hand it this run's
        // calls only, and keep the history here.
        let history = (std::mem::take(&mut state.tool_calls), std::mem::take(&mut state.commands));
        state.pending.clear();
        state.fs_root = Some(self.root().display().to_string());
        state.peer_data_readable = !matches!(&dispatch, Dispatch::Hook(h) if h == "install");
        state.broken_relation = match &dispatch {
            Dispatch::Relation { kind: "broken", id, .. } => Some(*id),
            _ => None,
        };
        if let Some(Dispatch::Relation { id, departing: Some(unit), .. }) = Some(&dispatch) {
            if let Some(rel) = state.relation_mut(*id) {
                rel.departing_unit = Some(unit.clone());
            }
        }
        state.action = match &dispatch {
            Dispatch::Action { name, params } => {
                Some(crate::state::ActionState { name: name.clone(), params: params.clone(), ..Default::default() })
            }
            _ => None,
        };
        let (code, stderr, mut state) = match execution {
            Execution::Binary => {
                let state_path = self.dir.path().join("state.json");
                std::fs::write(&state_path, serde_json::to_vec_pretty(&state).unwrap()).unwrap();
                let mut command = match &self.wrapper {
                    Some(wrapper) => {
                        let mut command = Command::new(&wrapper[0]);
                        command.args(&wrapper[1..]).arg(DISPATCH);
                        command
                    }
                    None => Command::new(DISPATCH),
                };
                let out = command
                    .env_clear()
                    .envs(self.env(&dispatch))
                    .current_dir(self.dir.path().join("charm"))
                    .output()
                    .expect("dispatch runs");
                let state: FakeState = serde_json::from_slice(&std::fs::read(&state_path).unwrap()).unwrap();
                (out.status.code().unwrap_or(-1), String::from_utf8_lossy(&out.stderr).into_owned(), state)
            }
            Execution::InProcess => {
                let env: std::collections::HashMap<String, String> = self.env(&dispatch).into_iter().collect();
                let runner = crate::in_process::InProcess::new(state);
                let result = landscape_server::run(&env, &runner, &runner);
                let stderr = result.as_ref().err().map(|e| format!("landscape-server: {e}\n")).unwrap_or_default();
                (if result.is_ok() { 0 } else { 1 }, stderr, runner.into_state())
            }
        };
        if code == 0 {
            state.commit();
        } else {
            state.pending.clear();
        }
        // What the hook left behind: departed units and broken relations go.
        if let Dispatch::Relation { id, departing: Some(unit), .. } = &dispatch {
            if let Some(rel) = state.relation_mut(*id) {
                rel.remote_units.remove(unit);
                rel.departing_unit = None;
            }
        }
        if let Dispatch::Relation { kind: "broken", id, .. } = &dispatch {
            state.relations.retain(|r| r.id != *id);
        }
        state.broken_relation = None;
        let result = RunResult { code, stderr, tool_calls: state.tool_calls.clone(), commands: state.commands.clone() };
        let (mut tool_calls, mut commands) = history;
        tool_calls.append(&mut state.tool_calls);
        commands.append(&mut state.commands);
        state.tool_calls = tool_calls;
        state.commands = commands;
        self.state = state;
        Ok(result)
    }

    pub fn status(&self) -> (String, String) {
        let s = self.state.unit_status.clone().unwrap_or_default();
        (s.status, s.message)
    }

    /// Every juju-log message so far, one per line.
    pub fn log_text(&self) -> String {
        self.state.logs.iter().map(|l| format!("{} {}", l.level, l.message)).collect::<Vec<_>>().join("\n")
    }

    pub fn peer_app_data(&self) -> Databag {
        self.state
            .relations
            .iter()
            .find(|r| r.endpoint == "replicas")
            .map(|r| r.local_app_data.clone())
            .unwrap_or_default()
    }
}

/// How a run executes the charm.
#[derive(Debug, Clone, Copy)]
enum Execution {
    /// The compiled `dispatch`, with the fake hook tools on `PATH`.
    Binary,
    /// The library, with the fake's answers in-process.
    InProcess,
}

/// A leader with `peers` peers (at 10.1.78.N) and every relation answered,
/// settled by two config-changed hooks: Active "Unit is ready", what most
/// units look like most of the time.
pub fn ready_leader(peers: u32) -> Unit {
    let mut unit = Unit::new(0, "10.1.77.18");
    unit.state.leader = true;
    unit.relate_workload();
    for n in 1..=peers {
        unit.add_peer(n, &format!("10.1.78.{n}"));
    }
    for _ in 0..2 {
        let run = unit.hook("config-changed");
        assert_eq!(run.code, 0, "{}", run.stderr);
    }
    assert_eq!(unit.status(), ("active".into(), "Unit is ready".into()));
    unit
}

/// The servers of one backend in a rendered config: (name, address:port).
pub fn backend_servers(config: &str, backend: &str) -> Vec<(String, String)> {
    crate::fixtures::parse_sections(config)
        .into_iter()
        .find(|s| s.kind == "backend" && s.name == backend)
        .map(|s| {
            s.lines
                .iter()
                .filter_map(|l| l.strip_prefix("server "))
                .map(|l| {
                    let mut parts = l.split_whitespace();
                    (parts.next().unwrap().to_string(), parts.next().unwrap().to_string())
                })
                .collect()
        })
        .unwrap_or_default()
}
