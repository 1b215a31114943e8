//! The mail relay part: postfix relays Landscape's mail through the `smtp`
//! relation's provider (smtp-integrator) or, without one, `smtp_relay_host`.
//!
//! From the relation it sets what makes the provider's settings take effect,
//! which the 26.04 charm left out: `relayhost`, SASL (`smtp_sasl_auth_enable`,
//! the password map, `noanonymous`) when the provider gives a user and a
//! password, and TLS as `transport_security` says (STARTTLS or wrapper mode,
//! the certificate verified unless `skip_ssl_verify`, TLS 1.2 at least). The
//! credentials go to `sasl_passwd` (0600) and its `postmap` `.db` (0600).
//! When the relation goes, the keys it set go with it and the option's
//! relay (if any) is set again. The relation wins over the option, and the
//! status says so.
//!
//! A digest of what postfix was last reloaded with is kept in unit state,
//! and a debt on disk from just before its files change until it reloaded:
//! a hook killed in between leaves the next one to postmap and reload.

pub mod postfix;
pub mod settings;

use crate::fsutil::{self, FsError, Owner};
use crate::host::Host;
use crate::juju::{Bag, HookToolError, HookTools, LogLevel, RelationId};
use crate::status::{Explain, Status, StatusCollector, first_line};
use crate::system::{Cmd, CmdError};
use crate::unit_state::{StateKey, UnitState};

pub use settings::{SmtpSettings, TransportSecurity};

pub use crate::juju::metadata::SMTP_ENDPOINT;

/// Every main.cf key this part may set, in the order it writes them.
pub const MANAGED_KEYS: [&str; 9] = [
    "relayhost",
    "smtp_sasl_auth_enable",
    "smtp_sasl_password_maps",
    "smtp_sasl_security_options",
    "smtp_sasl_tls_security_options",
    "smtp_tls_security_level",
    "smtp_tls_wrappermode",
    "smtp_tls_mandatory_protocols",
    "smtp_tls_mandatory_ciphers",
];

/// The `smtp` relation as the hook read it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SmtpRelation {
    pub relation: RelationId,
    /// The provider's settings, or why they are unusable.
    pub settings: Result<Option<SmtpSettings>, String>,
}

/// Reads the provider's application bag and, when it names one, the
/// password's secret (a secret that cannot be read is a problem of the
/// relation's, named as such, not a failed hook).
pub fn observe(juju: &HookTools<'_>, broken: Option<&RelationId>) -> Result<Option<SmtpRelation>, HookToolError> {
    let Some(relation) = juju.live_relation(SMTP_ENDPOINT, broken)? else { return Ok(None) };
    let remote_app = juju.relation_remote_app(&relation)?;
    let bag = juju.relation_get_or_empty(&relation, &remote_app, Bag::App)?;
    let secret_password = match bag.get("password_id").map(|id| id.trim()) {
        None | Some("") => Ok(None),
        Some(id) if !crate::text::is_secret_uri(id) => {
            Err(format!("password_id is not a Juju secret URI: {}", crate::text::quoted(id)))
        }
        Some(id) => match juju.secret_get(Some(id), None, true) {
            Ok(content) => content
                .get("password")
                .cloned()
                .map(Some)
                .ok_or_else(|| "password_id's secret has no password".to_string()),
            // Gone or not granted: the provider's to fix. Anything else (the
            // tool could not run) is a fault for Juju to retry.
            Err(e) if e.is_secret_unavailable() => {
                Err(format!("password_id's secret cannot be read: {}", first_line(&e)))
            }
            Err(e) => return Err(e),
        },
    };
    let settings = secret_password.and_then(|password| settings::parse(&bag, password));
    Ok(Some(SmtpRelation { relation, settings }))
}

