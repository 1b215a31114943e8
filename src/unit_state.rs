//! Unit state (`state-get`): the charm's own bookkeeping between hooks, one
//! typed view of the one bag. Every key is named here and nowhere else; the
//! parts read through [`UnitState`] and write through
//! [`crate::host::Host::stage_state`], which sends only the changes, in one
//! `state-set` at the end of the hook.

use crate::juju::Databag;

/// A unit-state key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StateKey {
    /// Set by the `pause` action, removed by `resume`.
    Paused,
    /// Unix seconds when `pause` asked the peers to drain this unit; removed
    /// once the services are stopped (or `resume` cancels).
    DrainStarted,
    /// Unix seconds when this unit asked the peers to drain it so that it
    /// can restart its services for a new configuration; removed once they
    /// restarted (or the restart is no longer owed).
    RestartDrainStarted,
    /// The id of the rolling upgrade whose turn this unit is taking.
    RolloutStep,
    /// Digest of the files Landscape's services read, at their last restart.
    ServicesDigest,
    /// The APT source this unit added.
    LandscapePpa,
    /// `leader` or `follower`: how the leader-only services were last set.
    LeaderOnlyServices,
    /// Unix seconds when this unit, no longer the leader, began handing its
    /// leader-only services over; removed once it stopped them.
    LeaderHandoverStarted,
    /// `<inputs digest> <live config digest>` of the last HAProxy config applied.
    HaproxyApplied,
    /// What the last full reconcile found (see `steady`).
    LastReconcile,
    /// Digest of the deployment-mode drop-ins systemd last reloaded.
    DeploymentModeDropins,
    /// The channel the landscape-outbox snap was last installed or refreshed from.
    OutboxChannel,
    /// Digest of the postfix settings last reloaded.
    SmtpApplied,
    /// Present while the smtp relation's keys are in main.cf.
    SmtpRelationKeys,
    /// Digest of the secret token last set in debarchive relation N's secret.
    DebarchiveToken(u32),
    /// Digest of the stores password last set in task-handler relation N's secret.
    TaskHandlerPassword(u32),
    /// `<address> <secret> <revision>` of the task handler the outbox was last pointed at.
    TaskHandlerOutbox,
    /// The last URL an ingress provider gave on this endpoint (logged once).
    IngressUrl(String),
    /// haproxy-route relation `<endpoint>:<id>`: the provider's side as last
    /// read and this unit's bags as last written (JSON).
    HaproxyRoute(String),
}

const INGRESS_URL_PREFIX: &str = "ingress-url.";
const HAPROXY_ROUTE_PREFIX: &str = "haproxy-route.";

impl StateKey {
    pub fn name(&self) -> String {
        match self {
            StateKey::Paused => "paused".into(),
            StateKey::DrainStarted => "drain-started".into(),
            StateKey::RestartDrainStarted => "restart-drain-started".into(),
            StateKey::RolloutStep => "rollout-step".into(),
            StateKey::ServicesDigest => "services-digest".into(),
            StateKey::LandscapePpa => "landscape-ppa".into(),
            StateKey::LeaderOnlyServices => "leader-only-services".into(),
            StateKey::LeaderHandoverStarted => "leader-handover-started".into(),
            StateKey::HaproxyApplied => "haproxy-applied".into(),
            StateKey::LastReconcile => "last-reconcile".into(),
            StateKey::DeploymentModeDropins => "deployment-mode-dropins".into(),
            StateKey::OutboxChannel => "outbox-channel".into(),
            StateKey::SmtpApplied => "smtp-applied".into(),
            StateKey::SmtpRelationKeys => "smtp-relation-keys".into(),
            StateKey::DebarchiveToken(id) => format!("debarchive-token.{id}"),
            StateKey::TaskHandlerPassword(id) => format!("task-handler-password.{id}"),
            StateKey::TaskHandlerOutbox => "task-handler-outbox".into(),
            StateKey::IngressUrl(endpoint) => format!("{INGRESS_URL_PREFIX}{endpoint}"),
            StateKey::HaproxyRoute(relation) => format!("{HAPROXY_ROUTE_PREFIX}{relation}"),
        }
    }
}

