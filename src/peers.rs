//! The `replicas` peer relation: every unit's address and the leader's.
//!
//! Each unit publishes the bind address of its `replicas` endpoint under
//! `address` in its own peer databag, and the leader publishes its own as
//! `leader-ip` in the application databag. So every address comes from the
//! same source (`network-get replicas`), unlike the Python charm, which mixed
//! bind addresses with Juju's `private-address`. Peers that have not published
//! yet (a charm upgrade in progress) fall back to `ingress-address`, then
//! `private-address`. Every value is parsed as an IP before use.

use std::net::IpAddr;

use crate::host::Host;
use crate::juju::metadata::PEER_ENDPOINT;
use crate::juju::{Bag, Databag, HookToolError, HookTools, LogLevel, RelationId};
use crate::peer_app::{PeerApp, PeerKey};

pub const ADDRESS_KEY: &str = "address";
/// In a unit's own bag: why it asks its peers to drain it (it is about to
/// stop its services); absent otherwise.
pub const DRAIN_KEY: &str = "drain";
/// In a unit's own bag: the units (comma-separated names) its HAProxy has
/// drained, published once the config that drains them is live.
pub const DRAINED_KEY: &str = "drained";
/// In a unit's own bag: how many workers per service its Landscape runs,
/// published once they run.
pub const WORKERS_KEY: &str = "workers";
/// In a unit's own bag: the leader's address that both its live HAProxy
/// (the leader-only routes) and its running services (package search) use,
/// published once both do.
pub const FOLLOWS_KEY: &str = "follows";

/// Where a wait for the peers' word stands, bounded by a timeout from a
/// recorded start: a drain before the services stop or restart
/// ([`crate::drain`]), an old leader's handover ([`crate::handover`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PeerWait {
    /// Nothing to wait for.
    Idle,
    /// These peers have not said so yet; at most `left_secs` more.
    Waiting { peers: Vec<String>, left_secs: u64 },
    /// Every peer said so, or the time is up (the silent ones are named):
    /// act now.
    Over { silent: Vec<String> },
}

impl PeerWait {
    /// The wait for the `silent` peers that began at `started` (Unix
    /// seconds; None: it begins now). An unreadable record is taken as an
    /// old one: acting late is the only other choice, and never is worse.
    pub fn of(silent: Vec<String>, started: Option<&str>, timeout_secs: u64, now: u64) -> Self {
        let elapsed = started.map_or(0, |s| now.saturating_sub(s.parse::<u64>().unwrap_or(0)));
        if silent.is_empty() || elapsed >= timeout_secs {
            return PeerWait::Over { silent };
        }
        PeerWait::Waiting { peers: silent, left_secs: timeout_secs - elapsed }
    }

    pub fn waiting(&self) -> bool {
        matches!(self, PeerWait::Waiting { .. })
    }
}

/// A peer value that was not a routable IP address, for the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RejectedAddress {
    pub source: String,
    pub key: String,
    pub value: String,
}

impl std::fmt::Display for RejectedAddress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The value is untrusted and may be huge.
        write!(
            f,
            "ignoring {} of {}: not a routable IP address: {}",
            self.key,
            self.source,
            crate::text::quoted(&self.value)
        )
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PeerView {
    pub relation: Option<RelationId>,
    /// This unit's `replicas` bind address.
    pub unit_ip: Option<IpAddr>,
    /// The other units and their addresses.
    pub peers: Vec<(String, IpAddr)>,
    /// `leader-ip` as the application databag has it, parsed.
    pub published_leader_ip: Option<IpAddr>,
    /// What this unit has published under `address`.
    pub published_own_address: Option<String>,
    /// This unit's own bag as the hook read it.
    pub own_bag: Databag,
    /// Peers (by name) that ask to be drained.
    pub draining: Vec<String>,
    /// Each peer's `drained`: the units its HAProxy has drained.
    pub drained_by: Vec<(String, Vec<String>)>,
    /// Every peer's own bag as the hook read it (the rolling upgrade reads
    /// what each said of its turn).
    pub peer_bags: Vec<(String, Databag)>,
    /// The peers' `workers`, by address.
    pub announced_workers: Vec<(IpAddr, u16)>,
    /// Each peer's `follows`, when it is an address.
    pub follows: Vec<(String, IpAddr)>,
    /// The whole application databag (leader-written, every unit reads it).
    pub app_data: PeerApp,
    pub rejected: Vec<RejectedAddress>,
}

