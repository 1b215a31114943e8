//! Draining a unit before it stops its Landscape services, so that no
//! HAProxy sends it a request it will not answer.
//!
//! Every unit's HAProxy routes to every unit's services, so a unit cannot
//! stop its own without its peers' help, and Juju commits relation data only
//! when a hook ends. So draining spans hooks, through the peer relation:
//!
//! 1. `pause` (with peers) records when it started (unit state
//!    `drain-started`) and publishes `drain` in the unit's own peer bag; its
//!    own HAProxy drains it at once.
//! 2. Each peer's next hook renders this unit's servers `weight 0` (no new
//!    requests; the ones in flight finish in the old worker after the
//!    reload) and, once that config is live, lists the unit in its own
//!    `drained`.
//! 3. The first hook of this unit that sees every peer's `drained` name it,
//!    or finds the drain older than `haproxy_drain_timeout`, stops the
//!    services and records the unit paused.
//!
//! `drain` stays published while the unit is paused, and goes with
//! `resume`. The state is in unit state and peer data, so a hook killed
//! half-way is finished by the next one.

use crate::peers::{DRAIN_KEY, DRAINED_KEY, PeerView};
use crate::status::Status;
use crate::unit_state::{StateKey, UnitState};

/// Why a unit asks to be drained, as its peers read it.
pub const PAUSE_REASON: &str = "pause";

/// Where a drain this unit asked for stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Progress {
    /// No drain asked, or it is done.
    Idle,
    /// Some peers have not drained this unit yet.
    Waiting { peers: Vec<String>, left_secs: u64 },
    /// Every peer drained it, or the time is up (the peers that did not are
    /// named): stop the services now.
    Stop { not_drained: Vec<String> },
}

/// Unix seconds now, as drain records keep them.
pub fn now() -> u64 {
    u64::try_from(crate::system::unix_now()).unwrap_or(0)
}

/// Where this unit's drain stands at `now` (pure).
pub fn progress(unit_name: &str, peers: &PeerView, unit_state: &UnitState, timeout_secs: u64, now: u64) -> Progress {
    let Some(started) = unit_state.get(&StateKey::DrainStarted) else { return Progress::Idle };
    // An unreadable record is treated as an old one: stopping late is the
    // only other choice, and never finishing is worse.
    let started = started.parse::<u64>().unwrap_or(0);
    let waiting = peers.not_drained_by(unit_name);
    let elapsed = now.saturating_sub(started);
    if waiting.is_empty() || elapsed >= timeout_secs {
        return Progress::Stop { not_drained: waiting };
    }
    Progress::Waiting { peers: waiting, left_secs: timeout_secs - elapsed }
}

/// Whether this unit asks its peers to drain it: while a drain is under way
/// and while it is paused.
pub fn wanted(unit_state: &UnitState) -> bool {
    unit_state.contains(&StateKey::DrainStarted) || unit_state.contains(&StateKey::Paused)
}

/// What this unit publishes in its own peer bag: `drain` while it wants to
/// be drained; `drained`, the peers its live HAProxy config drains (only
/// when `haproxy_live`: a config HAProxy refused drains nothing). An empty
/// value deletes the key.
pub fn publication(peers: &PeerView, unit_state: &UnitState, haproxy_live: bool) -> Vec<(&'static str, String)> {
    let mut keys = vec![(DRAIN_KEY, if wanted(unit_state) { PAUSE_REASON.to_string() } else { String::new() })];
    if haproxy_live {
        let mut drained: Vec<&str> = peers
            .peers
            .iter()
            .map(|(name, _)| name.as_str())
            .filter(|n| peers.draining.iter().any(|d| d == n))
            .collect();
        drained.sort_unstable();
        keys.push((DRAINED_KEY, drained.join(",")));
    }
    keys
}

/// The status while a drain waits.
pub fn status(progress: &Progress) -> Option<Status> {
    match progress {
        Progress::Waiting { peers, left_secs } => Some(Status::maintenance(format!(
            "Draining before pause: waiting for {} to drain this unit (at most {left_secs}s more)",
            peers.join(", ")
        ))),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::juju::Databag;

    fn view(peers: &[(&str, &str)]) -> PeerView {
        PeerView {
            peers: peers.iter().map(|(name, _)| (name.to_string(), "10.0.0.9".parse().unwrap())).collect(),
            drained_by: peers
                .iter()
                .map(|(name, drained)| (name.to_string(), drained.split(',').map(str::to_string).collect()))
                .collect(),
            ..PeerView::default()
        }
    }

    fn draining_since(started: &str) -> UnitState {
        UnitState::new(Databag::from([("drain-started".to_string(), started.to_string())]))
    }

    #[test]
    fn waits_for_every_peer_then_stops() {
        let state = draining_since("1000");
        let some = view(&[("app/1", "app/0"), ("app/2", "")]);
        assert_eq!(
            progress("app/0", &some, &state, 60, 1010),
            Progress::Waiting { peers: vec!["app/2".into()], left_secs: 50 }
        );
        let all = view(&[("app/1", "app/0"), ("app/2", "app/3,app/0")]);
        assert_eq!(progress("app/0", &all, &state, 60, 1010), Progress::Stop { not_drained: vec![] });
    }

    #[test]
    fn the_timeout_bounds_the_wait_and_names_who_did_not_drain() {
        let some = view(&[("app/1", "")]);
        assert_eq!(
            progress("app/0", &some, &draining_since("1000"), 60, 1060),
            Progress::Stop { not_drained: vec!["app/1".into()] }
        );
        // A record that does not parse is as old as can be.
        assert_eq!(
            progress("app/0", &some, &draining_since("soon"), 60, 1000),
            Progress::Stop { not_drained: vec!["app/1".into()] }
        );
        assert_eq!(progress("app/0", &some, &UnitState::default(), 60, 1000), Progress::Idle);
    }

    #[test]
    fn drained_lists_only_draining_peers_and_only_from_a_live_config() {
        let mut peers = view(&[("app/2", ""), ("app/1", "")]);
        peers.draining = vec!["app/2".into(), "app/7".into()];
        let idle = UnitState::default();
        assert_eq!(publication(&peers, &idle, true), vec![("drain", String::new()), ("drained", "app/2".into())]);
        assert_eq!(publication(&peers, &idle, false), vec![("drain", String::new())]);
        let paused = UnitState::new(Databag::from([("paused".to_string(), "true".to_string())]));
        assert_eq!(publication(&peers, &paused, false), vec![("drain", "pause".into())]);
    }
}
