//! A model simulator on top of the harness: N units of `landscape-server`
//! (each the real `dispatch` binary, with its own namespace, filesystem root
//! and HAProxy) plus stand-in remote applications, driven the way Juju
//! drives them.
//!
//! - Hook order for a new unit: `scenario::first_hooks`, the one copy
//!   (install, `-relation-created` per relation, leader-elected or
//!   leader-settings-changed, config-changed, start, then `-relation-joined`
//!   and `-changed` per remote unit).
//! - What a hook writes is seen by the others: a peer unit bag change gives
//!   every other unit `replicas-relation-changed`, a leader's application
//!   bag or application secret reaches every unit, and the stand-in
//!   providers answer what units publish.
//! - Stand-ins: a TLS provider that signs every unit's CSR with a local CA
//!   (the certificates list in its application bag, as tls-certificates v4),
//!   PostgreSQL and RabbitMQ that have already answered, and an ingress
//!   provider that publishes a URL for each request.

use std::collections::{BTreeMap, VecDeque};
use std::path::{Path, PathBuf};
use std::process::Child;
use std::time::{Duration, Instant};

use serde_json::{Map, Value};

use super::net::{Host, Network};
use super::shims;
use crate::fixtures::{TestCa, published_csrs};
use crate::harness::{
    APP, DB_RELATION, Databag, Dispatch, INBOUND_AMQP_RELATION, OUTBOUND_AMQP_RELATION, RunResult, Unit,
};
use crate::state::Secret;

pub const PEERS: u32 = 0;
pub const TLS_RELATION: u32 = 23;
const DEBARCHIVE_RELATION: u32 = 90;
pub const WEBSITE_RELATION: u32 = 60;
const LEGACY_LB_APP: &str = "haproxy";
const TLS_APP: &str = "self-signed-certificates";
const INGRESS_APP: &str = "ingress-configurator";
pub const INGRESS_RELATIONS: [(&str, u32); 4] = [
    ("http-ingress", 30),
    ("https-ingress", 31),
    ("hostagent-messenger-ingress", 32),
    ("ubuntu-installer-attach-ingress", 33),
];
/// The eight haproxy-route endpoints, related to one haproxy-operator.
pub const ROUTE_RELATIONS: [(&str, u32); 8] = crate::edge::haproxy_route::ROUTES;
const ROUTE_APP: &str = "haproxy";
/// The most hooks one change may cause before the model calls it a loop.
const MAX_HOOKS_PER_SETTLE: usize = 2000;

pub const CLIENT_OCTET: u8 = 100;

pub fn lab_fixture(name: &str) -> String {
    format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"))
}

/// The Python with grpcio (the test venv made by scripts/setup-test-env).
pub fn lab_python() -> String {
    format!("{}/.venv-test/bin/python", env!("CARGO_MANIFEST_DIR"))
}

pub struct LabUnit {
    pub number: u32,
    pub unit: Unit,
    pub host: Host,
    services: Child,
}

impl LabUnit {
    pub fn name(&self) -> String {
        unit_name(self.number)
    }

    /// The unit's own directory (parent of its filesystem root).
    pub fn dir(&self) -> PathBuf {
        self.unit.root().parent().expect("the root has a parent").to_path_buf()
    }

    pub fn run_dir(&self) -> PathBuf {
        shims::run_dir(&self.dir())
    }

    pub fn master_socket(&self) -> PathBuf {
        shims::master_socket(&self.dir())
    }
}

pub fn unit_name(number: u32) -> String {
    format!("{APP}/{number}")
}

/// One thing for the model to do next.
enum Step {
    Hook(u32, Dispatch),
    /// `remote` becomes visible to `at` on the peer relation: joined, then changed.
    PeerJoin {
        at: u32,
        remote: u32,
    },
}

/// What a unit has published that others may see.
#[derive(PartialEq, Clone, Default)]
struct Published {
    peer_unit: Databag,
    peer_app: Databag,
    app_secrets: Vec<Secret>,
    csrs: Option<String>,
    ingress_app: BTreeMap<u32, Databag>,
    route_app: BTreeMap<u32, Databag>,
}

