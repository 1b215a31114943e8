//! The parts that follow Landscape: the mail relay (`smtp`), the
//! debarchive, the outbox snap and the task handler. `src/companions/smtp/`
//! (parse the provider, a pure editor, a reconcile) is the model for each.

pub mod debarchive;
pub mod outbox;
pub mod smtp;
pub mod task_handler;

use crate::config::CharmConfig;
use crate::host::Host;
use crate::status::{Explain, Status, StatusCollector};
use crate::unit_state::UnitState;

/// The companions' relations, as the hook read them.
#[derive(Debug)]
pub struct Relations<'a> {
    pub smtp: Option<&'a smtp::SmtpRelation>,
    pub debarchive: &'a [debarchive::DebarchiveRelation],
    pub task_handler: Option<&'a task_handler::TaskHandlerRelation>,
}

/// What the companions need from the rest of the hook.
#[derive(Debug)]
pub struct Inputs<'a> {
    pub config: &'a CharmConfig,
    pub unit_state: &'a UnitState,
    /// root_url's host name: the debarchive and the task handler route by it.
    pub hostname: Option<&'a str>,
    /// Landscape's secret token, for the debarchive.
    pub secret_token: Option<&'a str>,
    /// Whether Landscape restarted in this hook (the outbox follows it).
    pub landscape_restarted: bool,
}

/// A companion's failure that Juju must retry (the others became statuses).
#[derive(Debug, thiserror::Error)]
pub enum CompanionError {
    #[error(transparent)]
    Smtp(#[from] smtp::SmtpError),
    #[error(transparent)]
    Debarchive(#[from] debarchive::DebarchiveError),
    #[error(transparent)]
    Outbox(#[from] outbox::OutboxError),
    #[error(transparent)]
    TaskHandler(#[from] task_handler::TaskHandlerError),
}

impl Explain for CompanionError {
    fn status(&self) -> Option<Status> {
        match self {
            CompanionError::Smtp(e) => e.status(),
            CompanionError::Debarchive(e) => e.status(),
            CompanionError::Outbox(e) => e.status(),
            CompanionError::TaskHandler(e) => e.status(),
        }
    }
}

/// The parts that follow Landscape: the mail relay (a broken one must not
/// hold Landscape back), the debarchive (the secret token Landscape's part
/// made), the outbox (after Landscape's restart), the task handler (which
/// configures the outbox).
pub fn reconcile(
    host: &Host<'_>,
    relations: &Relations<'_>,
    inputs: &Inputs<'_>,
    status: &mut StatusCollector,
) -> Result<(), CompanionError> {
    let (unit_state, hostname) = (inputs.unit_state, inputs.hostname);
    if hostname.is_none() && (relations.task_handler.is_some() || !relations.debarchive.is_empty()) {
        status.add(Status::active(
            "root_url names no host: the task handler and debarchive are reached by their own addresses",
        ));
    }
    let relay = inputs.config.landscape.smtp_relay_host.as_deref();
    let mail = smtp::reconcile(host, relations.smtp, relay, unit_state, status);
    status.absorb(host, mail)?;
    let published = debarchive::reconcile(host, relations.debarchive, unit_state, hostname, inputs.secret_token);
    status.absorb(host, published)?;
    let outbox_inputs =
        outbox::Inputs { config: inputs.config, unit_state, landscape_restarted: inputs.landscape_restarted };
    let outbox_installed = status.absorb(host, outbox::reconcile(host, &outbox_inputs))?.is_some();
    let answered = task_handler::reconcile(host, relations.task_handler, unit_state, hostname, outbox_installed);
    status.absorb(host, answered)?;
    Ok(())
}
