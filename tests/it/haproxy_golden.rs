//! The rendered config against the seed's example, snapshots of the other
//! shapes, and a property test; every config is checked by the real
//! `haproxy -dW -c` (warnings are errors).

use std::collections::BTreeSet;
use std::net::IpAddr;

use landscape_server::config::{CharmConfig, Network, RedirectHttps};
use landscape_server::haproxy::model::{Settings, Topology, build};
use landscape_server::haproxy::render;
use landscape_server::paths::Paths;
use proptest::prelude::*;

use crate::fixtures::{Section, haproxy_check_every_version, haproxy_check_strict, parse_sections, shared_inputs};

const SEED_EXAMPLE: &str = include_str!("../fixtures/seed-example.cfg");

fn settings(paths: &Paths, tls: bool) -> Settings {
    let config = CharmConfig::parse(Default::default()).unwrap();
    Settings {
        enable_hostagent_messenger: true,
        enable_ubuntu_installer_attach: true,
        ..Settings::from_config(&config, tls.then(|| paths.haproxy_pem()), paths.haproxy_errors_dir())
    }
}

fn ips(list: &[&str]) -> Vec<IpAddr> {
    list.iter().map(|s| s.parse().unwrap()).collect()
}

fn seed_topology() -> Topology {
    Topology::new(ips(&["10.1.77.18", "10.1.77.229", "10.1.77.42"]), Some("10.1.77.18".parse().unwrap()))
}

/// Renders with the files in place (for haproxy -c) and with system paths
/// (for stable snapshots); both must be the same config but for paths.
fn render_both(topology: &Topology, adjust: impl Fn(&mut Settings)) -> (String, String) {
    let real = Paths::under(shared_inputs());
    let mut checked = settings(&real, true);
    adjust(&mut checked);
    let mut system = settings(&Paths::system(), true);
    adjust(&mut system);
    system.tls_pem = checked.tls_pem.as_ref().map(|_| Paths::system().haproxy_pem());
    let for_check = render(&build(topology, &checked)).unwrap();
    let for_snapshot = render(&build(topology, &system)).unwrap();
    let root = shared_inputs().display().to_string();
    assert_eq!(for_check.replace(&root, ""), for_snapshot, "paths are the only difference");
    (for_check, for_snapshot)
}

fn section<'a>(sections: &'a [Section], kind: &str, name: &str) -> &'a Section {
    sections.iter().find(|s| s.kind == kind && s.name == name).unwrap_or_else(|| panic!("no {kind} {name}"))
}

fn names(sections: &[Section], kind: &str) -> BTreeSet<String> {
    sections.iter().filter(|s| s.kind == kind).map(|s| s.name.clone()).collect()
}

fn lines_with(section: &Section, prefix: &str) -> BTreeSet<String> {
    section.lines.iter().filter(|l| l.starts_with(prefix)).cloned().collect()
}

fn bind_port(section: &Section) -> String {
    let bind = section.lines.iter().find(|l| l.starts_with("bind ")).expect("a bind line");
    bind.split_whitespace().nth(1).unwrap().rsplit(':').next().unwrap().to_string()
}

/// (name, address:port, h2) of every server of a backend.
fn servers(section: &Section) -> BTreeSet<(String, String, bool)> {
    section
        .lines
        .iter()
        .filter_map(|l| l.strip_prefix("server "))
        .map(|l| {
            let words: Vec<&str> = l.split_whitespace().collect();
            (words[0].to_string(), words[1].to_string(), l.contains("proto h2"))
        })
        .collect()
}

const DEAD_REPLACE_PATH: &str = r"http-request replace-path ^([^\ ]*)\ /upload/(.*) /\1";

/// The seed named each gRPC backend as its frontend, which HAProxy 3.3
/// refuses; ours end in `-servers`. Back to the seed's names, for comparing.
fn seed_name(name: &str) -> String {
    name.strip_suffix("-servers").unwrap_or(name).to_string()
}

/// A `default_backend` line with the seed's backend name.
fn as_seed_names(line: &str) -> String {
    match line.strip_prefix("default_backend ") {
        Some(name) => format!("default_backend {}", seed_name(name)),
        None => line.to_string(),
    }
}

/// Our additions to the seed's frontends (see
/// `regression::forwarded_headers_from_an_untrusted_client_are_replaced_and_a_trusted_proxys_kept`):
/// a client's `X-Forwarded-For` dropped and `X-Forwarded-Proto` set from the
/// connection on every frontend. Removed from ours unless the seed has them.
fn without_forwarded_rules(ours: BTreeSet<String>, seed: &BTreeSet<String>) -> BTreeSet<String> {
    let added = [
        "http-request del-header X-Forwarded-For",
        "http-request set-header X-Forwarded-Proto http",
        "http-request set-header X-Forwarded-Proto https",
    ];
    ours.into_iter().filter(|l| seed.contains(l) || !added.contains(&l.as_str())).collect()
}

