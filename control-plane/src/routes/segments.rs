//! `/api/v1/applications/{application}/segments`: reusable audiences (conditions plus
//! included/excluded key lists) shared by every environment of an application.
//!
//! A write is validated like a flag write: every environment's would-be snapshot is compiled and
//! any new problem — in the segment, or in a flag that uses it — is a 422 with its path. A
//! segment that a flag uses cannot be deleted (409). Writes republish the application.

use axum::Json as Reply;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sqlx::PgConnection;
use std::collections::HashSet;

use vane_core::{Condition, Flag, Segment};

use super::applications::Application;
use super::flags::problems;
use super::{Expected, List, Page, Routes};
use crate::auth::{Action, Caller};
use crate::error::{Error, FieldError, Result};
use crate::json::{Json, Path, Query};
use crate::{AppState, publish};
use crate::{access, audit};

pub fn router() -> Routes {
    const ONE: &str = "/applications/{application}/segments/{segment}";
    Routes::new("segments")
        .get("/applications/{application}/segments", "List segments", list)
        .post("/applications/{application}/segments", "Create a segment", create)
        .get(ONE, "Read a segment", read)
        .put(ONE, "Update a segment", update)
        .patch(ONE, "Update a segment", update)
        .delete(ONE, "Delete a segment (refused while a flag uses it)", remove)
}

#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct SegmentRow {
    pub id: String,
    #[serde(skip)]
    pub application_id: String,
    pub key: String,
    pub description: String,
    pub conditions: Value,
    pub included: Value,
    pub excluded: Value,
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

macro_rules! segment_columns {
    () => {
        "id, application_id, key, description, conditions, included, excluded, version, created_at, updated_at"
    };
}

/// The engine's view of a stored segment.
pub fn model(row: &SegmentRow) -> Result<Segment> {
    serde_json::from_value(json!({
        "key": row.key, "description": row.description, "conditions": row.conditions,
        "included": row.included, "excluded": row.excluded,
    }))
    .map_err(|e| Error::Internal(format!("stored segment '{}' does not read back: {e}", row.key)))
}

async fn find(conn: &mut PgConnection, app: &Application, id_or_key: &str, lock: bool) -> Result<SegmentRow> {
    let sql = if lock {
        concat!(
            "SELECT ",
            segment_columns!(),
            " FROM segments WHERE application_id = $1 AND (id = $2 OR key = $2) FOR UPDATE"
        )
    } else {
        concat!("SELECT ", segment_columns!(), " FROM segments WHERE application_id = $1 AND (id = $2 OR key = $2)")
    };
    sqlx::query_as(sql)
        .bind(&app.id)
        .bind(id_or_key)
        .fetch_optional(conn)
        .await?
        .ok_or_else(|| Error::NotFound(format!("segment '{id_or_key}' not found in application '{}'", app.key)))
}

/// Rejects replacing segment `key` by `changed` (`None` = deleting it) if it, or a flag that uses
/// it in any environment, would gain a compile problem. Only those are compiled: the segment
/// once (it is the same in every environment) and, per environment, the flags whose rules name
/// it, with the other segments they use — not every flag with every segment.
async fn validate_change(
    conn: &mut PgConnection,
    app: &Application,
    key: &str,
    changed: Option<&Segment>,
) -> Result<()> {
    let mut found: Vec<FieldError> = Vec::new();
    if let Some(segment) = changed {
        for (entity, path, message) in problems(Vec::new(), vec![segment.clone()]) {
            if entity == key {
                found.push(FieldError::new(path, message));
            }
        }
    }
    let environments: Vec<(String, String)> =
        sqlx::query_as("SELECT id, key FROM environments ORDER BY key").fetch_all(&mut *conn).await?;
    for (env_id, env_key) in environments {
        let stream = crate::model_cache::load(conn, &app.id, &env_id, None).await?;
        let users: Vec<Flag> = stream
            .flags
            .iter()
            .filter(|f| crate::model_cache::segments_of(&f.model).any(|s| s == key))
            .map(|f| f.model.clone())
            .collect();
        if users.is_empty() {
            continue;
        }
        let named: HashSet<&str> = users.iter().flat_map(crate::model_cache::segments_of).collect();
        let others: Vec<Segment> = stream
            .segments
            .iter()
            .filter(|s| s.model.key != key && named.contains(s.model.key.as_str()))
            .map(|s| s.model.clone())
            .collect();
        let mut before_segments = others.clone();
        before_segments.extend(stream.segments.iter().filter(|s| s.model.key == key).map(|s| s.model.clone()));
        let mut after_segments = others;
        after_segments.extend(changed.cloned());
        let before = problems(users.clone(), before_segments);
        for (entity, path, message) in problems(users, after_segments) {
            if entity == key || before.contains(&(entity.clone(), path.clone(), message.clone())) {
                continue;
            }
            let path = format!("environments.{env_key}.flags.{entity}{}{path}", if path.is_empty() { "" } else { "." });
            if !found.iter().any(|f| f.path == path && f.message == message) {
                found.push(FieldError::new(path, message));
            }
        }
    }
    if found.is_empty() {
        return Ok(());
    }
    found.sort_by(|a, b| a.path.cmp(&b.path));
    Err(Error::Unprocessable(found))
}