impl PeerView {
    /// Reads the peer relation. `readable` is false during `install`, when
    /// Juju does not let a unit read peer data yet. `broken` is the relation
    /// being torn down in this hook, if any, which no longer counts.
    pub fn observe(
        juju: &HookTools<'_>,
        unit_name: &str,
        app_name: &str,
        readable: bool,
        broken: Option<&RelationId>,
    ) -> Result<Self, HookToolError> {
        let mut view = PeerView::default();
        view.read_own_address(juju)?;
        if !readable {
            return Ok(view);
        }
        let Some(relation) = juju.live_relation(PEER_ENDPOINT, broken)? else { return Ok(view) };
        let read = |member: &str, bag: Bag| juju.relation_get_or_empty(&relation, member, bag);
        let app_bag = read(app_name, Bag::App)?;
        view.read_leader_ip(app_name, &app_bag);
        let own = read(unit_name, Bag::Unit)?;
        view.published_own_address = own.get(ADDRESS_KEY).cloned();
        view.own_bag = own;
        view.app_data = PeerApp::new(app_bag);
        let units = match juju.relation_list(&relation) {
            Err(HookToolError::RelationNotFound { .. }) => vec![],
            other => other?,
        };
        for unit in units {
            let bag = read(&unit, Bag::Unit)?;
            view.add_peer(unit, &bag);
        }
        view.relation = Some(relation);
        Ok(view)
    }

    /// This unit's address on the peer relation, as Juju binds it.
    fn read_own_address(&mut self, juju: &HookTools<'_>) -> Result<(), HookToolError> {
        let network = juju.network_get(PEER_ENDPOINT, None)?;
        if let Some(bind) = network.bind_addresses.first() {
            match crate::text::parse_ip(bind) {
                Some(ip) => self.unit_ip = Some(ip),
                None => self.rejected.push(RejectedAddress {
                    source: format!("network-get {PEER_ENDPOINT}"),
                    key: "bind-address".into(),
                    value: bind.clone(),
                }),
            }
        }
        Ok(())
    }

    /// The leader's address, as the leader published it for the followers.
    fn read_leader_ip(&mut self, app_name: &str, app_bag: &Databag) {
        if let Some(value) = app_bag.get(PeerKey::LeaderIp.name()) {
            match crate::text::parse_routable_ip(value) {
                Some(ip) => self.published_leader_ip = Some(ip),
                None => self.rejected.push(RejectedAddress {
                    source: format!("the {app_name} application"),
                    key: PeerKey::LeaderIp.name().into(),
                    value: value.clone(),
                }),
            }
        }
    }

    /// One peer's bag: its address (or Juju's, before it published its
    /// own), whether it asks to be drained, and whom it drained.
    fn add_peer(&mut self, unit: String, bag: &Databag) {
        self.peer_bags.push((unit.clone(), bag.clone()));
        if bag.get(DRAIN_KEY).is_some_and(|v| !v.is_empty()) {
            self.draining.push(unit.clone());
        }
        let drained = bag.get(DRAINED_KEY).map(|v| split_names(v)).unwrap_or_default();
        self.drained_by.push((unit.clone(), drained));
        if let Some(ip) = bag.get(FOLLOWS_KEY).and_then(|v| crate::text::parse_routable_ip(v)) {
            self.follows.push((unit.clone(), ip));
        }
        let found = [ADDRESS_KEY, "ingress-address", "private-address"]
            .iter()
            .find_map(|key| bag.get(*key).map(|value| (*key, value)));
        let Some((key, value)) = found else { return };
        match crate::text::parse_routable_ip(value) {
            Some(ip) => {
                if let Some(workers) = bag.get(WORKERS_KEY).and_then(|w| w.parse::<u16>().ok()).filter(|w| *w > 0) {
                    self.announced_workers.push((ip, workers));
                }
                self.peers.push((unit, ip));
            }
            None => self.rejected.push(RejectedAddress { source: unit, key: key.into(), value: value.clone() }),
        }
    }

    /// The addresses of the `drained` peers, and this unit's own when
    /// `self_draining`.
    pub fn draining_ips(&self, self_draining: bool, drained: &[String]) -> Vec<IpAddr> {
        let own = self.unit_ip.filter(|_| self_draining);
        let peers = self.peers.iter().filter(|(name, _)| drained.contains(name)).map(|(_, ip)| *ip);
        own.into_iter().chain(peers).collect()
    }

    /// The peers with an address (the ones whose HAProxy routes here) that
    /// have not yet said they drained `unit_name`.
    pub fn not_drained_by(&self, unit_name: &str) -> Vec<String> {
        self.peers
            .iter()
            .map(|(name, _)| name)
            .filter(|name| {
                !self.drained_by.iter().any(|(peer, drained)| peer == *name && drained.iter().any(|u| u == unit_name))
            })
            .cloned()
            .collect()
    }

