//! The charm's configuration, parsed from `config-get --format=json --all` into
//! typed values. Every problem names its option; all problems are reported at
//! once so an operator fixes them in one go.

pub mod deployment_mode;
pub mod haproxy_limits;
pub mod landscape_options;
pub mod legacy_certificate;
pub mod networks;
pub mod ports;
pub mod root_url;

pub use deployment_mode::DeploymentMode;
pub use haproxy_limits::HaproxyLimits;
pub use landscape_options::{
    AcceptedOnly, AdminAccount, DEFAULT_LANDSCAPE_PPA, DbOverrides, Identity, LandscapeConfig, LicenseSource,
    ProxyConfig, split_sources,
};
pub use legacy_certificate::LegacyCertificate;
pub use networks::Network;
pub use ports::{LandscapeService, ServicePorts};
pub use root_url::{RedirectHttps, RootUrl, UrlHost};

use std::fmt;

use serde_json::{Map, Value};

#[derive(Debug, Clone, PartialEq)]
pub struct CharmConfig {
    pub worker_counts: u16,
    pub redirect_https: RedirectHttps,
    pub enable_hostagent_messenger: bool,
    pub enable_ubuntu_installer_attach: bool,
    pub max_global_haproxy_connections: u32,
    pub haproxy_limits: HaproxyLimits,
    /// HAProxy's Prometheus exporter, on the unit's own address.
    pub haproxy_metrics_port: u16,
    /// Load balancers whose `X-Forwarded-*` headers are passed on; from
    /// anyone else the unit's HAProxy replaces them.
    pub haproxy_trusted_proxies: Vec<Network>,
    /// The debarchive service's port on the debarchive units (its snap's
    /// `deb.archive.server.gateway-port`; the relation does not say it).
    pub debarchive_gateway_port: u16,
    pub root_url: Option<RootUrl>,
    pub ports: ServicePorts,
    pub landscape: LandscapeConfig,
    /// `ssl_cert`/`ssl_key`, for the `website` bridge only.
    pub legacy_certificate: LegacyCertificate,
    /// Every option as Juju gave it, for the parts not typed yet.
    pub raw: Map<String, Value>,
}

pub const MAX_WORKERS: u16 = 64;

/// One invalid option.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigProblem {
    pub option: String,
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ConfigError {
    pub problems: Vec<ConfigProblem>,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<String> = self.problems.iter().map(|p| format!("{} {}", p.option, p.reason)).collect();
        write!(f, "invalid config: {}", parts.join("; "))
    }
}

/// Invalid config blocks the unit naming every bad option; nothing else changes.
impl crate::status::Explain for ConfigError {
    fn status(&self) -> Option<crate::status::Status> {
        let problems: Vec<String> = self.problems.iter().map(|p| format!("{} {}", p.option, p.reason)).collect();
        Some(crate::status::Status::blocked(format!("Invalid config: {}", problems.join("; "))))
    }
}

struct Reader<'a> {
    raw: &'a Map<String, Value>,
    problems: Vec<ConfigProblem>,
}

impl Reader<'_> {
    fn problem(&mut self, option: &str, reason: impl Into<String>) {
        self.problems.push(ConfigProblem { option: option.into(), reason: reason.into() });
    }

    fn int(&mut self, option: &str, default: i64, range: std::ops::RangeInclusive<i64>) -> i64 {
        match self.raw.get(option) {
            None | Some(Value::Null) => default,
            Some(Value::Number(n)) if n.as_i64().is_some_and(|v| range.contains(&v)) => n.as_i64().unwrap_or(default),
            Some(other) => {
                self.problem(option, format!("must be between {} and {} (got {other})", range.start(), range.end()));
                default
            }
        }
    }

    fn bool(&mut self, option: &str) -> bool {
        match self.raw.get(option) {
            None | Some(Value::Null) => false,
            Some(Value::Bool(b)) => *b,
            Some(other) => {
                self.problem(option, format!("must be true or false (got {other})"));
                false
            }
        }
    }

    /// A string option; empty counts as unset.
    fn string(&mut self, option: &str) -> Option<String> {
        match self.raw.get(option) {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) if s.trim().is_empty() => None,
            Some(Value::String(s)) => Some(s.trim().to_string()),
            Some(other) => {
                self.problem(option, format!("must be a string (got {other})"));
                None
            }
        }
    }

    fn port(&mut self, option: &str, default: u16) -> u16 {
        self.int(option, i64::from(default), 1..=65535) as u16
    }

    /// A port option that also answers to an older name: the new name, else
    /// the old, else `default`. Both set to different values is refused,
    /// naming both (neither can be guessed to be the one meant).
    fn port_or_alias(&mut self, option: &str, alias: Option<&str>, default: u16) -> u16 {
        let is_set = |name: &str| self.raw.get(name).is_some_and(|v| !v.is_null());
        let Some(alias) = alias.filter(|a| is_set(a)) else { return self.port(option, default) };
        if !is_set(option) {
            return self.port(alias, default);
        }
        let (new, old) = (self.port(option, default), self.port(alias, default));
        if new != old {
            self.problem(option, format!("and {alias} (its older name) differ ({new} and {old}): set only one"));
        }
        new
    }
}

