//! The keys the charm owns in `/etc/landscape/service.conf`.
//!
//! [`apply`] sets them on the operator's file through [`IniDocument`], so
//! comments and keys the charm does not own survive, and
//! `additional_service_config` is merged last: the operator has the final
//! word on every key.

use super::amqp::Broker;
use super::database::DbConnection;
use super::shared_secrets::SharedSecrets;
use crate::config::ports::{Ports, SERVICES};
use crate::config::{Identity, ServicePorts};
use crate::ini::{IniDocument, IniError};

/// Everything service.conf is computed from in one hook.
#[derive(Debug, Clone)]
pub struct ServiceConfInputs<'a> {
    pub ports: ServicePorts,
    pub workers: u16,
    /// `root_url`, or `https://<leader-ip>/` when unset; None until known.
    pub root_url: Option<String>,
    pub deployment_mode: &'a str,
    pub identity: &'a Identity,
    pub secrets: Option<SharedSecrets>,
    /// `localhost` on the leader, the leader's address elsewhere.
    pub package_search_host: Option<String>,
    pub db: Option<&'a DbConnection>,
    pub broker: Option<&'a Broker>,
    pub additional: Option<&'a IniDocument>,
}

const OPENID_KEYS: &[&str] = &["openid-provider-url", "openid-logout-url"];
const OIDC_KEYS: &[&str] = &["oidc-issuer", "oidc-client-id", "oidc-client-secret", "oidc-logout-url"];

/// Which names a service.conf uses. Landscape 25.10 renamed its sections
/// and keys (`[global] deployment-mode` is `[system] deployment_mode`, ...)
/// and reads the old names only until 26.10; `migrate-service-conf`
/// rewrites a file to the new ones. The charm writes the names the file
/// already uses, so that a migrated file stays migrated and no key is ever
/// in it under both names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Spelling {
    /// The names the 26.04 charm and the older Python charm write.
    Legacy,
    /// Landscape 25.10's names, for a file migrated to them.
    Current,
}

/// Sections only the current names have: one of them means a migrated file.
const CURRENT_ONLY_SECTIONS: [&str; 6] =
    ["system", "appserver", "message_server", "package_upload", "package_search", "job_handler"];

/// Old section → current section; sections not listed keep their name.
const SECTION_RENAMES: [(&str, &str); 11] = [
    ("global", "system"),
    ("landscape", "appserver"),
    ("message-server", "message_server"),
    ("package-upload", "package_upload"),
    ("package-search", "package_search"),
    ("async-frontend", "async_frontend"),
    ("job-handler", "job_handler"),
    ("load-shaper", "load_shaper"),
    ("hostagent-consumer", "hostagent_consumer"),
    ("hostagent-message-server", "hostagent_messenger"),
    ("ubuntu-installer-attach", "ubuntu_installer_attach"),
];

impl Spelling {
    pub fn of(doc: &IniDocument) -> Self {
        if doc.sections().iter().any(|s| CURRENT_ONLY_SECTIONS.contains(s)) {
            Spelling::Current
        } else {
            Spelling::Legacy
        }
    }

    /// Sets a charm-owned key under this spelling's name, and removes its
    /// other name: never both names of one key.
    fn set(self, doc: &mut IniDocument, section: &str, key: &str, value: &str) -> Result<(), IniError> {
        let (new_section, new_key) = self.name(section, key);
        // Landscape's tools, like the Python charm, read service.conf with
        // Python's ConfigParser, whose interpolation takes `%` as syntax (a
        // bare one raises, `%(x)s` is replaced): a value the charm writes may
        // not hold one, or it would be read as something else, or not at all.
        if value.contains('%') {
            let reason = "contains '%', which Landscape's configuration reader takes as interpolation";
            return Err(IniError::BadEntry { section: new_section, key: new_key, reason: reason.into() });
        }
        doc.set(&new_section, &new_key, value)?;
        if (new_section.as_str(), new_key.as_str()) != (section, key) {
            doc.remove(section, key);
        }
        Ok(())
    }

