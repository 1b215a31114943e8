//! The endpoints external load balancers read: ingress, haproxy-route(-tcp)
//! and the website bridge.

pub mod haproxy_route;
pub mod ingress;
pub mod website;
