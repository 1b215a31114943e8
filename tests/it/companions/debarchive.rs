//! The `debarchive` relation (provider side, interface
//! `landscape-debarchive`): the leader's application bag key by key as the
//! 26.04 charm publishes it, the secret token's secret, and the
//! `/debarchive` route through the real HAProxy.

use serde_json::json;

use crate::harness::{Dispatch, Unit, ready_leader};

const REL: u32 = 70;

fn relate_debarchive(unit: &mut Unit, units: &[(&str, &str)]) -> crate::harness::RunResult {
    let rel = unit.add_relation("debarchive", REL, "landscape-debarchive");
    for (name, address) in units {
        rel.remote_units.insert(
            name.to_string(),
            [
                ("ingress-address".to_string(), address.to_string()),
                ("private-address".to_string(), address.to_string()),
            ]
            .into(),
        );
    }
    unit.relation_changed("debarchive", REL, units.first().map(|(n, _)| *n))
}

fn own_app(unit: &Unit) -> crate::harness::Databag {
    unit.relation(REL).local_app_data.clone()
}

#[test]
fn the_leader_publishes_the_hostname_and_a_granted_secret_with_the_secret_token() {
    let mut unit = ready_leader(0);
    unit.set_config("root_url", json!("https://landscape.example.com/"));
    unit.hook("config-changed");
    let run = relate_debarchive(&mut unit, &[("landscape-debarchive/0", "10.1.90.4")]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let bag = own_app(&unit);
    assert_eq!(bag.get("hostname").map(String::as_str), Some("landscape.example.com"));
    let id = bag.get("secret-token-id").expect("secret-token-id").clone();
    assert!(id.starts_with("secret:"), "{id}");
    assert!(!bag.contains_key("secret-token-revision"), "absent until the token changes");
    let secret = unit.state.secrets.iter().find(|s| s.id == id).expect("the secret");
    let token = crate::scenario::service_conf(&unit).get("landscape", "secret-token").unwrap();
    assert_eq!(secret.revisions.last().unwrap().get("secret-token"), Some(&token));
    assert_eq!(secret.granted, [REL], "granted to the relation");
    assert_eq!(secret.owner, "application");
    assert!(!unit.log_text().contains(&token) && !run.stderr.contains(&token));
    // Nothing changed: nothing written again.
    let again = unit.relation_changed("debarchive", REL, None);
    let writes = ["secret-add", "secret-set", "secret-grant", "relation-set"];
    assert!(!again.tool_calls.iter().any(|c| writes.contains(&c.program.as_str())), "{:?}", again.tool_calls);
    // A new token (the operator sets one): a new revision, counted.
    unit.set_config("secret_token", json!("operator-token-0b9"));
    unit.hook("config-changed");
    let secret = unit.state.secrets.iter().find(|s| s.id == id).unwrap();
    assert_eq!(secret.revisions.last().unwrap().get("secret-token").map(String::as_str), Some("operator-token-0b9"));
    assert_eq!(own_app(&unit).get("secret-token-revision").map(String::as_str), Some("1"));
    assert_eq!(own_app(&unit).get("secret-token-id"), Some(&id), "the same secret");
}

/// The debarchive routes by the hostname (its own haproxy-route's SNI and
/// host, which take no address): without a host name in root_url none is
/// published, the secret token is, and the status says so.
#[test]
fn without_a_root_url_host_no_hostname_is_published_and_followers_publish_nothing() {
    let mut unit = ready_leader(0);
    relate_debarchive(&mut unit, &[("landscape-debarchive/0", "10.1.90.4")]);
    assert_eq!(own_app(&unit).get("hostname"), None);
    assert!(own_app(&unit).get("secret-token-id").is_some_and(|id| id.starts_with("secret:")));
    assert_eq!(
        unit.status().1,
        "root_url names no host: the task handler and debarchive are reached by their own addresses"
    );
    // An address published before (by an earlier revision) goes.
    let rel = unit.state.relations.iter_mut().find(|r| r.id == REL).unwrap();
    rel.local_app_data.insert("hostname".into(), "10.1.77.18".into());
    unit.hook("config-changed");
    assert_eq!(own_app(&unit).get("hostname"), None);
    unit.set_config("root_url", json!("https://10.1.77.18/"));
    unit.hook("config-changed");
    assert_eq!(own_app(&unit).get("hostname"), None, "an address in root_url is no host name");
    unit.set_config("root_url", json!("https://landscape.example.com/"));
    unit.hook("config-changed");
    assert_eq!(own_app(&unit).get("hostname").map(String::as_str), Some("landscape.example.com"));

    let mut follower = Unit::new(1, "10.1.78.1");
    follower.relate_workload();
    follower.set_published_leader_ip("10.1.77.18");
    follower.hook("config-changed");
    let run = relate_debarchive(&mut follower, &[("landscape-debarchive/0", "10.1.90.4")]);
    assert!(!run.tool_calls.iter().any(|c| c.program == "relation-set" && c.line().contains(":70")));
    assert!(follower.haproxy_config().unwrap().contains("server landscape-debarchive-10-1-90-4 10.1.90.4:8100"));
}

#[test]
fn the_route_follows_the_debarchive_units_and_goes_with_the_relation() {
    let mut unit = ready_leader(0);
    unit.set_config("debarchive_gateway_port", json!(8101));
    relate_debarchive(&mut unit, &[("landscape-debarchive/0", "10.1.90.4"), ("landscape-debarchive/1", "not-an-ip")]);
    let config = unit.haproxy_config().unwrap();
    let servers = crate::harness::backend_servers(&config, "landscape-https-debarchive");
    assert_eq!(servers, [("landscape-debarchive-10-1-90-4".to_string(), "10.1.90.4:8101".to_string())]);
    assert!(config.contains("use_backend landscape-http-debarchive if debarchive"));
    assert!(
        config.contains("redirect scheme https unless ping OR repository OR debarchive"),
        "APT clients stay on HTTP"
    );
    crate::fixtures::haproxy_check_every_version(&config).unwrap();
    let run = unit.run(Dispatch::relation("debarchive", "broken", REL, None));
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(!unit.haproxy_config().unwrap().contains("debarchive"), "no route without a backend");
    assert_eq!(unit.status(), ("active".into(), "Unit is ready".into()));
}

/// Real requests through the real HAProxy: `/debarchive/...` reaches the
/// debarchive service with the prefix stripped; `/debarchive-not` and the
/// rest stay Landscape's.
#[test]
fn debarchive_requests_reach_the_service_with_the_prefix_stripped() {
    let mut settings = crate::regression::loopback_settings(landscape_server::config::RedirectHttps::None);
    settings.debarchive = vec!["127.0.0.1".parse().unwrap()];
    settings.debarchive_port = 8100;
    let answers = crate::regression::through_real_haproxy(
        &settings,
        &[("debarchive", 8100), ("appserver", 8080)],
        &[
            "http://127.0.0.1/debarchive/v1beta1/mirrors",
            "-k https://127.0.0.1/debarchive/v1beta1/mirrors?page=2",
            "http://127.0.0.1/debarchive",
            "http://127.0.0.1/debarchive-not",
        ],
    );
    assert_eq!(
        answers,
        [
            "debarchive GET /v1beta1/mirrors HTTP/1.1",
            "debarchive GET /v1beta1/mirrors?page=2 HTTP/1.1",
            "debarchive GET / HTTP/1.1",
            "appserver GET /debarchive-not HTTP/1.1",
        ]
    );
}

/// Our own bag with a `secret-token-id` that is no secret URI (written by
/// someone else): it is treated as absent; a new secret is made and
/// published, and nothing is set on the bad id.
#[test]
fn a_bad_secret_token_id_in_our_bag_is_replaced_by_a_new_secret() {
    let mut unit = ready_leader(0);
    unit.set_config("root_url", json!("https://landscape.example.com/"));
    let rel = unit.add_relation("debarchive", REL, "landscape-debarchive");
    rel.local_app_data.insert("secret-token-id".into(), "../../etc/shadow".into());
    rel.remote_units
        .insert("landscape-debarchive/0".into(), [("ingress-address".to_string(), "10.1.90.4".to_string())].into());
    let run = unit.relation_changed("debarchive", REL, Some("landscape-debarchive/0"));
    assert_eq!(run.code, 0, "{}", run.stderr);
    let id = own_app(&unit).get("secret-token-id").cloned().unwrap_or_default();
    assert!(id.starts_with("secret:") && unit.state.secrets.iter().any(|s| s.id == id), "{id}");
    assert!(!run.tool_calls.iter().any(|c| c.program == "secret-set"), "nothing set on the bad id");
    assert_eq!(unit.status(), ("active".into(), "Unit is ready".into()));
}

/// Debarchive units' addresses were not held to the rule peers' are: a
/// broadcast, loopback, unspecified, link-local or multicast address became
/// an HAProxy server of every unit.
#[test]
fn unroutable_debarchive_addresses_became_haproxy_servers() {
    let mut unit = ready_leader(0);
    let units: Vec<(String, &str)> = ["255.255.255.255", "127.0.0.1", "::", "::1", "fe80::1", "224.0.0.1", "10.1.90.4"]
        .iter()
        .enumerate()
        .map(|(i, a)| (format!("landscape-debarchive/{i}"), *a))
        .collect();
    let units: Vec<(&str, &str)> = units.iter().map(|(n, a)| (n.as_str(), *a)).collect();
    let run = relate_debarchive(&mut unit, &units);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let servers = crate::harness::backend_servers(&unit.haproxy_config().unwrap(), "landscape-https-debarchive");
    assert_eq!(servers, [("landscape-debarchive-10-1-90-4".to_string(), "10.1.90.4:8100".to_string())]);
}
