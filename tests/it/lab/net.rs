//! The lab's network: one namespace per host, all on one bridge that lives in
//! a namespace of its own, on a private range that exists only inside our
//! namespaces. The root namespace gets no lab address and
//! no lab link, only a blackhole route for the range, so that nothing sent
//! to a lab address from outside can leave the machine.
//!
//! Everything made is undone by one idempotent shell script in the lab
//! directory: by `Drop` (a passing or panicking test), and by a detached
//! watchdog when the test process dies without unwinding (Ctrl-C, SIGKILL).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

/// The lab range: hosts are `10.200.0.<n>`.
pub const SUBNET: &str = "10.200.0.0/24";
const PREFIX_LEN: u8 = 24;
/// Every namespace name starts with this (then the test process's pid).
pub const NAMESPACE_PREFIX: &str = "lslab";

pub struct Network {
    dir: tempfile::TempDir,
    /// `lslab<pid>`: namespaces are `<tag>-<host>`.
    tag: String,
    switch: String,
    hosts: u32,
    torn_down: bool,
}

/// One machine of the lab: a namespace with one address.
#[derive(Debug, Clone)]
pub struct Host {
    pub namespace: String,
    pub address: String,
}

/// Runs `program args` and returns its output; a failure names the command.
pub fn run(program: &str, args: &[&str]) -> Result<Output, String> {
    let out = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("{program} {}: {e}", args.join(" ")))?;
    if !out.status.success() {
        return Err(format!(
            "`{program} {}` exited {:?}: {}",
            args.join(" "),
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(out)
}

pub fn is_root() -> bool {
    run("id", &["-u"]).map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0").unwrap_or(false)
}

/// The lab namespaces, links and routes that exist now (for leak checks).
pub fn leftovers(tag: &str) -> Vec<String> {
    let mut found = Vec::new();
    if let Ok(out) = run("ip", &["netns", "list"]) {
        for line in String::from_utf8_lossy(&out.stdout).lines() {
            if line.starts_with(tag) {
                found.push(format!("namespace {line}"));
            }
        }
    }
    if let Ok(out) = run("ip", &["route", "show", "type", "blackhole"]) {
        for line in String::from_utf8_lossy(&out.stdout).lines() {
            if line.contains(SUBNET) {
                found.push(format!("route {line}"));
            }
        }
    }
    if let Ok(out) = run("ip", &["-o", "link", "show"]) {
        for line in String::from_utf8_lossy(&out.stdout).lines() {
            if line.contains(tag) {
                found.push(format!("link {line}"));
            }
        }
    }
    found
}

impl Network {
    /// The switch namespace with its bridge, the safety route, and the
    /// watchdog. Fails (without leaving anything) when not root.
    pub fn new() -> Result<Self, String> {
        if !is_root() {
            return Err("the namespace lab needs root (ip netns, veth, routes)".into());
        }
        let dir = tempfile::Builder::new().prefix("landscape-lab-").tempdir().map_err(|e| e.to_string())?;
        // HAProxy checks configs as the haproxy user, under this directory.
        set_mode(dir.path(), 0o755)?;
        let tag = format!("{NAMESPACE_PREFIX}{}", std::process::id());
        let net = Network { switch: format!("{tag}-sw"), tag, dir, hosts: 0, torn_down: false };
        net.write_teardown_script()?;
        net.start_watchdog()?;
        net.remember_namespace(&net.switch)?;
        // From here on, Drop undoes whatever was made, even half-way.
        run("ip", &["route", "replace", "blackhole", SUBNET])?;
        run("ip", &["netns", "add", &net.switch])?;
        net.ns_run(&net.switch, &["ip", "link", "set", "lo", "up"])?;
        net.ns_run(&net.switch, &["ip", "link", "add", "br0", "type", "bridge"])?;
        net.ns_run(&net.switch, &["ip", "link", "set", "br0", "up"])?;
        Ok(net)
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    pub fn tag(&self) -> &str {
        &self.tag
    }

    /// Adds host `name` at `10.200.0.<octet>`, cabled to the bridge.
    pub fn add_host(&mut self, name: &str, octet: u8) -> Result<Host, String> {
        self.hosts += 1;
        let namespace = format!("{}-{name}", self.tag);
        let address = format!("10.200.0.{octet}");
        let port = format!("p{}", self.hosts);
        self.remember_namespace(&namespace)?;
        run("ip", &["netns", "add", &namespace])?;
        self.ns_run(&namespace, &["ip", "link", "set", "lo", "up"])?;
        // Both ends are made inside lab namespaces: the root namespace never
        // sees the link.
        self.ns_run(
            &namespace,
            &["ip", "link", "add", "eth0", "type", "veth", "peer", "name", &port, "netns", &self.switch],
        )?;
        self.ns_run(&self.switch, &["ip", "link", "set", &port, "master", "br0"])?;
        self.ns_run(&self.switch, &["ip", "link", "set", &port, "up"])?;
        self.ns_run(&namespace, &["ip", "addr", "add", &format!("{address}/{PREFIX_LEN}"), "dev", "eth0"])?;
        self.ns_run(&namespace, &["ip", "link", "set", "eth0", "up"])?;
        Ok(Host { namespace, address })
    }

    /// Runs a command inside `namespace` and waits for it.
    pub fn ns_run(&self, namespace: &str, argv: &[&str]) -> Result<Output, String> {
        let mut args = vec!["netns", "exec", namespace];
        args.extend_from_slice(argv);
        run("ip", &args)
    }

    fn namespaces_file(&self) -> PathBuf {
        self.dir.path().join("namespaces")
    }

    /// Recorded before the namespace is made, so teardown never misses one.
    fn remember_namespace(&self, namespace: &str) -> Result<(), String> {
        use std::io::Write;
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.namespaces_file())
            .map_err(|e| e.to_string())?;
        writeln!(f, "{namespace}").map_err(|e| e.to_string())
    }

    fn teardown_script(&self) -> PathBuf {
        self.dir.path().join("teardown.sh")
    }

    fn write_teardown_script(&self) -> Result<(), String> {
        let dir = self.dir.path().display();
        let script = format!(
            r#"#!/bin/sh
# Undoes the namespace lab in {dir}; safe to run more than once.
list={dir}/namespaces
if [ -f "$list" ]; then
  for ns in $(cat "$list"); do
    for pid in $(ip netns pids "$ns" 2>/dev/null); do kill -9 "$pid" 2>/dev/null; done
  done
  for ns in $(cat "$list"); do ip netns del "$ns" 2>/dev/null; done
fi
ip route del blackhole {SUBNET} 2>/dev/null
rm -rf {dir}
exit 0
"#
        );
        std::fs::write(self.teardown_script(), script).map_err(|e| e.to_string())
    }

    /// A detached watchdog (its own session, so Ctrl-C does not reach it)
    /// that tears the lab down when this process dies without doing so.
    /// It stops watching once the lab directory is gone.
    fn start_watchdog(&self) -> Result<(), String> {
        let dir = self.dir.path().display();
        let script = format!(
            "while kill -0 {pid} 2>/dev/null && [ -d {dir} ]; do sleep 0.3; done; \
             [ -d {dir} ] && exec sh {dir}/teardown.sh; exit 0",
            pid = std::process::id()
        );
        Command::new("setsid")
            .args(["-f", "sh", "-c", &script])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .map_err(|e| format!("setsid: {e}"))
            .and_then(|s| if s.success() { Ok(()) } else { Err("setsid failed".into()) })
    }
}

/// Runs a command inside `namespace`, whatever its exit status.
pub fn ns_output(namespace: &str, argv: &[&str]) -> Output {
    Command::new("ip")
        .args(["netns", "exec", namespace])
        .args(argv)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("ip netns exec {namespace} {argv:?}: {e}"))
}

/// Starts a long-running command inside `namespace`, its output to `log`.
pub fn ns_spawn(namespace: &str, argv: &[&str], log: &Path) -> Result<Child, String> {
    let file = std::fs::File::create(log).map_err(|e| format!("{}: {e}", log.display()))?;
    let err = file.try_clone().map_err(|e| e.to_string())?;
    Command::new("ip")
        .args(["netns", "exec", namespace])
        .args(argv)
        .stdin(Stdio::null())
        .stdout(file)
        .stderr(err)
        .spawn()
        .map_err(|e| format!("ip netns exec {namespace} {argv:?}: {e}"))
}

fn set_mode(path: &Path, mode: u32) -> Result<(), String> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .map_err(|e| format!("{}: {e}", path.display()))
}

impl Network {
    /// Kills every process in the lab's namespaces, deletes them and the
    /// route, and removes the lab directory. Runs once.
    pub fn teardown(&mut self) {
        if std::mem::replace(&mut self.torn_down, true) {
            return;
        }
        match Command::new("sh").arg(self.teardown_script()).output() {
            Ok(out) if out.status.success() => {}
            Ok(out) => eprintln!("lab teardown: {}", String::from_utf8_lossy(&out.stderr)),
            Err(e) => eprintln!("lab teardown: {e}"),
        }
    }
}

impl Drop for Network {
    fn drop(&mut self) {
        self.teardown();
    }
}
