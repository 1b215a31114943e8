//! The unit's certificate signing requests: made as the Python requirer
//! makes them, and checked against what the unit wants and its key.

use std::net::IpAddr;

use rcgen::{CertificateParams, DistinguishedName, DnType, KeyPair, PublicKeyData, SanType};
use serde_json::{Value, json};
use x509_parser::certification_request::X509CertificationRequest;
use x509_parser::extensions::{GeneralName, ParsedExtension};
use x509_parser::prelude::FromDer;

use super::x509::{CertRequest, TlsError, pem_der};
use crate::juju::Databag;
use crate::juju::pyjson::dumps;

pub const CSRS_KEY: &str = "certificate_signing_requests";
/// x500UniqueIdentifier, which the Python library adds with a random uuid4.
const UNIQUE_ID_OID: [u64; 4] = [2, 5, 4, 45];

/// A PEM CSR for `request`, signed by `key`, stripped like the Python library's.
pub fn make_csr(request: &CertRequest, key: &KeyPair) -> Result<String, TlsError> {
    let mut params = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, request.common_name.as_str());
    dn.push(DnType::CustomDnType(UNIQUE_ID_OID.to_vec()), random_uuid4());
    params.distinguished_name = dn;
    params.subject_alt_names.push(SanType::IpAddress(request.ip));
    if let Some(dns) = &request.dns {
        params
            .subject_alt_names
            .push(SanType::DnsName(dns.clone().try_into().map_err(|e| TlsError::Crypto(format!("{e}")))?));
    }
    let csr = params.serialize_request(key).map_err(|e| TlsError::Crypto(e.to_string()))?;
    Ok(csr.pem().map_err(|e| TlsError::Crypto(e.to_string()))?.trim().to_string())
}

/// A random version 4 UUID, as text.
fn random_uuid4() -> String {
    let mut b = [0u8; 16];
    getrandom::fill(&mut b).expect("the OS has randomness");
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!("{}-{}-{}-{}-{}", &h[0..8], &h[8..12], &h[12..16], &h[16..20], &h[20..32])
}

/// What a CSR asks for, and with which key.
struct CsrFacts {
    common_name: Option<String>,
    ips: Vec<IpAddr>,
    dns: Vec<String>,
    public_key: Vec<u8>,
}

fn csr_facts(der: &[u8]) -> Option<CsrFacts> {
    let (_, csr) = X509CertificationRequest::from_der(der).ok()?;
    let info = &csr.certification_request_info;
    let cn = info.subject.iter_common_name().next().and_then(|cn| cn.as_str().ok()).map(str::to_string);
    let (mut ips, mut dns) = (vec![], vec![]);
    for ext in csr.requested_extensions().into_iter().flatten() {
        if let ParsedExtension::SubjectAlternativeName(san) = ext {
            for name in &san.general_names {
                match name {
                    GeneralName::IPAddress(bytes) => match bytes.len() {
                        4 => ips.push(IpAddr::from(<[u8; 4]>::try_from(*bytes).ok()?)),
                        16 => ips.push(IpAddr::from(<[u8; 16]>::try_from(*bytes).ok()?)),
                        _ => return None,
                    },
                    GeneralName::DNSName(d) => dns.push(d.to_string()),
                    _ => {}
                }
            }
        }
    }
    Some(CsrFacts { common_name: cn, ips, dns, public_key: info.subject_pki.raw.to_vec() })
}

/// Whether `csr_pem` asks for exactly `request` with our key.
pub fn csr_matches(csr_pem: &str, request: &CertRequest, key: &KeyPair) -> bool {
    let Some(facts) = pem_der(csr_pem).as_deref().and_then(csr_facts) else { return false };
    facts.common_name.as_deref() == Some(request.common_name.as_str())
        && facts.ips == [request.ip]
        && facts.dns == request.dns.iter().cloned().collect::<Vec<_>>()
        && facts.public_key == key.subject_public_key_info()
}

/// Our CSRs as published, from `certificate_signing_requests`.
pub fn published_csrs(own_unit: &Databag) -> Vec<String> {
    let Some(raw) = own_unit.get(CSRS_KEY) else { return vec![] };
    let Ok(Value::Array(entries)) = serde_json::from_str::<Value>(raw) else { return vec![] };
    entries
        .iter()
        .filter_map(|e| e.get("certificate_signing_request").and_then(Value::as_str).map(str::to_string))
        .collect()
}

/// The databag value for a single CSR, as the Python requirer writes it.
pub fn csrs_value(csr_pem: &str) -> String {
    let mut entry = serde_json::Map::new();
    entry.insert("certificate_signing_request".into(), json!(csr_pem));
    entry.insert("ca".into(), json!(false));
    dumps(&Value::Array(vec![Value::Object(entry)]))
}
