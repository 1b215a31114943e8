//! The namespace lab: a local multi-unit deployment in which every unit runs
//! the real `dispatch` binary and its own real HAProxy in its own network
//! namespace, with stand-in Landscape services behind it and a client host
//! in front. See README "The namespace lab".

pub mod edge;
pub mod legacy_lb;
mod model;
mod net;
mod probe;
mod shims;

use std::sync::Mutex;
use std::time::Duration;

use serde_json::json;

use model::Model;
use probe::{Client, Expect, RouteTable};

/// The name in every unit's certificate (from `root_url`).
const SITE: &str = "landscape.lab.test";

/// The external HAProxy's host (units are 10 + N, the client 100).
const EDGE_OCTET: u8 = 200;
/// The debarchive host.
const DEBARCHIVE_OCTET: u8 = 210;

/// One lab at a time: they share the address range and its safety route.
static LAB: Mutex<()> = Mutex::new(());

fn lab_lock() -> std::sync::MutexGuard<'static, ()> {
    LAB.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Three units with every relation, both gRPC services on, and every
/// HAProxy server UP.
fn three_unit_model() -> Model {
    let mut model = Model::new().unwrap_or_else(|e| panic!("{e}"));
    model.preset("root_url", json!(format!("https://{SITE}/")));
    // The ingress bundle's HAProxy ends TLS for port 80's routes; only its
    // X-Forwarded-Proto spares a request the redirect.
    model.preset("haproxy_trusted_proxies", json!(format!("10.200.0.{EDGE_OCTET}")));
    model.preset("enable_hostagent_messenger", json!(true));
    model.preset("enable_ubuntu_installer_attach", json!(true));
    let started = std::time::Instant::now();
    model.deploy(3);
    println!("deployed 3 units: {} hooks in {:?}", model.hook_log.len(), started.elapsed());
    for u in &model.units {
        assert_eq!(u.unit.status(), ("active".into(), "Unit is ready".into()), "{}", u.name());
    }
    model.wait_until_serving(Duration::from_secs(40));
    println!("serving after {:?}", started.elapsed());
    model
}

/// `https://SITE<path>` on `port` through the unit at `address`.
fn via_site(client: &Client, address: &str, port: u16, path: &str, extra: &[&str]) -> probe::Reply {
    let resolve = format!("{SITE}:{port}:{address}");
    let mut args = vec!["--resolve", resolve.as_str()];
    args.extend_from_slice(extra);
    client.curl(&format!("https://{SITE}:{port}{path}"), &args)
}

/// The seed's "Key Info" table: a request path for each prefix, and the
/// service that must answer it (on the leader for the leader-only ones).
fn key_info_routes(leader: &Option<String>) -> Vec<(&'static str, Expect)> {
    use Expect::Service;
    vec![
        ("/", Service("appserver", None)),
        ("/repository/ubuntu/dists/noble/Release", Service("appserver", None)),
        ("/ping", Service("pingserver", None)),
        ("/api/v2/computers", Service("api", None)),
        ("/message-system", Service("message-server", None)),
        ("/attachment/42", Service("message-server", None)),
        ("/upload/acct/foo_1.0_all.deb", Service("package-upload", leader.clone())),
        ("/hash-id-databases/ubuntu.db", Service("appserver", leader.clone())),
    ]
}

/// The seed's "Key Info" table for ports 80 and 443, checked through every
/// unit's HAProxy, for one `redirect_https` value.
fn check_http_routes(model: &Model, table: &mut RouteTable, redirect: &str) {
    let client = Client::of(model);
    let leader = Some(model.leader().name());
    use Expect::{Redirect, Service, Status};
    for u in &model.units {
        let via = u.name();
        let a = u.host.address.as_str();
        // Port 80: each prefix, for this redirect_https value.
        for (path, served) in key_info_routes(&leader) {
            let redirected = match redirect {
                "all" => true,
                "default" => !(path.starts_with("/ping") || path.starts_with("/repository")),
                _ => false,
            };
            let expect = if redirected { Redirect(format!("https://{a}{path}")) } else { served };
            table.expect(&via, &format!("http :80{path}"), &expect, &client.curl(&format!("http://{a}{path}"), &[]));
        }
        for path in ["/metrics", "/api/metrics", "/ping/metrics"] {
            table.expect(
                &via,
                &format!("http :80{path}"),
                &Status(403),
                &client.curl(&format!("http://{a}{path}"), &[]),
            );
        }
        if redirect != "default" {
            continue;
        }
        // Port 443, TLS verified against the lab CA for the site name.
        let mut https = key_info_routes(&leader);
        https.extend([("/metrics", Status(403)), ("/api/metrics", Status(403))]);
        for (path, expect) in https {
            let reply = via_site(&client, a, 443, path, &[]);
            table.expect(&via, &format!("https :443{path}"), &expect, &reply);
            if path == "/" {
                let proto = reply.received_header("x-forwarded-proto").unwrap_or_default();
                table.check(&via, "https :443/ header", "x-forwarded-proto: https", &proto, proto == "https");
            }
            if path.starts_with("/upload") {
                let line = reply.request_line().unwrap_or_default();
                let wanted = format!("GET {path} HTTP/1.1");
                table.check(&via, "https :443/upload path", &wanted, &line, line == wanted);
            }
        }
        // The certificate is for the unit's IP too, and only the lab CA
        // vouches for it.
        let by_ip = client.curl(&format!("https://{a}/"), &[]);
        table.expect(&via, "https :443/ by IP", &Service("appserver", None), &by_ip);
        let untrusted = client.curl(&format!("https://{a}/"), &["--cacert", "/etc/ssl/certs/ca-certificates.crt"]);
        table.check(&via, "https :443/ with system CAs", "TLS refused", &untrusted.summary(), untrusted.status == 0);
    }
}

/// Ports 6554 and 50051: TLS with ALPN h2 in front, h2c behind, a real gRPC
/// client, and `X-FQDN` from `Host` or `:authority`.
fn check_grpc_routes(model: &Model, table: &mut RouteTable) {
    let client = Client::of(model);
    for u in &model.units {
        let via = u.name();
        let a = u.host.address.as_str();
        for (port, service) in [(6554, "hostagent-messenger"), (50051, "ubuntu-installer-attach")] {
            let method = "/landscape.lab.Echo/Call";
            match client.grpc(&format!("{a}:{port}"), SITE, method, 2) {
                Ok(answers) => {
                    for answer in &answers {
                        let got = format!(
                            "{} on {} via `{}`",
                            answer["service"].as_str().unwrap_or("?"),
                            answer["unit"].as_str().unwrap_or("?"),
                            answer["request_line"].as_str().unwrap_or("?")
                        );
                        let ok = answer["service"] == service
                            && answer["request_line"] == format!("POST {method} HTTP/2")
                            && answer["headers"]["content-type"] == "application/grpc";
                        table.check(&via, &format!("gRPC :{port}{method}"), &format!("{service} over h2c"), &got, ok);
                        if port == 50051 {
                            let fqdn = answer["headers"]["x-fqdn"].as_str().unwrap_or_default();
                            table.check(&via, "gRPC :50051 x-fqdn", &format!("x-fqdn: {SITE}"), fqdn, fqdn == SITE);
                        }
                    }
                    let ok = answers.len() == 2;
                    table.check(&via, &format!("gRPC :{port} calls"), "2 answers", &answers.len().to_string(), ok);
                }
                Err(e) => {
                    table.check(&via, &format!("gRPC :{port}{method}"), service, &format!("failed: {e}"), false);
                }
            }
            let h2 = via_site(&client, a, port, "/over-h2", &["--http2"]);
            let ok = h2.service().as_deref() == Some(service) && h2.http_version == "2";
            table.check(&via, &format!("curl --http2 :{port}"), &format!("{service}, HTTP/2"), &h2.summary(), ok);
        }
        // X-FQDN from the Host header (HTTP/1.1) and from :authority (h2).
        let h1 = via_site(&client, a, 50051, "/", &["--http1.1", "-H", "Host: attach.lab.test"]);
        let fqdn = h1.received_header("x-fqdn").unwrap_or_default();
        table.check(&via, "http/1.1 :50051 Host", "x-fqdn: attach.lab.test", &fqdn, fqdn == "attach.lab.test");
        let h2 = via_site(&client, a, 50051, "/", &["--http2"]);
        let fqdn = h2.received_header("x-fqdn").unwrap_or_default();
        let wanted = format!("{SITE}:50051");
        table.check(&via, "h2 :50051 :authority", &format!("x-fqdn: {wanted}"), &fqdn, fqdn == wanted);
    }
}

