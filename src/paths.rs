//! Every filesystem path the charm touches, in one place.
//!
//! When `CHARM_FS_ROOT` is set (tests only), every path resolves under it, so a
//! test can run the real binary against a private directory tree. Nothing else
//! in the crate builds an absolute path by hand.

use std::path::{Path, PathBuf};

/// The environment variable that re-roots every system path (tests only).
pub const FS_ROOT_ENV: &str = "CHARM_FS_ROOT";
/// The system user HAProxy runs as, which owns its certificate bundle.
pub const HAPROXY_USER: &str = "haproxy";

#[derive(Debug, Clone)]
pub struct Paths {
    root: PathBuf,
}

impl Paths {
    /// Paths on the real system (`/`).
    pub fn system() -> Self {
        Self { root: PathBuf::from("/") }
    }

    /// Paths under `root` instead of `/`.
    pub fn under(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    /// `CHARM_FS_ROOT` if set and non-empty, otherwise the real system.
    pub fn from_env(env: &std::collections::HashMap<String, String>) -> Self {
        match env.get(FS_ROOT_ENV) {
            Some(root) if !root.is_empty() => Self::under(root),
            _ => Self::system(),
        }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    fn at(&self, absolute: &str) -> PathBuf {
        self.root.join(absolute.trim_start_matches('/'))
    }

    pub fn haproxy_dir(&self) -> PathBuf {
        self.at("/etc/haproxy")
    }

    /// The live HAProxy configuration.
    pub fn haproxy_config(&self) -> PathBuf {
        self.at("/etc/haproxy/haproxy.cfg")
    }

    /// A rendered configuration waiting for `haproxy -c`, beside the live one
    /// so that the final rename stays on one filesystem.
    pub fn haproxy_candidate_config(&self) -> PathBuf {
        self.at("/etc/haproxy/haproxy.cfg.candidate")
    }

    /// The last candidate HAProxy refused, kept for debugging.
    pub fn haproxy_rejected_config(&self) -> PathBuf {
        self.at("/etc/haproxy/haproxy.cfg.rejected")
    }

    /// HAProxy's refusal message for the rejected candidate.
    pub fn haproxy_rejected_reason(&self) -> PathBuf {
        self.at("/etc/haproxy/haproxy.cfg.rejected.reason")
    }

    /// Leaf certificate, chain and private key for the TLS frontends.
    pub fn haproxy_pem(&self) -> PathBuf {
        self.at("/etc/haproxy/haproxy.pem")
    }

    /// A new bundle until HAProxy has loaded it with the config that uses it.
    pub fn haproxy_candidate_pem(&self) -> PathBuf {
        self.at("/etc/haproxy/haproxy.pem.candidate")
    }

    pub fn haproxy_errors_dir(&self) -> PathBuf {
        self.at("/etc/haproxy/errors")
    }

    /// The master CLI the Ubuntu unit opens (`-S` in its `EXTRAOPTS`).
    pub fn haproxy_master_socket(&self) -> PathBuf {
        self.at("/run/haproxy-master.sock")
    }

    /// Error pages shipped by the landscape-server package.
    pub fn landscape_offline_dir(&self) -> PathBuf {
        self.at("/opt/canonical/landscape/canonical/landscape/offline")
    }

    pub fn service_conf(&self) -> PathBuf {
        self.at("/etc/landscape/service.conf")
    }

    pub fn landscape_defaults(&self) -> PathBuf {
        self.at("/etc/default/landscape-server")
    }

    /// A systemd drop-in of `unit` (`landscape-api.service`): `<unit>.d/<name>`.
    pub fn systemd_dropin(&self, unit: &str, name: &str) -> PathBuf {
        self.systemd_dropin_dir(unit).join(name)
    }

    /// The task handler's client bundle for the outbox, in the outbox
    /// snap's `$SNAP_COMMON`, which its strict confinement lets it read.
    pub fn outbox_task_handler_certs_dir(&self) -> PathBuf {
        self.at("/var/snap/landscape-outbox/common/task-handler-certs")
    }

    pub fn systemd_dropin_dir(&self, unit: &str) -> PathBuf {
        self.at("/etc/systemd/system").join(format!("{unit}.d"))
    }

    /// The signing key of `landscape_ppa`, when the operator gives one.
    pub fn landscape_apt_key(&self) -> PathBuf {
        self.at("/etc/apt/trusted.gpg.d/landscape-charm-ppa.asc")
    }

    /// A program shipped by the landscape-server package under /opt
    /// (`bootstrap-account`, `hash-id-databases-ignore-maintenance`, ...).
    pub fn landscape_program(&self, name: &str) -> PathBuf {
        self.at("/opt/canonical/landscape").join(name)
    }

    pub fn landscape_license(&self) -> PathBuf {
        self.at("/etc/landscape/license.txt")
    }

    /// Landscape's per-deployment-mode configuration directories.
    pub fn landscape_configs_dir(&self) -> PathBuf {
        self.at("/opt/canonical/landscape/configs")
    }

    pub fn postfix_main_cf(&self) -> PathBuf {
        self.at("/etc/postfix/main.cf")
    }

    /// SASL credentials for the relay, and the `.db` postmap makes of them.
    pub fn postfix_sasl_passwd(&self) -> PathBuf {
        self.at("/etc/postfix/sasl_passwd")
    }

    pub fn postfix_sasl_passwd_db(&self) -> PathBuf {
        self.at("/etc/postfix/sasl_passwd.db")
    }

    /// Where the NRPE agent reads check commands from.
    pub fn nrpe_dir(&self) -> PathBuf {
        self.at("/etc/nagios/nrpe.d")
    }

    /// This unit's private key for its load-balancer certificate (0600, root).
    pub fn lb_private_key(&self) -> PathBuf {
        self.at("/var/lib/landscape-server-charm/lb-private-key.pem")
    }

    /// Present from just before a new HAProxy config or certificate bundle is
    /// renamed into place until HAProxy has reloaded it. A file, not unit
    /// state: a hook killed in between is rolled back by Juju, and its record
    /// with it, but the renamed file stays, and so must the reload it owes.
    pub fn haproxy_reload_owed(&self) -> PathBuf {
        self.reload_owed("haproxy")
    }

    /// The same debt for postfix (main.cf, the SASL map) and for systemd's
    /// daemon-reload (the drop-ins): present from just before their files
    /// change until they have read them.
    pub fn postfix_reload_owed(&self) -> PathBuf {
        self.reload_owed("postfix")
    }

    pub fn daemon_reload_owed(&self) -> PathBuf {
        self.reload_owed("systemd-daemon")
    }

    fn reload_owed(&self, service: &str) -> PathBuf {
        self.at(&format!("/var/lib/landscape-server-charm/{service}-reload-owed"))
    }

    /// Where secret values are written for `secret-add`/`secret-set`
    /// (`key#file=`): root-only, and emptied at the start of every hook, so a
    /// hook killed mid-call leaves no secret behind for long.
    pub fn secret_content_dir(&self) -> PathBuf {
        self.at("/var/lib/landscape-server-charm/secret-content")
    }

    /// Every directory the charm writes files into atomically: where a hook
    /// killed mid-write can have left a temporary file.
    pub fn written_dirs(&self) -> Vec<PathBuf> {
        let mut dirs = vec![
            self.haproxy_dir(),
            self.haproxy_errors_dir(),
            self.charm_state_dir(),
            self.at("/etc/landscape"),
            self.at("/etc/default"),
            self.nrpe_dir(),
            self.at("/etc/postfix"),
            self.at("/etc/apt/trusted.gpg.d"),
        ];
        dirs.extend(crate::systemd_units::with_dropin().map(|unit| self.systemd_dropin_dir(unit)));
        dirs.push(self.outbox_task_handler_certs_dir());
        dirs
    }

    /// The charm's own private files (TLS private key, ...), root only.
    pub fn charm_state_dir(&self) -> PathBuf {
        self.at("/var/lib/landscape-server-charm")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn system_paths_are_absolute() {
        let p = Paths::system();
        assert_eq!(p.haproxy_config(), PathBuf::from("/etc/haproxy/haproxy.cfg"));
        assert_eq!(p.haproxy_pem(), PathBuf::from("/etc/haproxy/haproxy.pem"));
    }

    #[test]
    fn every_path_resolves_under_the_root() {
        let p = Paths::under("/tmp/unit-0");
        for path in [
            p.haproxy_dir(),
            p.haproxy_config(),
            p.haproxy_candidate_config(),
            p.haproxy_rejected_config(),
            p.haproxy_rejected_reason(),
            p.haproxy_pem(),
            p.haproxy_candidate_pem(),
            p.haproxy_errors_dir(),
            p.landscape_offline_dir(),
            p.service_conf(),
            p.landscape_defaults(),
            p.charm_state_dir(),
            p.lb_private_key(),
            p.landscape_apt_key(),
            p.landscape_program("bootstrap-account"),
            p.landscape_license(),
            p.landscape_configs_dir(),
            p.postfix_main_cf(),
            p.postfix_sasl_passwd(),
            p.postfix_sasl_passwd_db(),
            p.outbox_task_handler_certs_dir(),
            p.systemd_dropin("landscape-api.service", "deployment-mode.conf"),
            p.nrpe_dir(),
        ] {
            assert!(path.starts_with("/tmp/unit-0/"), "{path:?} escapes the root");
        }
    }

    #[test]
    fn empty_root_variable_means_the_system() {
        let env = [(FS_ROOT_ENV.to_string(), String::new())].into_iter().collect();
        assert_eq!(Paths::from_env(&env).root(), Path::new("/"));
    }
}
