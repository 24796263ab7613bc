//! `configs` (typed JSON values per application × environment × key; secrets as ciphertext)
//! and `config_history` rows.

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;
use sqlx::PgConnection;

use super::Paged;
use crate::error::Result;

/// A config's row. Its JSON (what the API shows with it) leaves out where it lives by id and
/// how its value is stored: a plain value, or a secret's ciphertext.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ConfigRow {
    pub id: String,
    #[serde(skip)]
    pub application_id: String,
    #[serde(skip)]
    pub environment_id: String,
    pub key: String,
    #[serde(skip)]
    pub value: Option<Value>,
    #[serde(skip)]
    pub ciphertext: Option<String>,
    pub value_type: String,
    pub schema: Option<Value>,
    pub description: String,
    pub secret: bool,
    pub client_visible: bool,
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// One stored version of a config.
#[derive(Debug)]
pub struct HistoryRow {
    pub version: i64,
    pub value: Option<Value>,
    pub ciphertext: Option<String>,
    pub value_type: String,
    pub schema: Option<Value>,
    pub description: String,
    pub actor: Option<String>,
    pub at: DateTime<Utc>,
}

/// A config's stored content: its value (or ciphertext, for a secret) and what describes it.
#[derive(Debug)]
pub struct Content<'a> {
    pub value: Option<&'a Value>,
    pub ciphertext: Option<&'a str>,
    pub value_type: &'a str,
    pub schema: Option<&'a Value>,
    pub description: &'a str,
    pub secret: bool,
    pub client_visible: bool,
}

/// `query_as!` into [`ConfigRow`]: its columns, then the rest of the statement.
macro_rules! select {
    ($rest:literal $(+ $more:literal)* $(, $arg:expr)* $(,)?) => {
        sqlx::query_as!(
            ConfigRow,
            "SELECT id, application_id, environment_id, key, value, ciphertext, value_type, schema, description, secret,
                    client_visible, version, created_at, updated_at FROM configs " + $rest $(+ $more)*
            $(, $arg)*
        )
    };
}

/// A config of one application × environment by key; locked until the transaction ends when
/// `lock`.
pub async fn find(
    conn: &mut PgConnection,
    (application_id, environment_id): (&str, &str),
    key: &str,
    lock: bool,
) -> Result<Option<ConfigRow>> {
    Ok(find_one!(
        select,
        conn,
        lock,
        "WHERE application_id = $1 AND environment_id = $2 AND key = $3",
        application_id,
        environment_id,
        key
    ))
}

/// A config by its id, wherever it lives.
pub async fn find_by_id(conn: &mut PgConnection, id: &str) -> Result<Option<ConfigRow>> {
    Ok(select!("WHERE id = $1", id).fetch_optional(conn).await?)
}

/// A page of one application × environment's configs by key, and how many there are.
pub async fn list(
    conn: &mut PgConnection,
    application_id: &str,
    environment_id: &str,
    (limit, offset): (i64, i64),
) -> Paged<ConfigRow> {
    let (a, e) = (application_id, environment_id);
    paged!(
        conn,
        select!(
            "WHERE application_id = $1 AND environment_id = $2 ORDER BY key LIMIT $3 OFFSET $4",
            a,
            e,
            limit,
            offset
        ),
        sqlx::query_scalar!(
            r#"SELECT count(*) AS "n!" FROM configs WHERE application_id = $1 AND environment_id = $2"#,
            a,
            e
        )
    )
}

/// Where a config lives.
#[derive(Debug)]
pub struct Located {
    pub key: String,
    pub application_id: String,
    pub environment_id: String,
}

/// Bounds of a search across applications and environments (`None` = any).
#[derive(Debug, Default)]
pub struct Within<'a> {
    pub application_id: Option<&'a str>,
    pub environment_id: Option<&'a str>,
    /// The caller's binding, which narrows the search again.
    pub bound_application: Option<&'a str>,
    pub bound_environment: Option<&'a str>,
}

