//! Shared fixtures: a real certificate, a directory of real HAProxy inputs,
//! the strict `haproxy -dW -c` check, and a small config-section parser.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use landscape_server::fsutil::Owner;
use landscape_server::haproxy::apply::sync_error_pages;
use landscape_server::paths::Paths;

/// A self-signed EC certificate and its key, concatenated as HAProxy wants
/// (made once per test run by the real openssl).
pub fn test_pem() -> &'static str {
    static PEM: OnceLock<String> = OnceLock::new();
    PEM.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let (key, cert) = (dir.path().join("key.pem"), dir.path().join("cert.pem"));
        let status = Command::new("openssl")
            .args([
                "req",
                "-x509",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:prime256v1",
                "-nodes",
                "-days",
                "30",
            ])
            .args(["-subj", "/CN=landscape.test", "-addext", "subjectAltName=DNS:landscape.test,IP:10.1.77.18"])
            .arg("-keyout")
            .arg(&key)
            .arg("-out")
            .arg(&cert)
            .output()
            .expect("openssl runs");
        assert!(status.status.success(), "openssl failed: {}", String::from_utf8_lossy(&status.stderr));
        let mut pem = std::fs::read_to_string(&cert).unwrap();
        pem.push_str(&std::fs::read_to_string(&key).unwrap());
        pem
    })
}

/// A root with what a rendered config refers to: the certificate bundle and
/// the error pages (built-in ones, written by the charm's own code).
pub struct HaproxyInputs {
    pub dir: tempfile::TempDir,
}

impl HaproxyInputs {
    pub fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let paths = Paths::under(dir.path());
        sync_error_pages(&paths, Owner::default()).unwrap();
        std::fs::write(paths.haproxy_pem(), test_pem()).unwrap();
        Self { dir }
    }
}

pub fn shared_inputs() -> &'static Path {
    static INPUTS: OnceLock<PathBuf> = OnceLock::new();
    INPUTS.get_or_init(|| {
        let inputs = HaproxyInputs::new();
        inputs.dir.keep()
    })
}

/// Runs the real `haproxy -dW -c` (warnings are errors) on `config`.
pub fn haproxy_check_strict(config: &str) -> Result<(), String> {
    haproxy_check_with("haproxy", config)
}

fn haproxy_check_with(binary: &str, config: &str) -> Result<(), String> {
    let file = tempfile::Builder::new().suffix(".cfg").tempfile().unwrap();
    std::fs::write(file.path(), config).unwrap();
    let out = Command::new(binary).args(["-dW", "-c", "-f"]).arg(file.path()).output().expect("haproxy runs");
    if out.status.success() {
        Ok(())
    } else {
        Err(format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)))
    }
}

/// The HAProxy binaries every rendered config is checked with: the
/// system's, then those `scripts/haproxy-matrix` built (its cache, or
/// `LANDSCAPE_HAPROXY_MATRIX`), as (version, path).
pub fn haproxy_versions() -> &'static [(String, String)] {
    static VERSIONS: std::sync::OnceLock<Vec<(String, String)>> = std::sync::OnceLock::new();
    VERSIONS.get_or_init(|| {
        let version_of = |binary: &str| {
            let out = Command::new(binary).arg("-v").output().expect("haproxy runs");
            let text = String::from_utf8_lossy(&out.stdout).into_owned();
            text.split_whitespace().nth(2).unwrap_or("?").to_string()
        };
        let mut versions = vec![(version_of("haproxy"), "haproxy".to_string())];
        let dir = std::env::var("LANDSCAPE_HAPROXY_MATRIX")
            .unwrap_or_else(|_| "/var/cache/landscape-charm-haproxy/bin".to_string());
        let mut built: Vec<String> = std::fs::read_dir(&dir)
            .map(|entries| entries.flatten().map(|e| e.path().display().to_string()).collect())
            .unwrap_or_default();
        built.sort();
        versions.extend(built.into_iter().filter(|p| !p.ends_with(".tmp")).map(|p| (version_of(&p), p)));
        versions
    })
}

