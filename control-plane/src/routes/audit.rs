//! `GET /api/v1/audit`: the audit log, newest first, filtered by entity type, entity id or key,
//! action and actor (key id). Admin and read keys that are not bound to an application.

use axum::Json as Reply;
use axum::extract::State;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{List, Page, Routes};
use crate::auth::{Action, Caller};
use crate::error::Result;
use crate::json::Query;
use crate::{AppState, access};

pub fn router() -> Routes {
    Routes::new("audit").get("/audit", "Query the audit log", list)
}

#[derive(Debug, Serialize, sqlx::FromRow)]
pub struct AuditEntry {
    pub id: String,
    pub at: DateTime<Utc>,
    pub actor: Option<String>,
    pub entity_type: String,
    pub entity_id: String,
    pub entity_key: String,
    pub action: String,
    pub before: Option<Value>,
    pub after: Option<Value>,
    pub version: Option<i64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AuditFilter {
    limit: Option<i64>,
    offset: Option<i64>,
    entity_type: Option<String>,
    entity: Option<String>,
    action: Option<String>,
    actor: Option<String>,
}

async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Query(f): Query<AuditFilter>,
) -> Result<Reply<List<AuditEntry>>> {
    access::everything(&caller, Action::Read)?;
    let (limit, offset) = Page { limit: f.limit, offset: f.offset }.resolve()?;
    const WHERE: &str =
        "($1::text IS NULL OR entity_type = $1) AND ($2::text IS NULL OR entity_id = $2 OR entity_key = $2)
                         AND ($3::text IS NULL OR action = $3) AND ($4::text IS NULL OR actor = $4)";
    let items: Vec<AuditEntry> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT id, at, actor, entity_type, entity_id, entity_key, action, before, after, version
         FROM audit_log WHERE {WHERE} ORDER BY at DESC, id DESC LIMIT $5 OFFSET $6"
    )))
    .bind(&f.entity_type)
    .bind(&f.entity)
    .bind(&f.action)
    .bind(&f.actor)
    .bind(limit)
    .bind(offset)
    .fetch_all(&state.pool)
    .await?;
    let total: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!("SELECT count(*) FROM audit_log WHERE {WHERE}")))
        .bind(&f.entity_type)
        .bind(&f.entity)
        .bind(&f.action)
        .bind(&f.actor)
        .fetch_one(&state.pool)
        .await?;
    Ok(Reply(List { items, total, limit, offset }))
}
