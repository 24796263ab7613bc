//! The service registry, with the original config service's shapes: register (upsert, healthy
//! until a check says otherwise), get, list (`?status=`), list healthy, health update,
//! deregister. Status changes republish every server snapshot (they carry healthy services).
//! [`check_once`] is the active checker's round; `vane serve` runs it periodically.

use std::time::{Duration, Instant};

use serde::Deserialize;
use serde_json::json;
use sqlx::PgConnection;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::audit::{self, Entry};
use super::authz::{self, Action, Caller};
use super::paging::{List, Page};
use super::vane::{Actor, Touched, Vane};
use crate::error::{Error, FieldError, Result};
use crate::publish::{self, Streams};
use crate::store::services as rows;
pub use crate::store::services::Service;

const STATUSES: &str = "must be \"unknown\", \"healthy\" or \"unhealthy\"";

fn is_status(s: &str) -> bool {
    matches!(s, "unknown" | "healthy" | "unhealthy")
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

async fn find(conn: &mut PgConnection, name: &str) -> Result<Service> {
    rows::find(conn, name).await?.ok_or_else(|| Error::NotFound(format!("service '{name}' is not registered")))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct StatusFilter {
    pub status: Option<String>,
    pub limit: Option<i64>,
    pub offset: Option<i64>,
}

pub async fn list(actor: &Actor, f: StatusFilter) -> Result<List<Service>> {
    let Actor { vane, caller } = actor;
    authz::listing(caller, Action::Read)?;
    let page = Page { limit: f.limit, offset: f.offset }.resolve()?;
    if f.status.as_deref().is_some_and(|s| !is_status(s)) {
        return Err(Error::invalid("status", STATUSES));
    }
    let mut conn = vane.pool.acquire().await?;
    Ok(List::of(rows::list(&mut conn, f.status.as_deref(), page).await?, page))
}

pub async fn healthy(actor: &Actor) -> Result<Vec<Service>> {
    let Actor { vane, caller } = actor;
    authz::listing(caller, Action::Read)?;
    rows::healthy(&vane.pool).await
}

pub async fn read(actor: &Actor, name: &str) -> Result<Service> {
    let Actor { vane, caller } = actor;
    authz::listing(caller, Action::Read)?;
    find(&mut *vane.pool.acquire().await?, name).await
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"service_name": "payments", "service_url": "http://payments.internal:8080", "health_check_url": "http://payments.internal:8080/health"}))]
pub struct Register {
    pub service_name: String,
    pub service_url: String,
    pub health_check_url: Option<String>,
    #[serde(default)]
    pub metadata: Option<serde_json::Value>,
}

pub async fn register(actor: &Actor, body: Register) -> Result<Service> {
    let Actor { vane, caller } = actor;
    authz::everything(caller, Action::Write)?;
    const URL: &str = "must be an http:// or https:// URL of at most 255 characters";
    let mut problems = Vec::new();
    if !is_service_name(&body.service_name) {
        problems.push(FieldError::new("service_name", "must match [A-Za-z0-9][A-Za-z0-9._-]{0,99}"));
    }
    if !is_http_url(&body.service_url) {
        problems.push(FieldError::new("service_url", URL));
    }
    if body.health_check_url.as_deref().is_some_and(|u| !is_http_url(u)) {
        problems.push(FieldError::new("health_check_url", URL));
    }
    if body.metadata.as_ref().is_some_and(|m| !m.is_object()) {
        problems.push(FieldError::new("metadata", "must be a JSON object"));
    }
    if !problems.is_empty() {
        return Err(Error::Unprocessable(problems));
    }
    let mut tx = vane.begin().await?;
    let metadata = body.metadata.unwrap_or_else(|| json!({}));
    let (name, url, check) = (&body.service_name, &body.service_url, body.health_check_url.as_deref());
    let service = rows::register(&mut tx, name, url, check, &metadata).await?;
    publish::republish_frames(&mut tx, Streams::All).await?;
    record(&mut tx, Some(caller), &service, "register").await?;
    vane.commit(tx, Touched::Streams).await?;
    Ok(service)
}

