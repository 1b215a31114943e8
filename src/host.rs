//! The per-dispatch handle every part works through: the Juju context, the
//! hook tools, the command runner, the system paths, the log, and the writes
//! to the two shared bags (the peer application bag and unit state) staged
//! for the end of the hook. It sits below every part and imports none.

use std::cell::RefCell;
use std::collections::BTreeSet;

use crate::fsutil;
use crate::juju::{Bag, Databag, HookToolError, HookTools, JujuContext, LogLevel, RelationId};
use crate::paths::Paths;
use crate::peer_app::{PeerApp, PeerKey};
use crate::system::CommandRunner;
use crate::unit_state::{StateKey, UnitState};

/// What a dispatch works with: one per hook or action.
pub struct Host<'a> {
    pub ctx: JujuContext,
    pub juju: HookTools<'a>,
    pub cmds: &'a dyn CommandRunner,
    pub paths: Paths,
    /// Peer app bag and unit state changes, sent once at the end of the hook.
    pub staged: RefCell<StagedWrites>,
}

/// Writes to the two bags that several parts change in one hook (the peer
/// application bag and unit state), gathered so that each goes out in one
/// `relation-set --app` and one `state-set`. Both are transactional with the
/// hook in Juju, so sending them at its end changes nothing but the count.
#[derive(Debug, Default)]
pub struct StagedWrites {
    pub peer_app: Databag,
    /// This unit's own peer bag (its address excepted: see `peers`).
    pub peer_unit: Databag,
    pub unit_state: Databag,
    pub unit_state_deleted: BTreeSet<String>,
}

impl<'a> Host<'a> {
    pub fn new(ctx: JujuContext, juju: HookTools<'a>, cmds: &'a dyn CommandRunner, paths: Paths) -> Self {
        Self { ctx, juju, cmds, paths, staged: RefCell::default() }
    }

    /// Sets (or, with an empty value, deletes) a key of the peer app bag at
    /// the end of the hook.
    pub fn stage_peer_app(&self, key: PeerKey, value: impl Into<String>) {
        self.staged.borrow_mut().peer_app.insert(key.name().to_string(), value.into());
    }

    /// Sets (or, with an empty value, deletes) a key of this unit's own peer
    /// bag at the end of the hook.
    pub fn stage_peer_unit(&self, key: &str, value: impl Into<String>) {
        self.staged.borrow_mut().peer_unit.insert(key.to_string(), value.into());
    }

    /// Sets a unit-state key at the end of the hook.
    pub fn stage_state(&self, key: StateKey, value: impl Into<String>) {
        let mut staged = self.staged.borrow_mut();
        let name = key.name();
        staged.unit_state_deleted.remove(&name);
        staged.unit_state.insert(name, value.into());
    }

    /// Writes unit-state keys at once (one `state-set`, one `state-delete`
    /// per key), not staged, and applies them to `state`, the world this
    /// hook reconciles next. For records that must survive the hook being
    /// killed right after (a drain begun, services stopped or started).
    pub fn record_state_now(
        &self,
        state: &mut UnitState,
        set: &[(StateKey, String)],
        delete: &[StateKey],
    ) -> Result<(), HookToolError> {
        if !set.is_empty() {
            self.juju.state_set(&set.iter().map(|(key, value)| (key.name(), value.clone())).collect())?;
        }
        for key in delete {
            self.juju.state_delete(&key.name())?;
        }
        for (key, value) in set {
            state.adjust(key, Some(value));
        }
        for key in delete {
            state.adjust(key, None);
        }
        Ok(())
    }

    /// Deletes a unit-state key at the end of the hook.
    pub fn stage_state_delete(&self, key: StateKey) {
        let mut staged = self.staged.borrow_mut();
        let name = key.name();
        staged.unit_state.remove(&name);
        staged.unit_state_deleted.insert(name);
    }

    /// What a dispatch killed part-way can have left: temporary files of
    /// atomic writes (keys, passwords), secret values for `secret-add`, and a
    /// candidate path that is not a file. Best effort: a failure is logged,
    /// and the write that needs the path fails the hook on its own.
    pub fn clear_crash_leftovers(&self) {
        let mut problems = vec![];
        for dir in self.paths.written_dirs() {
            match fsutil::remove_stale_temps(&dir) {
                Ok(removed) => {
                    for path in removed {
                        self.log(LogLevel::Info, &format!("removed {}, left by an interrupted hook", path.display()));
                    }
                }
                Err(e) => problems.push(e.to_string()),
            }
        }
        for dir in [self.paths.secret_content_dir(), self.paths.haproxy_candidate_config()] {
            if dir.is_dir() {
                if let Err(e) = std::fs::remove_dir_all(&dir) {
                    problems.push(format!("cannot remove {}: {e}", dir.display()));
                }
            }
        }
        for problem in problems {
            self.log(LogLevel::Warning, &problem);
        }
    }

    /// Sends what was staged and differs from the bags as the hook found them
    /// (`peer_app`, `unit_state`): one call per bag that changed, none for a
    /// value staged again unchanged or a key deleted that was never there.
    pub fn flush_staged(
        &self,
        peer_relation: Option<&RelationId>,
        peer_app: &PeerApp,
        own_peer_bag: &Databag,
        unit_state: &UnitState,
    ) -> Result<(), HookToolError> {
        let (peer_app, unit_state) = (peer_app.raw(), unit_state.raw());
        let staged = std::mem::take(&mut *self.staged.borrow_mut());
        // An empty value deletes a relation key: a change only if the key is there.
        let relation_changes = |staged: Databag, current: &Databag| -> Databag {
            staged.into_iter().filter(|(k, v)| current.get(k).map_or(!v.is_empty(), |now| now != v)).collect()
        };
        let peer_changes = relation_changes(staged.peer_app, peer_app);
        if let (Some(relation), false) = (peer_relation, peer_changes.is_empty()) {
            self.juju.relation_set(relation, &peer_changes, Bag::App)?;
        }
        let own_changes = relation_changes(staged.peer_unit, own_peer_bag);
        if let (Some(relation), false) = (peer_relation, own_changes.is_empty()) {
            self.juju.relation_set(relation, &own_changes, Bag::Unit)?;
        }
        let state_changes: Databag =
            staged.unit_state.into_iter().filter(|(k, v)| unit_state.get(k) != Some(v)).collect();
        if !state_changes.is_empty() {
            self.juju.state_set(&state_changes)?;
        }
        for key in staged.unit_state_deleted.iter().filter(|k| unit_state.contains_key(*k)) {
            self.juju.state_delete(key)?;
        }
        Ok(())
    }

    /// Logs through `juju-log`; if even that fails, to stderr (which Juju
    /// also keeps, at WARNING).
    pub fn log(&self, level: LogLevel, message: &str) {
        if let Err(e) = self.juju.juju_log(level, message) {
            eprintln!("{} (juju-log failed: {e})", crate::text::one_line(message));
        }
    }
}
