//! The fake Juju in-process: the fake's own answers (`fake_juju::answer`,
//! what `fake-juju-tool` runs) behind the charm's runner traits, so that a
//! reconcile runs without a process per tool call. The black-box tests keep
//! the real binary; this serves the benchmark and the check below that both
//! ways give the same calls and the same state.

use std::cell::RefCell;
use std::collections::BTreeMap;

use landscape_server::juju::HookToolError;
use landscape_server::juju::tools::{HookToolRunner, ToolOutput};
use landscape_server::system::{Cmd, CmdError, CmdOutput, CommandRunner, ProcessRunner};

use crate::harness::{FAKED_COMMANDS, FakeState};

pub struct InProcess {
    state: RefCell<FakeState>,
}

impl InProcess {
    pub fn new(state: FakeState) -> Self {
        Self { state: RefCell::new(state) }
    }

    pub fn into_state(self) -> FakeState {
        self.state.into_inner()
    }
}

impl HookToolRunner for InProcess {
    fn run(&self, tool: &str, args: &[String], stdin: Option<&[u8]>) -> Result<ToolOutput, HookToolError> {
        let stdin = stdin.map(|s| String::from_utf8_lossy(s).into_owned());
        let reply = fake_juju::answer(&mut self.state.borrow_mut(), tool, args, stdin, BTreeMap::new());
        Ok(ToolOutput { code: Some(reply.code), stdout: reply.stdout.into_bytes(), stderr: reply.stderr })
    }
}

impl CommandRunner for InProcess {
    /// Faked commands are answered by the fake, the rest (haproxy, runuser)
    /// run for real, as under the binary.
    fn output(&self, cmd: &Cmd) -> Result<CmdOutput, CmdError> {
        if !FAKED_COMMANDS.contains(&cmd.program.as_str()) {
            return ProcessRunner.output(cmd);
        }
        let env = cmd.env.iter().cloned().collect();
        let stdin = cmd.stdin.as_ref().map(|s| String::from_utf8_lossy(s).into_owned());
        let reply = fake_juju::answer(&mut self.state.borrow_mut(), &cmd.program, &cmd.args, stdin, env);
        Ok(CmdOutput { code: Some(reply.code), stdout: reply.stdout, stderr: reply.stderr })
    }
}

// Compiled into the benchmark too (it includes this file), where the test
// does not run: its imports stay inside it.
#[cfg(test)]
mod tests {
    #[test]
    fn in_process_and_the_binary_make_the_same_calls_and_leave_the_same_state() {
        use crate::harness::{Dispatch, ready_leader};
        use serde_json::json;
        // Two units in the same state, each with its own filesystem root.
        let (mut binary, mut in_process) = (ready_leader(2), ready_leader(2));
        for unit in [&mut binary, &mut in_process] {
            unit.set_config("worker_counts", json!(3));
        }
        let by_binary = binary.run(Dispatch::Hook("config-changed".into()));
        let by_library = in_process.run_in_process(Dispatch::Hook("config-changed".into()));
        assert_eq!((by_binary.code, by_library.code), (0, 0), "{}{}", by_binary.stderr, by_library.stderr);
        let lines = |unit: &crate::harness::Unit, run: &crate::harness::RunResult| {
            let root = unit.root().display().to_string();
            let tools = run.tool_calls.iter().map(|c| c.line().replace(&root, "<root>"));
            tools.chain(run.command_lines().into_iter().map(|l| l.replace(&root, "<root>"))).collect::<Vec<_>>()
        };
        assert_eq!(lines(&in_process, &by_library), lines(&binary, &by_binary));
        assert_eq!(in_process.status(), binary.status());
        let config = |unit: &crate::harness::Unit| {
            unit.haproxy_config().unwrap().replace(&unit.root().display().to_string(), "")
        };
        assert_eq!(config(&in_process), config(&binary));
        assert!(config(&in_process).contains(":8082"), "the third worker is routed");
    }
}
