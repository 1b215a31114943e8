//! Juju hook tools: one runner trait, the process implementation, and typed
//! wrappers that always use the JSON forms (`--format=json`,
//! `relation-set --file -`) and `-r endpoint:id`.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde_json::Value;

use super::context::RelationId;

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

    fn bad_output(tool: &str, expected: &'static str, detail: impl ToString) -> Self {
        Self::BadOutput { tool: tool.to_string(), expected, detail: detail.to_string() }
    }
}

/// Keeps error messages short: hook tool arguments can hold whole PEMs.
fn summarize_args(args: &[String]) -> String {
    let joined = args.join(" ");
    if joined.chars().count() > 200 { format!("{}…", joined.chars().take(200).collect::<String>()) } else { joined }
}

/// Runs one hook tool. The seam between the charm and Juju.
pub trait HookToolRunner {
    /// Runs `tool args…` with `stdin`, returning stdout on exit 0.
    fn run(&self, tool: &str, args: &[String], stdin: Option<&[u8]>) -> Result<String, HookToolError>;
}

/// Runs the tools Juju puts on `PATH`, with the whole environment passed
/// through (the tools authenticate through `JUJU_CONTEXT_ID` and friends).
#[derive(Debug, Default)]
pub struct ProcessHookTools;

impl HookToolRunner for ProcessHookTools {
    fn run(&self, tool: &str, args: &[String], stdin: Option<&[u8]>) -> Result<String, HookToolError> {
        let spawn_error = |source| HookToolError::Spawn { tool: tool.to_string(), source };
        let mut child = Command::new(tool)
            .args(args)
            .stdin(if stdin.is_some() { Stdio::piped() } else { Stdio::null() })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(spawn_error)?;
        if let (Some(input), Some(mut pipe)) = (stdin, child.stdin.take()) {
            pipe.write_all(input).map_err(spawn_error)?;
        }
        let output = child.wait_with_output().map_err(spawn_error)?;
        if !output.status.success() {
            let stderr = String::from_utf8_lossy(&output.stderr);
            return Err(HookToolError::classify(tool, args, output.status.code(), &stderr));
        }
        String::from_utf8(output.stdout).map_err(|e| HookToolError::bad_output(tool, "UTF-8 text", e))
    }
}

/// A databag: Juju relation data is always string to string.
pub type Databag = BTreeMap<String, String>;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum LogLevel {
    Debug,
    Info,
    Warning,
    Error,
}

impl LogLevel {
    fn as_str(self) -> &'static str {
        match self {
            LogLevel::Debug => "DEBUG",
            LogLevel::Info => "INFO",
            LogLevel::Warning => "WARNING",
            LogLevel::Error => "ERROR",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum StatusName {
    Active,
    Waiting,
    Maintenance,
    Blocked,
}

impl StatusName {
    pub fn as_str(self) -> &'static str {
        match self {
            StatusName::Active => "active",
            StatusName::Waiting => "waiting",
            StatusName::Maintenance => "maintenance",
            StatusName::Blocked => "blocked",
        }
    }
}

/// The result of `network-get <binding>`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NetworkInfo {
    /// Every bind address, in Juju's order ("bind address" in ops is the first).
    pub bind_addresses: Vec<String>,
    pub ingress_addresses: Vec<String>,
}

/// Who owns a new secret.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecretOwner {
    Application,
    Unit,
}

/// Typed access to the hook tools.
pub struct HookTools<'a> {
    runner: &'a dyn HookToolRunner,
    /// Where secret values are written for `key#file=` (the system's temp
    /// directory unless the charm gives its own).
    secret_dir: PathBuf,
}

