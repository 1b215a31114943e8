//! The rolling upgrade: Landscape's packages upgraded on one unit at a time,
//! each drained first, through the peer relation.
//!
//! The leader's `rolling-upgrade` action writes the plan in the peer
//! application bag (`rolling-upgrade`: its id, the order, leader last, the
//! units done, a failure; with `migrate-schema`, the leader first and named
//! as the unit that migrates the schema in its turn, between its upgrade and
//! its start). Then every hook of every unit takes one step:
//!
//! - the unit whose turn it is starts a drain (as `pause` does) and records
//!   the rollout's id in unit state; once the drain stopped its services, it
//!   upgrades the packages (the `upgrade` action's PPA, holds and conffile
//!   policy), starts the services again and says so in its own peer bag
//!   (`upgraded`: the id), or says why not (`upgrade-failed`) and stays
//!   drained and stopped;
//! - the leader moves what the units said into the plan (`done`, `failed`),
//!   which gives the next unit its turn (a new leader carries on from the
//!   plan).
//!
//! A failure stops the rollout with the unit drained: the status says why.

use serde::{Deserialize, Serialize};

use crate::juju::Databag;
use crate::status::Status;

/// In the peer application bag: the plan (JSON).
pub const PLAN_KEY: &str = "rolling-upgrade";
/// In a unit's own peer bag: the id of the rollout it finished its turn in.
pub const UPGRADED_KEY: &str = "upgraded";
/// In a unit's own peer bag: `<id>: <why>` when its upgrade failed.
pub const FAILED_KEY: &str = "upgrade-failed";

/// The plan, as the leader keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Plan {
    pub id: String,
    /// Every unit, one at a time, the leader last.
    pub order: Vec<String>,
    #[serde(default)]
    pub done: Vec<String>,
    /// `<unit>: <why>` once a unit's upgrade failed: the rollout stops.
    #[serde(default)]
    pub failed: Option<String>,
    /// The unit that migrates the schema in its turn, right after its
    /// packages are upgraded and before its services start: the leader the
    /// plan was made on, first in the order.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub migrate_schema_on: Option<String>,
}

impl Plan {
    /// A new plan over `units` with `leader` last; or first, migrating the
    /// schema in its turn, when `migrate_schema`: the other units then run
    /// the old version while the schema changes, which is what a migration
    /// that allows connections is made for.
    pub fn new(id: String, leader: &str, mut units: Vec<String>, migrate_schema: bool) -> Self {
        units.retain(|u| u != leader);
        units.sort();
        if migrate_schema {
            units.insert(0, leader.to_string());
        } else {
            units.push(leader.to_string());
        }
        let migrate_schema_on = migrate_schema.then(|| leader.to_string());
        Plan { id, order: units, done: vec![], failed: None, migrate_schema_on }
    }

    /// Whether `unit` migrates the schema in its turn.
    pub fn migrates_schema(&self, unit: &str) -> bool {
        self.migrate_schema_on.as_deref() == Some(unit)
    }

    /// The plan in the bag, if there is one that parses.
    pub fn read(app_bag: &Databag) -> Option<Plan> {
        app_bag.get(PLAN_KEY).and_then(|text| Plan::parse(text))
    }

    pub fn parse(text: &str) -> Option<Plan> {
        serde_json::from_str(text).ok()
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    /// The unit whose turn it is, while the rollout runs.
    pub fn current(&self) -> Option<&str> {
        if self.failed.is_some() {
            return None;
        }
        self.order.iter().find(|u| !self.done.contains(u)).map(String::as_str)
    }

    pub fn running(&self) -> bool {
        self.current().is_some()
    }
}

/// What a unit's own peer bag says of the rollout `id`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Said {
    Nothing,
    Upgraded,
    Failed(String),
}

pub fn said(bag: &Databag, id: &str) -> Said {
    if bag.get(UPGRADED_KEY).map(String::as_str) == Some(id) {
        return Said::Upgraded;
    }
    match bag.get(FAILED_KEY).and_then(|v| v.strip_prefix(&format!("{id}: "))) {
        Some(why) => Said::Failed(crate::text::one_line(why)),
        None => Said::Nothing,
    }
}

/// The leader's update of the plan from what the units said (`said`: each
/// unit's name and what it said); None when nothing changed.
pub fn advance(plan: &Plan, said: &[(String, Said)]) -> Option<Plan> {
    let mut next = plan.clone();
    for (unit, what) in said {
        match what {
            Said::Upgraded if plan.order.contains(unit) && !next.done.contains(unit) => next.done.push(unit.clone()),
            Said::Failed(why) if next.failed.is_none() && plan.current() == Some(unit.as_str()) => {
                next.failed = Some(format!("{unit}: {why}"));
            }
            _ => {}
        }
    }
    (next != *plan).then_some(next)
}

/// This unit's step in its turn.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Turn {
    /// Not this unit's turn, or it already said how it went.
    None,
    /// Start draining (its services stop once the peers drained it).
    Drain,
    /// Drained and stopped: upgrade, then start again.
    Upgrade,
    /// Draining: wait for the drain to stop the services.
    Wait,
}