impl CharmConfig {
    pub fn parse(raw: Map<String, Value>) -> Result<Self, ConfigError> {
        let mut r = Reader { raw: &raw, problems: vec![] };
        let worker_counts = r.int("worker_counts", 2, 1..=i64::from(MAX_WORKERS)) as u16;
        let redirect_https = root_url::parse_redirect(&mut r);
        let enable_hostagent_messenger = r.bool("enable_hostagent_messenger");
        let enable_ubuntu_installer_attach = r.bool("enable_ubuntu_installer_attach");
        let max_global_haproxy_connections =
            r.int("max_global_haproxy_connections", 4096, 1..=i64::from(i32::MAX)) as u32;
        let haproxy_limits = haproxy_limits::parse(&mut r);
        let haproxy_metrics_port = r.port("haproxy_metrics_port", 8404);
        let haproxy_trusted_proxies = parse_trusted_proxies(&mut r);
        let debarchive_gateway_port = r.port("debarchive_gateway_port", 8100);
        let root_url = parse_root_url(&mut r);
        let ports = ports::SERVICES.iter().fold(ServicePorts::default(), |ports, spec| {
            ports.with(spec.service, r.port_or_alias(spec.option, spec.alias, spec.default_base))
        });
        check_port_ranges(&mut r, &ports, worker_counts);
        check_metrics_port(&mut r, haproxy_metrics_port, &ports, worker_counts);
        let landscape = landscape_options::parse(&mut r);
        let legacy_certificate = legacy_certificate::parse(&mut r);
        let problems = r.problems;
        if problems.is_empty() {
            Ok(Self {
                worker_counts,
                redirect_https,
                enable_hostagent_messenger,
                enable_ubuntu_installer_attach,
                max_global_haproxy_connections,
                haproxy_limits,
                haproxy_metrics_port,
                haproxy_trusted_proxies,
                debarchive_gateway_port,
                root_url,
                ports,
                landscape,
                legacy_certificate,
                raw,
            })
        } else {
            Err(ConfigError { problems })
        }
    }
}

fn parse_root_url(r: &mut Reader<'_>) -> Option<RootUrl> {
    let text = r.string("root_url")?;
    RootUrl::parse(&text).map_err(|reason| r.problem("root_url", reason)).ok()
}

fn parse_trusted_proxies(r: &mut Reader<'_>) -> Vec<Network> {
    let Some(text) = r.string("haproxy_trusted_proxies") else { return vec![] };
    Network::parse_list(&text).unwrap_or_else(|reason| {
        r.problem("haproxy_trusted_proxies", reason);
        vec![]
    })
}

/// Each multi-worker service takes `worker_counts` consecutive ports; no two
/// services may share one, and no range may run past 65535.
fn check_port_ranges(r: &mut Reader<'_>, ports: &ServicePorts, workers: u16) {
    let ranges = ports.ranges(workers);
    for (spec, base, count) in &ranges {
        if u32::from(*base) + u32::from(*count) - 1 > 65535 {
            r.problem(spec.option, format!("leaves no room for {count} workers below port 65536"));
        }
    }
    for (i, (a, a_base, a_count)) in ranges.iter().enumerate() {
        for (b, b_base, b_count) in &ranges[i + 1..] {
            let (a_end, b_end) = (u32::from(*a_base) + u32::from(*a_count), u32::from(*b_base) + u32::from(*b_count));
            if u32::from(*a_base) < b_end && u32::from(*b_base) < a_end {
                let message =
                    format!("overlaps {} (ports {a_base}..{} and {b_base}..{})", b.option, a_end - 1, b_end - 1);
                r.problem(a.option, message);
            }
        }
    }
}

