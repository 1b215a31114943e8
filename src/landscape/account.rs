//! The parts of Landscape that are set once or rarely: the license, the first
//! account and autoregistration, the SMTP relay and the deployment mode.
//!
//! Passwords and registration keys go to commands only as
//! [`Cmd::secret_arg`], so they are masked in every log line and error.

use super::LandscapeError;
use crate::config::{AdminAccount, LicenseSource};
use crate::fsutil::{self, Owner, Written};
use crate::paths::Paths;
use crate::system::{Cmd, CmdError, CommandRunner};

/// Peer app data: set by the leader once the first account exists.
pub const ACCOUNT_BOOTSTRAPPED_KEY: &str = "account-bootstrapped";
/// Peer app data: the autoregistration setting last applied (`on`/`off`).
pub const AUTOREGISTRATION_KEY: &str = "autoregistration";
pub const LANDSCAPE_USER: &str = "landscape";

/// Sets `auto_register_new_computers` on the standalone account through
/// Landscape's own model (run with Landscape's Python, on its path).
const AUTOREGISTRATION_PROGRAM: &str = r#"
import sys
import transaction
from canonical.landscape.setup import load_config
from canonical.landscape.model.main.account import get_account_by_name
from canonical.landscape.model.account.management import AccountManagement

load_config("maintenance")
with transaction.manager:
    account = get_account_by_name("standalone")
    if account is None:
        sys.exit("no standalone account: bootstrap the first account first")
    AccountManagement(account).set_preferences(auto_register_new_computers=(sys.argv[1] == "on"))
"#;

/// The license bytes: decoded inline, or fetched with `curl` (which also
/// reads `file://`).
pub fn license_bytes(cmds: &dyn CommandRunner, source: &LicenseSource) -> Result<Vec<u8>, LandscapeError> {
    match source {
        LicenseSource::Inline(bytes) => Ok(bytes.clone()),
        LicenseSource::Url(url) => {
            let fetch =
                Cmd::new("curl", &["--fail", "--silent", "--show-error", "--location", "--max-time", "60", "--"])
                    .secret_arg(url.clone());
            // The URL may carry credentials: shown only with them masked.
            let shown = crate::text::mask_userinfo(url);
            match cmds.run(&fetch) {
                Ok(out) if !out.stdout.trim().is_empty() => Ok(out.stdout.into_bytes()),
                Ok(_) => Err(LandscapeError::License { url: shown, reason: "it is empty".into() }),
                Err(e) => Err(LandscapeError::License { url: shown, reason: e.to_string() }),
            }
        }
    }
}

/// `/etc/landscape/license.txt`, 0640, owned by landscape:root.
pub fn write_license(paths: &Paths, bytes: &[u8]) -> Result<Written, LandscapeError> {
    let landscape = Owner::of_user(LANDSCAPE_USER)?;
    let owner = Owner { uid: landscape.uid, gid: Some(0) };
    Ok(fsutil::write_atomic(&paths.landscape_license(), bytes, 0o640, owner)?)
}

/// Runs `bootstrap-account`. An account that already exists counts as done.
pub fn bootstrap_account(
    cmds: &dyn CommandRunner,
    paths: &Paths,
    admin: &AdminAccount,
    root_url: &str,
) -> Result<(), LandscapeError> {
    let program = paths.landscape_program("bootstrap-account");
    let mut cmd =
        Cmd::new(&program.display().to_string(), &["--admin_email", &admin.email, "--admin_name", &admin.name])
            .arg("--admin_password")
            .secret_arg(admin.password.clone())
            .arg("--root_url")
            .arg(root_url);
    if let Some(key) = &admin.registration_key {
        cmd = cmd.arg("--registration_key").secret_arg(key.clone());
    }
    if let Some(email) = &admin.system_email {
        cmd = cmd.arg("--system_email").arg(email.clone());
    }
    let out = cmds.output(&cmd).map_err(LandscapeError::Account)?;
    if out.success() || out.combined().contains("DuplicateAccountError") {
        return Ok(());
    }
    Err(LandscapeError::Account(CmdError::Failed {
        command: cmd.display(),
        code: out.code,
        output: cmd.redact(&out.combined()),
    }))
}

