//! What operators watch Landscape with: NRPE checks (`nrpe-external-master`),
//! COS scrape jobs and alert rules (`cos-agent`), and the application
//! dashboard entry (`application-dashboard`).
//!
//! Each is computed from the same config as HAProxy and service.conf, so a
//! base-port change moves HAProxy's servers, Landscape's ports and the scrape
//! targets in one hook.

pub mod cos;
pub mod promql;

use serde_json::{Value, json};

use crate::config::CharmConfig;
use crate::config::ports::{self, Placement, ServiceSpec};
use crate::fsutil::{self, FsError, Owner};
use crate::host::Host;
use crate::juju::{Bag, Databag, HookToolError, HookTools, RelationId, pyjson};
use crate::paths::Paths;

pub const NRPE_ENDPOINT: &str = "nrpe-external-master";
pub const COS_AGENT_ENDPOINT: &str = "cos-agent";
pub const DASHBOARD_ENDPOINT: &str = "application-dashboard";
/// The nagios plugin the NRPE checks run (shipped by the nrpe charm).
pub const CHECK_SYSTEMD: &str = "/usr/local/lib/nagios/plugins/check_systemd.py";
/// package-search's metrics port; Landscape does not make it configurable.
pub const PACKAGE_SEARCH_METRICS_PORT: u16 = 9099;
/// package-search's scrape job and dashboard (it has no HAProxy route).
const PACKAGE_SEARCH_JOB: &str = "package-search";
const CHECK_FILE_PREFIX: &str = "check_landscape-";

/// One relation and this side's bag on it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalBag {
    pub relation: RelationId,
    pub own: Databag,
}

/// Reads this side of every relation on `endpoint` (the application's bag,
/// which only the leader may read, or this unit's).
pub fn observe(
    juju: &HookTools<'_>,
    endpoint: &str,
    member: &str,
    bag: Bag,
    broken: Option<&RelationId>,
) -> Result<Vec<LocalBag>, HookToolError> {
    let mut sides = vec![];
    for relation in juju.relation_ids(endpoint)? {
        if Some(&relation) == broken {
            continue;
        }
        let own = juju.relation_get_or_empty(&relation, member, bag)?;
        sides.push(LocalBag { relation, own });
    }
    Ok(sides)
}

/// The systemd services this unit runs and NRPE should watch.
pub fn checked_services(is_leader: bool, installer_attach: bool) -> Vec<&'static str> {
    let mut services: Vec<&'static str> = crate::systemd_units::nrpe_checked(is_leader).collect();
    if installer_attach {
        services.push("landscape-ubuntu-installer-attach");
    }
    services
}

/// `/etc/nagios/nrpe.d/check_<service>.cfg`.
pub fn check_file(service: &str) -> (String, String) {
    (format!("check_{service}.cfg"), format!("command[check_{service}]={CHECK_SYSTEMD} {service}\n"))
}

/// Whether a file in nrpe.d is one of ours (so it may be removed).
pub fn is_our_check_file(name: &str) -> bool {
    name.starts_with(CHECK_FILE_PREFIX) && name.ends_with(".cfg")
}

/// The `monitors` YAML the nrpe charm reads from the unit bag.
pub fn monitors_yaml(services: &[&str]) -> String {
    let mut text = String::from("monitors:\n  remote:\n    nrpe:\n");
    for service in services {
        text.push_str(&format!("      {service}:\n        command: check_{service}\n"));
    }
    text
}

/// One scrape job per service, with a target for every worker's port.
pub fn scrape_jobs(config: &CharmConfig, is_leader: bool) -> Vec<Value> {
    // The leader-only services run on the leader only (package upload in the
    // standalone mode only): elsewhere they would be scraped as down for ever.
    let runs_here = |spec: &ServiceSpec| match spec.placement {
        Placement::EveryUnit => true,
        Placement::Leader => is_leader && config.landscape.deployment_mode.is_standalone(),
    };
    let mut services: Vec<(&str, Vec<u16>)> = ports::SERVICES
        .iter()
        .filter(|spec| runs_here(spec))
        .filter_map(|spec| Some((spec.scrape_job?, config.ports.ports_of(spec.service, config.worker_counts))))
        .collect();
    if is_leader {
        services.push((PACKAGE_SEARCH_JOB, vec![PACKAGE_SEARCH_METRICS_PORT]));
    }
    services
        .into_iter()
        .map(|(service, ports)| {
            scrape_job(config, service, "/metrics", ports.iter().map(|p| format!("localhost:{p}")).collect())
        })
        .collect()
}

