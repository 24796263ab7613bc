//! `/api/v1/environments`: deployment stages with the staleness settings the edge obeys.
//! Changing `max_staleness_s` or `stale_policy` republishes the environment's snapshots;
//! `development`, `staging` and `production` always exist.

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

/// Environments that always exist.
pub const BUILT_IN: [&str; 3] = ["development", "staging", "production"];

pub fn router() -> Routes {
    Routes::new("environments")
        .get("/environments", "List environments", list)
        .post("/environments", "Create an environment", create)
        .get("/environments/{environment}", "Read an environment", read)
        .put("/environments/{environment}", "Update an environment (staleness settings)", update)
        .patch("/environments/{environment}", "Update an environment (staleness settings)", update)
        .delete("/environments/{environment}", "Delete an environment", remove)
}

#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
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

macro_rules! env_columns {
    () => {
        "id, key, name, max_staleness_s, stale_policy, version, created_at, updated_at"
    };
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateEnvironment {
    key: Option<String>,
    name: String,
    #[serde(default)]
    max_staleness_s: i64,
    #[serde(default = "serve_stale")]
    stale_policy: String,
}

fn serve_stale() -> String {
    "serve_stale".into()
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct UpdateEnvironment {
    name: Option<String>,
    max_staleness_s: Option<i64>,
    stale_policy: Option<String>,
    version: Option<i64>,
}

fn check_settings(problems: &mut Vec<FieldError>, max_staleness_s: Option<i64>, stale_policy: Option<&str>) {
    if max_staleness_s.is_some_and(|s| s < 0) {
        problems.push(FieldError::new("max_staleness_s", "must not be negative (0 means no limit)"));
    }
    if stale_policy.is_some_and(|p| p != "serve_stale" && p != "fail_closed") {
        problems.push(FieldError::new("stale_policy", "must be \"serve_stale\" or \"fail_closed\""));
    }
}

/// Finds an environment by ULID or key.
pub async fn find(conn: impl sqlx::PgExecutor<'_>, id_or_key: &str) -> Result<Environment> {
    sqlx::query_as(concat!("SELECT ", env_columns!(), " FROM environments WHERE id = $1 OR key = $1"))
        .bind(id_or_key)
        .fetch_optional(conn)
        .await?
        .ok_or_else(|| Error::NotFound(format!("environment '{id_or_key}' not found")))
}

async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Query(page): Query<Page>,
) -> Result<Reply<List<Environment>>> {
    access::listing(&caller, Action::Read)?;
    let (limit, offset) = page.resolve()?;
    let bound = caller.bound_environment();
    let items: Vec<Environment> = sqlx::query_as(concat!(
        "SELECT ",
        env_columns!(),
        " FROM environments WHERE ($1::text IS NULL OR id = $1) ORDER BY key LIMIT $2 OFFSET $3"
    ))
    .bind(bound)
    .bind(limit)
    .bind(offset)
    .fetch_all(&state.pool)
    .await?;
    let total: i64 = sqlx::query_scalar("SELECT count(*) FROM environments WHERE ($1::text IS NULL OR id = $1)")
        .bind(bound)
        .fetch_one(&state.pool)
        .await?;
    Ok(Reply(List { items, total, limit, offset }))
}

async fn read(State(state): State<AppState>, caller: Caller, Path(id): Path<String>) -> Result<Reply<Environment>> {
    let mut conn = state.pool.acquire().await?;
    Ok(Reply(access::environment(&mut conn, &caller, Action::Read, &id).await?))
}

async fn create(
    State(state): State<AppState>,
    caller: Caller,
    Json(body): Json<CreateEnvironment>,
) -> Result<(StatusCode, Reply<Environment>)> {
    access::everything(&caller, Action::Write)?;
    let key = body.key.clone().unwrap_or_else(|| slugify(&body.name));
    let mut problems = Vec::new();
    if !is_slug(&key) {
        problems.push(FieldError::new("key", "must match [a-z0-9][a-z0-9._-]{0,99}"));
    }
    check_text(&mut problems, "name", &body.name, 1, 256);
    check_settings(&mut problems, Some(body.max_staleness_s), Some(&body.stale_policy));
    if !problems.is_empty() {
        return Err(Error::Unprocessable(problems));
    }
    let mut tx = state.pool.begin().await?;
    let env: Environment = sqlx::query_as(concat!(
        "INSERT INTO environments (id, key, name, max_staleness_s, stale_policy) VALUES ($1, $2, $3, $4, $5)
         RETURNING ",
        env_columns!()
    ))
    .bind(ulid::Ulid::new().to_string())
    .bind(&key)
    .bind(&body.name)
    .bind(body.max_staleness_s)
    .bind(&body.stale_policy)
    .fetch_one(&mut *tx)
    .await?;
    // Every flag gets a (disabled) state in the new environment, as at its creation.
    sqlx::query(
        "INSERT INTO flag_states (flag_id, environment_id, enabled, off_variant, default_serve, salt)
         SELECT f.id, $1, false,
                CASE WHEN f.type = 'boolean' THEN 'off' END,
                CASE WHEN f.type = 'boolean' THEN jsonb_build_object('variant', 'on')
                     ELSE jsonb_build_object('variant', f.variants -> 0 ->> 'key') END,
                f.key
         FROM flags f",
    )
    .bind(&env.id)
    .execute(&mut *tx)
    .await?;
    publish::publish_environment(&mut tx, &env.id).await?;
    audit::change(&mut tx, &caller, "create", None, Some(&env)).await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, Reply(env)))
}

