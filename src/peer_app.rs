//! The peer application bag: what the leader shares with every unit. One
//! typed view; every key is named here and nowhere else. The leader writes
//! through [`crate::host::Host::stage_peer_app`], which sends only the
//! changes, in one `relation-set --app` at the end of the hook.

use crate::juju::Databag;

/// A key of the peer application bag.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PeerKey {
    /// The leader's address (leader-only backends point at it).
    LeaderIp,
    /// The database (`user@host:port`) whose schema the leader bootstrapped.
    SchemaBootstrapped,
    /// Set once the first account exists.
    AccountBootstrapped,
    /// The autoregistration setting last applied (`on`/`off`).
    Autoregistration,
    /// The Juju secret holding the shared secret token and cookie key.
    SharedSecretId,
    /// The Python charm's plain copies, adopted into the secret, then removed.
    LegacySecretToken,
    LegacyCookieEncryptionKey,
    /// The rolling upgrade's plan (JSON, see `rollout`).
    RollingUpgrade,
}

impl PeerKey {
    pub fn name(self) -> &'static str {
        match self {
            PeerKey::LeaderIp => "leader-ip",
            PeerKey::SchemaBootstrapped => "schema-bootstrapped",
            PeerKey::AccountBootstrapped => "account-bootstrapped",
            PeerKey::Autoregistration => "autoregistration",
            PeerKey::SharedSecretId => "shared-secret-id",
            PeerKey::LegacySecretToken => "secret-token",
            PeerKey::LegacyCookieEncryptionKey => "cookie-encryption-key",
            PeerKey::RollingUpgrade => "rolling-upgrade",
        }
    }
}

/// The bag as the hook read it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PeerApp(Databag);

impl PeerApp {
    pub fn new(raw: Databag) -> Self {
        Self(raw)
    }

    pub fn get(&self, key: PeerKey) -> Option<&String> {
        self.0.get(key.name())
    }

    pub fn contains(&self, key: PeerKey) -> bool {
        self.0.contains_key(key.name())
    }

    pub fn raw(&self) -> &Databag {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Persisted in the peer application bag: renaming one would make a
    /// refreshed leader forget what the application knew (or what the
    /// Python charm left there to adopt).
    #[test]
    fn peer_keys_keep_their_names() {
        let pinned = [
            (PeerKey::LeaderIp, "leader-ip"),
            (PeerKey::SchemaBootstrapped, "schema-bootstrapped"),
            (PeerKey::AccountBootstrapped, "account-bootstrapped"),
            (PeerKey::Autoregistration, "autoregistration"),
            (PeerKey::SharedSecretId, "shared-secret-id"),
            (PeerKey::LegacySecretToken, "secret-token"),
            (PeerKey::LegacyCookieEncryptionKey, "cookie-encryption-key"),
            (PeerKey::RollingUpgrade, "rolling-upgrade"),
        ];
        for (key, name) in pinned {
            // Every variant: a new one fails to compile here until pinned.
            match key {
                PeerKey::LeaderIp
                | PeerKey::SchemaBootstrapped
                | PeerKey::AccountBootstrapped
                | PeerKey::Autoregistration
                | PeerKey::SharedSecretId
                | PeerKey::LegacySecretToken
                | PeerKey::LegacyCookieEncryptionKey
                | PeerKey::RollingUpgrade => {}
            }
            assert_eq!(key.name(), name);
        }
    }
}
