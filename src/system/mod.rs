//! System commands (`apt-get`, `systemctl`, `haproxy`, `lsctl`, ...), run by
//! name through `PATH` behind one trait so tests can replace any of them.

pub mod apt;

use std::io::Write;
use std::process::{Command, Stdio};

/// One command to run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cmd {
    pub program: String,
    pub args: Vec<String>,
    /// Extra environment on top of the charm's own.
    pub env: Vec<(String, String)>,
    pub stdin: Option<Vec<u8>>,
    /// Arguments that are secrets: shown as `<redacted>` in logs and errors.
    pub secrets: Vec<String>,
}

impl Cmd {
    pub fn new(program: &str, args: &[&str]) -> Self {
        Self {
            program: program.into(),
            args: args.iter().map(|a| a.to_string()).collect(),
            env: vec![],
            stdin: None,
            secrets: vec![],
        }
    }

    /// Adds an argument that must never appear in a log line or an error.
    pub fn secret_arg(mut self, arg: impl Into<String>) -> Self {
        let arg = arg.into();
        if !arg.is_empty() {
            self.secrets.push(arg.clone());
        }
        self.args.push(arg);
        self
    }

    /// `text` with every secret argument masked.
    pub fn redact(&self, text: &str) -> String {
        self.secrets.iter().fold(text.to_string(), |t, s| t.replace(s.as_str(), "<redacted>"))
    }

    pub fn arg(mut self, arg: impl Into<String>) -> Self {
        self.args.push(arg.into());
        self
    }

    pub fn env(mut self, key: &str, value: &str) -> Self {
        self.env.push((key.into(), value.into()));
        self
    }

    /// The command line, for logs and error messages.
    pub fn display(&self) -> String {
        let line = std::iter::once(self.program.as_str())
            .chain(self.args.iter().map(String::as_str))
            .collect::<Vec<_>>()
            .join(" ");
        self.redact(&line)
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CmdOutput {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl CmdOutput {
    pub fn success(&self) -> bool {
        self.code == Some(0)
    }

    /// stdout and stderr together, trimmed: what a person would have seen.
    pub fn combined(&self) -> String {
        let mut text = self.stdout.trim().to_string();
        if !self.stderr.trim().is_empty() {
            if !text.is_empty() {
                text.push('\n');
            }
            text.push_str(self.stderr.trim());
        }
        text
    }
}

#[derive(Debug, thiserror::Error)]
pub enum CmdError {
    #[error("cannot run {command}: {source}")]
    Spawn {
        command: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{command} failed ({}): {output}", exit_text(*code))]
    Failed { command: String, code: Option<i32>, output: String },
}

/// How a command ended, for people: `exit status 3`, or killed by a signal.
pub fn exit_text(code: Option<i32>) -> String {
    match code {
        Some(code) => format!("exit status {code}"),
        None => "killed by a signal".to_string(),
    }
}

pub trait CommandRunner {
    /// Runs the command and returns its output, whatever its exit code.
    fn output(&self, cmd: &Cmd) -> Result<CmdOutput, CmdError>;

    /// Runs the command and fails unless it exits 0.
    fn run(&self, cmd: &Cmd) -> Result<CmdOutput, CmdError> {
        let out = self.output(cmd)?;
        if out.success() {
            Ok(out)
        } else {
            Err(CmdError::Failed { command: cmd.display(), code: out.code, output: cmd.redact(&out.combined()) })
        }
    }
}

/// Spawns real processes.
#[derive(Debug, Default)]
pub struct ProcessRunner;

impl CommandRunner for ProcessRunner {
    fn output(&self, cmd: &Cmd) -> Result<CmdOutput, CmdError> {
        let spawn_error = |source| CmdError::Spawn { command: cmd.display(), source };
        let mut child = Command::new(&cmd.program)
            .args(&cmd.args)
            .envs(cmd.env.iter().map(|(k, v)| (k, v)))
            .stdin(if cmd.stdin.is_some() { Stdio::piped() } else { Stdio::null() })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(spawn_error)?;
        if let (Some(input), Some(mut pipe)) = (&cmd.stdin, child.stdin.take()) {
            pipe.write_all(input).map_err(spawn_error)?;
        }
        let out = child.wait_with_output().map_err(spawn_error)?;
        Ok(CmdOutput {
            code: out.status.code(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        })
    }
}
