//! The outbox part: the `landscape-outbox` snap, which Landscape 26.04
//! requires (it publishes Landscape's queued events and does the hard
//! deletions through the task handler).
//!
//! `snap` is a system command like `apt-get`, behind the runner trait. The
//! snap is strictly confined (no `--classic`) and reads the database and
//! broker from `/etc/landscape/service.conf`, its default, so the charm has
//! nothing to set for those. It is installed from `outbox_snap_channel`,
//! refreshed when the channel changes, restarted after Landscape's services
//! restart (it reads the same file), and stopped and started by the pause
//! and resume actions. The channel last ensured is kept in unit state, so a
//! hook with nothing to do runs no `snap` at all.

use crate::config::CharmConfig;
use crate::host::Host;
use crate::juju::LogLevel;
use crate::status::{Explain, Status, first_line};
use crate::system::{Cmd, CmdError, CommandRunner};
use crate::unit_state::{StateKey, UnitState};

pub const SNAP: &str = "landscape-outbox";

#[derive(Debug, thiserror::Error)]
pub enum OutboxError {
    /// No `snap` on PATH: snapd is not installed on this machine.
    #[error("landscape-outbox needs snapd, which is not installed on this machine (apt install snapd)")]
    NoSnapd,
    #[error("Failed to {verb} the landscape-outbox snap: {source}")]
    Snap {
        verb: &'static str,
        #[source]
        source: CmdError,
    },
}

/// Both block the unit: Landscape 26.04 does not work without the outbox.
impl Explain for OutboxError {
    fn status(&self) -> Option<Status> {
        Some(Status::blocked(first_line(self)))
    }
}

fn snap(cmds: &dyn CommandRunner, verb: &'static str, args: &[&str]) -> Result<(), OutboxError> {
    let mut argv = vec![verb];
    argv.extend_from_slice(args);
    cmds.run(&Cmd::new("snap", &argv)).map(drop).map_err(|source| match &source {
        CmdError::Spawn { source: io, .. } if io.kind() == std::io::ErrorKind::NotFound => OutboxError::NoSnapd,
        _ => OutboxError::Snap { verb, source },
    })
}

/// What the part needs from the rest of the hook.
pub struct Inputs<'a> {
    pub config: &'a CharmConfig,
    pub unit_state: &'a UnitState,
    /// Landscape's services restarted in this hook.
    pub landscape_restarted: bool,
}

/// Installs the snap or moves it to the configured channel, and restarts it
/// after Landscape's services. Nothing while Landscape is paused.
pub fn reconcile(host: &Host<'_>, inputs: &Inputs<'_>) -> Result<(), OutboxError> {
    if inputs.unit_state.contains(&StateKey::Paused) {
        return Ok(());
    }
    let channel = &inputs.config.landscape.outbox_snap_channel;
    let channel_arg = format!("--channel={channel}");
    match inputs.unit_state.get(&StateKey::OutboxChannel) {
        None => {
            snap(host.cmds, "install", &[SNAP, &channel_arg])?;
            host.log(LogLevel::Info, &format!("installed the {SNAP} snap from {channel}"));
        }
        Some(installed) if installed != channel => {
            snap(host.cmds, "refresh", &[SNAP, &channel_arg])?;
            host.log(LogLevel::Info, &format!("refreshed the {SNAP} snap from {installed} to {channel}"));
        }
        // Logged with Landscape's restart, which it follows.
        Some(_) if inputs.landscape_restarted => snap(host.cmds, "restart", &[SNAP])?,
        Some(_) => return Ok(()),
    }
    host.stage_state(StateKey::OutboxChannel, channel.clone());
    Ok(())
}

/// The pause action: the snap stops with Landscape (when it is installed).
pub fn stop(cmds: &dyn CommandRunner, unit_state: &UnitState) -> Result<(), OutboxError> {
    if unit_state.contains(&StateKey::OutboxChannel) { snap(cmds, "stop", &[SNAP]) } else { Ok(()) }
}

/// The resume action: the snap starts again with Landscape.
pub fn start(cmds: &dyn CommandRunner, unit_state: &UnitState) -> Result<(), OutboxError> {
    if unit_state.contains(&StateKey::OutboxChannel) { snap(cmds, "start", &[SNAP]) } else { Ok(()) }
}
