//! The Landscape license (`license_file`), and the deployment mode's
//! configuration directory: the files Landscape reads at start besides
//! service.conf.

use super::LandscapeError;
use crate::config::DeploymentMode;
use crate::config::LicenseSource;
use crate::fsutil::{self, Owner, Written};
use crate::paths::Paths;
use crate::system::{Cmd, CommandRunner};

pub const LANDSCAPE_USER: &str = "landscape";

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

/// For a mode other than standalone, Landscape expects
/// `configs/<mode>` beside `configs/standalone`.
pub fn ensure_deployment_mode_link(paths: &Paths, mode: &DeploymentMode) -> Result<bool, LandscapeError> {
    if mode.is_standalone() {
        return Ok(false);
    }
    let link = paths.landscape_configs_dir().join(mode.as_str());
    if std::fs::symlink_metadata(&link).is_ok() {
        return Ok(false);
    }
    std::fs::create_dir_all(paths.landscape_configs_dir())
        .and_then(|()| std::os::unix::fs::symlink(DeploymentMode::STANDALONE, &link))
        .map_err(|e| fsutil::FsError::new("create the symlink", &link, e))?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deployment_mode_link_points_at_standalone() {
        let dir = tempfile::tempdir().unwrap();
        let paths = Paths::under(dir.path());
        let mode = |m: &str| DeploymentMode::parse(m).unwrap();
        assert!(!ensure_deployment_mode_link(&paths, &mode("standalone")).unwrap());
        assert!(ensure_deployment_mode_link(&paths, &mode("saas")).unwrap());
        let link = paths.landscape_configs_dir().join("saas");
        assert_eq!(std::fs::read_link(link).unwrap(), std::path::Path::new("standalone"));
        assert!(!ensure_deployment_mode_link(&paths, &mode("saas")).unwrap());
    }
}
