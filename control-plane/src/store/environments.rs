//! `environments` rows.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::{PgConnection, PgExecutor};

use crate::error::{Error, Result};

#[derive(Debug, Clone, Serialize)]
pub struct Environment {
    pub id: String,
    pub key: String,
    pub name: String,
    pub max_staleness_s: i64,
    pub stale_policy: String,
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// `query_as!` into [`Environment`]: its columns, then the rest of the statement.
macro_rules! select {
    ($rest:literal $(, $arg:expr)* $(,)?) => {
        sqlx::query_as!(
            Environment,
            "SELECT id, key, name, max_staleness_s, stale_policy, version, created_at, updated_at FROM environments "
                + $rest
            $(, $arg)*
        )
    };
}

fn not_found(name: &str) -> Error {
    Error::NotFound(format!("environment '{name}' not found"))
}

/// An environment by ULID or key.
pub async fn find(conn: impl PgExecutor<'_>, id_or_key: &str) -> Result<Environment> {
    select!("WHERE id = $1 OR key = $1", id_or_key).fetch_optional(conn).await?.ok_or_else(|| not_found(id_or_key))
}

/// The same, locked until the transaction ends.
pub async fn lock(conn: &mut PgConnection, id_or_key: &str) -> Result<Environment> {
    select!("WHERE id = $1 OR key = $1 FOR UPDATE", id_or_key)
        .fetch_optional(conn)
        .await?
        .ok_or_else(|| not_found(id_or_key))
}

/// A page of environments by key (only `only` when given), and how many there are.
pub async fn list(
    conn: &mut PgConnection,
    only: Option<&str>,
    limit: i64,
    offset: i64,
) -> Result<(Vec<Environment>, i64)> {
    let items = select!("WHERE ($1::text IS NULL OR id = $1) ORDER BY key LIMIT $2 OFFSET $3", only, limit, offset)
        .fetch_all(&mut *conn)
        .await?;
    let total =
        sqlx::query_scalar!(r#"SELECT count(*) AS "n!" FROM environments WHERE ($1::text IS NULL OR id = $1)"#, only)
            .fetch_one(&mut *conn)
            .await?;
    Ok((items, total))
}

/// Every environment's `(id, key)`, by key.
pub async fn keys(conn: &mut PgConnection) -> Result<Vec<(String, String)>> {
    let rows = sqlx::query!("SELECT id, key FROM environments ORDER BY key").fetch_all(conn).await?;
    Ok(rows.into_iter().map(|r| (r.id, r.key)).collect())
}

/// Every environment's id, in lock order.
pub async fn ids(conn: &mut PgConnection) -> Result<Vec<String>> {
    Ok(sqlx::query_scalar!("SELECT id FROM environments ORDER BY id").fetch_all(conn).await?)
}

/// A new environment, with a (disabled) state for every flag, as each flag got at its creation.
pub async fn insert(
    conn: &mut PgConnection,
    key: &str,
    name: &str,
    max_staleness_s: i64,
    stale_policy: &str,
) -> Result<Environment> {
    let env = sqlx::query_as!(
        Environment,
        "INSERT INTO environments (id, key, name, max_staleness_s, stale_policy) VALUES ($1, $2, $3, $4, $5)
         RETURNING id, key, name, max_staleness_s, stale_policy, version, created_at, updated_at",
        ulid::Ulid::new().to_string(),
        key,
        name,
        max_staleness_s,
        stale_policy
    )
    .fetch_one(&mut *conn)
    .await?;
    sqlx::query!(
        "INSERT INTO flag_states (flag_id, environment_id, enabled, off_variant, default_serve, salt)
         SELECT f.id, $1, false,
                CASE WHEN f.type = 'boolean' THEN 'off' END,
                CASE WHEN f.type = 'boolean' THEN jsonb_build_object('variant', 'on')
                     ELSE jsonb_build_object('variant', f.variants -> 0 ->> 'key') END,
                f.key
         FROM flags f",
        env.id
    )
    .execute(&mut *conn)
    .await?;
    Ok(env)
}

/// Sets what is given and moves the version on.
pub async fn update(
    conn: &mut PgConnection,
    id: &str,
    name: Option<&str>,
    max_staleness_s: Option<i64>,
    stale_policy: Option<&str>,
) -> Result<Environment> {
    Ok(sqlx::query_as!(
        Environment,
        "UPDATE environments SET name = COALESCE($2, name), max_staleness_s = COALESCE($3, max_staleness_s),
                stale_policy = COALESCE($4, stale_policy), version = version + 1, updated_at = now()
         WHERE id = $1 RETURNING id, key, name, max_staleness_s, stale_policy, version, created_at, updated_at",
        id,
        name,
        max_staleness_s,
        stale_policy
    )
    .fetch_one(conn)
    .await?)
}

pub async fn delete(conn: &mut PgConnection, id: &str) -> Result<()> {
    sqlx::query!("DELETE FROM environments WHERE id = $1", id).execute(conn).await?;
    Ok(())
}
