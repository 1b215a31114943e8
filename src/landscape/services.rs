//! Landscape's services: `lsctl` for the whole set, `systemctl` for the two
//! that only the leader may run.

use crate::system::{Cmd, CmdError, CmdOutput, CommandRunner};

fn lsctl(cmds: &dyn CommandRunner, verb: &str) -> Result<CmdOutput, CmdError> {
    cmds.run(&Cmd::new("lsctl", &[verb]))
}

pub fn restart(cmds: &dyn CommandRunner) -> Result<(), CmdError> {
    lsctl(cmds, "restart").map(drop)
}

pub fn stop(cmds: &dyn CommandRunner) -> Result<(), CmdError> {
    lsctl(cmds, "stop").map(drop)
}

/// `lsctl start`, then `lsctl status` to see that everything came up.
pub fn start(cmds: &dyn CommandRunner) -> Result<(), CmdError> {
    lsctl(cmds, "start")?;
    lsctl(cmds, "status").map(drop)
}

/// Unmasks and starts the leader-only services on the leader; stops and
/// masks them elsewhere, so that nothing (not even `lsctl start`) can run a
/// second package-upload or package-search (LP#2072248).
pub fn set_leader_only_services(cmds: &dyn CommandRunner, leader: bool) -> Result<(), CmdError> {
    for service in crate::systemd_units::leader_only() {
        if leader {
            cmds.run(&Cmd::new("systemctl", &["unmask", service]))?;
            cmds.run(&Cmd::new("systemctl", &["enable", "--now", service]))?;
        } else {
            cmds.run(&Cmd::new("systemctl", &["disable", "--now", service]))?;
            cmds.run(&Cmd::new("systemctl", &["mask", service]))?;
        }
    }
    Ok(())
}
