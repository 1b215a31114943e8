//! The TLS part: this unit's certificate for HAProxy, through
//! `load-balancer-certificates` (tls-certificates v4, one certificate per
//! unit). [`reconcile`] keeps the CSR current and installs what the provider
//! issued for it; what it did travels to the HAProxy part as a
//! [`CertOutcome`], not through the disk.

mod csr;
mod x509;

use std::net::IpAddr;
use std::path::PathBuf;

pub use csr::*;
pub use x509::*;

use crate::fsutil::{self, FsError, Owner};
use crate::host::Host;
use crate::juju::{Bag, Databag, LogLevel};
use crate::paths::HAPROXY_USER;

/// What the TLS part leaves for the HAProxy part.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertOutcome {
    /// The live bundle's path, which HAProxy's config names for 443, 6554
    /// and 50051; None: port 80 only.
    pub bundle: Option<PathBuf>,
    /// A new bundle, not live yet: the HAProxy part puts it in place once
    /// HAProxy has loaded it with the config that uses it.
    pub candidate: Option<PathBuf>,
    /// The bundle was removed in this hook: HAProxy must reload even when
    /// its config text is the same.
    pub removed: bool,
    /// When the certificate that serves once this hook is done expires
    /// (the candidate's, else the live one's), as Unix seconds: exported as
    /// a metric for the expiry alert.
    pub not_after: Option<i64>,
}

impl CertOutcome {
    /// The bundle already in place, changed by nobody in this hook.
    pub fn in_place(paths: &crate::paths::Paths) -> Result<Self, FsError> {
        let pem = paths.haproxy_pem();
        let not_after = not_after_of(&pem)?;
        Ok(CertOutcome { bundle: pem.exists().then_some(pem), candidate: None, removed: false, not_after })
    }
}

/// The expiry of the bundle at `path`: none when it is absent or holds no
/// certificate (HAProxy's check says the rest). A bundle that cannot be
/// read is an error: taken as absent, it would render a config without its
/// expiry, which neither the hook before nor this one meant.
fn not_after_of(path: &std::path::Path) -> Result<Option<i64>, FsError> {
    let Some(bytes) = fsutil::read_optional(path)? else { return Ok(None) };
    Ok(leaf_not_after(&String::from_utf8_lossy(&bytes)))
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
    let candidate = match (rel, unit_ip) {
        (None, _) => {
            if removed {
                forget(&host.paths)?;
                host.log(LogLevel::Info, "load-balancer-certificates removed: forgot the key and the certificate");
            }
            false
        }
        // Without an address there is nothing to ask for; the HAProxy part says why.
        (Some(_), None) => false,
        (Some(rel), Some(ip)) => keep_current(host, rel, CertRequest::new(hostname, ip))?,
    };
    let mut outcome = CertOutcome { removed: removed && rel.is_none(), ..CertOutcome::in_place(&host.paths)? };
    if candidate {
        outcome.bundle = Some(host.paths.haproxy_pem());
        outcome.not_after = not_after_of(&host.paths.haproxy_candidate_pem())?;
        outcome.candidate = Some(host.paths.haproxy_candidate_pem());
    } else {
        // One an interrupted hook left is not wanted any more.
        fsutil::remove_optional(&host.paths.haproxy_candidate_pem())?;
    }
    Ok(outcome)
}

/// The CSR for `request` published, the certificate issued for it made the
/// candidate bundle when it is not the live one, a renewal requested when
/// due. Returns whether there is a candidate.
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

/// Writes the candidate bundle when it differs from the live one; the
/// HAProxy part validates it and puts it in place.
fn install(host: &Host<'_>, checked: &Checked, key: &rcgen::KeyPair, request: &CertRequest) -> Result<bool, TlsError> {
    let owner = Owner::of_user(HAPROXY_USER)?;
    let bundle = bundle(checked, key);
    if fsutil::is_current(&host.paths.haproxy_pem(), bundle.as_bytes(), 0o600, owner) {
        return Ok(false);
    }
    fsutil::write_atomic(&host.paths.haproxy_candidate_pem(), bundle.as_bytes(), 0o600, owner)?;
    host.log(LogLevel::Info, &format!("received the load balancer certificate for {}", request.common_name));
    Ok(true)
}
