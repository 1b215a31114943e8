//! The one service table (`config::ports::SERVICES`) reaches every consumer:
//! config.yaml and the config checks, service.conf, HAProxy's model, the COS
//! scrape jobs and `/etc/default/landscape-server`. Adding a service is a
//! row of the table; this test then says which consumer does not cover it.

use std::net::IpAddr;

use landscape_server::config::ports::{Placement, Ports, Route, SERVICES};
use landscape_server::config::{CharmConfig, Identity};
use landscape_server::haproxy::model::{HaproxyConfig, Settings, Topology, build};
use landscape_server::ini::IniDocument;
use landscape_server::landscape::etc_default::ServiceSelection;
use landscape_server::landscape::service_conf::{self, ServiceConfInputs};
use landscape_server::monitoring::scrape_jobs;
use serde_json::{Value, json};

use crate::harness::spec;

/// A config that moves every service to a base port of its own (so a
/// consumer that ignores the table shows the default instead), both gRPC
/// services on, two workers.
fn config_with_moved_ports() -> CharmConfig {
    let mut raw = json!({"enable_hostagent_messenger": true, "enable_ubuntu_installer_attach": true});
    for (i, spec) in SERVICES.iter().enumerate() {
        raw[spec.option] = json!(20000 + 100 * i);
    }
    CharmConfig::parse(raw.as_object().unwrap().clone()).unwrap()
}

fn moved_base(index: usize) -> u16 {
    20000 + 100 * index as u16
}

fn haproxy(config: &CharmConfig, units: &[IpAddr]) -> HaproxyConfig {
    let pem = std::path::PathBuf::from("/etc/haproxy/haproxy.pem");
    let settings = Settings::from_config(config, Some(pem), "/etc/haproxy/errors".into());
    build(&Topology::new(units.to_vec(), Some(units[0])), &settings)
}

#[test]
fn every_row_of_the_service_table_reaches_every_consumer() {
    let config = config_with_moved_ports();
    let units: Vec<IpAddr> = vec!["10.1.0.1".parse().unwrap(), "10.1.0.2".parse().unwrap()];
    let proxy = haproxy(&config, &units);
    let conf = IniDocument::parse(
        &service_conf::render(
            "",
            &ServiceConfInputs {
                ports: config.ports,
                workers: config.worker_counts,
                root_url: None,
                deployment_mode: "standalone",
                identity: &Identity::Builtin,
                secrets: None,
                package_search_host: None,
                db: None,
                broker: None,
                additional: None,
            },
        )
        .unwrap(),
    )
    .unwrap();
    let jobs = scrape_jobs(&config, true);
    let run_keys = ServiceSelection::of(&config, true).run_keys();
    for (index, row) in SERVICES.iter().enumerate() {
        let base = moved_base(index);
        let ports: Vec<u16> = match row.ports {
            Ports::PerWorker => (0..config.worker_counts).map(|i| base + i).collect(),
            Ports::One => vec![base],
        };
        // config.yaml declares the option, with the table's default; one
        // with an older name declares both without a default (which one an
        // operator set must show), and both are read.
        let (kind, default) =
            spec().options.get(row.option).unwrap_or_else(|| panic!("{} not in config.yaml", row.option));
        let wanted_default = if row.alias.is_some() { None } else { Some(json!(row.default_base)) };
        assert_eq!((kind.as_str(), default.clone()), ("int", wanted_default), "{}", row.option);
        if let Some(alias) = row.alias {
            assert_eq!(spec().options.get(alias), Some(&("int".to_string(), None)), "{alias}");
        }
        // The config reads it.
        assert_eq!(config.ports.base(row.service), base, "{}", row.option);
        // service.conf gives it to Landscape.
        assert_eq!(conf.get(row.section, "base_port"), Some(base.to_string()), "[{}] base_port", row.section);
        if row.ports == Ports::PerWorker {
            assert_eq!(conf.get(row.section, "workers"), Some("2".into()), "[{}] workers", row.section);
        }
        // HAProxy routes to it, on every unit or on the leader.
        let servers: Vec<(String, u16)> = match row.route {
            Route::Web { backend } => {
                let name = format!("landscape-https-{backend}");
                let service = proxy.services.iter().find(|s| s.frontend.name == "landscape-https").unwrap();
                let backend = service.backends.iter().find(|b| b.name == name).unwrap_or_else(|| panic!("no {name}"));
                backend.servers.iter().map(|s| (s.address.clone(), s.port)).collect()
            }
            Route::Grpc { name, port } => {
                let service =
                    proxy.services.iter().find(|s| s.frontend.name == name).unwrap_or_else(|| panic!("{name}"));
                assert_eq!(service.frontend.port, port, "{name}");
                service.backends[0].servers.iter().map(|s| (s.address.clone(), s.port)).collect()
            }
        };
        let hosts: &[IpAddr] = if row.placement == Placement::Leader { &units[..1] } else { &units };
        let wanted: Vec<(String, u16)> =
            hosts.iter().flat_map(|ip| ports.iter().map(move |p| (ip.to_string(), *p))).collect();
        assert_eq!(servers, wanted, "{:?} servers", row.service);
        // COS scrapes every port it serves metrics on.
        if let Some(job) = row.scrape_job {
            let name = format!("landscape-{job}");
            let found = jobs.iter().find(|j| j["job_name"] == name.as_str()).unwrap_or_else(|| panic!("no job {name}"));
            let targets: Vec<Value> = ports.iter().map(|p| json!(format!("localhost:{p}"))).collect();
            assert_eq!(found["static_configs"][0]["targets"], Value::Array(targets), "{name}");
        }
        // /etc/default/landscape-server runs it.
        if let Some(key) = row.run_key {
            assert!(run_keys.contains_key(key), "{key} not set");
        }
    }
}
