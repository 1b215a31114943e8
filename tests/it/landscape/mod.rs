//! The Landscape workload through whole hooks, by concern.

mod actions;
mod config;
mod deploy;
mod dropins;
mod refresh_2604;
mod relations;
