//! The one place where failures become statuses.
//!
//! A failure either explains itself to the operator (Blocked or Waiting, exit
//! 0: retrying would not help until something changes) or is a fault Juju
//! should retry (exit non-zero: a hook tool, apt or the filesystem failed).

use crate::config::ConfigError;
use crate::fsutil::FsError;
use crate::haproxy::{ApplyError, RenderError};
use crate::juju::HookToolError;
use crate::juju::context::ContextError;
use crate::landscape::LandscapeError;
use crate::status::Status;
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
    Render(#[from] RenderError),
    #[error(transparent)]
    Apply(#[from] ApplyError),
    #[error(transparent)]
    Fs(#[from] FsError),
    #[error(transparent)]
    Command(#[from] CmdError),
    #[error(transparent)]
    Tls(#[from] TlsError),
    #[error(transparent)]
    Landscape(#[from] LandscapeError),
}

/// What a failure means for the unit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Disposition {
    /// Show this status and finish the hook normally.
    Status(Status),
    /// Fail the hook so that Juju retries it.
    Retry,
}

impl CharmError {
    pub fn disposition(&self) -> Disposition {
        match self {
            CharmError::Config(e) => {
                let problems: Vec<String> = e.problems.iter().map(|p| format!("{} {}", p.option, p.reason)).collect();
                Disposition::Status(Status::blocked(format!("Invalid config: {}", problems.join("; "))))
            }
            CharmError::Apply(ApplyError::Rejected { first_error, .. }) => {
                Disposition::Status(Status::blocked(format!("HAProxy rejected the new config: {first_error}")))
            }
            // A render failure is a bug or a hostile path; retrying won't fix it.
            CharmError::Render(e) => {
                Disposition::Status(Status::blocked(format!("Cannot render the HAProxy config: {e}")))
            }
            // The provider's certificate is unusable: the last good one keeps serving.
            CharmError::Tls(e @ TlsError::BadProviderData(_)) => Disposition::Status(Status::blocked(e.to_string())),
            CharmError::Landscape(e) => match e.status() {
                Some(status) => Disposition::Status(status),
                None => Disposition::Retry,
            },
            CharmError::Tls(_)
            | CharmError::Context(_)
            | CharmError::HookTool(_)
            | CharmError::Apply(_)
            | CharmError::Fs(_)
            | CharmError::Command(_) => Disposition::Retry,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::ConfigProblem;

    #[test]
    fn config_errors_block_and_name_the_option() {
        let err = CharmError::Config(ConfigError {
            problems: vec![ConfigProblem {
                option: "worker_counts".into(),
                reason: "must be between 1 and 64 (got 0)".into(),
            }],
        });
        assert_eq!(
            err.disposition(),
            Disposition::Status(Status::blocked("Invalid config: worker_counts must be between 1 and 64 (got 0)"))
        );
    }

    #[test]
    fn tool_failures_are_retried() {
        let err = CharmError::HookTool(HookToolError::Failed {
            tool: "x".into(),
            args: String::new(),
            code: Some(1),
            stderr: String::new(),
        });
        assert_eq!(err.disposition(), Disposition::Retry);
    }
}
