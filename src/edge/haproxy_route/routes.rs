//! The routes each `haproxy-route` endpoint asks the provider for (pure).
//!
//! The 26.04 charm routed the provider straight to Landscape's workers. Its
//! routes could not mean what the unit's HAProxy means: `allow_http` is
//! host-wide at the provider, so no route can keep only `/ping` and
//! `/repository` on plain HTTP; leader-only paths went to every unit; most
//! backends had no health check; `/metrics` was not denied; and the gRPC
//! workers speak h2c, which the provider does not route to. Here every
//! route's servers are the units' own HAProxys, which already do all of that
//! for the ingress path and direct clients alike:
//!
//! - web routes go to port 80 of each unit (the leader's alone for the
//!   leader-only paths), which routes by path, refuses `/metrics`, and
//!   redirects exactly as `redirect_https` says, trusting the provider's
//!   `X-Forwarded-Proto` (its units' addresses are trusted for as long as
//!   they are related). So the routes allow HTTP unless `redirect_https=all`,
//!   and never carry `deny_paths` (which the provider cannot combine with
//!   `allow_http`);
//! - the gRPC endpoints speak `haproxy-route-tcp` (as the 26.04 charm's
//!   released revisions do): the provider passes TLS through, chosen by SNI
//!   (root_url's host), to the unit's TLS frontend of the service (6554,
//!   50051), so clients keep ALPN h2 end to end with the units' own
//!   certificate, and no CA needs to reach the provider;
//! - each web route's health check asks the unit whether a backend of that
//!   route has a server up there (`/haproxy-route-health/<route>`).

use std::net::IpAddr;

use serde_json::{Value, json};

use crate::config::ports::{self, LandscapeService};
use crate::config::{CharmConfig, RedirectHttps};
use crate::edge::ingress::FeatureFlag;
use crate::haproxy::model::{self, HASHIDS_BACKEND, RouteHealth};
use crate::juju::Databag;
use crate::juju::pyjson::dumps;

/// A backend of the unit's port-80 frontend that a web route needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnitBackend {
    /// The service's backend, as the service table names it.
    Of(LandscapeService),
    /// The leader's appservers, for `/hash-id-databases`.
    HashIds,
}

impl UnitBackend {
    /// Its name after `landscape-http-`; None for a service that has no
    /// backend there (a gRPC one: a test keeps the table free of them).
    fn suffix(self) -> Option<&'static str> {
        match self {
            UnitBackend::Of(service) => match ports::spec(service).route {
                ports::Route::Web { backend } => Some(backend),
                ports::Route::Grpc { .. } => None,
            },
            UnitBackend::HashIds => Some(HASHIDS_BACKEND),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// Port 80 of the units' HAProxys, for these path prefixes.
    Web {
        paths: &'static [&'static str],
        /// The unit's backends behind the route: it is healthy on a unit
        /// while one of them has a server up there.
        needs: &'static [UnitBackend],
        /// Only the leader's HAProxy is a server (`hosts`).
        leader_only: bool,
    },
    /// The unit HAProxy's TLS frontend of a gRPC service, while its flag is on.
    Grpc { service: LandscapeService, flag: FeatureFlag },
}

/// One `haproxy-route` endpoint of the 26.04 charm.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RouteEndpoint {
    pub name: &'static str,
    /// The route's name in `landscape-<route>-<model uuid>` (the 26.04
    /// charm's service names, so that a refreshed deployment's provider keeps
    /// its backend names) and in its health path.
    pub route: &'static str,
    pub target: Target,
}

const fn web(
    name: &'static str,
    route: &'static str,
    paths: &'static [&'static str],
    needs: &'static [UnitBackend],
    leader_only: bool,
) -> RouteEndpoint {
    RouteEndpoint { name, route, target: Target::Web { paths, needs, leader_only } }
}

use UnitBackend::{HashIds, Of};

