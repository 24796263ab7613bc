//! `audit_log` rows.

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;
use sqlx::PgConnection;

use super::Paged;
use crate::error::Result;

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AuditEntry {
    pub id: String,
    pub at: DateTime<Utc>,
    /// The id of the API key that made the change (`None`: the CLI, as the server's operator).
    pub actor: Option<String>,
    /// That key's name, while the key exists.
    pub actor_name: Option<String>,
    pub entity_type: String,
    pub entity_id: String,
    pub entity_key: String,
    pub action: String,
    pub before: Option<Value>,
    pub after: Option<Value>,
    pub version: Option<i64>,
}

/// What a new entry says (besides who: the key id of its actor).
#[derive(Debug)]
pub struct Entry<'a> {
    pub entity_type: &'a str,
    pub entity_id: &'a str,
    pub entity_key: &'a str,
    pub action: &'a str,
    pub before: Option<Value>,
    pub after: Option<Value>,
    pub version: Option<i64>,
}

pub async fn insert(conn: &mut PgConnection, actor: Option<&str>, e: Entry<'_>) -> Result<()> {
    sqlx::query!(
        "INSERT INTO audit_log (id, actor, entity_type, entity_id, entity_key, action, before, after, version)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        ulid::Ulid::new().to_string(),
        actor,
        e.entity_type,
        e.entity_id,
        e.entity_key,
        e.action,
        e.before,
        e.after,
        e.version
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// Which entries a query wants (`None` = any).
#[derive(Debug, Default)]
pub struct Filter<'a> {
    pub entity_type: Option<&'a str>,
    /// An entity's id or key; a flag's key also finds its states' entries (keyed `flag/environment`).
    pub entity: Option<&'a str>,
    pub action: Option<&'a str>,
    pub actor: Option<&'a str>,
    /// Entries at or after this instant.
    pub since: Option<DateTime<Utc>>,
    /// Entries before this instant.
    pub until: Option<DateTime<Utc>>,
}

/// A page of matching entries, newest first, and how many match.
pub async fn list(conn: &mut PgConnection, f: &Filter<'_>, (limit, offset): (i64, i64)) -> Paged<AuditEntry> {
    paged!(
        conn,
        sqlx::query_as!(
            AuditEntry,
            r#"SELECT a.id, a.at, a.actor, k.name AS "actor_name?", a.entity_type, a.entity_id, a.entity_key,
                a.action, a.before, a.after, a.version
         FROM audit_log a LEFT JOIN api_keys k ON k.id = a.actor
         WHERE ($1::text IS NULL OR a.entity_type = $1)
           AND ($2::text IS NULL OR a.entity_id = $2 OR a.entity_key = $2 OR starts_with(a.entity_key, $2 || '/'))
           AND ($3::text IS NULL OR a.action = $3) AND ($4::text IS NULL OR a.actor = $4)
           AND ($5::timestamptz IS NULL OR a.at >= $5) AND ($6::timestamptz IS NULL OR a.at < $6)
         ORDER BY a.at DESC, a.id DESC LIMIT $7 OFFSET $8"#,
            f.entity_type,
            f.entity,
            f.action,
            f.actor,
            f.since,
            f.until,
            limit,
            offset
        ),
        sqlx::query_scalar!(
            r#"SELECT count(*) AS "n!" FROM audit_log
         WHERE ($1::text IS NULL OR entity_type = $1)
           AND ($2::text IS NULL OR entity_id = $2 OR entity_key = $2 OR starts_with(entity_key, $2 || '/'))
           AND ($3::text IS NULL OR action = $3) AND ($4::text IS NULL OR actor = $4)
           AND ($5::timestamptz IS NULL OR at >= $5) AND ($6::timestamptz IS NULL OR at < $6)"#,
            f.entity_type,
            f.entity,
            f.action,
            f.actor,
            f.since,
            f.until
        )
    )
}
