//! Unit status: handlers add statuses, the highest priority wins
//! (blocked > maintenance > waiting > active, first added wins a tie), and it
//! is set once at the end of the hook. Nothing is remembered between hooks, so
//! a status can never stick after its cause is gone.

use crate::juju::StatusName;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Status {
    pub name: StatusName,
    pub message: String,
}

impl Status {
    pub fn active(message: impl Into<String>) -> Self {
        Self { name: StatusName::Active, message: message.into() }
    }
    pub fn waiting(message: impl Into<String>) -> Self {
        Self { name: StatusName::Waiting, message: message.into() }
    }
    pub fn maintenance(message: impl Into<String>) -> Self {
        Self { name: StatusName::Maintenance, message: message.into() }
    }
    pub fn blocked(message: impl Into<String>) -> Self {
        Self { name: StatusName::Blocked, message: message.into() }
    }
    /// Blocked: the operator must add these relations (Juju's convention for
    /// an absent required relation).
    pub fn missing_relations(endpoints: &[&str]) -> Self {
        Self::blocked(format!("{MISSING_RELATIONS}{}", endpoints.join(", ")))
    }
    /// Whether this Blocked status only asks for relations: nothing but a
    /// relation hook can change it.
    pub fn only_missing_relations(name: &str, message: &str) -> bool {
        name == StatusName::Blocked.as_str() && message.starts_with(MISSING_RELATIONS)
    }
}

const MISSING_RELATIONS: &str = "Missing relations: ";

pub const READY_MESSAGE: &str = "Unit is ready";

#[derive(Debug, Default)]
pub struct StatusCollector {
    statuses: Vec<Status>,
}

impl StatusCollector {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn add(&mut self, status: Status) {
        self.statuses.push(status);
    }

    pub fn statuses(&self) -> &[Status] {
        &self.statuses
    }

    /// The status to show: the highest priority one, or Active "Unit is ready".
    pub fn resolve(&self) -> Status {
        let rank = |s: &Status| match s.name {
            StatusName::Blocked => 3,
            StatusName::Maintenance => 2,
            StatusName::Waiting => 1,
            StatusName::Active => 0,
        };
        let mut best: Option<&Status> = None;
        for status in &self.statuses {
            if best.is_none_or(|b| rank(status) > rank(b)) {
                best = Some(status);
            }
        }
        best.cloned().unwrap_or_else(|| Status::active(READY_MESSAGE))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn highest_priority_wins_and_first_wins_ties() {
        let mut c = StatusCollector::new();
        assert_eq!(c.resolve(), Status::active(READY_MESSAGE));
        c.add(Status::waiting("w1"));
        c.add(Status::maintenance("m"));
        c.add(Status::blocked("b1"));
        c.add(Status::blocked("b2"));
        c.add(Status::waiting("w2"));
        assert_eq!(c.resolve(), Status::blocked("b1"));
    }

    #[test]
    fn maintenance_beats_waiting() {
        let mut c = StatusCollector::new();
        c.add(Status::waiting("w"));
        c.add(Status::maintenance("m"));
        assert_eq!(c.resolve(), Status::maintenance("m"));
    }
}
