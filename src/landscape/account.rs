//! The first account and autoregistration, which the leader applies once
//! Landscape runs.
//!
//! Passwords and registration keys go to commands only as
//! [`Cmd::secret_arg`], so they are masked in every log line and error.

use super::{Inputs, LandscapeError};
use crate::config::AdminAccount;
use crate::host::Host;
use crate::juju::LogLevel;
use crate::paths::Paths;
use crate::peer_app::PeerKey;
use crate::system::{Cmd, CmdError, CommandRunner};

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

/// What PostgreSQL says to a client it has no `pg_hba.conf` line for.
pub const PG_HBA_NOT_YET: &str = "no pg_hba.conf entry";

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
    let failed = CmdError::Failed { command: cmd.display(), code: out.code, output: cmd.redact(&out.combined()) };
    // PostgreSQL has not let this unit in yet (the database charm updates
    // pg_hba.conf after it publishes the credentials): fail the hook, so
    // that Juju retries it soon, rather than wait for the next event.
    if out.combined().contains(PG_HBA_NOT_YET) {
        return Err(LandscapeError::DatabaseNotOpenYet(failed));
    }
    Err(LandscapeError::Account(failed))
}

pub fn set_autoregistration(cmds: &dyn CommandRunner, paths: &Paths, on: bool) -> Result<(), LandscapeError> {
    let python_path = paths.landscape_program("");
    let cmd = Cmd::new("python3", &["-c", AUTOREGISTRATION_PROGRAM, if on { "on" } else { "off" }])
        .env("PYTHONPATH", &python_path.display().to_string());
    cmds.run(&cmd).map(drop).map_err(LandscapeError::Autoregistration)
}

/// Leader, services running: the first account once, then autoregistration
/// whenever its setting differs from the one last applied.
pub fn ensure(host: &Host<'_>, inputs: &Inputs<'_>, root_url: &str) -> Result<(), LandscapeError> {
    if inputs.peers.relation.is_none() {
        return Ok(());
    }
    let lc = &inputs.config.landscape;
    let app = &inputs.peers.app_data;
    if !app.contains(PeerKey::AccountBootstrapped) {
        let Some(admin) = &lc.admin else { return Ok(()) };
        bootstrap_account(host.cmds, &host.paths, admin, root_url)?;
        host.log(LogLevel::Info, &format!("bootstrapped the first account for {}", admin.email));
        // Recorded at once: it stays so even when autoregistration fails.
        host.stage_peer_app(PeerKey::AccountBootstrapped, "true");
    }
    let wanted = if lc.autoregistration { "on" } else { "off" };
    // Off is Landscape's default: nothing to do until it was turned on once.
    let applied = app.get(PeerKey::Autoregistration).map_or("off", String::as_str);
    if applied != wanted {
        set_autoregistration(host.cmds, &host.paths, lc.autoregistration)?;
        host.log(LogLevel::Info, &format!("autoregistration is {wanted}"));
        host.stage_peer_app(PeerKey::Autoregistration, wanted);
    }
    Ok(())
}
