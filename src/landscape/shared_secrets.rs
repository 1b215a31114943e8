//! `secret-token` and `cookie-encryption-key`: the same on every unit.
//!
//! When config does not give them, the leader generates them once and keeps
//! them in a Juju secret owned by the application, whose URI it publishes in
//! the peer app databag (`shared-secret-id`). Every unit reads the secret.
//! The Python charm kept both values in plain peer data; when the leader finds
//! them there (after `juju refresh` from it), it moves them into the secret and
//! deletes them from the databag, so no session or cookie is invalidated.

use super::readiness::Readiness;
use super::{Inputs, LandscapeError};
use crate::host::Host;
use crate::juju::{Databag, HookToolError, HookTools, LogLevel};
use crate::peer_app::{PeerApp, PeerKey};

pub const SECRET_LABEL: &str = "landscape-shared-secrets";
pub const SECRET_TOKEN_KEY: &str = "secret-token";
pub const COOKIE_KEY_KEY: &str = "cookie-encryption-key";
const TOKEN_LENGTH: usize = 172;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SharedSecrets {
    pub secret_token: String,
    pub cookie_encryption_key: String,
}

#[derive(Debug, thiserror::Error)]
pub enum SharedSecretError {
    #[error(transparent)]
    HookTool(#[from] HookToolError),
    #[error("cannot generate random bytes: {0}")]
    Random(String),
}

fn random_bytes(n: usize) -> Result<Vec<u8>, SharedSecretError> {
    let mut bytes = vec![0u8; n];
    getrandom::fill(&mut bytes).map_err(|e| SharedSecretError::Random(e.to_string()))?;
    Ok(bytes)
}

/// 172 alphanumerics, as the Python charm made them (rejection sampling keeps
/// the distribution uniform).
fn generate_token() -> Result<String, SharedSecretError> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut out = String::with_capacity(TOKEN_LENGTH);
    while out.len() < TOKEN_LENGTH {
        for b in random_bytes(256)? {
            // 248 = 4 × 62: bytes above it would favour the first letters.
            if usize::from(b) < 248 && out.len() < TOKEN_LENGTH {
                out.push(ALPHABET[usize::from(b) % ALPHABET.len()] as char);
            }
        }
    }
    Ok(out)
}

/// URL-safe base64 of 32 random bytes (Python's `urlsafe_b64encode(os.urandom(32))`).
fn generate_cookie_key() -> Result<String, SharedSecretError> {
    use base64::Engine;
    Ok(base64::engine::general_purpose::URL_SAFE.encode(random_bytes(32)?))
}

fn from_content(content: &Databag) -> Option<SharedSecrets> {
    Some(SharedSecrets {
        secret_token: content.get(SECRET_TOKEN_KEY)?.clone(),
        cookie_encryption_key: content.get(COOKIE_KEY_KEY)?.clone(),
    })
}

/// What a hook found and did; the caller writes `peer_app_changes`.
#[derive(Debug, Default)]
pub struct Outcome {
    pub secrets: Option<SharedSecrets>,
    pub peer_app_changes: Vec<(PeerKey, String)>,
    pub created: bool,
}

/// The leader's side: find the secret, or create it (adopting the Python
/// charm's plain values when present), and make sure its URI is published.
pub fn leader_ensure(juju: &HookTools<'_>, peer_app: &PeerApp) -> Result<Outcome, SharedSecretError> {
    let mut outcome = Outcome::default();
    let (id, secrets) = find_existing(juju, peer_app)?;
    let (id, secrets) = match secrets {
        Some(secrets) => (id, secrets),
        None => {
            outcome.created = true;
            create(juju, peer_app, id)?
        }
    };
    let xid = |s: &str| s.rsplit(['/', ':']).next().unwrap_or(s).to_string();
    if peer_app.get(PeerKey::SharedSecretId).map(|p| xid(p)) != Some(xid(&id)) {
        outcome.peer_app_changes.push((PeerKey::SharedSecretId, id));
    }
    // The Python charm's plain copies go once they are in the secret.
    for key in [PeerKey::LegacySecretToken, PeerKey::LegacyCookieEncryptionKey] {
        if peer_app.contains(key) {
            outcome.peer_app_changes.push((key, String::new()));
        }
    }
    outcome.secrets = Some(secrets);
    Ok(outcome)
}

