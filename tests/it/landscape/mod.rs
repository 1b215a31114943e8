//! The Landscape workload through whole hooks, by concern.

mod actions;
mod config;
mod deploy;
mod relations;
mod release_2604;