/// The Key Info table from the client through the external HAProxy of the
/// scalable-ingress bundle (TLS ends there for 80/443; the units redirect
/// only what came over plain HTTP), and gRPC on 6554 and 50051 end to end.
fn check_routes_through_the_edge(model: &Model, edge: &edge::Edge, table: &mut RouteTable, redirect: &str) {
    let client = Client::of(model);
    let leader = Some(model.leader().name());
    let (site, address) = (edge.hostname.as_str(), edge.host.address.as_str());
    let via = "edge";
    let curl = |scheme: &str, port: u16, path: &str, extra: &[&str]| {
        let resolve = format!("{site}:{port}:{address}");
        let mut args = vec!["--resolve", resolve.as_str()];
        args.extend_from_slice(extra);
        client.curl(&format!("{scheme}://{site}{path}"), &args)
    };
    use Expect::{Redirect, Service, Status};
    for (path, served) in key_info_routes(&leader) {
        let plain_ok = path.starts_with("/ping") || path.starts_with("/repository");
        let redirected = match redirect {
            "all" => true,
            "default" => !plain_ok,
            _ => false,
        };
        let expect = if redirected { Redirect(format!("https://{site}{path}")) } else { served.clone() };
        table.expect(via, &format!("http :80{path}"), &expect, &curl("http", 80, path, &[]));
        table.expect(via, &format!("https :443{path}"), &served, &curl("https", 443, path, &[]));
    }
    for path in ["/metrics", "/api/metrics"] {
        table.expect(via, &format!("https :443{path}"), &Status(403), &curl("https", 443, path, &[]));
    }
    // A browser's first request: one redirect at most, then the appserver.
    let resolve443 = format!("{site}:443:{address}");
    let followed = curl("http", 80, "/", &["-L", "--max-redirs", "2", "--resolve", &resolve443]);
    table.expect(via, "http :80/ followed", &Service("appserver", None), &followed);
    for (port, service) in [(6554, "hostagent-messenger"), (50051, "ubuntu-installer-attach")] {
        let method = "/landscape.lab.Echo/Call";
        let got = match client.grpc(&format!("{address}:{port}"), site, method, 2) {
            Ok(answers) => answers
                .iter()
                .map(|a| {
                    let fqdn = a["headers"]["x-fqdn"].as_str().unwrap_or("-");
                    format!("{} x-fqdn={fqdn}", a["service"].as_str().unwrap_or("?"))
                })
                .collect::<Vec<_>>()
                .join(", "),
            Err(e) => format!("failed: {e}"),
        };
        let one = if port == 50051 { format!("{service} x-fqdn={site}") } else { format!("{service} x-fqdn=-") };
        let wanted = format!("{one}, {one}");
        table.check(via, &format!("gRPC :{port}{method}"), &wanted, &got, got == wanted);
    }
}

