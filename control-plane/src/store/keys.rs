//! `api_keys` rows: only a key's hash is stored, with its scope and binding.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::{PgConnection, PgExecutor};
use vane_core::KeyScope;

use super::Paged;
use crate::error::{Error, Result};

pub fn parse_scope(s: &str) -> Option<KeyScope> {
    Some(match s {
        "admin" => KeyScope::Admin,
        "read" => KeyScope::Read,
        "edge" => KeyScope::Edge,
        "client" => KeyScope::Client,
        _ => return None,
    })
}

pub fn scope_str(s: KeyScope) -> &'static str {
    match s {
        KeyScope::Admin => "admin",
        KeyScope::Read => "read",
        KeyScope::Edge => "edge",
        KeyScope::Client => "client",
    }
}

/// What an unrevoked key grants: its scope and binding (`crate::domain::authz::Caller`, which
/// authorises with it).
#[derive(Debug, Clone)]
pub struct Grant {
    pub key_id: String,
    pub scope: KeyScope,
    pub application_id: Option<String>,
    pub environment_id: Option<String>,
    /// Signed in through a console session (not a key sent with the request): secret configs
    /// are shown masked, and only an audited reveal shows one.
    pub console: bool,
}

impl Grant {
    /// A grant from a key's stored columns (its scope as text).
    pub fn of(
        key_id: String,
        scope: &str,
        application_id: Option<String>,
        environment_id: Option<String>,
    ) -> Result<Self> {
        let scope = parse_scope(scope).ok_or_else(|| Error::Internal(format!("bad scope {scope}")))?;
        Ok(Grant { key_id, scope, application_id, environment_id, console: false })
    }
}

/// The unrevoked key with this hash.
pub async fn grant(conn: impl PgExecutor<'_>, hash: &str) -> Result<Option<Grant>> {
    let Some(row) = sqlx::query!(
        "SELECT id, scope, application_id, environment_id FROM api_keys WHERE hash = $1 AND revoked_at IS NULL",
        hash
    )
    .fetch_optional(conn)
    .await?
    else {
        return Ok(None);
    };
    Grant::of(row.id, &row.scope, row.application_id, row.environment_id).map(Some)
}

/// A key as the API lists it (never the key itself).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
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

/// `query_as!` into [`KeyInfo`]: its columns, then the rest of the statement.
macro_rules! select_info {
    ($rest:literal $(+ $more:literal)* $(, $arg:expr)* $(,)?) => {
        sqlx::query_as!(
            KeyInfo,
            r#"SELECT k.id, k.name, k.prefix, k.scope, a.key AS "application?", e.key AS "environment?", k.created_at,
                      k.revoked_at
               FROM api_keys k LEFT JOIN applications a ON a.id = k.application_id
               LEFT JOIN environments e ON e.id = k.environment_id "# + $rest $(+ $more)*
            $(, $arg)*
        )
    };
}

pub async fn find(conn: &mut PgConnection, id: &str) -> Result<KeyInfo> {
    select_info!("WHERE k.id = $1", id)
        .fetch_optional(conn)
        .await?
        .ok_or_else(|| Error::NotFound(format!("API key '{id}' not found")))
}

/// A page of keys by id, and how many there are.
pub async fn list(conn: &mut PgConnection, (limit, offset): (i64, i64)) -> Paged<KeyInfo> {
    paged!(
        conn,
        select_info!("ORDER BY k.id LIMIT $1 OFFSET $2", limit, offset),
        sqlx::query_scalar!(r#"SELECT count(*) AS "n!" FROM api_keys"#)
    )
}

/// What a new key is made of.
#[derive(Debug)]
pub struct NewKey<'a> {
    pub id: &'a str,
    pub name: &'a str,
    pub hash: &'a str,
    pub prefix: &'a str,
    pub scope: KeyScope,
    pub application_id: Option<&'a str>,
    pub environment_id: Option<&'a str>,
}

pub async fn insert(conn: &mut PgConnection, k: NewKey<'_>) -> Result<()> {
    sqlx::query!(
        "INSERT INTO api_keys (id, name, hash, prefix, scope, application_id, environment_id)
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
        k.id,
        k.name,
        k.hash,
        k.prefix,
        scope_str(k.scope),
        k.application_id,
        k.environment_id
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// Revokes a key; its binding `(application id, environment id)`.
pub async fn revoke(conn: &mut PgConnection, id: &str) -> Result<(Option<String>, Option<String>)> {
    let r = sqlx::query!(
        "UPDATE api_keys SET revoked_at = now() WHERE id = $1 RETURNING application_id, environment_id",
        id
    )
    .fetch_one(conn)
    .await?;
    Ok((r.application_id, r.environment_id))
}

/// An unrevoked key as snapshots carry it (the edge checks hashes), with its binding.
#[derive(Debug)]
pub struct Accepted {
    pub id: String,
    pub hash: String,
    pub scope: String,
    pub application_id: Option<String>,
    pub environment_id: Option<String>,
}

impl Accepted {
    /// Whether the key is accepted by the snapshots of `application_id` × `environment_id`.
    pub fn accepted_by(&self, application_id: &str, environment_id: &str) -> bool {
        self.application_id.as_deref().is_none_or(|a| a == application_id)
            && self.environment_id.as_deref().is_none_or(|e| e == environment_id)
    }
}

/// Every unrevoked key, by id.
pub async fn accepted(conn: &mut PgConnection) -> Result<Vec<Accepted>> {
    Ok(sqlx::query_as!(
        Accepted,
        "SELECT id, hash, scope, application_id, environment_id FROM api_keys WHERE revoked_at IS NULL ORDER BY id"
    )
    .fetch_all(conn)
    .await?)
}

/// The unrevoked keys accepted by `application_id` × `environment_id`, by id.
pub async fn accepted_by(conn: &mut PgConnection, application_id: &str, environment_id: &str) -> Result<Vec<Accepted>> {
    Ok(sqlx::query_as!(
        Accepted,
        "SELECT id, hash, scope, application_id, environment_id FROM api_keys WHERE revoked_at IS NULL
           AND (application_id IS NULL OR application_id = $1) AND (environment_id IS NULL OR environment_id = $2)
         ORDER BY id",
        application_id,
        environment_id
    )
    .fetch_all(conn)
    .await?)
}
