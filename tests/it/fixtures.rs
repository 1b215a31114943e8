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
    let file = tempfile::Builder::new().suffix(".cfg").tempfile().unwrap();
    std::fs::write(file.path(), config).unwrap();
    let out = Command::new("haproxy").args(["-dW", "-c", "-f"]).arg(file.path()).output().expect("haproxy runs");
    if out.status.success() {
        Ok(())
    } else {
        Err(format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)))
    }
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