/// The eight endpoints, in the 26.04 charm's metadata order. The appserver
/// route takes `/`, which the provider orders last (its backends are sorted
/// by path depth); `/hash-id-databases` rides with package upload, on the
/// leader alone.
pub const ENDPOINTS: [RouteEndpoint; 8] = [
    web("appserver-haproxy-route", "appserver", &["/"], &[Of(LandscapeService::Appserver)], false),
    web(
        "pingserver-haproxy-route",
        "pingserver",
        &[ports::PING_PATH.prefix],
        &[Of(LandscapeService::Pingserver)],
        false,
    ),
    web(
        "message-server-haproxy-route",
        "message-server",
        &[ports::MESSAGE_SYSTEM_PATH.prefix, ports::ATTACHMENT_PATH.prefix],
        &[Of(LandscapeService::MessageServer)],
        false,
    ),
    web("api-haproxy-route", "api", &[ports::API_PATH.prefix], &[Of(LandscapeService::Api)], false),
    web(
        "package-upload-haproxy-route",
        "package-upload",
        &[ports::UPLOAD_PATH.prefix, ports::HASH_ID_DATABASES_PATH.prefix],
        &[Of(LandscapeService::PackageUpload), HashIds],
        true,
    ),
    RouteEndpoint {
        name: "hostagent-messenger-haproxy-route",
        route: "hostagent-messenger",
        target: Target::Grpc { service: LandscapeService::HostagentMessenger, flag: FeatureFlag::HostagentMessenger },
    },
    RouteEndpoint {
        name: "ubuntu-installer-attach-haproxy-route",
        route: "ubuntu-installer-attach",
        target: Target::Grpc {
            service: LandscapeService::UbuntuInstallerAttach,
            flag: FeatureFlag::UbuntuInstallerAttach,
        },
    },
    web(
        "repository-haproxy-route",
        "repository",
        &[ports::REPOSITORY_PATH.prefix],
        &[Of(LandscapeService::Appserver)],
        false,
    ),
];

/// Every field of the library's `RequirerApplicationData`: a first
/// publication (or one after 26.04's) deletes those we do not set, as the
/// library clears the bag before it writes.
pub const APP_KEYS: [&str; 19] = [
    "service",
    "ports",
    "protocol",
    "hosts",
    "paths",
    "hostname",
    "additional_hostnames",
    "rewrites",
    "check",
    "load_balancing",
    "rate_limit",
    "bandwidth_limit",
    "retry",
    "deny_paths",
    "timeout",
    "server_maxconn",
    "http_server_close",
    "allow_http",
    "external_grpc_port",
];
/// Every field of the haproxy-route-tcp library's
/// `TcpRequirerApplicationData`, likewise.
pub const TCP_APP_KEYS: [&str; 16] = [
    "port",
    "backend_port",
    "port_mapping",
    "sni",
    "hosts",
    "check",
    "load_balancing",
    "rate_limit",
    "bandwidth_limit",
    "retry",
    "timeout",
    "server_maxconn",
    "ip_deny_list",
    "enforce_tls",
    "tls_terminate",
    "proxy_protocol",
];
pub const UNIT_KEYS: [&str; 1] = ["address"];

/// The provider's health checks, as the unit's HAProxy checks its own
/// servers (`inter 5000 rise 2 fall 5`); the library's interval is seconds.
pub const CHECK_INTERVAL_SECS: u32 = 5;
pub const CHECK_RISE: u32 = 2;
pub const CHECK_FALL: u32 = 5;

impl RouteEndpoint {
    pub fn flag(&self) -> Option<FeatureFlag> {
        match self.target {
            Target::Grpc { flag, .. } => Some(flag),
            Target::Web { .. } => None,
        }
    }

