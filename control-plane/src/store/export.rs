//! `vane export`: every definition in the database as one JSON document, for backups, reviews
//! and diffs between environments or installations.
//!
//! The document holds applications, environments, flags (with their state in every
//! environment), segments, configs, the service registry and API keys. Entities refer to each
//! other by key (`application`, `environment`) as well as by id. Left out: API key hashes
//! (useless outside this database, and a key must be shown only once), published snapshots
//! (derived from the rest) and the audit log and histories (append-only records, queried through
//! the API). Secret configs stay sealed: `ciphertext` is exported, the value is not, so an
//! export never contains a secret in clear.

use serde_json::{Value, json};
use sqlx::PgConnection;

use crate::error::Result;

/// Format version of the export document.
pub const EXPORT_FORMAT: u32 = 1;

/// One list of the document: `jsonb_agg` of a statement (`NULL`, no rows: an empty list).
macro_rules! list {
    ($conn:expr, $sql:literal) => {
        sqlx::query_scalar!($sql).fetch_one(&mut *$conn).await?.unwrap_or_else(|| json!([]))
    };
}

/// The whole document, read in one repeatable-read, read-only transaction (one snapshot of the
/// database).
pub async fn consistent(pool: &sqlx::PgPool) -> Result<Value> {
    let mut tx = pool.begin().await?;
    sqlx::query!("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY").execute(&mut *tx).await?;
    let doc = export(&mut tx).await?;
    tx.commit().await?;
    Ok(doc)
}

/// The whole document, as `conn` sees the database.
pub async fn export(conn: &mut PgConnection) -> Result<Value> {
    let applications = list!(conn, "SELECT jsonb_agg(to_jsonb(a) ORDER BY a.key) FROM applications a");
    let environments = list!(conn, "SELECT jsonb_agg(to_jsonb(e) ORDER BY e.key) FROM environments e");
    let flags = list!(conn, "SELECT jsonb_agg(to_jsonb(f) - 'application_id' || jsonb_build_object(
                    'application', a.key,
                    'environments', (SELECT coalesce(jsonb_object_agg(e.key, to_jsonb(s) - 'flag_id' - 'environment_id'), '{}')
                                     FROM flag_states s JOIN environments e ON e.id = s.environment_id
                                     WHERE s.flag_id = f.id))
                ORDER BY a.key, f.key)
         FROM flags f JOIN applications a ON a.id = f.application_id");
    let segments = list!(
        conn,
        "SELECT jsonb_agg(to_jsonb(s) - 'application_id' || jsonb_build_object('application', a.key)
                ORDER BY a.key, s.key)
         FROM segments s JOIN applications a ON a.id = s.application_id"
    );
    let configs = list!(
        conn,
        "SELECT jsonb_agg(to_jsonb(c) - 'application_id' - 'environment_id'
                    || jsonb_build_object('application', a.key, 'environment', e.key)
                ORDER BY a.key, e.key, c.key)
         FROM configs c JOIN applications a ON a.id = c.application_id JOIN environments e ON e.id = c.environment_id"
    );
    let services = list!(conn, "SELECT jsonb_agg(to_jsonb(s) ORDER BY s.service_name) FROM services s");
    let api_keys = list!(
        conn,
        "SELECT jsonb_agg(to_jsonb(k) - 'hash' - 'application_id' - 'environment_id'
                    || jsonb_build_object('application', a.key, 'environment', e.key)
                ORDER BY k.id)
         FROM api_keys k LEFT JOIN applications a ON a.id = k.application_id
                         LEFT JOIN environments e ON e.id = k.environment_id"
    );
    let exported_at =
        sqlx::query_scalar!(r#"SELECT to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS "at!""#)
            .fetch_one(&mut *conn)
            .await?;
    Ok(json!({
        "vane_export": EXPORT_FORMAT,
        "exported_at": exported_at,
        "applications": applications,
        "environments": environments,
        "flags": flags,
        "segments": segments,
        "configs": configs,
        "services": services,
        "api_keys": api_keys,
    }))
}
