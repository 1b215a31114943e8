//! What a charm writes to a relation bag it shares with the other side.

use super::Databag;

/// The relation-set body that turns `current` into `wanted` for our keys:
/// changed values, and `""` (delete) for our keys no longer wanted. Keys we
/// do not own (Juju's `private-address`, ...) are left alone.
pub fn changes(current: &Databag, wanted: &Databag, keys: &[&str]) -> Databag {
    let mut changes = Databag::new();
    for key in keys {
        match (current.get(*key), wanted.get(*key)) {
            (Some(old), Some(new)) if old == new => {}
            (_, Some(new)) => {
                changes.insert(key.to_string(), new.clone());
            }
            (Some(_), None) => {
                changes.insert(key.to_string(), String::new());
            }
            (None, None) => {}
        }
    }
    changes
}