    /// The interface: `haproxy-route`, or `haproxy-route-tcp` for gRPC.
    pub fn interface(&self) -> &'static str {
        match self.target {
            Target::Web { .. } => "haproxy-route",
            Target::Grpc { .. } => "haproxy-route-tcp",
        }
    }

    /// Every field of its library's application bag, and for a gRPC
    /// endpoint the haproxy-route library's too (the 26.04 charm's earlier
    /// revisions, and this one's, spoke haproxy-route there).
    pub fn app_keys(&self) -> Vec<&'static str> {
        match self.target {
            Target::Web { .. } => APP_KEYS.to_vec(),
            Target::Grpc { .. } => TCP_APP_KEYS.iter().chain(&APP_KEYS).copied().collect(),
        }
    }

    /// Why this endpoint publishes no route with this config, if it does not.
    pub fn unused_reason(&self, config: &CharmConfig) -> Option<String> {
        self.flag()?.unused_reason(self.name, config)
    }

    /// The unit's frontend the route's servers are.
    pub fn unit_port(&self) -> u16 {
        match self.target {
            Target::Web { .. } => model::HTTP_PORT,
            Target::Grpc { service, .. } => match ports::spec(service).route {
                ports::Route::Grpc { port, .. } => port,
                ports::Route::Web { .. } => model::HTTPS_PORT,
            },
        }
    }

    /// What the unit's port 80 answers for this route's health check.
    pub fn health(&self) -> Option<RouteHealth> {
        match self.target {
            Target::Web { needs, .. } => {
                Some(RouteHealth { route: self.route, backends: needs.iter().filter_map(|b| b.suffix()).collect() })
            }
            Target::Grpc { .. } => None,
        }
    }
}

/// What the leader's route depends on besides the endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RouteInputs<'a> {
    /// `root_url`'s host name, checked as the provider checks it.
    pub hostname: &'a str,
    pub model_uuid: &'a str,
    pub redirect_https: RedirectHttps,
    pub leader_ip: Option<IpAddr>,
}

/// The application bag of `endpoint`'s route: each field its own JSON
/// document as `json.dumps` writes it, defaults omitted.
pub fn app_bag(endpoint: &RouteEndpoint, inputs: &RouteInputs<'_>) -> Databag {
    let check = json!({"interval": CHECK_INTERVAL_SECS, "rise": CHECK_RISE, "fall": CHECK_FALL});
    // The unit's own server timeout (long API calls and uploads, gRPC
    // streams); the libraries' default is 60 s.
    let server_timeout = model::SERVER_TIMEOUT_MS / 1000;
    let fields = match endpoint.target {
        Target::Web { paths, leader_only, .. } => {
            let mut fields = vec![
                ("service", json!(format!("landscape-{}-{}", endpoint.route, inputs.model_uuid))),
                ("ports", json!([endpoint.unit_port()])),
            ];
            if let (true, Some(leader)) = (leader_only, inputs.leader_ip) {
                fields.push(("hosts", json!([leader.to_string()])));
            }
            let mut check = check;
            check["path"] = json!(format!("{}{}", model::ROUTE_HEALTH_PREFIX, endpoint.route));
            // Connect and queue stay at their defaults, so they are omitted.
            fields.extend([
                ("paths", json!(paths)),
                ("hostname", json!(inputs.hostname)),
                ("check", check),
                ("timeout", json!({"server": server_timeout})),
            ]);
            // With redirect_https=all the provider redirects every plain
            // request, as the unit would; otherwise it lets them through and
            // the unit redirects what its rule covers.
            if inputs.redirect_https != RedirectHttps::All {
                fields.push(("allow_http", json!(true)));
            }
            fields
        }
        Target::Grpc { .. } => grpc_fields(endpoint.unit_port(), inputs.hostname, check, server_timeout),
    };
    fields.into_iter().map(|(key, value)| (key.to_string(), dumps(&value))).collect()
}

/// A haproxy-route-tcp route: TLS passed through to the unit's gRPC
/// frontend on `port`.
fn grpc_fields(port: u16, hostname: &str, check: Value, server_timeout: u32) -> Vec<(&'static str, Value)> {
    vec![
        // The library writes backend_port even when it is the port (its
        // validator sets it, so it is no longer the default).
        ("port", json!(port)),
        ("backend_port", json!(port)),
        ("sni", json!(hostname)),
        // A TCP check of the unit's TLS frontend (the provider renders
        // `check` only when it is sent).
        ("check", check),
        // As the library writes them: its timeout model has no defaults
        // (the unset ones go as null), and its requirer always sends a
        // bandwidth limit, empty when none is set.
        ("timeout", json!({"server": server_timeout, "connect": null, "queue": null})),
        ("bandwidth_limit", json!({})),
        // enforce_tls stays at its default (true), so it is omitted.
        ("tls_terminate", json!(false)),
    ]
}