/// A segment row as written, with the fingerprint of the row version (see `crate::model_cache`).
#[derive(sqlx::FromRow)]
struct Stored {
    #[sqlx(flatten)]
    row: SegmentRow,
    fingerprint: String,
}

/// After a segment's row is written and audited, and before the application is published: its
/// fragments are computed and stored now, while no stream is locked, so publishing (which locks
/// every stream of the application) has nothing large left to do.
async fn prepare_publish(conn: &mut PgConnection, app: &Application, stored: &Stored, model: Segment) -> Result<()> {
    let cached = crate::model_cache::remember_segment(&stored.row.id, &app.id, &stored.fingerprint, model)?;
    let salt: String = sqlx::query_scalar("SELECT hash_salt FROM applications WHERE id = $1")
        .bind(&app.id)
        .fetch_one(&mut *conn)
        .await?;
    let client = cached.client(&salt);
    publish::store_fragments(conn, &app.id, &[&cached.server, &client]).await
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SegmentBody {
    key: Option<String>,
    description: Option<String>,
    conditions: Option<Vec<Condition>>,
    included: Option<Vec<String>>,
    excluded: Option<Vec<String>>,
    version: Option<i64>,
}

async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Path(application): Path<String>,
    Query(page): Query<Page>,
) -> Result<Reply<List<SegmentRow>>> {
    let (limit, offset) = page.resolve()?;
    let app = access::application(&mut *state.pool.acquire().await?, &caller, Action::Read, &application).await?;
    let items: Vec<SegmentRow> = sqlx::query_as(concat!(
        "SELECT ",
        segment_columns!(),
        " FROM segments WHERE application_id = $1 ORDER BY key LIMIT $2 OFFSET $3"
    ))
    .bind(&app.id)
    .bind(limit)
    .bind(offset)
    .fetch_all(&state.pool)
    .await?;
    let total: i64 = sqlx::query_scalar("SELECT count(*) FROM segments WHERE application_id = $1")
        .bind(&app.id)
        .fetch_one(&state.pool)
        .await?;
    Ok(Reply(List { items, total, limit, offset }))
}

async fn read(
    State(state): State<AppState>,
    caller: Caller,
    Path((application, segment)): Path<(String, String)>,
) -> Result<Reply<SegmentRow>> {
    let mut conn = state.pool.acquire().await?;
    let app = access::application(&mut conn, &caller, Action::Read, &application).await?;
    Ok(Reply(find(&mut conn, &app, &segment, false).await?))
}

