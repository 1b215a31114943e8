//! What Landscape still waits on or is blocked by: the database, the two
//! AMQP relations, the certificate (the TLS part's outcome, not the disk)
//! and the leader's shared data.
//!
//! Juju's convention: a required relation that is absent needs the operator
//! (Blocked, "Missing relations: …"); one that is related but not ready yet
//! needs time (Waiting, `Waiting for <endpoint>: <what it lacks>`).

use super::LandscapeError;
use super::amqp::{self, AmqpRelation, AmqpState, Broker};
use super::database::{DbConnection, DbState};
use crate::host::Host;
use crate::juju::LogLevel;
use crate::juju::metadata::{DATABASE_ENDPOINT, TLS_ENDPOINT};
use crate::status::{Status, StatusCollector};

/// What is missing and what is not ready, gathered over the hook.
#[derive(Debug, Default)]
pub struct Readiness {
    missing: Vec<&'static str>,
    /// `endpoint (what it lacks)`, or a bare endpoint.
    waiting: Vec<String>,
}

impl Readiness {
    pub fn wait(&mut self, what: String) {
        self.waiting.push(what);
    }

    /// Adds the Blocked and Waiting statuses; returns whether nothing is
    /// missing or pending.
    pub fn report(&self, status: &mut StatusCollector) -> bool {
        if !self.missing.is_empty() {
            status.add(Status::missing_relations(&self.missing));
        }
        if !self.waiting.is_empty() {
            status.add(Status::waiting(waiting_message(&self.waiting)));
        }
        self.missing.is_empty() && self.waiting.is_empty()
    }

    /// The database, if ready; unusable settings block (through `status`).
    pub fn database<'a>(
        &mut self,
        host: &Host<'_>,
        state: &'a DbState,
        status: &mut StatusCollector,
    ) -> Option<&'a DbConnection> {
        match state {
            DbState::Ready(conn) => return Some(conn),
            DbState::Missing => self.missing.push(DATABASE_ENDPOINT),
            DbState::Incomplete(what) => self.waiting.push(what.clone()),
            DbState::Invalid(problem) => {
                // Always explained (Blocked): nothing comes back.
                let _ = status.report(host, LandscapeError::UnusableDatabase(problem.clone()));
            }
        }
        None
    }

    /// The one broker both AMQP relations agree on, if they do.
    pub fn broker(
        &mut self,
        host: &Host<'_>,
        relations: &[Option<AmqpRelation>; 2],
        status: &mut StatusCollector,
    ) -> Option<Broker> {
        let states: Vec<AmqpState> =
            relations.iter().map(|r| r.as_ref().map_or(AmqpState::Missing, |r| r.state())).collect();
        let problems = match amqp::broker(&states[0], &states[1]) {
            Ok(broker) => return Some(broker),
            Err(problems) => problems,
        };
        if states.iter().all(|s| matches!(s, AmqpState::Ready(_))) {
            let _ = status.report(host, LandscapeError::Brokers(problems.join("; ")));
        }
        for (endpoint, state) in [amqp::INBOUND, amqp::OUTBOUND].iter().zip(&states) {
            match state {
                AmqpState::Missing => self.missing.push(endpoint.name),
                AmqpState::Invalid(why) => {
                    host.log(LogLevel::Error, why);
                    self.waiting.push(why.clone());
                }
                AmqpState::Incomplete(why) => self.waiting.push(why.clone()),
                AmqpState::Ready(_) => {}
            }
        }
        None
    }

    /// The certificate: HAProxy serves TLS only once it is installed.
    pub fn certificate(&mut self, related: bool, installed: bool) {
        match (related, installed) {
            (false, _) => self.missing.push(TLS_ENDPOINT),
            (true, false) => self.waiting.push(format!("{TLS_ENDPOINT} (no certificate yet)")),
            (true, true) => {}
        }
    }
}

/// "Waiting for inbound-amqp: no password yet; database: ..." from entries
/// written as `endpoint (what it lacks)` or a bare `endpoint`.
fn waiting_message(entries: &[String]) -> String {
    let parts: Vec<String> = entries
        .iter()
        .map(|entry| match entry.split_once(" (").and_then(|(name, rest)| Some((name, rest.strip_suffix(')')?))) {
            Some((name, why)) => format!("{name}: {why}"),
            None => entry.clone(),
        })
        .collect();
    format!("Waiting for {}", parts.join("; "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waiting_names_each_relation_and_what_it_lacks() {
        let entries = [
            "inbound-amqp (no password yet)".to_string(),
            "database (the leader has not bootstrapped the schema yet)".to_string(),
        ];
        assert_eq!(
            waiting_message(&entries),
            "Waiting for inbound-amqp: no password yet; database: the leader has not bootstrapped the schema yet"
        );
        assert_eq!(waiting_message(&["replicas".to_string()]), "Waiting for replicas");
    }

    #[test]
    fn absent_blocks_and_pending_waits() {
        let mut readiness = Readiness::default();
        readiness.certificate(false, false);
        readiness.wait("inbound-amqp (no password yet)".into());
        let mut status = StatusCollector::new();
        assert!(!readiness.report(&mut status));
        assert_eq!(status.resolve(), Status::blocked("Missing relations: load-balancer-certificates"));
        let mut readiness = Readiness::default();
        readiness.certificate(true, true);
        assert!(readiness.report(&mut StatusCollector::new()));
    }
}
