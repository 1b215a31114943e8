//! The two `rabbitmq` relations: `inbound-amqp` (vhost `landscape`) and
//! `outbound-amqp` (vhost `landscape-hostagent`).
//!
//! Every unit asks for user `landscape` on its vhost in its own unit bag. The
//! RabbitMQ leader answers in its unit bag with `password` and `hostname`
//! (and the other rabbit units copy it). Landscape has a single `[broker]`
//! section, so both relations must reach the same broker with one password.

use crate::juju::{Bag, Databag, HookToolError, HookTools, RelationId};
use crate::text::{is_host, is_token};

pub const AMQP_USER: &str = "landscape";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AmqpEndpoint {
    pub name: &'static str,
    pub vhost: &'static str,
}

pub const INBOUND: AmqpEndpoint = AmqpEndpoint { name: "inbound-amqp", vhost: "landscape" };
pub const OUTBOUND: AmqpEndpoint = AmqpEndpoint { name: "outbound-amqp", vhost: "landscape-hostagent" };

/// One AMQP relation as this hook sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AmqpRelation {
    pub endpoint: AmqpEndpoint,
    pub relation: RelationId,
    pub own_unit: Databag,
    /// Remote units and their bags, sorted by unit name.
    pub remote_units: Vec<(String, Databag)>,
}

/// What the broker section needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Broker {
    /// Comma-separated broker addresses, sorted.
    pub host: String,
    pub password: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AmqpState {
    Missing,
    Incomplete(String),
    Invalid(String),
    Ready(Broker),
}

impl AmqpRelation {
    /// The keys this unit must (re)write in its own bag.
    pub fn request_changes(&self) -> Databag {
        [("username", AMQP_USER), ("vhost", self.endpoint.vhost)]
            .iter()
            .filter(|(k, v)| self.own_unit.get(*k).map(String::as_str) != Some(*v))
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    /// The broker this relation offers once RabbitMQ has answered.
    pub fn state(&self) -> AmqpState {
        let name = self.endpoint.name;
        let mut hosts = vec![];
        let mut password: Option<&String> = None;
        for (unit, bag) in &self.remote_units {
            let Some(pw) = bag.get("password") else { continue };
            if !is_token(pw) {
                return AmqpState::Invalid(format!(
                    "{name}: {unit} published a password with spaces or control characters"
                ));
            }
            if password.is_some_and(|p| p != pw) {
                return AmqpState::Invalid(format!("{name}: the RabbitMQ units published different passwords"));
            }
            password = Some(pw);
            // `hostname` may be a list in old rabbit charms; private-address is Juju's own.
            let host = bag.get("hostname").or(bag.get("private-address"));
            let Some(host) = host else { continue };
            for one in host.split(',').map(str::trim).filter(|h| !h.is_empty()) {
                if !is_host(one) {
                    return AmqpState::Invalid(format!(
                        "{name}: {unit} hostname {} is not an IP address or a host name",
                        crate::text::quoted(one)
                    ));
                }
                hosts.push(one.to_string());
            }
        }
        match password {
            None if self.remote_units.is_empty() => AmqpState::Incomplete(format!("{name} (no RabbitMQ unit yet)")),
            None => AmqpState::Incomplete(format!("{name} (no password yet)")),
            Some(_) if hosts.is_empty() => AmqpState::Incomplete(format!("{name} (no broker address yet)")),
            Some(password) => {
                hosts.sort();
                hosts.dedup();
                AmqpState::Ready(Broker { host: hosts.join(","), password: password.clone() })
            }
        }
    }
}

/// Reads one AMQP endpoint (ignoring a relation torn down in this hook).
pub fn observe(
    juju: &HookTools<'_>,
    endpoint: AmqpEndpoint,
    unit_name: &str,
    broken: Option<&RelationId>,
) -> Result<Option<AmqpRelation>, HookToolError> {
    let Some(relation) = juju.live_relation(endpoint.name, broken)? else { return Ok(None) };
    let own_unit = juju.relation_get_or_empty(&relation, unit_name, Bag::Unit)?;
    let mut remote_units = vec![];
    let mut units = juju.relation_list(&relation)?;
    units.sort();
    for unit in units {
        let bag = juju.relation_get_or_empty(&relation, &unit, Bag::Unit)?;
        remote_units.push((unit, bag));
    }
    Ok(Some(AmqpRelation { endpoint, relation, own_unit, remote_units }))
}

/// The one broker both relations agree on.
pub fn broker(inbound: &AmqpState, outbound: &AmqpState) -> Result<Broker, Vec<String>> {
    match (inbound, outbound) {
        (AmqpState::Ready(a), AmqpState::Ready(b)) if a == b => Ok(a.clone()),
        (AmqpState::Ready(a), AmqpState::Ready(b)) if a.host == b.host => Err(vec![format!(
            "inbound-amqp and outbound-amqp give different passwords for the same broker ({})",
            a.host
        )]),
        (AmqpState::Ready(a), AmqpState::Ready(b)) => Err(vec![format!(
            "inbound-amqp and outbound-amqp reach different brokers ({} and {}); relate both to the same RabbitMQ",
            a.host, b.host
        )]),
        _ => {
            let mut waiting = vec![];
            for (endpoint, state) in [(INBOUND, inbound), (OUTBOUND, outbound)] {
                match state {
                    AmqpState::Missing => waiting.push(endpoint.name.to_string()),
                    AmqpState::Incomplete(why) | AmqpState::Invalid(why) => waiting.push(why.clone()),
                    AmqpState::Ready(_) => {}
                }
            }
            Err(waiting)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn relation(units: &[(&str, &[(&str, &str)])]) -> AmqpRelation {
        AmqpRelation {
            endpoint: INBOUND,
            relation: RelationId::parse("inbound-amqp:3").unwrap(),
            own_unit: Databag::new(),
            remote_units: units
                .iter()
                .map(|(u, kv)| (u.to_string(), kv.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()))
                .collect(),
        }
    }

    #[test]
    fn ready_once_a_unit_has_a_password_and_hosts_are_joined() {
        let r = relation(&[
            ("rabbitmq-server/1", &[("hostname", "10.0.0.12"), ("password", "pw")]),
            ("rabbitmq-server/0", &[("hostname", "10.0.0.11"), ("password", "pw")]),
            ("rabbitmq-server/2", &[("private-address", "10.0.0.13")]),
        ]);
        assert_eq!(r.state(), AmqpState::Ready(Broker { host: "10.0.0.11,10.0.0.12".into(), password: "pw".into() }));
        assert_eq!(
            relation(&[("r/0", &[("hostname", "10.0.0.1")])]).state(),
            AmqpState::Incomplete("inbound-amqp (no password yet)".into())
        );
    }

    #[test]
    fn hostile_values_are_refused() {
        let r = relation(&[("r/0", &[("hostname", "10.0.0.1\n[evil]"), ("password", "pw")])]);
        assert!(matches!(r.state(), AmqpState::Invalid(m) if m.contains("hostname")));
        let r = relation(&[("r/0", &[("hostname", "10.0.0.1"), ("password", "p w")])]);
        assert!(matches!(r.state(), AmqpState::Invalid(_)));
    }

    #[test]
    fn the_request_names_user_and_vhost() {
        let r = relation(&[]);
        let changes = r.request_changes();
        assert_eq!(changes["username"], "landscape");
        assert_eq!(changes["vhost"], "landscape");
    }
}
