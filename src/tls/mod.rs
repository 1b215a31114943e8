//! The TLS part: this unit's certificate for HAProxy, through
//! `load-balancer-certificates` (tls-certificates v4, one certificate per
//! unit). [`reconcile`] keeps the CSR current and installs what the provider
//! issued for it; what it did travels to the HAProxy part as a
//! [`CertOutcome`], not through the disk.

mod x509;

use std::net::IpAddr;
use std::path::PathBuf;

pub use x509::*;

use crate::fsutil::{self, Owner};
use crate::haproxy::apply::{self, HAPROXY_USER};
use crate::host::Host;
use crate::juju::{Bag, Databag, LogLevel};

/// What the TLS part leaves for the HAProxy part.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertOutcome {
    /// The bundle HAProxy serves 443, 6554 and 50051 with; None: port 80 only.
    pub bundle: Option<PathBuf>,
    /// The bundle was installed or removed in this hook: HAProxy must reload
    /// even when its config text is the same.
    pub changed: bool,
}

impl CertOutcome {
    /// The bundle already in place, changed by nobody in this hook.
    pub fn in_place(paths: &crate::paths::Paths) -> Self {
        let pem = paths.haproxy_pem();
        CertOutcome { bundle: pem.exists().then_some(pem), changed: false }
    }
}

/// Keeps this unit's CSR current on `load-balancer-certificates` and
/// installs the certificate issued for it. `rel` is None when the relation
/// is absent, and `removed` when it is being torn down in this hook (the key
/// and bundle are forgotten then, so a re-added relation starts afresh).
pub fn reconcile(
    host: &Host<'_>,
    rel: Option<&TlsRelation>,
    removed: bool,
    unit_ip: Option<IpAddr>,
    hostname: Option<&str>,
) -> Result<CertOutcome, TlsError> {
    let changed = match (rel, unit_ip) {
        (None, _) => {
            if removed {
                forget(&host.paths)?;
                host.log(LogLevel::Info, "load-balancer-certificates removed: forgot the key and the certificate");
            }
            removed
        }
        // Without an address there is nothing to ask for; the HAProxy part says why.
        (Some(_), None) => false,
        (Some(rel), Some(ip)) => keep_current(host, rel, CertRequest::new(hostname, ip))?,
    };
    Ok(CertOutcome { changed, ..CertOutcome::in_place(&host.paths) })
}

/// The CSR for `request` published, the certificate issued for it installed,
/// a renewal requested when due. Returns whether the installed bundle changed.
fn keep_current(host: &Host<'_>, rel: &TlsRelation, request: CertRequest) -> Result<bool, TlsError> {
    let key = load_or_create_key(&host.paths)?;
    let current = published_csrs(&rel.own_unit).into_iter().find(|csr| csr_matches(csr, &request, &key));
    let (mut changed, mut renew, mut problem) = (false, false, None);
    if let Some(csr) = &current {
        let now = now();
        match valid_issued(&rel.provider_app, csr, &key, now) {
            Ok(Some((_, checked))) => {
                changed = install(host, &checked, &key, &request)?;
                renew = needs_renewal(checked.validity, now);
                if renew {
                    let message = "the load balancer certificate has less than a third of its validity left; renewing";
                    host.log(LogLevel::Info, message);
                }
            }
            Ok(None) => {}
            Err(e) => problem = Some(e),
        }
    }
    if current.is_none() || renew {
        // The old certificate, if any, keeps serving until the new one arrives.
        let csr = make_csr(&request, &key)?;
        let data = Databag::from([(CSRS_KEY.to_string(), csrs_value(&csr))]);
        host.juju.relation_set(&rel.relation, &data, Bag::Unit)?;
        let message = format!("requested a load balancer certificate for {} ({})", request.common_name, request.ip);
        host.log(LogLevel::Info, &message);
    }
    match problem {
        Some(problem) => Err(TlsError::BadProviderData(problem)),
        None => Ok(changed),
    }
}

/// Writes the bundle HAProxy loads when it differs from the one in place.
fn install(host: &Host<'_>, checked: &Checked, key: &rcgen::KeyPair, request: &CertRequest) -> Result<bool, TlsError> {
    let owner = Owner::of_user(HAPROXY_USER)?;
    let bundle = bundle(checked, key);
    let pem = host.paths.haproxy_pem();
    if fsutil::is_current(&pem, bundle.as_bytes(), 0o600, owner) {
        return Ok(false);
    }
    // Owed before the rename, paid by this hook's HAProxy part or a later hook's.
    apply::owe_reload(&host.paths)?;
    fsutil::write_atomic(&pem, bundle.as_bytes(), 0o600, owner)?;
    host.log(LogLevel::Info, &format!("installed the load balancer certificate for {}", request.common_name));
    Ok(true)
}
