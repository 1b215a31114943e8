//! What every fake tool shares: its failure, the flag parser (Juju's flag
//! syntax), and JSON output.

use serde_json::Value;

/// A tool's failure: exit code and stderr.
pub struct Failure(pub i32, pub String);

/// Exit 2, as Juju's tools fail on bad usage.
pub fn usage(msg: impl Into<String>) -> Failure {
    Failure(2, format!("ERROR {}", msg.into()))
}

/// Exit 1, as Juju's tools fail at run time.
pub fn runtime(msg: impl Into<String>) -> Failure {
    Failure(1, format!("ERROR {}", msg.into()))
}

pub type Outcome = Result<String, Failure>;

/// Parsed flags: `--x=y`, `--x y`, bare `--x`, and positionals (after `--`, all positional).
pub struct Args {
    flags: Vec<(String, Option<String>)>,
    pub positional: Vec<String>,
}

pub fn parse(args: &[String], with_value: &[&str], bare: &[&str]) -> Result<Args, Failure> {
    let mut out = Args { flags: vec![], positional: vec![] };
    let mut iter = args.iter();
    while let Some(a) = iter.next() {
        if a == "--" {
            out.positional.extend(iter.by_ref().cloned());
            break;
        }
        if a.starts_with('-') && a != "-" {
            let (name, inline) = match a.split_once('=') {
                Some((n, v)) => (n.to_string(), Some(v.to_string())),
                None => (a.clone(), None),
            };
            if with_value.contains(&name.as_str()) {
                let value = match inline {
                    Some(v) => v,
                    None => iter.next().cloned().ok_or_else(|| usage(format!("flag needs an argument: {name}")))?,
                };
                out.flags.push((name, Some(value)));
            } else if bare.contains(&name.as_str()) {
                out.flags.push((name, inline));
            } else {
                return Err(usage(format!("flag provided but not defined: {name}")));
            }
        } else {
            out.positional.push(a.clone());
        }
    }
    Ok(out)
}

impl Args {
    pub fn get(&self, name: &str) -> Option<&str> {
        self.flags.iter().find(|(n, _)| n == name).and_then(|(_, v)| v.as_deref())
    }
    pub fn has(&self, name: &str) -> bool {
        self.flags.iter().any(|(n, _)| n == name)
    }
    /// The harness insists on the JSON forms (the contract with real Juju).
    pub fn require_json(&self, tool: &str) -> Result<(), Failure> {
        if self.get("--format") == Some("json") {
            Ok(())
        } else {
            Err(usage(format!("{tool}: the fake insists on --format=json")))
        }
    }
}

pub fn to_json(v: Value) -> String {
    format!("{v}\n")
}
