//! Looking at the lab from outside: requests from the client namespace
//! (curl, the grpcio client, the load client), HAProxy's own view through its master
//! CLI, and the table of every route checked.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::Value;

use super::model::{Model, lab_python};
use super::net::{ns_output, ns_spawn};

/// A server of a backend as the running HAProxy worker sees it.
#[derive(Debug, Clone)]
pub struct ServerRow {
    pub backend: String,
    pub server: String,
    pub status: String,
    /// The last health check's result (`L7OK`, `L4CON`, ...), empty without checks.
    pub check_status: String,
}

/// One command on the HAProxy master CLI (`-S` socket); `@1 <cmd>` goes to
/// the current worker.
pub fn master_command(socket: &Path, command: &str) -> Result<String, String> {
    let mut stream =
        std::os::unix::net::UnixStream::connect(socket).map_err(|e| format!("{}: {e}", socket.display()))?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).map_err(|e| e.to_string())?;
    stream.write_all(format!("{command}\n").as_bytes()).map_err(|e| e.to_string())?;
    // The master answers once our side is closed.
    stream.shutdown(std::net::Shutdown::Write).map_err(|e| e.to_string())?;
    let mut out = String::new();
    stream.read_to_string(&mut out).map_err(|e| format!("{command}: {e}"))?;
    Ok(out)
}

/// `show stat` of the current worker: every server's status (UP, DOWN, ...).
pub fn server_states(socket: &Path) -> Result<Vec<ServerRow>, String> {
    let csv = master_command(socket, "@1 show stat")?;
    let mut lines = csv.lines();
    let header = lines.next().ok_or("empty show stat")?;
    let columns: Vec<&str> = header.trim_start_matches("# ").split(',').collect();
    let col = |name: &str| columns.iter().position(|c| *c == name).ok_or(format!("no {name} column in: {header}"));
    let (px, sv, st, ck) = (col("pxname")?, col("svname")?, col("status")?, col("check_status")?);
    Ok(lines
        .map(|l| l.split(',').collect::<Vec<_>>())
        .filter(|f| f.len() > st.max(ck) && f[sv] != "FRONTEND" && f[sv] != "BACKEND")
        .map(|f| ServerRow {
            backend: f[px].to_string(),
            server: f[sv].to_string(),
            status: f[st].to_string(),
            check_status: f[ck].trim_start_matches('*').to_string(),
        })
        .collect())
}

/// The master's view of its processes (`show proc`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ProcState {
    pub reloads: u32,
    pub failed_reloads: u32,
    pub workers: usize,
    pub old_workers: usize,
    /// The newest current worker's uptime, in whole seconds.
    pub worker_uptime_secs: Option<u64>,
}

/// `0d00h01m05s` -> 65.
fn uptime_secs(text: &str) -> Option<u64> {
    let (days, rest) = text.split_once('d')?;
    let (hours, rest) = rest.split_once('h')?;
    let (minutes, rest) = rest.split_once('m')?;
    let seconds = rest.strip_suffix('s')?;
    let [d, h, m, s] = [days, hours, minutes, seconds].map(|n| n.parse::<u64>().ok());
    Some(((d? * 24 + h?) * 60 + m?) * 60 + s?)
}

pub fn proc_state(socket: &Path) -> Result<ProcState, String> {
    let text = master_command(socket, "show proc")?;
    let mut state = ProcState::default();
    let mut section = "";
    for line in text.lines() {
        match line.trim() {
            "# workers" => section = "workers",
            "# old workers" => section = "old",
            l if l.starts_with('#') => section = "",
            l => {
                let fields: Vec<&str> = l.split_whitespace().collect();
                match (fields.get(1), section) {
                    (Some(&"master"), _) => {
                        state.reloads = fields.get(2).and_then(|n| n.parse().ok()).unwrap_or(0);
                        state.failed_reloads =
                            fields.get(4).and_then(|n| n.trim_end_matches(']').parse().ok()).unwrap_or(0);
                    }
                    (Some(&"worker"), "workers") => {
                        state.workers += 1;
                        let uptime = fields.get(3).and_then(|u| uptime_secs(u));
                        state.worker_uptime_secs = state.worker_uptime_secs.min(uptime).or(uptime);
                    }
                    (Some(&"worker"), "old") => state.old_workers += 1,
                    _ => {}
                }
            }
        }
    }
    Ok(state)
}

