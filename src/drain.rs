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
//!
//! A restart the services owe for a new configuration (a config change, a
//! leadership move: every unit at once) is taken the same way, one unit at
//! a time: the unit publishes `drain` (`restart`), keeps serving with the
//! old files until every peer drained it or the timeout passed, restarts,
//! and withdraws `drain`. A unit waits while a peer restarts; of two that
//! began at once, the one with the higher number steps back. A unit restarts
//! at once when no other unit serves, when its services never ran, or with
//! `haproxy_drain_timeout=0`.

use crate::peers::{DRAIN_KEY, DRAINED_KEY, PeerView, PeerWait};
use crate::status::Status;
use crate::unit_state::{StateKey, UnitState};

/// Why a unit asks to be drained, as its peers read it.
pub const PAUSE_REASON: &str = "pause";
pub const RESTART_REASON: &str = "restart";

/// Unix seconds now, as drain records keep them.
pub fn now() -> u64 {
    u64::try_from(crate::system::unix_now()).unwrap_or(0)
}

/// Where this unit's drain stands at `now` (pure): `Over` is the time to
/// stop the services.
pub fn progress(unit_name: &str, peers: &PeerView, unit_state: &UnitState, timeout_secs: u64, now: u64) -> PeerWait {
    let Some(started) = unit_state.get(&StateKey::DrainStarted) else { return PeerWait::Idle };
    PeerWait::of(peers.not_drained_by(unit_name), Some(started), timeout_secs, now)
}

/// Whether this unit is paused or about to be.
pub fn pausing(unit_state: &UnitState) -> bool {
    unit_state.contains(&StateKey::DrainStarted) || unit_state.contains(&StateKey::Paused)
}

/// What this unit publishes as `drain`, if anything.
fn reason(unit_state: &UnitState) -> Option<&'static str> {
    if pausing(unit_state) {
        Some(PAUSE_REASON)
    } else if unit_state.contains(&StateKey::RestartDrainStarted) {
        Some(RESTART_REASON)
    } else {
        None
    }
}

/// When this unit may restart its services for a new configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RestartTurn {
    /// Now: drained for it, or no other unit serves, or the services never
    /// ran (nothing to drain).
    Now,
    /// Ask the peers to drain this unit first.
    DrainFirst,
    /// Asked; some peers have not drained it yet.
    Draining { peers: Vec<String>, left_secs: u64 },
    /// Another unit is restarting: after it.
    After(String),
}

/// When a restart owed now may happen (pure). The timeout bounds the wait
/// for this unit's peers; a wait for another unit is bounded by its own.
pub fn restart_turn(
    unit_name: &str,
    peers: &PeerView,
    unit_state: &UnitState,
    timeout_secs: u64,
    now: u64,
) -> RestartTurn {
    if !unit_state.contains(&StateKey::ServicesDigest) || timeout_secs == 0 {
        return RestartTurn::Now;
    }
    let asked = unit_state.get(&StateKey::RestartDrainStarted);
    let restarting = restarting_peers(peers);
    // Before asking, any peer restarting goes first; once asked, only one
    // with a lower number (the two asked at once).
    let ahead = restarting.iter().find(|name| asked.is_none() || unit_number(name) < unit_number(unit_name));
    if let Some(peer) = ahead {
        return RestartTurn::After((*peer).clone());
    }
    // A peer that asked to restart after this unit steps back: it serves.
    let away = |name: &String| peers.draining.contains(name) && !restarting.contains(&name);
    if peers.peers.iter().all(|(name, _)| away(name)) {
        return RestartTurn::Now;
    }
    let Some(started) = asked else { return RestartTurn::DrainFirst };
    match PeerWait::of(peers.not_drained_by(unit_name), Some(started), timeout_secs, now) {
        PeerWait::Waiting { peers, left_secs } => RestartTurn::Draining { peers, left_secs },
        PeerWait::Idle | PeerWait::Over { .. } => RestartTurn::Now,
    }
}

/// Whether this unit asks to be drained for a restart at the end of a hook:
/// while one is `owed` and its turn is to drain.
pub fn restart_drain_wanted(turn: &RestartTurn, owed: bool) -> bool {
    owed && matches!(turn, RestartTurn::DrainFirst | RestartTurn::Draining { .. })
}

