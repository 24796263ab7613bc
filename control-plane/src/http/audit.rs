//! `GET /api/v1/audit`: the audit log, newest first, filtered by entity type, entity id or key (a
//! flag's key finds its states' entries too), action, actor (key id) and time (`since`, `until`:
//! RFC 3339). Admin and read keys that are not bound to anything.

use axum::Json as Reply;
use chrono::{DateTime, Utc};
use serde::Deserialize;

use super::extract::Query;
use super::routes::Routes;
use crate::domain::audit_log;
use crate::domain::paging::{List, Page};
use crate::domain::vane::Actor;
use crate::error::Result;
use crate::store::audit::{AuditEntry, Filter};

pub fn router() -> Routes {
    Routes::new("audit").get("/audit", "Query the audit log", list)
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
struct AuditFilter {
    limit: Option<i64>,
    offset: Option<i64>,
    entity_type: Option<String>,
    entity: Option<String>,
    action: Option<String>,
    actor: Option<String>,
    /// Entries at or after this instant (RFC 3339).
    since: Option<DateTime<Utc>>,
    /// Entries before this instant (RFC 3339).
    until: Option<DateTime<Utc>>,
}

async fn list(actor: Actor, Query(f): Query<AuditFilter>) -> Result<Reply<List<AuditEntry>>> {
    let filter = Filter {
        entity_type: f.entity_type.as_deref(),
        entity: f.entity.as_deref(),
        action: f.action.as_deref(),
        actor: f.actor.as_deref(),
        since: f.since,
        until: f.until,
    };
    let page = Page { limit: f.limit, offset: f.offset };
    Ok(Reply(audit_log::list(&actor, &filter, page).await?))
}
