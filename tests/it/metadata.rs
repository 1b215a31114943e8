//! The binary's endpoint and action tables agree with the YAML Juju reads.

use landscape_server::juju::metadata::{ACTIONS, ENDPOINTS, Role};

use crate::harness::spec;

#[test]
fn endpoint_table_matches_metadata_yaml() {
    let declared = &spec().endpoints;
    assert_eq!(ENDPOINTS.len(), declared.len(), "metadata.yaml and ENDPOINTS differ in size");
    for endpoint in ENDPOINTS {
        let (role, interface) =
            declared.get(endpoint.name).unwrap_or_else(|| panic!("{} not in metadata.yaml", endpoint.name));
        let expected_role = match endpoint.role {
            Role::Requires => "requires",
            Role::Provides => "provides",
            Role::Peers => "peers",
        };
        assert_eq!((role.as_str(), interface.as_str()), (expected_role, endpoint.interface), "{}", endpoint.name);
    }
}

#[test]
fn action_table_matches_actions_yaml() {
    let mut declared = spec().actions.clone();
    let mut known: Vec<String> = ACTIONS.iter().map(|s| s.to_string()).collect();
    declared.sort();
    known.sort();
    assert_eq!(declared, known);
}

#[test]
fn dead_surface_of_the_python_charm_is_gone() {
    let spec = spec();
    // `website`, `ssl_cert` and `ssl_key` are back, for the migration bridge
    // only (tests/it/edge/website.rs).
    for action in ["enable-ubuntu-installer-attach", "disable-ubuntu-installer-attach"] {
        assert!(!spec.actions.iter().any(|a| a == action), "{action} is still declared");
    }
}

/// The fake's `network-get` knows exactly the charm's endpoints (plus
/// `juju-info`, which Juju gives every charm).
#[test]
fn the_fake_knows_the_endpoints_of_metadata_yaml() {
    let mut known: Vec<&str> = fake_juju::ENDPOINT_NAMES.to_vec();
    known.sort();
    let mut declared: Vec<&str> = spec().endpoints.keys().map(String::as_str).chain(["juju-info"]).collect();
    declared.sort();
    assert_eq!(known, declared);
}

/// The endpoints of earlier charms that carry traffic and this charm does
/// not serve. Declared but not served, they would turn Juju's refusal of a
/// refresh (nothing changes) into a silent outage at the external load
/// balancer: they stay undeclared. Every one is served now: the eight
/// haproxy-route endpoints of the 26.04 charm, and `website` (the bridge).
pub const UNDECLARED_ENDPOINTS: [&str; 0] = [];

/// Options of older revisions of that charm, superseded there too.
const SUPERSEDED_OPTIONS: [&str; 1] = ["allow_http"];

fn charm_2604() -> serde_json::Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/landscape-26.04-charm.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// `juju refresh` from the 26.04 charm is refused while one of its
/// relations is on an endpoint this charm lacks, and drops the values of
/// options it lacks: every endpoint of that charm is declared with its role
/// and interface (but the traffic ones not served yet), every option with
/// its type.
#[test]
fn refresh_from_the_26_04_charm_keeps_every_served_endpoint_and_every_option() {
    let charm = charm_2604();
    let mut problems = vec![];
    for endpoint in charm["endpoints"].as_array().unwrap() {
        let name = endpoint["name"].as_str().unwrap();
        let theirs =
            (endpoint["role"].as_str().unwrap().to_string(), endpoint["interface"].as_str().unwrap().to_string());
        match (spec().endpoints.get(name), UNDECLARED_ENDPOINTS.contains(&name)) {
            (Some(_), true) => problems.push(format!("{name} is declared but not served")),
            (None, true) => {}
            (None, false) => problems.push(format!("{name} ({theirs:?}) is not declared")),
            (Some(ours), false) if *ours != theirs => {
                problems.push(format!("{name}: ours {ours:?}, theirs {theirs:?}"))
            }
            (Some(_), false) => {}
        }
    }
    for option in charm["options"].as_array().unwrap() {
        let name = option["name"].as_str().unwrap();
        let kind = option["type"].as_str().unwrap();
        match spec().options.get(name) {
            None if SUPERSEDED_OPTIONS.contains(&name) => {}
            None => problems.push(format!("option {name} ({kind}) is not declared")),
            Some((ours, _)) if ours != kind => problems.push(format!("option {name}: ours {ours}, theirs {kind}")),
            Some(_) => {}
        }
    }
    assert!(problems.is_empty(), "{problems:#?}");
}

/// The fixture is the notes' tables, as they are: read them when they are
/// beside the repository (the developers' and CI's machines have them).
#[test]
fn the_26_04_fixture_is_the_interface_notes_tables() {
    let notes = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/spec/landscape-26.04.md");
    let Ok(text) = std::fs::read_to_string(&notes) else {
        println!("{} is not here: the fixture is checked where it is", notes.display());
        return;
    };
    let section = |from: &str, to: &str| text[text.find(from).unwrap()..text.find(to).unwrap()].to_string();
    let rows = |section: &str, width: usize| -> Vec<Vec<String>> {
        section
            .lines()
            .filter(|l| l.starts_with('|'))
            .map(|l| l.trim().trim_matches('|').split('|').map(|c| c.trim().to_string()).collect::<Vec<_>>())
            .filter(|c| c.len() >= width && c[0] != "endpoint" && c[0] != "option" && !c[0].chars().all(|ch| ch == '-'))
            .collect()
    };
    let clean = |s: &str| s.replace(" [inference]", "");
    let endpoints: Vec<(String, String, String)> = rows(&section("### 1.1 Endpoints", "### 1.2"), 8)
        .into_iter()
        .filter(|c| !c[0].contains(','))
        .map(|c| (c[0].clone(), clean(&c[1]), clean(&c[2])))
        .collect();
    let options: Vec<(String, String)> = rows(&section("### 1.2 Config options", "### 1.3"), 5)
        .into_iter()
        .flat_map(|c| {
            let kind = c[1].clone();
            c[0].split([',', '/'])
                .map(|n| n.trim().trim_matches('`').to_string())
                .filter(|n| !n.is_empty())
                .map(move |n| (n, kind.clone()))
                .collect::<Vec<_>>()
        })
        .collect();
    let charm = charm_2604();
    // Endpoints that changed interface since the notes were written: the
    // fixture says what the notes said, and the update beside the notes
    // says it changed.
    let update = std::fs::read_to_string(notes.with_file_name("landscape-26.04-update.md")).unwrap_or_default();
    let changed: Vec<(String, String)> = charm["changed_since_notes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["name"].as_str().unwrap().to_string(), c["notes"].as_str().unwrap().to_string()))
        .collect();
    for (name, _) in &changed {
        assert!(update.contains(&format!("`{name}`")) && update.contains("haproxy-route-tcp"), "{name}");
    }
    let fixture_endpoints: Vec<(String, String, String)> = charm["endpoints"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            let name: String = e["name"].as_str().unwrap().into();
            let noted = changed.iter().find(|(n, _)| *n == name).map(|(_, was)| was.clone());
            (name, e["role"].as_str().unwrap().into(), noted.unwrap_or_else(|| e["interface"].as_str().unwrap().into()))
        })
        .collect();
    let fixture_options: Vec<(String, String)> = charm["options"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| (o["name"].as_str().unwrap().into(), o["type"].as_str().unwrap().into()))
        .collect();
    assert_eq!(fixture_endpoints, endpoints);
    assert_eq!(fixture_options, options);
}
