//! `segments` rows: reusable audiences shared by every environment of an application.

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::{Value, json};
use sqlx::PgConnection;
use vane_core::Segment;

use super::Paged;
use crate::error::{Error, Result};

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct SegmentRow {
    pub id: String,
    #[serde(skip)]
    pub application_id: String,
    pub key: String,
    pub description: String,
    #[schema(value_type = Vec<vane_core::Condition>)]
    pub conditions: Value,
    #[schema(value_type = Vec<String>)]
    pub included: Value,
    #[schema(value_type = Vec<String>)]
    pub excluded: Value,
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// The row version it was read from (`xmin:ctid`; see `crate::publish::model_cache`).
    #[serde(skip)]
    pub fingerprint: String,
}

/// The engine's view of a stored segment.
pub fn model(row: &SegmentRow) -> Result<Segment> {
    serde_json::from_value(json!({
        "key": row.key, "description": row.description, "conditions": row.conditions,
        "included": row.included, "excluded": row.excluded,
    }))
    .map_err(|e| Error::Internal(format!("stored segment '{}' does not read back: {e}", row.key)))
}

/// `query_as!` into [`SegmentRow`]: its columns, then the rest of the statement.
macro_rules! select {
    ($rest:literal $(+ $more:literal)* $(, $arg:expr)* $(,)?) => {
        sqlx::query_as!(
            SegmentRow,
            r#"SELECT id, application_id, key, description, conditions, included, excluded, version, created_at,
                      updated_at, xmin::text || ':' || ctid::text AS "fingerprint!" FROM segments "# + $rest $(+ $more)*
            $(, $arg)*
        )
    };
}

find_in_application!(SegmentRow);

/// Segments by id.
pub async fn by_ids(conn: &mut PgConnection, ids: &[String]) -> Result<Vec<SegmentRow>> {
    Ok(select!("WHERE id = ANY($1)", ids).fetch_all(conn).await?)
}

/// A page of an application's segments by key, and how many there are.
pub async fn list(conn: &mut PgConnection, application_id: &str, (limit, offset): (i64, i64)) -> Paged<SegmentRow> {
    paged!(
        conn,
        select!("WHERE application_id = $1 ORDER BY key LIMIT $2 OFFSET $3", application_id, limit, offset),
        sqlx::query_scalar!(r#"SELECT count(*) AS "n!" FROM segments WHERE application_id = $1"#, application_id)
    )
}

/// Writes a segment (`segment` carries its key and content): a new one (`id` `None`) in
/// `application_id`, or the existing one `id`, moving its version on. One statement for both.
pub async fn save(
    conn: &mut PgConnection,
    id: Option<&str>,
    application_id: &str,
    segment: &Segment,
) -> Result<SegmentRow> {
    Ok(sqlx::query_as!(
        SegmentRow,
        r#"INSERT INTO segments AS s (id, application_id, key, description, conditions, included, excluded)
         VALUES ($1, $2, $3, $4, $5, $6, $7)
         ON CONFLICT (id) DO UPDATE SET description = excluded.description, conditions = excluded.conditions,
             included = excluded.included, excluded = excluded.excluded, version = s.version + 1,
             updated_at = now()
         RETURNING id, application_id, key, description, conditions, included, excluded, version, created_at,
                   updated_at, xmin::text || ':' || ctid::text AS "fingerprint!""#,
        id.map_or_else(|| ulid::Ulid::new().to_string(), str::to_owned),
        application_id,
        segment.key,
        segment.description,
        json!(segment.conditions),
        json!(segment.included),
        json!(segment.excluded)
    )
    .fetch_one(conn)
    .await?)
}

pub async fn delete(conn: &mut PgConnection, id: &str) -> Result<()> {
    sqlx::query!("DELETE FROM segments WHERE id = $1", id).execute(conn).await?;
    Ok(())
}

/// Fingerprints of an application's segments; only those the current transaction wrote (their
/// `updated_at` is its start time, `now()`) when `written_now`.
pub async fn fingerprints(
    conn: &mut PgConnection,
    application_id: &str,
    written_now: bool,
) -> Result<Vec<crate::store::Fingerprint>> {
    Ok(sqlx::query_as!(
        crate::store::Fingerprint,
        r#"SELECT id, key, xmin::text || ':' || ctid::text AS "fingerprint!" FROM segments
           WHERE application_id = $1 AND (NOT $2 OR updated_at = now())"#,
        application_id,
        written_now
    )
    .fetch_all(conn)
    .await?)
}
