//! API keys: minted (the key is shown once, only its hash is stored), listed and revoked. Key
//! changes republish the server snapshots the key is accepted by (all of them for an unbound
//! key), since those carry the hashes the edge accepts — frames only
//! ([`publish::republish_frames`]).

use serde::{Deserialize, Serialize};
use serde_json::json;
use sqlx::PgConnection;
use vane_core::{KeyScope, api_key_hash};

use super::audit::{self, Entry};
use super::authz::{self, Action, Caller};
use super::memo::Memo;
use super::paging::{List, Page};
use super::vane::{Actor, Touched};
use crate::error::{Error, Result};
use crate::publish;
use crate::store::keys::{self as rows, KeyInfo, parse_scope, scope_str};
use crate::store::{applications, environments};

/// A freshly minted key: the only time `key` is ever shown.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct NewKey {
    pub key: String,
    #[serde(flatten)]
    pub info: KeyInfo,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"scope": "edge", "name": "edge in eu-west", "application": "checkout", "environment": "production"}))]
pub struct CreateKey {
    pub scope: String,
    #[serde(default)]
    pub name: String,
    pub application: Option<String>,
    pub environment: Option<String>,
}

/// A new random key: `vane_<scope>_<48 hex digits>` (192 bits of randomness).
pub fn generate_key(scope: KeyScope) -> String {
    use rand::RngCore;
    let mut bytes = [0u8; 24];
    rand::rng().fill_bytes(&mut bytes);
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!("vane_{}_{hex}", scope_str(scope))
}

/// The caller with this key: from memory when this process knows the key to be current (see
/// [`Memo`]), else from the database.
pub async fn authenticate(pool: &sqlx::PgPool, memo: &Memo, key: &str) -> Result<Caller> {
    let hash = api_key_hash(key);
    if let Some(caller) = memo.key(&hash) {
        return Ok(caller);
    }
    let epoch = memo.key_epoch();
    let caller = rows::grant(pool, &hash).await?.ok_or(Error::Unauthorized)?;
    memo.put_key(hash, caller.clone(), epoch);
    Ok(caller)
}

/// Every key (never the keys themselves): keys not bound to anything only.
pub async fn list(actor: &Actor, page: Page) -> Result<List<KeyInfo>> {
    let Actor { vane, caller } = actor;
    authz::everything(caller, Action::Write)?;
    let page = page.resolve()?;
    let mut conn = vane.pool.acquire().await?;
    Ok(List::of(rows::list(&mut conn, page).await?, page))
}

pub async fn create(actor: &Actor, body: CreateKey) -> Result<NewKey> {
    let Actor { vane, caller } = actor;
    authz::everything(caller, Action::Write)?;
    let scope = parse_scope(&body.scope)
        .ok_or_else(|| Error::invalid("scope", "must be \"admin\", \"read\", \"edge\" or \"client\""))?;
    if body.name.chars().count() > 256 {
        return Err(Error::invalid("name", "must be at most 256 characters"));
    }
    let mut tx = vane.begin().await?;
    let (application, environment) = (body.application.as_deref(), body.environment.as_deref());
    let new = mint(&mut tx, Some(caller), scope, &body.name, application, environment).await?;
    vane.commit(tx, Touched::KeysAndStreams).await?;
    Ok(new)
}

/// Mints a key (optionally bound), republishes the snapshots that accept it and audits, in
/// `conn`'s transaction. Used by `POST /api/v1/api-keys` and `vane key create`.
pub async fn mint(
    conn: &mut PgConnection,
    caller: Option<&Caller>,
    scope: KeyScope,
    name: &str,
    application: Option<&str>,
    environment: Option<&str>,
) -> Result<NewKey> {
    let application_id = match application {
        Some(a) => Some(applications::find(&mut *conn, a).await?.id),
        None => None,
    };
    let environment_id = match environment {
        Some(e) => Some(environments::find(&mut *conn, e).await?.id),
        None => None,
    };
    let key = generate_key(scope);
    let id = ulid::Ulid::new().to_string();
    let prefix: String = key.chars().take(14).collect();
    let new = rows::NewKey {
        id: &id,
        name,
        hash: &api_key_hash(&key),
        prefix: &prefix,
        scope,
        application_id: application_id.as_deref(),
        environment_id: environment_id.as_deref(),
    };
    rows::insert(&mut *conn, new).await?;
    // Only the server snapshots it is accepted by change (they carry the hashes of their keys).
    let streams = publish::Streams::of_key(application_id.as_deref(), environment_id.as_deref());
    publish::republish_frames(&mut *conn, streams).await?;
    publish::announce_keys(&mut *conn).await?;
    let info = rows::find(&mut *conn, &id).await?;
    let entry = Entry {
        entity_type: "api_key",
        entity_id: &id,
        entity_key: name,
        action: "create",
        before: None,
        after: serde_json::to_value(&info).ok(),
        version: None,
    };
    audit::record(&mut *conn, caller, entry).await?;
    Ok(NewKey { key, info })
}

/// Revokes a key (revoking a revoked key changes nothing).
pub async fn revoke(actor: &Actor, id: &str) -> Result<()> {
    let Actor { vane, caller } = actor;
    authz::everything(caller, Action::Write)?;
    let mut tx = vane.begin().await?;
    let before = rows::find(&mut tx, id).await?;
    if before.revoked_at.is_some() {
        return Ok(());
    }
    let (application_id, environment_id) = rows::revoke(&mut tx, id).await?;
    // Its console sessions end with it.
    crate::store::sessions::delete_for_key(&mut tx, id).await?;
    let streams = publish::Streams::of_key(application_id.as_deref(), environment_id.as_deref());
    publish::republish_frames(&mut tx, streams).await?;
    publish::announce_keys(&mut tx).await?;
    let entry = Entry {
        entity_type: "api_key",
        entity_id: id,
        entity_key: &before.name,
        action: "revoke",
        before: serde_json::to_value(&before).ok(),
        after: Some(json!({"revoked": true})),
        version: None,
    };
    audit::record(&mut tx, Some(caller), entry).await?;
    vane.commit(tx, Touched::KeysAndStreams).await
}
