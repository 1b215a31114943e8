//! Juju secrets: add, set, grant, get, ids and info, with `key#file=` content.

use serde_json::json;

use crate::args::{Failure, Outcome, parse, runtime, to_json, usage};
use crate::state::{Databag, FakeState, PendingOp, Secret};

/// Secret content from `key#file=path` (or `key=value`) arguments.
fn secret_content(items: &[String]) -> Result<Databag, Failure> {
    let mut content = Databag::new();
    for item in items {
        let (key, value) = if let Some((key, path)) = item.split_once("#file=") {
            (key.to_string(), std::fs::read_to_string(path).map_err(|e| runtime(format!("cannot read {path}: {e}")))?)
        } else {
            let (k, v) = item.split_once('=').ok_or_else(|| usage(format!("invalid content {item:?}")))?;
            (k.to_string(), v.to_string())
        };
        let valid = key.len() >= 3
            && key.starts_with(|c: char| c.is_ascii_lowercase())
            && !key.ends_with('-')
            && !key.contains("--")
            && key.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
        if !valid {
            return Err(usage(format!("invalid secret key {key:?}")));
        }
        content.insert(key, value);
    }
    Ok(content)
}

fn find_secret<'s>(st: &'s FakeState, id: Option<&str>, label: Option<&str>) -> Result<&'s Secret, Failure> {
    let xid = |s: &str| s.rsplit(['/', ':']).next().unwrap_or(s).to_string();
    let found = st.secrets.iter().chain(st.pending.iter().filter_map(|op| match op {
        PendingOp::SecretAdd(s) => Some(s),
        _ => None,
    }));
    let found: Vec<&Secret> = found
        .filter(|s| {
            id.is_none_or(|id| xid(&s.id) == xid(id))
                && (id.is_some() || label.is_some_and(|l| s.label.as_deref() == Some(l)))
        })
        .collect();
    found.into_iter().next().ok_or_else(|| runtime(format!("secret {:?} not found", id.or(label).unwrap_or_default())))
}

pub fn run(st: &mut FakeState, tool: &str, args: &[String]) -> Outcome {
    match tool {
        "secret-add" => {
            let a = parse(args, &["--label", "--owner", "--description", "--expire", "--rotate"], &[])?;
            let owner = a.get("--owner").unwrap_or("application").to_string();
            if owner == "application" && !st.leader {
                return Err(runtime("permission denied: only the leader can add application secrets"));
            }
            let content = secret_content(&a.positional)?;
            // Juju keeps labels unique per owner.
            if let Some(label) = a.get("--label") {
                if find_secret(st, None, Some(label)).is_ok_and(|s| s.owner == owner) {
                    return Err(runtime(format!("secret with label {label:?} already exists")));
                }
            }
            let n = st.secrets.len() + st.pending.len() + 1;
            let id = format!("secret:fake{n:016}");
            let secret = Secret {
                id: id.clone(),
                owner,
                label: a.get("--label").map(str::to_string),
                revisions: vec![content],
                tracked: None,
                granted: vec![],
            };
            st.pending.push(PendingOp::SecretAdd(secret));
            Ok(format!("{id}\n"))
        }
        "secret-set" => {
            let a = parse(args, &["--label", "--owner", "--description", "--expire", "--rotate"], &[])?;
            let [id, items @ ..] = a.positional.as_slice() else {
                return Err(usage("expected a secret id"));
            };
            let secret = find_secret(st, Some(id), None)?;
            if secret.owner == "application" && !st.leader {
                return Err(runtime("permission denied"));
            }
            let id = secret.id.clone();
            let content = secret_content(items)?;
            st.pending.push(PendingOp::SecretSet { id, content });
            Ok(String::new())
        }
        "secret-grant" => {
            let a = parse(args, &["--relation", "--unit"], &[])?;
            let [id] = a.positional.as_slice() else { return Err(usage("expected one secret id")) };
            let relation: u32 = a
                .get("--relation")
                .and_then(|r| r.parse().ok())
                .ok_or_else(|| usage("--relation takes a relation's number"))?;
            if !st.relations.iter().any(|r| r.id == relation) {
                return Err(runtime(format!("relation {relation} not found")));
            }
            let secret = find_secret(st, Some(id), None)?;
            if secret.owner == "application" && !st.leader {
                return Err(runtime("permission denied"));
            }
            let id = secret.id.clone();
            st.pending.push(PendingOp::SecretGrant { id, relation });
            Ok(String::new())
        }
        "secret-get" => {
            let a = parse(args, &["--format", "--label"], &["--refresh", "--peek"])?;
            a.require_json(tool)?;
            let id = a.positional.first().map(String::as_str);
            let secret = find_secret(st, id, a.get("--label"))?.clone();
            let latest = secret.revisions.len();
            let revision =
                if a.has("--refresh") || a.has("--peek") { latest } else { secret.tracked.unwrap_or(latest) };
            let content = secret.revisions.get(revision.saturating_sub(1)).cloned().unwrap_or_default();
            if let Some(s) = st.secrets.iter_mut().find(|s| s.id == secret.id) {
                if a.has("--refresh") || s.tracked.is_none() {
                    s.tracked = Some(latest);
                }
                if let (Some(_), Some(label)) = (id, a.get("--label")) {
                    s.label = Some(label.to_string());
                }
            }
            Ok(to_json(json!(content)))
        }
        "secret-ids" => {
            parse(args, &["--format"], &[])?.require_json(tool)?;
            let ids: Vec<String> =
                st.secrets.iter().map(|s| s.id.rsplit(':').next().unwrap_or(&s.id).to_string()).collect();
            Ok(to_json(json!(ids)))
        }
        "secret-info-get" => {
            let a = parse(args, &["--format", "--label"], &[])?;
            a.require_json(tool)?;
            let secret = find_secret(st, a.positional.first().map(String::as_str), a.get("--label"))?;
            if secret.owner == "application" && !st.leader {
                return Err(runtime(format!("secret {:?} not found", secret.id)));
            }
            let xid = secret.id.rsplit(':').next().unwrap_or(&secret.id).to_string();
            Ok(to_json(
                json!({ xid: {"revision": secret.revisions.len(), "label": secret.label, "owner": secret.owner} }),
            ))
        }
        _ => unreachable!(),
    }
}
