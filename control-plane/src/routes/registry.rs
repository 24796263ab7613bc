//! The service registry, with the original config service's routes and shapes, at
//! `/api/v1/registry/…` and `/api/v1/services/…`: register (upsert, healthy until a check says
//! otherwise), get, list (`?status=`), list healthy (`{services, total}`), health update,
//! deregister. Status changes republish every snapshot (server snapshots carry healthy services).
//! [`check_once`] is the active checker's round; `vane serve` runs it periodically.

use std::time::{Duration, Instant};

use axum::Json as Reply;
use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sqlx::{PgConnection, PgPool};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::Routes;
use crate::audit::{self, Entry};
use crate::auth::{Action, Caller};
use crate::error::{Error, FieldError, Result};
use crate::json::{Json, Path, Query};
use crate::{AppState, access, publish};

pub fn router() -> Routes {
    let mut r = Routes::new("registry");
    for base in ["/registry", "/services"] {
        r = r
            .get(base, "List registered services (filter: status)", list)
            .post(&format!("{base}/register"), "Register (or re-register) a service instance", register)
            .get(&format!("{base}/healthy"), "List healthy services", healthy)
            .put(&format!("{base}/health"), "Report a service's health", update_health)
            .get(&format!("{base}/{{service_name}}"), "Read a service", read)
            .delete(&format!("{base}/{{service_name}}"), "Deregister a service", deregister);
    }
    r
}

#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
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

macro_rules! service_columns {
    () => {
        "id, service_name, service_url, health_check_url, status, response_time_ms, last_health_check, metadata, registered_at, updated_at"
    };
}

fn is_service_name(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.len() <= 100
        && b.first().is_some_and(u8::is_ascii_alphanumeric)
        && b.iter().all(|c| c.is_ascii_alphanumeric() || matches!(c, b'.' | b'_' | b'-'))
}

fn is_http_url(s: &str) -> bool {
    (s.starts_with("http://") || s.starts_with("https://")) && s.len() <= 255 && !s.contains(char::is_whitespace)
}