/// The peers that ask to be drained for a restart.
fn restarting_peers(peers: &PeerView) -> Vec<&String> {
    let asks = |bag: &crate::juju::Databag| bag.get(DRAIN_KEY).map(String::as_str) == Some(RESTART_REASON);
    peers.peer_bags.iter().filter(|(_, bag)| asks(bag)).map(|(name, _)| name).collect()
}

/// `app/7` -> 7; a name without a number sorts last.
fn unit_number(name: &str) -> u64 {
    name.rsplit_once('/').and_then(|(_, n)| n.parse().ok()).unwrap_or(u64::MAX)
}

/// The peers this unit's HAProxy drains: every one that asks, but of those
/// that ask to restart (this unit included), only the one whose turn it is
/// (the lowest number): the others step back and serve meanwhile, so that
/// two units asking at once never leave a backend empty. `self_restarting`:
/// this unit asks to restart at the end of this hook.
pub fn drained_peers(unit_name: &str, peers: &PeerView, self_restarting: bool) -> Vec<String> {
    let restarting = restarting_peers(peers);
    let own = self_restarting.then(|| unit_name.to_string());
    let turn = restarting.iter().copied().chain(own.as_ref()).min_by_key(|n| unit_number(n));
    let mut drained: Vec<String> =
        peers.draining.iter().filter(|n| !restarting.contains(n) || Some(*n) == turn).cloned().collect();
    drained.sort();
    drained
}

/// What this unit publishes in its own peer bag: `drain` while it wants to
/// be drained; `drained`, the `drained_peers` its live HAProxy config drains
/// (only when `haproxy_live`: a config HAProxy refused drains nothing). An
/// empty value deletes the key.
pub fn publication(
    peers: &PeerView,
    drained_peers: &[String],
    unit_state: &UnitState,
    haproxy_live: bool,
) -> Vec<(&'static str, String)> {
    let mut keys = vec![(DRAIN_KEY, reason(unit_state).unwrap_or_default().to_string())];
    if haproxy_live {
        let mut drained: Vec<&str> = peers
            .peers
            .iter()
            .map(|(name, _)| name.as_str())
            .filter(|n| drained_peers.iter().any(|d| d == n))
            .collect();
        drained.sort_unstable();
        keys.push((DRAINED_KEY, drained.join(",")));
    }
    keys
}

/// The status while a drain waits.
pub fn status(progress: &PeerWait) -> Option<Status> {
    match progress {
        PeerWait::Waiting { peers, left_secs } => Some(Status::maintenance(format!(
            "Draining before pause: waiting for {} to drain this unit (at most {left_secs}s more)",
            peers.join(", ")
        ))),
        _ => None,
    }
}