#[test]
fn seed_example_frontends_routes_and_servers_are_reproduced() {
    let (ours, _) = render_both(&seed_topology(), |_| {});
    let ours = parse_sections(&ours);
    let seed = parse_sections(SEED_EXAMPLE);

    assert_eq!(names(&ours, "frontend"), names(&seed, "frontend"));
    for name in names(&seed, "frontend") {
        let (o, s) = (section(&ours, "frontend", &name), section(&seed, "frontend", &name));
        assert_eq!(bind_port(o), bind_port(s), "{name}: port");
        assert_eq!(
            o.lines.iter().find(|l| l.starts_with("bind ")),
            s.lines
                .iter()
                .find(|l| l.starts_with("bind "))
                .map(|l| l.replace("/etc/haproxy", &format!("{}/etc/haproxy", shared_inputs().display())))
                .as_ref(),
            "{name}: bind"
        );
        for prefix in ["acl ", "use_backend ", "redirect ", "default_backend ", "timeout client "] {
            let ours: BTreeSet<String> = lines_with(o, prefix).iter().map(|l| as_seed_names(l)).collect();
            assert_eq!(ours, lines_with(s, prefix), "{name}: {prefix}lines");
        }
        let mut seed_rules = lines_with(s, "http-request ");
        seed_rules.remove(DEAD_REPLACE_PATH);
        let ours = without_forwarded_rules(lines_with(o, "http-request "), &seed_rules);
        assert_eq!(ours, seed_rules, "{name}: http-request rules (less the dead rewrite)");
    }

    let our_backends: BTreeSet<String> = names(&ours, "backend").iter().map(|n| seed_name(n)).collect();
    assert_eq!(our_backends, names(&seed, "backend"));
    for name in names(&seed, "backend") {
        let ours_name = names(&ours, "backend").into_iter().find(|n| seed_name(n) == name).unwrap();
        assert_eq!(
            servers(section(&ours, "backend", &ours_name)),
            servers(section(&seed, "backend", &name)),
            "backend {name}"
        );
    }
}

#[test]
fn seed_example_passes_strict_haproxy_check_where_the_seed_does_not() {
    let (ours, _) = render_both(&seed_topology(), |_| {});
    haproxy_check_every_version(&ours).unwrap_or_else(|e| panic!("our config fails haproxy -dW -c:\n{e}"));

    // The seed's own config, with its files pointed at real ones, is only
    // valid with warnings: the defects this charm fixes.
    let root = shared_inputs().display().to_string();
    let seed = SEED_EXAMPLE.replace("/etc/haproxy", &format!("{root}/etc/haproxy"));
    let err = haproxy_check_strict(&seed).expect_err("the seed's config should warn");
    for warning in
        ["'balance' ignored because frontend", "'httpchk' ignored because frontend", "'timeout server' will be ignored"]
    {
        assert!(err.contains(warning), "expected {warning:?} in:\n{err}");
    }
}

#[test]
fn frontend_rules_come_in_the_order_haproxy_runs_them() {
    let (ours, _) = render_both(&seed_topology(), |_| {});
    for frontend in parse_sections(&ours).iter().filter(|s| s.kind == "frontend") {
        let position = |prefix: &str| frontend.lines.iter().position(|l| l.starts_with(prefix));
        let (rules, redirect, routes) = (position("http-request "), position("redirect "), position("use_backend "));
        if let (Some(r), Some(d)) = (rules, redirect) {
            assert!(r < d, "{}: http-request after redirect", frontend.name);
        }
        if let (Some(d), Some(u)) = (redirect, routes) {
            assert!(d < u, "{}: redirect after use_backend", frontend.name);
        }
    }
}

/// One snapshot case: the units and the options that differ from
/// [`settings`], as an input file (minijinja's file-driven style: a new case
/// is a new file in `haproxy_inputs/`, and its snapshot appears beside the
/// others).
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Case {
    units: Vec<IpAddr>,
    leader: Option<IpAddr>,
    #[serde(default)]
    redirect_https: Option<String>,
    #[serde(default = "yes")]
    enable_hostagent_messenger: bool,
    #[serde(default = "yes")]
    enable_ubuntu_installer_attach: bool,
    #[serde(default = "yes")]
    certificate: bool,
    /// `haproxy_trusted_proxies`, as the option spells it.
    #[serde(default)]
    trusted_proxies: String,
    /// The metrics frontend's address (this unit's), when rendered.
    #[serde(default)]
    metrics: Option<IpAddr>,
    #[serde(default)]
    certificate_expiry: Option<i64>,
    /// The debarchive units' addresses, when related.
    #[serde(default)]
    debarchive: Vec<IpAddr>,
    /// Every haproxy-route endpoint related: port 80 answers each web
    /// route's health check.
    #[serde(default)]
    haproxy_route: bool,
    /// Units that asked to be drained (paused, or about to stop).
    #[serde(default)]
    draining: Vec<IpAddr>,
}

