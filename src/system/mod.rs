//! System commands (`apt-get`, `systemctl`, `haproxy`, `lsctl`, ...), run by
//! name through `PATH` behind one trait so tests can replace any of them.

pub mod apt;

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

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
    /// Killed when still running after this long ([`timeout_for`] its program).
    pub timeout: Duration,
}

impl Cmd {
    pub fn new(program: &str, args: &[&str]) -> Self {
        Self {
            program: program.into(),
            args: args.iter().map(|a| a.to_string()).collect(),
            env: vec![],
            stdin: None,
            secrets: vec![],
            timeout: timeout_for(program),
        }
    }

    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
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
    #[error("{command} did not finish within {} s and was killed", timeout.as_secs())]
    TimedOut { command: String, timeout: Duration },
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

/// How long a command may run before it is killed, so that a hung `lsctl`,
/// `dpkg-query` or `landscape-schema` cannot hang the hook for ever (Juju
/// would show the unit executing a hook, with no way out). Package and
/// schema work can be long on a slow archive or database.
pub fn timeout_for(program: &str) -> Duration {
    let name = program.rsplit('/').next().unwrap_or(program);
    match name {
        "apt-get" | "add-apt-repository" | "landscape-schema" | "snap" => Duration::from_secs(30 * 60),
        _ => Duration::from_secs(5 * 60),
    }
}

/// Spawns real processes, each in its own process group, killed (group and
/// all) at its [`timeout_for`].
#[derive(Debug, Default)]
pub struct ProcessRunner;

impl CommandRunner for ProcessRunner {
    fn output(&self, cmd: &Cmd) -> Result<CmdOutput, CmdError> {
        use std::os::unix::process::CommandExt;
        let spawn_error = |source| CmdError::Spawn { command: cmd.display(), source };
        let mut child = Command::new(&cmd.program)
            .args(&cmd.args)
            .envs(cmd.env.iter().map(|(k, v)| (k, v)))
            .stdin(if cmd.stdin.is_some() { Stdio::piped() } else { Stdio::null() })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0)
            .spawn()
            .map_err(spawn_error)?;
        // Pipes are drained by threads, so a chatty command never blocks on a
        // full pipe while we wait for it.
        let input = cmd.stdin.clone();
        let stdin = child.stdin.take().map(|mut pipe| {
            std::thread::spawn(move || {
                let _ = pipe.write_all(input.as_deref().unwrap_or_default());
            })
        });
        let stdout = drain(child.stdout.take());
        let stderr = drain(child.stderr.take());
        let timeout = cmd.timeout;
        let status = wait_until(&mut child, Instant::now() + timeout).map_err(spawn_error)?;
        let Some(status) = status else {
            // The whole group: a shell's children too.
            let _ = nix::sys::signal::killpg(nix::unistd::Pid::from_raw(child.id() as i32), nix::sys::signal::SIGKILL);
            let _ = child.wait();
            return Err(CmdError::TimedOut { command: cmd.display(), timeout });
        };
        if let Some(writer) = stdin {
            let _ = writer.join();
        }
        let text = |handle: std::thread::JoinHandle<Vec<u8>>| {
            String::from_utf8_lossy(&handle.join().unwrap_or_default()).into_owned()
        };
        Ok(CmdOutput { code: status.code(), stdout: text(stdout), stderr: text(stderr) })
    }
}

/// Reads `pipe` to its end on a thread of its own.
fn drain(pipe: Option<impl std::io::Read + Send + 'static>) -> std::thread::JoinHandle<Vec<u8>> {
    std::thread::spawn(move || {
        let mut bytes = vec![];
        if let Some(mut pipe) = pipe {
            let _ = pipe.read_to_end(&mut bytes);
        }
        bytes
    })
}

/// Waits for `child` until `deadline`; `None` when it is still running then.
/// Polls with a growing interval: most commands end within milliseconds.
fn wait_until(child: &mut std::process::Child, deadline: Instant) -> std::io::Result<Option<std::process::ExitStatus>> {
    let mut interval = Duration::from_micros(200);
    loop {
        if let Some(status) = child.try_wait()? {
            return Ok(Some(status));
        }
        let now = Instant::now();
        if now >= deadline {
            return Ok(None);
        }
        std::thread::sleep(interval.min(deadline - now));
        interval = (interval * 2).min(Duration::from_millis(50));
    }
}

/// The system clock in Unix seconds (0 before 1970): the one clock the
/// charm reads (certificate validity, drain timeouts, rollout ids).
pub fn unix_now() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_command_past_its_timeout_is_killed_with_its_children() {
        // A shell whose child would outlive it: the whole group goes.
        let cmd = Cmd::new("sh", &["-c", "sleep 30 & sleep 30"]).with_timeout(Duration::from_millis(100));
        match ProcessRunner.output(&cmd) {
            Err(CmdError::TimedOut { command, .. }) => assert_eq!(command, "sh -c sleep 30 & sleep 30"),
            other => panic!("{other:?}"),
        }
        let err = ProcessRunner.output(&cmd).unwrap_err().to_string();
        assert!(err.ends_with("did not finish within 0 s and was killed"), "{err}");
    }

    #[test]
    fn output_and_exit_status_come_back() {
        let out = ProcessRunner.output(&Cmd::new("sh", &["-c", "echo out; echo err >&2; exit 3"])).unwrap();
        assert_eq!((out.code, out.stdout.as_str(), out.stderr.as_str()), (Some(3), "out\n", "err\n"));
        let mut cat = Cmd::new("cat", &[]);
        cat.stdin = Some(b"piped".to_vec());
        assert_eq!(ProcessRunner.output(&cat).unwrap().stdout, "piped");
    }
}
