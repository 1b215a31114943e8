//! APT and dpkg: what dpkg has installed, asked once per hook, and the one
//! way the charm runs apt-get (never asking a question).
//!
//! `dpkg-query` reads the whole status file (about 10 ms on a real machine),
//! so the charm asks it once, for every package it manages, and hands the
//! answer to the parts that need it.

use std::collections::BTreeSet;

use super::{Cmd, CmdError, CommandRunner};

/// `apt-get <args>` that never asks (there is no terminal in a hook).
pub fn apt_get(args: &[&str]) -> Cmd {
    Cmd::new("apt-get", args).env("DEBIAN_FRONTEND", "noninteractive")
}

/// Installs `package` when dpkg says it is missing, from a fresh index (a
/// stale one can name a .deb the archive no longer serves). Returns whether
/// it installed anything.
pub fn install_if_missing(cmds: &dyn CommandRunner, package: &str, installed: bool) -> Result<bool, CmdError> {
    if installed {
        return Ok(false);
    }
    cmds.run(&apt_get(&["update", "-q"]))?;
    cmds.run(&apt_get(&["install", "-y", "-q", package]))?;
    Ok(true)
}

/// `apt-mark hold` on an installed package that is not held yet. Returns
/// whether it held it.
pub fn hold_if_unheld(cmds: &dyn CommandRunner, package: &str, packages: &InstalledPackages) -> Result<bool, CmdError> {
    if !packages.has(package) || packages.is_held(package) {
        return Ok(false);
    }
    cmds.run(&Cmd::new("apt-mark", &["hold", package]))?;
    Ok(true)
}

/// The packages dpkg reported fully installed, and which of them are held.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InstalledPackages {
    installed: BTreeSet<String>,
    held: BTreeSet<String>,
}

impl InstalledPackages {
    /// `dpkg-query -W -f='${Package} ${Status}\n' <packages…>`. dpkg exits 1
    /// when it knows some package of the list not at all, and still prints the
    /// others, so 0 and 1 are both answers.
    pub fn query(cmds: &dyn CommandRunner, packages: &[&str]) -> Result<Self, CmdError> {
        let mut query = Cmd::new("dpkg-query", &["-W", "-f=${Package} ${Status}\\n"]);
        for package in packages {
            query = query.arg(*package);
        }
        let out = cmds.output(&query)?;
        if !matches!(out.code, Some(0 | 1)) {
            return Err(CmdError::Failed { command: query.display(), code: out.code, output: out.combined() });
        }
        Ok(Self::parse(&out.stdout))
    }

    /// Lines of `<package> <want> <flag> <status>`. A package is installed
    /// when its status is `installed` with the `ok` flag, whatever the
    /// selection: `apt-mark hold` turns `install ok installed` into
    /// `hold ok installed`, and a held package is still installed.
    pub fn parse(text: &str) -> Self {
        let mut found = Self::default();
        for line in text.lines() {
            if let [package, want, "ok", "installed"] = line.split_whitespace().collect::<Vec<_>>().as_slice() {
                found.installed.insert(package.to_string());
                if *want == "hold" {
                    found.held.insert(package.to_string());
                }
            }
        }
        found
    }

    /// Installed and held (`apt-mark hold`): no upgrade will touch it.
    pub fn is_held(&self, package: &str) -> bool {
        self.held.contains(package)
    }

    pub fn has(&self, package: &str) -> bool {
        self.installed.contains(package)
    }

    /// Records what this hook installed or removed, for the parts after it.
    pub fn set(&mut self, package: &str, installed: bool) {
        if installed {
            self.installed.insert(package.to_string());
        } else {
            self.installed.remove(package);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn held_and_installed_packages_count_and_others_do_not() {
        let text = "haproxy install ok installed\nlandscape-server hold ok installed\n\
                    needrestart deinstall ok config-files\nbroken install reinstreq half-installed\n";
        let packages = InstalledPackages::parse(text);
        assert!(packages.has("haproxy"));
        assert!(packages.has("landscape-server"), "apt-mark hold keeps a package installed");
        assert!(!packages.has("needrestart"));
        assert!(!packages.has("broken"));
        assert!(!packages.has("landscape-ubuntu-installer-attach"));
    }
}