async fn record(conn: &mut PgConnection, caller: Option<&Caller>, s: &Service, action: &str) -> Result<()> {
    let entry = Entry {
        entity_type: "service",
        entity_id: &s.id,
        entity_key: &s.service_name,
        action,
        before: None,
        after: serde_json::to_value(s).ok(),
        version: None,
    };
    audit::record(conn, caller, entry).await
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct HealthUpdate {
    pub service_name: String,
    pub status: String,
    pub response_time: Option<f64>,
}

/// A service's health, as reported by someone else.
pub async fn update_health(actor: &Actor, body: HealthUpdate) -> Result<Service> {
    let Actor { vane, caller } = actor;
    authz::everything(caller, Action::Write)?;
    if !is_status(&body.status) {
        return Err(Error::invalid("status", STATUSES));
    }
    let mut tx = vane.begin().await?;
    let before = find(&mut tx, &body.service_name).await?;
    let service = set_status(&mut tx, &before, &body.status, body.response_time).await?;
    record(&mut tx, Some(caller), &service, "health").await?;
    vane.commit(tx, Touched::Streams).await?;
    Ok(service)
}

/// Stores a health result; republishes when the status changed.
async fn set_status(
    conn: &mut PgConnection,
    before: &Service,
    status: &str,
    response_time_ms: Option<f64>,
) -> Result<Service> {
    let after = rows::set_status(&mut *conn, &before.id, status, response_time_ms).await?;
    if after.status != before.status {
        publish::republish_frames(&mut *conn, Streams::All).await?;
    }
    Ok(after)
}

pub async fn deregister(actor: &Actor, name: &str) -> Result<()> {
    let Actor { vane, caller } = actor;
    authz::everything(caller, Action::Write)?;
    let mut tx = vane.begin().await?;
    let before = find(&mut tx, name).await?;
    rows::delete(&mut tx, &before.id).await?;
    if before.status == "healthy" {
        publish::republish_frames(&mut tx, Streams::All).await?;
    }
    record(&mut tx, Some(caller), &before, "deregister").await?;
    vane.commit(tx, Touched::Streams).await
}

/// Advisory lock id that elects one health checker among all `vane serve` processes.
const CHECKER_LOCK: i64 = 0x7661_6e65_6865_616c; // "vaneheal" in ASCII

/// One round of active health checks: every service with a health URL is probed (HTTP GET,
/// 2 s timeout; 2xx is healthy). Only the process holding the session advisory lock probes, so
/// several servers on one database do not multiply the traffic. Probes run outside any
/// transaction; each result is stored (and, if the status changed, published) in its own short
/// transaction. Returns how many services were probed.
pub async fn check_once(vane: &Vane) -> Result<usize> {
    let mut lock = vane.pool.acquire().await?;
    if !rows::try_advisory_lock(&mut lock, CHECKER_LOCK).await? {
        return Ok(0);
    }
    let round = async {
        let services = rows::checked(&vane.pool).await?;
        for s in &services {
            let started = Instant::now();
            let ok = probe(s.health_check_url.as_deref().unwrap_or_default()).await;
            let ms = started.elapsed().as_secs_f64() * 1000.0;
            let mut tx = vane.begin().await?;
            // The service may have been deregistered meanwhile: nothing to store then.
            if let Ok(current) = find(&mut tx, &s.id).await {
                set_status(&mut tx, &current, if ok { "healthy" } else { "unhealthy" }, Some(ms)).await?;
            }
            vane.commit(tx, Touched::Streams).await?;
        }
        Ok::<usize, Error>(services.len())
    }
    .await;
    // The lock is also released if this connection dies with the process.
    rows::advisory_unlock(&mut lock, CHECKER_LOCK).await?;
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
pub fn spawn_checker(vane: Vane, interval: Duration) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            if let Err(e) = check_once(&vane).await {
                tracing::warn!(error = %e, "health check round failed");
            }
        }
    });
}
