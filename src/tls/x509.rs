//! The TLS part's certificates: the relation as read, the unit's key,
//! the provider's certificates checked, and the bundle HAProxy loads (the
//! CSRs are in `csr.rs`), byte-compatible with the
//! `charmlibs-interfaces-tls-certificates` requirer. Everything but
//! `observe` and the key file is pure.
//!
//! The private key is ECDSA P-256: ring (through rcgen) generates it without
//! a C RSA implementation, every TLS client Landscape serves speaks it, HAProxy
//! and the Python provider accept it, and its handshakes are
//! cheaper than RSA 2048's. It is generated once per unit, kept root-only
//! (0600) under `/var/lib/landscape-server-charm/`, and thrown away only when
//! the relation goes, so a re-added relation starts with a new key.

use std::net::IpAddr;

use rcgen::{KeyPair, PKCS_ECDSA_P256_SHA256, PublicKeyData};
use serde_json::Value;
use x509_parser::certificate::X509Certificate;
use x509_parser::prelude::FromDer;

use crate::fsutil::{self, FsError, Owner};
use crate::juju::metadata::TLS_ENDPOINT;
use crate::juju::{Bag, Databag, HookToolError, HookTools, RelationId};
use crate::paths::Paths;

pub const CERTIFICATES_KEY: &str = "certificates";

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error(transparent)]
    Fs(#[from] FsError),
    #[error(transparent)]
    HookTool(#[from] HookToolError),
    #[error("cannot make a key or CSR: {0}")]
    Crypto(String),
    /// The provider's data or certificate is unusable: the operator must look.
    #[error("{TLS_ENDPOINT}: {0}")]
    BadProviderData(String),
}

/// The provider's certificate is unusable: blocked, and the last good one
/// keeps serving. Files, hook tools and crypto are faults to retry.
impl crate::status::Explain for TlsError {
    fn status(&self) -> Option<crate::status::Status> {
        match self {
            TlsError::BadProviderData(_) => Some(crate::status::Status::blocked(self.to_string())),
            TlsError::Fs(_) | TlsError::HookTool(_) | TlsError::Crypto(_) => None,
        }
    }
}

/// What this unit asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertRequest {
    pub common_name: String,
    pub ip: IpAddr,
    pub dns: Option<String>,
}

impl CertRequest {
    /// CN = the hostname of `root_url` if any, else the unit IP; SAN IP = the
    /// unit IP; SAN DNS = the hostname if any (the seed's rules).
    pub fn new(root_url_hostname: Option<&str>, unit_ip: IpAddr) -> Self {
        Self {
            common_name: root_url_hostname.map(str::to_string).unwrap_or_else(|| unit_ip.to_string()),
            ip: unit_ip,
            dns: root_url_hostname.map(str::to_string),
        }
    }
}

/// When a certificate is valid, as Unix seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Validity {
    pub not_before: i64,
    pub not_after: i64,
}

/// A certificate the provider issued for one of our CSRs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Issued {
    pub certificate: String,
    pub ca: String,
    pub chain: Vec<String>,
}

/// The relation as read at the start of the hook.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsRelation {
    pub relation: RelationId,
    pub own_unit: Databag,
    pub provider_app: Databag,
}

pub fn observe(
    juju: &HookTools<'_>,
    unit: &str,
    broken: Option<&RelationId>,
) -> Result<Option<TlsRelation>, HookToolError> {
    let Some(relation) = juju.live_relation(TLS_ENDPOINT, broken)? else { return Ok(None) };
    let remote_app = juju.relation_remote_app(&relation)?;
    let provider_app = juju.relation_get_or_empty(&relation, &remote_app, Bag::App)?;
    let own_unit = juju.relation_get_or_empty(&relation, unit, Bag::Unit)?;
    Ok(Some(TlsRelation { relation, own_unit, provider_app }))
}

// --- keys and CSRs -----------------------------------------------------------

/// This unit's key, if it has one that parses. A key found readable by
/// others (restored from a backup, copied by hand) is made 0600 root again.
pub fn load_key(paths: &Paths) -> Result<Option<KeyPair>, TlsError> {
    let path = paths.lb_private_key();
    let Some(pem) = fsutil::read_optional(&path)? else { return Ok(None) };
    // A no-op (no write) when the mode is already 0600.
    fsutil::write_atomic(&path, &pem, 0o600, Owner::default())?;
    Ok(KeyPair::from_pem(&String::from_utf8_lossy(&pem)).ok())
}