fn published(unit: &Unit) -> Published {
    let bag = |id: u32, app: bool| {
        unit.state
            .relation(id)
            .map(|r| if app { r.local_app_data.clone() } else { r.local_unit_data.clone() })
            .unwrap_or_default()
    };
    Published {
        peer_unit: bag(PEERS, false),
        peer_app: bag(PEERS, true),
        app_secrets: unit.state.secrets.iter().filter(|s| s.owner == "application").cloned().collect(),
        csrs: bag(TLS_RELATION, false).get("certificate_signing_requests").cloned(),
        ingress_app: INGRESS_RELATIONS.iter().map(|(_, id)| (*id, bag(*id, true))).collect(),
        route_app: ROUTE_RELATIONS.iter().map(|(_, id)| (*id, bag(*id, true))).collect(),
    }
}

pub struct Model {
    pub units: Vec<LabUnit>,
    /// Units that were removed; their hosts keep serving until the lab ends,
    /// so traffic still sent to them would be seen.
    pub removed: Vec<LabUnit>,
    pub client: Host,
    pub ca: TestCa,
    config: Map<String, Value>,
    next_number: u32,
    /// The haproxy-route provider's address, once those relations exist
    /// (a unit added later gets them too).
    route_provider: Option<String>,
    /// Whether units are related to the ingress-configurators (the default).
    ingress: bool,
    /// The external HAProxy's address while one runs for the whole test
    /// (the day-2 loads then go through it too).
    pub edge_address: Option<String>,
    signed: BTreeMap<String, String>,
    queue: VecDeque<Step>,
    /// Every hook run, as `unit: hook`.
    pub hook_log: Vec<String>,
    // Last: dropped after the units, it tears the namespaces down.
    pub net: Network,
}

impl Model {
    /// An empty model with the client host; `deploy` adds units.
    pub fn new() -> Result<Self, String> {
        let mut net = Network::new()?;
        let client = net.add_host("client", CLIENT_OCTET)?;
        let ca = TestCa::new("Landscape lab CA");
        std::fs::write(net.dir().join("ca.pem"), format!("{}\n", ca.pem)).map_err(|e| e.to_string())?;
        Ok(Model {
            units: Vec::new(),
            removed: Vec::new(),
            client,
            ca,
            config: Map::new(),
            next_number: 0,
            route_provider: None,
            ingress: true,
            edge_address: None,
            signed: BTreeMap::new(),
            queue: VecDeque::new(),
            hook_log: Vec::new(),
            net,
        })
    }

    /// Units deployed from now on have no ingress relations.
    pub fn without_ingress(&mut self) {
        assert!(self.units.is_empty(), "without_ingress is for deploy time");
        self.ingress = false;
    }

    /// Sets an option before any unit exists (deployed with it).
    pub fn preset(&mut self, key: &str, value: Value) {
        assert!(self.units.is_empty(), "preset is for options given at deploy time");
        self.config.insert(key.into(), value);
    }

    /// The lab CA's certificate file, for clients that verify the units.
    pub fn ca_file(&self) -> PathBuf {
        self.net.dir().join("ca.pem")
    }

    /// `juju deploy -n <count>` with every relation in place.
    pub fn deploy(&mut self, count: u32) {
        for _ in 0..count {
            self.add_unit();
        }
    }

    pub fn unit(&self, number: u32) -> &LabUnit {
        self.units.iter().find(|u| u.number == number).unwrap_or_else(|| panic!("no unit {number}"))
    }

    fn unit_mut(&mut self, number: u32) -> &mut LabUnit {
        self.units.iter_mut().find(|u| u.number == number).unwrap_or_else(|| panic!("no unit {number}"))
    }

    pub fn leader(&self) -> &LabUnit {
        self.units.iter().find(|u| u.unit.state.leader).expect("a leader")
    }

