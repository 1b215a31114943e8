//! The fake Juju of the black-box tests, as its own crate (a
//! dev-dependency only: the charm's build never compiles it).
//!
//! - [`state`]: the state file shared by the test harness and the fake
//!   tools: a unit's view of its model, like ops.testing's `State`.
//! - [`run`]: `fake-juju-tool`, a multi-call binary that stands in for the
//!   Juju hook tools and for system commands. The harness links it under each
//!   tool's name (`relation-get`, `systemctl`, ...) into a directory put first
//!   on `PATH`; it dispatches on argv[0], one module per family of hook tools
//!   (as ops' `hookcmds/`).
//!
//! It follows Juju's hook-tool contract: JSON output (and it insists on
//! `--format=json` where the charm must use it), `ERROR …` on stderr with
//! exit 1 (run-time) or 2 (usage), `-r endpoint:id` (the id after the last
//! colon), pending writes applied only when the hook exits 0, and pending
//! writes of this unit visible to its own reads.

mod args;
mod commands;
pub use commands::{HAPROXY_SIGNALS, SERVICES_DIR};
pub mod state;
mod tools;

use std::io::Read;
use std::process::ExitCode;

use args::{Failure, Outcome};
use state::{Behaviour, Call, FakeState, HOOK_TOOLS};

pub use tools::unit::ENDPOINT_NAMES;

const STATE_ENV: &str = "FAKE_JUJU_STATE";

/// What one call printed and how it exited.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

/// The environment variables a call is recorded with.
pub const RECORDED_ENV: &[&str] =
    &["DEBIAN_FRONTEND", "http_proxy", "https_proxy", "no_proxy", "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY"];

/// Answers one call of `program` against `st`, recording it: the same
/// answer whether the binary runs it (through the state file) or a test runs
/// it in-process.
pub fn answer(
    st: &mut FakeState,
    program: &str,
    args: &[String],
    stdin: Option<String>,
    env: std::collections::BTreeMap<String, String>,
) -> Reply {
    let call = Call { program: program.to_string(), args: args.to_vec(), stdin: stdin.clone(), env };
    let outcome = if HOOK_TOOLS.contains(&program) {
        st.tool_calls.push(call);
        match st.tool_failures.get(program).cloned() {
            Some(b) => return commands::behave(&b),
            None => hook_tool(st, program, args, stdin.as_deref()),
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
        return match (behaviour, program) {
            (Some(behaviour), _) => commands::behave(&behaviour),
            (None, "dpkg-query") => commands::behave(&commands::dpkg_query(st, args)),
            (None, "apt-mark") => {
                commands::apt_mark(st, args);
                commands::behave(&Behaviour::default())
            }
            (None, "postmap" | "systemctl" | "lsctl" | "snap") => {
                commands::services(st, program, args);
                commands::behave(&Behaviour::default())
            }
            (None, _) => commands::behave(&Behaviour::default()),
        };
    };
    match outcome {
        Ok(stdout) => Reply { code: 0, stdout, stderr: String::new() },
        Err(Failure(code, stderr)) => Reply { code, stdout: String::new(), stderr: format!("{stderr}\n") },
    }
}

/// The tool named by `argv[0]`, as a hook of the unit in `$FAKE_JUJU_STATE`
/// would see it: reads the state, answers, saves the state.
pub fn run(argv: impl IntoIterator<Item = String>) -> ExitCode {
    let mut argv = argv.into_iter();
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
    let env = RECORDED_ENV.iter().filter_map(|k| std::env::var(k).ok().map(|v| (k.to_string(), v))).collect();
    let line = std::iter::once(program.as_str()).chain(args.iter().map(String::as_str)).collect::<Vec<_>>().join(" ");
    let kill_here = st.kill_at_command.as_deref().is_some_and(|prefix| line.starts_with(prefix));
    if kill_here || st.kill_at_call.is_some_and(|k| st.tool_calls.len() + st.commands.len() + 1 >= k) {
        // The crash test: the hook dies here, as on a machine that lost
        // power; nothing of this call is answered or recorded.
        let _ = std::process::Command::new("kill")
            .args(["-KILL", &std::os::unix::process::parent_id().to_string()])
            .status();
        return ExitCode::from(137);
    }
    let reply = answer(&mut st, &program, &args, stdin, env);
    if let Err(e) = std::fs::write(&path, serde_json::to_vec_pretty(&st).expect("state serializes")) {
        eprintln!("ERROR fake-juju-tool: cannot save {path}: {e}");
        return ExitCode::from(1);
    }
    print!("{}", reply.stdout);
    eprint!("{}", reply.stderr);
    ExitCode::from(u8::try_from(reply.code).unwrap_or(1))
}

/// One hook tool, by family.
fn hook_tool(st: &mut FakeState, tool: &str, args: &[String], stdin: Option<&str>) -> Outcome {
    match tool {
        "relation-ids" | "relation-list" | "relation-get" | "relation-set" => {
            tools::relation::run(st, tool, args, stdin)
        }
        "config-get" | "is-leader" | "network-get" => tools::unit::run(st, tool, args, stdin),
        "status-set" | "application-version-set" | "juju-log" => tools::status::run(st, tool, args, stdin),
        "action-get" | "action-set" | "action-fail" | "action-log" => tools::action::run(st, tool, args, stdin),
        "open-port" | "close-port" | "opened-ports" => tools::port::run(st, tool, args, stdin),
        "state-get" | "state-set" | "state-delete" => tools::unit_state::run(st, tool, args, stdin),
        "secret-add" | "secret-set" | "secret-grant" | "secret-get" | "secret-ids" | "secret-info-get" => {
            tools::secret::run(st, tool, args)
        }
        other => Err(args::usage(format!("fake-juju-tool does not implement {other}"))),
    }
}
