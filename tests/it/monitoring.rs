//! What operators watch Landscape with: NRPE checks, the cos-agent scrape jobs
//! and alerts, the application dashboard, and base ports moving all of them
//! with HAProxy and service.conf in one hook.

use serde_json::{Value, json};

use crate::harness::{Dispatch, Unit, backend_servers, ready_leader};
use crate::scenario::service_conf;

#[test]
fn nrpe_checks_follow_the_services_this_unit_runs() {
    let mut unit = ready_leader(0);
    unit.add_relation("nrpe-external-master", 40, "nrpe");
    let run = unit.relation_changed("nrpe-external-master", 40, Some("nrpe/0"));
    assert_eq!(run.code, 0, "{}", run.stderr);
    let check = unit
        .read("/etc/nagios/nrpe.d/check_landscape-package-search.cfg")
        .expect("leader checks its leader-only services");
    assert_eq!(
        check,
        "command[check_landscape-package-search]=/usr/local/lib/nagios/plugins/check_systemd.py landscape-package-search\n"
    );
    assert!(unit.read("/etc/nagios/nrpe.d/check_landscape-appserver.cfg").is_some());
    let monitors = unit.relation(40).local_unit_data["monitors"].clone();
    let parsed: serde_yaml_ng::Value = serde_yaml_ng::from_str(&monitors).unwrap();
    assert_eq!(parsed["monitors"]["remote"]["nrpe"]["landscape-api"]["command"], "check_landscape-api");
    assert_eq!(parsed["monitors"]["remote"]["nrpe"].as_mapping().unwrap().len(), 10);

    // Leadership moves away: the leader-only checks go.
    unit.state.leader = false;
    unit.set_published_leader_ip("10.1.77.229");
    unit.hook("leader-settings-changed");
    assert!(unit.read("/etc/nagios/nrpe.d/check_landscape-package-search.cfg").is_none());
    assert!(unit.read("/etc/nagios/nrpe.d/check_landscape-appserver.cfg").is_some());
    // Someone else's check is never touched; ours go with the relation.
    std::fs::write(unit.path("/etc/nagios/nrpe.d/check_disk.cfg"), "command[check_disk]=x\n").unwrap();
    unit.run(Dispatch::relation("nrpe-external-master", "broken", 40, None));
    let left: Vec<String> = std::fs::read_dir(unit.path("/etc/nagios/nrpe.d"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(left, ["check_disk.cfg"]);
}

/// A ready leader with grafana-agent related on `cos-agent` (id 41).
fn cos_related_leader() -> Unit {
    let mut unit = ready_leader(0);
    unit.add_relation("cos-agent", 41, "grafana-agent");
    unit.relation_changed("cos-agent", 41, Some("grafana-agent/0"));
    unit
}

fn cos_config(unit: &Unit, id: u32) -> Value {
    serde_json::from_str(&unit.relation(id).local_unit_data["config"]).unwrap()
}

fn scrape_targets(config: &Value, service: &str) -> Vec<String> {
    let job = config["metrics_scrape_jobs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|j| j["static_configs"][0]["labels"]["landscape_service"] == service)
        .unwrap_or_else(|| panic!("no {service} job"));
    job["static_configs"][0]["targets"].as_array().unwrap().iter().map(|t| t.as_str().unwrap().to_string()).collect()
}

#[test]
fn cos_agent_scrapes_every_worker_and_alerts_on_package_search() {
    let mut unit = ready_leader(0);
    unit.set_config("worker_counts", json!(3));
    unit.add_relation("cos-agent", 41, "grafana-agent");
    unit.relation_changed("cos-agent", 41, Some("grafana-agent/0"));
    let config = cos_config(&unit, 41);
    assert_eq!(scrape_targets(&config, "appserver"), ["localhost:8080", "localhost:8081", "localhost:8082"]);
    assert_eq!(scrape_targets(&config, "api"), ["localhost:9080", "localhost:9081", "localhost:9082"]);
    assert_eq!(scrape_targets(&config, "package-search"), ["localhost:9099"]);
    let job = &config["metrics_scrape_jobs"][0];
    assert_eq!((job["metrics_path"].as_str(), job["scrape_interval"].as_str()), (Some("/metrics"), Some("1m")));
    let alerts: Vec<&str> = config["metrics_alert_rules"]["groups"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|g| g["rules"].as_array().unwrap())
        .map(|r| r["alert"].as_str().unwrap())
        .collect();
    assert!(alerts.contains(&"PackageSearchDown") && alerts.contains(&"LandscapeHAProxyServerDown"), "{alerts:?}");
    for key in ["log_alert_rules", "dashboards", "log_slots"] {
        assert!(config.get(key).is_some(), "the cos_agent model requires {key}");
    }
}

#[test]
fn application_dashboard_entry_comes_from_the_leader_only() {
    let mut unit = ready_leader(0);
    unit.set_config("site_name", json!("acme"));
    unit.add_relation("application-dashboard", 42, "homer");
    unit.relation_changed("application-dashboard", 42, Some("homer/0"));
    let app = unit.relation(42).local_app_data.clone();
    assert_eq!(app["name"], "Landscape");
    assert_eq!(app["url"], "https://10.1.77.18/");
    // As the Python charm gave them: its group, shared with the Nagios and
    // OpenStack dashboard charms, and its icon as an SVG document (ours
    // sent the group `acme` and the string `fa-server`).
    assert_eq!(app["group"], "[acme] LMA");
    assert_eq!(app["subtitle"], "[acme] Systems management");
    let icon = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/icon.svg")).unwrap();
    assert_eq!(app["icon"], icon);
    assert!(app["icon"].contains("<svg"));
    let mut follower = Unit::new(1, "10.1.77.229");
    follower.add_relation("application-dashboard", 42, "homer");
    let run = follower.relation_changed("application-dashboard", 42, Some("homer/0"));
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(follower.relation(42).local_app_data.is_empty());
}

/// One hook moves HAProxy's servers, Landscape's own ports and the scrape
/// targets together, and the real haproxy accepts the result.
#[test]
fn a_base_port_change_moves_haproxy_service_conf_and_scrape_jobs_in_one_hook() {
    let mut unit = ready_leader(0);
    unit.add_relation("cos-agent", 41, "grafana-agent");
    unit.hook("config-changed");
    unit.set_config("appserver_base_port", json!(18080));
    unit.set_config("api_base_port", json!(19080));
    let run = unit.hook("config-changed");
    assert_eq!(run.code, 0, "{}", run.stderr);
    let haproxy = unit.haproxy_config().unwrap();
    let servers: Vec<String> =
        backend_servers(&haproxy, "landscape-https-appserver").into_iter().map(|(_, a)| a).collect();
    assert_eq!(servers, ["10.1.77.18:18080", "10.1.77.18:18081"]);
    assert_eq!(service_conf(&unit).get("landscape", "base_port").as_deref(), Some("18080"));
    assert_eq!(service_conf(&unit).get("api", "base_port").as_deref(), Some("19080"));
    assert_eq!(scrape_targets(&cos_config(&unit, 41), "api"), ["localhost:19080", "localhost:19081"]);
    crate::fixtures::haproxy_check_strict(&haproxy).unwrap();
    assert!(run.ran("lsctl restart") && run.ran("systemctl reload haproxy"));
}

/// HAProxy's own exporter: on the unit's address and its own port (never a
/// public frontend), scraped through cos-agent beside the Landscape jobs;
/// a port that collides with a frontend or a service is refused.
#[test]
fn haproxy_metrics_are_exported_on_the_unit_address_and_scraped() {
    let mut unit = ready_leader(0);
    unit.add_relation("cos-agent", 41, "grafana-agent");
    unit.relation_changed("cos-agent", 41, Some("grafana-agent/0"));
    let haproxy = unit.haproxy_config().unwrap();
    let metrics = crate::fixtures::parse_sections(&haproxy)
        .into_iter()
        .find(|s| s.kind == "frontend" && s.name == "landscape-haproxy-metrics")
        .expect("the exporter's frontend");
    assert!(metrics.lines.contains(&"bind 10.1.77.18:8404".to_string()), "{:?}", metrics.lines);
    assert!(metrics.lines.contains(&"http-request use-service prometheus-exporter if { path /metrics }".to_string()));
    assert_eq!(scrape_targets(&cos_config(&unit, 41), "haproxy"), ["10.1.77.18:8404"]);
    for taken in [443, 8081] {
        unit.set_config("haproxy_metrics_port", json!(taken));
        unit.hook("config-changed");
        let (status, message) = unit.status();
        assert!(status == "blocked" && message.contains("haproxy_metrics_port"), "{taken}: {message}");
    }
}

/// The dashboards as the COS libraries read them: `cosl`'s `LZMABase64`,
/// which the cos_agent library's `GrafanaDashboard` uses (from PyPI, in
/// .venv-test: scripts/setup-python-tools).
fn decoded_dashboards(config: &Value) -> Vec<Value> {
    let encoded = serde_json::to_string(&config["dashboards"]).unwrap();
    let script = "import json, sys\nfrom cosl import LZMABase64\n\
                  print(json.dumps([json.loads(LZMABase64.decompress(d)) for d in json.load(sys.stdin)]))";
    let python = concat!(env!("CARGO_MANIFEST_DIR"), "/.venv-test/bin/python");
    let mut child = std::process::Command::new(python)
        .args(["-c", script])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(child.stdin.as_mut().unwrap(), encoded.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "cosl could not decode the dashboards: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

/// Every PromQL query of `dashboards`, with Grafana's variables given values.
fn dashboard_queries(dashboards: &[Value]) -> Vec<(String, String)> {
    let mut queries = vec![];
    for dashboard in dashboards {
        for panel in dashboard["panels"].as_array().unwrap() {
            for target in panel["targets"].as_array().unwrap() {
                let expr =
                    target["expr"].as_str().unwrap().replace("$__rate_interval", "5m").replace("$juju_unit", ".*");
                queries.push((format!("{} / {}", dashboard["uid"], panel["title"]), expr));
            }
        }
    }
    queries
}

/// Runs `promtool` with `args`; its output on failure.
fn promtool(args: &[&str]) -> Result<String, String> {
    let out =
        std::process::Command::new("promtool").args(args).output().expect("promtool runs (scripts/setup-test-env)");
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    if out.status.success() { Ok(text) } else { Err(text) }
}

#[test]
fn cos_agent_sends_the_rule_files_and_a_dashboard_per_service_family_in_the_librarys_format() {
    let config = cos_config(&cos_related_leader(), 41);

    // The rules are the files' groups, as the files say them, with the
    // topology added (each group's name, each rule's labels and selectors:
    // see alert_rules_carried_no_topology_and_grafana_agent_took_them_for_its_own).
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut groups = vec![];
    for file in crate::fixtures::repo_files("cos/alert_rules", "rules", false) {
        let parsed: Value = serde_yaml_ng::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
        groups.extend(parsed["groups"].as_array().unwrap().iter().cloned());
    }
    let sent = config["metrics_alert_rules"]["groups"].as_array().unwrap();
    assert_eq!(sent.len(), groups.len());
    for (sent, file) in sent.iter().zip(&groups) {
        let name = file["name"].as_str().unwrap();
        assert_eq!(sent["name"], format!("landscape_d2a6c5e0_landscape_server_{name}_rules"));
        for (sent, file) in sent["rules"].as_array().unwrap().iter().zip(file["rules"].as_array().unwrap()) {
            for key in ["alert", "for", "annotations"] {
                assert_eq!(sent[key], file[key], "{key}");
            }
            assert_eq!(sent["labels"]["severity"], file["labels"]["severity"]);
        }
    }

    // One dashboard for HAProxy, one per family with a scrape job, and
    // package-search; the HAProxy one is the file as written.
    let dashboards = decoded_dashboards(&config);
    let uids: Vec<&str> = dashboards.iter().map(|d| d["uid"].as_str().unwrap()).collect();
    assert_eq!(
        uids,
        [
            "landscape-haproxy",
            "landscape-appserver",
            "landscape-pingserver",
            "landscape-message-server",
            "landscape-api",
            "landscape-package-upload",
            "landscape-package-search"
        ]
    );
    let file: Value =
        serde_json::from_str(&std::fs::read_to_string(root.join("cos/dashboards/landscape-haproxy.json")).unwrap())
            .unwrap();
    assert_eq!(dashboards[0], file);
    for dashboard in &dashboards {
        let panels = dashboard["panels"].as_array().unwrap();
        let ids: std::collections::BTreeSet<u64> = panels.iter().map(|p| p["id"].as_u64().unwrap()).collect();
        assert_eq!(ids.len(), panels.len(), "{}: panel ids are unique", dashboard["uid"]);
        for panel in panels {
            assert_eq!(panel["datasource"]["uid"], "${prometheusds}", "{} {}", dashboard["uid"], panel["title"]);
        }
    }
    let api = &dashboards[4];
    assert!(api.to_string().contains(r#"proxy=~\"landscape-https?-api\""#), "the api's HAProxy backends");
    let search = dashboards[6].to_string();
    assert!(!search.contains("proxy=~"), "package-search has no HAProxy route");

    // Every dashboard query is PromQL that Prometheus parses: checked as
    // recording rules by promtool.
    let rules: Vec<Value> = dashboard_queries(&dashboards)
        .into_iter()
        .enumerate()
        .map(|(i, (_, expr))| json!({"record": format!("dashboard:query{i}"), "expr": expr}))
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("queries.rules");
    std::fs::write(&file, serde_json::to_string(&json!({"groups": [{"name": "dashboards", "rules": rules}]})).unwrap())
        .unwrap();
    promtool(&["check", "rules", &file.display().to_string()]).unwrap_or_else(|e| panic!("{e}"));
}

/// The model and its uuid in the harness's units.
const MODEL: &str = "landscape";
const MODEL_UUID: &str = "d2a6c5e0-4c1b-4f3e-9a55-0123456789ab";

/// The alert rules of `config` (a cos-agent bag) as grafana-agent passes
/// them on: read by the COS libraries' own `Rules` (cosl, in .venv-test)
/// with grafana-agent's topology.
fn rules_through_grafana_agent(config: &Value) -> Value {
    let oracle = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/cos_agent_rules_oracle.py");
    let python = concat!(env!("CARGO_MANIFEST_DIR"), "/.venv-test/bin/python");
    let mut child = std::process::Command::new(python)
        .args([oracle, MODEL, MODEL_UUID])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(child.stdin.as_mut().unwrap(), config.to_string().as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "cosl could not read the rules: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

/// Rules without Juju topology were attributed to grafana-agent, which
/// adds its own where a rule has none: each alert then selected
/// grafana-agent's series, so none could fire (and an absence alert would
/// fire for ever). Read as grafana-agent reads them, every rule keeps this
/// application's topology, its group is named after it, and every selector
/// of its expression matches it.
#[test]
fn alert_rules_carried_no_topology_and_grafana_agent_took_them_for_its_own() {
    let config = cos_config(&cos_related_leader(), 41);
    let forwarded = rules_through_grafana_agent(&config);
    let groups = forwarded["groups"].as_array().unwrap();
    assert_eq!(groups.len(), 3, "{forwarded}");
    let mut alerts = 0;
    for group in groups {
        let name = group["name"].as_str().unwrap();
        assert!(name.starts_with("landscape_d2a6c5e0_landscape_server_") && name.ends_with("_rules"), "{name}");
        for rule in group["rules"].as_array().unwrap() {
            let labels = &rule["labels"];
            for (key, value) in [
                ("juju_model", MODEL),
                ("juju_model_uuid", MODEL_UUID),
                ("juju_application", "landscape-server"),
                ("juju_charm", "landscape-server"),
            ] {
                assert_eq!(labels[key], value, "{}: {key}", rule["alert"]);
            }
            let expr = rule["expr"].as_str().unwrap();
            let selectors = expr.matches('{').count();
            let matched = expr.matches(r#"juju_application="landscape-server""#).count();
            assert!(selectors > 0 && matched == selectors, "{}: {expr}", rule["alert"]);
            assert!(!expr.contains("grafana-agent"), "{expr}");
            alerts += 1;
        }
    }
    assert_eq!(alerts, 8);
}

#[test]
fn alert_rules_pass_promtool_and_fire_on_what_should_page() {
    let files: Vec<String> = crate::fixtures::repo_files("cos/alert_rules", "rules", false)
        .iter()
        .map(|f| f.display().to_string())
        .collect();
    assert_eq!(files.len(), 2, "{files:?}");
    let mut args = vec!["check", "rules"];
    args.extend(files.iter().map(String::as_str));
    promtool(&args).unwrap_or_else(|e| panic!("{e}"));
    // The cases run on the rules as the charm sends them (topology in
    // labels and expressions), beside them as the cases file names them.
    let config = cos_config(&cos_related_leader(), 41);
    let dir = tempfile::tempdir().unwrap();
    let sent = dir.path().join("landscape-server.rules");
    std::fs::write(&sent, config["metrics_alert_rules"].to_string()).unwrap();
    promtool(&["check", "rules", &sent.display().to_string()]).unwrap_or_else(|e| panic!("{e}"));
    let cases_source = concat!(env!("CARGO_MANIFEST_DIR"), "/cos/alert_rules/tests/rules_test.yaml");
    let cases = dir.path().join("rules_test.yaml");
    std::fs::copy(cases_source, &cases).unwrap();
    promtool(&["test", "rules", &cases.display().to_string()]).unwrap_or_else(|e| panic!("{e}"));
    // Every alert of the files has a case.
    let cases_text = std::fs::read_to_string(cases_source).unwrap();
    for file in &files {
        let parsed: Value = serde_yaml_ng::from_str(&std::fs::read_to_string(file).unwrap()).unwrap();
        for group in parsed["groups"].as_array().unwrap() {
            for rule in group["rules"].as_array().unwrap() {
                let alert = rule["alert"].as_str().unwrap();
                assert!(cases_text.contains(&format!("alertname: {alert}")), "{alert} has no promtool case");
            }
        }
    }
}

#[test]
fn the_haproxy_jobs_scrape_the_exporter_and_the_charms_gauges_on_the_units_address() {
    let config = cos_config(&cos_related_leader(), 41);
    let jobs = config["metrics_scrape_jobs"].as_array().unwrap();
    let job = |name: &str| jobs.iter().find(|j| j["job_name"] == name).unwrap_or_else(|| panic!("no {name}")).clone();
    for (name, path) in [("landscape-haproxy", "/metrics"), ("landscape-haproxy-charm", "/landscape-metrics")] {
        let job = job(name);
        assert_eq!(job["metrics_path"], path);
        assert_eq!(job["static_configs"][0]["targets"], json!(["10.1.77.18:8404"]));
    }
}
