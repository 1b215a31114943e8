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
    assert!(!spec.endpoints.contains_key("website"));
    for option in ["ssl_cert", "ssl_key", "nagios_context", "nagios_servicegroups"] {
        assert!(!spec.options.contains_key(option), "{option} is still declared");
    }
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
