//! The HTTP and HTTPS services: ports 80 and 443, their path routes, the
//! redirect, the forwarded headers, route health, and the backends on every
//! unit or the leader.

use super::*;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum WebScheme {
    Http,
    Https,
}

impl WebScheme {
    fn prefix(self) -> &'static str {
        match self {
            WebScheme::Http => "landscape-http",
            WebScheme::Https => "landscape-https",
        }
    }
}

/// `path_beg -i <prefix>`, named as the table names it.
pub(super) fn path_acl(path: WebPath) -> Acl {
    Acl { name: path.acl, criterion: Cow::Owned(format!("path_beg -i {}", path.prefix)) }
}
pub(super) const ACL_METRICS: Acl = Acl::fixed("metrics", "path_end /metrics");
pub(super) const ACL_PROMETHEUS_METRICS: Acl = Acl::fixed("prometheus_metrics", "path_beg -i /metrics");
/// `/debarchive` and below, not `/debarchive-other`.
pub(super) const ACL_DEBARCHIVE: Acl = Acl::fixed("debarchive", "path_reg -i ^/debarchive(/|$)");
pub(super) const DEBARCHIVE_BACKEND: &str = "debarchive";
/// The debarchive service's own health endpoint, under the stripped prefix.
pub(super) const DEBARCHIVE_CHECK_PATH: &str = "/v1beta1/mirrors";
/// The debarchive API answers a request without credentials (the check's)
/// with 401: that answer proves it is serving, so it counts as up.
pub(super) const DEBARCHIVE_CHECK_EXPECT: &str = "rstatus ^([23][0-9][0-9]|401)$";
/// A trusted proxy in front (the ingress HAProxy) ended TLS and says so.
/// Redirecting such a request would send the client back to the same proxy,
/// which sends it here again: a loop.
pub(super) const ACL_FORWARDED_HTTPS: Acl = Acl::fixed("forwarded_https", "req.hdr(X-Forwarded-Proto) -i https");
pub(super) const ACL_FORWARDED_PROTO: Acl = Acl::fixed("forwarded_proto", "req.hdr(X-Forwarded-Proto) -m found");
/// The last `X-Forwarded-For` entry (over every header line), when it is an
/// address: the one the sending proxy appended.
pub(super) const LAST_FORWARDED_FOR: &str = "req.hdr_ip(X-Forwarded-For,-1)";
pub(super) const ACL_FORWARDED_FOR: Acl = Acl::fixed("forwarded_for", "req.hdr_ip(X-Forwarded-For,-1) -m found");
pub(super) const TRUSTED_PROXY: &str = "trusted_proxy";

/// The `X-Forwarded-*` headers Landscape gets: a client's own are dropped
/// (`X-Forwarded-For`, which `option forwardfor` then sets from the
/// connection) or replaced (`X-Forwarded-Proto`, the scheme of the
/// connection: `proto`), unless it is a trusted proxy. Of a trusted proxy's
/// `X-Forwarded-For` only the last entry is kept, the address that proxy
/// saw: the entries before it came from its client, who can write anything
/// there. Landscape builds absolute URLs and decides "secure" from these
/// headers, and records the client's address, so a value any client can
/// send must not reach it unchanged.
pub(super) fn forwarded_headers(proto: &str, trusted: &[Network]) -> (Vec<Acl>, Vec<String>) {
    if trusted.is_empty() {
        let rules = vec!["del-header X-Forwarded-For".to_string(), format!("set-header X-Forwarded-Proto {proto}")];
        return (vec![], rules);
    }
    let mut acls = trusted_proxy_acls(trusted);
    acls.extend([ACL_FORWARDED_FOR, ACL_FORWARDED_PROTO]);
    let trusted_for = format!("{TRUSTED_PROXY} {}", ACL_FORWARDED_FOR.name);
    let rules = vec![
        format!("set-header X-Forwarded-For %[{LAST_FORWARDED_FOR}] if {trusted_for}"),
        format!("del-header X-Forwarded-For unless {trusted_for}"),
        format!("set-header X-Forwarded-Proto {proto} unless {TRUSTED_PROXY} {}", ACL_FORWARDED_PROTO.name),
    ];
    (acls, rules)
}

/// The most networks one `acl` line names: HAProxy reads at most 64 words a
/// line, and the line has three more (`acl`, the name, `src`).
pub const NETWORKS_PER_ACL_LINE: usize = 60;

/// `acl trusted_proxy src …`, over as many lines as the networks need
/// (HAProxy ORs the lines of one ACL).
pub(super) fn trusted_proxy_acls(trusted: &[Network]) -> Vec<Acl> {
    trusted
        .chunks(NETWORKS_PER_ACL_LINE)
        .map(|chunk| {
            let sources: Vec<String> = chunk.iter().map(Network::to_string).collect();
            Acl { name: TRUSTED_PROXY, criterion: Cow::Owned(format!("src {}", sources.join(" "))) }
        })
        .collect()
}