/// `haproxy -dW -c` on `config` with every binary of [`haproxy_versions`];
/// the first refusal, naming its version.
pub fn haproxy_check_every_version(config: &str) -> Result<(), String> {
    for (version, binary) in haproxy_versions() {
        haproxy_check_with(binary, config).map_err(|e| format!("HAProxy {version}: {e}"))?;
    }
    Ok(())
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Section {
    pub kind: String,
    pub name: String,
    /// Directive lines, trimmed, without blanks and comments.
    pub lines: Vec<String>,
}

/// Splits an HAProxy config into its sections.
pub fn parse_sections(config: &str) -> Vec<Section> {
    let mut sections: Vec<Section> = vec![];
    for raw in config.lines() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if !raw.starts_with(' ') && !raw.starts_with('\t') {
            let mut words = line.splitn(2, ' ');
            let kind = words.next().unwrap().to_string();
            let name = words.next().unwrap_or_default().trim().to_string();
            sections.push(Section { kind, name, lines: vec![] });
        } else if let Some(section) = sections.last_mut() {
            section.lines.push(line.split_whitespace().collect::<Vec<_>>().join(" "));
        }
    }
    sections
}

/// A certificate authority for tests, standing in for a tls-certificates
/// provider: it signs CSRs into real certificates with chosen validity.
pub struct TestCa {
    key: rcgen::KeyPair,
    params: rcgen::CertificateParams,
    pub pem: String,
}

impl TestCa {
    pub fn new(name: &str) -> Self {
        let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        let mut params = rcgen::CertificateParams::default();
        params.distinguished_name.push(rcgen::DnType::CommonName, name);
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params.key_usages = vec![rcgen::KeyUsagePurpose::KeyCertSign, rcgen::KeyUsagePurpose::CrlSign];
        let pem = params.self_signed(&key).unwrap().pem().trim().to_string();
        Self { key, params, pem }
    }

    /// Signs `csr_pem`, valid from `started_days_ago` days ago for `days` days.
    pub fn sign(&self, csr_pem: &str, started_days_ago: i64, days: i64) -> String {
        let mut csr = rcgen::CertificateSigningRequestParams::from_pem(csr_pem).unwrap();
        let start = time::OffsetDateTime::now_utc() - time::Duration::days(started_days_ago);
        csr.params.not_before = start;
        csr.params.not_after = start + time::Duration::days(days);
        let issuer = rcgen::Issuer::new(self.params.clone(), &self.key);
        csr.signed_by(&issuer).unwrap().pem().trim().to_string()
    }

    /// The provider application databag the Python library writes for one
    /// certificate (chain = [leaf, CA], as self-signed-certificates sends).
    pub fn provider_databag(&self, entries: &[(&str, &str)]) -> crate::harness::Databag {
        let list: Vec<serde_json::Value> = entries
            .iter()
            .map(|(csr, cert)| {
                serde_json::json!({"ca": self.pem, "certificate_signing_request": csr, "certificate": cert, "chain": [cert, self.pem]})
            })
            .collect();
        crate::harness::Databag::from([("certificates".to_string(), serde_json::Value::Array(list).to_string())])
    }
}

/// The CSRs a unit published on TLS relation `rel`, as the Python provider reads them.
pub fn published_csrs(unit: &crate::harness::Unit, rel: u32) -> Vec<String> {
    let raw = unit.relation(rel).local_unit_data.get("certificate_signing_requests").cloned().unwrap_or_default();
    let entries: Vec<serde_json::Value> = serde_json::from_str(&raw).unwrap();
    entries
        .iter()
        .map(|e| {
            assert_eq!(e["ca"], serde_json::json!(false));
            e["certificate_signing_request"].as_str().unwrap().to_string()
        })
        .collect()
}

/// The provider on `rel` signs the unit's current CSR and answers.
pub fn issue_certificate(
    unit: &mut crate::harness::Unit,
    rel: u32,
    ca: &TestCa,
    started_days_ago: i64,
    days: i64,
) -> String {
    let csr = published_csrs(unit, rel).pop().expect("a CSR");
    let cert = ca.sign(&csr, started_days_ago, days);
    unit.state.relation_mut(rel).unwrap().remote_app_data = ca.provider_databag(&[(&csr, &cert)]);
    cert
}

/// The files under `dir` (a path in the repository) whose names end in
/// `.<ext>`, in subdirectories too when `deep`, sorted.
pub fn repo_files(dir: &str, ext: &str, deep: bool) -> Vec<PathBuf> {
    fn walk(dir: &Path, ext: &str, deep: bool, found: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
            let path = entry.unwrap().path();
            if path.is_dir() {
                if deep {
                    walk(&path, ext, deep, found);
                }
            } else if path.extension().is_some_and(|e| e == ext) {
                found.push(path);
            }
        }
    }
    let mut found = Vec::new();
    walk(&Path::new(env!("CARGO_MANIFEST_DIR")).join(dir), ext, deep, &mut found);
    found.sort();
    found
}