async fn create(
    State(state): State<AppState>,
    caller: Caller,
    Path(application): Path<String>,
    Json(body): Json<SegmentBody>,
) -> Result<(StatusCode, Reply<SegmentRow>)> {
    caller.permits(Action::Write)?;
    let key = body.key.clone().unwrap_or_default();
    if !super::is_entity_key(&key) {
        return Err(Error::invalid("key", "must match [A-Za-z0-9][A-Za-z0-9._-]{0,199}"));
    }
    let description = body.description.clone().unwrap_or_default();
    let candidate = Segment {
        key: key.clone(),
        description: description.clone(),
        conditions: body.conditions.clone().unwrap_or_default(),
        included: body.included.clone().unwrap_or_default(),
        excluded: body.excluded.clone().unwrap_or_default(),
        hashed: false,
    };
    let mut tx = state.pool.begin().await?;
    let app = access::application(&mut tx, &caller, Action::Write, &application).await?;
    validate_change(&mut tx, &app, &key, Some(&candidate)).await?;
    let stored: Stored = sqlx::query_as(concat!(
        "INSERT INTO segments (id, application_id, key, description, conditions, included, excluded)
         VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING ",
        segment_columns!(),
        ", xmin::text || ':' || ctid::text AS fingerprint"
    ))
    .bind(ulid::Ulid::new().to_string())
    .bind(&app.id)
    .bind(&key)
    .bind(&description)
    .bind(json!(candidate.conditions))
    .bind(json!(candidate.included))
    .bind(json!(candidate.excluded))
    .fetch_one(&mut *tx)
    .await?;
    audit::change(&mut tx, &caller, "create", None, Some(&stored.row)).await?;
    prepare_publish(&mut tx, &app, &stored, candidate).await?;
    publish::publish_application(&mut tx, &app.id).await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, Reply(stored.row)))
}

async fn update(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Path((application, segment)): Path<(String, String)>,
    Json(body): Json<SegmentBody>,
) -> Result<Reply<SegmentRow>> {
    let expected = Expected::from(&headers, body.version)?;
    let mut tx = state.pool.begin().await?;
    let app = access::application(&mut tx, &caller, Action::Write, &application).await?;
    let before = find(&mut tx, &app, &segment, true).await?;
    expected.check(before.version)?;
    if body.key.as_ref().is_some_and(|k| *k != before.key) {
        return Err(Error::invalid("key", "a segment's key cannot change; create a new segment instead"));
    }
    let mut candidate = model(&before)?;
    if let Some(d) = &body.description {
        candidate.description.clone_from(d);
    }
    if let Some(c) = &body.conditions {
        candidate.conditions.clone_from(c);
    }
    if let Some(i) = &body.included {
        candidate.included.clone_from(i);
    }
    if let Some(e) = &body.excluded {
        candidate.excluded.clone_from(e);
    }
    validate_change(&mut tx, &app, &before.key, Some(&candidate)).await?;
    let stored: Stored = sqlx::query_as(concat!(
        "UPDATE segments SET description = $2, conditions = $3, included = $4, excluded = $5,
                version = version + 1, updated_at = now()
         WHERE id = $1 RETURNING ",
        segment_columns!(),
        ", xmin::text || ':' || ctid::text AS fingerprint"
    ))
    .bind(&before.id)
    .bind(&candidate.description)
    .bind(json!(candidate.conditions))
    .bind(json!(candidate.included))
    .bind(json!(candidate.excluded))
    .fetch_one(&mut *tx)
    .await?;
    audit::change(&mut tx, &caller, "update", Some(&before), Some(&stored.row)).await?;
    prepare_publish(&mut tx, &app, &stored, candidate).await?;
    publish::publish_application(&mut tx, &app.id).await?;
    tx.commit().await?;
    Ok(Reply(stored.row))
}

async fn remove(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Path((application, segment)): Path<(String, String)>,
) -> Result<StatusCode> {
    let expected = Expected::from(&headers, None)?;
    let mut tx = state.pool.begin().await?;
    let app = access::application(&mut tx, &caller, Action::Write, &application).await?;
    let before = find(&mut tx, &app, &segment, true).await?;
    expected.check(before.version)?;
    // Deleting it must not break a flag that targets it.
    if let Err(Error::Unprocessable(found)) = validate_change(&mut tx, &app, &before.key, None).await {
        let users: Vec<&str> = found.iter().map(|f| f.path.as_str()).collect();
        return Err(Error::Conflict(format!(
            "segment '{}' is in use ({}); remove it from those rules first",
            before.key,
            users.join(", ")
        )));
    }
    sqlx::query("DELETE FROM segments WHERE id = $1").bind(&before.id).execute(&mut *tx).await?;
    crate::model_cache::forget(&app.id);
    publish::publish_application(&mut tx, &app.id).await?;
    audit::change(&mut tx, &caller, "delete", Some(&before), None).await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}

impl audit::Audited for SegmentRow {
    const ENTITY: &'static str = "segment";
    fn audit_id(&self) -> &str {
        &self.id
    }
    fn audit_key(&self) -> &str {
        &self.key
    }
    fn audit_version(&self) -> Option<i64> {
        Some(self.version)
    }
}
