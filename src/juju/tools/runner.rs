//! The seam between the charm and Juju: run one tool, get what it printed
//! and how it exited. Classifying a failure is [`super::HookTools`]' job,
//! so that every runner (the process one, a fake) is classified alike.

use std::io::Write;
use std::process::{Command, Stdio};

use super::HookToolError;

/// What one hook tool call gave back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ToolOutput {
    /// The exit code; None when a signal ended the tool.
    pub code: Option<i32>,
    pub stdout: Vec<u8>,
    pub stderr: String,
}

/// Runs one hook tool. The seam between the charm and Juju.
pub trait HookToolRunner {
    /// Runs `tool args…` with `stdin`. Fails only when the tool could not be
    /// run at all; a tool that ran and failed is a [`ToolOutput`] too.
    fn run(&self, tool: &str, args: &[String], stdin: Option<&[u8]>) -> Result<ToolOutput, HookToolError>;
}

/// Runs the tools Juju puts on `PATH`, with the whole environment passed
/// through (the tools authenticate through `JUJU_CONTEXT_ID` and friends).
#[derive(Debug, Default)]
pub struct ProcessHookTools;

impl HookToolRunner for ProcessHookTools {
    fn run(&self, tool: &str, args: &[String], stdin: Option<&[u8]>) -> Result<ToolOutput, HookToolError> {
        let spawn_error = |source| HookToolError::Spawn { tool: tool.to_string(), source };
        let mut child = Command::new(tool)
            .args(args)
            .stdin(if stdin.is_some() { Stdio::piped() } else { Stdio::null() })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(spawn_error)?;
        if let (Some(input), Some(mut pipe)) = (stdin, child.stdin.take()) {
            if let Err(e) = pipe.write_all(input) {
                // The tool must not act on part of its input, nor outlive the
                // call (a hook that failed would still be changing things):
                // it is killed before the pipe closes, and reaped.
                let _ = child.kill();
                drop(pipe);
                let _ = child.wait();
                return Err(spawn_error(e));
            }
        }
        let output = child.wait_with_output().map_err(spawn_error)?;
        Ok(ToolOutput {
            code: output.status.code(),
            stdout: output.stdout,
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A tool that stopped reading its input (here it closes it at once)
    /// made the write fail, and the call returned while the tool ran on,
    /// with part of its input, after the hook had failed.
    #[test]
    fn a_tool_whose_input_could_not_be_written_is_killed_and_reaped() {
        let dir = std::env::temp_dir().join(format!("landscape-runner-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let pidfile = dir.join("pid");
        let script = format!("echo $$ > {}; exec 0<&-; sleep 30", pidfile.display());
        let input = vec![b'x'; 1 << 20];
        let result = ProcessHookTools.run("sh", &["-c".to_string(), script], Some(&input));
        assert!(matches!(result, Err(HookToolError::Spawn { .. })), "{result:?}");
        let pid: i32 = std::fs::read_to_string(&pidfile).unwrap().trim().parse().unwrap();
        let _ = std::fs::remove_dir_all(&dir);
        let alive = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None).is_ok();
        assert!(!alive, "the tool {pid} still runs");
    }
}
