//! What Juju asked for: the event behind `JUJU_DISPATCH_PATH`.
//!
//! Relation hooks are matched against the declared endpoints (endpoint names
//! contain `-`, so splitting the hook name on `-` would be wrong), and the
//! endpoint must agree with `JUJU_RELATION`.

use super::context::{JujuContext, RelationId};
use super::metadata;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RelationKind {
    Created,
    Joined,
    Changed,
    Departed,
    Broken,
}

impl RelationKind {
    const ALL: [(RelationKind, &'static str); 5] = [
        (RelationKind::Created, "created"),
        (RelationKind::Joined, "joined"),
        (RelationKind::Changed, "changed"),
        (RelationKind::Departed, "departed"),
        (RelationKind::Broken, "broken"),
    ];
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RelationEvent {
    pub kind: RelationKind,
    pub relation: RelationId,
    pub remote_app: Option<String>,
    pub remote_unit: Option<String>,
    /// The unit leaving, in `-relation-departed`; may be this very unit.
    pub departing_unit: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecretKind {
    Changed,
    Expired,
    Rotate,
    Remove,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    Install,
    Start,
    Stop,
    Remove,
    ConfigChanged,
    UpdateStatus,
    UpgradeCharm,
    LeaderElected,
    LeaderSettingsChanged,
    PostSeriesUpgrade,
    Relation(RelationEvent),
    Secret {
        kind: SecretKind,
        id: String,
        label: Option<String>,
    },
    Action(String),
    /// A hook this charm does not handle (logged, exit 0: a rollback to an
    /// older charm revision must not wedge the unit on a newer hook).
    Unknown(String),
}

impl Event {
    pub fn from_context(ctx: &JujuContext) -> Self {
        let (dir, name) = ctx.dispatch_path.rsplit_once('/').unwrap_or(("hooks", ctx.dispatch_path.as_str()));
        if dir.ends_with("actions") {
            return if metadata::ACTIONS.contains(&name) {
                Event::Action(name.to_string())
            } else {
                Event::Unknown(ctx.dispatch_path.clone())
            };
        }
        match name {
            "install" => Event::Install,
            "start" => Event::Start,
            "stop" => Event::Stop,
            "remove" => Event::Remove,
            "config-changed" => Event::ConfigChanged,
            "update-status" => Event::UpdateStatus,
            "upgrade-charm" => Event::UpgradeCharm,
            "leader-elected" => Event::LeaderElected,
            "leader-settings-changed" => Event::LeaderSettingsChanged,
            "post-series-upgrade" => Event::PostSeriesUpgrade,
            "secret-changed" | "secret-expired" | "secret-rotate" | "secret-remove" => {
                let kind = match name {
                    "secret-changed" => SecretKind::Changed,
                    "secret-expired" => SecretKind::Expired,
                    "secret-rotate" => SecretKind::Rotate,
                    _ => SecretKind::Remove,
                };
                match &ctx.secret_id {
                    Some(id) => Event::Secret { kind, id: id.clone(), label: ctx.secret_label.clone() },
                    None => Event::Unknown(ctx.dispatch_path.clone()),
                }
            }
            _ => relation_event(ctx, name).unwrap_or_else(|| Event::Unknown(ctx.dispatch_path.clone())),
        }
    }
}

fn relation_event(ctx: &JujuContext, hook: &str) -> Option<Event> {
    let (endpoint, kind) = metadata::ENDPOINTS.iter().find_map(|endpoint| {
        let rest = hook.strip_prefix(endpoint.name)?.strip_prefix("-relation-")?;
        RelationKind::ALL.iter().find(|(_, suffix)| *suffix == rest).map(|(kind, _)| (endpoint.name, *kind))
    })?;
    // The environment must agree with the hook name; otherwise we were not
    // run by Juju the way we think, and guessing would act on the wrong data.
    let relation = ctx.relation_id.clone().filter(|r| r.endpoint == endpoint)?;
    if ctx.relation.as_deref().is_some_and(|r| r != endpoint) {
        return None;
    }
    Some(Event::Relation(RelationEvent {
        kind,
        relation,
        remote_app: ctx.remote_app.clone(),
        remote_unit: ctx.remote_unit.clone(),
        departing_unit: ctx.departing_unit.clone(),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn ctx(dispatch: &str, extra: &[(&str, &str)]) -> JujuContext {
        let mut env: HashMap<String, String> = [
            ("JUJU_DISPATCH_PATH", dispatch),
            ("JUJU_UNIT_NAME", "landscape-server/0"),
            ("JUJU_MODEL_NAME", "m"),
            ("JUJU_MODEL_UUID", "u"),
            ("JUJU_VERSION", "3.6.8"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        env.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        JujuContext::from_env(&env).unwrap()
    }

    #[test]
    fn hyphenated_endpoints_resolve_to_the_declared_endpoint() {
        let event = Event::from_context(&ctx(
            "hooks/ubuntu-installer-attach-ingress-relation-changed",
            &[
                ("JUJU_RELATION", "ubuntu-installer-attach-ingress"),
                ("JUJU_RELATION_ID", "ubuntu-installer-attach-ingress:7"),
                ("JUJU_REMOTE_APP", "uia-ingress"),
                ("JUJU_REMOTE_UNIT", ""),
            ],
        ));
        let Event::Relation(rel) = event else { panic!("{event:?}") };
        assert_eq!(rel.kind, RelationKind::Changed);
        assert_eq!(rel.relation.to_string(), "ubuntu-installer-attach-ingress:7");
        assert_eq!(rel.remote_unit, None);
    }

    #[test]
    fn undeclared_endpoints_and_mismatched_environments_are_unknown() {
        assert!(matches!(
            Event::from_context(&ctx("hooks/certificates-relation-joined", &[("JUJU_RELATION_ID", "certificates:1")])),
            Event::Unknown(_)
        ));
        assert!(matches!(
            Event::from_context(&ctx("hooks/replicas-relation-joined", &[("JUJU_RELATION_ID", "database:1")])),
            Event::Unknown(_)
        ));
        assert!(matches!(Event::from_context(&ctx("hooks/replicas-relation-exploded", &[])), Event::Unknown(_)));
    }

    #[test]
    fn actions_and_plain_hooks() {
        assert_eq!(
            Event::from_context(&ctx("actions/get-certificates", &[])),
            Event::Action("get-certificates".into())
        );
        assert!(matches!(Event::from_context(&ctx("actions/no-such-action", &[])), Event::Unknown(_)));
        assert_eq!(Event::from_context(&ctx("hooks/leader-elected", &[])), Event::LeaderElected);
    }
}
