//! `flags` (definitions shared by every environment), `flag_states` (one per flag and
//! environment) and `flag_history` rows.

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::{Value, json};
use sqlx::PgConnection;
use vane_core::Flag;

use super::Paged;
use crate::error::{Error, Result};

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct FlagRow {
    pub id: String,
    #[serde(skip)]
    pub application_id: String,
    pub key: String,
    #[serde(rename = "type")]
    pub flag_type: String,
    #[schema(value_type = Vec<vane_core::Variant>)]
    pub variants: Value,
    pub description: String,
    #[schema(value_type = Vec<String>)]
    pub tags: Value,
    pub client_visible: bool,
    pub archived: bool,
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct StateRow {
    #[serde(skip)]
    pub environment_id: String,
    /// The environment's key.
    #[serde(skip)]
    pub environment: String,
    pub enabled: bool,
    pub off_variant: Option<String>,
    #[schema(value_type = Vec<vane_core::Rule>)]
    pub rules: Value,
    #[schema(value_type = vane_core::Serve)]
    #[serde(rename = "default")]
    pub default_serve: Value,
    #[schema(value_type = Vec<vane_core::Prerequisite>)]
    pub prerequisites: Value,
    pub salt: String,
    pub version: i64,
    pub updated_at: DateTime<Utc>,
}

/// The engine's view of a flag in one environment.
pub fn model(flag: &FlagRow, state: &StateRow) -> Result<Flag> {
    serde_json::from_value(json!({
        "key": flag.key, "type": flag.flag_type, "variants": flag.variants, "description": flag.description,
        "tags": flag.tags, "enabled": state.enabled, "off_variant": state.off_variant, "rules": state.rules,
        "default": state.default_serve, "prerequisites": state.prerequisites, "salt": state.salt,
        "version": state.version,
    }))
    .map_err(|e| Error::Internal(format!("stored flag '{}' does not read back: {e}", flag.key)))
}

/// `query_as!` into [`FlagRow`]: its columns, then the rest of the statement.
macro_rules! select {
    ($rest:literal $(+ $more:literal)* $(, $arg:expr)* $(,)?) => {
        sqlx::query_as!(
            FlagRow,
            "SELECT id, application_id, key, type AS flag_type, variants, description, tags, client_visible,
                    archived, version, created_at, updated_at FROM flags " + $rest $(+ $more)*
            $(, $arg)*
        )
    };
}

/// `query_as!` into [`StateRow`] (`s` = flag_states, `e` = environments): its columns, then the
/// rest of the statement.
macro_rules! select_state {
    ($rest:literal $(+ $more:literal)* $(, $arg:expr)* $(,)?) => {
        sqlx::query_as!(
            StateRow,
            "SELECT s.environment_id, e.key AS environment, s.enabled, s.off_variant, s.rules, s.default_serve,
                    s.prerequisites, s.salt, s.version, s.updated_at
             FROM flag_states s JOIN environments e ON e.id = s.environment_id " + $rest $(+ $more)*
            $(, $arg)*
        )
    };
}

find_in_application!(FlagRow);

/// The flags of an application named (by id or key) in `names`.
pub async fn find_many(conn: &mut PgConnection, application_id: &str, names: &[String]) -> Result<Vec<FlagRow>> {
    Ok(select!("WHERE application_id = $1 AND (id = ANY($2) OR key = ANY($2))", application_id, names)
        .fetch_all(conn)
        .await?)
}

/// Which of an application's flags a list wants (`None` = any).
#[derive(Debug, Default)]
pub struct Which<'a> {
    pub tag: Option<&'a str>,
    pub archived: Option<bool>,
    /// Text the key or the description contains, in any case.
    pub text: Option<&'a str>,
}