    fn remove(self, doc: &mut IniDocument, section: &str, key: &str) {
        let (new_section, new_key) = self.name(section, key);
        doc.remove(&new_section, &new_key);
        doc.remove(section, key);
    }

    /// `(section, key)` as this spelling writes them.
    pub fn name(self, section: &str, key: &str) -> (String, String) {
        match self {
            Spelling::Legacy => (section.to_string(), key.to_string()),
            Spelling::Current => {
                let section = SECTION_RENAMES.iter().find(|(old, _)| *old == section).map_or(section, |(_, new)| new);
                (section.to_string(), key.replace('-', "_"))
            }
        }
    }
}

/// The operator's `current` file with every charm-owned key set.
pub fn render(current: &str, inputs: &ServiceConfInputs<'_>) -> Result<String, IniError> {
    let mut doc = IniDocument::parse(current)?;
    apply(&mut doc, inputs)?;
    Ok(doc.to_string())
}

/// The `[landscape]` keys of the identity provider: those to set, and those
/// of the other kinds to remove (switching one off removes its keys).
fn identity_keys(identity: &Identity) -> (Vec<(&'static str, &str)>, Vec<&'static str>) {
    match identity {
        Identity::Builtin => (vec![], OPENID_KEYS.iter().chain(OIDC_KEYS).copied().collect()),
        Identity::OpenId { provider_url, logout_url } => (
            vec![("openid-provider-url", provider_url.as_str()), ("openid-logout-url", logout_url.as_str())],
            OIDC_KEYS.to_vec(),
        ),
        Identity::Oidc { issuer, client_id, client_secret, logout_url } => {
            let mut keys = vec![
                ("oidc-issuer", issuer.as_str()),
                ("oidc-client-id", client_id.as_str()),
                ("oidc-client-secret", client_secret.as_str()),
            ];
            let mut unwanted = OPENID_KEYS.to_vec();
            match logout_url {
                Some(url) => keys.push(("oidc-logout-url", url.as_str())),
                None => unwanted.push("oidc-logout-url"),
            }
            (keys, unwanted)
        }
    }
}

/// Sets every charm-owned key on `doc`.
pub fn apply(doc: &mut IniDocument, inputs: &ServiceConfInputs<'_>) -> Result<(), IniError> {
    let spelling = Spelling::of(doc);
    let workers = inputs.workers.to_string();
    for spec in SERVICES.iter().filter(|s| s.ports == Ports::PerWorker) {
        spelling.set(doc, spec.section, "workers", &workers)?;
    }
    spelling.set(doc, "global", "deployment-mode", inputs.deployment_mode)?;
    // Landscape 26.04 reads each service's first port from here; older
    // releases ignore the keys. HAProxy and the scrape jobs use the same values.
    for spec in &SERVICES {
        spelling.set(doc, spec.section, "base_port", &inputs.ports.base(spec.service).to_string())?;
    }
    if let Some(url) = &inputs.root_url {
        for section in ["global", "api", "package-upload"] {
            spelling.set(doc, section, "root-url", url)?;
        }
    }
    let (wanted, unwanted) = identity_keys(inputs.identity);
    for key in unwanted {
        spelling.remove(doc, "landscape", key);
    }
    for (key, value) in wanted {
        spelling.set(doc, "landscape", key, value)?;
    }
    if let Some(secrets) = &inputs.secrets {
        spelling.set(doc, "landscape", "secret-token", &secrets.secret_token)?;
        spelling.set(doc, "api", "cookie-encryption-key", &secrets.cookie_encryption_key)?;
    }
    if let Some(host) = &inputs.package_search_host {
        spelling.set(doc, "package-search", "host", host)?;
    }
    apply_stores(doc, &spelling, inputs)?;
    if let Some(extra) = inputs.additional {
        doc.merge(extra)?;
    }
    Ok(())
}

/// The database's and the broker's addresses and credentials.
fn apply_stores(doc: &mut IniDocument, spelling: &Spelling, inputs: &ServiceConfInputs<'_>) -> Result<(), IniError> {
    if let Some(db) = inputs.db {
        spelling.set(doc, "stores", "host", &db.address())?;
        spelling.set(doc, "stores", "password", &db.stores_password)?;
        if db.tls {
            // What Landscape's outbox reads, and the task handler is given.
            spelling.set(doc, "stores", "sslmode", "require")?;
        }
        spelling.set(doc, "schema", "store_user", &db.user)?;
        spelling.set(doc, "schema", "store_password", &db.password)?;
    }
    if let Some(broker) = inputs.broker {
        spelling.set(doc, "broker", "host", &broker.host)?;
        spelling.set(doc, "broker", "password", &broker.password)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inputs<'a>(identity: &'a Identity, extra: Option<&'a IniDocument>) -> ServiceConfInputs<'a> {
        ServiceConfInputs {
            ports: ServicePorts::default(),
            workers: 3,
            root_url: Some("https://landscape.example/".into()),
            deployment_mode: "standalone",
            identity,
            secrets: None,
            package_search_host: Some("localhost".into()),
            db: None,
            broker: None,
            additional: extra,
        }
    }

    #[test]
    fn switching_identity_provider_removes_the_old_keys() {
        let old = "[landscape]\nopenid-provider-url = https://old/\n";
        let oidc = Identity::Oidc {
            issuer: "https://idp/".into(),
            client_id: "landscape".into(),
            client_secret: "s3cret".into(),
            logout_url: None,
        };
        let text = render(old, &inputs(&oidc, None)).unwrap();
        let doc = IniDocument::parse(&text).unwrap();
        assert_eq!(doc.get("landscape", "openid-provider-url"), None);
        assert_eq!(doc.get("landscape", "oidc-client-secret").as_deref(), Some("s3cret"));
        assert_eq!(render(&text, &inputs(&oidc, None)).unwrap(), text, "a second render changes nothing");
    }

    #[test]
    fn additional_config_has_the_last_word() {
        let extra = IniDocument::parse("[api]\nworkers = 9\n").unwrap();
        let mut doc = IniDocument::default();
        apply(&mut doc, &inputs(&Identity::Builtin, Some(&extra))).unwrap();
        assert_eq!(doc.get("api", "workers").as_deref(), Some("9"));
        assert_eq!(doc.get("landscape", "workers").as_deref(), Some("3"));
        assert_eq!(doc.get("package-upload", "root-url").as_deref(), Some("https://landscape.example/"));
    }

    #[test]
    fn a_migrated_file_gets_the_current_names_and_never_both() {
        // As migrate-service-conf leaves it, with one old key left behind.
        let migrated =
            "[system]\ndeployment_mode = standalone\n[appserver]\nworkers = 2\n[api]\nroot-url = https://old/\n";
        let text = render(migrated, &inputs(&Identity::Builtin, None)).unwrap();
        let doc = IniDocument::parse(&text).unwrap();
        assert_eq!(doc.get("system", "root_url").as_deref(), Some("https://landscape.example/"));
        assert_eq!(doc.get("api", "root_url").as_deref(), Some("https://landscape.example/"));
        assert_eq!(doc.get("api", "root-url"), None, "the old name is gone");
        assert_eq!(doc.get("appserver", "workers").as_deref(), Some("3"));
        assert_eq!(doc.get("message_server", "workers").as_deref(), Some("3"));
        assert_eq!(doc.get("package_upload", "root_url").as_deref(), Some("https://landscape.example/"));
        assert_eq!(doc.get("package_search", "host").as_deref(), Some("localhost"));
        assert_eq!(doc.get("ubuntu_installer_attach", "base_port").as_deref(), Some("53354"));
        for old in
            ["global", "landscape", "message-server", "package-upload", "package-search", "ubuntu-installer-attach"]
        {
            assert!(!doc.sections().contains(&old), "[{old}] written into a migrated file:\n{text}");
        }
        // An unmigrated file keeps the names it has.
        let legacy = render("[landscape]\nworkers = 2\n", &inputs(&Identity::Builtin, None)).unwrap();
        let doc = IniDocument::parse(&legacy).unwrap();
        assert_eq!(doc.get("global", "deployment-mode").as_deref(), Some("standalone"));
        assert!(!doc.sections().contains(&"system"));
    }
}
