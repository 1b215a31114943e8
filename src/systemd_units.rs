//! Landscape's systemd units, in one table (the services and their ports
//! are `config/ports.rs`'s): which units run where, which NRPE watches, which
//! update-status checks, and which get the deployment-mode drop-in. Read by
//! monitoring, `/etc/default/landscape-server`, the services and
//! update-status.

/// Where a unit runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Runs {
    EveryUnit,
    /// The leader only (LP#2072248: never two package-upload or
    /// package-search).
    Leader,
}

/// When update-status's one `systemctl is-active` includes a unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SteadyCheck {
    Always,
    OnTheLeader,
    /// On the leader of a standalone deployment (package upload).
    OnAStandaloneLeader,
    /// Not checked: it runs only with an optional feature on.
    Never,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SystemdUnit {
    /// Without `.service`.
    pub name: &'static str,
    /// `<name>.service`.
    pub file: &'static str,
    pub runs: Runs,
    /// Watched by an NRPE check (`nrpe-external-master`).
    pub nrpe: bool,
    pub steady: SteadyCheck,
    /// Its unit file hardcodes the standalone deployment mode (26.04), so it
    /// gets a drop-in (`landscape::dropins`).
    pub dropin: bool,
}

macro_rules! unit {
    ($name:literal, $runs:expr, $nrpe:expr, $steady:expr, $dropin:expr) => {
        SystemdUnit {
            name: $name,
            file: concat!($name, ".service"),
            runs: $runs,
            nrpe: $nrpe,
            steady: $steady,
            dropin: $dropin,
        }
    };
}

use Runs::{EveryUnit, Leader};
use SteadyCheck::{Always, Never, OnAStandaloneLeader, OnTheLeader};

pub const SYSTEMD_UNITS: [SystemdUnit; 10] = [
    unit!("landscape-api", EveryUnit, true, Always, true),
    unit!("landscape-appserver", EveryUnit, true, Always, true),
    unit!("landscape-async-frontend", EveryUnit, true, Always, true),
    unit!("landscape-job-handler", EveryUnit, true, Always, true),
    unit!("landscape-msgserver", EveryUnit, true, Always, true),
    unit!("landscape-pingserver", EveryUnit, true, Always, true),
    unit!("landscape-hostagent-messenger", EveryUnit, true, Never, false),
    unit!("landscape-hostagent-consumer", EveryUnit, true, Never, false),
    unit!("landscape-package-search", Leader, true, OnTheLeader, true),
    unit!("landscape-package-upload", Leader, true, OnAStandaloneLeader, true),
];

/// The units only the leader may run.
pub fn leader_only() -> impl Iterator<Item = &'static str> {
    SYSTEMD_UNITS.iter().filter(|u| u.runs == Leader).map(|u| u.name)
}

/// The units NRPE watches on this unit.
pub fn nrpe_checked(is_leader: bool) -> impl Iterator<Item = &'static str> {
    SYSTEMD_UNITS.iter().filter(move |u| u.nrpe && (u.runs == EveryUnit || is_leader)).map(|u| u.name)
}

/// The units that run while Landscape is up: what update-status checks.
pub fn steady(is_leader: bool, standalone: bool) -> Vec<&'static str> {
    SYSTEMD_UNITS
        .iter()
        .filter(|u| match u.steady {
            Always => true,
            OnTheLeader => is_leader,
            OnAStandaloneLeader => is_leader && standalone,
            Never => false,
        })
        .map(|u| u.name)
        .collect()
}

/// The unit files that get the deployment-mode drop-in.
pub fn with_dropin() -> impl Iterator<Item = &'static str> {
    SYSTEMD_UNITS.iter().filter(|u| u.dropin).map(|u| u.file)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What the lists this table replaced said, name for name.
    #[test]
    fn each_reader_gets_what_it_got_before() {
        let leader_only: Vec<_> = leader_only().collect();
        assert_eq!(leader_only, ["landscape-package-search", "landscape-package-upload"]);
        let nrpe: Vec<_> = nrpe_checked(false).collect();
        assert_eq!(nrpe.len(), 8);
        assert!(nrpe.contains(&"landscape-hostagent-consumer") && !nrpe.contains(&"landscape-package-search"));
        assert_eq!(nrpe_checked(true).count(), 10);
        assert_eq!(steady(false, true).len(), 6);
        assert_eq!(steady(true, false).last(), Some(&"landscape-package-search"));
        assert_eq!(steady(true, true).last(), Some(&"landscape-package-upload"));
        let dropins: Vec<_> = with_dropin().collect();
        assert_eq!(
            dropins,
            [
                "landscape-api.service",
                "landscape-appserver.service",
                "landscape-async-frontend.service",
                "landscape-job-handler.service",
                "landscape-msgserver.service",
                "landscape-pingserver.service",
                "landscape-package-search.service",
                "landscape-package-upload.service",
            ]
        );
    }
}