/// One cos-agent scrape job: `landscape-<service>`, its targets labelled
/// with the service.
fn scrape_job(config: &CharmConfig, service: &str, path: &str, targets: Vec<String>) -> Value {
    json!({
        "job_name": format!("landscape-{service}"),
        "scrape_interval": config.landscape.prometheus_scrape_interval,
        "metrics_path": path,
        "static_configs": [{"targets": targets, "labels": {"landscape_service": service}}],
    })
}

/// The scrape jobs of this unit's HAProxy metrics frontend, which listens
/// on the unit's own address only (the public frontends refuse `/metrics`):
/// HAProxy's exporter, and the charm's gauges (the certificate's expiry).
pub fn haproxy_scrape_jobs(config: &CharmConfig, unit_ip: std::net::IpAddr) -> [Value; 2] {
    let target = std::net::SocketAddr::new(unit_ip, config.haproxy_metrics_port).to_string();
    [
        scrape_job(config, "haproxy", "/metrics", vec![target.clone()]),
        scrape_job(config, "haproxy-charm", crate::config::ports::CHARM_METRICS_PATH, vec![target]),
    ]
}

/// The dashboard families: every service with a scrape job (with its
/// HAProxy backends, when HAProxy routes to it), and package-search.
pub fn dashboard_families() -> Vec<cos::Family> {
    let mut families: Vec<cos::Family> = ports::SERVICES
        .iter()
        .filter_map(|spec| {
            let backends = match spec.route {
                ports::Route::Web { backend } => Some(format!("landscape-https?-{backend}")),
                ports::Route::Grpc { .. } => None,
            };
            Some(cos::Family { service: spec.scrape_job?, backends })
        })
        .collect();
    families.push(cos::Family { service: PACKAGE_SEARCH_JOB, backends: None });
    families
}

/// The `cos_agent` unit bag value (`CosAgentProviderUnitData`, under `config`).
pub fn cos_agent_config(
    config: &CharmConfig,
    is_leader: bool,
    unit_ip: Option<std::net::IpAddr>,
    topology: &cos::Topology<'_>,
) -> Result<String, cos::CosContentError> {
    Ok(pyjson::dumps(&json!({
        "metrics_alert_rules": cos::alert_rules(topology)?,
        "log_alert_rules": {},
        "dashboards": cos::dashboards(&dashboard_families())?,
        "metrics_scrape_jobs": scrape_jobs(config, is_leader)
            .into_iter()
            .chain(unit_ip.into_iter().flat_map(|ip| haproxy_scrape_jobs(config, ip)))
            .collect::<Vec<_>>(),
        "log_slots": [],
    })))
}

/// The leader's entry on the application dashboard.
///
/// As the Python charm gave it, so that a refresh changes nothing on the
/// dashboard: the group `[<site_name>] LMA` that the Nagios and OpenStack
/// dashboard charms share, and the charm's own icon (the SVG document,
/// which the dashboard shows as the entry's image).
pub fn dashboard_entry(config: &CharmConfig, url: &str) -> Databag {
    let site = &config.landscape.site_name;
    Databag::from([
        ("name".to_string(), "Landscape".to_string()),
        ("url".to_string(), url.to_string()),
        ("subtitle".to_string(), format!("[{site}] Systems management")),
        ("group".to_string(), format!("[{site}] LMA")),
        ("icon".to_string(), ICON.to_string()),
    ])
}

/// The charm's icon (charmcraft packs it beside the binary too).
const ICON: &str = include_str!("../../icon.svg");

/// This side of the three monitoring relations, as the hook read them.
#[derive(Debug, Default)]
pub struct MonitoringRelations {
    pub nrpe: Vec<LocalBag>,
    pub cos_agent: Vec<LocalBag>,
    /// Read only by the leader (the application's own bag).
    pub dashboard: Vec<LocalBag>,
}

