//! The one integration-test binary: shared fixtures, one module per concern.

use fake_juju::state;

mod fixtures;
mod harness;

mod budget;
mod bundles;
mod docs;
mod foundation;
mod haproxy_golden;
mod haproxy_hooks;
mod ingress;
mod integrations;
mod lab;
mod landscape;
mod layering;
mod metadata;
mod regression;
mod service_table;
mod tls;