/// A page of configs anywhere within `w`: by application key (or id, when not
/// `by_application_key`), environment key and key.
pub async fn locate(
    conn: &mut PgConnection,
    w: &Within<'_>,
    by_application_key: bool,
    (limit, offset): (i64, i64),
) -> Result<Vec<Located>> {
    Ok(sqlx::query_as!(
        Located,
        "SELECT c.key, c.application_id, c.environment_id FROM configs c
         JOIN applications a ON a.id = c.application_id JOIN environments e ON e.id = c.environment_id
         WHERE ($1::text IS NULL OR c.application_id = $1) AND ($2::text IS NULL OR c.environment_id = $2)
           AND ($3::text IS NULL OR c.application_id = $3) AND ($4::text IS NULL OR c.environment_id = $4)
         ORDER BY CASE WHEN $7 THEN a.key ELSE c.application_id END, e.key, c.key LIMIT $5 OFFSET $6",
        w.application_id,
        w.environment_id,
        w.bound_application,
        w.bound_environment,
        limit,
        offset,
        by_application_key
    )
    .fetch_all(conn)
    .await?)
}

/// Writes a config's content: a new config (`id` `None`) at `(application_id, environment_id,
/// key)`, or the existing one `id` there, moving its version on. One statement for both, so
/// the columns are listed once.
pub async fn save(
    conn: &mut PgConnection,
    id: Option<&str>,
    (application_id, environment_id, key): (&str, &str, &str),
    c: Content<'_>,
) -> Result<ConfigRow> {
    Ok(sqlx::query_as!(
        ConfigRow,
        "INSERT INTO configs AS c (id, application_id, environment_id, key, value, ciphertext, value_type, schema,
                                   description, secret, client_visible)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
         ON CONFLICT (id) DO UPDATE SET value = excluded.value, ciphertext = excluded.ciphertext,
             value_type = excluded.value_type, schema = excluded.schema, description = excluded.description,
             secret = excluded.secret, client_visible = excluded.client_visible, version = c.version + 1,
             updated_at = now()
         RETURNING id, application_id, environment_id, key, value, ciphertext, value_type, schema, description,
                   secret, client_visible, version, created_at, updated_at",
        id.map_or_else(|| ulid::Ulid::new().to_string(), str::to_owned),
        application_id,
        environment_id,
        key,
        c.value,
        c.ciphertext,
        c.value_type,
        c.schema,
        c.description,
        c.secret,
        c.client_visible
    )
    .fetch_one(conn)
    .await?)
}

pub async fn delete(conn: &mut PgConnection, id: &str) -> Result<()> {
    sqlx::query!("DELETE FROM configs WHERE id = $1", id).execute(conn).await?;
    Ok(())
}

/// Records the row's current version in its history.
pub async fn record_history(conn: &mut PgConnection, row: &ConfigRow, actor: &str) -> Result<()> {
    sqlx::query!(
        "INSERT INTO config_history (config_id, version, value, ciphertext, value_type, schema, description, actor)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        row.id,
        row.version,
        row.value,
        row.ciphertext,
        row.value_type,
        row.schema,
        row.description,
        actor
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// A page of a config's versions, newest first.
pub async fn history(conn: &mut PgConnection, config_id: &str, (limit, offset): (i64, i64)) -> Result<Vec<HistoryRow>> {
    Ok(sqlx::query_as!(
        HistoryRow,
        "SELECT version, value, ciphertext, value_type, schema, description, actor, at
         FROM config_history WHERE config_id = $1 ORDER BY version DESC LIMIT $2 OFFSET $3",
        config_id,
        limit,
        offset
    )
    .fetch_all(conn)
    .await?)
}

/// How many versions a config has.
pub async fn history_len(conn: &mut PgConnection, config_id: &str) -> Result<i64> {
    Ok(sqlx::query_scalar!(r#"SELECT count(*) AS "n!" FROM config_history WHERE config_id = $1"#, config_id)
        .fetch_one(conn)
        .await?)
}

/// One version of a config.
pub async fn version(conn: &mut PgConnection, config_id: &str, version: i64) -> Result<Option<HistoryRow>> {
    Ok(sqlx::query_as!(
        HistoryRow,
        "SELECT version, value, ciphertext, value_type, schema, description, actor, at
         FROM config_history WHERE config_id = $1 AND version = $2",
        config_id,
        version
    )
    .fetch_optional(conn)
    .await?)
}
