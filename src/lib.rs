//! The Landscape Server machine charm: one binary that Juju runs as
//! `dispatch` for every hook and action.
//!
//! Floors, each importing only those below it (tests/it/layering.rs checks
//! there is no cycle, and which part may import which): the entry points
//! ([`run`], [`actions`]) → [`charm`] (the ordered part calls) and [`world`]
//! (the snapshot) → the parts ([`tls`], [`haproxy`], [`edge`],
//! [`monitoring`], [`landscape`], [`companions`], [`drain`], [`rollout`], [`steady`]) →
//! what they share ([`peers`], [`status`], [`host`]) → the ground floor
//! ([`juju`], [`config`], [`system`], [`systemd_units`], [`fsutil`],
//! [`paths`], [`text`], [`ini`], [`unit_state`], [`peer_app`]).

pub mod actions;
pub mod charm;
pub mod companions;
pub mod config;
pub mod drain;
pub mod edge;
pub mod error;
pub mod fsutil;
pub mod handover;
pub mod haproxy;
pub mod host;
pub mod ini;
pub mod juju;
pub mod landscape;
pub mod monitoring;
pub mod paths;
pub mod peer_app;
pub mod peers;
pub mod rollout;
pub mod status;
pub mod steady;
pub mod system;
pub mod systemd_units;
pub mod text;
pub mod tls;
pub mod unit_state;
pub mod world;

use std::collections::HashMap;

use error::CharmError;
use host::Host;
use juju::{Event, HookToolRunner, HookTools, JujuContext, LogLevel};
use paths::Paths;
use system::CommandRunner;

/// Handles one dispatch. `Ok` means exit 0 (Juju commits what the hook did);
/// `Err` means Juju should retry.
pub fn run(
    env: &HashMap<String, String>,
    tools: &dyn HookToolRunner,
    cmds: &dyn CommandRunner,
) -> Result<(), CharmError> {
    let ctx = JujuContext::from_env(env)?;
    let event = Event::from_context(&ctx);
    let paths = Paths::from_env(env);
    let juju = HookTools::new(tools).with_secret_dir(paths.secret_content_dir());
    let host = Host::new(ctx, juju, cmds, paths);
    host.clear_crash_leftovers();
    let result = match event {
        Event::Unknown(path) => {
            host.log(LogLevel::Debug, &format!("ignoring {path}: this charm does not handle it"));
            Ok(())
        }
        Event::Action(name) => actions::run(&host, &name),
        event => charm::handle_hook(&host, event),
    };
    // Whatever failed, from reading the world (a relation gone mid-hook) to
    // the last part: said in the unit's log, not only on stderr.
    if let Err(err) = &result {
        host.log(LogLevel::Error, &format!("hook failed, Juju will retry it: {err}"));
    }
    result
}
