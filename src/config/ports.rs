//! The one table of Landscape's network services: for each, the option that
//! sets its first port, how many ports it takes, the service.conf section
//! that reads it, its HAProxy backend and server names, its scrape job and
//! its `RUN_*` key in `/etc/default/landscape-server`.
//!
//! HAProxy's model, service.conf, `/etc/default`, the COS scrape jobs and the
//! config checks all read this table, so a port rule or a new service is one
//! row here (a test walks every row through every consumer).

/// The frontend ports of the two gRPC services on every unit's HAProxy.
pub const HOSTAGENT_MESSENGER_FRONTEND: u16 = 6554;
/// Where HAProxy's metrics frontend serves the charm's own gauges (beside
/// its Prometheus exporter), and the cos-agent scrape job reads them.
pub const CHARM_METRICS_PATH: &str = "/landscape-metrics";
pub const UBUNTU_INSTALLER_ATTACH_FRONTEND: u16 = 50051;

/// A path prefix the 80/443 frontends route away from the appserver (or,
/// for `/repository`, that the port-80 redirect spares), with the name of
/// its HAProxy ACL. The haproxy-route endpoints publish the same prefixes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WebPath {
    pub acl: &'static str,
    pub prefix: &'static str,
}

pub const PING_PATH: WebPath = WebPath { acl: "ping", prefix: "/ping" };
pub const REPOSITORY_PATH: WebPath = WebPath { acl: "repository", prefix: "/repository" };
pub const MESSAGE_SYSTEM_PATH: WebPath = WebPath { acl: "message", prefix: "/message-system" };
pub const ATTACHMENT_PATH: WebPath = WebPath { acl: "attachment", prefix: "/attachment" };
pub const API_PATH: WebPath = WebPath { acl: "api", prefix: "/api" };
/// Served by the leader's appservers only.
pub const HASH_ID_DATABASES_PATH: WebPath = WebPath { acl: "hashids", prefix: "/hash-id-databases" };
pub const UPLOAD_PATH: WebPath = WebPath { acl: "package-upload", prefix: "/upload" };

/// A Landscape service that listens on a port of its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum LandscapeService {
    Appserver,
    Pingserver,
    MessageServer,
    Api,
    PackageUpload,
    HostagentMessenger,
    UbuntuInstallerAttach,
}

/// How many ports a service takes from its base port.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ports {
    /// `worker_counts` consecutive ports: worker *i* listens on base + *i*.
    PerWorker,
    /// The base port only.
    One,
}

/// Which units run a service.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Placement {
    EveryUnit,
    /// The leader only (and, for package upload, in the standalone mode).
    Leader,
}

/// How HAProxy reaches a service.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    /// A backend of the port 80/443 frontends, `landscape-http(s)-<backend>`.
    Web { backend: &'static str },
    /// A frontend and backend of its own, on `port` (TLS, ALPN h2), h2c behind.
    Grpc { name: &'static str, port: u16 },
}

/// One row of the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServiceSpec {
    pub service: LandscapeService,
    /// The config.yaml option of its first port.
    pub option: &'static str,
    /// An older name of the same option, still read (refresh from a charm
    /// that spelled it so keeps the operator's value).
    pub alias: Option<&'static str>,
    pub default_base: u16,
    pub ports: Ports,
    pub placement: Placement,
    /// The service.conf section whose `base_port` (and, per worker,
    /// `workers`) it reads.
    pub section: &'static str,
    pub route: Route,
    /// The stem of its HAProxy server names (`landscape-<stem>-<ip>-<i>`).
    pub server: &'static str,
    /// Its COS scrape job (`landscape-<job>`), if it serves metrics.
    pub scrape_job: Option<&'static str>,
    /// Its `RUN_*` key in `/etc/default/landscape-server`, if it has one.
    pub run_key: Option<&'static str>,
}