/// The unit bag: this unit's address, a JSON string.
pub fn unit_bag(unit_ip: Option<IpAddr>) -> Databag {
    unit_ip.map(|ip| Databag::from([("address".to_string(), dumps(&json!(ip.to_string())))])).unwrap_or_default()
}

/// Why `hostname` is not one the provider accepts (its `validators.domain`:
/// two labels at least, letters, digits, `-` and `_`, no label starting or
/// ending with `-`, a top-level label that is not all digits).
pub fn hostname_problem(hostname: Option<&str>) -> Option<String> {
    let Some(name) = hostname else {
        return Some("it names none (the provider refuses an IP address)".into());
    };
    let labels: Vec<&str> = name.split('.').collect();
    let label_ok = |l: &&str| {
        !l.is_empty()
            && l.len() <= 63
            && !l.starts_with('-')
            && !l.ends_with('-')
            && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    };
    let top_ok = labels.last().is_some_and(|l| !l.chars().all(|c| c.is_ascii_digit()));
    if labels.len() >= 2 && labels.iter().all(label_ok) && top_ok && name.len() <= 253 {
        None
    } else {
        Some(format!("{} is not a domain name the provider accepts", crate::text::quoted(name)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const INPUTS: RouteInputs<'static> = RouteInputs {
        hostname: "landscape.example.com",
        model_uuid: "f00d",
        redirect_https: RedirectHttps::Default,
        leader_ip: None,
    };

    #[test]
    fn every_path_of_the_unit_frontend_is_on_one_route() {
        let mut published: Vec<&str> = ENDPOINTS
            .iter()
            .flat_map(|e| match e.target {
                Target::Web { paths, .. } => paths.to_vec(),
                Target::Grpc { .. } => vec![],
            })
            .collect();
        published.sort();
        let before = published.len();
        published.dedup();
        assert_eq!(before, published.len(), "no path on two routes");
        for path in [
            ports::PING_PATH,
            ports::REPOSITORY_PATH,
            ports::MESSAGE_SYSTEM_PATH,
            ports::ATTACHMENT_PATH,
            ports::API_PATH,
            ports::HASH_ID_DATABASES_PATH,
            ports::UPLOAD_PATH,
        ] {
            assert!(published.contains(&path.prefix), "{} has no route", path.prefix);
        }
    }

    #[test]
    fn every_endpoint_is_named_after_its_route() {
        for endpoint in ENDPOINTS {
            assert_eq!(endpoint.name, format!("{}-haproxy-route", endpoint.route));
        }
    }

    #[test]
    fn every_web_route_checks_backends_of_the_port_80_frontend() {
        for endpoint in ENDPOINTS {
            if let Target::Web { needs, .. } = endpoint.target {
                let health = endpoint.health().unwrap();
                assert_eq!(health.backends.len(), needs.len(), "{}: a need with no backend", endpoint.name);
            }
        }
    }

    #[test]
    fn a_leader_only_route_without_a_known_leader_goes_to_every_unit() {
        // Each unit's HAProxy sends the leader-only paths to the leader, so
        // the route is still right, one hop longer.
        let upload = &ENDPOINTS[4];
        assert!(!app_bag(upload, &INPUTS).contains_key("hosts"));
        let leader = RouteInputs { leader_ip: Some("10.0.0.9".parse().unwrap()), ..INPUTS };
        assert_eq!(app_bag(upload, &leader)["hosts"], r#"["10.0.0.9"]"#);
    }

    #[test]
    fn hostnames_are_checked_as_the_provider_checks_them() {
        for good in ["landscape.example.com", "a.b", "x_y.example.org", "l-1.example.com"] {
            assert_eq!(hostname_problem(Some(good)), None, "{good}");
        }
        for bad in ["landscape", "example.123", "-a.example.com", "a..b", "a b.com"] {
            assert!(hostname_problem(Some(bad)).is_some(), "{bad}");
        }
        assert!(hostname_problem(None).is_some());
    }
}
