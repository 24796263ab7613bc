//! `services` rows: the service registry.

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;
use sqlx::{PgConnection, PgExecutor};

use super::Paged;
use crate::error::Result;

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Service {
    #[serde(rename = "instance_id")]
    pub id: String,
    pub service_name: String,
    pub service_url: String,
    pub health_check_url: Option<String>,
    pub status: String,
    pub response_time_ms: Option<f64>,
    pub last_health_check: Option<DateTime<Utc>>,
    pub metadata: Value,
    pub registered_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// `query_as!` into [`Service`]: its columns, then the rest of the statement.
macro_rules! select {
    ($rest:literal $(+ $more:literal)* $(, $arg:expr)* $(,)?) => {
        sqlx::query_as!(
            Service,
            "SELECT id, service_name, service_url, health_check_url, status, response_time_ms, last_health_check,
                    metadata, registered_at, updated_at FROM services " + $rest $(+ $more)*
            $(, $arg)*
        )
    };
}

/// A service by name or instance id.
pub async fn find(conn: &mut PgConnection, name: &str) -> Result<Option<Service>> {
    Ok(select!("WHERE service_name = $1 OR id = $1", name).fetch_optional(conn).await?)
}

/// Healthy services, by name.
pub async fn healthy(conn: impl PgExecutor<'_>) -> Result<Vec<Service>> {
    Ok(select!("WHERE status = 'healthy' ORDER BY service_name").fetch_all(conn).await?)
}

/// Healthy services as server snapshots publish them.
pub async fn published(conn: &mut PgConnection) -> Result<Vec<vane_core::Service>> {
    Ok(healthy(conn)
        .await?
        .into_iter()
        .map(|s| vane_core::Service {
            service_name: s.service_name,
            service_url: s.service_url,
            health_check_url: s.health_check_url,
            status: s.status,
            metadata: s.metadata,
        })
        .collect())
}

/// Services with a health URL, by id.
pub async fn checked(conn: impl PgExecutor<'_>) -> Result<Vec<Service>> {
    Ok(select!("WHERE health_check_url IS NOT NULL ORDER BY id").fetch_all(conn).await?)
}

/// A page of services by name (with `status` when given), and how many there are.
pub async fn list(conn: &mut PgConnection, status: Option<&str>, (limit, offset): (i64, i64)) -> Paged<Service> {
    paged!(
        conn,
        select!(
            "WHERE ($1::text IS NULL OR status = $1) ORDER BY service_name LIMIT $2 OFFSET $3",
            status,
            limit,
            offset
        ),
        sqlx::query_scalar!(r#"SELECT count(*) AS "n!" FROM services WHERE ($1::text IS NULL OR status = $1)"#, status)
    )
}

/// Registers a service, or registers it again (same name): healthy until a check says otherwise.
pub async fn register(
    conn: &mut PgConnection,
    service_name: &str,
    service_url: &str,
    health_check_url: Option<&str>,
    metadata: &Value,
) -> Result<Service> {
    Ok(sqlx::query_as!(
        Service,
        "INSERT INTO services (id, service_name, service_url, health_check_url, status, metadata)
         VALUES ($1, $2, $3, $4, 'healthy', $5)
         ON CONFLICT (service_name) DO UPDATE SET service_url = EXCLUDED.service_url,
             health_check_url = EXCLUDED.health_check_url, metadata = EXCLUDED.metadata, status = 'healthy',
             updated_at = now()
         RETURNING id, service_name, service_url, health_check_url, status, response_time_ms, last_health_check,
                   metadata, registered_at, updated_at",
        ulid::Ulid::new().to_string(),
        service_name,
        service_url,
        health_check_url,
        metadata
    )
    .fetch_one(conn)
    .await?)
}

/// Stores a health result.
pub async fn set_status(
    conn: &mut PgConnection,
    id: &str,
    status: &str,
    response_time_ms: Option<f64>,
) -> Result<Service> {
    Ok(sqlx::query_as!(
        Service,
        "UPDATE services SET status = $2, response_time_ms = $3, last_health_check = now(), updated_at = now()
         WHERE id = $1
         RETURNING id, service_name, service_url, health_check_url, status, response_time_ms, last_health_check,
                   metadata, registered_at, updated_at",
        id,
        status,
        response_time_ms
    )
    .fetch_one(conn)
    .await?)
}

pub async fn delete(conn: &mut PgConnection, id: &str) -> Result<()> {
    sqlx::query!("DELETE FROM services WHERE id = $1", id).execute(conn).await?;
    Ok(())
}

/// Takes the session advisory lock `id` if no one holds it.
pub async fn try_advisory_lock(conn: &mut PgConnection, id: i64) -> Result<bool> {
    Ok(sqlx::query_scalar!(r#"SELECT pg_try_advisory_lock($1) AS "taken!""#, id).fetch_one(conn).await?)
}

pub async fn advisory_unlock(conn: &mut PgConnection, id: i64) -> Result<()> {
    sqlx::query!("SELECT pg_advisory_unlock($1)", id).fetch_one(conn).await?;
    Ok(())
}
