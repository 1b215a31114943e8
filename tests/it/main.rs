//! The one integration-test binary: shared fixtures, one module per concern.

use fake_juju::state;

mod fixtures;
mod harness;
mod in_process;

mod account;
mod budget;
mod bundles;
mod companions;
mod crash;
mod dispatch;
mod docs;
mod drain;
mod edge;
mod fuzz;
mod handover;
mod haproxy_golden;
mod haproxy_hooks;
mod lab;
mod landscape;
mod layering;
mod metadata;
mod monitoring;
mod regression;
mod rollout;
mod scenario;
mod service_table;
mod tls;