/// The exporter's port must be free: not a frontend's, not a service's.
fn check_metrics_port(r: &mut Reader<'_>, port: u16, ports: &ServicePorts, workers: u16) {
    if [80, 443, ports::HOSTAGENT_MESSENGER_FRONTEND, ports::UBUNTU_INSTALLER_ATTACH_FRONTEND].contains(&port) {
        r.problem("haproxy_metrics_port", format!("is a frontend's port ({port})"));
    }
    for (spec, base, count) in ports.ranges(workers) {
        if (base..base.saturating_add(count)).contains(&port) {
            r.problem("haproxy_metrics_port", format!("overlaps {} (port {port})", spec.option));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::landscape_options::is_snap_channel;
    use super::*;
    use serde_json::json;

    fn parse(value: Value) -> Result<CharmConfig, ConfigError> {
        CharmConfig::parse(value.as_object().unwrap().clone())
    }

    #[test]
    fn defaults_apply_to_missing_and_null_options() {
        let c = parse(json!({"root_url": null})).unwrap();
        assert_eq!(c.worker_counts, 2);
        assert_eq!(c.redirect_https, RedirectHttps::Default);
        assert_eq!(c.max_global_haproxy_connections, 4096);
        assert_eq!(c.ports, ServicePorts::default());
        assert_eq!(c.root_url, None);
    }

    #[test]
    fn every_problem_is_reported_with_its_option() {
        let err =
            parse(json!({"worker_counts": 0, "redirect_https": "sometimes", "max_global_haproxy_connections": -1}))
                .unwrap_err();
        let options: Vec<_> = err.problems.iter().map(|p| p.option.as_str()).collect();
        assert_eq!(options, ["worker_counts", "redirect_https", "max_global_haproxy_connections"]);
        assert!(err.to_string().contains("worker_counts must be between 1 and 64 (got 0)"), "{err}");
    }

    #[test]
    fn worker_ranges_must_not_overlap() {
        // 8070 + 16 workers runs into the appserver's 8080.
        let err = parse(json!({"worker_counts": 16})).unwrap_err();
        assert_eq!(err.problems[0].option, "appserver_base_port");
        assert!(err.problems[0].reason.contains("pingserver_base_port"), "{err}");
        assert!(parse(json!({"worker_counts": 10})).is_ok());
    }

    #[test]
    fn root_url_forms() {
        assert_eq!(RootUrl::parse("https://Landscape.Example.com/").unwrap().hostname(), Some("landscape.example.com"));
        assert_eq!(RootUrl::parse("https://10.0.0.5:8443/x").unwrap().hostname(), None);
        assert!(matches!(RootUrl::parse("https://[fd00::5]/").unwrap().host, UrlHost::Ip(_)));
        for bad in ["ftp://x/", "https://", "https://a b/", "https://user@host/", "https://bad_name/", "https://h:0/"] {
            assert!(RootUrl::parse(bad).is_err(), "{bad} was accepted");
        }
    }

    #[test]
    fn the_hostagent_port_answers_to_both_names_and_refuses_two_different_values() {
        let port = |value: Value| parse(value).map(|c| c.ports.base(LandscapeService::HostagentMessenger));
        assert_eq!(port(json!({})).unwrap(), 50052);
        assert_eq!(port(json!({"hostagent_server_base_port": 50060})).unwrap(), 50060);
        assert_eq!(port(json!({"hostagent_messenger_base_port": 50061})).unwrap(), 50061);
        let same = json!({"hostagent_server_base_port": 50062, "hostagent_messenger_base_port": 50062});
        assert_eq!(port(same).unwrap(), 50062);
        let both = json!({"hostagent_server_base_port": 50063, "hostagent_messenger_base_port": 50064});
        let err = port(both).unwrap_err().to_string();
        assert!(err.contains("hostagent_server_base_port") && err.contains("hostagent_messenger_base_port"), "{err}");
        assert!(err.contains("50063") && err.contains("50064"), "{err}");
    }

    #[test]
    fn landscape_ppa_is_a_comma_list_but_not_inside_a_source_lines_options() {
        assert_eq!(split_sources("ppa:a/b, ppa:c/d ,"), ["ppa:a/b", "ppa:c/d"]);
        assert_eq!(
            split_sources("deb [arch=amd64,arm64] http://archive.internal/ noble main,ppa:a/b"),
            ["deb [arch=amd64,arm64] http://archive.internal/ noble main", "ppa:a/b"]
        );
        assert!(parse(json!({"landscape_ppa": " , "})).is_err());
    }

    #[test]
    fn min_install_needs_standalone_and_the_outbox_channel_is_a_snap_channel() {
        let err = parse(json!({"min_install": true, "deployment_mode": "saas"})).unwrap_err().to_string();
        assert!(err.contains("min_install") && err.contains("standalone"), "{err}");
        assert!(parse(json!({"min_install": true})).is_ok());
        for good in ["latest/stable", "stable", "1.0/edge", "latest/candidate/fix-1", "edge/hotfix"] {
            assert!(is_snap_channel(good), "{good}");
        }
        for bad in ["", "latest", "latest/stable; rm -rf /", "a/b/c/d", "recent/ stable"] {
            assert!(!is_snap_channel(bad), "{bad}");
        }
        let err = parse(json!({"outbox_snap_channel": "latest"})).unwrap_err().to_string();
        assert!(err.contains("outbox_snap_channel"), "{err}");
        let err = parse(json!({"gpg_secret_id": "not-a-secret"})).unwrap_err().to_string();
        assert!(err.contains("gpg_secret_id"), "{err}");
    }
}