/// A page of an application's flags by key, narrowed by `which`, and how many match.
pub async fn list(
    conn: &mut PgConnection,
    application_id: &str,
    which: &Which<'_>,
    (limit, offset): (i64, i64),
) -> Paged<FlagRow> {
    let tag = which.tag.map(|t| json!([t]));
    let text = which.text.map(str::to_lowercase);
    paged!(
        conn,
        select!(
            "WHERE application_id = $1 AND ($2::jsonb IS NULL OR tags @> $2) AND ($3::boolean IS NULL OR archived = $3)
               AND ($4::text IS NULL OR strpos(lower(key), $4) > 0 OR strpos(lower(description), $4) > 0)
         ORDER BY key LIMIT $5 OFFSET $6",
            application_id,
            tag,
            which.archived,
            text,
            limit,
            offset
        ),
        sqlx::query_scalar!(
            r#"SELECT count(*) AS "n!" FROM flags WHERE application_id = $1 AND ($2::jsonb IS NULL OR tags @> $2)
           AND ($3::boolean IS NULL OR archived = $3)
           AND ($4::text IS NULL OR strpos(lower(key), $4) > 0 OR strpos(lower(description), $4) > 0)"#,
            application_id,
            tag,
            which.archived,
            text
        )
    )
}

/// A page of an application's live (unarchived) flags by key.
pub async fn list_live(
    conn: &mut PgConnection,
    application_id: &str,
    (limit, offset): (i64, i64),
) -> Result<Vec<FlagRow>> {
    Ok(select!(
        "WHERE application_id = $1 AND NOT archived ORDER BY key LIMIT $2 OFFSET $3",
        application_id,
        limit,
        offset
    )
    .fetch_all(conn)
    .await?)
}

/// A flag's state in every environment, by environment key.
pub async fn states(conn: &mut PgConnection, flag_id: &str) -> Result<Vec<StateRow>> {
    Ok(select_state!("WHERE s.flag_id = $1 ORDER BY e.key", flag_id).fetch_all(conn).await?)
}

/// A flag's state in one environment, locked until the transaction ends.
pub async fn lock_state(conn: &mut PgConnection, flag_id: &str, environment_id: &str) -> Result<Option<StateRow>> {
    Ok(select_state!("WHERE s.flag_id = $1 AND s.environment_id = $2 FOR UPDATE OF s", flag_id, environment_id)
        .fetch_optional(conn)
        .await?)
}

/// The states of several flags in one environment, locked in flag id order, by flag id.
pub async fn lock_states(
    conn: &mut PgConnection,
    flag_ids: &[String],
    environment_id: &str,
) -> Result<Vec<(String, StateRow)>> {
    let rows = sqlx::query!(
        "SELECT s.flag_id, s.environment_id, e.key AS environment, s.enabled, s.off_variant, s.rules,
                s.default_serve, s.prerequisites, s.salt, s.version, s.updated_at
         FROM flag_states s JOIN environments e ON e.id = s.environment_id
         WHERE s.flag_id = ANY($1) AND s.environment_id = $2 ORDER BY s.flag_id FOR UPDATE OF s",
        flag_ids,
        environment_id
    )
    .fetch_all(conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| {
            let state = StateRow {
                environment_id: r.environment_id,
                environment: r.environment,
                enabled: r.enabled,
                off_variant: r.off_variant,
                rules: r.rules,
                default_serve: r.default_serve,
                prerequisites: r.prerequisites,
                salt: r.salt,
                version: r.version,
                updated_at: r.updated_at,
            };
            (r.flag_id, state)
        })
        .collect())
}

/// What a new flag is made of.
#[derive(Debug)]
pub struct NewFlag<'a> {
    pub application_id: &'a str,
    pub key: &'a str,
    pub flag_type: &'a str,
    pub variants: Value,
    pub description: &'a str,
    pub tags: Value,
    pub client_visible: bool,
    /// Its state in every environment: disabled, serving `off_variant`, `default_serve` once enabled.
    pub off_variant: Option<&'a str>,
    pub default_serve: Value,
}

