//! Unit status: parts add statuses, the highest priority wins (blocked >
//! maintenance > waiting > active, first added wins a tie), and it is set
//! once at the end of the hook. Nothing is remembered between hooks, so a
//! status can never stick after its cause is gone.
//!
//! Failures map to statuses through one rule: every error type says what it
//! means for the unit ([`Explain`], implemented beside the type), and
//! [`StatusCollector::absorb`] turns the ones that explain themselves into a
//! status while the hook goes on; the rest fail the hook so that Juju
//! retries it.

use crate::host::Host;
use crate::juju::{LogLevel, StatusName};

/// What a failure means for the unit.
pub trait Explain: std::fmt::Display {
    /// The status that tells the operator (the hook then finishes normally:
    /// retrying would not help until something changes), or `None` for a
    /// fault Juju should retry (a hook tool, a command or the filesystem
    /// failed).
    fn status(&self) -> Option<Status>;
}

/// The first line of `text`, at most 200 characters: what a status shows of
/// a longer message (the log keeps all of it).
pub fn first_line(text: &dyn std::fmt::Display) -> String {
    let text = text.to_string();
    text.lines().next().unwrap_or_default().chars().take(200).collect()
}

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

    /// A failure that explains itself is logged and becomes a status (the
    /// hook goes on, `Ok(None)`); any other stays an error.
    pub fn absorb<T, E: Explain>(&mut self, host: &Host<'_>, result: Result<T, E>) -> Result<Option<T>, E> {
        match result {
            Ok(value) => Ok(Some(value)),
            Err(err) => self.report(host, err).map(|()| None),
        }
    }

    /// A failure found rather than returned: logged, and its status added
    /// when it explains itself; otherwise handed back.
    pub fn report<E: Explain>(&mut self, host: &Host<'_>, err: E) -> Result<(), E> {
        let Some(status) = err.status() else { return Err(err) };
        host.log(LogLevel::Error, &err.to_string());
        self.add(status);
        Ok(())
    }

    pub fn statuses(&self) -> &[Status] {
        &self.statuses
    }

    /// How many statuses were added so far (a mark for [`Self::rank_first`]).
    pub fn mark(&self) -> usize {
        self.statuses.len()
    }

    /// Puts the statuses added since mark `later` before those added
    /// between marks `earlier` and `later`, as if their part had run first:
    /// the first status of a rank wins.
    pub fn rank_first(&mut self, earlier: usize, later: usize) {
        let later = later.clamp(earlier, self.statuses.len());
        if let Some(tail) = self.statuses.get_mut(earlier..) {
            tail.rotate_left(later - earlier);
        }
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

    #[test]
    fn a_part_run_later_can_rank_first() {
        let mut c = StatusCollector::new();
        c.add(Status::waiting("tls"));
        let earlier = c.mark();
        c.add(Status::waiting("landscape"));
        let later = c.mark();
        c.add(Status::waiting("haproxy"));
        c.rank_first(earlier, later);
        assert_eq!(c.resolve(), Status::waiting("tls"));
        let names: Vec<&str> = c.statuses().iter().map(|s| s.message.as_str()).collect();
        assert_eq!(names, ["tls", "haproxy", "landscape"]);
    }
}
