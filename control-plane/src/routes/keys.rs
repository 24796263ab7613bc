//! `/api/v1/api-keys`: mint (the key is in the response once, only its hash is stored), list
//! and revoke API keys. Key changes republish the server snapshots the key is accepted by (all
//! of them for an unbound key), since those carry the hashes the edge accepts — frames only
//! ([`publish::republish_frames`]).

use axum::Json as Reply;
use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;
use sqlx::PgConnection;
use vane_core::{KeyScope, api_key_hash};

use super::{List, Page, Routes, applications, environments};
use crate::audit::{self, Entry};
use crate::auth::{Action, Caller, generate_key, parse_scope, scope_str};
use crate::error::{Error, Result};
use crate::json::{Json, Path, Query};
use crate::{AppState, access, publish};

pub fn router() -> Routes {
    Routes::new("api-keys")
        .get("/api-keys", "List API keys (never the keys themselves)", list)
        .post("/api-keys", "Create an API key (shown once)", create)
        .delete("/api-keys/{id}", "Revoke an API key", revoke)
}

#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct KeyInfo {
    pub id: String,
    pub name: String,
    /// The first characters of the key, to recognise it.
    pub prefix: String,
    pub scope: String,
    pub application: Option<String>,
    pub environment: Option<String>,
    pub created_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
}

/// A freshly minted key: the only time `key` is ever shown.
#[derive(Debug, Serialize)]
pub struct NewKey {
    pub key: String,
    #[serde(flatten)]
    pub info: KeyInfo,
}

/// Mints a key (optionally bound), republishes every snapshot and audits, in `conn`'s
/// transaction. Used by `POST /api/v1/api-keys` and `vane key create`.
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
    sqlx::query(
        "INSERT INTO api_keys (id, name, hash, prefix, scope, application_id, environment_id)
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(&id)
    .bind(name)
    .bind(api_key_hash(&key))
    .bind(key.chars().take(14).collect::<String>())
    .bind(scope_str(scope))
    .bind(&application_id)
    .bind(&environment_id)
    .execute(&mut *conn)
    .await?;
    // Only the server snapshots it is accepted by change (they carry the hashes of their keys).
    let streams = publish::Streams::of_key(application_id.as_deref(), environment_id.as_deref());
    publish::republish_frames(&mut *conn, streams).await?;
    publish::announce_keys(&mut *conn).await?;
    let info = find(&mut *conn, &id).await?;
    audit::record(
        &mut *conn,
        caller,
        Entry {
            entity_type: "api_key",
            entity_id: &id,
            entity_key: name,
            action: "create",
            before: None,
            after: serde_json::to_value(&info).ok(),
            version: None,
        },
    )
    .await?;
    Ok(NewKey { key, info })
}

async fn find(conn: &mut PgConnection, id: &str) -> Result<KeyInfo> {
    sqlx::query_as(
        "SELECT k.id, k.name, k.prefix, k.scope, a.key AS application, e.key AS environment, k.created_at, k.revoked_at
         FROM api_keys k LEFT JOIN applications a ON a.id = k.application_id
         LEFT JOIN environments e ON e.id = k.environment_id WHERE k.id = $1",
    )
    .bind(id)
    .fetch_optional(conn)
    .await?
    .ok_or_else(|| Error::NotFound(format!("API key '{id}' not found")))
}

async fn list(State(state): State<AppState>, caller: Caller, Query(page): Query<Page>) -> Result<Reply<List<KeyInfo>>> {
    access::everything(&caller, Action::Write)?;
    let (limit, offset) = page.resolve()?;
    let items: Vec<KeyInfo> = sqlx::query_as(
        "SELECT k.id, k.name, k.prefix, k.scope, a.key AS application, e.key AS environment, k.created_at, k.revoked_at
         FROM api_keys k LEFT JOIN applications a ON a.id = k.application_id
         LEFT JOIN environments e ON e.id = k.environment_id ORDER BY k.id LIMIT $1 OFFSET $2",
    )
    .bind(limit)
    .bind(offset)
    .fetch_all(&state.pool)
    .await?;
    let total: i64 = sqlx::query_scalar("SELECT count(*) FROM api_keys").fetch_one(&state.pool).await?;
    Ok(Reply(List { items, total, limit, offset }))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateKey {
    scope: String,
    #[serde(default)]
    name: String,
    application: Option<String>,
    environment: Option<String>,
}

async fn create(
    State(state): State<AppState>,
    caller: Caller,
    Json(body): Json<CreateKey>,
) -> Result<(StatusCode, Reply<NewKey>)> {
    access::everything(&caller, Action::Write)?;
    let scope = parse_scope(&body.scope)
        .ok_or_else(|| Error::invalid("scope", "must be \"admin\", \"read\", \"edge\" or \"client\""))?;
    if body.name.chars().count() > 256 {
        return Err(Error::invalid("name", "must be at most 256 characters"));
    }
    let mut tx = state.pool.begin().await?;
    let new = mint(&mut tx, Some(&caller), scope, &body.name, body.application.as_deref(), body.environment.as_deref())
        .await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, Reply(new)))
}

async fn revoke(State(state): State<AppState>, caller: Caller, Path(id): Path<String>) -> Result<StatusCode> {
    access::everything(&caller, Action::Write)?;
    let mut tx = state.pool.begin().await?;
    let before = find(&mut tx, &id).await?;
    if before.revoked_at.is_some() {
        return Ok(StatusCode::NO_CONTENT);
    }
    let (application_id, environment_id): (Option<String>, Option<String>) =
        sqlx::query_as("UPDATE api_keys SET revoked_at = now() WHERE id = $1 RETURNING application_id, environment_id")
            .bind(&id)
            .fetch_one(&mut *tx)
            .await?;
    let streams = publish::Streams::of_key(application_id.as_deref(), environment_id.as_deref());
    publish::republish_frames(&mut tx, streams).await?;
    publish::announce_keys(&mut tx).await?;
    audit::record(
        &mut tx,
        Some(&caller),
        Entry {
            entity_type: "api_key",
            entity_id: &id,
            entity_key: &before.name,
            action: "revoke",
            before: serde_json::to_value(&before).ok(),
            after: Some(json!({"revoked": true})),
            version: None,
        },
    )
    .await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}