/// The secret's id (empty when there is none) and its values, when they are
/// complete. The published id is read directly; the label is looked up only
/// when there is none yet or it names a secret that is gone.
fn find_existing(
    juju: &HookTools<'_>,
    peer_app: &PeerApp,
) -> Result<(String, Option<SharedSecrets>), SharedSecretError> {
    let published = match peer_app.get(PeerKey::SharedSecretId).filter(|id| !id.is_empty()) {
        Some(id) => match juju.secret_get(Some(id), None, false) {
            Ok(content) => Some((id.clone(), from_content(&content))),
            Err(HookToolError::SecretNotFound { .. }) => None,
            Err(e) => return Err(e.into()),
        },
        None => None,
    };
    if let Some(found) = published {
        return Ok(found);
    }
    match juju.secret_info_get(SECRET_LABEL) {
        Ok((xid, _)) => {
            let content = juju.secret_get(Some(&xid), None, false)?;
            Ok((xid, from_content(&content)))
        }
        Err(HookToolError::SecretNotFound { .. }) => Ok((String::new(), None)),
        Err(e) => Err(e.into()),
    }
}

/// New values (the Python charm's plain ones when it left any) into the
/// secret `id`, or into a new one when `id` is empty.
fn create(juju: &HookTools<'_>, peer_app: &PeerApp, id: String) -> Result<(String, SharedSecrets), SharedSecretError> {
    let secrets = SharedSecrets {
        secret_token: match peer_app.get(PeerKey::LegacySecretToken) {
            Some(v) if !v.is_empty() => v.clone(),
            _ => generate_token()?,
        },
        cookie_encryption_key: match peer_app.get(PeerKey::LegacyCookieEncryptionKey) {
            Some(v) if !v.is_empty() => v.clone(),
            _ => generate_cookie_key()?,
        },
    };
    let content = Databag::from([
        (SECRET_TOKEN_KEY.to_string(), secrets.secret_token.clone()),
        (COOKIE_KEY_KEY.to_string(), secrets.cookie_encryption_key.clone()),
    ]);
    let id = if id.is_empty() {
        juju.secret_add(&content, SECRET_LABEL, crate::juju::tools::SecretOwner::Application)?
    } else {
        juju.secret_set(&id, &content)?;
        id
    };
    Ok((id, secrets))
}

/// A follower's side: read the secret the leader published, if any yet.
pub fn follower_read(juju: &HookTools<'_>, peer_app: &PeerApp) -> Result<Option<SharedSecrets>, SharedSecretError> {
    let Some(id) = peer_app.get(PeerKey::SharedSecretId) else { return Ok(None) };
    match juju.secret_get(Some(id), None, false) {
        Ok(content) => Ok(from_content(&content)),
        Err(HookToolError::SecretNotFound { .. }) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// Config values first; otherwise the ones the leader shares.
pub fn resolve(
    host: &Host<'_>,
    inputs: &Inputs<'_>,
    readiness: &mut Readiness,
) -> Result<Option<SharedSecrets>, LandscapeError> {
    let lc = &inputs.config.landscape;
    if let (Some(token), Some(key)) = (&lc.secret_token, &lc.cookie_encryption_key) {
        return Ok(Some(SharedSecrets { secret_token: token.clone(), cookie_encryption_key: key.clone() }));
    }
    if inputs.peers.relation.is_none() {
        readiness.wait(format!("{} (not joined yet)", crate::juju::metadata::PEER_ENDPOINT));
        return Ok(None);
    }
    let shared = if inputs.is_leader {
        let outcome = leader_ensure(&host.juju, &inputs.peers.app_data)?;
        if outcome.created {
            host.log(LogLevel::Info, "shared secret-token and cookie-encryption-key through a Juju secret");
        }
        for (key, value) in outcome.peer_app_changes {
            host.stage_peer_app(key, value);
        }
        outcome.secrets
    } else {
        follower_read(&host.juju, &inputs.peers.app_data)?
    };
    let Some(shared) = shared else {
        readiness
            .wait(format!("{} (the leader has not shared secret-token yet)", crate::juju::metadata::PEER_ENDPOINT));
        return Ok(None);
    };
    Ok(Some(SharedSecrets {
        secret_token: lc.secret_token.clone().unwrap_or(shared.secret_token),
        cookie_encryption_key: lc.cookie_encryption_key.clone().unwrap_or(shared.cookie_encryption_key),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_values_have_the_python_charms_shape() {
        let token = generate_token().unwrap();
        assert_eq!(token.len(), 172);
        assert!(token.chars().all(|c| c.is_ascii_alphanumeric()));
        assert_ne!(token, generate_token().unwrap());
        let key = generate_cookie_key().unwrap();
        assert_eq!(key.len(), 44);
        assert!(key.chars().all(|c| c.is_ascii_alphanumeric() || "-_=".contains(c)));
    }
}
