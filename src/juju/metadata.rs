//! The charm's declared endpoints and actions, as the binary knows them.
//!
//! These tables mirror `metadata.yaml` and `actions.yaml`; a test in
//! `tests/it/metadata.rs` fails if they drift apart, so hook names are
//! resolved against the endpoints Juju actually knows for this charm.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Requires,
    Provides,
    Peers,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Endpoint {
    pub name: &'static str,
    pub role: Role,
    pub interface: &'static str,
}

/// The charm's name (metadata.yaml's `name`): its `juju_charm` label.
pub const CHARM_NAME: &str = "landscape-server";
pub const PEER_ENDPOINT: &str = "replicas";
/// The PostgreSQL endpoint an operator relates (the legacy `db` also serves).
pub const DATABASE_ENDPOINT: &str = "database";
pub const TLS_ENDPOINT: &str = "load-balancer-certificates";
pub const SMTP_ENDPOINT: &str = "smtp";
pub const DEBARCHIVE_ENDPOINT: &str = "debarchive";
pub const TASK_HANDLER_ENDPOINT: &str = "task-handler";

pub const ENDPOINTS: &[Endpoint] = &[
    Endpoint { name: "database", role: Role::Requires, interface: "postgresql_client" },
    Endpoint { name: "db", role: Role::Requires, interface: "pgsql" },
    Endpoint { name: "inbound-amqp", role: Role::Requires, interface: "rabbitmq" },
    Endpoint { name: "outbound-amqp", role: Role::Requires, interface: "rabbitmq" },
    Endpoint { name: "application-dashboard", role: Role::Requires, interface: "register-application" },
    Endpoint { name: SMTP_ENDPOINT, role: Role::Requires, interface: "smtp" },
    Endpoint { name: TLS_ENDPOINT, role: Role::Requires, interface: "tls-certificates" },
    Endpoint { name: "http-ingress", role: Role::Requires, interface: "ingress" },
    Endpoint { name: "https-ingress", role: Role::Requires, interface: "ingress" },
    Endpoint { name: "hostagent-messenger-ingress", role: Role::Requires, interface: "ingress" },
    Endpoint { name: "ubuntu-installer-attach-ingress", role: Role::Requires, interface: "ingress" },
    Endpoint { name: "appserver-haproxy-route", role: Role::Requires, interface: "haproxy-route" },
    Endpoint { name: "pingserver-haproxy-route", role: Role::Requires, interface: "haproxy-route" },
    Endpoint { name: "message-server-haproxy-route", role: Role::Requires, interface: "haproxy-route" },
    Endpoint { name: "api-haproxy-route", role: Role::Requires, interface: "haproxy-route" },
    Endpoint { name: "package-upload-haproxy-route", role: Role::Requires, interface: "haproxy-route" },
    Endpoint { name: "hostagent-messenger-haproxy-route", role: Role::Requires, interface: "haproxy-route-tcp" },
    Endpoint { name: "ubuntu-installer-attach-haproxy-route", role: Role::Requires, interface: "haproxy-route-tcp" },
    Endpoint { name: "repository-haproxy-route", role: Role::Requires, interface: "haproxy-route" },
    Endpoint { name: "website", role: Role::Provides, interface: "http" },
    Endpoint { name: "nrpe-external-master", role: Role::Provides, interface: "nrpe-external-master" },
    Endpoint { name: "cos-agent", role: Role::Provides, interface: "cos_agent" },
    Endpoint { name: DEBARCHIVE_ENDPOINT, role: Role::Provides, interface: "landscape-debarchive" },
    Endpoint { name: TASK_HANDLER_ENDPOINT, role: Role::Provides, interface: "landscape-task-handler" },
    Endpoint { name: "data", role: Role::Provides, interface: "block-storage" },
    Endpoint { name: "hosted", role: Role::Provides, interface: "landscape-hosted" },
    Endpoint { name: PEER_ENDPOINT, role: Role::Peers, interface: "landscape-replica" },
];

pub const ACTIONS: &[&str] = &[
    "pause",
    "resume",
    "upgrade",
    "rolling-upgrade",
    "migrate-schema",
    "hash-id-databases",
    "migrate-service-conf",
    "get-service-conf",
    "get-certificates",
    "get-haproxy-config",
    "get-ingress-urls",
];

pub fn endpoint(name: &str) -> Option<&'static Endpoint> {
    ENDPOINTS.iter().find(|e| e.name == name)
}