impl MonitoringRelations {
    /// Reads all three; the dashboard only on the leader.
    pub fn observe(
        juju: &HookTools<'_>,
        unit: &str,
        is_leader: bool,
        broken: Option<&RelationId>,
    ) -> Result<Self, HookToolError> {
        Ok(Self {
            nrpe: observe(juju, NRPE_ENDPOINT, unit, Bag::Unit, broken)?,
            cos_agent: observe(juju, COS_AGENT_ENDPOINT, unit, Bag::Unit, broken)?,
            dashboard: if is_leader { observe(juju, DASHBOARD_ENDPOINT, unit, Bag::App, broken)? } else { vec![] },
        })
    }
}

#[derive(Debug, thiserror::Error)]
pub enum MonitoringError {
    /// A built-in rule file or dashboard is broken: a bug in this build.
    #[error(transparent)]
    Content(#[from] cos::CosContentError),
    #[error(transparent)]
    Fs(#[from] FsError),
    #[error(transparent)]
    HookTool(#[from] HookToolError),
}

/// Files and hook tools: faults for Juju to retry; broken built-in content
/// fails the hook too, loudly, since no operator action can fix it.
impl crate::status::Explain for MonitoringError {
    fn status(&self) -> Option<crate::status::Status> {
        None
    }
}

/// The monitoring part: publishes and writes all three.
pub fn reconcile(
    host: &Host<'_>,
    relations: &MonitoringRelations,
    config: &CharmConfig,
    is_leader: bool,
    unit_ip: Option<std::net::IpAddr>,
    root_url: Option<&str>,
) -> Result<(), MonitoringError> {
    let services = checked_services(is_leader, config.enable_ubuntu_installer_attach);
    sync_check_files(&host.paths, if relations.nrpe.is_empty() { &[] } else { &services })?;
    let monitors = Databag::from([("monitors".to_string(), monitors_yaml(&services))]);
    publish(host, &relations.nrpe, &monitors, Bag::Unit)?;
    // The dashboards are compressed for the bag: only with a relation to send them on.
    if !relations.cos_agent.is_empty() {
        let topology = cos::Topology {
            model: &host.ctx.model_name,
            model_uuid: &host.ctx.model_uuid,
            application: &host.ctx.app_name,
            charm: crate::juju::metadata::CHARM_NAME,
        };
        let cos = cos_agent_config(config, is_leader, unit_ip, &topology)?;
        publish(host, &relations.cos_agent, &Databag::from([("config".to_string(), cos)]), Bag::Unit)?;
    }
    if let (true, Some(url)) = (is_leader, root_url) {
        publish(host, &relations.dashboard, &dashboard_entry(config, url), Bag::App)?;
    }
    Ok(())
}

/// Writes `wanted`'s keys that differ in each relation's bag, one write per
/// relation that needs one.
fn publish(host: &Host<'_>, sides: &[LocalBag], wanted: &Databag, bag: Bag) -> Result<(), MonitoringError> {
    let keys: Vec<&str> = wanted.keys().map(String::as_str).collect();
    for side in sides {
        let changes = crate::juju::databag::changes(&side.own, wanted, &keys);
        if !changes.is_empty() {
            host.juju.relation_set(&side.relation, &changes, bag)?;
        }
    }
    Ok(())
}

/// Writes a check file for each service and removes our others (a follower
/// no longer checks the leader-only services; no relation, no checks).
fn sync_check_files(paths: &Paths, services: &[&str]) -> Result<(), FsError> {
    let dir = paths.nrpe_dir();
    let wanted: Vec<(String, String)> = services.iter().map(|s| check_file(s)).collect();
    if let Ok(entries) = std::fs::read_dir(&dir) {
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if is_our_check_file(&name) && !wanted.iter().any(|(w, _)| *w == name) {
                fsutil::remove_optional(&entry.path())?;
            }
        }
    }
    for (name, body) in wanted {
        fsutil::write_atomic(&dir.join(name), body.as_bytes(), 0o644, Owner::default())?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn monitors_list_every_check() {
        let text = monitors_yaml(&["landscape-api", "landscape-package-search"]);
        assert_eq!(
            text,
            "monitors:\n  remote:\n    nrpe:\n      landscape-api:\n        command: check_landscape-api\n      \
             landscape-package-search:\n        command: check_landscape-package-search\n"
        );
        assert!(is_our_check_file(&check_file("landscape-api").0));
        assert!(!is_our_check_file("check_disk.cfg"));
    }
}