/// Loads this unit's key, or makes and stores one (0600, root).
pub fn load_or_create_key(paths: &Paths) -> Result<KeyPair, TlsError> {
    if let Some(key) = load_key(paths)? {
        return Ok(key);
    }
    let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).map_err(|e| TlsError::Crypto(e.to_string()))?;
    fsutil::write_atomic(&paths.lb_private_key(), key.serialize_pem().as_bytes(), 0o600, Owner::default())?;
    Ok(key)
}

/// Forgets the key and the installed bundle (the relation is gone).
pub fn forget(paths: &Paths) -> Result<(), TlsError> {
    fsutil::remove_optional(&paths.lb_private_key())?;
    fsutil::remove_optional(&paths.haproxy_pem())?;
    Ok(())
}

/// The DER of a PEM document's first block.
pub(super) fn pem_der(pem: &str) -> Option<Vec<u8>> {
    let (_, parsed) = x509_parser::pem::parse_x509_pem(pem.trim().as_bytes()).ok()?;
    Some(parsed.contents)
}

// --- certificates ------------------------------------------------------------

/// Validity of a certificate: (not_before, not_after) as Unix seconds, and its public key.
fn cert_facts(pem: &str) -> Option<(i64, i64, Vec<u8>, bool)> {
    let der = pem_der(pem)?;
    let (_, cert) = X509Certificate::from_der(&der).ok()?;
    let validity = cert.validity();
    Some((
        validity.not_before.timestamp(),
        validity.not_after.timestamp(),
        cert.public_key().raw.to_vec(),
        cert.is_ca(),
    ))
}

/// When the first certificate of a PEM bundle (the leaf, in ours) expires,
/// as Unix seconds.
pub fn leaf_not_after(bundle: &str) -> Option<i64> {
    cert_facts(bundle).map(|(_, not_after, _, _)| not_after)
}

pub use crate::system::unix_now as now;

/// Finds the provider's certificate for `csr_pem` (by DER equality: the
/// provider re-serialises PEMs). Revoked entries count as absent: the provider
/// re-issues the same CSR. `Err` when the data or the certificate is unusable.
pub fn find_issued(provider_app: &Databag, csr_pem: &str) -> Result<Option<Issued>, String> {
    let Some(raw) = provider_app.get(CERTIFICATES_KEY) else { return Ok(None) };
    let entries: Vec<Value> =
        serde_json::from_str(raw).map_err(|e| format!("{CERTIFICATES_KEY} is not a JSON list: {e}"))?;
    let ours = pem_der(csr_pem);
    for entry in entries {
        let field = |name: &str| entry.get(name).and_then(Value::as_str);
        let Some(csr) = field("certificate_signing_request") else { continue };
        if pem_der(csr) != ours || entry.get("revoked").and_then(Value::as_bool) == Some(true) {
            continue;
        }
        let certificate = field("certificate").ok_or("the entry for this unit's CSR has no certificate")?;
        let ca = field("ca").unwrap_or_default();
        let chain = match entry.get("chain") {
            None | Some(Value::Null) => vec![],
            Some(Value::Array(items)) => items
                .iter()
                .map(|i| i.as_str().map(str::to_string))
                .collect::<Option<_>>()
                .ok_or("chain holds a non-string")?,
            Some(_) => return Err("chain is not a list".into()),
        };
        return Ok(Some(Issued { certificate: certificate.to_string(), ca: ca.to_string(), chain }));
    }
    Ok(None)
}

/// How far ahead of this machine's clock a provider's may be: a certificate
/// whose notBefore is later than that is not valid yet, and is refused.
pub const ALLOWED_CLOCK_SKEW_SECS: i64 = 300;

/// The certificates of one provider field, as DER. Every PEM block in it must
/// be a CERTIFICATE that parses: a key, or any other block, is refused naming
/// the field, since the bundle is built from these and nothing else.
fn certificates_of(field: &str, text: &str) -> Result<Vec<Vec<u8>>, String> {
    let mut ders = vec![];
    for block in x509_parser::pem::Pem::iter_from_buffer(text.as_bytes()) {
        let block = block.map_err(|_| format!("{field} holds a block that is not valid PEM"))?;
        if block.label != "CERTIFICATE" {
            return Err(format!("{field} holds a {} block, not only certificates", crate::text::quoted(&block.label)));
        }
        X509Certificate::from_der(&block.contents)
            .map_err(|_| format!("{field} holds a certificate that does not parse"))?;
        ders.push(block.contents);
    }
    if ders.is_empty() {
        return Err(format!("{field} holds no PEM certificate"));
    }
    Ok(ders)
}

/// A certificate checked for this unit: its validity and the certificates of
/// the bundle (leaf first, then the chain without repeats), as DER.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checked {
    pub validity: Validity,
    pub certificates: Vec<Vec<u8>>,
}