/// What this unit does now: `step_of` is the rollout id in its unit state
/// (its turn started), `paused` whether its services are stopped, `said`
/// what its own bag says already.
pub fn turn(plan: &Plan, unit: &str, step_of: Option<&str>, paused: bool, said: &Said) -> Turn {
    if plan.current() != Some(unit) || *said != Said::Nothing {
        return Turn::None;
    }
    match (step_of == Some(plan.id.as_str()), paused) {
        (false, _) => Turn::Drain,
        (true, true) => Turn::Upgrade,
        (true, false) => Turn::Wait,
    }
}

/// The status while a rollout runs or after it failed (`own`: what this
/// unit said of its turn, before the leader has read it).
pub fn status(plan: &Plan, unit: &str, own: &Said) -> Option<Status> {
    if let Some(failed) = &plan.failed {
        return Some(Status::blocked(format!("Rolling upgrade stopped: {failed}")));
    }
    if let (Some(current), Said::Failed(why)) = (plan.current(), own) {
        if current == unit {
            return Some(Status::blocked(format!("Rolling upgrade stopped: {unit}: {why}")));
        }
    }
    let current = plan.current()?;
    let position = plan.done.len() + 1;
    let total = plan.order.len();
    Some(Status::maintenance(if current == unit {
        format!("Rolling upgrade {position}/{total}: this unit (drained, then upgraded)")
    } else {
        format!("Rolling upgrade {position}/{total}: {current}")
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan() -> Plan {
        Plan::new("7".into(), "app/0", vec!["app/2".into(), "app/0".into(), "app/1".into()], false)
    }

    #[test]
    fn one_unit_at_a_time_the_leader_last() {
        let mut plan = plan();
        assert_eq!(plan.order, ["app/1", "app/2", "app/0"]);
        assert_eq!(plan.current(), Some("app/1"));
        assert_eq!(turn(&plan, "app/2", None, false, &Said::Nothing), Turn::None);
        assert_eq!(turn(&plan, "app/1", None, false, &Said::Nothing), Turn::Drain);
        assert_eq!(turn(&plan, "app/1", Some("7"), false, &Said::Nothing), Turn::Wait);
        assert_eq!(turn(&plan, "app/1", Some("7"), true, &Said::Nothing), Turn::Upgrade);
        assert_eq!(turn(&plan, "app/1", Some("6"), true, &Said::Nothing), Turn::Drain, "an old rollout's step");
        // app/2 saying it is done early counts; app/1's turn goes on.
        plan = advance(&plan, &[("app/1".into(), Said::Upgraded)]).unwrap();
        assert_eq!(plan.current(), Some("app/2"));
        assert_eq!(advance(&plan, &[("app/1".into(), Said::Upgraded)]), None, "nothing new");
        plan = advance(&plan, &[("app/2".into(), Said::Upgraded), ("app/0".into(), Said::Upgraded)]).unwrap();
        assert!(!plan.running());
        assert_eq!(status(&plan, "app/0", &Said::Nothing), None);
    }

    #[test]
    fn with_a_schema_migration_the_leader_goes_first_and_migrates() {
        let plan = Plan::new("8".into(), "app/0", vec!["app/2".into(), "app/0".into(), "app/1".into()], true);
        assert_eq!(plan.order, ["app/0", "app/1", "app/2"]);
        assert!(plan.migrates_schema("app/0") && !plan.migrates_schema("app/1"));
        let text = plan.to_json();
        assert!(text.ends_with(r#""migrate_schema_on":"app/0"}"#), "{text}");
        assert_eq!(Plan::parse(&text), Some(plan));
    }

    #[test]
    fn a_failure_stops_the_rollout_and_says_why() {
        let plan = plan();
        // Only the current unit's failure counts.
        assert_eq!(advance(&plan, &[("app/2".into(), Said::Failed("x".into()))]), None);
        let failed = advance(&plan, &[("app/1".into(), Said::Failed("apt-get install failed".into()))]).unwrap();
        assert_eq!(failed.current(), None);
        assert_eq!(
            status(&failed, "app/2", &Said::Nothing),
            Some(Status::blocked("Rolling upgrade stopped: app/1: apt-get install failed"))
        );
        let bag = Databag::from([(FAILED_KEY.to_string(), "7: boom\nsecond line".to_string())]);
        assert_eq!(said(&bag, "7"), Said::Failed("boom\\nsecond line".into()));
        assert_eq!(said(&bag, "8"), Said::Nothing);
    }

    #[test]
    fn the_keys_and_the_plan_are_a_data_format() {
        assert_eq!((PLAN_KEY, UPGRADED_KEY, FAILED_KEY), ("rolling-upgrade", "upgraded", "upgrade-failed"));
        let text = r#"{"id":"7","order":["app/1","app/0"],"done":["app/1"],"failed":null}"#;
        let bag = Databag::from([(PLAN_KEY.to_string(), text.to_string())]);
        let plan = Plan::read(&bag).unwrap();
        assert_eq!(plan.to_json(), text);
        assert_eq!(plan.current(), Some("app/0"));
    }
}
