//! `load-balancer-certificates` through whole hooks: CSR, certificate,
//! renewal, bad provider data, removal, the action, and the private key
//! staying private.

use std::os::unix::fs::MetadataExt;

use serde_json::{Value, json};

use crate::fixtures::{TestCa, parse_sections};
use crate::harness::{Dispatch, Unit};

const REL: u32 = 7;

fn tls_unit() -> Unit {
    let mut unit = Unit::new(0, "10.1.77.18");
    unit.state.leader = true;
    unit.relate_landscape_backends();
    unit.add_relation("load-balancer-certificates", REL, "lb-certs");
    let run = unit.run(Dispatch::relation("load-balancer-certificates", "created", REL, None));
    assert_eq!(run.code, 0, "{}", run.stderr);
    unit
}

/// The CSRs this unit published on the test relation.
fn published(unit: &Unit) -> Vec<String> {
    crate::fixtures::published_csrs(unit, REL)
}

fn csr_text(csr: &str) -> String {
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), csr).unwrap();
    let out = std::process::Command::new("openssl")
        .args(["req", "-noout", "-text", "-verify", "-in"])
        .arg(file.path())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The provider signs our current CSR and answers.
fn issue(unit: &mut Unit, ca: &TestCa, started_days_ago: i64, days: i64) -> String {
    crate::fixtures::issue_certificate(unit, REL, ca, started_days_ago, days)
}

/// The public frontends (the metrics exporter's, on the unit's address,
/// does not depend on the certificate).
fn frontends(unit: &Unit) -> Vec<String> {
    parse_sections(&unit.haproxy_config().unwrap())
        .into_iter()
        .filter(|s| s.kind == "frontend" && s.name != "landscape-haproxy-metrics")
        .map(|s| s.name)
        .collect()
}

fn private_key(unit: &Unit) -> String {
    unit.read("/var/lib/landscape-server-charm/lb-private-key.pem").expect("a key")
}

#[test]
fn without_the_relation_there_is_no_key_and_no_csr() {
    let mut unit = Unit::new(0, "10.1.77.18");
    unit.state.leader = true;
    unit.relate_landscape_backends();
    unit.hook("config-changed");
    assert!(unit.read("/var/lib/landscape-server-charm/lb-private-key.pem").is_none());
    assert_eq!(unit.status(), ("blocked".into(), "Missing relations: load-balancer-certificates".into()));
}

#[test]
fn relation_without_certificate_publishes_a_csr_and_waits() {
    let unit = tls_unit();
    let csrs = published(&unit);
    assert_eq!(csrs.len(), 1);
    let text = csr_text(&csrs[0]);
    assert!(text.contains("CN = 10.1.77.18"), "{text}");
    assert!(text.contains("IP Address:10.1.77.18"), "{text}");
    assert!(text.contains("x500UniqueIdentifier") || text.contains("2.5.4.45"), "{text}");
    assert!(text.contains("prime256v1"), "{text}");
    let meta = std::fs::metadata(unit.path("/var/lib/landscape-server-charm/lb-private-key.pem")).unwrap();
    assert_eq!((meta.mode() & 0o777, meta.uid()), (0o600, 0));
    assert_eq!(frontends(&unit), ["landscape-http"]);
    assert_eq!(unit.status(), ("waiting".into(), "Waiting for load-balancer-certificates: no certificate yet".into()));
}

#[test]
fn certificate_arrives_and_haproxy_serves_it_in_the_same_hook() {
    let mut unit = tls_unit();
    unit.set_config("enable_hostagent_messenger", json!(true));
    let ca = TestCa::new("lb-certs CA");
    let cert = issue(&mut unit, &ca, 0, 90);
    let run = unit.relation_changed("load-balancer-certificates", REL, None);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let pem = unit.read("/etc/haproxy/haproxy.pem").expect("the bundle");
    // Leaf once (the chain repeats it), then the CA, then the key; each block ends in a newline.
    assert_eq!(pem.matches("BEGIN CERTIFICATE").count(), 2, "{pem}");
    assert!(pem.starts_with(&format!("{cert}\n{}\n", ca.pem)), "{pem}");
    assert!(pem.ends_with("-----END PRIVATE KEY-----\n"));
    let meta = std::fs::metadata(unit.path("/etc/haproxy/haproxy.pem")).unwrap();
    let haproxy = landscape_server::fsutil::Owner::of_user("haproxy").unwrap();
    assert_eq!((meta.mode() & 0o777, Some(meta.uid())), (0o600, haproxy.uid));
    assert_eq!(frontends(&unit), ["landscape-http", "landscape-https", "landscape-hostagent-messenger"]);
    assert!(run.ran("systemctl reload haproxy"));
    assert_eq!(unit.status(), ("active".into(), "Unit is ready".into()));
    // The real haproxy accepts the config with this bundle.
    crate::fixtures::haproxy_check_strict(&unit.haproxy_config().unwrap()).unwrap();
    // Nothing changes on the next hook: no new CSR, no reload.
    let run = unit.hook("update-status");
    assert!(!run.ran("systemctl reload haproxy"));
    assert!(!run.tool_calls.iter().any(|c| c.program == "relation-set" && c.line().contains(&format!(":{REL}"))));
}