fn yes() -> bool {
    true
}

#[test]
fn every_input_file_renders_its_snapshot_and_passes_haproxy() {
    let files = crate::fixtures::repo_files("tests/it/haproxy_inputs", "json", false);
    assert!(files.len() >= 8, "{files:?}");
    for file in files {
        let name = file.file_stem().unwrap().to_string_lossy().into_owned();
        let case: Case = serde_json::from_str(&std::fs::read_to_string(&file).unwrap())
            .unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        let redirect = match case.redirect_https.as_deref() {
            None | Some("default") => RedirectHttps::Default,
            Some("all") => RedirectHttps::All,
            Some("none") => RedirectHttps::None,
            Some(other) => panic!("{name}: redirect_https {other:?}"),
        };
        let topology = Topology::new(case.units, case.leader).with_draining(case.draining);
        let (checked, snapshot) = render_both(&topology, |s| {
            s.redirect_https = redirect;
            s.enable_hostagent_messenger = case.enable_hostagent_messenger;
            s.enable_ubuntu_installer_attach = case.enable_ubuntu_installer_attach;
            if !case.certificate {
                s.tls_pem = None;
            }
            s.trusted_proxies = Network::parse_list(&case.trusted_proxies).unwrap();
            s.metrics = case.metrics.map(|ip| (ip, 8404));
            s.certificate_expiry = case.certificate_expiry;
            s.debarchive = case.debarchive.clone();
            if case.haproxy_route {
                s.route_health =
                    landscape_server::edge::haproxy_route::ENDPOINTS.iter().filter_map(|e| e.health()).collect();
            }
        });
        haproxy_check_every_version(&checked).unwrap_or_else(|e| panic!("{name} fails haproxy -dW -c:\n{e}"));
        insta::assert_snapshot!(name, snapshot);
    }
}

fn arb_ip() -> impl Strategy<Value = IpAddr> {
    prop_oneof![any::<[u8; 4]>().prop_map(IpAddr::from), any::<[u16; 8]>().prop_map(IpAddr::from),]
}

fn arb_redirect() -> impl Strategy<Value = RedirectHttps> {
    prop_oneof![Just(RedirectHttps::All), Just(RedirectHttps::Default), Just(RedirectHttps::None)]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 40, failure_persistence: None, .. ProptestConfig::default() })]

    /// Whatever the peers, the worker count and the flags, HAProxy accepts
    /// the config without a warning.
    #[test]
    fn any_peer_set_renders_a_config_haproxy_accepts(
        peers in prop::collection::vec(arb_ip(), 0..12),
        leader in prop::option::of(arb_ip()),
        workers in 1u16..=6,
        redirect in arb_redirect(),
        hostagent in any::<bool>(),
        installer in any::<bool>(),
        tls in any::<bool>(),
        trusted in prop::collection::vec(arb_ip(), 0..3),
        metrics in prop::option::of(arb_ip()),
        expiry in prop::option::of(0i64..4_000_000_000),
    ) {
        let paths = Paths::under(shared_inputs());
        let mut s = settings(&paths, tls);
        s.trusted_proxies = trusted
            .iter()
            .map(|ip| Network { address: *ip, prefix: if ip.is_ipv4() { 32 } else { 128 } })
            .collect();
        s.metrics = metrics.map(|ip| (ip, 8404));
        s.certificate_expiry = expiry.filter(|_| tls);
        s.worker_counts = workers;
        s.redirect_https = redirect;
        s.enable_hostagent_messenger = hostagent;
        s.enable_ubuntu_installer_attach = installer;
        let config = render(&build(&Topology::new(peers.clone(), leader), &s)).unwrap();
        let checked = haproxy_check_every_version(&config);
        prop_assert!(checked.is_ok(), "{}", checked.unwrap_err());
        // Every address shows up exactly as HAProxy needs it.
        for ip in &peers {
            let shown = match ip { IpAddr::V4(v4) => format!(" {v4}:"), IpAddr::V6(v6) => format!(" [{v6}]:") };
            prop_assert!(config.contains(&shown));
        }
    }
}
