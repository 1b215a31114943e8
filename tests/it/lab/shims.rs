//! What stands in for a unit's init system in the lab: shell scripts put
//! first on the unit's `PATH` in place of the recording fakes.
//!
//! - `systemctl haproxy`: runs the unit's real HAProxy inside the unit's
//!   namespace in master-worker mode (`-W -S <socket>`), reloads it with
//!   SIGUSR2 (what the Ubuntu unit's `ExecReload` sends), stops it with
//!   SIGTERM. `landscape-package-upload` turns the stand-in's upload server
//!   on and off; other units (postfix, package-search) are accepted.
//! - `lsctl`: applies `/etc/default/landscape-server` (the `RUN_*` lines the
//!   charm wrote) to the stand-in services, as Landscape's own lsctl would;
//!   `restart` stops every stand-in (dropping its connections) for a second
//!   first, as a real restart does.
//! - `haproxy`: the real one, except that `-c` fails on purpose while the
//!   lab's fault file exists, to show what a rejected config does.
//!
//! Every call is appended to `run/calls.log`.

use std::path::{Path, PathBuf};

/// Where a lab unit keeps its process files: pidfile, logs,
/// and the stand-in services' control files.
pub fn run_dir(unit_dir: &Path) -> PathBuf {
    unit_dir.join("run")
}

/// Where the Ubuntu unit opens HAProxy's master CLI, under the unit's root:
/// the charm reads its reload count there to confirm each reload.
pub fn master_socket(unit_dir: &Path) -> PathBuf {
    unit_dir.join("root/run/haproxy-master.sock")
}

pub fn validation_fault(unit_dir: &Path) -> PathBuf {
    run_dir(unit_dir).join("fail-validation")
}

/// The real haproxy binary, found on the test process's PATH.
pub fn real_haproxy() -> String {
    let out = std::process::Command::new("sh").args(["-c", "command -v haproxy"]).output().expect("sh runs");
    let path = String::from_utf8_lossy(&out.stdout).trim().to_string();
    assert!(path.starts_with('/'), "haproxy is not installed (scripts/setup-test-env installs it)");
    path
}

/// Writes the three shims into `bin`, for a unit living in `namespace` with
/// its filesystem root at `root`.
pub fn install(bin: &Path, unit_dir: &Path, root: &Path, namespace: &str) -> std::io::Result<()> {
    let run = run_dir(unit_dir);
    std::fs::create_dir_all(&run)?;
    let haproxy = real_haproxy();
    let calls = run.join("calls.log");
    let common = format!(
        "RUN={run}\nCALLS={calls}\necho \"$(basename \"$0\") $*\" >> \"$CALLS\"\n",
        run = run.display(),
        calls = calls.display()
    );
    let systemctl = format!(
        r#"#!/bin/sh
# Lab stand-in for systemctl (see tests/it/lab/shims.rs).
{common}NS={namespace}
CFG={cfg}
PIDFILE=$RUN/haproxy.pid
SOCK={sock}
verb=$1
for last in "$@"; do :; done
running() {{ [ -s "$PIDFILE" ] && kill -0 "$(cat "$PIDFILE")" 2>/dev/null; }}
start() {{
  running && return 0
  rm -f "$PIDFILE" "$SOCK"
  mkdir -p "$(dirname "$SOCK")"
  ip netns exec "$NS" setsid {haproxy} -W -f "$CFG" -p "$PIDFILE" -S "$SOCK,mode,600" \
    </dev/null >>"$RUN/haproxy.log" 2>&1 &
  for i in $(seq 100); do
    [ -S "$SOCK" ] && running && return 0
    sleep 0.05
  done
  echo "haproxy did not start; see $RUN/haproxy.log" >&2
  return 1
}}
stop() {{
  running || return 0
  pid=$(cat "$PIDFILE")
  kill -TERM "$pid"
  for i in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
  rm -f "$PIDFILE"
}}
# is-active with several units (update-status asks for all at once): HAProxy's
# state is the shim's to tell; the Landscape stand-ins count as running.
if [ "$verb" = is-active ]; then
  for unit in "$@"; do [ "$unit" = haproxy ] && {{ running || exit 3; }}; done
  exit 0
fi
case "$verb:$last" in
  enable:haproxy|start:haproxy) start ;;
  restart:haproxy) stop; start ;;
  reload:haproxy) if running; then kill -USR2 "$(cat "$PIDFILE")"; else start; fi ;;
  disable:haproxy|stop:haproxy) stop ;;
  enable:landscape-package-upload|start:landscape-package-upload) touch "$RUN/package-upload.on" ;;
  disable:landscape-package-upload|stop:landscape-package-upload) rm -f "$RUN/package-upload.on" ;;
  *) exit 0 ;;
esac
"#,
        cfg = root.join("etc/haproxy/haproxy.cfg").display(),
        sock = master_socket(unit_dir).display(),
    );
    let lsctl = format!(
        r#"#!/bin/sh
# Lab stand-in for Landscape's lsctl (see tests/it/lab/shims.rs).
{common}case "$1" in
  start) cp {defaults} "$RUN/landscape.env" ;;
  restart) : > "$RUN/landscape.env"; sleep 1; cp {defaults} "$RUN/landscape.env" ;;
  stop) : > "$RUN/landscape.env" ;;
  status) [ -s "$RUN/landscape.env" ] ;;
esac
"#,
        defaults = root.join("etc/default/landscape-server").display(),
    );
    let haproxy_wrapper = format!(
        r#"#!/bin/sh
# The real haproxy; `-c` is refused while {fault} exists.
for a in "$@"; do
  if [ "$a" = "-c" ] && [ -e {fault} ]; then
    echo "[ALERT]    (0) : config : lab fault injection: validation refused on purpose" >&2
    exit 1
  fi
done
exec {haproxy} "$@"
"#,
        fault = validation_fault(unit_dir).display(),
    );
    for (name, text) in [("systemctl", systemctl), ("lsctl", lsctl), ("haproxy", haproxy_wrapper)] {
        let path = bin.join(name);
        let _ = std::fs::remove_file(&path);
        std::fs::write(&path, text)?;
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755))?;
    }
    Ok(())
}