#[test]
fn root_url_change_requests_a_new_csr_and_keeps_serving_the_old_certificate() {
    let mut unit = tls_unit();
    let ca = TestCa::new("ca");
    issue(&mut unit, &ca, 0, 90);
    unit.relation_changed("load-balancer-certificates", REL, None);
    let old_bundle = unit.read("/etc/haproxy/haproxy.pem").unwrap();
    unit.set_config("root_url", json!("https://landscape.example.com/"));
    unit.hook("config-changed");
    let text = csr_text(&published(&unit)[0]);
    assert!(text.contains("CN = landscape.example.com"), "{text}");
    assert!(text.contains("DNS:landscape.example.com") && text.contains("IP Address:10.1.77.18"), "{text}");
    assert_eq!(unit.read("/etc/haproxy/haproxy.pem").unwrap(), old_bundle);
    assert!(frontends(&unit).contains(&"landscape-https".to_string()));
    // The new certificate replaces the old one when it comes.
    let new_cert = issue(&mut unit, &ca, 0, 90);
    unit.relation_changed("load-balancer-certificates", REL, None);
    assert!(unit.read("/etc/haproxy/haproxy.pem").unwrap().starts_with(&new_cert));
}

#[test]
fn unit_address_change_requests_a_new_csr() {
    let mut unit = tls_unit();
    unit.set_address("10.1.77.99");
    unit.hook("config-changed");
    let text = csr_text(&published(&unit)[0]);
    assert!(text.contains("CN = 10.1.77.99") && text.contains("IP Address:10.1.77.99"), "{text}");
}

#[test]
fn certificate_for_another_key_blocks_and_keeps_the_last_good_one() {
    let mut unit = tls_unit();
    let ca = TestCa::new("ca");
    issue(&mut unit, &ca, 0, 90);
    unit.relation_changed("load-balancer-certificates", REL, None);
    let good = unit.read("/etc/haproxy/haproxy.pem").unwrap();
    // The provider answers our CSR with a certificate for some other key.
    let csr = published(&unit)[0].clone();
    let other_key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let other_csr = rcgen::CertificateParams::new(vec!["x.test".to_string()])
        .unwrap()
        .serialize_request(&other_key)
        .unwrap()
        .pem()
        .unwrap();
    let wrong = ca.sign(&other_csr, 0, 90);
    unit.state.relation_mut(REL).unwrap().remote_app_data = ca.provider_databag(&[(&csr, &wrong)]);
    let run = unit.relation_changed("load-balancer-certificates", REL, None);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(
        unit.status(),
        (
            "blocked".into(),
            "load-balancer-certificates: the certificate for this unit does not match its private key".into()
        )
    );
    assert_eq!(unit.read("/etc/haproxy/haproxy.pem").unwrap(), good);
    assert!(frontends(&unit).contains(&"landscape-https".to_string()), "the last good certificate still serves");
}

