//! Atomic file writes with explicit mode and owner.
//!
//! A write goes to a temporary file in the same directory, is fsynced, gets its
//! mode and owner, and is renamed over the target; then the directory is
//! fsynced. A reader (HAProxy, Landscape) sees the old file or the new one,
//! never half of one.

use std::fs;
use std::io::Write;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
#[error("{action} {path}: {source}")]
pub struct FsError {
    pub action: &'static str,
    pub path: PathBuf,
    #[source]
    pub source: std::io::Error,
}

impl FsError {
    pub fn new(action: &'static str, path: &Path, source: std::io::Error) -> Self {
        Self { action, path: path.to_path_buf(), source }
    }
}

/// Who owns a written file. `None` fields keep the writing process's ids.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Owner {
    pub uid: Option<u32>,
    pub gid: Option<u32>,
}

impl Owner {
    /// The uid and gid of a system user, read from the real user database
    /// (not re-rooted: users are not files the charm manages).
    pub fn of_user(name: &str) -> Result<Self, FsError> {
        match nix::unistd::User::from_name(name) {
            Ok(Some(user)) => Ok(Self { uid: Some(user.uid.as_raw()), gid: Some(user.gid.as_raw()) }),
            Ok(None) => Err(FsError::new(
                "look up the owner of",
                Path::new(name),
                std::io::Error::new(std::io::ErrorKind::NotFound, format!("no user {name:?}")),
            )),
            Err(errno) => Err(FsError::new("look up the owner of", Path::new(name), errno.into())),
        }
    }
}

/// Whether a write changed anything on disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Written {
    Changed,
    Unchanged,
}

/// Writes `contents` to `path` atomically with `mode` and `owner`, creating the
/// parent directory (0755) if needed. Skips the write when the file already has
/// these bytes, this mode and this owner.
pub fn write_atomic(path: &Path, contents: &[u8], mode: u32, owner: Owner) -> Result<Written, FsError> {
    if is_current(path, contents, mode, owner) {
        return Ok(Written::Unchanged);
    }
    let dir = path.parent().unwrap_or(Path::new("."));
    fs::create_dir_all(dir).map_err(|e| FsError::new("create directory", dir, e))?;
    let tmp = temp_path(path);
    let result = (|| {
        let mut file = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)
            .map_err(|e| FsError::new("create", &tmp, e))?;
        file.write_all(contents).map_err(|e| FsError::new("write", &tmp, e))?;
        chown(&tmp, owner)?;
        file.set_permissions(fs::Permissions::from_mode(mode)).map_err(|e| FsError::new("set the mode of", &tmp, e))?;
        file.sync_all().map_err(|e| FsError::new("fsync", &tmp, e))?;
        fs::rename(&tmp, path).map_err(|e| FsError::new("rename into place", path, e))?;
        sync_dir(dir)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result.map(|()| Written::Changed)
}

/// Records, durably, a debt that outlives the hook: a service must re-read
/// its files. Written before the files change and paid (removed) only once
/// the service has read them, so that a hook killed in between leaves the
/// debt to the next one, whatever unit state it rolled back.
pub fn owe(marker: &Path) -> Result<(), FsError> {
    if !marker.exists() {
        write_atomic(marker, b"owed\n", 0o600, Owner::default())?;
    }
    Ok(())
}

/// Whether a debt recorded by [`owe`] is still there.
pub fn is_owed(marker: &Path) -> bool {
    marker.exists()
}

/// The debt recorded by [`owe`] is paid.
pub fn pay(marker: &Path) -> Result<(), FsError> {
    remove_optional(marker)
}

/// Renames `from` over `to` and makes the rename durable.
pub fn rename_durable(from: &Path, to: &Path) -> Result<(), FsError> {
    fs::rename(from, to).map_err(|e| FsError::new("rename into place", to, e))?;
    sync_dir(to.parent().unwrap_or(Path::new(".")))
}

/// Reads a file that may legitimately be absent.
pub fn read_optional(path: &Path) -> Result<Option<Vec<u8>>, FsError> {
    match fs::read(path) {
        Ok(bytes) => Ok(Some(bytes)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(FsError::new("read", path, e)),
    }
}

/// Removes a file that may already be gone.
pub fn remove_optional(path: &Path) -> Result<(), FsError> {
    match fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(FsError::new("remove", path, e)),
    }
}

/// The mode and owner of an existing file, so a rewrite can keep them (files
/// a package shipped, like service.conf, keep the package's permissions).
pub fn mode_and_owner(path: &Path) -> Result<Option<(u32, Owner)>, FsError> {
    match fs::metadata(path) {
        Ok(meta) => Ok(Some((meta.mode() & 0o7777, Owner { uid: Some(meta.uid()), gid: Some(meta.gid()) }))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(FsError::new("read the metadata of", path, e)),
    }
}

pub fn is_current(path: &Path, contents: &[u8], mode: u32, owner: Owner) -> bool {
    let Ok(meta) = fs::symlink_metadata(path) else {
        return false;
    };
    meta.is_file()
        && meta.mode() & 0o7777 == mode
        && owner.uid.is_none_or(|uid| meta.uid() == uid)
        && owner.gid.is_none_or(|gid| meta.gid() == gid)
        && meta.len() == contents.len() as u64
        && fs::read(path).is_ok_and(|existing| existing == contents)
}

/// Removes the temporary files [`write_atomic`] leaves when its process is
/// killed (`.<name>.tmp-<pid>`, possibly a private key or a password) from
/// `dir`. Only a dead process's: the directories are shared with the system,
/// and a live process's file is its own business. Returns what it removed.
pub fn remove_stale_temps(dir: &Path) -> Result<Vec<PathBuf>, FsError> {
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(vec![]),
        Err(e) => return Err(FsError::new("list", dir, e)),
    };
    let mut removed = vec![];
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let pid = name.strip_prefix('.').and_then(|n| n.rsplit_once(".tmp-")).map(|(_, pid)| pid);
        let dead = pid.is_some_and(|pid| {
            !pid.is_empty() && pid.bytes().all(|b| b.is_ascii_digit()) && !Path::new("/proc").join(pid).exists()
        });
        if dead {
            remove_optional(&entry.path())?;
            removed.push(entry.path());
        }
    }
    Ok(removed)
}