pub fn set_autoregistration(cmds: &dyn CommandRunner, paths: &Paths, on: bool) -> Result<(), LandscapeError> {
    let python_path = paths.landscape_program("");
    let cmd = Cmd::new("python3", &["-c", AUTOREGISTRATION_PROGRAM, if on { "on" } else { "off" }])
        .env("PYTHONPATH", &python_path.display().to_string());
    cmds.run(&cmd).map(drop).map_err(LandscapeError::Autoregistration)
}

/// Sets `relayhost` in postfix's main.cf; returns whether the file changed.
pub fn set_relay_host(paths: &Paths, relay: &str) -> Result<bool, LandscapeError> {
    let path = paths.postfix_main_cf();
    let Some(current) = fsutil::read_optional(&path)? else {
        return Err(LandscapeError::Postfix(format!("{} does not exist: is postfix installed?", path.display())));
    };
    let current = String::from_utf8_lossy(&current).into_owned();
    let wanted = format!("relayhost = {relay}");
    let is_relay_line = |l: &str| l.split('=').next().is_some_and(|k| k.trim() == "relayhost") && l.contains('=');
    let mut lines: Vec<String> = current.lines().map(str::to_string).collect();
    match lines.iter().position(|l| is_relay_line(l)) {
        Some(i) => lines[i] = wanted,
        None => lines.push(wanted),
    }
    let mut text = lines.join("\n");
    text.push('\n');
    if text == current {
        return Ok(false);
    }
    let (mode, owner) = fsutil::mode_and_owner(&path)?.unwrap_or((0o644, Owner::default()));
    fsutil::write_atomic(&path, text.as_bytes(), mode, owner)?;
    Ok(true)
}

/// For a mode other than standalone, Landscape expects
/// `configs/<mode>` beside `configs/standalone`.
pub fn ensure_deployment_mode_link(paths: &Paths, mode: &str) -> Result<bool, LandscapeError> {
    if mode == "standalone" {
        return Ok(false);
    }
    let link = paths.landscape_configs_dir().join(mode);
    if std::fs::symlink_metadata(&link).is_ok() {
        return Ok(false);
    }
    std::fs::create_dir_all(paths.landscape_configs_dir())
        .and_then(|()| std::os::unix::fs::symlink("standalone", &link))
        .map_err(|e| fsutil::FsError::new("create the symlink", &link, e))?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relay_host_replaces_its_line_and_keeps_the_rest() {
        let dir = tempfile::tempdir().unwrap();
        let paths = Paths::under(dir.path());
        let cf = paths.postfix_main_cf();
        std::fs::create_dir_all(cf.parent().unwrap()).unwrap();
        std::fs::write(&cf, "myhostname = lds\nrelayhost =\n# end\n").unwrap();
        assert!(set_relay_host(&paths, "[smtp.example]:587").unwrap());
        assert_eq!(std::fs::read_to_string(&cf).unwrap(), "myhostname = lds\nrelayhost = [smtp.example]:587\n# end\n");
        assert!(!set_relay_host(&paths, "[smtp.example]:587").unwrap());
    }

    #[test]
    fn deployment_mode_link_points_at_standalone() {
        let dir = tempfile::tempdir().unwrap();
        let paths = Paths::under(dir.path());
        assert!(!ensure_deployment_mode_link(&paths, "standalone").unwrap());
        assert!(ensure_deployment_mode_link(&paths, "saas").unwrap());
        let link = paths.landscape_configs_dir().join("saas");
        assert_eq!(std::fs::read_link(link).unwrap(), std::path::Path::new("standalone"));
        assert!(!ensure_deployment_mode_link(&paths, "saas").unwrap());
    }
}