#[test]
fn garbage_in_the_provider_databag_blocks_and_names_the_field() {
    let mut unit = tls_unit();
    for garbage in ["{not json", r#"[{"certificate_signing_request": 5}]"#] {
        unit.state.relation_mut(REL).unwrap().remote_app_data.insert("certificates".into(), garbage.into());
        let run = unit.relation_changed("load-balancer-certificates", REL, None);
        assert_eq!(run.code, 0, "{}", run.stderr);
        let (status, message) = unit.status();
        if garbage.starts_with('{') {
            assert_eq!(status, "blocked");
            assert!(message.starts_with("load-balancer-certificates: certificates is not a JSON list"), "{message}");
        } else {
            // Entries that are not for us (no CSR string) are skipped.
            assert_eq!(status, "waiting", "{message}");
        }
    }
    let csr = published(&unit)[0].clone();
    unit.state.relation_mut(REL).unwrap().remote_app_data.insert(
        "certificates".into(),
        json!([{"ca": "x", "certificate_signing_request": csr, "certificate": "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----"}]).to_string(),
    );
    unit.relation_changed("load-balancer-certificates", REL, None);
    assert_eq!(
        unit.status(),
        ("blocked".into(), "load-balancer-certificates: the certificate for this unit does not parse".into())
    );
    assert!(unit.log_text().contains("does not parse"));
}

#[test]
fn expiring_certificate_is_renewed_without_a_gap() {
    let mut unit = tls_unit();
    let ca = TestCa::new("ca");
    let old_csr = published(&unit)[0].clone();
    // 90-day certificate issued 70 days ago: less than a third left.
    let cert = issue(&mut unit, &ca, 70, 90);
    let run = unit.relation_changed("load-balancer-certificates", REL, None);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(unit.read("/etc/haproxy/haproxy.pem").unwrap().starts_with(&cert), "still valid: installed");
    let csrs = published(&unit);
    assert_eq!(csrs.len(), 1);
    assert_ne!(csrs[0], old_csr, "a renewal CSR replaced the old one");
    assert!(unit.log_text().contains("renewing"));
    // A revoked certificate counts as absent: the old bundle keeps serving.
    let fresh_csr = csrs[0].clone();
    let fresh = ca.sign(&fresh_csr, 0, 90);
    let mut bag = ca.provider_databag(&[(&fresh_csr, &fresh)]);
    let mut list: Vec<Value> = serde_json::from_str(&bag["certificates"]).unwrap();
    list[0]["revoked"] = json!(true);
    bag.insert("certificates".into(), Value::Array(list).to_string());
    unit.state.relation_mut(REL).unwrap().remote_app_data = bag;
    unit.relation_changed("load-balancer-certificates", REL, None);
    assert!(unit.read("/etc/haproxy/haproxy.pem").unwrap().starts_with(&cert));
}

#[test]
fn relation_removed_forgets_key_and_certificate() {
    let mut unit = tls_unit();
    let ca = TestCa::new("ca");
    issue(&mut unit, &ca, 0, 90);
    unit.relation_changed("load-balancer-certificates", REL, None);
    let first_key = private_key(&unit);
    let run = unit.run(Dispatch::relation("load-balancer-certificates", "broken", REL, None));
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(unit.read("/etc/haproxy/haproxy.pem").is_none());
    assert!(unit.read("/var/lib/landscape-server-charm/lb-private-key.pem").is_none());
    assert_eq!(frontends(&unit), ["landscape-http"]);
    assert_eq!(unit.status(), ("blocked".into(), "Missing relations: load-balancer-certificates".into()));
    // Re-added: a new key.
    unit.add_relation("load-balancer-certificates", REL + 1, "lb-certs");
    unit.hook("config-changed");
    assert_ne!(private_key(&unit), first_key);
}

#[test]
fn get_certificates_action_returns_certificate_ca_and_chain() {
    let mut unit = tls_unit();
    unit.action("get-certificates");
    assert_eq!(
        unit.state.action.clone().unwrap().failed.as_deref(),
        Some("No assigned TLS certificate found for this unit")
    );
    let ca = TestCa::new("ca");
    let cert = issue(&mut unit, &ca, 0, 90);
    unit.relation_changed("load-balancer-certificates", REL, None);
    unit.action("get-certificates");
    let action = unit.state.action.clone().unwrap();
    assert_eq!(action.failed, None);
    assert_eq!(action.results["certificate"], cert);
    assert_eq!(action.results["ca"], ca.pem);
    assert_eq!(action.results["chain"], format!("{cert}\n\n{}", ca.pem));

    let mut bare = Unit::new(1, "10.1.77.229");
    bare.action("get-certificates");
    assert!(bare.state.action.clone().unwrap().failed.unwrap().contains("not related"));
}