fn temp_path(path: &Path) -> PathBuf {
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    path.with_file_name(format!(".{name}.tmp-{}", std::process::id()))
}

fn chown(path: &Path, owner: Owner) -> Result<(), FsError> {
    if owner == Owner::default() {
        return Ok(());
    }
    nix::unistd::chown(path, owner.uid.map(nix::unistd::Uid::from_raw), owner.gid.map(nix::unistd::Gid::from_raw))
        .map_err(|errno| FsError::new("change the owner of", path, errno.into()))
}

fn sync_dir(dir: &Path) -> Result<(), FsError> {
    fs::File::open(dir).and_then(|d| d.sync_all()).map_err(|e| FsError::new("fsync directory", dir, e))
}

/// SHA-256 of `parts`, each followed by a NUL (so that parts cannot run
/// into each other), as lowercase hex.
pub fn sha256_hex(parts: &[&[u8]]) -> String {
    use sha2::{Digest, Sha256};
    let mut hash = Sha256::new();
    for part in parts {
        hash.update(part);
        hash.update(b"\0");
    }
    hash.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_with_mode_and_reports_unchanged_rewrites() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/key.pem");
        assert_eq!(write_atomic(&path, b"secret", 0o600, Owner::default()).unwrap(), Written::Changed);
        assert_eq!(fs::metadata(&path).unwrap().mode() & 0o777, 0o600);
        assert_eq!(write_atomic(&path, b"secret", 0o600, Owner::default()).unwrap(), Written::Unchanged);
        // A mode change alone is a change.
        assert_eq!(write_atomic(&path, b"secret", 0o640, Owner::default()).unwrap(), Written::Changed);
        assert_eq!(fs::read(&path).unwrap(), b"secret");
        // No temporary files are left behind.
        assert_eq!(fs::read_dir(path.parent().unwrap()).unwrap().count(), 1);
    }

    #[test]
    fn unknown_owner_is_an_error_that_names_the_user() {
        let err = Owner::of_user("no-such-user-here").unwrap_err();
        assert!(err.to_string().contains("no-such-user-here"), "{err}");
    }
}