/// The sum of a Prometheus counter's samples whose labels hold `labels`.
fn counter(exposition: &str, name: &str, labels: &str) -> f64 {
    exposition
        .lines()
        .filter(|l| l.starts_with(&format!("{name}{{")) && l.contains(labels))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// HAProxy's exporter answers on each unit's address and counts what that
/// unit's HAProxy served; the public frontends refuse it.
fn check_metrics(model: &Model, table: &mut RouteTable) {
    let client = Client::of(model);
    let appserver = r#"proxy="landscape-https-appserver",code="2xx""#;
    for u in &model.units {
        let (via, a) = (u.name(), u.host.address.as_str());
        let scrape = || client.curl(&format!("http://{a}:8404/metrics"), &[]).body;
        let before = counter(&scrape(), "haproxy_backend_http_responses_total", appserver);
        for _ in 0..5 {
            via_site(&client, a, 443, "/", &[]);
        }
        let exposition = scrape();
        let after = counter(&exposition, "haproxy_backend_http_responses_total", appserver);
        let got = format!("{before} -> {after}");
        table.check(
            &via,
            "exporter :8404/metrics, 5 requests",
            "appserver 2xx counted +5",
            &got,
            after - before >= 5.0,
        );
        let up = counter(&exposition, "haproxy_server_status", r#"proxy="landscape-https-appserver""#);
        table.check(&via, "exporter: appserver servers", "reported", &up.to_string(), up > 0.0);
        // The charm's gauges: the lab's certificates, valid from a day ago
        // for 90 days, have 89 days left (less the time since).
        let gauges = client.curl(&format!("http://{a}:8404/landscape-metrics"), &[]).body;
        let expiry = gauges
            .lines()
            .find_map(|l| l.strip_prefix("landscape_haproxy_certificate_expiry_timestamp_seconds "))
            .and_then(|v| v.trim().parse::<i64>().ok());
        let left_days = expiry.map(|e| (e - landscape_server::tls::now()) / 86400);
        let got = format!("{left_days:?} days left");
        let ok = left_days.is_some_and(|d| (88..=89).contains(&d));
        table.check(&via, "gauges :8404/landscape-metrics", "Some(88..=89) days left", &got, ok);
        for port in [80, 443] {
            let scheme = if port == 80 { "http" } else { "https" };
            let reply = if port == 80 {
                client.curl(&format!("http://{a}/metrics"), &[])
            } else {
                via_site(&client, a, 443, "/metrics", &[])
            };
            table.expect(&via, &format!("{scheme} :{port}/metrics"), &Expect::Status(403), &reply);
        }
    }
}

/// What Landscape is told of a request's origin: from the client (not a
/// trusted proxy) its own `X-Forwarded-*` are replaced with what the
/// connection shows, and its `X-Forwarded-Proto: https` spares no redirect.
fn check_forwarded_headers(model: &Model, table: &mut RouteTable) {
    let client = Client::of(model);
    // The frontends bind [::] v4v6, so an IPv4 client is v4-mapped.
    let origin = format!("::ffff:{}", model.client.address);
    let spoofed = ["-H", "X-Forwarded-Proto: https", "-H", "X-Forwarded-For: 192.0.2.9"];
    for u in &model.units {
        let (via, a) = (u.name(), u.host.address.as_str());
        let plain = client.curl(&format!("http://{a}/"), &spoofed);
        table.expect(&via, "http :80/ claiming https", &Expect::Redirect(format!("https://{a}/")), &plain);
        let ping = client.curl(&format!("http://{a}/ping"), &spoofed);
        let tls = via_site(&client, a, 443, "/", &spoofed);
        for (what, reply, proto) in [("http :80/ping", &ping, "http"), ("https :443/", &tls, "https")] {
            let got = format!(
                "{} {}",
                reply.received_header("x-forwarded-proto").unwrap_or_default(),
                reply.received_header("x-forwarded-for").unwrap_or_default()
            );
            let wanted = format!("{proto} {origin}");
            table.check(&via, &format!("{what} spoofed X-Forwarded-*"), &wanted, &got, got == wanted);
        }
    }
}

/// A multi-megabyte package upload through every unit reaches the leader's
/// package-upload service whole.
fn check_large_upload(model: &Model, table: &mut RouteTable) {
    let client = Client::of(model);
    let body: Vec<u8> = (0..8 * 1024 * 1024u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8).collect();
    let file = model.net.dir().join("upload.deb");
    std::fs::write(&file, &body).unwrap();
    let wanted = format!("{} bytes sha256 {}", body.len(), sha256_hex(&body));
    let data = format!("@{}", file.display());
    let leader = model.leader().name();
    for u in &model.units {
        let reply = via_site(&client, &u.host.address, 443, "/upload/acct/big_1.0_all.deb", &["--data-binary", &data]);
        let received = reply.answer().map(|a| a["received"].clone()).unwrap_or_default();
        let got = format!(
            "{} bytes sha256 {} on {}",
            received["bytes"],
            received["sha256"].as_str().unwrap_or("-"),
            reply.unit().unwrap_or_default()
        );
        let wanted = format!("{wanted} on {leader}");
        table.check(&u.name(), "https :443/upload 8 MiB POST", &wanted, &got, got == wanted);
    }
}

fn sha256_hex(data: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(data).iter().map(|b| format!("{b:02x}")).collect()
}

/// The state HAProxy's exporter gives `server` of `proxy` (the `state` label
/// of its `haproxy_server_status` sample that is 1).
fn exported_server_state(exposition: &str, proxy: &str, server: &str) -> Option<String> {
    let labels = format!(r#"proxy="{proxy}",server="{server}",state=""#);
    exposition.lines().filter(|l| l.starts_with("haproxy_server_status{") && l.ends_with(" 1")).find_map(|l| {
        let rest = &l[l.find(&labels)? + labels.len()..];
        Some(rest.split('"').next()?.to_string())
    })
}

/// The debarchive host (octet 210): related, every unit's HAProxy routes
/// `/debarchive` to it with the prefix stripped, on 80 and 443, and keeps
/// doing so once its health checks have had the API's 401 (the stand-in,
/// like the debarchive API, wants credentials); removed, the route goes and
/// `/debarchive` is Landscape's again.
fn check_debarchive(model: &mut Model, table: &mut RouteTable) {
    let (host, mut server) = model.relate_debarchive(DEBARCHIVE_OCTET);
    let client = Client::of(model);
    let wanted = "debarchive GET /v1beta1/mirrors HTTP/1.1";
    let credentials = ["-H", "Authorization: Bearer lab"];
    // Every unit's two debarchive backends (80, 443) have checked it.
    let checked = || {
        let log = std::fs::read_to_string(model.debarchive_unauthenticated_log()).unwrap_or_default();
        log.lines().filter(|l| l.starts_with("HEAD ")).count()
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while checked() < 2 * model.units.len() && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(250));
    }
    let checks = checked();
    let enough = checks >= 2 * model.units.len();
    table.check("debarchive", "health checks answered 401", ">= 6", &checks.to_string(), enough);
    for u in &model.units {
        let (via, a) = (u.name(), u.host.address.as_str());
        let reply = client.curl(&format!("http://{a}/debarchive/v1beta1/mirrors"), &credentials);
        let got = reply.body.trim().to_string();
        table.check(&via, "http :80/debarchive/v1beta1/mirrors", wanted, &got, got == wanted);
        let tls = via_site(&client, a, 443, "/debarchive/v1beta1/mirrors", &credentials);
        let got = tls.body.trim().to_string();
        table.check(&via, "https :443/debarchive/v1beta1/mirrors", wanted, &got, got == wanted);
        let anonymous = via_site(&client, a, 443, "/debarchive/v1beta1/mirrors", &[]);
        table.expect(&via, "https :443/debarchive without credentials", &Expect::Status(401), &anonymous);
        let other = via_site(&client, a, 443, "/debarchive-not", &[]);
        table.expect(&via, "https :443/debarchive-not", &Expect::Service("appserver", None), &other);
    }
    model.remove_debarchive();
    for u in &model.units {
        let reply = via_site(&client, &u.host.address, 443, "/debarchive/v1beta1/mirrors", &[]);
        table.expect(
            &u.name(),
            "https :443/debarchive after remove-relation",
            &Expect::Service("appserver", None),
            &reply,
        );
    }
    let _ = server.kill();
    let _ = server.wait();
    drop(host);
}

/// Every unit's HAProxy spreads the appserver routes over every unit.
fn check_spread(model: &Model, table: &mut RouteTable) {
    let client = Client::of(model);
    let all: std::collections::BTreeSet<String> = model.units.iter().map(|u| u.name()).collect();
    for u in &model.units {
        let answers = answering_units(&client, &u.host.address, "/", 4 * all.len());
        // "landscape-server/N wK" -> the unit; failed requests are not counted.
        let seen: std::collections::BTreeSet<String> = answers
            .iter()
            .filter(|a| a.starts_with("landscape-server/"))
            .filter_map(|a| a.split_once(" w"))
            .map(|(unit, _)| unit.to_string())
            .collect();
        let got = seen.iter().cloned().collect::<Vec<_>>().join(", ");
        let wanted = all.iter().cloned().collect::<Vec<_>>().join(", ");
        table.check(&u.name(), "https :443/ x12", &format!("served by {wanted}"), &got, seen == all);
    }
}

/// The Key Info routes, TLS and h2 through every unit, the ingress
/// bundle's edge, and port 80 under each `redirect_https` (redirect_https
/// ends as `default`). The edge is left running.
fn check_key_info(model: &mut Model) -> edge::Edge {
    let mut table = RouteTable::new("Key Info routes, redirect_https=default");
    check_http_routes(model, &mut table, "default");
    check_grpc_routes(model, &mut table);
    check_spread(model, &mut table);
    check_metrics(model, &mut table);
    check_forwarded_headers(model, &mut table);
    check_large_upload(model, &mut table);
    check_debarchive(model, &mut table);
    table.finish();
    let edge = edge::Edge::start(model, EDGE_OCTET);
    let mut table = RouteTable::new("Key Info routes through the ingress bundle's external HAProxy");
    check_routes_through_the_edge(model, &edge, &mut table, "default");
    check_edge_checks_every_server(&edge, &mut table);
    check_forwarded_through_the_edge(model, &edge, &mut table);
    table.finish();
    for redirect in ["all", "none", "default"] {
        model.set_config("redirect_https", json!(redirect));
        let mut table = RouteTable::new(&format!("port 80, redirect_https={redirect}"));
        check_http_routes(model, &mut table, redirect);
        table.finish();
    }
    edge
}

/// A model like [`three_unit_model`] but with no trusted proxy set and no
/// ingress relations, and the eight haproxy-route endpoints related to a
/// haproxy-operator at the edge's address: the units trust it because it is
/// related.
fn routed_model() -> Model {
    let mut model = Model::new().unwrap_or_else(|e| panic!("{e}"));
    model.without_ingress();
    model.preset("root_url", json!(format!("https://{SITE}/")));
    model.preset("enable_hostagent_messenger", json!(true));
    model.preset("enable_ubuntu_installer_attach", json!(true));
    model.deploy(3);
    model.wait_until_serving(Duration::from_secs(40));
    model.relate_haproxy_route(&format!("10.200.0.{EDGE_OCTET}"));
    model.wait_until_serving(Duration::from_secs(40));
    model
}

/// haproxy-operator's health checks of the web routes reach each unit's
/// port 80 and pass there (`L7OK`); the leader-only route has the leader
/// alone as its server.
fn check_edge_health(model: &Model, edge: &edge::Edge, table: &mut RouteTable) {
    let deadline = std::time::Instant::now() + Duration::from_secs(40);
    // The web routes' backends; the TCP ones are `<requirer>_<port>_<port>`.
    let web = |row: &probe::ServerRow| !row.backend.contains('_');
    let rows = loop {
        let rows: Vec<probe::ServerRow> = probe::server_states(&edge.master_socket())
            .unwrap_or_default()
            .into_iter()
            .filter(|r| r.backend.starts_with("landscape-") && web(r))
            .collect();
        let passed = !rows.is_empty() && rows.iter().all(|r| r.check_status == "L7OK" && r.status == "UP");
        if passed || std::time::Instant::now() > deadline {
            break rows;
        }
        std::thread::sleep(Duration::from_millis(250));
    };
    for row in &rows {
        let got = format!("{} {}", row.status, row.check_status);
        table.check("edge", &format!("{}/{}", row.backend, row.server), "UP L7OK", &got, got == "UP L7OK");
    }
    // The gRPC routes (haproxy-route-tcp): a TCP check of each unit's TLS
    // frontend.
    let wanted = 2 * model.units.len();
    let tcp = loop {
        let rows: Vec<probe::ServerRow> = probe::server_states(&edge.master_socket())
            .unwrap_or_default()
            .into_iter()
            .filter(|r| r.backend.starts_with("landscape-server_"))
            .collect();
        let passed = rows.len() == wanted && rows.iter().all(|r| r.check_status == "L4OK" && r.status == "UP");
        if passed || std::time::Instant::now() > deadline {
            break rows;
        }
        std::thread::sleep(Duration::from_millis(250));
    };
    table.check("edge", "haproxy-route-tcp servers", &wanted.to_string(), &tcp.len().to_string(), tcp.len() == wanted);
    for row in &tcp {
        let got = format!("{} {}", row.status, row.check_status);
        table.check("edge", &format!("{}/{}", row.backend, row.server), "UP L4OK", &got, got == "UP L4OK");
    }
    let upload: Vec<&probe::ServerRow> =
        rows.iter().filter(|r| r.backend.starts_with("landscape-package-upload")).collect();
    let leader = model.leader().host.address.clone();
    let servers = edge
        .config()
        .lines()
        .filter(|l| l.trim_start().starts_with("server landscape-package-upload"))
        .map(|l| l.split_whitespace().nth(2).unwrap_or_default().to_string())
        .collect::<Vec<_>>()
        .join(", ");
    let wanted = format!("{leader}:80");
    table.check("edge", "package-upload route's servers", &wanted, &servers, servers == wanted && upload.len() == 1);
}

/// The ingress bundle's edge checks every server of its web route (the
/// configurator's health-check options) and finds each one up.
fn check_edge_checks_every_server(edge: &edge::Edge, table: &mut RouteTable) {
    let deadline = std::time::Instant::now() + Duration::from_secs(40);
    let rows = loop {
        let rows: Vec<probe::ServerRow> = probe::server_states(&edge.master_socket())
            .unwrap_or_default()
            .into_iter()
            .filter(|r| r.backend == "lab-http-ingress")
            .collect();
        let passed = !rows.is_empty() && rows.iter().all(|r| r.check_status == "L7OK" && r.status == "UP");
        if passed || std::time::Instant::now() > deadline {
            break rows;
        }
        std::thread::sleep(Duration::from_millis(250));
    };
    table.check("edge", "lab-http-ingress servers", "3", &rows.len().to_string(), rows.len() == 3);
    for row in &rows {
        let got = format!("{} {}", row.status, row.check_status);
        table.check("edge", &format!("{}/{}", row.backend, row.server), "UP L7OK", &got, got == "UP L7OK");
    }
}

/// Through the edge, Landscape learns the scheme the client used and the
/// client's address: the units believe the edge's `X-Forwarded-*` headers
/// because the edge is trusted (related through haproxy-route, or in
/// haproxy_trusted_proxies). A client's own `X-Forwarded-For`, which the
/// edge passes on with the client's address appended, never reaches
/// Landscape: it sees the client, then the edge.
fn check_forwarded_through_the_edge(model: &Model, edge: &edge::Edge, table: &mut RouteTable) {
    let client = Client::of(model);
    let (site, address) = (edge.hostname.as_str(), edge.host.address.as_str());
    let origin = format!("::ffff:{}, ::ffff:{address}", model.client.address);
    for (scheme, port, path, proto) in [("https", 443, "/", "https"), ("http", 80, "/ping", "http")] {
        let resolve = format!("{site}:{port}:{address}");
        let spoofed = ["--resolve", &resolve, "-H", "X-Forwarded-For: 203.0.113.66"];
        let reply = client.curl(&format!("{scheme}://{site}{path}"), &spoofed);
        let forwarded_for = reply.received_header("x-forwarded-for").unwrap_or_default();
        let got = format!("{} {forwarded_for}", reply.received_header("x-forwarded-proto").unwrap_or_default());
        let wanted = format!("{proto} {origin}");
        let what = format!("{scheme} :{port}{path} spoofed X-Forwarded-For");
        table.check("edge", &what, &wanted, &got, got == wanted);
    }
}

/// Through the edge's haproxy-route-tcp routes (TLS passed through by SNI),
/// new gRPC connections reach both gRPC services on every unit, with
/// `X-FQDN` set by the unit's HAProxy for installer attach.
fn check_grpc_spread_through_the_edge(model: &Model, edge: &edge::Edge, table: &mut RouteTable) {
    let client = Client::of(model);
    let (site, address) = (edge.hostname.as_str(), edge.host.address.as_str());
    let all: std::collections::BTreeSet<String> = model.units.iter().map(|u| u.name()).collect();
    let method = "/landscape.lab.Echo/Call";
    let (mut calls, mut failed) = (0, 0);
    for (port, service) in [(6554, "hostagent-messenger"), (50051, "ubuntu-installer-attach")] {
        let mut seen = std::collections::BTreeSet::new();
        let mut wrong = vec![];
        // One connection a call: the edge balances connections.
        for _ in 0..3 * all.len() {
            calls += 1;
            match client.grpc(&format!("{address}:{port}"), site, method, 1) {
                Ok(answers) => {
                    for a in answers {
                        let fqdn = a["headers"]["x-fqdn"].as_str().unwrap_or("-").to_string();
                        let wanted_fqdn = if port == 50051 { site } else { "-" };
                        if a["service"] != service || fqdn != wanted_fqdn {
                            wrong.push(format!("{} x-fqdn={fqdn}", a["service"]));
                        }
                        seen.insert(a["unit"].as_str().unwrap_or("?").to_string());
                    }
                }
                Err(e) => {
                    failed += 1;
                    wrong.push(format!("failed: {e}"));
                }
            }
        }
        let got = format!(
            "{} on {}",
            if wrong.is_empty() { service.to_string() } else { wrong.join("; ") },
            summarize(&seen.iter().cloned().collect::<Vec<_>>())
        );
        let wanted = format!("{service} on {}", all.iter().cloned().collect::<Vec<_>>().join(", "));
        table.check("edge", &format!("gRPC :{port} over haproxy-route-tcp"), &wanted, &got, got == wanted);
    }
    println!("gRPC calls through the edge's haproxy-route-tcp routes: {calls} sent, {failed} failed");
}

#[test]
fn lab_haproxy_route_edge_serves_key_info_and_follows_the_leader() {
    let _lab = lab_lock();
    let mut model = routed_model();
    let mut table = RouteTable::new("haproxy-route: the units' status and the provider's answer");
    for u in &model.units {
        let (name, message) = u.unit.status();
        let got = format!("{name}: {message}");
        table.check(&u.name(), "status", "active, web via haproxy-route", &got, got.contains("web via haproxy-route"));
        let log = u.unit.log_text();
        let answer = format!("appserver-haproxy-route: the provider serves https://{SITE}/");
        table.check(&u.name(), "log", &answer, "", log.contains(&answer));
    }
    table.finish();
    let routes = edge::haproxy_routes(&model);
    assert_eq!(routes.len(), 8, "{routes:#?}");
    let mut edge = edge::Edge::start_with(&mut model, EDGE_OCTET, &routes);
    let mut table = RouteTable::new("Key Info routes through haproxy-operator, from the haproxy-route bags");
    check_edge_health(&model, &edge, &mut table);
    check_routes_through_the_edge(&model, &edge, &mut table, "default");
    check_forwarded_through_the_edge(&model, &edge, &mut table);
    check_grpc_spread_through_the_edge(&model, &edge, &mut table);
    table.finish();

    // Off the legacy HAProxy charm to haproxy-operator: the bridge, then
    // the clients moved to the provider's address.
    let python = python_charm_bags(&model);
    let mut lb = legacy_lb::LegacyLb::start(&mut model, LEGACY_LB_OCTET, SITE, &python);
    // gRPC already goes through haproxy-operator (haproxy-route-tcp), as
    // in a deployment of the 26.04 charm: it runs from the first step to
    // the last.
    let moved = edge_targets(&edge.host.address);
    let grpc = vec![
        LoadTarget::grpc("haproxy-operator: gRPC :6554", &edge.host.address, 6554),
        LoadTarget::grpc("haproxy-operator: gRPC :50051", &edge.host.address, 50051),
    ];
    migrate_under_load(&mut model, &mut lb, &python, "haproxy-operator", (&moved, grpc));
    drop(lb);

    // Leadership moves: the new leader publishes the leader-only route.
    let next = model.units.iter().find(|u| !u.unit.state.leader).unwrap().number;
    model.set_leader(next);
    model.wait_until_serving(Duration::from_secs(40));
    edge.serve(&model, &edge::haproxy_routes(&model));
    let mut table = RouteTable::new("haproxy-route after the leader moved");
    check_edge_health(&model, &edge, &mut table);
    check_routes_through_the_edge(&model, &edge, &mut table, "default");
    table.finish();

    // A refresh keeps every relation and every route.
    let before = edge::haproxy_routes(&model).len();
    model.upgrade_charm();
    edge.serve(&model, &edge::haproxy_routes(&model));
    let mut table = RouteTable::new("haproxy-route after upgrade-charm");
    let after = edge::haproxy_routes(&model).len();
    table.check("model", "routes published", &before.to_string(), &after.to_string(), after == before && after == 8);
    check_routes_through_the_edge(&model, &edge, &mut table, "default");
    table.finish();

    for mode in ["all", "none"] {
        model.set_config("redirect_https", json!(mode));
        edge.serve(&model, &edge::haproxy_routes(&model));
        let mut table = RouteTable::new(&format!("haproxy-route, redirect_https={mode}"));
        check_routes_through_the_edge(&model, &edge, &mut table, mode);
        table.finish();
    }
}

const HTTPS_APPSERVER: &str = "landscape-https-appserver";

/// The charm's name for appserver worker `worker` of the unit at `address`.
fn appserver_server(address: &str, worker: u32) -> String {
    format!("landscape-appserver-{}-{worker}", address.replace('.', "-"))
}

/// Which units answer `path` (https, via `address`) over `count` requests;
/// a failed request is recorded as `failed: ...`.
fn answering_units(client: &Client, address: &str, path: &str, count: usize) -> Vec<String> {
    (0..count)
        .map(|_| {
            let reply = via_site(client, address, 443, path, &[]);
            match (reply.status, reply.unit()) {
                (200, Some(unit)) => format!("{unit} w{}", reply.answer().unwrap()["worker"]),
                _ => reply.summary(),
            }
        })
        .collect()
}

fn summarize(seen: &[String]) -> String {
    let set: std::collections::BTreeSet<&String> = seen.iter().collect();
    set.into_iter().cloned().collect::<Vec<_>>().join(", ")
}

/// Scale 3 -> 4, then 4 -> 2 with the leader among the removed, the
/// ingress bundle's edge following the units.
fn check_scaling(model: &mut Model, edge: &mut edge::Edge) {
    let client = Client::of(model);
    // Scale 3 -> 4: every unit's HAProxy routes to the new unit.
    let mut table = RouteTable::new("scale 3 -> 4");
    let added = model.add_unit();
    model.wait_until_serving(Duration::from_secs(60));
    check_spread(model, &mut table);
    check_metrics(model, &mut table);
    table.finish();
    edge.serve(model, &edge::routes(&edge::ingress_bundle(), model));
    let mut table = RouteTable::new("Key Info routes through the ingress bundle's external HAProxy, 4 units");
    check_routes_through_the_edge(model, edge, &mut table, "default");
    table.finish();

    // Scale 4 -> 2, the leader among the removed: leadership moves. The
    // clients use the two units that stay.
    let mut table = RouteTable::new("scale 4 -> 2 (leader removed) under load");
    let old_leader = model.leader().number;
    let staying: Vec<String> = model
        .units
        .iter()
        .filter(|u| u.number != added && u.number != old_leader)
        .map(|u| u.host.address.clone())
        .collect();
    let targets = [
        LoadTarget::get("GET keep-alive http :80/ping", format!("http://{}/ping", staying[0]), false),
        LoadTarget::get("GET new TLS connection each https :443/", format!("https://{}/", staying[1]), true),
        LoadTarget::post(
            "POST keep-alive https :443/message-system",
            format!("https://{}/message-system", staying[0]),
            false,
        ),
    ];
    let results = load_on(model, &targets, |model| {
        model.remove_unit(added);
        model.remove_unit(old_leader);
    });
    check_load(&mut table, &results);
    assert_eq!(model.units.len(), 2);
    let removed: Vec<String> = model.removed.iter().map(|u| u.name()).collect();
    model.revive_removed();
    for u in &model.units {
        let servers = probe::server_states(&u.master_socket()).unwrap();
        let gone: Vec<&str> = model.removed.iter().map(|r| r.host.address.as_str()).collect();
        let stale: Vec<String> = servers
            .iter()
            .filter(|s| gone.iter().any(|a| s.server.contains(&a.replace('.', "-"))))
            .map(|s| format!("{}/{}", s.backend, s.server))
            .collect();
        table.check(&u.name(), "HAProxy servers", "none on removed units", &stale.join(", "), stale.is_empty());
        for path in ["/", "/ping", "/api/v2/computers", "/message-system"] {
            let seen = answering_units(&client, &u.host.address, path, 8);
            let ok =
                seen.iter().all(|s| s.starts_with("landscape-server/") && !removed.iter().any(|r| s.starts_with(r)));
            table.check(&u.name(), &format!("https :443{path} x8"), "only live units", &summarize(&seen), ok);
        }
    }
    for r in &model.removed {
        let reply = client.curl(&format!("http://{}/ping", r.host.address), &[]);
        table.check(&r.name(), "http :80/ping", "HAProxy stopped", &reply.summary(), reply.status == 0);
    }
    check_leader_routes(model, &mut table);
    table.finish();
    edge.serve(model, &edge::routes(&edge::ingress_bundle(), model));
}

/// Leadership moved on purpose, under load.
fn check_leader_moved_under_load(model: &mut Model) {
    // Leadership moved on purpose: the leader-only routes follow, uploads
    // (the leader's alone) among the loads. Every unit's services restart
    // for it (package search moves), one unit at a time, each drained
    // first; the old leader keeps its upload service until every unit
    // follows the new leader, then restarts too.
    let mut table = RouteTable::new("leader moved under load");
    let next = model.units.iter().find(|u| !u.unit.state.leader).unwrap().number;
    let restarts = |model: &Model| -> Vec<usize> {
        let count = |u: &model::LabUnit| {
            let calls = std::fs::read_to_string(u.run_dir().join("calls.log")).unwrap_or_default();
            calls.lines().filter(|l| *l == "lsctl restart").count()
        };
        model.units.iter().map(count).collect()
    };
    let before = restarts(model);
    let address = |i: usize| model.units[i % model.units.len()].host.address.clone();
    let mut targets = day_2_loads([&address(0), &address(1), &address(0)], None);
    targets.push(LoadTarget::post(
        "POST keep-alive https :443/upload (the leader's)",
        format!("https://{}/upload/acct/foo_1.0_all.deb", address(1)),
        false,
    ));
    let results = load_on(model, &targets, |model| {
        model.set_leader(next);
        model.wait_until_serving(Duration::from_secs(40));
    });
    check_load(&mut table, &results);
    check_leader_routes(model, &mut table);
    for ((u, after), before) in model.units.iter().zip(restarts(model)).zip(before) {
        let restarted = after - before;
        table.check(&u.name(), "lsctl restart", "once", &restarted.to_string(), restarted == 1);
    }
    table.finish();
}

/// A charm refresh, `worker_counts` 3 -> 4 under load, then a worker down.
fn check_refresh_and_workers(model: &mut Model) {
    let client = Client::of(model);
    // A charm refresh changes nothing that is served.
    let mut table = RouteTable::new("upgrade-charm");
    model.upgrade_charm();
    for u in &model.units {
        let status = u.unit.status();
        table.check(
            &u.name(),
            "status",
            "active: Unit is ready",
            &format!("{}: {}", status.0, status.1),
            status.0 == "active",
        );
    }
    check_spread(model, &mut table);
    check_leader_routes(model, &mut table);
    table.finish();

    // worker_counts 3 -> 4 (the rejected-config step left 3): a fourth
    // worker of each service on every unit, which every unit restarts for,
    // one at a time.
    let mut table = RouteTable::new("worker_counts 3 -> 4 under load");
    let results = under_load(model, |model| {
        model.set_config("worker_counts", json!(4));
        model.wait_until_serving(Duration::from_secs(40));
    });
    check_load(&mut table, &results);
    for u in &model.units {
        for other in &model.units {
            let name = appserver_server(&other.host.address, 3);
            let state = probe::server_status(&u.master_socket(), HTTPS_APPSERVER, &name).unwrap();
            let got = state.clone().unwrap_or_else(|| "absent".into());
            table.check(&u.name(), &format!("server {name}"), "UP", &got, state.as_deref() == Some("UP"));
        }
        let seen = answering_units(&client, &u.host.address, "/", 18);
        let fourth = seen.iter().any(|s| s.ends_with(" w3"));
        table.check(&u.name(), "https :443/ x18", "some answers from worker 3", &summarize(&seen), fourth);
    }
    table.finish();

    // A service down: HAProxy marks it down and the others serve.
    let mut table = RouteTable::new("appserver worker down");
    let victim = model.units[1].number;
    model.crash(victim, "appserver", 0);
    let server = appserver_server(&model.unit(victim).host.address, 0);
    for u in &model.units {
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        let status = loop {
            let status =
                probe::server_status(&u.master_socket(), HTTPS_APPSERVER, &server).unwrap().unwrap_or_default();
            if status.starts_with("DOWN") || std::time::Instant::now() > deadline {
                break status;
            }
            std::thread::sleep(Duration::from_millis(500));
        };
        table.check(&u.name(), &format!("server {server}"), "DOWN", &status, status.starts_with("DOWN"));
        let exposition = client.curl(&format!("http://{}:8404/metrics", u.host.address), &[]).body;
        let exported = exported_server_state(&exposition, HTTPS_APPSERVER, &server).unwrap_or_else(|| "absent".into());
        table.check(&u.name(), &format!("exporter: {server}"), "DOWN", &exported, exported == "DOWN");
        let seen = answering_units(&client, &u.host.address, "/", 12);
        let victim_name = format!("{} w0", model.unit(victim).name());
        let ok = seen.iter().all(|s| s.starts_with("landscape-server/") && *s != victim_name);
        table.check(&u.name(), "https :443/ x12", &format!("all served, none by {victim_name}"), &summarize(&seen), ok);
    }
    table.finish();
}

/// Leader-only routes reach the current leader through every unit.
fn check_leader_routes(model: &Model, table: &mut RouteTable) {
    let client = Client::of(model);
    let leader = model.leader().name();
    for u in &model.units {
        for path in ["/upload/acct/foo_1.0_all.deb", "/hash-id-databases/ubuntu.db"] {
            let service = if path.starts_with("/upload") { "package-upload" } else { "appserver" };
            let reply = via_site(&client, &u.host.address, 443, path, &[]);
            table.expect(
                &u.name(),
                &format!("https :443{path}"),
                &Expect::Service(service, Some(leader.clone())),
                &reply,
            );
        }
    }
}

/// What one load counted (the JSON report of `lab_load.py`).
#[derive(Debug)]
struct LoadResult {
    requests: u64,
    /// Requests without a 200: errors, timeouts, other answers, and those
    /// still unanswered when the load stopped.
    failures: u64,
    /// The slowest answer, in milliseconds.
    max_latency_ms: f64,
    /// The failures by kind (`status 502`, `timeout`, `grpc UNAVAILABLE`).
    kinds: std::collections::BTreeMap<String, u64>,
    report: String,
}

/// How a gRPC call ends that got no answer at all within the load's
/// deadline ([`LOAD_TIMEOUT`]). HAProxy strands such calls around its
/// reloads (docs/design/haproxy.md), whatever its config: the scenarios
/// count them apart from the failures that are the charm's.
const GRPC_NO_ANSWER: &str = "grpc DEADLINE_EXCEEDED";

impl LoadResult {
    /// gRPC calls that got no answer at all (see [`GRPC_NO_ANSWER`]).
    fn unanswered_grpc(&self) -> u64 {
        self.kinds.get(GRPC_NO_ANSWER).copied().unwrap_or(0)
    }

    /// `N requests, M failed`, and of which kind when some did.
    fn summary(&self) -> String {
        let mut text = format!("{} requests, {} failed", self.requests, self.failures);
        if self.failures > 0 {
            let kinds: Vec<String> = self.kinds.iter().map(|(kind, n)| format!("{kind}: {n}")).collect();
            text += &format!(" ({})", kinds.join(", "));
        }
        text
    }

    /// The report is the log's last line (anything a library said on
    /// stderr comes before it).
    fn parse(report: &str) -> Self {
        let last = report.trim().lines().last().unwrap_or_default();
        let json: serde_json::Value =
            serde_json::from_str(last).unwrap_or_else(|e| panic!("load report: {e}: {report}"));
        let count = |key: &str| json[key].as_u64().unwrap_or(0);
        let kinds = json["kinds"].as_object().into_iter().flatten();
        LoadResult {
            requests: count("requests") + count("unfinished"),
            failures: count("failed") + count("unfinished"),
            max_latency_ms: json["max_latency_ms"].as_f64().unwrap_or(0.0),
            kinds: kinds.map(|(kind, n)| (kind.clone(), n.as_u64().unwrap_or(0))).collect(),
            report: report.trim().to_string(),
        }
    }
}

/// One load of [`under_load`]: what it sends, and whether a request of it
/// may be sent twice (HAProxy replays only those).
struct LoadTarget {
    label: &'static str,
    url: String,
    /// A new connection per request (`Connection: close`).
    close: bool,
    /// POST with a body: not idempotent.
    post: bool,
    /// The Host header, when it is not the URL's host (a load balancer
    /// that routes by site name).
    host: Option<&'static str>,
    /// gRPC unary calls over TLS verified for `host` (`grpc://` URLs).
    grpc: bool,
}

impl LoadTarget {
    /// GETs of `url`, each on a new connection when `close`.
    fn get(label: &'static str, url: String, close: bool) -> Self {
        LoadTarget { label, url, close, post: false, host: None, grpc: false }
    }

    /// POSTs of a message exchange to `url`.
    fn post(label: &'static str, url: String, close: bool) -> Self {
        LoadTarget { label, url, close, post: true, host: None, grpc: false }
    }

    /// Unary gRPC calls through port `port` of `address`, TLS verified for
    /// the site's name (not idempotent: never replayed).
    fn grpc(label: &'static str, address: &str, port: u16) -> Self {
        let url = format!("grpc://{address}:{port}/landscape.lab.Echo/Call");
        LoadTarget { label, url, close: false, post: true, host: Some(SITE), grpc: true }
    }
}

/// Three loads from the client host, while `during` runs: the day-2
/// loads of [`day_2_loads`] on the first, second and third unit.
fn under_load(model: &mut Model, during: impl FnOnce(&mut Model)) -> Vec<(String, LoadResult, bool)> {
    let address = |i: usize| model.units[i % model.units.len()].host.address.clone();
    let targets = day_2_loads([&address(0), &address(1), &address(2)], model.edge_address.as_deref());
    load_on(model, &targets, during)
}

/// Keep-alive HTTP GETs to port 80 of `on[0]`, GETs on a new TLS connection
/// each to port 443 of `on[1]` (both idempotent), keep-alive POSTs of a
/// message exchange to port 443 of `on[2]`, and unary gRPC calls to port
/// 6554 of `on[1]` and 50051 of `on[2]` (not idempotent).
fn day_2_loads(on: [&str; 3], edge: Option<&str>) -> Vec<LoadTarget> {
    let mut loads = vec![
        LoadTarget::get("GET keep-alive http :80/ping", format!("http://{}/ping", on[0]), false),
        LoadTarget::get("GET new TLS connection each https :443/", format!("https://{}/", on[1]), true),
        LoadTarget::post(
            "POST keep-alive https :443/message-system",
            format!("https://{}/message-system", on[2]),
            false,
        ),
        LoadTarget::grpc("gRPC :6554 hostagent-messenger", on[1], 6554),
        LoadTarget::grpc("gRPC :50051 ubuntu-installer-attach", on[2], 50051),
    ];
    if let Some(edge) = edge {
        let mut through = LoadTarget::get("edge: GET keep-alive https :443/", format!("https://{edge}/"), false);
        through.host = Some(SITE);
        loads.push(through);
    }
    loads
}

/// `targets` loaded from the client host while `during` runs: each load
/// lasts until `during` is done (bounded by [`LOAD_BOUND`]), whatever the
/// machine's speed, then the load is stopped and reports. Each result says
/// whether the load still ran when the changes were done (the overlap the
/// test relies on).
fn load_on(
    model: &mut Model,
    targets: &[LoadTarget],
    during: impl FnOnce(&mut Model),
) -> Vec<(String, LoadResult, bool)> {
    let client = Client::of(model);
    let script = model::lab_fixture("lab_load.py");
    let python = model::lab_python();
    let bound = LOAD_BOUND.as_secs().to_string();
    let timeout = LOAD_TIMEOUT.as_secs().to_string();
    let ca = model.ca_file().display().to_string();
    let mut runs = Vec::new();
    for target in targets {
        let log =
            model.net.dir().join(format!("load-{}.log", LOADS.fetch_add(1, std::sync::atomic::Ordering::Relaxed)));
        // Niced: the load must not starve the hooks that change the config
        // (2 cores); it is bounded in time, not in rate. Being niced, the
        // client itself may wait seconds for a core on a busy machine: an
        // answer counts as lost after LOAD_TIMEOUT (a refused or reset
        // connection, or an answer other than 200, counts at once), so that
        // the machine's speed is not what the test measures.
        let mut argv = vec![
            "nice",
            "-n",
            "19",
            python.as_str(),
            script.as_str(),
            &target.url,
            "--bound",
            &bound,
            "--timeout",
            &timeout,
        ];
        if target.close {
            argv.push("--close");
        }
        if target.post && !target.grpc {
            argv.push("--post");
        }
        if target.grpc {
            argv.extend(["--ca", ca.as_str()]);
        }
        if let Some(host) = target.host {
            argv.extend(["--host", host]);
        }
        runs.push((target.label.to_string(), log.clone(), client.spawn(&argv, &log)));
    }
    // A head start, so that the first change already meets load.
    std::thread::sleep(Duration::from_millis(500));
    during(model);
    runs.into_iter()
        .map(|(label, log, mut child)| {
            let overlapped = child.try_wait().expect("the load is a child").is_none();
            // On SIGINT each connection finishes its request in flight, then
            // the load reports.
            let _ = std::process::Command::new("kill").args(["-INT", &child.id().to_string()]).status();
            let status = child.wait().expect("the load ran");
            let report = std::fs::read_to_string(&log).unwrap_or_default();
            assert!(status.success(), "the load failed:\n{report}");
            (label, LoadResult::parse(&report), overlapped)
        })
        .collect()
}

/// How long the load waits for an answer before it counts the request failed.
const LOAD_TIMEOUT: Duration = Duration::from_secs(30);

/// Numbers the loads' logs (loads may overlap).
static LOADS: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);

/// The longest a load runs: far beyond what five config changes take on a
/// busy machine, only there so that a wedged test ends.
const LOAD_BOUND: Duration = Duration::from_secs(600);

fn reloads(model: &Model) -> Vec<u32> {
    model.units.iter().map(|u| probe::proc_state(&u.master_socket()).unwrap().reloads).collect()
}

/// One deployment of three units for the Key Info routes, then the day-2
/// operations under load (reloads, a lost unit, pause, a rolling upgrade,
/// the migration off the legacy HAProxy charm, scaling out and in with the
/// leader removed, leadership moved, more workers): one set-up for all.
#[test]
fn lab_key_info_then_day_2_operations_under_load_lose_no_request() {
    let _lab = lab_lock();
    let mut model = three_unit_model();
    // The ingress bundle's external HAProxy stays up: every day-2 load goes
    // through it too.
    let mut edge = check_key_info(&mut model);
    model.edge_address = Some(edge.host.address.clone());
    let client = Client::of(&model);

    // Five config changes, each one a new config and a reload on every
    // unit, while the load runs (as long as they take). They change no
    // answer (a redirect would count as failed), only the checks' timing.
    let mut table = RouteTable::new("reload under load");
    let before = reloads(&model);
    let results = under_load(&mut model, |model| {
        for interval in [3, 4, 3, 4, 2] {
            let t = std::time::Instant::now();
            model.set_config("haproxy_health_check_interval", json!(interval));
            println!("haproxy_health_check_interval={interval} applied on every unit in {:.1?}", t.elapsed());
        }
    });
    let after = reloads(&model);
    for (u, (b, a)) in model.units.iter().zip(before.iter().zip(&after)) {
        table.check(&u.name(), "HAProxy reloads", "5", &(a - b).to_string(), a - b == 5);
    }
    for (label, r, overlapped) in &results {
        table.check("client", label, "load during all 5 changes", &overlapped.to_string(), *overlapped);
        check_none_failed(&mut table, label, r);
        println!("{label}:\n{}", r.report);
    }
    table.finish();

    // A config that fails validation, under load: no reload, the old
    // config stays live, every request is served, by the old routes.
    let mut table = RouteTable::new("rejected config under load");
    let live: Vec<String> = model.units.iter().map(|u| u.unit.haproxy_config().unwrap()).collect();
    for u in &model.units {
        std::fs::write(shims::validation_fault(&u.dir()), "").unwrap();
    }
    let before = reloads(&model);
    let results = under_load(&mut model, |model| model.set_config("worker_counts", json!(3)));
    let after = reloads(&model);
    for (i, u) in model.units.iter().enumerate() {
        table.check(&u.name(), "HAProxy reloads", "0", &(after[i] - before[i]).to_string(), after[i] == before[i]);
        let unchanged = u.unit.haproxy_config().as_ref() == Some(&live[i]);
        table.check(
            &u.name(),
            "live haproxy.cfg",
            "unchanged",
            if unchanged { "unchanged" } else { "changed" },
            unchanged,
        );
        let (status, message) = u.unit.status();
        let ok = status == "blocked" && message.contains("HAProxy rejected the new config");
        table.check(
            &u.name(),
            "status",
            "blocked: HAProxy rejected the new config",
            &format!("{status}: {message}"),
            ok,
        );
        let seen = answering_units(&client, &u.host.address, "/", 18);
        let old_routes = seen.iter().all(|s| s.starts_with("landscape-server/") && !s.ends_with(" w2"));
        table.check(&u.name(), "https :443/ x18", "served, never by worker 2", &summarize(&seen), old_routes);
    }
    for (label, r, overlapped) in &results {
        table.check("client", label, "load during the change", &overlapped.to_string(), *overlapped);
        let got = r.summary();
        table.check("client", label, "0 failed", &got, r.failures == 0 && r.requests > 0);
    }
    // The fault cleared, the next hook applies the wanted config.
    for u in &model.units {
        std::fs::remove_file(shims::validation_fault(&u.dir())).unwrap();
    }
    model.set_config("worker_counts", json!(3));
    for u in &model.units {
        let (status, message) = u.unit.status();
        table.check(&u.name(), "status after the fault", "active", &format!("{status}: {message}"), status == "active");
    }
    table.finish();

    check_a_units_services_killed_under_load(&mut model);
    check_a_unit_cut_off_under_load(&mut model);
    check_pause_and_resume_under_load(&mut model);
    check_rolling_upgrade_under_load(&mut model);
    check_migration_from_the_legacy_load_balancer(&mut model);
    check_scaling(&mut model, &mut edge);
    check_leader_moved_under_load(&mut model);
    check_refresh_and_workers(&mut model);
}

/// `0 failed`; for a gRPC load, but for the calls HAProxy stranded around
/// a reload ([`GRPC_NO_ANSWER`]), shown in the figures and not failed: any
/// other failure, an error answer included, is the charm's.
fn check_none_failed(table: &mut RouteTable, label: &str, r: &LoadResult) {
    let got = r.summary();
    if label.contains("gRPC") {
        let ok = r.requests > 0 && r.failures == r.unanswered_grpc();
        table.check("client", label, "0 failed but calls HAProxy stranded", &got, ok);
    } else {
        table.check("client", label, "0 failed", &got, r.failures == 0 && r.requests > 0);
    }
}

/// A load's figures in `table`: no GET may fail; a POST in flight on a
/// service that stops gets HAProxy's 502 (never replayed), at most one per
/// connection of the load (four each); so may a gRPC call, beside the calls
/// HAProxy strands around a reload (see [`GRPC_NO_ANSWER`]).
fn check_load(table: &mut RouteTable, results: &[(String, LoadResult, bool)]) {
    for (label, r, overlapped) in results {
        table.check("client", label, "load before, during and after", &overlapped.to_string(), *overlapped);
        let got = r.summary();
        if label.contains("gRPC") {
            let answered = r.failures - r.unanswered_grpc();
            let expected = "at most 4 failed (in flight) but calls HAProxy stranded";
            table.check("client", label, expected, &got, answered <= 4 && r.requests > 0);
        } else if label.starts_with("POST") {
            table.check("client", label, "at most 4 failed (in flight)", &got, r.failures <= 4 && r.requests > 0);
        } else {
            table.check("client", label, "0 failed", &got, r.failures == 0 && r.requests > 0);
        }
        println!("{label}: {got}; slowest answer {:.0} ms", r.max_latency_ms);
    }
}

/// Every Landscape service of one unit killed, as a crashed or OOM-killed
/// process is (its listeners and connections gone), while the load runs:
/// no GET fails (a refused connection is retried on another unit, an empty
/// answer to a GET is replayed); a POST in flight on a killed service gets
/// HAProxy's 502, at most one per connection of the load. Then the services
/// come back and every unit's HAProxy takes them in again.
fn check_a_units_services_killed_under_load(model: &mut Model) {
    let mut table = RouteTable::new("a unit's Landscape services killed under load");
    let victim = model.units[2].number;
    let address = model.unit(victim).host.address.clone();
    let results = under_load(model, |model| {
        std::thread::sleep(Duration::from_secs(2));
        let killed = std::time::Instant::now();
        for service in ["appserver", "pingserver", "message-server", "api"] {
            for worker in 0..3 {
                model.crash(victim, service, worker);
            }
        }
        let server = appserver_server(&address, 0);
        wait_until_down(&model.units, &server);
        println!("{server} DOWN on every unit {:.1?} after the kill", killed.elapsed());
        // Load on the survivors alone for a while.
        std::thread::sleep(Duration::from_secs(3));
    });
    check_load(&mut table, &results);
    table.finish();
    model.revive(victim);
    model.wait_until_serving(Duration::from_secs(60));
}

/// Waits until every one of `units` reports `server` (of the HTTPS
/// appserver backend) DOWN, for a minute at most.
fn wait_until_down(units: &[model::LabUnit], server: &str) {
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while std::time::Instant::now() < deadline
        && !units.iter().all(|u| {
            let state = probe::server_status(&u.master_socket(), HTTPS_APPSERVER, server);
            state.ok().flatten().is_some_and(|s| s.starts_with("DOWN"))
        })
    {
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// A unit's whole namespace cut off the network (its cable pulled: a lost
/// host, a partition) while the load runs through the other units: no
/// packet reaches it or leaves it, so nothing is refused or reset. A request
/// sent to it on a new connection waits for `timeout connect` and is retried
/// on another unit; one already sent waits until TCP gives the connection up
/// (keep-alive probes and the user timeout on every server line), and a GET
/// is then replayed on another unit. The cable back, it serves again.
fn check_a_unit_cut_off_under_load(model: &mut Model) {
    let mut table = RouteTable::new("a unit cut off the network under load");
    let victim = model.units[2].number;
    let address = |i: usize| model.units[i].host.address.clone();
    // The clients use the two other units.
    let targets = day_2_loads([&address(0), &address(1), &address(0)], model.edge_address.as_deref());
    let server = appserver_server(&address(2), 0);
    let results = load_on(model, &targets, |model| {
        std::thread::sleep(Duration::from_secs(2));
        let cut = std::time::Instant::now();
        model.cable(victim, false);
        wait_until_down(&model.units[..2], &server);
        println!("{server} DOWN on the other units {:.1?} after the cut", cut.elapsed());
        std::thread::sleep(Duration::from_secs(3));
    });
    check_load(&mut table, &results);
    table.finish();
    model.cable(victim, true);
    model.wait_until_serving(Duration::from_secs(60));
}

/// `pause` then `resume` on one unit while the load runs: the peers drain
/// it first (peer data), then its services stop; after `resume` they come
/// back into every backend. No request fails, POSTs included.
fn check_pause_and_resume_under_load(model: &mut Model) {
    let mut table = RouteTable::new("pause and resume under load");
    let victim = model.units[2].number;
    let name = model.unit(victim).name();
    let mut paused = String::new();
    let results = under_load(model, |model| {
        std::thread::sleep(Duration::from_secs(2));
        let t = std::time::Instant::now();
        model.action(victim, "pause");
        paused = model.unit(victim).unit.status().1;
        println!("{name} paused in {:.1?}: {paused}", t.elapsed());
        std::thread::sleep(Duration::from_secs(3));
        let t = std::time::Instant::now();
        model.action(victim, "resume");
        model.wait_until_serving(Duration::from_secs(60));
        println!("{name} resumed and UP everywhere in {:.1?}", t.elapsed());
        std::thread::sleep(Duration::from_secs(2));
    });
    table.check(&name, "status after pause", "Paused", &paused, paused.starts_with("Paused"));
    for (label, r, overlapped) in &results {
        table.check("client", label, "load before, during and after", &overlapped.to_string(), *overlapped);
        check_none_failed(&mut table, label, r);
        println!("{label}: {}", r.summary());
    }
    let status = model.unit(victim).unit.status();
    table.check(&name, "status after resume", "active", &format!("{}: {}", status.0, status.1), status.0 == "active");
    table.finish();
}

/// `rolling-upgrade migrate-schema=true` on the leader while the load
/// runs: the leader first, migrating the schema between its upgrade and its
/// start (the lab's apt and landscape-schema are the fakes), then every
/// other unit in turn drained, upgraded, started again; the plan done. No
/// request fails.
fn check_rolling_upgrade_under_load(model: &mut Model) {
    let mut table = RouteTable::new("rolling upgrade across three units under load");
    let leader = model.leader().number;
    let mut plan = serde_json::Value::Null;
    let results = under_load(model, |model| {
        std::thread::sleep(Duration::from_secs(1));
        let t = std::time::Instant::now();
        let params = json!({"migrate-schema": true}).as_object().cloned().unwrap_or_default();
        model.action_with(leader, "rolling-upgrade", params);
        model.wait_until_serving(Duration::from_secs(60));
        let text = model
            .leader()
            .unit
            .state
            .relation(model::PEERS)
            .and_then(|r| r.local_app_data.get("rolling-upgrade").cloned());
        plan = text.and_then(|t| serde_json::from_str(&t).ok()).unwrap_or_default();
        println!("rolling upgrade done in {:.1?}: {plan}", t.elapsed());
        std::thread::sleep(Duration::from_secs(1));
    });
    let order = plan["order"].as_array().map_or(0, Vec::len);
    let done = plan["done"].as_array().map_or(0, Vec::len);
    table.check(
        "leader",
        "plan",
        "every unit done, none failed",
        &plan.to_string(),
        order == 3 && done == 3 && plan["failed"].is_null(),
    );
    let migrated = model.leader().unit.log_text().contains("schema migrated");
    let first = plan["order"][0] == json!(model.leader().name());
    table.check(
        "leader",
        "schema",
        "migrated in its turn, first",
        &format!("{migrated}, first: {first}"),
        migrated && first,
    );
    for u in &model.units {
        let status = u.unit.status();
        table.check(&u.name(), "status", "active", &format!("{}: {}", status.0, status.1), status.0 == "active");
    }
    check_load(&mut table, &results);
    table.finish();
}

/// The legacy HAProxy charm's host.
const LEGACY_LB_OCTET: u8 = 220;

/// What each unit published on `website` as the Python charm, for the
/// worker count in place.
fn python_charm_bags(model: &Model) -> Vec<String> {
    let workers =
        model.units[0].unit.state.config.get("worker_counts").and_then(serde_json::Value::as_u64).unwrap_or(2) as u16;
    model
        .units
        .iter()
        .map(|u| crate::edge::website::python_charm_services(&u.name(), &u.host.address, workers, u.unit.state.leader))
        .collect()
}

/// What was asked of the legacy load balancer, its answer, and the scheme
/// the client used.
type LegacyLbReply = (&'static str, probe::Reply, &'static str);

/// `https://SITE/` and `http://SITE/ping` through the legacy load balancer,
/// with what the service received.
fn through_legacy_lb(model: &Model, lb: &str) -> Vec<LegacyLbReply> {
    let client = Client::of(model);
    vec![
        ("https :443/", via_site(&client, lb, 443, "/", &[]), "https"),
        ("http :80/ping", client.curl(&format!("http://{lb}/ping"), &["-H", &format!("Host: {SITE}")]), "http"),
    ]
}

/// The clients' loads through the legacy load balancer: plain HTTP, HTTPS
/// (TLS ended there with its own certificate), and POSTs of a message
/// exchange, each on a new connection (the legacy charm's reloads, one per
/// relation change, cut keep-alive connections: its own behaviour, before
/// and after this charm).
fn legacy_lb_targets(lb: &str) -> Vec<LoadTarget> {
    vec![
        LoadTarget::get("legacy LB: GET http :80/ping", format!("http://{lb}/ping"), true),
        LoadTarget::get("legacy LB: GET https :443/", format!("https://{lb}/"), true),
        LoadTarget::post("legacy LB: POST https :443/message-system", format!("https://{lb}/message-system"), true),
    ]
}

/// The same clients, moved to the units (DNS now names them).
fn unit_targets(model: &Model) -> Vec<LoadTarget> {
    let address = |i: usize| model.units[i % model.units.len()].host.address.clone();
    vec![
        LoadTarget::get("units: GET http :80/ping", format!("http://{}/ping", address(0)), true),
        LoadTarget::get("units: GET https :443/", format!("https://{}/", address(1)), true),
        LoadTarget::post(
            "units: POST https :443/message-system",
            format!("https://{}/message-system", address(2)),
            true,
        ),
    ]
}

/// The same clients, moved to haproxy-operator (DNS names it), which
/// routes by the site's name.
fn edge_targets(edge: &str) -> Vec<LoadTarget> {
    let mut targets = vec![
        LoadTarget::get("haproxy-operator: GET https :443/ping", format!("https://{edge}/ping"), false),
        LoadTarget::get("haproxy-operator: GET https :443/", format!("https://{edge}/"), true),
        LoadTarget::post(
            "haproxy-operator: POST https :443/message-system",
            format!("https://{edge}/message-system"),
            true,
        ),
    ];
    for target in &mut targets {
        target.host = Some(SITE);
    }
    targets
}

fn report(table: &mut RouteTable, results: &[(String, LoadResult, bool)], zero: bool) -> u64 {
    let mut failed = 0;
    for (label, r, overlapped) in results {
        table.check("client", label, "load through every step", &overlapped.to_string(), *overlapped);
        if zero {
            check_none_failed(table, label, r);
        }
        println!("{label}: {}", r.summary());
        failed += r.failures;
    }
    failed
}

/// Off the legacy HAProxy charm, under load. First today's old guide as a
/// control (`website` removed before the refresh: the load balancer has
/// nothing to send Landscape's requests to), which must fail requests; then
/// the bridge, with the clients moved to the units ([`migrate_under_load`]).
fn check_migration_from_the_legacy_load_balancer(model: &mut Model) {
    let mut table = RouteTable::new("control: website removed before the refresh (the old guide)");
    let python = python_charm_bags(model);
    let mut lb = legacy_lb::LegacyLb::start(model, LEGACY_LB_OCTET, SITE, &python);
    let lb_address = lb.host.address.clone();
    let results = load_on(model, &legacy_lb_targets(&lb_address), |_| {
        std::thread::sleep(Duration::from_secs(2));
        lb.reload(&[]);
        std::thread::sleep(Duration::from_secs(2));
    });
    let failed = report(&mut table, &results, false);
    table.check("client", "all loads", "requests fail", &format!("{failed} failed"), failed > 0);
    table.finish();
    lb.reload(&python);
    let moved = unit_targets(model);
    // The legacy load balancer offers no h2: gRPC clients reach the units
    // directly, before and after, and are not part of this move.
    migrate_under_load(model, &mut lb, &python, "the units", (&moved, vec![]));
}

/// The bridge, under load: each unit refreshed in turn (upgrade-charm,
/// config-changed, the website hooks) while the legacy load balancer
/// follows its bags, the clients moved to `moved` (`destination`: the units,
/// or haproxy-operator), `website` removed; `throughout` loads run from the
/// first step to the last. Not one request fails.
fn migrate_under_load(
    model: &mut Model,
    lb: &mut legacy_lb::LegacyLb,
    python: &[String],
    destination: &str,
    (moved, throughout): (&[LoadTarget], Vec<LoadTarget>),
) {
    let mut table = RouteTable::new(&format!("migration off the legacy load balancer to {destination} under load"));
    let lb_address = lb.host.address.clone();
    let mut steps = vec![];
    let mut moved_results = vec![];
    let mut seen = vec![("Python charm", through_legacy_lb(model, &lb_address))];
    let mut first_to_last = legacy_lb_targets(&lb_address);
    first_to_last.extend(throughout);
    let results = load_on(model, &first_to_last, |model| {
        std::thread::sleep(Duration::from_secs(1));
        let numbers: Vec<u32> = model.units.iter().map(|u| u.number).collect();
        for (i, number) in numbers.iter().enumerate() {
            model.relate_website(*number, &lb_address);
            let mut bags: Vec<String> = numbers.iter().filter_map(|n| model.website_services(*n)).collect();
            bags.extend(python.iter().skip(i + 1).cloned());
            lb.reload(&bags);
            steps.push(format!("refreshed {} (the legacy LB follows its bags)", model::unit_name(*number)));
            seen.push((
                if i + 1 < numbers.len() { "mid-refresh" } else { "refreshed" },
                through_legacy_lb(model, &lb_address),
            ));
            std::thread::sleep(Duration::from_secs(1));
        }
        // Clients move while the last ones still use the legacy load
        // balancer; then `website` goes.
        moved_results = load_on(model, moved, |_| {
            std::thread::sleep(Duration::from_secs(2));
            steps.push(format!("clients moved to {destination}"));
        });
    });
    let mut failed = report(&mut table, &results, true);
    failed += report(&mut table, &moved_results, true);
    check_headers_through_the_legacy_lb(model, &seen, &mut table);
    let results = load_on(model, moved, |model| {
        model.remove_website();
        lb.reload(&[]);
        steps.push("website removed".into());
        std::thread::sleep(Duration::from_secs(1));
    });
    failed += report(&mut table, &results, true);
    for u in &model.units {
        let trusted = u.unit.haproxy_config().unwrap_or_default().contains(&format!("{lb_address}/32"));
        table.check(&u.name(), "legacy LB trusted", "no longer", &trusted.to_string(), !trusted);
    }
    println!("steps: {}; {failed} requests failed", steps.join(" -> "));
    table.finish();
}

/// What Landscape got through the legacy load balancer, at each stage.
/// HTTPS always arrives as HTTPS (so it is never redirected); the client's
/// address, which the Python charm's services never passed on, arrives
/// first in X-Forwarded-For once a unit is refreshed, never another.
fn check_headers_through_the_legacy_lb(model: &Model, seen: &[(&str, Vec<LegacyLbReply>)], table: &mut RouteTable) {
    let origin = model.client.address.clone();
    for (stage, replies) in seen {
        for (what, reply, proto) in replies {
            let scheme = reply.received_header("x-forwarded-proto").unwrap_or_default();
            let forwarded = reply.received_header("x-forwarded-for").unwrap_or_default();
            let got =
                format!("{} proto={scheme:?} for={forwarded:?}", reply.service().unwrap_or_else(|| reply.summary()));
            let scheme_ok = if *proto == "https" { scheme == "https" } else { scheme != "https" };
            let ok = reply.status == 200 && scheme_ok && (forwarded.is_empty() || forwarded.starts_with(&origin));
            let wanted = format!("Landscape; proto {proto}; for {origin} (first) or none");
            table.check(&format!("legacy LB, {stage}"), what, &wanted, &got, ok);
        }
    }
}

/// Not a test of its own: `lab_leaves_nothing_behind_after_a_failure_or_an_interrupt`
/// runs it in a child process, where it deploys a one-unit lab and then
/// fails (`LAB_CHILD=fail`) or waits to be interrupted (`LAB_CHILD=hold`).
#[test]
#[ignore = "run in a child process by lab_leaves_nothing_behind_after_a_failure_or_an_interrupt"]
fn lab_child_process() {
    let mode = std::env::var("LAB_CHILD").unwrap_or_default();
    let mut model = Model::new().unwrap_or_else(|e| panic!("{e}"));
    model.deploy(1);
    println!("LAB READY {} {}", model.net.tag(), model.net.dir().display());
    use std::io::Write;
    std::io::stdout().flush().unwrap();
    if mode == "hold" {
        std::thread::sleep(Duration::from_secs(300));
    }
    panic!("deliberate failure with the lab up (LAB_CHILD={mode})");
}

/// Every process whose command line mentions `dir` (HAProxy's config, the
/// stand-in services' run directory).
fn processes_mentioning(dir: &str) -> Vec<String> {
    let out = std::process::Command::new("ps").args(["-eo", "pid,args"]).output().unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| l.contains(dir) && !l.contains("ps -eo"))
        .map(str::to_string)
        .collect()
}

#[test]
fn lab_leaves_nothing_behind_after_a_failure_or_an_interrupt() {
    use std::io::BufRead;
    let _lab = lab_lock();
    let mut table = RouteTable::new("lab teardown");
    for mode in ["fail", "hold"] {
        let mut command = std::process::Command::new(std::env::current_exe().unwrap());
        command
            .args(["--exact", "lab::lab_child_process", "--ignored", "--nocapture", "--test-threads=1"])
            .env("LAB_CHILD", mode)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null());
        // Ctrl-C as at a terminal: a test runner started in the background
        // of a script ignores SIGINT, and its children would inherit that.
        // SAFETY: between fork and exec, only a signal disposition is set.
        unsafe {
            std::os::unix::process::CommandExt::pre_exec(&mut command, || {
                nix::sys::signal::signal(nix::sys::signal::Signal::SIGINT, nix::sys::signal::SigHandler::SigDfl)
                    .map(drop)
                    .map_err(std::io::Error::from)
            });
        }
        let mut child = command.spawn().unwrap();
        let stdout = child.stdout.take().unwrap();
        let mut lines = std::io::BufReader::new(stdout).lines();
        // libtest prints "test <name> ... " on the same line first.
        let ready =
            lines.by_ref().map_while(Result::ok).find_map(|l| l.split_once("LAB READY ").map(|(_, r)| r.to_string()));
        let ready = ready.unwrap_or_else(|| panic!("the child lab did not come up ({mode})"));
        let mut fields = ready.split_whitespace();
        let (tag, dir) = (fields.next().unwrap().to_string(), fields.next().unwrap().to_string());
        let what = if mode == "fail" { "after a failing test" } else { "after Ctrl-C (SIGINT)" };
        // While it runs, the lab is really there: namespaces, route, HAProxy.
        if mode == "hold" {
            let up = net::leftovers(&tag);
            table.check("child", "while up: namespaces and route", "present", &up.len().to_string(), up.len() >= 4);
            let procs = processes_mentioning(&dir);
            let haproxy = procs.iter().any(|p| p.contains("haproxy -W"));
            table.check("child", "while up: HAProxy master", "running", &procs.len().to_string(), haproxy);
            let _ = std::process::Command::new("kill").args(["-INT", &child.id().to_string()]).status();
        }
        let status = child.wait().unwrap();
        table.check("child", &format!("{mode}: exit"), "failure", &format!("{status}"), !status.success());
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        let (left, procs) = loop {
            let left = net::leftovers(&tag);
            let procs = processes_mentioning(&dir);
            let gone = left.is_empty() && procs.is_empty() && !std::path::Path::new(&dir).exists();
            if gone || std::time::Instant::now() > deadline {
                break (left, procs);
            }
            std::thread::sleep(Duration::from_millis(200));
        };
        let got = format!("{} namespaces/links/routes, {} processes", left.len(), procs.len());
        let ok = left.is_empty() && procs.is_empty();
        table.check("root ns", &format!("{what}: leftovers"), "none", &got, ok);
        let exists = std::path::Path::new(&dir).exists();
        table.check(
            "root ns",
            &format!("{what}: lab directory"),
            "removed",
            if exists { "exists" } else { "removed" },
            !exists,
        );
    }
    table.finish();
}