/// Inserts a flag and its (disabled) state in every environment.
pub async fn insert(conn: &mut PgConnection, new: NewFlag<'_>) -> Result<FlagRow> {
    let row = sqlx::query_as!(
        FlagRow,
        "INSERT INTO flags (id, application_id, key, type, variants, description, tags, client_visible)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
         RETURNING id, application_id, key, type AS flag_type, variants, description, tags, client_visible, archived,
                   version, created_at, updated_at",
        ulid::Ulid::new().to_string(),
        new.application_id,
        new.key,
        new.flag_type,
        new.variants,
        new.description,
        new.tags,
        new.client_visible
    )
    .fetch_one(&mut *conn)
    .await?;
    sqlx::query!(
        "INSERT INTO flag_states (flag_id, environment_id, enabled, off_variant, default_serve, salt)
         SELECT $1, id, false, $2, $3, $4 FROM environments",
        row.id,
        new.off_variant,
        new.default_serve,
        new.key
    )
    .execute(&mut *conn)
    .await?;
    Ok(row)
}

/// Records `definition` as the flag's version `version` in one environment (replacing what a
/// rolled-back transaction may have left under that number).
pub async fn record_history(
    conn: &mut PgConnection,
    flag_id: &str,
    environment_id: &str,
    version: i64,
    definition: &Value,
    actor: &str,
) -> Result<()> {
    sqlx::query!(
        "INSERT INTO flag_history (flag_id, environment_id, version, definition, actor) VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (flag_id, environment_id, version) DO UPDATE SET definition = EXCLUDED.definition",
        flag_id,
        environment_id,
        version,
        definition,
        actor
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// What a definition update sets (`None` keeps the stored value).
#[derive(Debug)]
pub struct Definition<'a> {
    pub variants: &'a Value,
    pub description: &'a str,
    pub tags: &'a Value,
    pub client_visible: Option<bool>,
    pub archived: Option<bool>,
}

/// Updates a flag's definition; every state gets a new version with it (the definition changed
/// in every environment).
pub async fn update_definition(conn: &mut PgConnection, id: &str, d: Definition<'_>) -> Result<FlagRow> {
    let row = sqlx::query_as!(
        FlagRow,
        "UPDATE flags SET variants = $2, description = $3, tags = $4, client_visible = COALESCE($5, client_visible),
                archived = COALESCE($6, archived), version = version + 1, updated_at = now()
         WHERE id = $1
         RETURNING id, application_id, key, type AS flag_type, variants, description, tags, client_visible, archived,
                   version, created_at, updated_at",
        id,
        d.variants,
        d.description,
        d.tags,
        d.client_visible,
        d.archived
    )
    .fetch_one(&mut *conn)
    .await?;
    sqlx::query!("UPDATE flag_states SET version = version + 1, updated_at = now() WHERE flag_id = $1", id)
        .execute(&mut *conn)
        .await?;
    Ok(row)
}

pub async fn delete(conn: &mut PgConnection, id: &str) -> Result<()> {
    sqlx::query!("DELETE FROM flags WHERE id = $1", id).execute(conn).await?;
    Ok(())
}

/// Keys of the application's other flags that name `flag_key` as a prerequisite in any
/// environment (only unarchived ones when `live_only`).
pub async fn dependants(
    conn: &mut PgConnection,
    application_id: &str,
    flag_id: &str,
    flag_key: &str,
    live_only: bool,
) -> Result<Vec<String>> {
    Ok(sqlx::query_scalar!(
        "SELECT DISTINCT f.key FROM flag_states s JOIN flags f ON f.id = s.flag_id
         WHERE f.application_id = $1 AND f.id <> $2 AND s.prerequisites @> $3 AND NOT (f.archived AND $4)
         ORDER BY f.key",
        application_id,
        flag_id,
        json!([{ "flag": flag_key }]),
        live_only
    )
    .fetch_all(conn)
    .await?)
}

/// Writes a state (as `after` has it) as the next version, with its history entry
/// (`definition`), in one round trip.
pub async fn write_state(
    conn: &mut PgConnection,
    flag_id: &str,
    after: &StateRow,
    definition: &Value,
    actor: &str,
) -> Result<StateRow> {
    Ok(sqlx::query_as!(
        StateRow,
        "WITH updated AS (
             UPDATE flag_states s SET enabled = $3, off_variant = $4, rules = $5, default_serve = $6,
                    prerequisites = $7, salt = $8, version = s.version + 1, updated_at = now()
             WHERE s.flag_id = $1 AND s.environment_id = $2
             RETURNING s.*),
         recorded AS (
             INSERT INTO flag_history (flag_id, environment_id, version, definition, actor)
             SELECT flag_id, environment_id, version, $9, $10 FROM updated
             ON CONFLICT (flag_id, environment_id, version) DO UPDATE SET definition = EXCLUDED.definition)
         SELECT u.environment_id, e.key AS environment, u.enabled, u.off_variant, u.rules, u.default_serve,
                u.prerequisites, u.salt, u.version, u.updated_at
         FROM updated u JOIN environments e ON e.id = u.environment_id",
        flag_id,
        after.environment_id,
        after.enabled,
        after.off_variant,
        after.rules,
        after.default_serve,
        after.prerequisites,
        after.salt,
        definition,
        actor
    )
    .fetch_one(conn)
    .await?)
}

