//! Installing Landscape from its PPA, and the optional packages.
//!
//! Checked on every hook (the hook's one `dpkg-query`), so a failed install is retried
//! by the next hook as well as by Juju, and a changed `landscape_ppa` adds the
//! new source (the `upgrade` action then moves to it).

use crate::config::{LandscapeConfig, ProxyConfig};
use crate::fsutil::{self, FsError, Owner};
use crate::juju::context::ModelProxies;
use crate::paths::Paths;
use crate::system::apt::apt_get as apt;
use crate::system::{Cmd, CmdError, CommandRunner};

pub const LANDSCAPE_PACKAGE: &str = "landscape-server";
pub const HASHIDS_PACKAGE: &str = "landscape-hashids";
pub const INSTALLER_ATTACH_PACKAGE: &str = "landscape-ubuntu-installer-attach";
/// Hangs unattended installs by asking which services to restart.
pub const NEEDRESTART_PACKAGE: &str = "needrestart";
/// dpkg's answer to a changed conffile during an upgrade: the default where
/// there is one, else the file on disk.
const CONFFILE_POLICY: &[&str] = &["-o", "Dpkg::Options::=--force-confdef", "-o", "Dpkg::Options::=--force-confold"];
/// Packages the `upgrade` action brings to their latest version.
pub const UPGRADED_PACKAGES: &[&str] = &["landscape-server", "landscape-client", "landscape-common", "haproxy"];
/// Held between upgrades: `landscape-server` (its schema moves with it) and
/// `haproxy` (its config was validated against the version in place).
pub const HELD_PACKAGES: &[&str] = &["landscape-server", "haproxy"];