/// The HTTP (80) or HTTPS (443) service: one definition for both.
///
/// The seed also carried `http-request replace-path ^([^\ ]*)\ /upload/(.*) /\1`.
/// It is left out on purpose: the regex only matches a path with a literal
/// space, and HAProxy rejects such requests with 400 before any rule runs, so
/// the rule never fired. `/upload/...` reaches the package-upload server
/// unchanged, exactly as it does today (a test proves it).
pub(super) fn web_service(scheme: WebScheme, topology: &Topology, settings: &Settings) -> Service {
    Service { frontend: web_frontend(scheme, settings), backends: web_backends(scheme, topology, settings) }
}

/// The ACL of each path prefix a route takes, and of the metrics paths.
fn path_acls() -> Vec<Acl> {
    vec![
        path_acl(ports::PING_PATH),
        path_acl(ports::REPOSITORY_PATH),
        path_acl(ports::MESSAGE_SYSTEM_PATH),
        path_acl(ports::ATTACHMENT_PATH),
        path_acl(ports::API_PATH),
        path_acl(ports::HASH_ID_DATABASES_PATH),
        path_acl(ports::UPLOAD_PATH),
        ACL_METRICS,
        ACL_PROMETHEUS_METRICS,
    ]
}

/// The frontend on 80 or 443: metrics refused, the redirect on 80, a route
/// per path prefix, the appserver by default.
pub(super) fn web_frontend(scheme: WebScheme, settings: &Settings) -> Frontend {
    let prefix = scheme.prefix();
    let backend = |suffix: &str| format!("{prefix}-{suffix}");
    let trusted = &settings.trusted_proxies;
    let mut acls = path_acls();
    let mut http_request = vec!["deny if metrics".to_string(), "deny if prometheus_metrics".to_string()];
    let (proto, tls) = match scheme {
        WebScheme::Http => ("http", None),
        WebScheme::Https => {
            let cert = settings.tls_pem.as_ref().map(|p| p.display().to_string()).unwrap_or_default();
            ("https", Some(Tls { cert, alpn_h2: false }))
        }
    };
    if scheme == WebScheme::Http {
        // First: a health check must not be redirected or denied.
        http_request.splice(0..0, route_health_rules(&settings.route_health));
    }
    let (forwarded_acls, forwarded_rules) = forwarded_headers(proto, trusted);
    acls.extend(forwarded_acls);
    http_request.extend(forwarded_rules);
    let redirect = if scheme == WebScheme::Http { port_80_redirect(settings) } else { None };
    if redirect.is_some() && !trusted.is_empty() {
        acls.push(ACL_FORWARDED_HTTPS);
    }
    let routes = web_routes(scheme, settings, &mut acls);
    Frontend {
        name: prefix,
        port: if scheme == WebScheme::Http { HTTP_PORT } else { HTTPS_PORT },
        tls,
        timeout_client: Some(CLIENT_TIMEOUT_MS),
        acls,
        http_request,
        redirect,
        routes,
        default_backend: backend("appserver"),
    }
}

/// Port 80's redirect to HTTPS, as `redirect_https` says.
pub(super) fn port_80_redirect(settings: &Settings) -> Option<String> {
    // Only a trusted proxy's word that TLS ended in front spares a redirect.
    let trusted = !settings.trusted_proxies.is_empty();
    let spared = trusted.then(|| format!("{TRUSTED_PROXY} {}", ACL_FORWARDED_HTTPS.name));
    match (settings.redirect_https, &spared) {
        (RedirectHttps::None, _) => None,
        (RedirectHttps::All, None) => Some("redirect scheme https".to_string()),
        (RedirectHttps::All, Some(spared)) => Some(format!("redirect scheme https unless {spared}")),
        // Like /repository, the debarchive serves APT clients, which the
        // 26.04 charm let use plain HTTP (its route's allow_http).
        (RedirectHttps::Default, spared) => Some(format!(
            "redirect scheme https unless {} OR {}{}{}",
            ports::PING_PATH.acl,
            ports::REPOSITORY_PATH.acl,
            if settings.debarchive.is_empty() { "" } else { " OR debarchive" },
            spared.as_ref().map(|s| format!(" OR {s}")).unwrap_or_default()
        )),
    }
}

/// A route per path prefix, and `/debarchive` while a debarchive unit is
/// there to serve it (it goes first: `/` must not swallow it).
pub(super) fn web_routes(scheme: WebScheme, settings: &Settings, acls: &mut Vec<Acl>) -> Vec<Route> {
    let backend = |suffix: &str| format!("{}-{suffix}", scheme.prefix());
    let mut routes = vec![];
    if !settings.debarchive.is_empty() {
        acls.push(ACL_DEBARCHIVE);
        routes.push(Route { backend: backend(DEBARCHIVE_BACKEND), acl: ACL_DEBARCHIVE.name });
    }
    routes.extend([
        Route { backend: backend("message"), acl: ports::MESSAGE_SYSTEM_PATH.acl },
        Route { backend: backend("message"), acl: ports::ATTACHMENT_PATH.acl },
        Route { backend: backend("api"), acl: ports::API_PATH.acl },
        Route { backend: backend("ping"), acl: ports::PING_PATH.acl },
        Route { backend: backend(HASHIDS_BACKEND), acl: ports::HASH_ID_DATABASES_PATH.acl },
        Route { backend: backend("package-upload"), acl: ports::UPLOAD_PATH.acl },
    ]);
    routes
}