fn owned(args: &[&str]) -> Vec<String> {
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

    fn call(&self, tool: &str, args: Vec<String>, stdin: Option<&[u8]>) -> Result<String, HookToolError> {
        self.runner.run(tool, &args, stdin)
    }

    fn call_json<T: serde::de::DeserializeOwned>(&self, tool: &str, args: Vec<String>) -> Result<T, HookToolError> {
        let out = self.call(tool, args, None)?;
        serde_json::from_str(out.trim()).map_err(|e| HookToolError::bad_output(tool, "the expected JSON", e))
    }

    // --- relations ---------------------------------------------------------

    /// `relation-ids <endpoint> --format=json`, parsed and sorted by id.
    pub fn relation_ids(&self, endpoint: &str) -> Result<Vec<RelationId>, HookToolError> {
        let ids: Vec<String> = self.call_json("relation-ids", owned(&[endpoint, "--format=json"]))?;
        let mut parsed = ids
            .iter()
            .map(|text| {
                RelationId::parse(text)
                    .filter(|r| r.endpoint == endpoint)
                    .ok_or_else(|| HookToolError::bad_output("relation-ids", "endpoint:id strings", text))
            })
            .collect::<Result<Vec<_>, _>>()?;
        parsed.sort_by_key(|r| r.id);
        Ok(parsed)
    }

    /// `relation-list --format=json -r ep:id`: the remote units (never this unit).
    pub fn relation_list(&self, relation: &RelationId) -> Result<Vec<String>, HookToolError> {
        let units: Option<Vec<String>> =
            self.call_json("relation-list", owned(&["--format=json", "-r", &relation.to_string()]))?;
        Ok(units.unwrap_or_default())
    }

    /// `relation-list --app`: the remote application's name.
    pub fn relation_remote_app(&self, relation: &RelationId) -> Result<String, HookToolError> {
        self.call_json("relation-list", owned(&["--format=json", "--app", "-r", &relation.to_string()]))
    }

    /// A unit databag (`member` is a unit name) or an application databag
    /// (`app` true; `member` is the application or one of its units).
    pub fn relation_get(&self, relation: &RelationId, member: &str, app: bool) -> Result<Databag, HookToolError> {
        let rel = relation.to_string();
        let mut args = owned(&["--format=json", "-r", &rel]);
        if app {
            args.push("--app".into());
        }
        args.extend(owned(&["-", member]));
        let value: Value = self.call_json("relation-get", args)?;
        databag_from_json("relation-get", value)
    }

    /// Like [`Self::relation_get`], but a relation that went away under us
    /// reads as empty (ops does the same): its data no longer exists.
    pub fn relation_get_or_empty(
        &self,
        relation: &RelationId,
        member: &str,
        app: bool,
    ) -> Result<Databag, HookToolError> {
        match self.relation_get(relation, member, app) {
            Err(HookToolError::RelationNotFound { .. }) => Ok(Databag::new()),
            other => other,
        }
    }

    /// The relation on a `limit: 1` endpoint, leaving out `broken` (the one
    /// being torn down in this hook, which `relation-ids` may still list).
    pub fn live_relation(
        &self,
        endpoint: &str,
        broken: Option<&RelationId>,
    ) -> Result<Option<RelationId>, HookToolError> {
        Ok(self.relation_ids(endpoint)?.into_iter().find(|r| Some(r) != broken))
    }

    /// `relation-set -r ep:id [--app] --file -` with a JSON object on stdin.
    /// An empty value deletes the key; keys not mentioned are left alone.
    pub fn relation_set(&self, relation: &RelationId, data: &Databag, app: bool) -> Result<(), HookToolError> {
        let rel = relation.to_string();
        let mut args = owned(&["-r", &rel]);
        if app {
            args.push("--app".into());
        }
        args.extend(owned(&["--file", "-"]));
        let body = serde_json::to_vec(data).expect("a string map always serializes");
        self.call("relation-set", args, Some(&body)).map(drop)
    }

    // --- config, leadership, network ----------------------------------------

    pub fn config_get(&self) -> Result<serde_json::Map<String, Value>, HookToolError> {
        let value: Value = self.call_json("config-get", owned(&["--format=json", "--all"]))?;
        match value {
            Value::Object(map) => Ok(map),
            Value::Null => Ok(Default::default()),
            other => Err(HookToolError::bad_output("config-get", "a JSON object", other)),
        }
    }

    pub fn is_leader(&self) -> Result<bool, HookToolError> {
        self.call_json("is-leader", owned(&["--format=json"]))
    }

    /// `network-get --format=json [-r ep:id] <binding>`; with a relation, the
    /// addresses as that relation sees them (what the ingress library uses).
    pub fn network_get(&self, binding: &str, relation: Option<&RelationId>) -> Result<NetworkInfo, HookToolError> {
        let mut args = owned(&["--format=json"]);
        if let Some(relation) = relation {
            args.extend(["-r".to_string(), relation.to_string()]);
        }
        args.push(binding.to_string());
        let value: Value = self.call_json("network-get", args)?;
        let bad = |detail: &str| HookToolError::bad_output("network-get", "network-get JSON", detail);
        let mut info = NetworkInfo::default();
        for bind in value.get("bind-addresses").and_then(Value::as_array).into_iter().flatten() {
            for addr in bind.get("addresses").and_then(Value::as_array).into_iter().flatten() {
                // Juju ≥ 2.9 says `value`; older ones said `address`.
                let text = addr.get("value").or_else(|| addr.get("address")).and_then(Value::as_str);
                info.bind_addresses.push(text.ok_or_else(|| bad("an address without a value"))?.to_string());
            }
        }
        for addr in value.get("ingress-addresses").and_then(Value::as_array).into_iter().flatten() {
            info.ingress_addresses.push(addr.as_str().ok_or_else(|| bad("a non-string ingress address"))?.to_string());
        }
        Ok(info)
    }

    // --- status, logging, version -------------------------------------------

    pub fn status_set(&self, status: StatusName, message: &str, application: bool) -> Result<(), HookToolError> {
        let mut args = Vec::new();
        if application {
            args.push("--application".to_string());
        }
        // Bounded and on one line whatever a part put in it (see crate::text).
        args.extend(owned(&[status.as_str(), "--", &crate::text::one_line(message)]));
        self.call("status-set", args, None).map(drop)
    }

    pub fn application_version_set(&self, version: &str) -> Result<(), HookToolError> {
        self.call("application-version-set", owned(&["--", version]), None).map(drop)
    }

    pub fn juju_log(&self, level: LogLevel, message: &str) -> Result<(), HookToolError> {
        let message = crate::text::one_line(message);
        self.call("juju-log", owned(&["--log-level", level.as_str(), "--", &message]), None).map(drop)
    }

    // --- actions --------------------------------------------------------------

    pub fn action_get(&self) -> Result<serde_json::Map<String, Value>, HookToolError> {
        let value: Value = self.call_json("action-get", owned(&["--format=json"]))?;
        match value {
            Value::Object(map) => Ok(map),
            Value::Null => Ok(Default::default()),
            other => Err(HookToolError::bad_output("action-get", "a JSON object", other)),
        }
    }

    /// `action-set k=v …`. Keys must be lowercase, digits, `-` and `.`.
    pub fn action_set(&self, results: &BTreeMap<String, String>) -> Result<(), HookToolError> {
        if results.is_empty() {
            return Ok(());
        }
        let args = results.iter().map(|(k, v)| format!("{k}={v}")).collect();
        self.call("action-set", args, None).map(drop)
    }

    pub fn action_fail(&self, message: &str) -> Result<(), HookToolError> {
        self.call("action-fail", owned(&["--", message]), None).map(drop)
    }

    pub fn action_log(&self, message: &str) -> Result<(), HookToolError> {
        self.call("action-log", owned(&["--", message]), None).map(drop)
    }

    // --- ports ----------------------------------------------------------------

    pub fn open_port(&self, port: u16) -> Result<(), HookToolError> {
        self.call("open-port", vec![format!("{port}/tcp")], None).map(drop)
    }

    pub fn close_port(&self, port: u16) -> Result<(), HookToolError> {
        self.call("close-port", vec![format!("{port}/tcp")], None).map(drop)
    }

    /// The TCP ports opened so far (pending opens of this hook are not listed).
    pub fn opened_tcp_ports(&self) -> Result<Vec<u16>, HookToolError> {
        let entries: Option<Vec<String>> = self.call_json("opened-ports", owned(&["--format=json"]))?;
        Ok(entries.unwrap_or_default().iter().filter_map(|entry| entry.strip_suffix("/tcp")?.parse().ok()).collect())
    }

    // --- secrets --------------------------------------------------------------

    /// `secret-add`; content travels through `key#file=` so that no secret
    /// value ever appears in argv. Returns the new secret's URI.
    pub fn secret_add(&self, content: &Databag, label: &str, owner: SecretOwner) -> Result<String, HookToolError> {
        let owner = match owner {
            SecretOwner::Application => "application",
            SecretOwner::Unit => "unit",
        };
        with_secret_files("secret-add", &self.secret_dir, content, |file_args| {
            let mut args = owned(&["--label", label, "--owner", owner]);
            args.extend(file_args);
            Ok(self.call("secret-add", args, None)?.trim().to_string())
        })
    }

    /// `secret-set <id>` with new content (one call per secret per hook).
    pub fn secret_set(&self, id: &str, content: &Databag) -> Result<(), HookToolError> {
        with_secret_files("secret-set", &self.secret_dir, content, |file_args| {
            let mut args = vec![id.to_string()];
            args.extend(file_args);
            self.call("secret-set", args, None).map(drop)
        })
    }

    /// `secret-get --format=json` by id or label; `refresh` tracks the latest revision.
    pub fn secret_get(&self, id: Option<&str>, label: Option<&str>, refresh: bool) -> Result<Databag, HookToolError> {
        let mut args = owned(&["--format=json"]);
        args.extend(id.map(str::to_string));
        if let Some(label) = label {
            args.extend(owned(&["--label", label]));
        }
        if refresh {
            args.push("--refresh".into());
        }
        let value: Value = self.call_json("secret-get", args)?;
        databag_from_json("secret-get", value)
    }

    /// Bare ids of the secrets this unit or application owns.
    pub fn secret_ids(&self) -> Result<Vec<String>, HookToolError> {
        let ids: Option<Vec<String>> = self.call_json("secret-ids", owned(&["--format=json"]))?;
        Ok(ids.unwrap_or_default())
    }

    /// Metadata of an owned secret, by label: the id it is known by and its revision.
    pub fn secret_info_get(&self, label: &str) -> Result<(String, Value), HookToolError> {
        let value: serde_json::Map<String, Value> =
            self.call_json("secret-info-get", owned(&["--format=json", "--label", label]))?;
        value
            .into_iter()
            .next()
            .ok_or_else(|| HookToolError::bad_output("secret-info-get", "one secret", "an empty object"))
    }

    // --- unit state -----------------------------------------------------------

    /// `state-get --format=json`; `null` (printed when nothing is stored) is empty.
    pub fn state_get(&self) -> Result<Databag, HookToolError> {
        let value: Value = self.call_json("state-get", owned(&["--format=json"]))?;
        databag_from_json("state-get", value)
    }

    pub fn state_delete(&self, key: &str) -> Result<(), HookToolError> {
        self.call("state-delete", vec![key.to_string()], None).map(drop)
    }

    pub fn state_set(&self, data: &Databag) -> Result<(), HookToolError> {
        let body = serde_json::to_vec(data).expect("a string map always serializes");
        self.call("state-set", owned(&["--file", "-"]), Some(&body)).map(drop)
    }
}

