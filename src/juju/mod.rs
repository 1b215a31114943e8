//! Everything Juju-specific: the hook environment, the event behind it, the
//! declared endpoints and the hook tools.

pub mod context;
pub mod databag;
pub mod event;
pub mod granted_secret;
pub mod metadata;
pub mod pyjson;
pub mod tools;

pub use context::{JujuContext, RelationId};
pub use event::{Event, RelationEvent, RelationKind};
pub use tools::{Bag, Databag, HookToolError, HookToolRunner, HookTools, LogLevel, StatusName};
