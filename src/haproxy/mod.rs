//! HAProxy on every unit: the model (pure), the renderer (pure) and the
//! apply step (files and commands).

pub mod apply;
pub mod model;
pub mod render;

pub use apply::{ApplyError, ApplyOutcome};
pub use model::{HaproxyConfig, Settings, Topology};
pub use render::{RenderError, render};
