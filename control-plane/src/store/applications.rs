//! `applications` rows.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::{PgConnection, PgExecutor};

use crate::error::{Error, Result};

#[derive(Debug, Clone, Serialize)]
pub struct Application {
    pub id: String,
    pub key: String,
    pub name: String,
    pub comments: String,
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// `query_as!` into [`Application`]: its columns, then the rest of the statement.
macro_rules! select {
    ($rest:literal $(, $arg:expr)* $(,)?) => {
        sqlx::query_as!(
            Application,
            "SELECT id, key, name, comments, version, created_at, updated_at FROM applications " + $rest
            $(, $arg)*
        )
    };
}

fn not_found(name: &str) -> Error {
    Error::NotFound(format!("application '{name}' not found"))
}

/// An application by ULID or key.
pub async fn find(conn: impl PgExecutor<'_>, id_or_key: &str) -> Result<Application> {
    select!("WHERE id = $1 OR key = $1", id_or_key).fetch_optional(conn).await?.ok_or_else(|| not_found(id_or_key))
}

/// The same, locked until the transaction ends.
pub async fn lock(conn: &mut PgConnection, id_or_key: &str) -> Result<Application> {
    select!("WHERE id = $1 OR key = $1 FOR UPDATE", id_or_key)
        .fetch_optional(conn)
        .await?
        .ok_or_else(|| not_found(id_or_key))
}

/// A page of applications by key (only `only` when given), and how many there are.
pub async fn list(
    conn: &mut PgConnection,
    only: Option<&str>,
    limit: i64,
    offset: i64,
) -> Result<(Vec<Application>, i64)> {
    let items = select!("WHERE ($1::text IS NULL OR id = $1) ORDER BY key LIMIT $2 OFFSET $3", only, limit, offset)
        .fetch_all(&mut *conn)
        .await?;
    let total =
        sqlx::query_scalar!(r#"SELECT count(*) AS "n!" FROM applications WHERE ($1::text IS NULL OR id = $1)"#, only)
            .fetch_one(&mut *conn)
            .await?;
    Ok((items, total))
}

pub async fn insert(conn: &mut PgConnection, key: &str, name: &str, comments: &str) -> Result<Application> {
    Ok(sqlx::query_as!(
        Application,
        "INSERT INTO applications (id, key, name, comments) VALUES ($1, $2, $3, $4)
         RETURNING id, key, name, comments, version, created_at, updated_at",
        ulid::Ulid::new().to_string(),
        key,
        name,
        comments
    )
    .fetch_one(conn)
    .await?)
}

/// Sets what is given and moves the version on.
pub async fn update(
    conn: &mut PgConnection,
    id: &str,
    name: Option<&str>,
    comments: Option<&str>,
) -> Result<Application> {
    Ok(sqlx::query_as!(
        Application,
        "UPDATE applications SET name = COALESCE($2, name), comments = COALESCE($3, comments),
                version = version + 1, updated_at = now()
         WHERE id = $1 RETURNING id, key, name, comments, version, created_at, updated_at",
        id,
        name,
        comments
    )
    .fetch_one(conn)
    .await?)
}

pub async fn delete(conn: &mut PgConnection, id: &str) -> Result<()> {
    sqlx::query!("DELETE FROM applications WHERE id = $1", id).execute(conn).await?;
    Ok(())
}

/// The salt of hashed keys in the application's client snapshots.
pub async fn hash_salt(conn: &mut PgConnection, id: &str) -> Result<String> {
    Ok(sqlx::query_scalar!("SELECT hash_salt FROM applications WHERE id = $1", id).fetch_one(conn).await?)
}

/// Every application's id, in lock order.
pub async fn ids(conn: &mut PgConnection) -> Result<Vec<String>> {
    Ok(sqlx::query_scalar!("SELECT id FROM applications ORDER BY id").fetch_all(conn).await?)
}