/// The status of one server of one backend (`UP`, `DOWN`, ...), if listed.
pub fn server_status(socket: &Path, backend: &str, server: &str) -> Result<Option<String>, String> {
    Ok(server_states(socket)?.into_iter().find(|s| s.backend == backend && s.server == server).map(|s| s.status))
}

/// What one HTTP exchange gave the client.
#[derive(Debug, Clone)]
pub struct Reply {
    /// 0 when curl itself failed (connection refused, TLS verification...).
    pub status: u16,
    pub http_version: String,
    pub location: String,
    pub body: String,
    /// The stand-in service's JSON answer, if the body is one.
    answer: Option<Value>,
}

impl Reply {
    fn new(status: u16, http_version: String, location: String, body: String) -> Self {
        let answer = serde_json::from_str::<Value>(&body).ok().filter(|v| v.get("service").is_some());
        Reply { status, http_version, location, body, answer }
    }

    /// The stand-in service's answer, if it was one.
    pub fn answer(&self) -> Option<&Value> {
        self.answer.as_ref()
    }

    pub fn service(&self) -> Option<String> {
        self.answer().and_then(|a| a["service"].as_str().map(str::to_string))
    }

    pub fn unit(&self) -> Option<String> {
        self.answer().and_then(|a| a["unit"].as_str().map(str::to_string))
    }

    /// A request header as the stand-in received it (names are lower case).
    pub fn received_header(&self, name: &str) -> Option<String> {
        self.answer().and_then(|a| a["headers"][name].as_str().map(str::to_string))
    }

    pub fn request_line(&self) -> Option<String> {
        self.answer().and_then(|a| a["request_line"].as_str().map(str::to_string))
    }

    /// What happened, for the route table.
    pub fn summary(&self) -> String {
        match (self.status, self.answer()) {
            (200, Some(a)) => format!(
                "{} on {} w{} (HTTP/{})",
                a["service"].as_str().unwrap_or("?"),
                a["unit"].as_str().unwrap_or("?"),
                a["worker"],
                self.http_version
            ),
            (301..=308, _) => format!("{} -> {}", self.status, self.location),
            (0, _) => format!("failed: {}", self.body.lines().next().unwrap_or_default()),
            (code, _) => code.to_string(),
        }
    }
}

/// The client host: every request of the tests starts there.
pub struct Client {
    namespace: String,
    ca: PathBuf,
}

impl Client {
    pub fn of(model: &Model) -> Self {
        Client { namespace: model.client.namespace.clone(), ca: model.ca_file() }
    }

    /// `curl` from the client namespace, verifying TLS against the lab CA.
    pub fn curl(&self, url: &str, extra: &[&str]) -> Reply {
        let ca = self.ca.display().to_string();
        let mut argv = vec![
            "curl",
            "-sS",
            "--max-time",
            "10",
            "--cacert",
            &ca,
            "-o",
            "-",
            "-w",
            "\n%{http_code} %{http_version} %{redirect_url}",
        ];
        argv.extend_from_slice(extra);
        argv.push(url);
        let out = ns_output(&self.namespace, &argv);
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        let (body, last) = stdout.rsplit_once('\n').unwrap_or(("", &stdout));
        let mut fields = last.split(' ');
        let status = fields.next().and_then(|s| s.parse().ok()).unwrap_or(0);
        let http_version = fields.next().unwrap_or_default().to_string();
        let location = fields.next().unwrap_or_default().to_string();
        if !out.status.success() {
            let error = String::from_utf8_lossy(&out.stderr).trim().to_string();
            return Reply::new(0, http_version, location, error);
        }
        Reply::new(status, http_version, location, body.to_string())
    }

