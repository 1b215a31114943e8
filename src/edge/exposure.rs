//! The active status's word on how each kind of traffic reaches this unit
//! from an external load balancer: through haproxy-route, ingress, or both.

use super::haproxy_route::{RouteEndpoint, RouteRelation, Target};
use super::ingress::IngressRelation;
use crate::config::CharmConfig;

/// The active status's word on how each kind of traffic is exposed, once
/// any haproxy-route endpoint is related: e.g. `web via haproxy-route and
/// ingress, hostagent-messenger via haproxy-route-tcp`.
pub fn exposure(routes: &[RouteRelation], ingress: &[IngressRelation], config: &CharmConfig) -> Option<String> {
    if routes.is_empty() {
        return None;
    }
    let route_used = |pick: &dyn Fn(&RouteEndpoint) -> bool| {
        routes.iter().any(|r| pick(r.endpoint) && r.endpoint.unused_reason(config).is_none())
    };
    let ingress_used = |names: &[&str]| {
        ingress.iter().any(|i| names.contains(&i.endpoint.name) && i.endpoint.unused_reason(config).is_none())
    };
    let web = web_kind(routes);
    let kinds = [
        (
            web.as_str(),
            "haproxy-route",
            route_used(&|e| matches!(e.target, Target::Web { .. })),
            ingress_used(&["http-ingress", "https-ingress"]),
        ),
        (
            "hostagent-messenger",
            "haproxy-route-tcp",
            route_used(&|e| e.name == "hostagent-messenger-haproxy-route"),
            ingress_used(&["hostagent-messenger-ingress"]),
        ),
        (
            "ubuntu-installer-attach",
            "haproxy-route-tcp",
            route_used(&|e| e.name == "ubuntu-installer-attach-haproxy-route"),
            ingress_used(&["ubuntu-installer-attach-ingress"]),
        ),
    ];
    let parts: Vec<String> =
        kinds.iter().filter_map(|(kind, via, route, ingress)| said(kind, via, *route, *ingress)).collect();
    (!parts.is_empty()).then(|| format!("{}; {}", crate::status::READY_MESSAGE, parts.join(", ")))
}

/// `web`, or the web routes related when the appserver's is not among them.
/// The appserver route takes `/`, so with it every web path goes through
/// haproxy; without it, only the routes related do.
fn web_kind(routes: &[RouteRelation]) -> String {
    let web_routes: Vec<&str> =
        routes.iter().filter(|r| matches!(r.endpoint.target, Target::Web { .. })).map(|r| r.endpoint.route).collect();
    if web_routes.is_empty() || web_routes.contains(&"appserver") {
        "web".to_string()
    } else {
        format!("web ({})", web_routes.join(", "))
    }
}

/// How one kind of traffic is exposed, if it is.
fn said(kind: &str, via: &str, route: bool, ingress: bool) -> Option<String> {
    match (route, ingress) {
        (true, true) => Some(format!("{kind} via {via} and ingress")),
        (true, false) => Some(format!("{kind} via {via}")),
        (false, true) => Some(format!("{kind} via ingress")),
        (false, false) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::edge::haproxy_route::{ENDPOINTS, ProviderView, Record};
    use crate::juju::RelationId;

    fn related(names: &[&str]) -> Vec<RouteRelation> {
        ENDPOINTS
            .iter()
            .filter(|e| names.contains(&e.name))
            .map(|endpoint| RouteRelation {
                endpoint,
                relation: RelationId { endpoint: endpoint.name.into(), id: 1 },
                provider: ProviderView::default(),
                answer: None,
                read_now: false,
                record: Record::default(),
            })
            .collect()
    }

    #[test]
    fn the_status_says_which_web_paths_go_through_haproxy() {
        let config = CharmConfig::parse(Default::default()).unwrap();
        let say = |names: &[&str]| exposure(&related(names), &[], &config);
        assert_eq!(say(&[]), None);
        let ping = say(&["pingserver-haproxy-route", "api-haproxy-route"]);
        assert_eq!(ping.as_deref(), Some("Unit is ready; web (pingserver, api) via haproxy-route"));
        // The appserver route's `/` takes every path no other route takes.
        let all = say(&["appserver-haproxy-route", "pingserver-haproxy-route"]);
        assert_eq!(all.as_deref(), Some("Unit is ready; web via haproxy-route"));
        // A gRPC route whose flag is off exposes nothing.
        assert_eq!(say(&["hostagent-messenger-haproxy-route"]), None);
    }
}