/// Updates a flag's description, moving its version on.
pub async fn set_description(conn: &mut PgConnection, id: &str, description: &str) -> Result<FlagRow> {
    Ok(sqlx::query_as!(
        FlagRow,
        "UPDATE flags SET description = $2, version = version + 1, updated_at = now() WHERE id = $1
         RETURNING id, application_id, key, type AS flag_type, variants, description, tags, client_visible, archived,
                   version, created_at, updated_at",
        id,
        description
    )
    .fetch_one(conn)
    .await?)
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct HistoryEntry {
    pub version: i64,
    pub definition: Value,
    pub actor: Option<String>,
    pub at: DateTime<Utc>,
}

/// A page of a flag's versions in one environment, newest first, and how many there are.
pub async fn history(
    conn: &mut PgConnection,
    flag_id: &str,
    environment_id: &str,
    (limit, offset): (i64, i64),
) -> Paged<HistoryEntry> {
    paged!(
        conn,
        sqlx::query_as!(
            HistoryEntry,
            "SELECT version, definition, actor, at FROM flag_history WHERE flag_id = $1 AND environment_id = $2
         ORDER BY version DESC LIMIT $3 OFFSET $4",
            flag_id,
            environment_id,
            limit,
            offset
        ),
        sqlx::query_scalar!(
            r#"SELECT count(*) AS "n!" FROM flag_history WHERE flag_id = $1 AND environment_id = $2"#,
            flag_id,
            environment_id
        )
    )
}

/// The definition a flag had at `version` in one environment.
pub async fn definition_at(
    conn: &mut PgConnection,
    flag_id: &str,
    environment_id: &str,
    version: i64,
) -> Result<Option<Value>> {
    Ok(sqlx::query_scalar!(
        "SELECT definition FROM flag_history WHERE flag_id = $1 AND environment_id = $2 AND version = $3",
        flag_id,
        environment_id,
        version
    )
    .fetch_optional(conn)
    .await?)
}

/// A live flag's definition and its state in one environment, as one row, with the fingerprint
/// of the row versions it was read from (`crate::publish::model_cache`).
#[derive(Debug)]
pub struct StreamFlag {
    pub id: String,
    pub key: String,
    pub fingerprint: String,
    /// Not archived.
    pub live: bool,
    pub client_visible: bool,
    pub flag_type: String,
    pub variants: Value,
    pub description: String,
    pub tags: Value,
    pub enabled: bool,
    pub off_variant: Option<String>,
    pub rules: Value,
    pub default_serve: Value,
    pub prerequisites: Value,
    pub salt: String,
    pub version: i64,
}

/// `query_as!` into [`StreamFlag`] (`f` = flags, `s` = flag_states): its columns, then the
/// rest of the statement.
macro_rules! select_stream_flag {
    ($rest:literal $(+ $more:literal)* $(, $arg:expr)* $(,)?) => {
        sqlx::query_as!(
            StreamFlag,
            r#"SELECT f.id, f.key, f.xmin::text || ':' || f.ctid::text || '/' || s.xmin::text || ':' || s.ctid::text
                      AS "fingerprint!", NOT f.archived AS "live!", f.client_visible, f.type AS flag_type, f.variants,
                      f.description, f.tags, s.enabled, s.off_variant, s.rules, s.default_serve, s.prerequisites,
                      s.salt, s.version "# + $rest $(+ $more)*
            $(, $arg)*
        )
    };
}

/// Fingerprints of an application's live flags in one environment.
pub async fn fingerprints(
    conn: &mut PgConnection,
    application_id: &str,
    environment_id: &str,
) -> Result<Vec<crate::store::Fingerprint>> {
    Ok(sqlx::query_as!(
        crate::store::Fingerprint,
        r#"SELECT f.id, f.key,
                  f.xmin::text || ':' || f.ctid::text || '/' || s.xmin::text || ':' || s.ctid::text AS "fingerprint!"
           FROM flags f JOIN flag_states s ON s.flag_id = f.id
           WHERE f.application_id = $1 AND s.environment_id = $2 AND NOT f.archived"#,
        application_id,
        environment_id
    )
    .fetch_all(conn)
    .await?)
}

/// The given flags with their state in one environment.
pub async fn stream_flags(conn: &mut PgConnection, environment_id: &str, ids: &[String]) -> Result<Vec<StreamFlag>> {
    Ok(select_stream_flag!(
        "FROM flags f JOIN flag_states s ON s.flag_id = f.id WHERE f.id = ANY($1) AND s.environment_id = $2",
        ids,
        environment_id
    )
    .fetch_all(conn)
    .await?)
}

/// The application's flags whose definition or state in one environment the current transaction
/// wrote (their `updated_at` is its start time, `now()`), archived ones included; one round trip.
pub async fn written_now(
    conn: &mut PgConnection,
    application_id: &str,
    environment_id: &str,
) -> Result<Vec<StreamFlag>> {
    Ok(sqlx::query_as!(
        StreamFlag,
        r#"SELECT f.id AS "id!", f.key AS "key!",
                  f.xmin::text || ':' || f.ctid::text || '/' || s.xmin::text || ':' || s.ctid::text AS "fingerprint!",
                  NOT f.archived AS "live!", f.client_visible AS "client_visible!", f.type AS "flag_type!",
                  f.variants AS "variants!", f.description AS "description!", f.tags AS "tags!",
                  s.enabled AS "enabled!", s.off_variant, s.rules AS "rules!", s.default_serve AS "default_serve!",
                  s.prerequisites AS "prerequisites!", s.salt AS "salt!", s.version AS "version!"
           FROM flag_states s JOIN flags f ON f.id = s.flag_id
           WHERE s.environment_id = $2 AND s.updated_at = now() AND f.application_id = $1
           UNION ALL
           SELECT f.id, f.key, f.xmin::text || ':' || f.ctid::text || '/' || s.xmin::text || ':' || s.ctid::text,
                  NOT f.archived, f.client_visible, f.type, f.variants, f.description, f.tags, s.enabled,
                  s.off_variant, s.rules, s.default_serve, s.prerequisites, s.salt, s.version
           FROM flags f JOIN flag_states s ON s.flag_id = f.id AND s.environment_id = $2
           WHERE f.application_id = $1 AND f.updated_at = now() AND s.updated_at <> now()"#,
        application_id,
        environment_id
    )
    .fetch_all(conn)
    .await?)
}