#[test]
fn the_private_key_never_leaves_its_file() {
    let mut unit = tls_unit();
    let ca = TestCa::new("ca");
    issue(&mut unit, &ca, 0, 90);
    unit.relation_changed("load-balancer-certificates", REL, None);
    unit.action("get-certificates");
    unit.action("get-haproxy-config");
    // The secret is the private scalar (the key file also holds the public
    // key, which the CSR rightly carries): look for it in hex and in base64
    // at every alignment.
    let key_file = unit.path("/var/lib/landscape-server-charm/lb-private-key.pem");
    let out =
        std::process::Command::new("openssl").args(["ec", "-noout", "-text", "-in"]).arg(&key_file).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let hex: String = text
        .split("priv:")
        .nth(1)
        .and_then(|rest| rest.split("pub:").next())
        .expect("openssl shows priv")
        .chars()
        .filter(|c| c.is_ascii_hexdigit())
        .collect();
    let scalar: Vec<u8> = (0..hex.len()).step_by(2).map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap()).collect();
    assert!(scalar.len() >= 32, "{text}");
    let mut pieces = vec![hex.clone()];
    for pad in 0..3 {
        let mut bytes = vec![0u8; pad];
        bytes.extend(&scalar);
        let encoded = base64(&bytes);
        pieces.push(encoded[4..encoded.len() - 4].to_string());
    }
    let mut everywhere = unit.log_text();
    for call in unit.state.tool_calls.iter().chain(unit.state.commands.iter()) {
        everywhere.push_str(&call.line());
        everywhere.push_str(call.stdin.as_deref().unwrap_or_default());
    }
    for rel in &unit.state.relations {
        everywhere.push_str(&format!("{:?}{:?}", rel.local_unit_data, rel.local_app_data));
    }
    everywhere.push_str(&format!("{:?}", unit.state.action));
    // Every file the charm wrote, but for the two 0600 files meant to hold it.
    let allowed =
        [unit.path("/var/lib/landscape-server-charm/lb-private-key.pem"), unit.path("/etc/haproxy/haproxy.pem")];
    let mut dirs = vec![unit.root()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
            } else if !allowed.contains(&path) {
                everywhere.push_str(&String::from_utf8_lossy(&std::fs::read(&path).unwrap()));
            } else {
                assert_eq!(std::fs::metadata(&path).unwrap().mode() & 0o777, 0o600, "{}", path.display());
            }
        }
    }
    assert!(everywhere.contains("frontend landscape-https"), "the walk read haproxy.cfg");
    for piece in &pieces {
        assert!(!everywhere.contains(piece.as_str()), "the private key leaked: {piece}");
    }
    // The check can fail: the key file itself does contain the secret.
    let key_body: String = private_key(&unit).lines().filter(|l| !l.starts_with("-----")).collect();
    assert!(pieces[1..].iter().any(|p| key_body.contains(p.as_str())), "the test's own search is broken");
}

fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk.iter().enumerate().fold(0u32, |acc, (i, b)| acc | (u32::from(*b) << (16 - 8 * i)));
        for i in 0..=chunk.len() {
            out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
        }
    }
    out
}

