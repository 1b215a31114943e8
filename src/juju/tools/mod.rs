//! Juju hook tools, as ops' `hookcmds/` has them: the runner (the seam,
//! [`runner`]), the values ([`types`]), and typed wrappers on
//! [`HookTools`], one file per family, that always use the JSON forms
//! (`--format=json`, `relation-set --file -`) and `-r endpoint:id`. A failed
//! call is classified here, above the runner (ops' `_ModelBackend`).

mod action;
mod port;
mod relation;
pub mod runner;
mod secret;
mod status;
pub mod types;
mod unit;
mod unit_state;

use std::path::PathBuf;

use serde_json::Value;

pub use runner::{HookToolRunner, ProcessHookTools, ToolOutput};
pub use types::{Bag, Databag, LogLevel, NetworkInfo, SecretOwner, StatusName};

/// Why a hook tool call failed, sorted the way ops sorts them (by stderr).
#[derive(Debug, thiserror::Error)]
pub enum HookToolError {
    #[error("cannot run hook tool {tool}: {source}")]
    Spawn {
        tool: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{tool}: relation not found: {stderr}")]
    RelationNotFound { tool: String, stderr: String },
    #[error("{tool}: secret not found: {stderr}")]
    SecretNotFound { tool: String, stderr: String },
    #[error("{tool}: permission denied: {stderr}")]
    PermissionDenied { tool: String, stderr: String },
    #[error("{tool} {args} failed ({}): {stderr}", crate::system::exit_text(*code))]
    Failed { tool: String, args: String, code: Option<i32>, stderr: String },
    #[error("{tool} printed output that is not {expected}: {detail}")]
    BadOutput { tool: String, expected: &'static str, detail: String },
}

impl HookToolError {
    /// Classifies a failed call from its stderr (ops `_wrap_hookcmd`).
    pub fn classify(tool: &str, args: &[String], code: Option<i32>, stderr: &str) -> Self {
        let stderr = stderr.trim().trim_start_matches("ERROR ").to_string();
        let lower = stderr.to_lowercase();
        let tool = tool.to_string();
        if (tool.starts_with("relation-") || tool.starts_with("network-")) && lower.contains("relation not found") {
            Self::RelationNotFound { tool, stderr }
        } else if tool.starts_with("secret-") && lower.contains("not found") {
            Self::SecretNotFound { tool, stderr }
        } else if ["access denied", "permission denied", "not the leader", "cannot write relation settings"]
            .iter()
            .any(|needle| lower.contains(needle))
        {
            Self::PermissionDenied { tool, stderr }
        } else {
            Self::Failed { tool, args: summarize_args(args), code, stderr }
        }
    }

    /// A secret that is gone, or that this unit may not see (not granted,
    /// another application's): the other side's to fix, not a fault to
    /// retry.
    pub fn is_secret_unavailable(&self) -> bool {
        matches!(self, Self::SecretNotFound { .. } | Self::PermissionDenied { .. })
    }

    pub(super) fn bad_output(tool: &str, expected: &'static str, detail: impl ToString) -> Self {
        Self::BadOutput { tool: tool.to_string(), expected, detail: detail.to_string() }
    }
}

/// Keeps error messages short: hook tool arguments can hold whole PEMs.
fn summarize_args(args: &[String]) -> String {
    let joined = args.join(" ");
    if joined.chars().count() > 200 { format!("{}…", joined.chars().take(200).collect::<String>()) } else { joined }
}

/// Typed access to the hook tools.
pub struct HookTools<'a> {
    runner: &'a dyn HookToolRunner,
    /// Where secret values are written for `key#file=` (the system's temp
    /// directory unless the charm gives its own).
    secret_dir: PathBuf,
}

pub(super) fn owned(args: &[&str]) -> Vec<String> {
    args.iter().map(|s| s.to_string()).collect()
}

impl<'a> HookTools<'a> {
    pub fn new(runner: &'a dyn HookToolRunner) -> Self {
        Self { runner, secret_dir: std::env::temp_dir() }
    }

    /// Writes secret values for `secret-add`/`secret-set` under `dir`.
    pub fn with_secret_dir(mut self, dir: PathBuf) -> Self {
        self.secret_dir = dir;
        self
    }

    /// Runs `tool`; a non-zero exit is classified from its stderr.
    fn call(&self, tool: &str, args: Vec<String>, stdin: Option<&[u8]>) -> Result<String, HookToolError> {
        let out = self.runner.run(tool, &args, stdin)?;
        if out.code != Some(0) {
            return Err(HookToolError::classify(tool, &args, out.code, &out.stderr));
        }
        String::from_utf8(out.stdout).map_err(|e| HookToolError::bad_output(tool, "UTF-8 text", e))
    }

    fn call_json<T: serde::de::DeserializeOwned>(&self, tool: &str, args: Vec<String>) -> Result<T, HookToolError> {
        let out = self.call(tool, args, None)?;
        serde_json::from_str(out.trim()).map_err(|e| HookToolError::bad_output(tool, "the expected JSON", e))
    }
}

pub(super) fn databag_from_json(tool: &str, value: Value) -> Result<Databag, HookToolError> {
    match value {
        Value::Null => Ok(Databag::new()),
        Value::Object(map) => map
            .into_iter()
            .map(|(k, v)| match v {
                Value::String(s) => Ok((k, s)),
                other => Err(HookToolError::bad_output(tool, "a map of strings", format!("{k} = {other}"))),
            })
            .collect(),
        other => Err(HookToolError::bad_output(tool, "a JSON object", other)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_are_classified_like_ops() {
        let args = vec!["-r".to_string(), "db:3".to_string()];
        assert!(matches!(
            HookToolError::classify("relation-get", &args, Some(1), "ERROR relation not found\n"),
            HookToolError::RelationNotFound { .. }
        ));
        assert!(matches!(
            HookToolError::classify("secret-get", &args, Some(1), "ERROR secret \"x\" not found"),
            HookToolError::SecretNotFound { .. }
        ));
        assert!(matches!(
            HookToolError::classify("relation-set", &args, Some(1), "ERROR cannot write relation settings"),
            HookToolError::PermissionDenied { .. }
        ));
        let other = HookToolError::classify("config-get", &args, Some(2), "ERROR boom");
        assert_eq!(other.to_string(), "config-get -r db:3 failed (exit status 2): boom");
    }

    #[test]
    fn long_arguments_are_cut_in_messages() {
        let args = vec!["x".repeat(5000)];
        let err = HookToolError::classify("action-set", &args, Some(1), "no");
        assert!(err.to_string().len() < 300);
    }
}
