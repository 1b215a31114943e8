//! The state file shared by the test harness and `fake-juju-tool`: a unit's
//! view of its model, like ops.testing's `State`. The harness writes it, the
//! fake hook tools read and change it while the real `dispatch` runs, and the
//! harness reads it back.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

pub type Databag = BTreeMap<String, String>;

/// The hook tools the fake implements (and the harness links onto PATH).
pub const HOOK_TOOLS: &[&str] = &[
    "relation-ids",
    "relation-list",
    "relation-get",
    "relation-set",
    "config-get",
    "is-leader",
    "network-get",
    "status-set",
    "application-version-set",
    "juju-log",
    "action-get",
    "action-set",
    "action-fail",
    "action-log",
    "open-port",
    "close-port",
    "opened-ports",
    "secret-add",
    "secret-get",
    "secret-set",
    "secret-grant",
    "secret-ids",
    "secret-info-get",
    "state-get",
    "state-set",
    "state-delete",
];

/// Juju's default unit databag keys (Scenario's `_DEFAULT_JUJU_DATABAG`).
pub fn default_unit_bag(address: &str) -> Databag {
    ["egress-subnets", "ingress-address", "private-address"]
        .iter()
        .map(|k| (k.to_string(), if *k == "egress-subnets" { format!("{address}/32") } else { address.to_string() }))
        .collect()
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Relation {
    pub id: u32,
    pub endpoint: String,
    /// The remote application; for a peer relation, this unit's own.
    pub remote_app: String,
    #[serde(default)]
    pub local_unit_data: Databag,
    #[serde(default)]
    pub local_app_data: Databag,
    #[serde(default)]
    pub remote_app_data: Databag,
    /// Remote units (for peers: the other units) and their databags.
    #[serde(default)]
    pub remote_units: BTreeMap<String, Databag>,
    /// A unit leaving in this hook: not listed, but its data still reads.
    #[serde(default)]
    pub departing_unit: Option<String>,
}

impl Relation {
    pub fn name(&self) -> String {
        format!("{}:{}", self.endpoint, self.id)
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Secret {
    pub id: String,
    /// `application` or `unit`.
    pub owner: String,
    #[serde(default)]
    pub label: Option<String>,
    /// Content of each revision, oldest first.
    pub revisions: Vec<Databag>,
    /// The revision this unit tracks as a consumer (1-based); None = latest.
    #[serde(default)]
    pub tracked: Option<usize>,
    /// The relations it is granted to (`secret-grant --relation`).
    #[serde(default)]
    pub granted: Vec<u32>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct StatusRecord {
    pub status: String,
    pub message: String,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct LogRecord {
    pub level: String,
    pub message: String,
}

/// One call of a hook tool or a system command, as the fake saw it.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Call {
    pub program: String,
    pub args: Vec<String>,
    #[serde(default)]
    pub stdin: Option<String>,
    /// Extra environment relevant to system commands (proxies, apt).
    #[serde(default)]
    pub env: BTreeMap<String, String>,
}

impl Call {
    pub fn line(&self) -> String {
        std::iter::once(self.program.clone()).chain(self.args.iter().cloned()).collect::<Vec<_>>().join(" ")
    }
}

/// What a faked program prints and returns.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Behaviour {
    #[serde(default)]
    pub code: i32,
    #[serde(default)]
    pub stdout: String,
    #[serde(default)]
    pub stderr: String,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct ActionState {
    pub name: String,
    #[serde(default)]
    pub params: Map<String, Value>,
    #[serde(default)]
    pub results: BTreeMap<String, String>,
    #[serde(default)]
    pub failed: Option<String>,
    #[serde(default)]
    pub logs: Vec<String>,
}

/// Writes Juju holds back until the hook exits 0 (relation, port, secret and state writes).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub enum PendingOp {
    RelationSet { relation: u32, app: bool, data: Databag },
    OpenPort(String),
    ClosePort(String),
    StateSet(Databag),
    StateDelete(String),
    SecretAdd(Secret),
    SecretSet { id: String, content: Databag },
    SecretGrant { id: String, relation: u32 },
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct FakeState {
    pub unit: String,
    pub leader: bool,
    pub model_uuid: String,
    /// Every option, defaults included (the harness fills them from config.yaml).
    pub config: Map<String, Value>,
    pub relations: Vec<Relation>,
    /// binding → bind address.
    pub networks: BTreeMap<String, String>,
    pub secrets: Vec<Secret>,
    pub unit_state: Databag,
    /// `80/tcp` and the like.
    pub opened_ports: Vec<String>,
    pub unit_status: Option<StatusRecord>,
    pub app_status: Option<StatusRecord>,
    pub app_version: Option<String>,
    pub logs: Vec<LogRecord>,
    /// Every hook tool call, in order.
    pub tool_calls: Vec<Call>,
    /// Every system command call, in order.
    pub commands: Vec<Call>,
    /// Faked system commands: the longest key that prefixes the command line
    /// (`program arg …`) decides; no match means exit 0 with no output.
    pub command_behaviours: BTreeMap<String, Behaviour>,
    /// Packages `dpkg-query` does not know (every other one is installed),
    /// unless a `command_behaviours` entry answers for dpkg-query instead.
    #[serde(default)]
    pub missing_packages: BTreeSet<String>,
    /// Packages `apt-mark hold` held: dpkg reports them `hold ok installed`.
    #[serde(default)]
    pub held_packages: BTreeSet<String>,
    /// Hook tools forced to misbehave (tool name → what it does instead).
    pub tool_failures: BTreeMap<String, Behaviour>,
    pub action: Option<ActionState>,
    pub pending: Vec<PendingOp>,
    /// The relation being broken in this hook (still listed by relation-ids).
    pub broken_relation: Option<u32>,
    /// Whether peer data is readable (false during install, as in Juju).
    pub peer_data_readable: bool,
    /// The crash test's kill point: when this run's calls (hook tools and
    /// commands together) reach it, the fake SIGKILLs the process that ran
    /// it (`dispatch`) instead of answering.
    #[serde(default)]
    pub kill_at_call: Option<usize>,
    /// The same at the first call whose command line starts with this.
    #[serde(default)]
    pub kill_at_command: Option<String>,
    /// The unit's file-system root (the charm's `CHARM_FS_ROOT`), where the
    /// services the fake stands in for read their files: `postmap` writes
    /// its map there, and a reload copies what the service reads under
    /// `run/fake-services/`, so a test can compare what runs with the disk.
    #[serde(default)]
    pub fs_root: Option<String>,
}

impl FakeState {
    pub fn app(&self) -> &str {
        self.unit.split('/').next().unwrap_or_default()
    }

    pub fn relation(&self, id: u32) -> Option<&Relation> {
        self.relations.iter().find(|r| r.id == id)
    }

    pub fn relation_mut(&mut self, id: u32) -> Option<&mut Relation> {
        self.relations.iter_mut().find(|r| r.id == id)
    }

    /// Applies what the hook queued (the hook exited 0).
    pub fn commit(&mut self) {
        for op in std::mem::take(&mut self.pending) {
            match op {
                PendingOp::RelationSet { relation, app, data } => {
                    if let Some(rel) = self.relation_mut(relation) {
                        let bag = if app { &mut rel.local_app_data } else { &mut rel.local_unit_data };
                        merge(bag, &data);
                    }
                }
                PendingOp::OpenPort(p) => {
                    if !self.opened_ports.contains(&p) {
                        self.opened_ports.push(p);
                    }
                }
                PendingOp::ClosePort(p) => self.opened_ports.retain(|x| *x != p),
                PendingOp::StateSet(data) => self.unit_state.extend(data),
                PendingOp::StateDelete(key) => {
                    self.unit_state.remove(&key);
                }
                PendingOp::SecretAdd(secret) => self.secrets.push(secret),
                PendingOp::SecretSet { id, content } => {
                    if let Some(s) = self.secrets.iter_mut().find(|s| s.id == id) {
                        s.revisions.push(content);
                    }
                }
                PendingOp::SecretGrant { id, relation } => {
                    if let Some(s) = self.secrets.iter_mut().find(|s| s.id == id) {
                        if !s.granted.contains(&relation) {
                            s.granted.push(relation);
                        }
                    }
                }
            }
        }
    }
}

/// relation-set semantics: an empty value deletes the key.
pub fn merge(bag: &mut Databag, data: &Databag) {
    for (k, v) in data {
        if v.is_empty() {
            bag.remove(k);
        } else {
            bag.insert(k.clone(), v.clone());
        }
    }
}