/// The status while a restart owed waits for its turn.
pub fn restart_status(turn: &RestartTurn) -> Option<Status> {
    let message = match turn {
        RestartTurn::Now => return None,
        RestartTurn::DrainFirst => "Draining before a restart for the new configuration".to_string(),
        RestartTurn::Draining { peers, left_secs } => format!(
            "Draining before a restart for the new configuration: waiting for {} (at most {left_secs}s more)",
            peers.join(", ")
        ),
        RestartTurn::After(peer) => format!("Restart for the new configuration waits for {peer} to restart first"),
    };
    Some(Status::maintenance(message))
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
            PeerWait::Waiting { peers: vec!["app/2".into()], left_secs: 50 }
        );
        let all = view(&[("app/1", "app/0"), ("app/2", "app/3,app/0")]);
        assert_eq!(progress("app/0", &all, &state, 60, 1010), PeerWait::Over { silent: vec![] });
    }

    #[test]
    fn the_timeout_bounds_the_wait_and_names_who_did_not_drain() {
        let some = view(&[("app/1", "")]);
        assert_eq!(
            progress("app/0", &some, &draining_since("1000"), 60, 1060),
            PeerWait::Over { silent: vec!["app/1".into()] }
        );
        // A record that does not parse is as old as can be.
        assert_eq!(
            progress("app/0", &some, &draining_since("soon"), 60, 1000),
            PeerWait::Over { silent: vec!["app/1".into()] }
        );
        assert_eq!(progress("app/0", &some, &UnitState::default(), 60, 1000), PeerWait::Idle);
    }

    #[test]
    fn drained_lists_only_draining_peers_and_only_from_a_live_config() {
        let mut peers = view(&[("app/2", ""), ("app/1", "")]);
        peers.draining = vec!["app/2".into(), "app/7".into()];
        let idle = UnitState::default();
        let drained = drained_peers("app/0", &peers, false);
        assert_eq!(drained, ["app/2", "app/7"]);
        let live = publication(&peers, &drained, &idle, true);
        assert_eq!(live, vec![("drain", String::new()), ("drained", "app/2".into())]);
        assert_eq!(publication(&peers, &drained, &idle, false), vec![("drain", String::new())]);
        let paused = UnitState::new(Databag::from([("paused".to_string(), "true".to_string())]));
        assert_eq!(publication(&peers, &drained, &paused, false), vec![("drain", "pause".into())]);
    }

    #[test]
    fn of_the_units_asking_to_restart_only_the_lowest_is_drained() {
        let mut peers = view(&[("app/1", ""), ("app/2", ""), ("app/3", "")]);
        restarting(&mut peers, "app/2");
        restarting(&mut peers, "app/3");
        peers.draining.push("app/1".into());
        assert_eq!(drained_peers("app/0", &peers, false), ["app/1", "app/2"], "app/3 steps back; app/1 pauses");
        assert_eq!(drained_peers("app/0", &peers, true), ["app/1"], "this unit goes first");
        assert_eq!(drained_peers("app/9", &peers, true), ["app/1", "app/2"], "this unit steps back");
    }

    fn restart_state(asked: Option<&str>) -> UnitState {
        let mut bag = Databag::from([("services-digest".to_string(), "d".to_string())]);
        if let Some(started) = asked {
            bag.insert("restart-drain-started".into(), started.into());
        }
        UnitState::new(bag)
    }

    fn restarting(view: &mut PeerView, name: &str) {
        view.peer_bags.push((name.into(), Databag::from([(DRAIN_KEY.to_string(), RESTART_REASON.to_string())])));
        view.draining.push(name.into());
    }

    #[test]
    fn a_restart_drains_first_and_goes_once_drained_or_timed_out() {
        let view = view(&[("app/1", ""), ("app/2", "app/0")]);
        assert_eq!(restart_turn("app/0", &view, &restart_state(None), 60, 1000), RestartTurn::DrainFirst);
        let waiting = restart_turn("app/0", &view, &restart_state(Some("990")), 60, 1000);
        assert_eq!(waiting, RestartTurn::Draining { peers: vec!["app/1".into()], left_secs: 50 });
        assert_eq!(restart_turn("app/0", &view, &restart_state(Some("900")), 60, 1000), RestartTurn::Now);
        let drained = self::view(&[("app/1", "app/0"), ("app/2", "app/0")]);
        assert_eq!(restart_turn("app/0", &drained, &restart_state(Some("990")), 60, 1000), RestartTurn::Now);
        assert_eq!(restart_turn("app/0", &view, &UnitState::default(), 60, 1000), RestartTurn::Now, "never ran");
        assert_eq!(restart_turn("app/0", &view, &restart_state(None), 0, 1000), RestartTurn::Now, "no drain wanted");
    }

    #[test]
    fn one_unit_restarts_at_a_time_and_the_higher_number_steps_back() {
        let mut view = view(&[("app/1", ""), ("app/12", ""), ("app/3", "")]);
        restarting(&mut view, "app/12");
        assert_eq!(restart_turn("app/7", &view, &restart_state(None), 60, 1000), RestartTurn::After("app/12".into()));
        assert!(matches!(
            restart_turn("app/7", &view, &restart_state(Some("990")), 60, 1000),
            RestartTurn::Draining { .. }
        ));
        restarting(&mut view, "app/3");
        assert_eq!(
            restart_turn("app/7", &view, &restart_state(Some("990")), 60, 1000),
            RestartTurn::After("app/3".into())
        );
        // Two asked at once, alone: the lower waits to be drained by the
        // higher, which steps back and serves meanwhile.
        let mut pair = self::view(&[("app/1", "")]);
        restarting(&mut pair, "app/1");
        let turn = restart_turn("app/0", &pair, &restart_state(Some("990")), 60, 1000);
        assert_eq!(turn, RestartTurn::Draining { peers: vec!["app/1".into()], left_secs: 50 });
    }

    #[test]
    fn a_restart_with_every_peer_drained_away_is_at_once() {
        let mut view = view(&[("app/1", ""), ("app/2", "")]);
        view.draining = vec!["app/1".into(), "app/2".into()];
        assert_eq!(restart_turn("app/0", &view, &restart_state(None), 60, 1000), RestartTurn::Now);
        assert_eq!(restart_turn("app/0", &PeerView::default(), &restart_state(None), 60, 1000), RestartTurn::Now);
    }
}