pub const SERVICES: [ServiceSpec; 7] = [
    ServiceSpec {
        service: LandscapeService::Appserver,
        option: "appserver_base_port",
        alias: None,
        default_base: 8080,
        ports: Ports::PerWorker,
        placement: Placement::EveryUnit,
        section: "landscape",
        route: Route::Web { backend: "appserver" },
        server: "appserver",
        scrape_job: Some("appserver"),
        run_key: Some("RUN_APPSERVER"),
    },
    ServiceSpec {
        service: LandscapeService::Pingserver,
        option: "pingserver_base_port",
        alias: None,
        default_base: 8070,
        ports: Ports::PerWorker,
        placement: Placement::EveryUnit,
        section: "pingserver",
        route: Route::Web { backend: "ping" },
        server: "pingserver",
        scrape_job: Some("pingserver"),
        run_key: Some("RUN_PINGSERVER"),
    },
    ServiceSpec {
        service: LandscapeService::MessageServer,
        option: "message_server_base_port",
        alias: None,
        default_base: 8090,
        ports: Ports::PerWorker,
        placement: Placement::EveryUnit,
        section: "message-server",
        route: Route::Web { backend: "message" },
        server: "message-server",
        scrape_job: Some("message-server"),
        run_key: Some("RUN_MSGSERVER"),
    },
    ServiceSpec {
        service: LandscapeService::Api,
        option: "api_base_port",
        alias: None,
        default_base: 9080,
        ports: Ports::PerWorker,
        placement: Placement::EveryUnit,
        section: "api",
        route: Route::Web { backend: "api" },
        server: "api",
        scrape_job: Some("api"),
        run_key: Some("RUN_APISERVER"),
    },
    ServiceSpec {
        service: LandscapeService::PackageUpload,
        option: "package_upload_base_port",
        alias: None,
        default_base: 9100,
        ports: Ports::One,
        placement: Placement::Leader,
        section: "package-upload",
        route: Route::Web { backend: "package-upload" },
        server: "package-upload",
        scrape_job: Some("package-upload"),
        run_key: Some("RUN_PACKAGEUPLOADSERVER"),
    },
    ServiceSpec {
        service: LandscapeService::HostagentMessenger,
        // The 26.04 charm's name; the older Python charm's is the alias.
        option: "hostagent_server_base_port",
        alias: Some("hostagent_messenger_base_port"),
        default_base: 50052,
        ports: Ports::One,
        placement: Placement::EveryUnit,
        section: "hostagent-message-server",
        route: Route::Grpc { name: "landscape-hostagent-messenger", port: HOSTAGENT_MESSENGER_FRONTEND },
        server: "hostagent-messenger",
        scrape_job: None,
        run_key: None,
    },
    ServiceSpec {
        service: LandscapeService::UbuntuInstallerAttach,
        option: "ubuntu_installer_attach_base_port",
        alias: None,
        default_base: 53354,
        ports: Ports::One,
        placement: Placement::EveryUnit,
        section: "ubuntu-installer-attach",
        route: Route::Grpc { name: "landscape-ubuntu-installer-attach", port: UBUNTU_INSTALLER_ATTACH_FRONTEND },
        server: "ubuntu-installer-attach",
        scrape_job: None,
        run_key: None,
    },
];

/// The row of `service` (rows are in the enum's order; a test checks it).
pub fn spec(service: LandscapeService) -> &'static ServiceSpec {
    &SERVICES[service as usize]
}

/// Each service's first port, as configured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServicePorts {
    bases: [u16; SERVICES.len()],
}

impl Default for ServicePorts {
    fn default() -> Self {
        let mut bases = [0; SERVICES.len()];
        for (base, spec) in bases.iter_mut().zip(&SERVICES) {
            *base = spec.default_base;
        }
        Self { bases }
    }
}

impl ServicePorts {
    /// The first port of `service`.
    pub fn base(&self, service: LandscapeService) -> u16 {
        self.bases[service as usize]
    }

    /// These ports with `service` starting at `base`.
    pub fn with(mut self, service: LandscapeService, base: u16) -> Self {
        self.bases[service as usize] = base;
        self
    }

    /// Every port `service` listens on with `workers` workers.
    pub fn ports_of(&self, service: LandscapeService, workers: u16) -> Vec<u16> {
        let base = self.base(service);
        match spec(service).ports {
            Ports::PerWorker => (0..workers).map(|i| base + i).collect(),
            Ports::One => vec![base],
        }
    }

    /// Each service with its port range (`base`, count), for overlap checks.
    pub fn ranges(&self, workers: u16) -> Vec<(&'static ServiceSpec, u16, u16)> {
        SERVICES
            .iter()
            .zip(self.bases)
            .map(|(spec, base)| (spec, base, if spec.ports == Ports::PerWorker { workers } else { 1 }))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_has_one_row_per_service_and_unique_names() {
        for (index, spec) in SERVICES.iter().enumerate() {
            assert_eq!(spec.service as usize, index, "{:?} is not in the enum's order", spec.service);
            assert_eq!(ServicePorts::default().base(spec.service), spec.default_base);
        }
        let options: std::collections::BTreeSet<_> = SERVICES.iter().map(|s| s.option).collect();
        assert_eq!(options.len(), SERVICES.len());
    }

    #[test]
    fn per_worker_services_take_consecutive_ports() {
        let ports = ServicePorts::default().with(LandscapeService::Api, 9500);
        assert_eq!(ports.ports_of(LandscapeService::Api, 3), [9500, 9501, 9502]);
        assert_eq!(ports.ports_of(LandscapeService::PackageUpload, 3), [9100]);
    }
}