    /// The peers with an address that may still use the leader-only
    /// services at `leader`: they follow it, or have not said whom they
    /// follow.
    pub fn following(&self, leader: IpAddr) -> Vec<String> {
        self.peers
            .iter()
            .map(|(name, _)| name)
            .filter(|name| self.follows.iter().all(|(peer, ip)| peer != *name || *ip == leader))
            .cloned()
            .collect()
    }

    /// Every unit's address, this unit's first.
    pub fn all_ips(&self) -> Vec<IpAddr> {
        self.unit_ip.into_iter().chain(self.peers.iter().map(|(_, ip)| *ip)).collect()
    }

    /// The leader's address: this unit's own on the leader, the published one elsewhere.
    pub fn leader_ip(&self, is_leader: bool) -> Option<IpAddr> {
        if is_leader { self.unit_ip } else { self.published_leader_ip }
    }

    /// The peers part: this unit's address in its own bag (written at once),
    /// the leader's in the application bag (staged, sent with the other
    /// parts' changes at the end of the hook).
    pub fn publish(&self, host: &Host<'_>, is_leader: bool) -> Result<(), HookToolError> {
        for rejected in &self.rejected {
            host.log(LogLevel::Warning, &rejected.to_string());
        }
        let (Some(relation), Some(ip)) = (&self.relation, self.unit_ip) else {
            return Ok(());
        };
        let ip = ip.to_string();
        if self.published_own_address.as_deref() != Some(ip.as_str()) {
            host.juju.relation_set(relation, &Databag::from([(ADDRESS_KEY.to_string(), ip.clone())]), Bag::Unit)?;
        }
        if is_leader && self.published_leader_ip.map(|l| l.to_string()).as_deref() != Some(ip.as_str()) {
            host.log(LogLevel::Info, &format!("publishing leader-ip {ip}"));
            host.stage_peer_app(PeerKey::LeaderIp, ip);
        }
        Ok(())
    }
}

/// A `drained` value's unit names; anything that is not a unit name is
/// ignored (the value comes from another unit).
fn split_names(value: &str) -> Vec<String> {
    value
        .split(',')
        .map(str::trim)
        .filter(|n| {
            n.len() <= 100 && n.split_once('/').is_some_and(|(app, num)| !app.is_empty() && num.parse::<u32>().is_ok())
        })
        .map(str::to_string)
        .collect()
}

/// `root_url`; when it is unset, `https://<legacy_host>/` (the legacy load
/// balancer's address, the Python charm's choice while `website` is
/// related), else `https://<leader-ip>/`; None until one is known.
pub fn root_url(
    configured: Option<&crate::config::RootUrl>,
    legacy_host: Option<&str>,
    leader_ip: Option<IpAddr>,
) -> Option<String> {
    match (configured, legacy_host) {
        (Some(url), _) => Some(url.url.clone()),
        (None, Some(host)) => Some(format!("https://{host}/")),
        (None, None) => leader_ip.map(default_root_url),
    }
}

/// `https://<leader-ip>/` (IPv6 bracketed), the root URL when `root_url` is unset.
pub fn default_root_url(leader_ip: IpAddr) -> String {
    match leader_ip {
        IpAddr::V4(ip) => format!("https://{ip}/"),
        IpAddr::V6(ip) => format!("https://[{ip}]/"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_addresses_parse() {
        assert!(crate::text::parse_ip("10.1.77.18").is_some());
        assert!(crate::text::parse_ip("fd00::1").is_some());
        for bad in ["10.1.77.18\n", " 10.1.77.18", "host.example", "10.0.0.1 check", "fe80::1%eth0", "[fd00::1]", ""] {
            assert_eq!(crate::text::parse_ip(bad), None, "{bad:?}");
        }
        for unroutable in
            ["0.0.0.0", "::", "127.0.0.1", "::1", "169.254.1.2", "fe80::1", "255.255.255.255", "224.0.0.1", "ff02::1"]
        {
            assert!(crate::text::parse_ip(unroutable).is_some(), "{unroutable:?}");
            assert_eq!(crate::text::parse_routable_ip(unroutable), None, "{unroutable:?}");
        }
    }

    /// Read by the other units, which may run another revision mid-refresh.
    #[test]
    fn the_unit_bag_keys_are_a_data_format() {
        assert_eq!(
            [ADDRESS_KEY, DRAIN_KEY, DRAINED_KEY, WORKERS_KEY, FOLLOWS_KEY],
            ["address", "drain", "drained", "workers", "follows"]
        );
    }

    #[test]
    fn rejected_values_are_quoted_and_cut() {
        let r =
            RejectedAddress { source: "landscape-server/1".into(), key: "address".into(), value: "x\n".repeat(100) };
        let text = r.to_string();
        assert!(text.contains("landscape-server/1") && !text.contains('\n') && text.len() < 300, "{text}");
    }
}
