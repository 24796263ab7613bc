//! `applications` rows.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::PgConnection;

use crate::error::{Error, Result};

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Application {
    pub id: String,
    pub key: String,
    pub name: String,
    pub comments: String,
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

named_rows!(
    Application,
    "application",
    "applications",
    "SELECT id, key, name, comments, version, created_at, updated_at FROM applications"
);

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

/// The salt of hashed keys in the application's client snapshots.
pub async fn hash_salt(conn: &mut PgConnection, id: &str) -> Result<String> {
    Ok(sqlx::query_scalar!("SELECT hash_salt FROM applications WHERE id = $1", id).fetch_one(conn).await?)
}
