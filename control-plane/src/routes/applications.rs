//! `/api/v1/applications`: namespaces for flags, segments and configs. Creating one publishes
//! its first snapshots in every environment; the `default` application cannot be deleted.

use axum::Json as Reply;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{Expected, List, Page, Routes, check_text, is_slug, slugify};
use crate::auth::{Action, Caller};
use crate::error::{Error, FieldError, Result};
use crate::json::{Json, Path, Query};
use crate::{AppState, publish};
use crate::{access, audit};

pub fn router() -> Routes {
    Routes::new("applications")
        .get("/applications", "List applications", list)
        .post("/applications", "Create an application (key derived from the name when absent)", create)
        .get("/applications/{application}", "Read an application (by key or id)", read)
        .put("/applications/{application}", "Update an application", update)
        .patch("/applications/{application}", "Update an application", update)
        .delete("/applications/{application}", "Delete an application and everything in it", remove)
}

#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct Application {
    pub id: String,
    pub key: String,
    pub name: String,
    pub comments: String,
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

macro_rules! app_columns {
    () => {
        "id, key, name, comments, version, created_at, updated_at"
    };
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateApplication {
    key: Option<String>,
    name: String,
    #[serde(default)]
    comments: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct UpdateApplication {
    name: Option<String>,
    comments: Option<String>,
    version: Option<i64>,
}

/// Finds an application by ULID or key.
pub async fn find(conn: impl sqlx::PgExecutor<'_>, id_or_key: &str) -> Result<Application> {
    sqlx::query_as(concat!("SELECT ", app_columns!(), " FROM applications WHERE id = $1 OR key = $1"))
        .bind(id_or_key)
        .fetch_optional(conn)
        .await?
        .ok_or_else(|| Error::NotFound(format!("application '{id_or_key}' not found")))
}

async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Query(page): Query<Page>,
) -> Result<Reply<List<Application>>> {
    access::listing(&caller, Action::Read)?;
    let (limit, offset) = page.resolve()?;
    let bound = caller.bound_application();
    let items: Vec<Application> = sqlx::query_as(concat!(
        "SELECT ",
        app_columns!(),
        " FROM applications WHERE ($1::text IS NULL OR id = $1) ORDER BY key LIMIT $2 OFFSET $3"
    ))
    .bind(bound)
    .bind(limit)
    .bind(offset)
    .fetch_all(&state.pool)
    .await?;
    let total: i64 = sqlx::query_scalar("SELECT count(*) FROM applications WHERE ($1::text IS NULL OR id = $1)")
        .bind(bound)
        .fetch_one(&state.pool)
        .await?;
    Ok(Reply(List { items, total, limit, offset }))
}

async fn read(State(state): State<AppState>, caller: Caller, Path(id): Path<String>) -> Result<Reply<Application>> {
    let mut conn = state.pool.acquire().await?;
    Ok(Reply(access::application(&mut conn, &caller, Action::Read, &id).await?))
}

async fn create(
    State(state): State<AppState>,
    caller: Caller,
    Json(body): Json<CreateApplication>,
) -> Result<(StatusCode, Reply<Application>)> {
    access::everything(&caller, Action::Write)?;
    let key = body.key.clone().unwrap_or_else(|| slugify(&body.name));
    let mut problems = Vec::new();
    if !is_slug(&key) {
        problems.push(FieldError::new(
            "key",
            "must match [a-z0-9][a-z0-9._-]{0,99} (lowercase letters, digits, '.', '_', '-')",
        ));
    }
    check_text(&mut problems, "name", &body.name, 1, 256);
    check_text(&mut problems, "comments", &body.comments, 0, 1024);
    if !problems.is_empty() {
        return Err(Error::Unprocessable(problems));
    }
    let mut tx = state.pool.begin().await?;
    let app = insert(&mut tx, &caller, &key, &body.name, &body.comments).await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, Reply(app)))
}

/// Creates an application (already validated) in the caller's transaction, with its snapshots.
pub(crate) async fn insert(
    tx: &mut sqlx::PgConnection,
    caller: &Caller,
    key: &str,
    name: &str,
    comments: &str,
) -> Result<Application> {
    let app: Application = sqlx::query_as(concat!(
        "INSERT INTO applications (id, key, name, comments) VALUES ($1, $2, $3, $4) RETURNING ",
        app_columns!()
    ))
    .bind(ulid::Ulid::new().to_string())
    .bind(key)
    .bind(name)
    .bind(comments)
    .fetch_one(&mut *tx)
    .await?;
    publish::publish_application(&mut *tx, &app.id).await?;
    audit::change(&mut *tx, caller, "create", None, Some(&app)).await?;
    Ok(app)
}

async fn update(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Path(id): Path<String>,
    Json(body): Json<UpdateApplication>,
) -> Result<Reply<Application>> {
    let expected = Expected::from(&headers, body.version)?;
    let mut problems = Vec::new();
    if let Some(name) = &body.name {
        check_text(&mut problems, "name", name, 1, 256);
    }
    if let Some(comments) = &body.comments {
        check_text(&mut problems, "comments", comments, 0, 1024);
    }
    if !problems.is_empty() {
        return Err(Error::Unprocessable(problems));
    }
    let mut tx = state.pool.begin().await?;
    let app = access::application(&mut tx, &caller, Action::Write, &id).await?;
    let before: Application =
        sqlx::query_as(concat!("SELECT ", app_columns!(), " FROM applications WHERE id = $1 FOR UPDATE"))
            .bind(&app.id)
            .fetch_optional(&mut *tx)
            .await?
            .ok_or_else(|| Error::NotFound(format!("application '{id}' not found")))?;
    expected.check(before.version)?;
    let after: Application = sqlx::query_as(concat!(
        "UPDATE applications SET name = COALESCE($2, name), comments = COALESCE($3, comments),
                version = version + 1, updated_at = now()
         WHERE id = $1 RETURNING ",
        app_columns!()
    ))
    .bind(&before.id)
    .bind(&body.name)
    .bind(&body.comments)
    .fetch_one(&mut *tx)
    .await?;
    audit::change(&mut tx, &caller, "update", Some(&before), Some(&after)).await?;
    tx.commit().await?;
    Ok(Reply(after))
}

async fn remove(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<StatusCode> {
    access::everything(&caller, Action::Write)?;
    let expected = Expected::from(&headers, None)?;
    let mut tx = state.pool.begin().await?;
    let before: Application =
        sqlx::query_as(concat!("SELECT ", app_columns!(), " FROM applications WHERE id = $1 OR key = $1 FOR UPDATE"))
            .bind(&id)
            .fetch_optional(&mut *tx)
            .await?
            .ok_or_else(|| Error::NotFound(format!("application '{id}' not found")))?;
    if before.key == "default" {
        return Err(Error::Conflict("the default application cannot be deleted".into()));
    }
    expected.check(before.version)?;
    publish::announce_deleted(&mut tx, Some(&before.id), None).await?;
    sqlx::query("DELETE FROM applications WHERE id = $1").bind(&before.id).execute(&mut *tx).await?;
    // Keys bound to it go with it.
    publish::announce_keys(&mut tx).await?;
    audit::change(&mut tx, &caller, "delete", Some(&before), None).await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}

impl audit::Audited for Application {
    const ENTITY: &'static str = "application";
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
