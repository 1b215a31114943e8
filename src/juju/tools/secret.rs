//! Juju secrets: `secret-add`, `-set`, `-get`, `-ids`, `-info-get`; values travel through `key#file=`, never argv.

use std::path::Path;

use serde_json::Value;

use super::{Databag, HookToolError, HookTools, SecretOwner, databag_from_json, owned};

impl HookTools<'_> {
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
    /// `secret-grant --relation <n> <id>`: the other side of a relation may
    /// read the secret.
    pub fn secret_grant(&self, id: &str, relation: &crate::juju::RelationId) -> Result<(), HookToolError> {
        self.call("secret-grant", owned(&["--relation", &relation.id.to_string(), id]), None).map(drop)
    }

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
