//! `environments` rows.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::PgConnection;

use crate::error::{Error, Result};

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
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

named_rows!(
    Environment,
    "environment",
    "environments",
    "SELECT id, key, name, max_staleness_s, stale_policy, version, created_at, updated_at FROM environments"
);

/// Every environment's `(id, key)`, by key.
pub async fn keys(conn: &mut PgConnection) -> Result<Vec<(String, String)>> {
    let rows = sqlx::query!("SELECT id, key FROM environments ORDER BY key").fetch_all(conn).await?;
    Ok(rows.into_iter().map(|r| (r.id, r.key)).collect())
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
