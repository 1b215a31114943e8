//! The SMTP relay (`smtp_relay_host`): postfix's `relayhost`, and a reload
//! when it changed.

use super::LandscapeError;
use crate::fsutil::{self, Owner};
use crate::host::Host;
use crate::juju::LogLevel;
use crate::paths::Paths;
use crate::system::Cmd;

/// postfix relays through `relay`; reloaded only when the line changed.
pub fn configure(host: &Host<'_>, relay: &str) -> Result<(), LandscapeError> {
    if set_relay_host(&host.paths, relay)? {
        host.cmds
            .run(&Cmd::new("systemctl", &["reload", "postfix"]))
            .map_err(|e| LandscapeError::Postfix(e.to_string()))?;
        host.log(LogLevel::Info, &format!("postfix relays through {relay}"));
    }
    Ok(())
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
}