/// Checks an issued certificate against our key and the clock.
pub fn check_issued(issued: &Issued, key: &KeyPair, now: i64) -> Result<Checked, String> {
    let (not_before, not_after, spki, is_ca) =
        cert_facts(&issued.certificate).ok_or("the certificate for this unit does not parse")?;
    let leaf = certificates_of("certificate", &issued.certificate)?;
    if leaf.len() != 1 {
        return Err(format!("certificate holds {} certificates, not one", leaf.len()));
    }
    if spki != key.subject_public_key_info() {
        return Err("the certificate for this unit does not match its private key".into());
    }
    if is_ca {
        return Err("the certificate for this unit is a CA certificate".into());
    }
    if now >= not_after {
        return Err("the certificate for this unit has expired".into());
    }
    if not_before > now + ALLOWED_CLOCK_SKEW_SECS {
        return Err(format!(
            "the certificate for this unit is not valid yet (notBefore is {} s ahead)",
            not_before - now
        ));
    }
    let mut certificates = leaf;
    for (i, pem) in issued.chain.iter().enumerate() {
        for der in certificates_of(&format!("chain[{i}]"), pem)? {
            if !certificates.contains(&der) {
                certificates.push(der);
            }
        }
    }
    Ok(Checked { validity: Validity { not_before, not_after }, certificates })
}

/// A usable certificate for `csr_pem`: found in the provider's data and
/// checked against our key and the clock, with its (not_before, not_after).
pub fn valid_issued(
    provider_app: &Databag,
    csr_pem: &str,
    key: &KeyPair,
    now: i64,
) -> Result<Option<(Issued, Checked)>, String> {
    match find_issued(provider_app, csr_pem)? {
        Some(issued) => check_issued(&issued, key, now).map(|checked| Some((issued, checked))),
        None => Ok(None),
    }
}

/// The validity of the first certificate of an installed bundle, read from
/// the file itself (update-status checks it without a hook tool).
pub fn bundle_validity(bundle_pem: &str) -> Option<Validity> {
    let (not_before, not_after, _, _) = cert_facts(bundle_pem)?;
    Some(Validity { not_before, not_after })
}

/// Renew when less than a third of the validity is left.
pub fn needs_renewal(validity: Validity, now: i64) -> bool {
    let length = (validity.not_after - validity.not_before).max(1);
    (validity.not_after - now) * 3 < length
}

/// The HAProxy bundle: the checked certificates re-encoded from their DER
/// (never the provider's text), then our key, each block ending in a newline.
pub fn bundle(checked: &Checked, key: &KeyPair) -> String {
    use base64::Engine;
    let mut text = String::new();
    for der in &checked.certificates {
        let encoded = base64::engine::general_purpose::STANDARD.encode(der);
        text.push_str("-----BEGIN CERTIFICATE-----\n");
        for line in encoded.as_bytes().chunks(64) {
            text.push_str(&String::from_utf8_lossy(line));
            text.push('\n');
        }
        text.push_str("-----END CERTIFICATE-----\n");
    }
    text.push_str(key.serialize_pem().trim());
    text.push('\n');
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tls::csr::*;

    fn key() -> KeyPair {
        KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).unwrap()
    }

    #[test]
    fn csr_carries_the_request_and_a_fresh_unique_id() {
        let key = key();
        let request = CertRequest::new(Some("landscape.example.com"), "10.1.77.18".parse().unwrap());
        let a = make_csr(&request, &key).unwrap();
        let b = make_csr(&request, &key).unwrap();
        assert_ne!(a, b, "a renewal CSR must differ from the last one");
        assert!(csr_matches(&a, &request, &key));
        assert!(!a.ends_with('\n'));
        let other = CertRequest::new(None, "10.1.77.18".parse().unwrap());
        assert!(!csr_matches(&a, &other, &key));
        assert!(!csr_matches(&a, &request, &self::key()), "another key");
        assert_eq!(other.common_name, "10.1.77.18");
    }

    #[test]
    fn csrs_value_is_what_python_writes() {
        assert_eq!(csrs_value("PEM\nX"), r#"[{"certificate_signing_request": "PEM\nX", "ca": false}]"#);
    }

    #[test]
    fn renewal_starts_with_a_third_left() {
        let validity = Validity { not_before: 0, not_after: 90 };
        assert!(!needs_renewal(validity, 59));
        assert!(needs_renewal(validity, 61));
    }

    #[test]
    fn garbage_provider_data_is_an_error_naming_the_field() {
        let bag = Databag::from([(CERTIFICATES_KEY.to_string(), "{oops".to_string())]);
        assert!(find_issued(&bag, "x").unwrap_err().starts_with("certificates is not a JSON list"));
    }
}
