//! The hook tools, one module per family.

pub mod action;
pub mod port;
pub mod relation;
pub mod secret;
pub mod status;
pub mod unit;
pub mod unit_state;
