//! `ssl_cert` and `ssl_key`: the certificate the legacy HAProxy charm's TLS
//! frontends serve, as the Python charm sent it over `website`. Used only by
//! the deprecated `website` bridge, so that a migration keeps the operator's
//! certificate in service until clients have moved; this charm's own
//! HAProxy takes its certificate from `load-balancer-certificates`.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use super::Reader;

/// What the legacy load balancer's TLS frontends serve.
#[derive(Clone, PartialEq, Eq, Default)]
pub enum LegacyCertificate {
    /// `DEFAULT`: the load balancer's own (its `ssl_cert` option).
    #[default]
    LoadBalancerDefault,
    /// base64 of the certificate, a line break, and the key: the `crts`
    /// entry the legacy charm writes to its PEM file.
    Pem(String),
}

/// Never the key, not even in a debug print.
impl std::fmt::Debug for LegacyCertificate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LegacyCertificate::LoadBalancerDefault => f.write_str("LoadBalancerDefault"),
            LegacyCertificate::Pem(_) => f.write_str("Pem(<redacted>)"),
        }
    }
}

impl LegacyCertificate {
    /// The `crts` entry.
    pub fn crt(&self) -> &str {
        match self {
            LegacyCertificate::LoadBalancerDefault => "DEFAULT",
            LegacyCertificate::Pem(b64) => b64,
        }
    }
}

/// The two options; a problem names the option, never its value.
pub(super) fn parse(r: &mut Reader<'_>) -> LegacyCertificate {
    let cert = r.string("ssl_cert").filter(|c| c.trim() != "DEFAULT");
    let key = r.string("ssl_key");
    let Some(cert) = cert else { return LegacyCertificate::LoadBalancerDefault };
    let decode = |text: &str| STANDARD.decode(text.split_whitespace().collect::<String>()).ok();
    let Some(key) = key else {
        r.problem("ssl_cert", "is set but ssl_key is not (both are base64 PEM)");
        return LegacyCertificate::LoadBalancerDefault;
    };
    let cert_pem = decode(&cert).filter(|pem| contains(pem, b"-----BEGIN CERTIFICATE-----"));
    let key_pem = decode(&key).filter(|pem| contains(pem, b"PRIVATE KEY-----"));
    match (cert_pem, key_pem) {
        (Some(mut pem), Some(key)) => {
            pem.push(b'\n');
            pem.extend_from_slice(&key);
            LegacyCertificate::Pem(STANDARD.encode(pem))
        }
        (None, _) => {
            r.problem("ssl_cert", "must be a base64-encoded PEM certificate");
            LegacyCertificate::LoadBalancerDefault
        }
        (_, None) => {
            r.problem("ssl_key", "must be a base64-encoded PEM private key");
            LegacyCertificate::LoadBalancerDefault
        }
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::CharmConfig;

    fn parse(cert: &str, key: &str) -> Result<LegacyCertificate, String> {
        let raw = serde_json::json!({"ssl_cert": cert, "ssl_key": key});
        CharmConfig::parse(raw.as_object().cloned().unwrap_or_default())
            .map(|c| c.legacy_certificate)
            .map_err(|e| e.to_string())
    }

    #[test]
    fn the_python_charms_encoding_and_never_the_key_in_a_message() {
        let cert = STANDARD.encode("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n");
        let key = STANDARD.encode("-----BEGIN PRIVATE KEY-----\nS3CRET\n-----END PRIVATE KEY-----\n");
        let LegacyCertificate::Pem(b64) = parse(&cert, &key).unwrap() else { panic!("a certificate") };
        let pem = String::from_utf8(STANDARD.decode(b64).unwrap()).unwrap();
        assert!(
            pem.starts_with("-----BEGIN CERTIFICATE-----")
                && pem.contains("END CERTIFICATE-----\n\n-----BEGIN PRIVATE")
        );
        assert_eq!(parse("DEFAULT", "").unwrap(), LegacyCertificate::LoadBalancerDefault);
        assert!(!format!("{:?}", parse(&cert, &key).unwrap()).contains("S3CRET"));
        let err = parse(&cert, &STANDARD.encode("S3CRET")).unwrap_err();
        assert!(err.contains("ssl_key") && !err.contains("S3CRET"), "{err}");
        assert!(parse(&cert, "").unwrap_err().contains("ssl_cert is set but ssl_key is not"));
        assert!(parse("not base64!", &key).unwrap_err().contains("ssl_cert must be"));
    }
}
