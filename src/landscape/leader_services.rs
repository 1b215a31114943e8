//! The leader-only services (package upload, package search): on the
//! leader once it is ready, masked elsewhere, and kept by an old leader
//! while its peers still use them ([`crate::handover`]).

use super::{Inputs, LandscapeError, services};
use crate::handover::{FOLLOWER_ROLE, LEADER_ROLE};
use crate::host::Host;
use crate::juju::LogLevel;
use crate::peers::PeerWait;
use crate::status::{Status, StatusCollector};
use crate::unit_state::StateKey;

/// Whether this unit runs the leader-only services: it leads, or it led
/// and its peers still use them ([`crate::handover`]).
pub(super) fn runs(inputs: &Inputs<'_>) -> bool {
    inputs.is_leader || inputs.handover.waiting()
}

/// The leader-only services (package upload, package search) on the leader
/// once it is ready, off on the others once no peer uses them; only when
/// that changed.
pub(super) fn set(
    host: &Host<'_>,
    inputs: &Inputs<'_>,
    ready: bool,
    status: &mut StatusCollector,
) -> Result<(), LandscapeError> {
    let role = match (inputs.is_leader, ready) {
        (true, true) => LEADER_ROLE,
        (false, _) => FOLLOWER_ROLE,
        (true, false) => return Ok(()),
    };
    match inputs.handover {
        PeerWait::Idle if inputs.unit_state.contains(&StateKey::LeaderHandoverStarted) => {
            host.stage_state_delete(StateKey::LeaderHandoverStarted);
        }
        PeerWait::Idle => {}
        PeerWait::Waiting { peers, left_secs } => {
            if !inputs.unit_state.contains(&StateKey::LeaderHandoverStarted) {
                host.stage_state(StateKey::LeaderHandoverStarted, crate::system::unix_now().max(0).to_string());
                host.log(LogLevel::Info, "no longer the leader: handing the leader-only services over");
            }
            status.add(Status::maintenance(format!(
                "Handing package upload and search over to the new leader: waiting for {} (at most {left_secs}s more)",
                peers.join(", ")
            )));
            return Ok(());
        }
        PeerWait::Over { silent: still_following } => {
            if !still_following.is_empty() {
                let names = still_following.join(", ");
                host.log(LogLevel::Warning, &format!("handover timed out; still following this unit: {names}"));
            }
            host.stage_state_delete(StateKey::LeaderHandoverStarted);
        }
    }
    if inputs.unit_state.get(&StateKey::LeaderOnlyServices).map(String::as_str) == Some(role) {
        return Ok(());
    }
    services::set_leader_only_services(host.cmds, role == LEADER_ROLE).map_err(LandscapeError::LeaderServices)?;
    host.stage_state(StateKey::LeaderOnlyServices, role);
    host.log(LogLevel::Info, &format!("leader-only services set up for a {role}"));
    Ok(())
}
