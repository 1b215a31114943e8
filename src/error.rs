//! The top-level failure of a hook: the sum of every part's error.
//!
//! What each failure means for the unit is said beside its type (its
//! [`Explain`] impl); this sum only delegates. The test table below has a
//! row for every variant (a test counts them against the enum) and the
//! status it gives, so this file is where a reader learns the whole policy.

use crate::config::ConfigError;
use crate::fsutil::FsError;
use crate::haproxy::{ApplyError, HaproxyError};
use crate::juju::HookToolError;
use crate::juju::context::ContextError;
use crate::landscape::LandscapeError;
use crate::monitoring::MonitoringError;
use crate::status::{Explain, Status};
use crate::system::CmdError;
use crate::tls::TlsError;

#[derive(Debug, thiserror::Error)]
pub enum CharmError {
    #[error(transparent)]
    Context(#[from] ContextError),
    #[error(transparent)]
    HookTool(#[from] HookToolError),
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Fs(#[from] FsError),
    #[error(transparent)]
    Command(#[from] CmdError),
    #[error(transparent)]
    Tls(#[from] TlsError),
    #[error(transparent)]
    Haproxy(#[from] HaproxyError),
    #[error(transparent)]
    Monitoring(#[from] MonitoringError),
    #[error(transparent)]
    Landscape(#[from] LandscapeError),
    #[error(transparent)]
    Outbox(#[from] crate::companions::outbox::OutboxError),
    #[error(transparent)]
    Smtp(#[from] crate::companions::smtp::SmtpError),
    #[error(transparent)]
    Debarchive(#[from] crate::companions::debarchive::DebarchiveError),
    #[error(transparent)]
    TaskHandler(#[from] crate::companions::task_handler::TaskHandlerError),
}

/// Each companion's failure keeps its own kind.
impl From<crate::companions::CompanionError> for CharmError {
    fn from(e: crate::companions::CompanionError) -> Self {
        use crate::companions::CompanionError;
        match e {
            CompanionError::Smtp(e) => CharmError::Smtp(e),
            CompanionError::Debarchive(e) => CharmError::Debarchive(e),
            CompanionError::Outbox(e) => CharmError::Outbox(e),
            CompanionError::TaskHandler(e) => CharmError::TaskHandler(e),
        }
    }
}

impl From<ApplyError> for CharmError {
    fn from(e: ApplyError) -> Self {
        CharmError::Haproxy(HaproxyError::Apply(e))
    }
}

impl Explain for CharmError {
    fn status(&self) -> Option<Status> {
        match self {
            CharmError::Config(e) => e.status(),
            CharmError::Tls(e) => e.status(),
            CharmError::Haproxy(e) => e.status(),
            CharmError::Monitoring(e) => e.status(),
            CharmError::Landscape(e) => e.status(),
            CharmError::Outbox(e) => e.status(),
            CharmError::Smtp(e) => e.status(),
            CharmError::Debarchive(e) => e.status(),
            CharmError::TaskHandler(e) => e.status(),
            // The ground floor's failures (the environment, hook tools,
            // files, commands) are faults for Juju to retry.
            CharmError::Context(_) | CharmError::HookTool(_) | CharmError::Fs(_) | CharmError::Command(_) => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::ConfigProblem;
    use crate::haproxy::RenderError;
    use crate::landscape::install::InstallError;

    fn failed() -> CmdError {
        CmdError::Failed { command: "x".into(), code: Some(1), output: "boom".into() }
    }

    fn tool_failed() -> HookToolError {
        HookToolError::Failed { tool: "x".into(), args: String::new(), code: Some(1), stderr: String::new() }
    }

    fn fs_failed() -> FsError {
        FsError::new("write", std::path::Path::new("/x"), std::io::Error::other("full"))
    }

    /// The failures that set a status (Blocked; Waiting when the charm
    /// retries by itself), and the status each shows.
    fn rows_that_block() -> Vec<(CharmError, Option<Status>)> {
        let config = ConfigError {
            problems: vec![ConfigProblem { option: "worker_counts".into(), reason: "must be between 1 and 64".into() }],
        };
        let rejected = ApplyError::Rejected { first_error: "[ALERT] bad".into(), output: String::new() };
        vec![
            (config.into(), Some(Status::blocked("Invalid config: worker_counts must be between 1 and 64"))),
            (rejected.into(), Some(Status::blocked("HAProxy rejected the new config: [ALERT] bad"))),
            (
                HaproxyError::Render(RenderError::NotAToken { what: "server", value: "a b".into() }).into(),
                Some(Status::blocked(
                    "Cannot render the HAProxy config: refusing to render server \"a b\": it is not a single HAProxy token",
                )),
            ),
            (
                TlsError::BadProviderData("the certificate has expired".into()).into(),
                Some(Status::blocked("load-balancer-certificates: the certificate has expired")),
            ),
            (
                LandscapeError::UnusableDatabase("host \"a b\" is not a host".into()).into(),
                Some(Status::blocked("Unusable database settings: host \"a b\" is not a host")),
            ),
            (LandscapeError::Brokers("different brokers".into()).into(), Some(Status::blocked("different brokers"))),
            (
                LandscapeError::Start(failed()).into(),
                Some(Status::blocked("Failed to start services: x failed (exit status 1): boom")),
            ),
            (
                LandscapeError::Schema(failed()).into(),
                Some(Status::blocked("Failed to bootstrap the database schema: x failed (exit status 1): boom")),
            ),
            (
                LandscapeError::License { url: "https://x/".into(), reason: "404".into() }.into(),
                Some(Status::blocked("license_file: cannot fetch https://x/: 404")),
            ),
        ]
        .into_iter()
        .chain(companion_rows_that_block())
        .chain(rows_that_wait())
        .collect()
    }

    /// The failures the charm retries by itself, saying so meanwhile.
    fn rows_that_wait() -> Vec<(CharmError, Option<Status>)> {
        vec![(
            HaproxyError::Apply(ApplyError::ReloadUnconfirmed).into(),
            Some(Status::waiting(
                "HAProxy has not taken the new config: its master did not reload on two signals; retrying",
            )),
        )]
    }

    /// The companions' failures that block the unit.
    fn companion_rows_that_block() -> Vec<(CharmError, Option<Status>)> {
        vec![
            (
                crate::companions::smtp::SmtpError::Postfix("no main.cf".into()).into(),
                Some(Status::blocked("postfix configuration failed: no main.cf")),
            ),
            (
                crate::companions::outbox::OutboxError::NoSnapd.into(),
                Some(Status::blocked(
                    "landscape-outbox needs snapd, which is not installed on this machine (apt install snapd)",
                )),
            ),
            (
                crate::companions::smtp::SmtpError::Provider("port is missing".into()).into(),
                Some(Status::blocked("smtp: port is missing")),
            ),
            (
                crate::companions::task_handler::TaskHandlerError::Provider(
                    "grpc-address is not host:port: \"x\"".into(),
                )
                .into(),
                Some(Status::blocked("task-handler: grpc-address is not host:port: \"x\"")),
            ),
        ]
    }

    /// The failures Juju retries (the hook fails, no status is set).
    fn rows_that_retry() -> Vec<(CharmError, Option<Status>)> {
        vec![
            (LandscapeError::Install(InstallError::Command { step: "apt-get install", source: failed() }).into(), None),
            (LandscapeError::LeaderServices(failed()).into(), None),
            (HaproxyError::Apply(ApplyError::Service(failed())).into(), None),
            (TlsError::Crypto("no rng".into()).into(), None),
            (MonitoringError::HookTool(tool_failed()).into(), None),
            (tool_failed().into(), None),
            (fs_failed().into(), None),
            (failed().into(), None),
            (ContextError::Missing("JUJU_UNIT_NAME").into(), None),
            (crate::companions::debarchive::DebarchiveError::HookTool(tool_failed()).into(), None),
            (crate::companions::task_handler::TaskHandlerError::Fs(fs_failed()).into(), None),
        ]
    }

    /// Every kind of failure, and what the unit shows for it (None: the hook
    /// fails and Juju retries it).
    #[test]
    fn every_failure_and_its_status() {
        let mut kinds = std::collections::BTreeSet::new();
        for (err, expected) in rows_that_block().into_iter().chain(rows_that_retry()) {
            assert_eq!(err.status(), expected, "{err}");
            kinds.insert(kind(&err));
        }
        assert_eq!(kinds.len(), KINDS, "a kind of failure has no row: {kinds:?}");
    }

    /// How many variants `CharmError` has: [`kind`]'s match names each, so
    /// a new one fails to compile until it is counted and given a row.
    const KINDS: usize = 13;

    fn kind(err: &CharmError) -> &'static str {
        match err {
            CharmError::Context(_) => "context",
            CharmError::HookTool(_) => "hook tool",
            CharmError::Config(_) => "config",
            CharmError::Fs(_) => "fs",
            CharmError::Command(_) => "command",
            CharmError::Tls(_) => "tls",
            CharmError::Haproxy(_) => "haproxy",
            CharmError::Monitoring(_) => "monitoring",
            CharmError::Landscape(_) => "landscape",
            CharmError::Outbox(_) => "outbox",
            CharmError::Smtp(_) => "smtp",
            CharmError::Debarchive(_) => "debarchive",
            CharmError::TaskHandler(_) => "task handler",
        }
    }
}