/// Interop with the real `charmlibs-interfaces-tls-certificates`, both ways:
/// its provider accepts and signs the CSR our binary publishes, our binary
/// reads the databag it writes, `openssl verify` accepts the result against
/// its CA, and the real HAProxy serves that certificate on 443 and 6554.
#[test]
fn interop_with_the_python_library_and_a_real_haproxy() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let python = root.join(".venv-test/bin/python");
    assert!(python.exists(), "{} is missing: run scripts/setup-test-env", python.display());
    // The unit lives on loopback so that HAProxy can be reached in a namespace.
    let mut unit = Unit::new(0, "127.0.0.1");
    unit.state.leader = true;
    unit.relate_landscape_backends();
    unit.set_config("enable_hostagent_messenger", json!(true));
    unit.add_relation("load-balancer-certificates", REL, "lb-certs");
    unit.hook("config-changed");

    let bag_file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(bag_file.path(), serde_json::to_string(&unit.relation(REL).local_unit_data).unwrap()).unwrap();
    let out = std::process::Command::new(&python)
        .arg(root.join("tests/fixtures/tls_provider_oracle.py"))
        .arg(bag_file.path())
        .output()
        .unwrap();
    assert!(out.status.success(), "the library refused our CSR:\n{}", String::from_utf8_lossy(&out.stderr));
    let answer: Value = serde_json::from_slice(&out.stdout).unwrap();
    let databag: crate::harness::Databag = serde_json::from_value(answer["databag"].clone()).unwrap();
    assert!(databag.contains_key("certificates"), "{databag:?}");
    unit.state.relation_mut(REL).unwrap().remote_app_data = databag;
    let run = unit.relation_changed("load-balancer-certificates", REL, None);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(unit.status(), ("active".into(), "Unit is ready".into()));

    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("ca.pem");
    std::fs::write(&ca, answer["ca"].as_str().unwrap()).unwrap();
    let bundle = unit.path("/etc/haproxy/haproxy.pem");
    let verify =
        std::process::Command::new("openssl").arg("verify").arg("-CAfile").arg(&ca).arg(&bundle).output().unwrap();
    assert!(verify.status.success() && String::from_utf8_lossy(&verify.stdout).contains(": OK"), "{verify:?}");
    let expected = std::process::Command::new("openssl")
        .args(["x509", "-noout", "-fingerprint", "-sha256", "-in"])
        .arg(&bundle)
        .output()
        .unwrap();
    let expected = String::from_utf8_lossy(&expected.stdout).trim().to_string();

    let config = unit.path("/etc/haproxy/haproxy.cfg");
    let script = format!(
        r#"set -e
ip link set lo up
haproxy -f {config} -db >/dev/null 2>&1 & pid=$!
trap 'kill $pid 2>/dev/null || true' EXIT
for i in $(seq 100); do curl -sk -o /dev/null https://127.0.0.1/ping && break; sleep 0.05; done
for port in 443 6554; do
  echo | openssl s_client -connect 127.0.0.1:$port -alpn h2 -CAfile {ca} -verify_return_error 2>/dev/null > /tmp/s_client.$$ || true
  echo "port $port: $(grep -m1 -o 'Verify return code: [0-9]* ([a-z]*)' /tmp/s_client.$$)"
  sed -n '/BEGIN CERTIFICATE/,/END CERTIFICATE/p' /tmp/s_client.$$ | openssl x509 -noout -fingerprint -sha256
  rm -f /tmp/s_client.$$
done
"#,
        config = config.display(),
        ca = ca.display()
    );
    let out = std::process::Command::new("unshare").args(["-n", "sh", "-c", &script]).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(
        stdout.lines().collect::<Vec<_>>(),
        [
            "port 443: Verify return code: 0 (ok)",
            expected.as_str(),
            "port 6554: Verify return code: 0 (ok)",
            expected.as_str()
        ]
    );
}

/// The certificate's expiry, as the metrics frontend's gauge gives it.
fn exported_expiry(unit: &Unit) -> Option<i64> {
    let config = unit.haproxy_config().unwrap();
    // The sample, not its HELP line: it starts a line (HAProxy's `\n`).
    let name = "\\nlandscape_haproxy_certificate_expiry_timestamp_seconds ";
    let at = config.find(name)? + name.len();
    config[at..].split(|c: char| !c.is_ascii_digit()).next()?.parse().ok()
}

#[test]
fn the_certificates_expiry_is_exported_and_follows_a_renewal() {
    let mut unit = tls_unit();
    let now = landscape_server::tls::now();
    assert_eq!(exported_expiry(&unit), None, "no certificate, no expiry");
    assert!(unit.haproxy_config().unwrap().contains("landscape_haproxy_certificate_present 0"));
    let ca = TestCa::new("ca");
    // 20 days left: the alert's 14 days are not reached, a renewal is due.
    issue(&mut unit, &ca, 70, 90);
    unit.relation_changed("load-balancer-certificates", REL, None);
    let first = exported_expiry(&unit).unwrap_or_else(|| panic!("{}", unit.haproxy_config().unwrap()));
    assert!((first - (now + 20 * 86400)).abs() < 3600, "{first} vs {now}");
    issue(&mut unit, &ca, 0, 90);
    let run = unit.relation_changed("load-balancer-certificates", REL, None);
    let renewed = exported_expiry(&unit).expect("an expiry");
    assert!((renewed - (now + 90 * 86400)).abs() < 3600, "{renewed} vs {now}");
    assert!(run.ran("systemctl reload haproxy"), "HAProxy serves the new gauge");
    crate::fixtures::haproxy_check_strict(&unit.haproxy_config().unwrap()).unwrap();
}