/// Healthy services as published in server snapshots.
pub async fn published(conn: &mut PgConnection) -> Result<Vec<vane_core::Service>> {
    let rows: Vec<Service> = sqlx::query_as(concat!(
        "SELECT ",
        service_columns!(),
        " FROM services WHERE status = 'healthy' ORDER BY service_name"
    ))
    .fetch_all(conn)
    .await?;
    Ok(rows
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

async fn find(conn: &mut PgConnection, name: &str) -> Result<Service> {
    sqlx::query_as(concat!("SELECT ", service_columns!(), " FROM services WHERE service_name = $1 OR id = $1"))
        .bind(name)
        .fetch_optional(conn)
        .await?
        .ok_or_else(|| Error::NotFound(format!("service '{name}' is not registered")))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct StatusFilter {
    status: Option<String>,
    limit: Option<i64>,
    offset: Option<i64>,
}

async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Query(f): Query<StatusFilter>,
) -> Result<Reply<super::List<Service>>> {
    access::listing(&caller, Action::Read)?;
    let (limit, offset) = super::Page { limit: f.limit, offset: f.offset }.resolve()?;
    if f.status.as_deref().is_some_and(|s| !matches!(s, "unknown" | "healthy" | "unhealthy")) {
        return Err(Error::invalid("status", "must be \"unknown\", \"healthy\" or \"unhealthy\""));
    }
    let items: Vec<Service> = sqlx::query_as(concat!(
        "SELECT ",
        service_columns!(),
        " FROM services WHERE ($1::text IS NULL OR status = $1) ORDER BY service_name LIMIT $2 OFFSET $3"
    ))
    .bind(&f.status)
    .bind(limit)
    .bind(offset)
    .fetch_all(&state.pool)
    .await?;
    let total: i64 = sqlx::query_scalar("SELECT count(*) FROM services WHERE ($1::text IS NULL OR status = $1)")
        .bind(&f.status)
        .fetch_one(&state.pool)
        .await?;
    Ok(Reply(super::List { items, total, limit, offset }))
}

async fn healthy(State(state): State<AppState>, caller: Caller) -> Result<Reply<Value>> {
    access::listing(&caller, Action::Read)?;
    let services: Vec<Service> = sqlx::query_as(concat!(
        "SELECT ",
        service_columns!(),
        " FROM services WHERE status = 'healthy' ORDER BY service_name"
    ))
    .fetch_all(&state.pool)
    .await?;
    Ok(Reply(json!({"services": services, "total": services.len()})))
}

async fn read(State(state): State<AppState>, caller: Caller, Path(name): Path<String>) -> Result<Reply<Service>> {
    access::listing(&caller, Action::Read)?;
    let mut conn = state.pool.acquire().await?;
    Ok(Reply(find(&mut conn, &name).await?))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Register {
    service_name: String,
    service_url: String,
    health_check_url: Option<String>,
    #[serde(default)]
    metadata: Option<Value>,
}

async fn register(
    State(state): State<AppState>,
    caller: Caller,
    Json(body): Json<Register>,
) -> Result<(StatusCode, Reply<Service>)> {
    access::everything(&caller, Action::Write)?;
    let mut problems = Vec::new();
    if !is_service_name(&body.service_name) {
        problems.push(FieldError::new("service_name", "must match [A-Za-z0-9][A-Za-z0-9._-]{0,99}"));
    }
    if !is_http_url(&body.service_url) {
        problems.push(FieldError::new("service_url", "must be an http:// or https:// URL of at most 255 characters"));
    }
    if body.health_check_url.as_deref().is_some_and(|u| !is_http_url(u)) {
        problems
            .push(FieldError::new("health_check_url", "must be an http:// or https:// URL of at most 255 characters"));
    }
    if body.metadata.as_ref().is_some_and(|m| !m.is_object()) {
        problems.push(FieldError::new("metadata", "must be a JSON object"));
    }
    if !problems.is_empty() {
        return Err(Error::Unprocessable(problems));
    }
    let mut tx = state.pool.begin().await?;
    // Registration upserts and marks the service healthy until a check says otherwise.
    let service: Service = sqlx::query_as(concat!(
        "INSERT INTO services (id, service_name, service_url, health_check_url, status, metadata)
         VALUES ($1, $2, $3, $4, 'healthy', $5)
         ON CONFLICT (service_name) DO UPDATE SET service_url = EXCLUDED.service_url,
             health_check_url = EXCLUDED.health_check_url, metadata = EXCLUDED.metadata, status = 'healthy',
             updated_at = now()
         RETURNING ",
        service_columns!()
    ))
    .bind(ulid::Ulid::new().to_string())
    .bind(&body.service_name)
    .bind(&body.service_url)
    .bind(&body.health_check_url)
    .bind(body.metadata.clone().unwrap_or_else(|| json!({})))
    .fetch_one(&mut *tx)
    .await?;
    publish::republish_frames(&mut tx, publish::Streams::All).await?;
    record(&mut tx, Some(&caller), &service, "register").await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, Reply(service)))
}

async fn record(conn: &mut PgConnection, caller: Option<&Caller>, s: &Service, action: &str) -> Result<()> {
    audit::record(
        conn,
        caller,
        Entry {
            entity_type: "service",
            entity_id: &s.id,
            entity_key: &s.service_name,
            action,
            before: None,
            after: serde_json::to_value(s).ok(),
            version: None,
        },
    )
    .await
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct HealthUpdate {
    service_name: String,
    status: String,
    response_time: Option<f64>,
}

async fn update_health(
    State(state): State<AppState>,
    caller: Caller,
    Json(body): Json<HealthUpdate>,
) -> Result<Reply<Service>> {
    access::everything(&caller, Action::Write)?;
    if !matches!(body.status.as_str(), "unknown" | "healthy" | "unhealthy") {
        return Err(Error::invalid("status", "must be \"unknown\", \"healthy\" or \"unhealthy\""));
    }
    let mut tx = state.pool.begin().await?;
    let before = find(&mut tx, &body.service_name).await?;
    let service = set_status(&mut tx, &before, &body.status, body.response_time).await?;
    record(&mut tx, Some(&caller), &service, "health").await?;
    tx.commit().await?;
    Ok(Reply(service))
}

/// Stores a health result; republishes when the status changed.
async fn set_status(
    conn: &mut PgConnection,
    before: &Service,
    status: &str,
    response_time_ms: Option<f64>,
) -> Result<Service> {
    let after: Service = sqlx::query_as(concat!(
        "UPDATE services SET status = $2, response_time_ms = $3, last_health_check = now(), updated_at = now()
         WHERE id = $1 RETURNING ",
        service_columns!()
    ))
    .bind(&before.id)
    .bind(status)
    .bind(response_time_ms)
    .fetch_one(&mut *conn)
    .await?;
    if after.status != before.status {
        publish::republish_frames(&mut *conn, publish::Streams::All).await?;
    }
    Ok(after)
}

async fn deregister(State(state): State<AppState>, caller: Caller, Path(name): Path<String>) -> Result<StatusCode> {
    access::everything(&caller, Action::Write)?;
    let mut tx = state.pool.begin().await?;
    let before = find(&mut tx, &name).await?;
    sqlx::query("DELETE FROM services WHERE id = $1").bind(&before.id).execute(&mut *tx).await?;
    if before.status == "healthy" {
        publish::republish_frames(&mut tx, publish::Streams::All).await?;
    }
    record(&mut tx, Some(&caller), &before, "deregister").await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Advisory lock id that elects one health checker among all `vane serve` processes.
const CHECKER_LOCK: i64 = 0x7661_6e65_6865_616c; // "vaneheal" in ASCII

/// One round of active health checks: every service with a health URL is probed (HTTP GET,
/// 2 s timeout; 2xx is healthy). Only the process holding the session advisory lock probes, so
/// several servers on one database do not multiply the traffic. Probes run outside any
/// transaction; each result is stored (and, if the status changed, published) in its own short
/// transaction. Returns how many services were probed.
pub async fn check_once(pool: &PgPool) -> Result<usize> {
    let mut lock = pool.acquire().await?;
    let elected: bool =
        sqlx::query_scalar("SELECT pg_try_advisory_lock($1)").bind(CHECKER_LOCK).fetch_one(&mut *lock).await?;
    if !elected {
        return Ok(0);
    }
    let round = async {
        let services: Vec<Service> = sqlx::query_as(concat!(
            "SELECT ",
            service_columns!(),
            " FROM services WHERE health_check_url IS NOT NULL ORDER BY id"
        ))
        .fetch_all(pool)
        .await?;
        for s in &services {
            let started = Instant::now();
            let ok = probe(s.health_check_url.as_deref().unwrap_or_default()).await;
            let ms = started.elapsed().as_secs_f64() * 1000.0;
            let mut tx = pool.begin().await?;
            // The service may have been deregistered meanwhile: nothing to store then.
            if let Ok(current) = find(&mut tx, &s.id).await {
                set_status(&mut tx, &current, if ok { "healthy" } else { "unhealthy" }, Some(ms)).await?;
            }
            tx.commit().await?;
        }
        Ok::<usize, Error>(services.len())
    }
    .await;
    // The lock is also released if this connection dies with the process.
    sqlx::query("SELECT pg_advisory_unlock($1)").bind(CHECKER_LOCK).execute(&mut *lock).await?;
    round
}

/// `GET url` over plain HTTP/1.1 with a 2 s budget; true for a 2xx answer. `https://` URLs are
/// not probed (no TLS client in the control plane yet) and count as unhealthy.
async fn probe(url: &str) -> bool {
    let Some(rest) = url.strip_prefix("http://") else {
        return false;
    };
    let (authority, path) = rest.split_once('/').map_or((rest, "/".to_owned()), |(a, p)| (a, format!("/{p}")));
    let request = async {
        let mut stream = tokio::net::TcpStream::connect(authority).await.ok()?;
        let head =
            format!("GET {path} HTTP/1.1\r\nHost: {authority}\r\nConnection: close\r\nUser-Agent: vane-health\r\n\r\n");
        stream.write_all(head.as_bytes()).await.ok()?;
        let mut buf = [0u8; 64];
        let n = stream.read(&mut buf).await.ok()?;
        let line = std::str::from_utf8(buf.get(..n)?).ok()?;
        let code: u16 = line.split_whitespace().nth(1)?.parse().ok()?;
        Some((200..300).contains(&code))
    };
    tokio::time::timeout(Duration::from_secs(2), request).await.ok().flatten().unwrap_or(false)
}

/// Runs [`check_once`] every `interval` until the runtime stops.
pub fn spawn_checker(pool: PgPool, interval: Duration) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            if let Err(e) = check_once(&pool).await {
                tracing::warn!(error = %e, "health check round failed");
            }
        }
    });
}
