//! The gRPC services: TLS with ALPN h2 in front, one h2c server per unit
//! behind.

use super::web::forwarded_headers;
use super::*;

/// The backend of a gRPC frontend. Not the frontend's own name (the seed's
/// choice): HAProxy 3.2 warns that a backend named as a frontend "will not be
/// supported anymore in version 3.3", and 3.3 refuses it.
pub(super) fn grpc_backend_name(frontend: &str) -> String {
    format!("{frontend}-servers")
}

/// A gRPC service: TLS with ALPN h2 in front, one h2c server per unit behind.
pub(super) fn grpc_service(
    name: &'static str,
    port: u16,
    backend_port: u16,
    topology: &Topology,
    settings: &Settings,
) -> Service {
    let (mut acls, mut http_request) = forwarded_headers("https", &settings.trusted_proxies);
    if name == "landscape-ubuntu-installer-attach" {
        // The X-FQDN header is required for multitenant installations.
        acls.push(Acl::fixed("host_found", "hdr(host) -m found"));
        http_request.extend([
            "set-var(req.full_fqdn) hdr(authority) if !host_found".to_string(),
            "set-var(req.full_fqdn) hdr(host) if host_found".to_string(),
            "set-header X-FQDN %[var(req.full_fqdn)]".to_string(),
        ]);
    }
    let cert = settings.tls_pem.as_ref().map(|p| p.display().to_string()).unwrap_or_default();
    Service {
        frontend: Frontend {
            name,
            port,
            tls: Some(Tls { cert, alpn_h2: true }),
            timeout_client: None,
            acls,
            http_request,
            redirect: None,
            routes: vec![],
            default_backend: grpc_backend_name(name),
        },
        backends: vec![grpc_backend(name, backend_port, topology)],
    }
}

/// One h2c server per unit, on `backend_port`, without HTTP checks.
fn grpc_backend(name: &str, backend_port: u16, topology: &Topology) -> Backend {
    let servers = topology
        .unit_ips
        .iter()
        .map(|ip| Server::new(format!("{name}-{}", ip_slug(ip)), *ip, backend_port, true).drained_if(topology, ip))
        .collect();
    Backend {
        name: grpc_backend_name(name),
        http_checks: false,
        check_path: "/",
        check_expect: None,
        http_request: vec![],
        timeout_server: SERVER_TIMEOUT_MS,
        servers,
    }
}