/// The bag as the hook read it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UnitState(Databag);

impl UnitState {
    pub fn new(raw: Databag) -> Self {
        Self(raw)
    }

    pub fn get(&self, key: &StateKey) -> Option<&String> {
        self.0.get(&key.name())
    }

    pub fn contains(&self, key: &StateKey) -> bool {
        self.0.contains_key(&key.name())
    }

    /// The endpoints with an ingress URL on record.
    pub fn ingress_url_endpoints(&self) -> Vec<String> {
        self.0.keys().filter_map(|k| k.strip_prefix(INGRESS_URL_PREFIX)).map(str::to_string).collect()
    }

    /// The haproxy-route relations (`<endpoint>:<id>`) with a record.
    pub fn haproxy_route_relations(&self) -> Vec<String> {
        self.0.keys().filter_map(|k| k.strip_prefix(HAPROXY_ROUTE_PREFIX)).map(str::to_string).collect()
    }

    /// What an action changed before its reconcile (Juju commits its own
    /// writes only when the action ends).
    pub fn adjust(&mut self, key: &StateKey, value: Option<&str>) {
        match value {
            Some(value) => self.0.insert(key.name(), value.to_string()),
            None => self.0.remove(&key.name()),
        };
    }

    pub fn raw(&self) -> &Databag {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every key and the name earlier releases wrote for it.
    fn pinned() -> Vec<(StateKey, &'static str)> {
        vec![
            (StateKey::Paused, "paused"),
            (StateKey::DrainStarted, "drain-started"),
            (StateKey::RestartDrainStarted, "restart-drain-started"),
            (StateKey::RolloutStep, "rollout-step"),
            (StateKey::ServicesDigest, "services-digest"),
            (StateKey::LandscapePpa, "landscape-ppa"),
            (StateKey::LeaderOnlyServices, "leader-only-services"),
            (StateKey::LeaderHandoverStarted, "leader-handover-started"),
            (StateKey::HaproxyApplied, "haproxy-applied"),
            (StateKey::LastReconcile, "last-reconcile"),
            (StateKey::DeploymentModeDropins, "deployment-mode-dropins"),
            (StateKey::OutboxChannel, "outbox-channel"),
            (StateKey::SmtpApplied, "smtp-applied"),
            (StateKey::SmtpRelationKeys, "smtp-relation-keys"),
            (StateKey::DebarchiveToken(70), "debarchive-token.70"),
            (StateKey::TaskHandlerPassword(80), "task-handler-password.80"),
            (StateKey::TaskHandlerOutbox, "task-handler-outbox"),
            (StateKey::IngressUrl("http-ingress".into()), "ingress-url.http-ingress"),
            (StateKey::HaproxyRoute("api-haproxy-route:43".into()), "haproxy-route.api-haproxy-route:43"),
        ]
    }

    /// Every variant: a new one fails to compile here until pinned.
    fn is_a_variant(key: &StateKey) -> bool {
        match key {
            StateKey::Paused
            | StateKey::DrainStarted
            | StateKey::RestartDrainStarted
            | StateKey::RolloutStep
            | StateKey::ServicesDigest
            | StateKey::LandscapePpa
            | StateKey::LeaderOnlyServices
            | StateKey::LeaderHandoverStarted
            | StateKey::HaproxyApplied
            | StateKey::LastReconcile
            | StateKey::DeploymentModeDropins
            | StateKey::OutboxChannel
            | StateKey::SmtpApplied
            | StateKey::SmtpRelationKeys
            | StateKey::DebarchiveToken(_)
            | StateKey::TaskHandlerPassword(_)
            | StateKey::TaskHandlerOutbox
            | StateKey::IngressUrl(_)
            | StateKey::HaproxyRoute(_) => true,
        }
    }

    #[test]
    fn keys_keep_the_names_earlier_releases_wrote() {
        // Persisted: renaming one would make a refreshed charm forget what it
        // knew (that it owns postfix's relay keys, which secrets it set).
        let pinned = pinned();
        for (key, name) in &pinned {
            assert!(is_a_variant(key));
            assert_eq!(key.name(), *name);
        }
        assert_eq!(pinned.len(), 19);
    }
}