/// Where port 80 answers a haproxy-route provider's health check of one
/// route: `<prefix><route>`.
pub const ROUTE_HEALTH_PREFIX: &str = "/haproxy-route-health/";

/// One haproxy-route route's health on this unit: up while one of its
/// backends (suffixes of `landscape-http-…`) has a server up. (The
/// leader-only route carries package upload and the hash-id databases; in
/// the deployment modes without package upload, the hash-id databases must
/// still be reachable through it.)
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteHealth {
    pub route: &'static str,
    pub backends: Vec<&'static str>,
}

/// `200 up` for a route with a backend that has a server up, `503 down` for
/// any other path under the prefix. The provider's check then follows the
/// route's backends on this unit, not just this HAProxy being there.
pub(super) fn route_health_rules(routes: &[RouteHealth]) -> Vec<String> {
    if routes.is_empty() {
        return vec![];
    }
    let mut rules: Vec<String> = routes
        .iter()
        .flat_map(|route| {
            route.backends.iter().map(move |backend| {
                format!(
                    "return status 200 content-type text/plain string up if {{ path {ROUTE_HEALTH_PREFIX}{} }} \
                     {{ nbsrv({}-{backend}) gt 0 }}",
                    route.route,
                    WebScheme::Http.prefix()
                )
            })
        })
        .collect();
    rules
        .push(format!("return status 503 content-type text/plain string down if {{ path_beg {ROUTE_HEALTH_PREFIX} }}"));
    rules
}

/// The hash-id databases are the leader's appservers.
pub const HASHIDS_BACKEND: &str = "hashid-databases";

/// A backend per web service of the table, in its order, then the hash-id
/// databases: every unit's workers, or the leader's for a leader-only one.
pub(super) fn web_backends(scheme: WebScheme, topology: &Topology, settings: &Settings) -> Vec<Backend> {
    let http_backend = |suffix: &str, servers| Backend {
        name: format!("{}-{suffix}", scheme.prefix()),
        http_checks: true,
        check_path: "/",
        check_expect: None,
        http_request: vec![],
        timeout_server: SERVER_TIMEOUT_MS,
        servers,
    };
    let mut backends: Vec<Backend> = ports::SERVICES
        .iter()
        .filter_map(|spec| match spec.route {
            ports::Route::Web { backend } => Some(http_backend(backend, servers_of(spec, topology, settings))),
            ports::Route::Grpc { .. } => None,
        })
        .collect();
    let appserver = ports::spec(LandscapeService::Appserver);
    backends.push(http_backend(HASHIDS_BACKEND, leader_servers(appserver, topology, settings)));
    if !settings.debarchive.is_empty() {
        let servers = settings
            .debarchive
            .iter()
            .map(|ip| {
                Server::new(format!("landscape-debarchive-{}", ip_slug(ip)), *ip, settings.debarchive_port, false)
            })
            .collect();
        backends.push(Backend {
            check_path: DEBARCHIVE_CHECK_PATH,
            check_expect: Some(DEBARCHIVE_CHECK_EXPECT),
            // The debarchive service serves from `/`.
            http_request: vec!["set-path %[path,regsub(^/debarchive/?,/)]".to_string()],
            ..http_backend(DEBARCHIVE_BACKEND, servers)
        });
    }
    backends
}

/// The servers of one service: on every unit, or on the leader.
pub(super) fn servers_of(spec: &ServiceSpec, topology: &Topology, settings: &Settings) -> Vec<Server> {
    if spec.placement == Placement::Leader {
        return leader_servers(spec, topology, settings);
    }
    topology
        .unit_ips
        .iter()
        .flat_map(|ip| {
            let ports = settings.ports.ports_of(spec.service, topology.workers_of(ip, settings.worker_counts));
            ports.into_iter().enumerate().map(move |(i, port)| {
                Server::new(format!("landscape-{}-{}-{i}", spec.server, ip_slug(ip)), *ip, port, false)
                    .drained_if(topology, ip)
            })
        })
        .collect()
}

/// The servers of one service on the leader, once its address is known:
/// `landscape-leader-<server>`, with `-<i>` per worker.
pub(super) fn leader_servers(spec: &ServiceSpec, topology: &Topology, settings: &Settings) -> Vec<Server> {
    let Some(ip) = topology.leader_ip else { return vec![] };
    let ports = settings.ports.ports_of(spec.service, topology.workers_of(&ip, settings.worker_counts));
    ports
        .iter()
        .enumerate()
        .map(|(i, port)| {
            let name = if spec.ports == Ports::One {
                format!("landscape-leader-{}", spec.server)
            } else {
                format!("landscape-leader-{}-{i}", spec.server)
            };
            Server::new(name, ip, *port, false)
        })
        .collect()
}