#[derive(Debug, thiserror::Error)]
pub enum InstallError {
    #[error("{step}: {source}")]
    Command {
        step: &'static str,
        #[source]
        source: CmdError,
    },
    #[error(transparent)]
    Fs(#[from] FsError),
}

fn step(step: &'static str) -> impl FnOnce(CmdError) -> InstallError {
    move |source| InstallError::Command { step, source }
}

/// Proxy variables for downloads: the charm's options first, then the
/// model's `juju-*-proxy` settings (the Python charm's rule, LP#2025978).
pub fn proxy_env(config: &ProxyConfig, model: &ModelProxies) -> Vec<(&'static str, String)> {
    let mut env = vec![];
    let pairs = [
        (config.http.as_ref().or(model.http.as_ref()), ["http_proxy", "HTTP_PROXY"]),
        (config.https.as_ref().or(model.https.as_ref()), ["https_proxy", "HTTPS_PROXY"]),
        (config.no_proxy.as_ref().or(model.no_proxy.as_ref()), ["no_proxy", "NO_PROXY"]),
    ];
    for (value, names) in pairs {
        if let Some(value) = value {
            for name in names {
                env.push((name, value.clone()));
            }
        }
    }
    env
}

fn with_env(mut cmd: Cmd, env: &[(&'static str, String)]) -> Cmd {
    for (k, v) in env {
        cmd = cmd.env(k, v);
    }
    cmd
}

/// Adds every source of `landscape_ppa` (and its signing key, if given) to
/// APT's sources.
pub fn add_source(
    cmds: &dyn CommandRunner,
    paths: &Paths,
    config: &LandscapeConfig,
    env: &[(&'static str, String)],
) -> Result<(), InstallError> {
    if let Some(key) = &config.ppa_key {
        let mut text = key.clone();
        text.push('\n');
        fsutil::write_atomic(&paths.landscape_apt_key(), text.as_bytes(), 0o644, Owner::default())?;
    }
    for source in crate::config::split_sources(&config.ppa) {
        let add = with_env(Cmd::new("add-apt-repository", &["-y"]).arg(source), env);
        cmds.run(&add).map_err(step("add-apt-repository"))?;
    }
    Ok(())
}

/// Removes the sources of an earlier `landscape_ppa` that the current one
/// no longer has.
pub fn remove_sources(
    cmds: &dyn CommandRunner,
    old: &str,
    current: &str,
    env: &[(&'static str, String)],
) -> Result<(), InstallError> {
    let kept = crate::config::split_sources(current);
    for source in crate::config::split_sources(old).into_iter().filter(|s| !kept.contains(s)) {
        let remove = with_env(Cmd::new("add-apt-repository", &["-y", "--remove"]).arg(source), env);
        cmds.run(&remove).map_err(step("add-apt-repository --remove"))?;
    }
    Ok(())
}

/// The whole install: needrestart out, the PPA in, Landscape installed and held.
pub fn install_landscape(
    cmds: &dyn CommandRunner,
    paths: &Paths,
    config: &LandscapeConfig,
    env: &[(&'static str, String)],
    needrestart_installed: bool,
) -> Result<(), InstallError> {
    if needrestart_installed {
        cmds.run(&apt(&["remove", "-y", "-q", NEEDRESTART_PACKAGE])).map_err(step("apt-get remove needrestart"))?;
    }
    add_source(cmds, paths, config, env)?;
    cmds.run(&apt(&["update", "-q"])).map_err(step("apt-get update"))?;
    let mut packages = vec![LANDSCAPE_PACKAGE];
    let mut install = apt(&["install", "-y", "-q"]);
    if config.min_install {
        install = install.arg("--no-install-recommends");
    } else {
        packages.push(HASHIDS_PACKAGE);
    }
    for p in &packages {
        install = install.arg(*p);
    }
    cmds.run(&install).map_err(step("apt-get install"))?;
    let mut hold = Cmd::new("apt-mark", &["hold"]);
    for p in &packages {
        hold = hold.arg(*p);
    }
    cmds.run(&hold).map_err(step("apt-mark hold"))?;
    Ok(())
}

/// Installs or removes one optional package, given whether dpkg has it.
/// Returns whether it acted.
pub fn ensure_package(
    cmds: &dyn CommandRunner,
    package: &str,
    wanted: bool,
    installed: bool,
) -> Result<bool, InstallError> {
    if installed == wanted {
        return Ok(false);
    }
    if wanted {
        // A stale index can name a .deb the archive no longer serves.
        cmds.run(&apt(&["update", "-q"])).map_err(step("apt-get update"))?;
    }
    let cmd = if wanted { apt(&["install", "-y", "-q", package]) } else { apt(&["remove", "-y", "-q", package]) };
    cmds.run(&cmd).map_err(step(if wanted { "apt-get install" } else { "apt-get remove" }))?;
    Ok(true)
}

/// The `upgrade` action: latest Landscape packages, `landscape-server` held again afterwards
/// whatever happens.
pub fn upgrade(cmds: &dyn CommandRunner) -> Result<(), InstallError> {
    cmds.run(&apt(&["update", "-q"])).map_err(step("apt-get update"))?;
    cmds.run(&Cmd::new("apt-mark", &[&["unhold"][..], HELD_PACKAGES].concat())).map_err(step("apt-mark unhold"))?;
    let mut install = apt(&["install", "-y", "-q"]);
    for p in UPGRADED_PACKAGES {
        install = install.arg(*p);
    }
    // A changed conffile in the new package must not make dpkg ask (there is
    // no terminal): keep the file on disk, as the Python charm did.
    for option in CONFFILE_POLICY {
        install = install.arg(*option);
    }
    let result = cmds.run(&install).map_err(step("apt-get install"));
    let hold = cmds.run(&Cmd::new("apt-mark", &[&["hold"][..], HELD_PACKAGES].concat())).map_err(step("apt-mark hold"));
    result.and(hold).map(drop)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn charm_options_win_over_model_proxies() {
        let config = ProxyConfig { http: Some("http://charm:3128".into()), ..Default::default() };
        let model = ModelProxies {
            http: Some("http://model:3128".into()),
            https: Some("http://model:3129".into()),
            no_proxy: None,
        };
        let env = proxy_env(&config, &model);
        assert!(env.contains(&("http_proxy", "http://charm:3128".into())));
        assert!(env.contains(&("HTTPS_PROXY", "http://model:3129".into())));
        assert!(!env.iter().any(|(k, _)| *k == "no_proxy"));
    }
}
