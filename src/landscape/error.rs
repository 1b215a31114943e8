//! What can go wrong with Landscape, and what each failure means for the
//! unit (its [`Explain`] impl): the operator's to fix (Blocked), or a fault
//! for Juju to retry.

use crate::fsutil::FsError;
use crate::ini::IniError;
use crate::status::{Explain, Status};
use crate::system::CmdError;

use super::install::InstallError;
use super::shared_secrets::SharedSecretError;

#[derive(Debug, thiserror::Error)]
pub enum LandscapeError {
    #[error("cannot install Landscape: {0}")]
    Install(#[source] InstallError),
    #[error("cannot {action} {package}: {source}")]
    OptionalPackage {
        action: &'static str,
        package: &'static str,
        #[source]
        source: InstallError,
    },
    #[error("{path} cannot be edited: {source}")]
    ServiceConf {
        path: String,
        #[source]
        source: IniError,
    },
    #[error(transparent)]
    SharedSecrets(#[from] SharedSecretError),
    #[error(transparent)]
    Fs(#[from] FsError),
    #[error(transparent)]
    HookTool(#[from] crate::juju::HookToolError),
    #[error("database schema bootstrap failed: {0}")]
    Schema(#[source] CmdError),
    #[error("Landscape services failed to start: {0}")]
    Start(#[source] CmdError),
    #[error("cannot set up the leader-only services: {0}")]
    LeaderServices(#[source] CmdError),
    #[error("license_file: cannot fetch {url}: {reason}")]
    License { url: String, reason: String },
    #[error("Failed to bootstrap the first account: {0}")]
    Account(#[source] CmdError),
    /// PostgreSQL does not accept this unit yet: a fault for Juju to retry.
    #[error("the database does not accept this unit yet (bootstrap-account will be retried): {0}")]
    DatabaseNotOpenYet(#[source] CmdError),
    #[error("Failed to set autoregistration: {0}")]
    Autoregistration(#[source] CmdError),
    #[error(transparent)]
    Command(#[from] CmdError),
    /// The database relation or the `db_*` options give unusable values.
    #[error("Unusable database settings: {0}")]
    UnusableDatabase(String),
    /// Both AMQP relations answered, and they disagree.
    #[error("{0}")]
    Brokers(String),
    #[error(transparent)]
    Dropins(#[from] super::dropins::DropinError),
}

impl Explain for LandscapeError {
    fn status(&self) -> Option<Status> {
        use crate::status::first_line;
        match self {
            LandscapeError::OptionalPackage { .. } => Some(Status::blocked(first_line(self))),
            LandscapeError::ServiceConf { .. } => Some(Status::blocked(first_line(self))),
            LandscapeError::Schema(e) => {
                Some(Status::blocked(format!("Failed to bootstrap the database schema: {}", first_line(e))))
            }
            LandscapeError::Start(e) => Some(Status::blocked(format!("Failed to start services: {}", first_line(e)))),
            LandscapeError::License { .. }
            | LandscapeError::Account(_)
            | LandscapeError::Autoregistration(_)
            | LandscapeError::UnusableDatabase(_)
            | LandscapeError::Brokers(_) => Some(Status::blocked(first_line(self))),
            LandscapeError::Dropins(e) => e.status(),
            LandscapeError::Install(_)
            | LandscapeError::SharedSecrets(_)
            | LandscapeError::Fs(_)
            | LandscapeError::HookTool(_)
            | LandscapeError::Command(_)
            | LandscapeError::DatabaseNotOpenYet(_)
            | LandscapeError::LeaderServices(_) => None,
        }
    }
}
