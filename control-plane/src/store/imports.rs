//! Bulk inserts of imported definitions: every row of a kind in one statement, carried as one
//! JSON document (a statement per flag made a 5,000-feature import 20,000 round trips).

use serde_json::Value;
use sqlx::PgConnection;

use crate::error::Result;

/// Which of these flag and segment keys the application already has (`flag <key>`,
/// `segment <key>`).
pub async fn taken(
    conn: &mut PgConnection,
    application_id: &str,
    flags: &[String],
    segments: &[String],
) -> Result<Vec<String>> {
    Ok(sqlx::query_scalar!(
        r#"SELECT 'flag ' || key AS "taken!" FROM flags WHERE application_id = $1 AND key = ANY($2)
         UNION ALL SELECT 'segment ' || key FROM segments WHERE application_id = $1 AND key = ANY($3)"#,
        application_id,
        flags,
        segments
    )
    .fetch_all(conn)
    .await?)
}

/// Inserts segments given as a JSON array of `{id, key, description, conditions, included,
/// excluded}`.
pub async fn insert_segments(conn: &mut PgConnection, application_id: &str, segments: &Value) -> Result<()> {
    sqlx::query!(
        "INSERT INTO segments (id, application_id, key, description, conditions, included, excluded)
         SELECT r.id, $1, r.key, r.description, r.conditions, r.included, r.excluded
         FROM jsonb_to_recordset($2) AS r(id text, key text, description text, conditions jsonb, included jsonb,
                                          excluded jsonb)",
        application_id,
        segments
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// Inserts flags given as a JSON array of `{id, key, type, variants, description, tags, enabled,
/// off_variant, disabled_off_variant, rules, default_serve, prerequisites, salt, definition}`:
/// the imported state (and its history entry) in `environment_id`, disabled everywhere else
/// (serving `disabled_off_variant`). Imported flags are server-only.
pub async fn insert_flags(
    conn: &mut PgConnection,
    application_id: &str,
    environment_id: &str,
    flags: &Value,
    actor: &str,
) -> Result<()> {
    sqlx::query!(
        "WITH r AS (
             SELECT * FROM jsonb_to_recordset($2) AS r(id text, key text, type text, variants jsonb, description text,
                 tags jsonb, enabled boolean, off_variant text, disabled_off_variant text, rules jsonb,
                 default_serve jsonb, prerequisites jsonb, salt text, definition jsonb)),
         inserted AS (
             INSERT INTO flags (id, application_id, key, type, variants, description, tags, client_visible)
             SELECT id, $1, key, type, variants, description, tags, false FROM r),
         elsewhere AS (
             INSERT INTO flag_states (flag_id, environment_id, enabled, off_variant, default_serve, salt)
             SELECT r.id, e.id, false, r.disabled_off_variant, r.default_serve, r.salt
             FROM r CROSS JOIN environments e WHERE e.id <> $3),
         here AS (
             INSERT INTO flag_states (flag_id, environment_id, enabled, off_variant, rules, default_serve,
                                      prerequisites, salt)
             SELECT id, $3, enabled, off_variant, rules, default_serve, prerequisites, salt FROM r)
         INSERT INTO flag_history (flag_id, environment_id, version, definition, actor)
         SELECT id, $3, 1, definition, $4 FROM r",
        application_id,
        flags,
        environment_id,
        actor
    )
    .execute(conn)
    .await?;
    Ok(())
}
