//! Handing the leader-only services over when leadership moves.
//!
//! Package upload (the leader-only HTTP backend) and package search (which
//! every unit's appservers ask at the leader's address) run on the leader
//! alone. When leadership moves, the new leader starts them at once, but
//! each other unit keeps sending uploads to the old leader until its own
//! HAProxy is reloaded, and asking its package search until its services
//! restart with the new address (one unit at a time). So the old leader
//! keeps both running until every peer says, under `follows` in its own
//! peer bag, that its live HAProxy and its running services use the new
//! leader, or until `haproxy_drain_timeout` passes; then it stops and masks
//! them. Cron follows leadership at once: a job must not run twice.
//!
//! The start is recorded in unit state (`leader-handover-started`), so a
//! hook killed half-way is finished by the next one.

use std::net::IpAddr;

use crate::peers::{PeerView, PeerWait};
use crate::unit_state::{StateKey, UnitState};

/// How the leader-only services were last set, as unit state records it.
pub const LEADER_ROLE: &str = "leader";
pub const FOLLOWER_ROLE: &str = "follower";

/// Where the handover stands at `now` (pure): `Idle` when this unit leads
/// or does not run the leader-only services, `Waiting` for the peers that
/// may still use them, `Over` when they should stop (not recorded yet: this
/// hook starts the wait).
pub fn progress(peers: &PeerView, unit_state: &UnitState, is_leader: bool, timeout_secs: u64, now: u64) -> PeerWait {
    let ran = unit_state.get(&StateKey::LeaderOnlyServices).map(String::as_str) == Some(LEADER_ROLE);
    if is_leader || !ran {
        return PeerWait::Idle;
    }
    let Some(own) = peers.unit_ip else { return PeerWait::Over { silent: vec![] } };
    let started = unit_state.get(&StateKey::LeaderHandoverStarted).map(String::as_str);
    PeerWait::of(peers.following(own), started, timeout_secs, now)
}

/// What this unit publishes as `follows`: the leader's address once its
/// live HAProxy routes to it (`haproxy_live`) and its services run with it
/// (no restart owed); None keeps what it published before.
pub fn follows(leader_ip: Option<IpAddr>, haproxy_live: bool, restart_owed: bool) -> Option<String> {
    leader_ip.filter(|_| haproxy_live && !restart_owed).map(|ip| ip.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::juju::Databag;

    fn peers(follows: &[(&str, &str)]) -> PeerView {
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        PeerView {
            unit_ip: Some(ip("10.0.0.1")),
            peers: vec![("app/1".into(), ip("10.0.0.2")), ("app/2".into(), ip("10.0.0.3"))],
            follows: follows.iter().map(|(unit, leader)| (unit.to_string(), ip(leader))).collect(),
            ..PeerView::default()
        }
    }

    fn state(pairs: &[(StateKey, &str)]) -> UnitState {
        UnitState::new(pairs.iter().map(|(k, v)| (k.name(), v.to_string())).collect::<Databag>())
    }

    #[test]
    fn the_old_leader_waits_for_every_peer_that_still_follows_it() {
        let ran = state(&[(StateKey::LeaderOnlyServices, LEADER_ROLE), (StateKey::LeaderHandoverStarted, "100")]);
        let one_moved = peers(&[("app/1", "10.0.0.2"), ("app/2", "10.0.0.1")]);
        assert_eq!(
            progress(&one_moved, &ran, false, 60, 110),
            PeerWait::Waiting { peers: vec!["app/2".into()], left_secs: 50 }
        );
        // A peer that said nothing yet may still use it too.
        let silent = peers(&[("app/1", "10.0.0.2")]);
        assert_eq!(
            progress(&silent, &ran, false, 60, 110),
            PeerWait::Waiting { peers: vec!["app/2".into()], left_secs: 50 }
        );
        let all_moved = peers(&[("app/1", "10.0.0.2"), ("app/2", "10.0.0.2")]);
        assert_eq!(progress(&all_moved, &ran, false, 60, 110), PeerWait::Over { silent: vec![] });
        assert_eq!(progress(&one_moved, &ran, false, 60, 160), PeerWait::Over { silent: vec!["app/2".into()] });
    }

    #[test]
    fn nothing_to_hand_over_on_the_leader_or_a_unit_that_never_ran_them() {
        let ran = state(&[(StateKey::LeaderOnlyServices, LEADER_ROLE)]);
        let follower = state(&[(StateKey::LeaderOnlyServices, FOLLOWER_ROLE)]);
        let view = peers(&[]);
        assert_eq!(progress(&view, &ran, true, 60, 0), PeerWait::Idle);
        assert_eq!(progress(&view, &follower, false, 60, 0), PeerWait::Idle);
        assert_eq!(progress(&view, &state(&[]), false, 60, 0), PeerWait::Idle);
        // Not started yet: the whole timeout is left.
        assert_eq!(
            progress(&view, &ran, false, 60, 1000),
            PeerWait::Waiting { peers: vec!["app/1".into(), "app/2".into()], left_secs: 60 }
        );
        // No peers: nothing to wait for.
        let alone = PeerView { unit_ip: view.unit_ip, ..PeerView::default() };
        assert_eq!(progress(&alone, &ran, false, 60, 0), PeerWait::Over { silent: vec![] });
    }

    #[test]
    fn a_unit_follows_the_leader_once_haproxy_and_its_services_both_do() {
        let leader = Some("10.0.0.9".parse().unwrap());
        assert_eq!(follows(leader, true, false).as_deref(), Some("10.0.0.9"));
        assert_eq!(follows(leader, false, false), None);
        assert_eq!(follows(leader, true, true), None);
        assert_eq!(follows(None, true, false), None);
    }
}