fn databag_from_json(tool: &str, value: Value) -> Result<Databag, HookToolError> {
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

/// Writes each secret value to a file in a private temporary directory and
/// hands `key#file=path` arguments to `f`; the directory goes away afterwards.
fn with_secret_files<T>(
    tool: &str,
    base: &Path,
    content: &Databag,
    f: impl FnOnce(Vec<String>) -> Result<T, HookToolError>,
) -> Result<T, HookToolError> {
    let spawn_error = |source| HookToolError::Spawn { tool: tool.to_string(), source };
    // Unpredictable, so a directory left by a crashed process cannot collide.
    let mut nonce = [0u8; 8];
    getrandom::fill(&mut nonce).map_err(|e| spawn_error(std::io::Error::other(e.to_string())))?;
    let nonce: String = nonce.iter().map(|b| format!("{b:02x}")).collect();
    let dir = base.join(format!("landscape-charm-secret-{}-{nonce}", std::process::id()));
    {
        use std::os::unix::fs::DirBuilderExt;
        std::fs::DirBuilder::new().recursive(true).mode(0o700).create(base).map_err(spawn_error)?;
        std::fs::DirBuilder::new().mode(0o700).create(&dir).map_err(spawn_error)?;
    }
    let result = (|| {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700)).map_err(spawn_error)?;
        let mut args = Vec::new();
        for (key, value) in content {
            let path = dir.join(key);
            std::fs::write(&path, value).map_err(spawn_error)?;
            args.push(format!("{key}#file={}", path.display()));
        }
        f(args)
    })();
    let _ = std::fs::remove_dir_all(&dir);
    result
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