    /// `count` unary gRPC calls of `method` through `address:port`, with TLS
    /// verified for `name` (also the `:authority`). Each answer, or the error.
    pub fn grpc(&self, target: &str, name: &str, method: &str, count: u32) -> Result<Vec<Value>, String> {
        let script = format!("{}/tests/fixtures/lab_grpc_client.py", env!("CARGO_MANIFEST_DIR"));
        let ca = self.ca.display().to_string();
        let count = count.to_string();
        let out = ns_output(&self.namespace, &[&lab_python(), &script, target, name, &ca, method, &count]);
        if !out.status.success() {
            return Err(String::from_utf8_lossy(&out.stderr).lines().last().unwrap_or_default().to_string());
        }
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(|l| serde_json::from_str(l).map_err(|e| format!("{e}: {l}")))
            .collect()
    }

    pub fn spawn(&self, argv: &[&str], log: &Path) -> std::process::Child {
        ns_spawn(&self.namespace, argv, log).unwrap_or_else(|e| panic!("{e}"))
    }
}

/// What a route must give.
#[derive(Debug, Clone)]
pub enum Expect {
    /// Answered by this stand-in service, on `unit` if given.
    Service(&'static str, Option<String>),
    Redirect(String),
    Status(u16),
}

impl Expect {
    fn describe(&self) -> String {
        match self {
            Expect::Service(s, None) => format!("{s} on any unit"),
            Expect::Service(s, Some(u)) => format!("{s} on {u}"),
            Expect::Redirect(to) => format!("302 -> {to}"),
            Expect::Status(code) => code.to_string(),
        }
    }

    fn met_by(&self, reply: &Reply) -> bool {
        match self {
            Expect::Service(service, unit) => {
                reply.status == 200
                    && reply.service().as_deref() == Some(*service)
                    && unit.as_ref().is_none_or(|u| reply.unit().as_ref() == Some(u))
            }
            Expect::Redirect(to) => reply.status == 302 && &reply.location == to,
            Expect::Status(code) => reply.status == *code && reply.answer().is_none(),
        }
    }
}

struct Row {
    via: String,
    request: String,
    expected: String,
    got: String,
    ok: bool,
}

/// Every route a test checked, printed as one table (the lab's report).
pub struct RouteTable {
    title: String,
    rows: Vec<Row>,
}

impl RouteTable {
    pub fn new(title: &str) -> Self {
        RouteTable { title: title.into(), rows: Vec::new() }
    }

    pub fn expect(&mut self, via: &str, request: &str, expect: &Expect, reply: &Reply) -> bool {
        self.check(via, request, &expect.describe(), &reply.summary(), expect.met_by(reply))
    }

    pub fn check(&mut self, via: &str, request: &str, expected: &str, got: &str, ok: bool) -> bool {
        self.rows.push(Row {
            via: via.into(),
            request: request.into(),
            expected: expected.into(),
            got: got.into(),
            ok,
        });
        ok
    }

    /// Prints the table; fails the test if any row failed.
    pub fn finish(self) {
        let width =
            |f: &dyn Fn(&Row) -> usize, title: &str| self.rows.iter().map(f).max().unwrap_or(0).max(title.len());
        let (wv, wr, we) = (
            width(&|r| r.via.len(), "via"),
            width(&|r| r.request.len(), "request"),
            width(&|r| r.expected.len(), "expected"),
        );
        println!("\n== {} ==", self.title);
        println!("{:<wv$}  {:<wr$}  {:<we$}  {:<4}  got", "via", "request", "expected", "");
        for r in &self.rows {
            let mark = if r.ok { "ok" } else { "FAIL" };
            println!("{:<wv$}  {:<wr$}  {:<we$}  {mark:<4}  {}", r.via, r.request, r.expected, r.got);
        }
        let failed: Vec<String> = self
            .rows
            .iter()
            .filter(|r| !r.ok)
            .map(|r| format!("via {} {}: expected {}, got {}", r.via, r.request, r.expected, r.got))
            .collect();
        println!("{} routes checked, {} failed", self.rows.len(), failed.len());
        assert!(failed.is_empty(), "{}: {} route(s) failed:\n{}", self.title, failed.len(), failed.join("\n"));
    }
}
