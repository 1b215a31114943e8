//! What a unit tells Juju and its operator: `status-set`, `application-version-set`, `juju-log`.

use super::{HookToolError, HookTools, LogLevel, StatusName, owned};

impl HookTools<'_> {
    pub fn status_set(&self, status: StatusName, message: &str, application: bool) -> Result<(), HookToolError> {
        let mut args = Vec::new();
        if application {
            args.push("--application".to_string());
        }
        // Bounded and on one line whatever a part put in it (see crate::text).
        args.extend(owned(&[status.as_str(), "--", &crate::text::one_line(message)]));
        self.call("status-set", args, None).map(drop)
    }

    pub fn application_version_set(&self, version: &str) -> Result<(), HookToolError> {
        self.call("application-version-set", owned(&["--", version]), None).map(drop)
    }

    pub fn juju_log(&self, level: LogLevel, message: &str) -> Result<(), HookToolError> {
        let message = crate::text::one_line(message);
        self.call("juju-log", owned(&["--log-level", level.as_str(), "--", &message]), None).map(drop)
    }
}