#[derive(Debug, thiserror::Error)]
pub enum SmtpError {
    #[error("smtp: {0}")]
    Provider(String),
    #[error("postfix configuration failed: {0}")]
    Postfix(String),
    #[error("postmap {path}: {source}")]
    Postmap {
        path: String,
        #[source]
        source: CmdError,
    },
    #[error(transparent)]
    Fs(#[from] FsError),
}

/// Bad provider data and a postfix that will not take its config block the
/// unit; files are faults for Juju to retry.
impl Explain for SmtpError {
    fn status(&self) -> Option<Status> {
        match self {
            SmtpError::Provider(_) | SmtpError::Postfix(_) | SmtpError::Postmap { .. } => {
                Some(Status::blocked(first_line(self)))
            }
            SmtpError::Fs(_) => None,
        }
    }
}

/// What postfix should be told: main.cf's managed keys and sasl_passwd.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Desired {
    pub keys: Vec<(&'static str, Option<String>)>,
    /// sasl_passwd's text; None removes it and its `.db`.
    pub sasl_passwd: Option<String>,
}

/// From the relation's settings, or the option's relay, or nothing. `owned`
/// is whether this part set the keys before (so that only then it removes
/// them: an operator's own SASL settings beside `smtp_relay_host` stay).
pub fn desired(relation: Option<&SmtpSettings>, option: Option<&str>, owned: bool) -> Option<Desired> {
    let set = |value: &str| Some(value.to_string());
    let Some(s) = relation else {
        if !owned {
            return option.map(|relay| Desired { keys: vec![("relayhost", set(relay))], sasl_passwd: None });
        }
        let keys = MANAGED_KEYS.iter().map(|k| (*k, if *k == "relayhost" { option.and_then(set) } else { None }));
        return Some(Desired { keys: keys.collect(), sasl_passwd: None });
    };
    let relay = s.relay();
    let sasl = s.sasl_credentials();
    let tls = s.security != TransportSecurity::None;
    let level = match (tls, s.skip_ssl_verify) {
        (false, _) => "may",
        (true, true) => "encrypt",
        (true, false) => "secure",
    };
    let keys = vec![
        ("relayhost", set(&relay)),
        ("smtp_sasl_auth_enable", set(if sasl.is_some() { "yes" } else { "no" })),
        ("smtp_sasl_password_maps", sasl.map(|_| "hash:/etc/postfix/sasl_passwd".to_string())),
        ("smtp_sasl_security_options", sasl.map(|_| "noanonymous".to_string())),
        ("smtp_sasl_tls_security_options", sasl.map(|_| "noanonymous".to_string())),
        ("smtp_tls_security_level", set(level)),
        ("smtp_tls_wrappermode", set(if s.security == TransportSecurity::Tls { "yes" } else { "no" })),
        ("smtp_tls_mandatory_protocols", tls.then(|| ">=TLSv1.2".to_string())),
        ("smtp_tls_mandatory_ciphers", tls.then(|| "high".to_string())),
    ];
    let sasl_passwd = sasl.map(|(user, password)| format!("{relay} {user}:{password}\n"));
    Some(Desired { keys, sasl_passwd })
}

/// The part: postfix as the relation or the option says, reloaded once per
/// change.
pub fn reconcile(
    host: &Host<'_>,
    relation: Option<&SmtpRelation>,
    option: Option<&str>,
    unit_state: &UnitState,
    status: &mut StatusCollector,
) -> Result<(), SmtpError> {
    let settings = match relation.map(|r| &r.settings) {
        Some(Err(problem)) => return Err(SmtpError::Provider(problem.clone())),
        Some(Ok(settings)) => settings.as_ref(),
        None => None,
    };
    if let (Some(s), Some(relay)) = (settings, option) {
        let message = format!("the smtp relation's relay {} is used, not smtp_relay_host ({relay})", s.relay());
        status.add(Status::active(message));
    }
    let owned = unit_state.contains(&StateKey::SmtpRelationKeys);
    let Some(wanted) = desired(settings, option, owned) else { return Ok(()) };
    apply(host, &wanted, unit_state)?;
    if settings.is_some() {
        host.stage_state(StateKey::SmtpRelationKeys, "set");
    } else if owned {
        host.stage_state_delete(StateKey::SmtpRelationKeys);
    }
    Ok(())
}

/// Writes main.cf and sasl_passwd, postmaps and reloads, unless postfix
/// already runs with exactly this.
fn apply(host: &Host<'_>, wanted: &Desired, unit_state: &UnitState) -> Result<(), SmtpError> {
    let main_cf = host.paths.postfix_main_cf();
    let Some(current) = fsutil::read_optional(&main_cf)? else {
        return Err(SmtpError::Postfix(format!("{} does not exist: is postfix installed?", main_cf.display())));
    };
    let (current, encoding) = crate::text::decode_file(&current);
    let text = postfix::apply(&current, &wanted.keys);
    let digest = fsutil::sha256_hex(&[text.as_bytes(), wanted.sasl_passwd.as_deref().unwrap_or_default().as_bytes()]);
    let owed = host.paths.postfix_reload_owed();
    let applied = unit_state.get(&StateKey::SmtpApplied) == Some(&digest);
    if text == current && applied && sasl_in_place(host, wanted) && !fsutil::is_owed(&owed) {
        return Ok(());
    }
    // Owed until postfix has reloaded: a hook killed in between (the digest
    // on record may already match, when only a file went missing) leaves
    // the postmap and the reload to the next one.
    fsutil::owe(&owed)?;
    let (mode, owner) = fsutil::mode_and_owner(&main_cf)?.unwrap_or((0o644, Owner::default()));
    fsutil::write_atomic(&main_cf, &crate::text::encode_file(&text, encoding), mode, owner)?;
    write_sasl_passwd(host, wanted.sasl_passwd.as_deref())?;
    host.cmds.run(&Cmd::new("systemctl", &["reload", "postfix"])).map_err(|e| SmtpError::Postfix(first_line(&e)))?;
    fsutil::pay(&owed)?;
    let relay = postfix::get(&text, "relayhost").filter(|r| !r.is_empty()).unwrap_or_else(|| "nothing".into());
    let sasl_note = if wanted.sasl_passwd.is_some() { ", with SASL" } else { "" };
    host.log(LogLevel::Info, &format!("postfix relays through {relay}{sasl_note}"));
    host.stage_state(StateKey::SmtpApplied, digest);
    Ok(())
}

/// sasl_passwd and its postmap'd .db, both root's alone, or neither.
fn write_sasl_passwd(host: &Host<'_>, line: Option<&str>) -> Result<(), SmtpError> {
    let (sasl, db) = (host.paths.postfix_sasl_passwd(), host.paths.postfix_sasl_passwd_db());
    let Some(line) = line else {
        fsutil::remove_optional(&sasl)?;
        fsutil::remove_optional(&db)?;
        return Ok(());
    };
    fsutil::write_atomic(&sasl, line.as_bytes(), 0o600, Owner::default())?;
    let postmap = Cmd::new("postmap", &[]).arg(sasl.display().to_string());
    host.cmds.run(&postmap).map_err(|source| SmtpError::Postmap { path: sasl.display().to_string(), source })?;
    // postmap makes the .db with the umask's mode: the passwords in it are
    // root's alone.
    if db.exists() {
        std::fs::set_permissions(&db, std::os::unix::fs::PermissionsExt::from_mode(0o600))
            .map_err(|e| FsError::new("set the mode of", &db, e))?;
    }
    Ok(())
}

/// sasl_passwd as wanted (present and 0600 with this text, or absent).
fn sasl_in_place(host: &Host<'_>, wanted: &Desired) -> bool {
    let path = host.paths.postfix_sasl_passwd();
    match &wanted.sasl_passwd {
        Some(text) => fsutil::is_current(&path, text.as_bytes(), 0o600, Owner::default()),
        None => !path.exists(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn relay(security: TransportSecurity, skip: bool, sasl: bool) -> SmtpSettings {
        SmtpSettings {
            host: "smtp.example".into(),
            port: 587,
            auth: if sasl { settings::AuthType::Plain } else { settings::AuthType::None },
            security,
            skip_ssl_verify: skip,
            user: Some("u".into()),
            password: Some("p".into()),
        }
    }

    fn key<'a>(d: &'a Desired, name: &str) -> Option<&'a str> {
        d.keys.iter().find(|(k, _)| *k == name).and_then(|(_, v)| v.as_deref())
    }

    #[test]
    fn sasl_and_tls_take_effect_as_the_provider_says() {
        let d = desired(Some(&relay(TransportSecurity::StartTls, false, true)), None, false).unwrap();
        assert_eq!(key(&d, "relayhost"), Some("[smtp.example]:587"));
        assert_eq!(key(&d, "smtp_sasl_auth_enable"), Some("yes"));
        assert_eq!(key(&d, "smtp_sasl_password_maps"), Some("hash:/etc/postfix/sasl_passwd"));
        assert_eq!(key(&d, "smtp_tls_security_level"), Some("secure"));
        assert_eq!(key(&d, "smtp_tls_wrappermode"), Some("no"));
        assert_eq!(d.sasl_passwd.as_deref(), Some("[smtp.example]:587 u:p\n"));
        let implicit = desired(Some(&relay(TransportSecurity::Tls, true, false)), None, false).unwrap();
        assert_eq!(
            (key(&implicit, "smtp_tls_wrappermode"), key(&implicit, "smtp_tls_security_level")),
            (Some("yes"), Some("encrypt"))
        );
        assert_eq!((key(&implicit, "smtp_sasl_auth_enable"), implicit.sasl_passwd.as_deref()), (Some("no"), None));
        let plain = desired(Some(&relay(TransportSecurity::None, false, false)), None, false).unwrap();
        assert_eq!(key(&plain, "smtp_tls_security_level"), Some("may"));
        assert_eq!(key(&plain, "smtp_tls_mandatory_protocols"), None);
    }

    #[test]
    fn without_the_relation_the_option_and_only_keys_of_ours_are_removed() {
        assert_eq!(desired(None, None, false), None, "never touched: left alone");
        let option_only = desired(None, Some("relay.internal"), false).unwrap();
        assert_eq!(option_only.keys, [("relayhost", Some("relay.internal".to_string()))]);
        let after_relation = desired(None, Some("relay.internal"), true).unwrap();
        assert_eq!(after_relation.keys.len(), MANAGED_KEYS.len());
        assert_eq!(key(&after_relation, "relayhost"), Some("relay.internal"));
        assert!(after_relation.keys.iter().filter(|(k, _)| *k != "relayhost").all(|(_, v)| v.is_none()));
    }
}
