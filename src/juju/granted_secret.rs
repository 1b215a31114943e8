//! A secret this application owns and grants to one relation, its id
//! published in the relation's bag: the debarchive's token, the task
//! handler's password. The bag is input too (another charm, an earlier
//! revision or an operator may have written it), so an id there that is no
//! secret of ours is replaced, and a secret whose id the bag lost is found
//! again by its label: a bad bag is repaired, never retried for ever.

use super::tools::SecretOwner;
use super::{Databag, HookToolError, HookTools, RelationId};

/// What [`ensure`] did, with the id to publish.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GrantedSecret {
    /// The published secret holds the content already.
    Unchanged(String),
    /// An existing secret of ours was given the content and granted.
    Updated(String),
    /// A new secret was made and granted.
    Created(String),
}

impl GrantedSecret {
    pub fn id(&self) -> &str {
        match self {
            GrantedSecret::Unchanged(id) | GrantedSecret::Updated(id) | GrantedSecret::Created(id) => id,
        }
    }
}

/// Makes sure the secret behind `published` (the id in the bag, if any)
/// holds `content` and is granted to `relation`. `content_changed` says
/// whether `content` differs from what this unit last put there (the
/// caller keeps a digest): without a change, nothing is called.
pub fn ensure(
    juju: &HookTools<'_>,
    relation: &RelationId,
    label: &str,
    content: &Databag,
    published: Option<&str>,
    content_changed: bool,
) -> Result<GrantedSecret, HookToolError> {
    if let Some(id) = published.filter(|id| crate::text::is_secret_uri(id)) {
        if !content_changed {
            return Ok(GrantedSecret::Unchanged(id.to_string()));
        }
        match set_and_grant(juju, id, content, relation) {
            Ok(()) => return Ok(GrantedSecret::Updated(id.to_string())),
            // Gone, or another application's: ours is made below.
            Err(e) if e.is_secret_unavailable() => {}
            Err(e) => return Err(e),
        }
    }
    match juju.secret_add(content, label, SecretOwner::Application) {
        Ok(id) => {
            juju.secret_grant(&id, relation)?;
            Ok(GrantedSecret::Created(id))
        }
        // The label is taken: ours, made before the bag lost its id.
        Err(add_error) => match juju.secret_info_get(label) {
            Ok((id, _)) => {
                let id = if id.starts_with("secret:") { id } else { format!("secret:{id}") };
                set_and_grant(juju, &id, content, relation)?;
                Ok(GrantedSecret::Updated(id))
            }
            Err(_) => Err(add_error),
        },
    }
}

fn set_and_grant(
    juju: &HookTools<'_>,
    id: &str,
    content: &Databag,
    relation: &RelationId,
) -> Result<(), HookToolError> {
    juju.secret_set(id, content)?;
    juju.secret_grant(id, relation)
}