async fn update(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Path(id): Path<String>,
    Json(body): Json<UpdateEnvironment>,
) -> Result<Reply<Environment>> {
    let expected = Expected::from(&headers, body.version)?;
    let mut problems = Vec::new();
    if let Some(name) = &body.name {
        check_text(&mut problems, "name", name, 1, 256);
    }
    check_settings(&mut problems, body.max_staleness_s, body.stale_policy.as_deref());
    if !problems.is_empty() {
        return Err(Error::Unprocessable(problems));
    }
    let mut tx = state.pool.begin().await?;
    let env = access::environment(&mut tx, &caller, Action::Write, &id).await?;
    let before: Environment =
        sqlx::query_as(concat!("SELECT ", env_columns!(), " FROM environments WHERE id = $1 FOR UPDATE"))
            .bind(&env.id)
            .fetch_optional(&mut *tx)
            .await?
            .ok_or_else(|| Error::NotFound(format!("environment '{id}' not found")))?;
    expected.check(before.version)?;
    let after: Environment = sqlx::query_as(concat!(
        "UPDATE environments SET name = COALESCE($2, name), max_staleness_s = COALESCE($3, max_staleness_s),
                stale_policy = COALESCE($4, stale_policy), version = version + 1, updated_at = now()
         WHERE id = $1 RETURNING ",
        env_columns!()
    ))
    .bind(&before.id)
    .bind(&body.name)
    .bind(body.max_staleness_s)
    .bind(&body.stale_policy)
    .fetch_one(&mut *tx)
    .await?;
    if after.max_staleness_s != before.max_staleness_s || after.stale_policy != before.stale_policy {
        publish::publish_environment(&mut tx, &after.id).await?;
    }
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
    let before: Environment =
        sqlx::query_as(concat!("SELECT ", env_columns!(), " FROM environments WHERE id = $1 OR key = $1 FOR UPDATE"))
            .bind(&id)
            .fetch_optional(&mut *tx)
            .await?
            .ok_or_else(|| Error::NotFound(format!("environment '{id}' not found")))?;
    if BUILT_IN.contains(&before.key.as_str()) {
        return Err(Error::Conflict(format!("the built-in environment '{}' cannot be deleted", before.key)));
    }
    expected.check(before.version)?;
    publish::announce_deleted(&mut tx, None, Some(&before.id)).await?;
    sqlx::query("DELETE FROM environments WHERE id = $1").bind(&before.id).execute(&mut *tx).await?;
    // Keys bound to it go with it.
    publish::announce_keys(&mut tx).await?;
    audit::change(&mut tx, &caller, "delete", Some(&before), None).await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}

impl audit::Audited for Environment {
    const ENTITY: &'static str = "environment";
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