    /// `juju add-unit`: a new host with its stand-in services, then the
    /// unit's hooks and its peers' joined/changed, until the model settles.
    pub fn add_unit(&mut self) -> u32 {
        let number = self.next_number;
        self.next_number += 1;
        let host = self.net.add_host(&format!("u{number}"), 10 + number as u8).unwrap_or_else(|e| panic!("{e}"));
        let mut unit = Unit::new_in(self.net.dir(), number, &host.address);
        let unit_dir = unit.root().parent().unwrap().to_path_buf();
        shims::install(&unit.bin_dir(), &unit_dir, &unit.root(), &host.namespace).expect("shims install");
        // The stand-in services run before HAProxy exists: a server whose
        // first health check fails stays down for rise x inter.
        let run_dir = shims::run_dir(&unit_dir);
        let services = super::net::ns_spawn(
            &host.namespace,
            &[
                &lab_python(),
                &lab_fixture("lab_services.py"),
                &unit_name(number),
                &host.address,
                &run_dir.display().to_string(),
            ],
            &run_dir.join("services.log"),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        wait_for_file(&run_dir.join("services.ready"), &run_dir.join("services.log"));

        for (key, value) in &self.config {
            unit.set_config(key, value.clone());
        }
        unit.state.leader = self.units.is_empty();
        self.relate(&mut unit);

        let existing: Vec<u32> = self.units.iter().map(|u| u.number).collect();
        let endpoints: Vec<(String, u32)> = unit.state.relations.iter().map(|r| (r.endpoint.clone(), r.id)).collect();
        let leader = unit.state.leader;
        self.units.push(LabUnit { number, unit, host, services });

        let relations: Vec<(String, u32, Option<String>)> = endpoints
            .iter()
            .map(|(endpoint, id)| {
                let remote = self.unit(number).unit.relation(*id).remote_units.keys().next().cloned();
                (endpoint.clone(), *id, remote.filter(|_| *id != PEERS))
            })
            .collect();
        let mut steps: Vec<Step> =
            crate::scenario::first_hooks(leader, &relations).into_iter().map(|hook| Step::Hook(number, hook)).collect();
        for other in existing {
            steps.push(Step::PeerJoin { at: number, remote: other });
            steps.push(Step::PeerJoin { at: other, remote: number });
        }
        self.queue.extend(steps);
        self.settle();
        number
    }

    /// The relations every unit of the application has, each seen as the
    /// model sees it now.
    fn relate(&self, unit: &mut Unit) {
        let any = self.units.first().map(|u| &u.unit);
        unit.peer_relation().local_app_data =
            any.and_then(|u| u.state.relation(PEERS)).map(|r| r.local_app_data.clone()).unwrap_or_default();
        if let Some(any) = any {
            unit.state.secrets.extend(any.state.secrets.iter().filter(|s| s.owner == "application").cloned());
        }
        unit.add_database(DB_RELATION);
        unit.add_amqp("inbound-amqp", INBOUND_AMQP_RELATION);
        unit.add_amqp("outbound-amqp", OUTBOUND_AMQP_RELATION);
        let tls = any.and_then(|u| u.state.relation(TLS_RELATION)).map(|r| r.remote_app_data.clone());
        unit.add_relation("load-balancer-certificates", TLS_RELATION, TLS_APP).remote_app_data =
            tls.unwrap_or_default();
        for (endpoint, id) in INGRESS_RELATIONS.iter().filter(|_| self.ingress) {
            let answer = any.and_then(|u| u.state.relation(*id)).map(|r| r.remote_app_data.clone());
            unit.add_relation(endpoint, *id, INGRESS_APP).remote_app_data = answer.unwrap_or_default();
        }
        if let Some(provider) = &self.route_provider {
            for (endpoint, id) in ROUTE_RELATIONS {
                let answer = any.and_then(|u| u.state.relation(id)).map(|r| r.remote_app_data.clone());
                let rel = unit.add_relation(endpoint, id, ROUTE_APP);
                rel.remote_app_data = answer.unwrap_or_default();
                rel.remote_units = [(format!("{ROUTE_APP}/0"), crate::harness::default_unit_bag(provider))].into();
            }
        }
    }

    /// `juju remove-unit`: the unit departs and breaks its relations and
    /// stops; its peers see it depart; a new leader is elected if needed.
    pub fn remove_unit(&mut self, number: u32) {
        let name = unit_name(number);
        let others: Vec<u32> = self.units.iter().map(|u| u.number).filter(|n| *n != number).collect();
        let relations: Vec<(String, u32)> =
            self.unit(number).unit.state.relations.iter().map(|r| (r.endpoint.clone(), r.id)).collect();
        for other in &others {
            self.run_hook(number, Dispatch::departed("replicas", PEERS, &unit_name(*other), &name));
        }
        for (endpoint, id) in &relations {
            self.run_hook(number, Dispatch::relation(endpoint, "broken", *id, None));
        }
        self.run_hook(number, Dispatch::Hook("stop".into()));
        let was_leader = self.unit(number).unit.state.leader;
        let index = self.units.iter().position(|u| u.number == number).unwrap();
        let gone = self.units.remove(index);
        self.removed.push(gone);
        for other in &others {
            self.queue.push_back(Step::Hook(*other, Dispatch::departed("replicas", PEERS, &name, &name)));
        }
        self.answer_tls();
        self.settle();
        if was_leader {
            if let Some(first) = others.first() {
                self.set_leader(*first);
            }
        }
    }

    /// Leadership moves to `number` (Juju's choice; the old leader learns it
    /// from its next hook).
    pub fn set_leader(&mut self, number: u32) {
        for u in &mut self.units {
            u.unit.state.leader = u.number == number;
        }
        self.queue.push_back(Step::Hook(number, Dispatch::Hook("leader-elected".into())));
        self.settle();
    }

    /// `juju config landscape-server key=value`.
    pub fn set_config(&mut self, key: &str, value: Value) {
        self.config.insert(key.into(), value.clone());
        for u in &mut self.units {
            u.unit.set_config(key, value.clone());
        }
        self.run_hook_everywhere(Dispatch::Hook("config-changed".into()));
        self.settle();
    }

    /// `juju integrate landscape-server:debarchive landscape-debarchive`: a
    /// debarchive host (a stand-in answering on 8100, as the debarchive
    /// snap's gateway does) appears on the relation of every unit, which
    /// runs relation-created, -joined and -changed for it.
    /// Where the debarchive stand-in notes each request without credentials.
    pub fn debarchive_unauthenticated_log(&self) -> std::path::PathBuf {
        self.net.dir().join("debarchive-unauthenticated.log")
    }

    pub fn relate_debarchive(&mut self, octet: u8) -> (Host, std::process::Child) {
        let host = self.net.add_host("deb", octet).unwrap_or_else(|e| panic!("{e}"));
        let echo = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/echo_server.py");
        let log = self.net.dir().join("debarchive.log");
        // Like the debarchive API, it answers 401 to a request without
        // credentials (HAProxy's health checks), and notes each one.
        let unauthenticated = self.debarchive_unauthenticated_log();
        let unauthenticated = unauthenticated.to_string_lossy();
        let args = ["python3", echo, "debarchive", &host.address, "8100", &unauthenticated];
        let server = super::net::ns_spawn(&host.namespace, &args, &log).unwrap_or_else(|e| panic!("{e}"));
        let remote = "landscape-debarchive/0".to_string();
        for u in &mut self.units {
            let rel = u.unit.add_relation("debarchive", DEBARCHIVE_RELATION, "landscape-debarchive");
            rel.remote_units.insert(
                remote.clone(),
                [
                    ("ingress-address".to_string(), host.address.clone()),
                    ("private-address".to_string(), host.address.clone()),
                ]
                .into(),
            );
        }
        for kind in ["created", "joined", "changed"] {
            let unit = (kind != "created").then_some(remote.as_str());
            self.run_hook_everywhere(Dispatch::relation("debarchive", kind, DEBARCHIVE_RELATION, unit));
        }
        self.settle();
        (host, server)
    }

    /// `juju integrate` of the eight haproxy-route endpoints with one
    /// haproxy-operator unit at `provider_address` (its address in its unit
    /// bag, as Juju puts it there): created, joined and changed on every unit.
    pub fn relate_haproxy_route(&mut self, provider_address: &str) {
        self.route_provider = Some(provider_address.to_string());
        let remote = format!("{ROUTE_APP}/0");
        for u in &mut self.units {
            for (endpoint, id) in ROUTE_RELATIONS {
                let rel = u.unit.add_relation(endpoint, id, ROUTE_APP);
                rel.remote_units.insert(remote.clone(), crate::harness::default_unit_bag(provider_address));
            }
        }
        for (endpoint, id) in ROUTE_RELATIONS {
            for kind in ["created", "joined", "changed"] {
                let unit = (kind != "created").then_some(remote.as_str());
                self.run_hook_everywhere(Dispatch::relation(endpoint, kind, id, unit));
            }
        }
        self.settle();
    }

    /// The application bag the leader published on a haproxy-route relation.
    pub fn route_request(&self, id: u32) -> Databag {
        self.leader().unit.state.relation(id).map(|r| r.local_app_data.clone()).unwrap_or_default()
    }

    /// `juju remove-relation`: departed, then broken, on every unit.
    pub fn remove_debarchive(&mut self) {
        let remote = "landscape-debarchive/0";
        for u in &mut self.units {
            if let Some(rel) = u.unit.state.relation_mut(DEBARCHIVE_RELATION) {
                rel.remote_units.remove(remote);
            }
        }
        self.run_hook_everywhere(Dispatch::departed("debarchive", DEBARCHIVE_RELATION, remote, remote));
        self.run_hook_everywhere(Dispatch::relation("debarchive", "broken", DEBARCHIVE_RELATION, None));
        for u in &mut self.units {
            u.unit.state.relations.retain(|r| r.id != DEBARCHIVE_RELATION);
        }
        self.settle();
    }

    /// Unit `number` (this charm now) on `website` with the legacy HAProxy
    /// charm's unit at `lb_address`: created, joined and changed there, as
    /// the first hooks after a refresh from the Python charm run them.
    pub fn relate_website(&mut self, number: u32, lb_address: &str) {
        let remote = format!("{LEGACY_LB_APP}/0");
        let rel = self.unit_mut(number).unit.add_relation("website", WEBSITE_RELATION, LEGACY_LB_APP);
        rel.remote_units.insert(remote.clone(), crate::harness::default_unit_bag(lb_address));
        self.queue.push_back(Step::Hook(number, Dispatch::Hook("upgrade-charm".into())));
        self.queue.push_back(Step::Hook(number, Dispatch::Hook("config-changed".into())));
        for kind in ["joined", "changed"] {
            self.queue
                .push_back(Step::Hook(number, Dispatch::relation("website", kind, WEBSITE_RELATION, Some(&remote))));
        }
        self.settle();
    }

    /// What unit `number` publishes on `website`.
    pub fn website_services(&self, number: u32) -> Option<String> {
        self.unit(number).unit.state.relation(WEBSITE_RELATION)?.local_unit_data.get("services").cloned()
    }

    /// `juju remove-relation landscape-server:website haproxy`.
    pub fn remove_website(&mut self) {
        let remote = format!("{LEGACY_LB_APP}/0");
        for u in &mut self.units {
            if let Some(rel) = u.unit.state.relation_mut(WEBSITE_RELATION) {
                rel.remote_units.remove(&remote);
            }
        }
        self.run_hook_everywhere(Dispatch::departed("website", WEBSITE_RELATION, &remote, &remote));
        self.run_hook_everywhere(Dispatch::relation("website", "broken", WEBSITE_RELATION, None));
        for u in &mut self.units {
            u.unit.state.relations.retain(|r| r.id != WEBSITE_RELATION);
        }
        self.settle();
    }

    /// `juju run <unit> <action>`, then whatever the hooks it causes cause.
    pub fn action(&mut self, number: u32, name: &str) {
        self.action_with(number, name, Map::new());
    }

    /// [`Model::action`] with parameters.
    pub fn action_with(&mut self, number: u32, name: &str, params: Map<String, Value>) {
        self.queue.push_back(Step::Hook(number, Dispatch::Action { name: name.into(), params }));
        self.settle();
    }

    /// `juju refresh`: upgrade-charm then config-changed on every unit.
    pub fn upgrade_charm(&mut self) {
        let numbers: Vec<u32> = self.units.iter().map(|u| u.number).collect();
        for n in numbers {
            self.queue.push_back(Step::Hook(n, Dispatch::Hook("upgrade-charm".into())));
            self.queue.push_back(Step::Hook(n, Dispatch::Hook("config-changed".into())));
        }
        self.settle();
    }

    /// Runs queued steps until nothing changes any more.
    pub fn settle(&mut self) {
        let mut ran = 0;
        while let Some(step) = self.queue.pop_front() {
            ran += 1;
            assert!(ran < MAX_HOOKS_PER_SETTLE, "the model does not settle:\n{}", self.recent_hooks());
            match step {
                Step::Hook(n, dispatch) => {
                    if self.units.iter().any(|u| u.number == n) {
                        self.run_hook(n, dispatch);
                    }
                }
                Step::PeerJoin { at, remote } => {
                    let live = |n: u32| self.units.iter().any(|u| u.number == n);
                    if !live(at) || !live(remote) {
                        continue;
                    }
                    let bag = self.unit(remote).unit.state.relation(PEERS).unwrap().local_unit_data.clone();
                    self.unit_mut(at).unit.peer_relation().remote_units.insert(unit_name(remote), bag);
                    self.run_hook(
                        at,
                        Dispatch::relation("replicas", "joined", PEERS, Some(unit_name(remote).as_str())),
                    );
                    self.run_hook(
                        at,
                        Dispatch::relation("replicas", "changed", PEERS, Some(unit_name(remote).as_str())),
                    );
                }
            }
        }
        self.wait_for_reloads(Duration::from_secs(20));
    }

    /// Waits until every reload the charm asked for (`systemctl reload
    /// haproxy` in the shim's log) is done: the master counted it (or, as
    /// two signals sent back to back merge into one reload, its worker
    /// started after the config was last written) and its new worker is the
    /// current one, so that every new connection, and the master CLI's
    /// `@1`, sees the new config (what systemd's notify reload waits for).
    /// An old worker may still finish the connections it had: a gRPC
    /// channel keeps its HTTP/2 connection open a while after HAProxy's
    /// GOAWAY, up to `hard-stop-after`; waiting for those is not the reload.
    pub fn wait_for_reloads(&self, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        for u in &self.units {
            let calls = std::fs::read_to_string(u.run_dir().join("calls.log")).unwrap_or_default();
            let asked = calls.lines().filter(|l| *l == "systemctl reload haproxy").count() as u32;
            if !u.master_socket().exists() {
                continue;
            }
            let written = std::fs::metadata(u.unit.path("/etc/haproxy/haproxy.cfg")).and_then(|m| m.modified()).ok();
            loop {
                let state = super::probe::proc_state(&u.master_socket());
                // Uptime is in whole seconds: a second's margin.
                let newer = |s: &super::probe::ProcState| match (s.worker_uptime_secs, written) {
                    (Some(up), Some(written)) => std::time::SystemTime::now()
                        .checked_sub(Duration::from_secs(up + 1))
                        .is_some_and(|started| started > written),
                    _ => false,
                };
                match &state {
                    Ok(s) if (s.reloads >= asked || newer(s)) && s.workers == 1 => break,
                    _ => {}
                }
                assert!(Instant::now() < deadline, "{}: {asked} reload(s) asked, HAProxy shows {state:?}", u.name());
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    }

    fn recent_hooks(&self) -> String {
        let start = self.hook_log.len().saturating_sub(30);
        self.hook_log[start..].join("\n")
    }

    /// Runs one hook on one unit (it must succeed) and spreads what it wrote.
    fn run_hook(&mut self, number: u32, dispatch: Dispatch) {
        let label = describe(&dispatch);
        let lab_unit = self.unit_mut(number);
        let before = published(&lab_unit.unit);
        let result = lab_unit.unit.run(dispatch);
        self.spread(number, &label, before, result);
    }

    /// Runs one hook on every unit at once, as Juju's unit agents do, then
    /// spreads what each wrote.
    fn run_hook_everywhere(&mut self, dispatch: Dispatch) {
        let label = describe(&dispatch);
        let results: Vec<(u32, Published, RunResult)> = std::thread::scope(|scope| {
            let handles: Vec<_> = self
                .units
                .iter_mut()
                .map(|u| {
                    let dispatch = dispatch.clone();
                    scope.spawn(move || {
                        let before = published(&u.unit);
                        (u.number, before, u.unit.run(dispatch))
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().expect("a hook thread")).collect()
        });
        for (number, before, result) in results {
            self.spread(number, &label, before, result);
        }
    }

    /// Checks that a hook succeeded and makes what it wrote seen.
    fn spread(&mut self, number: u32, label: &str, before: Published, result: RunResult) {
        let lab_unit = self.unit(number);
        let after = published(&lab_unit.unit);
        let is_leader = lab_unit.unit.state.leader;
        self.hook_log.push(format!("{}: {label}", unit_name(number)));
        assert_eq!(
            result.code,
            0,
            "{} {label} failed:\n{}\nlog:\n{}",
            unit_name(number),
            result.stderr,
            self.unit(number).unit.log_text()
        );
        if after.peer_unit != before.peer_unit {
            for other in self.units.iter_mut().filter(|u| u.number != number) {
                let rel = other.unit.peer_relation();
                if let Some(bag) = rel.remote_units.get_mut(&unit_name(number)) {
                    *bag = after.peer_unit.clone();
                    self.queue.push_back(Step::Hook(
                        other.number,
                        Dispatch::relation("replicas", "changed", PEERS, Some(unit_name(number).as_str())),
                    ));
                }
            }
        }
        if is_leader && after.peer_app != before.peer_app {
            for other in self.units.iter_mut().filter(|u| u.number != number) {
                other.unit.peer_relation().local_app_data = after.peer_app.clone();
                self.queue.push_back(Step::Hook(other.number, Dispatch::relation("replicas", "changed", PEERS, None)));
            }
        }
        if is_leader && after.app_secrets != before.app_secrets {
            for other in self.units.iter_mut().filter(|u| u.number != number) {
                other.unit.state.secrets.retain(|s| s.owner != "application");
                other.unit.state.secrets.extend(after.app_secrets.iter().cloned());
            }
        }
        if after.csrs != before.csrs {
            self.answer_tls();
        }
        if is_leader && after.route_app != before.route_app {
            self.answer_routes(&after.route_app);
        }
        if is_leader && after.ingress_app != before.ingress_app {
            self.answer_ingress(&after.ingress_app);
        }
    }

    /// The TLS provider signs every outstanding CSR and publishes the list.
    fn answer_tls(&mut self) {
        let mut entries = Vec::new();
        for u in &self.units {
            if u.unit.state.relation(TLS_RELATION).is_none() {
                continue;
            }
            let has_csrs = u.unit.relation(TLS_RELATION).local_unit_data.contains_key("certificate_signing_requests");
            if !has_csrs {
                continue;
            }
            for csr in published_csrs(&u.unit, TLS_RELATION) {
                let cert = self.signed.entry(csr.clone()).or_insert_with(|| self.ca.sign(&csr, 1, 90)).clone();
                entries.push((csr, cert));
            }
        }
        let refs: Vec<(&str, &str)> = entries.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
        let bag = self.ca.provider_databag(&refs);
        self.publish_remote_app_data("load-balancer-certificates", TLS_RELATION, TLS_APP, &bag);
    }

    /// A remote application writes its application bag on relation `id`:
    /// every unit whose view changes gets `-relation-changed`.
    fn publish_remote_app_data(&mut self, endpoint: &str, id: u32, remote_app: &str, bag: &Databag) {
        for u in &mut self.units {
            let Some(rel) = u.unit.state.relation_mut(id) else { continue };
            if rel.remote_app_data != *bag {
                rel.remote_app_data = bag.clone();
                let remote = Some(format!("{remote_app}/0"));
                self.queue
                    .push_back(Step::Hook(u.number, Dispatch::relation(endpoint, "changed", id, remote.as_deref())));
            }
        }
    }

    /// The haproxy-route provider answers each route with its URLs, as
    /// haproxy-operator writes `endpoints`: `https://<hostname><path>` per
    /// path, `[""]` for a route without paths, `[]` for one it cannot use.
    fn answer_routes(&mut self, routes: &BTreeMap<u32, Databag>) {
        for (endpoint, id) in ROUTE_RELATIONS {
            let route = routes.get(&id).cloned().unwrap_or_default();
            let text = |key: &str| route.get(key).and_then(|v| serde_json::from_str::<Value>(v).ok());
            let mut answer = Databag::new();
            if let Some(hostname) = text("hostname").and_then(|h| h.as_str().map(str::to_string)) {
                let paths: Vec<String> =
                    text("paths").and_then(|p| serde_json::from_value(p).ok()).unwrap_or_else(|| vec![String::new()]);
                let urls: Vec<String> = paths.iter().map(|p| format!("https://{hostname}{p}")).collect();
                answer.insert("endpoints".into(), serde_json::to_string(&urls).unwrap());
            } else if !route.is_empty() {
                answer.insert("endpoints".into(), "[]".into());
            }
            self.publish_remote_app_data(endpoint, id, ROUTE_APP, &answer);
        }
    }

    /// The ingress provider answers each request with a URL (and withdraws
    /// it when the request is withdrawn).
    fn answer_ingress(&mut self, requests: &BTreeMap<u32, Databag>) {
        for (endpoint, id) in INGRESS_RELATIONS {
            let request = requests.get(&id).cloned().unwrap_or_default();
            let mut answer = Databag::new();
            if let Some(name) = request.get("name") {
                let name: String = serde_json::from_str(name).unwrap_or_default();
                answer.insert("ingress".into(), format!(r#"{{"url": "https://ingress.lab.test/{name}-{endpoint}"}}"#));
            }
            self.publish_remote_app_data(endpoint, id, INGRESS_APP, &answer);
        }
    }

    /// Makes a stand-in service worker on `number` crash (its port closes).
    pub fn crash(&self, number: u32, service: &str, worker: u32) {
        use std::io::Write;
        let u = self.units.iter().chain(&self.removed).find(|u| u.number == number).expect("a unit");
        let mut f = std::fs::OpenOptions::new().create(true).append(true).open(u.run_dir().join("crashed")).unwrap();
        writeln!(f, "{service} {worker}").unwrap();
    }

    /// Unplugs (or plugs back) unit `number`'s cable: its link down, so
    /// that nothing reaches it or leaves it, not even a reset, while its
    /// processes run on (a lost host, a network partition).
    pub fn cable(&self, number: u32, plugged: bool) {
        let state = if plugged { "up" } else { "down" };
        let u = self.unit(number);
        self.net.ns_run(&u.host.namespace, &["ip", "link", "set", "eth0", state]).unwrap_or_else(|e| panic!("{e}"));
    }

    /// Restarts every service [`Model::crash`] killed on unit `number`.
    pub fn revive(&self, number: u32) {
        let u = self.unit(number);
        let _ = std::fs::remove_file(u.run_dir().join("crashed"));
    }

    /// Restarts the stand-in services of a removed unit's host, as if its
    /// machine had stayed up: any traffic still sent there would be answered
    /// (and seen).
    pub fn revive_removed(&self) {
        for u in &self.removed {
            let defaults = u.unit.path("/etc/default/landscape-server");
            std::fs::copy(defaults, u.run_dir().join("landscape.env")).unwrap();
            std::fs::write(u.run_dir().join("package-upload.on"), "").unwrap();
        }
    }

    /// Waits until every live unit's HAProxy runs and reports every server
    /// of every backend UP.
    pub fn wait_until_serving(&self, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        loop {
            let mut not_ready = Vec::new();
            for u in &self.units {
                match super::probe::server_states(&u.master_socket()) {
                    Ok(rows) if rows.is_empty() => not_ready.push(format!("{}: no servers", u.name())),
                    Ok(rows) => not_ready.extend(
                        rows.iter()
                            .filter(|r| r.status != "UP")
                            .map(|r| format!("{}: {}/{} {}", u.name(), r.backend, r.server, r.status)),
                    ),
                    Err(e) => not_ready.push(format!("{}: {e}", u.name())),
                }
            }
            if not_ready.is_empty() {
                return;
            }
            assert!(Instant::now() < deadline, "HAProxy servers not UP after {timeout:?}:\n{}", not_ready.join("\n"));
            std::thread::sleep(Duration::from_millis(250));
        }
    }
}

impl Drop for Model {
    fn drop(&mut self) {
        // Kill what runs in the namespaces first, then reap our own children
        // so that none is left as a zombie.
        self.net.teardown();
        for u in self.units.iter_mut().chain(self.removed.iter_mut()) {
            let _ = u.services.kill();
            let _ = u.services.wait();
        }
    }
}

fn describe(dispatch: &Dispatch) -> String {
    match dispatch {
        Dispatch::Hook(name) => name.clone(),
        Dispatch::Relation { endpoint, kind, remote_unit, .. } => {
            format!("{endpoint}-relation-{kind} ({})", remote_unit.as_deref().unwrap_or("app"))
        }
        Dispatch::Action { name, .. } => format!("action {name}"),
        Dispatch::Raw(path) => path.clone(),
    }
}

fn wait_for_file(path: &Path, log: &Path) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !path.exists() {
        assert!(
            Instant::now() < deadline,
            "{} did not appear; log:\n{}",
            path.display(),
            std::fs::read_to_string(log).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}
