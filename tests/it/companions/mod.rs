//! The parts that follow Landscape: debarchive, the task handler, smtp.

pub mod debarchive;
pub mod outbox;
pub mod smtp;
pub mod task_handler;
