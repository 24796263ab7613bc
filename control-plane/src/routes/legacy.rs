//! The original config service's routes, with its request and response shapes, on Vane's model.
//!
//! * `/api/v1/config/…` (seed 002): `{key, value, environment, service_name, description,
//!   is_encrypted}`. `service_name` is the application (its key, slugified when it is not a
//!   slug; created on first use, like the original created rows on first write; absent →
//!   `default`). `is_encrypted` is Vane's `secret`. Addressed by key for reads and by id for
//!   writes, as the original did.
//! * `/api/v1/feature-flags/…` (seed 002): boolean flags of the `default` application with
//!   `is_enabled`, `rollout_percentage`, `target_users` per environment (mapping in
//!   [`vane_core::legacy`]). A flag created here is tagged `environment:<env>`, so the original's
//!   environment-less `PUT`/`GET` address that environment. `POST …/evaluate` answers
//!   `{enabled, reason, flag_name, environment}` from the published snapshot.
//! * `/api/v1/configurations/…` (seed 001): `{application_id, name, comments, config}` are a
//!   JSON config of an application; the original had no environments, so these live in the
//!   environment given by `?environment=` (or the body's `environment`), `production` when absent.
//!
//! Lists answer a plain JSON array (the original's shape). Unknown request fields are ignored,
//! as the original's models did. Everything else — auth, validation, history, audit,
//! publishing — is Vane's, through the same functions the native routes use.

use std::sync::Arc;

use axum::Json as Reply;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sqlx::PgConnection;
use vane_core::{Context, FlagType, legacy};

use super::applications::{self, Application};
use super::configs::{self, ConfigView, CreateConfig, Scope, UpdateConfig};
use super::environments::{self, Environment};
use super::flags::{self, CreateFlag, FlagRow, StateRow, UpdateState};
use super::{Expected, Page, Routes, is_slug, slugify};
use crate::auth::{Action, Caller, Reach};
use crate::error::{Error, Result};
use crate::json::{Json, Path, Query};
use crate::{AppState, access};

pub fn router() -> Routes {
    Routes::new("original config service")
        .get("/config", "List configs (original shape; filters: environment, service_name)", config_list)
        .post("/config", "Create a config (original shape)", config_create)
        .get("/config/{key}", "Read a config by key (?environment=&service_name=)", config_read)
        .put("/config/{key}", "Update a config by id (original shape)", config_update)
        .delete("/config/{key}", "Delete a config by id", config_delete)
        .get("/config/{id}/history", "A config's changes (original shape)", config_history)
        .get("/feature-flags", "List feature flags (original shape; filter: environment)", flag_list)
        .post("/feature-flags", "Create a feature flag (original shape)", flag_create)
        .post(
            "/feature-flags/evaluate",
            "Evaluate a feature flag: {enabled, reason, flag_name, environment}",
            flag_evaluate,
        )
        .get("/feature-flags/{name}", "Read a feature flag (?environment=)", flag_read)
        .put("/feature-flags/{name}", "Update a feature flag by id or name", flag_update)
        .delete("/feature-flags/{name}", "Delete a feature flag by id or name", flag_delete)
        .get("/configurations", "List JSON configurations (seed 001 shape)", configuration_list)
        .post("/configurations", "Create a JSON configuration", configuration_create)
        .get("/configurations/{id}", "Read a JSON configuration", configuration_read)
        .put("/configurations/{id}", "Update a JSON configuration", configuration_update)
        .delete("/configurations/{id}", "Delete a JSON configuration", configuration_delete)
}

/// The application a `service_name` stands for; created on first write when `create`.
async fn service_application(
    tx: &mut PgConnection,
    caller: &Caller,
    service_name: Option<&str>,
    create: bool,
) -> Result<Application> {
    let name = service_name.map(str::trim).filter(|s| !s.is_empty()).unwrap_or("default");
    let key = if is_slug(name) { name.to_owned() } else { slugify(name) };
    if !is_slug(&key) {
        return Err(Error::invalid("service_name", "must contain at least one letter or digit (at most 100)"));
    }
    match applications::find(&mut *tx, &key).await {
        Err(Error::NotFound(_)) if create => {
            // Creating an application reaches every environment and the application list.
            access::everything(caller, Action::Write)?;
            if name.chars().count() > 256 {
                return Err(Error::invalid("service_name", "must be at most 256 characters"));
            }
            applications::insert(tx, caller, &key, name, "created by the original config service's routes").await
        }
        other => other,
    }
}

fn required<'a>(field: &str, v: Option<&'a str>) -> Result<&'a str> {
    v.filter(|s| !s.is_empty()).ok_or_else(|| Error::invalid(field, "is required"))
}

// ---------------------------------------------------------------------------------------------
// /config

/// A config in the original's shape.
#[derive(Debug, Serialize)]
struct LegacyConfig {
    id: String,
    key: String,
    value: Value,
    environment: String,
    service_name: String,
    description: String,
    is_encrypted: bool,
    version: i64,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl From<ConfigView> for LegacyConfig {
    fn from(v: ConfigView) -> Self {
        LegacyConfig {
            id: v.id,
            key: v.key,
            value: v.value,
            environment: v.environment,
            service_name: v.application,
            description: v.description,
            is_encrypted: v.secret,
            version: v.version,
            created_at: v.created_at,
            updated_at: v.updated_at,
        }
    }
}

#[derive(Debug, Deserialize)]
struct ConfigCreate {
    key: String,
    value: Value,
    environment: String,
    service_name: Option<String>,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    is_encrypted: bool,
}

async fn config_create(
    State(state): State<AppState>,
    caller: Caller,
    Json(body): Json<ConfigCreate>,
) -> Result<(StatusCode, Reply<LegacyConfig>)> {
    caller.permits(Action::Write)?;
    let mut tx = state.pool.begin().await?;
    let app = service_application(&mut tx, &caller, body.service_name.as_deref(), true).await?;
    let environment = required("environment", Some(&body.environment))?;
    let s = configs::scope(&mut tx, &caller, Action::Write, &app.id, environment).await?;
    let created = configs::insert(
        &state,
        &mut tx,
        &caller,
        &s,
        CreateConfig {
            key: body.key,
            value: body.value,
            value_type: None,
            schema: None,
            description: body.description.unwrap_or_default(),
            secret: body.is_encrypted,
            client_visible: false,
        },
    )
    .await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, Reply(created.into())))
}

#[derive(Debug, Deserialize)]
struct ConfigFilter {
    environment: Option<String>,
    service_name: Option<String>,
    limit: Option<i64>,
    offset: Option<i64>,
}

#[derive(sqlx::FromRow)]
struct Located {
    key: String,
    application_id: String,
    environment_id: String,
}

async fn config_list(
    State(state): State<AppState>,
    caller: Caller,
    Query(f): Query<ConfigFilter>,
) -> Result<Reply<Vec<LegacyConfig>>> {
    access::listing(&caller, Action::Read)?;
    let (limit, offset) = Page { limit: f.limit, offset: f.offset }.resolve()?;
    let mut conn = state.pool.acquire().await?;
    let app = match &f.service_name {
        Some(s) => Some(service_application(&mut conn, &caller, Some(s), false).await?),
        None => None,
    };
    let env = match &f.environment {
        Some(e) => Some(environments::find(&mut *conn, e).await?),
        None => None,
    };
    let rows: Vec<Located> = sqlx::query_as(
        "SELECT c.key, c.application_id, c.environment_id FROM configs c
         JOIN applications a ON a.id = c.application_id JOIN environments e ON e.id = c.environment_id
         WHERE ($1::text IS NULL OR c.application_id = $1) AND ($2::text IS NULL OR c.environment_id = $2)
           AND ($3::text IS NULL OR c.application_id = $3) AND ($4::text IS NULL OR c.environment_id = $4)
         ORDER BY a.key, e.key, c.key LIMIT $5 OFFSET $6",
    )
    .bind(app.as_ref().map(|a| &a.id))
    .bind(env.as_ref().map(|e| &e.id))
    .bind(caller.bound_application())
    .bind(caller.bound_environment())
    .bind(limit)
    .bind(offset)
    .fetch_all(&mut *conn)
    .await?;
    let mut out = Vec::with_capacity(rows.len());
    for r in rows {
        let s = configs::scope(&mut conn, &caller, Action::Read, &r.application_id, &r.environment_id).await?;
        let row = configs::find(&mut conn, &s, &r.key, false).await?;
        out.push(configs::view(&state, &s, row)?.into());
    }
    Ok(Reply(out))
}

#[derive(Debug, Deserialize)]
struct ConfigLookup {
    environment: Option<String>,
    service_name: Option<String>,
}

async fn config_read(
    State(state): State<AppState>,
    caller: Caller,
    Path(key): Path<String>,
    Query(q): Query<ConfigLookup>,
) -> Result<Reply<LegacyConfig>> {
    caller.permits(Action::Read)?;
    let mut conn = state.pool.acquire().await?;
    let (s, row) = match q.environment.as_deref() {
        Some(env) => {
            let app = service_application(&mut conn, &caller, q.service_name.as_deref(), false).await?;
            let s = configs::scope(&mut conn, &caller, Action::Read, &app.id, env).await?;
            let row = configs::find(&mut conn, &s, &key, false).await?;
            (s, row)
        }
        // Without an environment the path can only be an id (the original's update/delete form).
        None => match configs::find_by_id(&mut conn, &key, false).await {
            Ok(row) => {
                (configs::scope(&mut conn, &caller, Action::Read, &row.application_id, &row.environment_id).await?, row)
            }
            Err(_) => {
                return Err(Error::invalid(
                    "environment",
                    "is required to read a config by key (?environment=…&service_name=…)",
                ));
            }
        },
    };
    Ok(Reply(configs::view(&state, &s, row)?.into()))
}

/// The config with this id and its scope, authorised for `action`.
async fn config_by_id(conn: &mut PgConnection, caller: &Caller, action: Action, id: &str) -> Result<(Scope, String)> {
    caller.permits(action)?;
    let row = configs::find_by_id(&mut *conn, id, false).await?;
    let s = configs::scope(conn, caller, action, &row.application_id, &row.environment_id).await?;
    Ok((s, row.key))
}

#[derive(Debug, Deserialize)]
struct ConfigUpdate {
    value: Option<Value>,
    description: Option<String>,
    is_encrypted: Option<bool>,
    version: Option<i64>,
}

async fn config_update(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Path(id): Path<String>,
    Json(body): Json<ConfigUpdate>,
) -> Result<Reply<LegacyConfig>> {
    caller.permits(Action::Write)?;
    let expected = Expected::from(&headers, body.version)?;
    let mut tx = state.pool.begin().await?;
    let (s, key) = config_by_id(&mut tx, &caller, Action::Write, &id).await?;
    let change = UpdateConfig {
        value: body.value,
        description: body.description,
        secret: body.is_encrypted,
        ..UpdateConfig::default()
    };
    let after = configs::apply(&state, &mut tx, &caller, &s, &key, expected, change, "update").await?;
    tx.commit().await?;
    Ok(Reply(after.into()))
}

async fn config_delete(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<StatusCode> {
    caller.permits(Action::Write)?;
    let expected = Expected::from(&headers, None)?;
    let mut tx = state.pool.begin().await?;
    let (s, key) = config_by_id(&mut tx, &caller, Action::Write, &id).await?;
    configs::delete(&state, &mut tx, &caller, &s, &key, expected).await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}

/// One change in the original's `configuration_history` shape.
#[derive(Debug, Serialize)]
struct LegacyChange {
    id: String,
    configuration_id: String,
    version: i64,
    old_value: Option<Value>,
    new_value: Value,
    changed_by: Option<String>,
    changed_at: DateTime<Utc>,
}

async fn config_history(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Query(page): Query<Page>,
) -> Result<Reply<Vec<LegacyChange>>> {
    let (limit, offset) = page.resolve()?;
    let mut conn = state.pool.acquire().await?;
    config_by_id(&mut conn, &caller, Action::Read, &id).await?;
    // One extra (older) row gives the last entry its old value.
    let rows = configs::history_rows(&mut conn, &id, limit + 1, offset).await?;
    let mut out = Vec::with_capacity(rows.len());
    for (i, h) in rows.iter().enumerate().take(limit as usize) {
        let old_value = match rows.get(i + 1) {
            Some(prev) => Some(configs::history_value(&state, prev)?),
            None => None,
        };
        out.push(LegacyChange {
            id: format!("{id}:{}", h.version),
            configuration_id: id.clone(),
            version: h.version,
            old_value,
            new_value: configs::history_value(&state, h)?,
            changed_by: h.actor.clone(),
            changed_at: h.at,
        });
    }
    Ok(Reply(out))
}

// ---------------------------------------------------------------------------------------------
// /feature-flags

/// A flag in one environment, in the original's shape.
#[derive(Debug, Serialize)]
struct LegacyFlag {
    id: String,
    name: String,
    description: String,
    is_enabled: bool,
    /// `null` when the flag's default is not an on/off split (a flag built with the native API).
    rollout_percentage: Option<f64>,
    target_users: Vec<String>,
    environment: String,
    version: i64,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

const ENV_TAG: &str = "environment:";

fn legacy_flag(flag: &FlagRow, state: &StateRow) -> Result<LegacyFlag> {
    let model = flags::model(flag, state)?;
    Ok(LegacyFlag {
        id: flag.id.clone(),
        name: flag.key.clone(),
        description: flag.description.clone(),
        is_enabled: state.enabled,
        rollout_percentage: legacy::rollout_percentage(&model.default),
        target_users: legacy::target_users(&model.rules),
        environment: state.environment.clone(),
        version: state.version,
        created_at: flag.created_at,
        updated_at: state.updated_at.max(flag.updated_at),
    })
}

/// The environment a request means: the one named, else the one the flag was created for.
fn flag_environment(flag: &FlagRow, named: Option<&str>) -> Result<String> {
    if let Some(e) = named.filter(|e| !e.is_empty()) {
        return Ok(e.to_owned());
    }
    flag.tags
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .find_map(|t| t.strip_prefix(ENV_TAG))
        .map(str::to_owned)
        .ok_or_else(|| Error::invalid("environment", "is required: this flag has a state in every environment"))
}

/// The `default` application, where the original service's feature flags live, for `action` on
/// its flags' definitions (creating or deleting one reaches every environment).
async fn default_app(conn: &mut PgConnection, caller: &Caller, action: Action) -> Result<Application> {
    access::application(conn, caller, action, "default").await
}

async fn state_in(conn: &mut PgConnection, flag: &FlagRow, env: &Environment) -> Result<StateRow> {
    flags::states(conn, &flag.id)
        .await?
        .into_iter()
        .find(|s| s.environment_id == env.id)
        .ok_or_else(|| Error::NotFound(format!("flag '{}' has no state in '{}'", flag.key, env.key)))
}

fn percentage(v: Option<f64>) -> Result<Option<f64>> {
    match v {
        Some(p) if legacy::percentage_to_parts(p).is_none() => {
            Err(Error::invalid("rollout_percentage", "must be a number from 0 to 100"))
        }
        other => Ok(other),
    }
}

/// The state change for the original's fields, keeping what the request leaves out.
fn state_change(
    current: &vane_core::Flag,
    is_enabled: Option<bool>,
    rollout_percentage: Option<f64>,
    target_users: Option<Vec<String>>,
) -> Result<UpdateState> {
    let pct = percentage(rollout_percentage)?;
    let mut change = UpdateState {
        enabled: is_enabled,
        off_variant: None,
        rules: None,
        default: None,
        prerequisites: None,
        salt: None,
        version: None,
    };
    if pct.is_none() && target_users.is_none() {
        return Ok(change);
    }
    let users = target_users.unwrap_or_else(|| legacy::target_users(&current.rules));
    let pct = pct.or_else(|| legacy::rollout_percentage(&current.default));
    let (target_rule, default) =
        legacy::to_state(pct.unwrap_or(0.0), &users).ok_or_else(|| Error::invalid("rollout_percentage", "0 to 100"))?;
    // Other rules (added with the native API) stay, after the target_users rule.
    let mut rules = target_rule;
    rules.extend(current.rules.iter().filter(|r| r.id != legacy::TARGET_USERS_RULE).cloned());
    change.rules = Some(rules);
    if pct.is_some() {
        change.default = Some(default);
    }
    Ok(change)
}

#[derive(Debug, Deserialize)]
struct FlagCreate {
    name: String,
    description: Option<String>,
    #[serde(default)]
    is_enabled: bool,
    #[serde(default)]
    rollout_percentage: f64,
    #[serde(default)]
    target_users: Vec<String>,
    environment: String,
}

async fn flag_create(
    State(state): State<AppState>,
    caller: Caller,
    Json(body): Json<FlagCreate>,
) -> Result<(StatusCode, Reply<LegacyFlag>)> {
    caller.permits(Action::Write)?;
    percentage(Some(body.rollout_percentage))?;
    let mut tx = state.pool.begin().await?;
    let app = default_app(&mut tx, &caller, Action::Write).await?;
    let env = environments::find(&mut *tx, required("environment", Some(&body.environment))?).await?;
    caller.authorize(Action::Write, Reach::stream(&app.id, &env.id))?;
    let created = flags::insert(
        &mut tx,
        &caller,
        &app,
        CreateFlag {
            key: body.name.clone(),
            flag_type: FlagType::Boolean,
            variants: Vec::new(),
            description: body.description.unwrap_or_default(),
            tags: vec![format!("{ENV_TAG}{}", env.key)],
            client_visible: false,
        },
    )
    .await?;
    let flag = created.flag;
    let current = flags::model(&flag, &state_in(&mut tx, &flag, &env).await?)?;
    let change = state_change(&current, Some(body.is_enabled), Some(body.rollout_percentage), Some(body.target_users))?;
    let after = flags::apply_state(&mut tx, &caller, &app, &flag, &env, Expected::Any, change, "update", None).await?;
    let out = legacy_flag(&flag, &after)?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, Reply(out)))
}

#[derive(Debug, Deserialize)]
struct FlagFilter {
    environment: Option<String>,
    limit: Option<i64>,
    offset: Option<i64>,
}

async fn flag_list(
    State(state): State<AppState>,
    caller: Caller,
    Query(f): Query<FlagFilter>,
) -> Result<Reply<Vec<LegacyFlag>>> {
    let (limit, offset) = Page { limit: f.limit, offset: f.offset }.resolve()?;
    let mut conn = state.pool.acquire().await?;
    let app = default_app(&mut conn, &caller, Action::Read).await?;
    let env = match &f.environment {
        Some(e) => Some(environments::find(&mut *conn, e).await?),
        None => None,
    };
    let rows: Vec<FlagRow> = sqlx::query_as(
        "SELECT id, application_id, key, type, variants, description, tags, client_visible, archived, version,
                created_at, updated_at
         FROM flags WHERE application_id = $1 AND NOT archived ORDER BY key LIMIT $2 OFFSET $3",
    )
    .bind(&app.id)
    .bind(limit)
    .bind(offset)
    .fetch_all(&mut *conn)
    .await?;
    let mut out = Vec::new();
    for flag in rows {
        for s in flags::states(&mut conn, &flag.id).await? {
            let wanted =
                caller.sees(&app.id, &s.environment_id) && env.as_ref().is_none_or(|e| e.id == s.environment_id);
            if wanted {
                out.push(legacy_flag(&flag, &s)?);
            }
        }
    }
    Ok(Reply(out))
}

#[derive(Debug, Deserialize)]
struct EnvQuery {
    environment: Option<String>,
}

async fn flag_read(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
    Query(q): Query<EnvQuery>,
) -> Result<Reply<LegacyFlag>> {
    let mut conn = state.pool.acquire().await?;
    let app = default_app(&mut conn, &caller, Action::Read).await?;
    let flag = flags::find(&mut conn, &app, &name, false).await?;
    let env = environments::find(&mut *conn, &flag_environment(&flag, q.environment.as_deref())?).await?;
    caller.authorize(Action::Read, Reach::stream(&app.id, &env.id))?;
    let s = state_in(&mut conn, &flag, &env).await?;
    Ok(Reply(legacy_flag(&flag, &s)?))
}

#[derive(Debug, Deserialize)]
struct FlagUpdate {
    description: Option<String>,
    is_enabled: Option<bool>,
    rollout_percentage: Option<f64>,
    target_users: Option<Vec<String>>,
    environment: Option<String>,
    version: Option<i64>,
}

async fn flag_update(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Path(id): Path<String>,
    Query(q): Query<EnvQuery>,
    Json(body): Json<FlagUpdate>,
) -> Result<Reply<LegacyFlag>> {
    caller.permits(Action::Write)?;
    let expected = Expected::from(&headers, body.version)?;
    let mut tx = state.pool.begin().await?;
    // The state of one environment; the description (below) is the definition's.
    let app = applications::find(&mut *tx, "default").await?;
    let mut flag = flags::find(&mut tx, &app, &id, false).await?;
    let named = body.environment.as_deref().or(q.environment.as_deref());
    let env = environments::find(&mut *tx, &flag_environment(&flag, named)?).await?;
    caller.authorize(Action::Write, Reach::stream(&app.id, &env.id))?;
    if flag.flag_type != "boolean" {
        return Err(Error::invalid("name", format!("'{}' is a {} flag; use the flags API", flag.key, flag.flag_type)));
    }
    if let Some(d) = body.description.filter(|d| *d != flag.description) {
        caller.authorize(Action::Write, Reach::definitions(&app.id))?;
        flag = sqlx::query_as(
            "UPDATE flags SET description = $2, version = version + 1, updated_at = now() WHERE id = $1
             RETURNING id, application_id, key, type, variants, description, tags, client_visible, archived, version,
                       created_at, updated_at",
        )
        .bind(&flag.id)
        .bind(&d)
        .fetch_one(&mut *tx)
        .await?;
        crate::publish::publish_application(&mut tx, &app.id).await?;
    }
    let current = flags::model(&flag, &state_in(&mut tx, &flag, &env).await?)?;
    let change = state_change(&current, body.is_enabled, body.rollout_percentage, body.target_users)?;
    let after = flags::apply_state(&mut tx, &caller, &app, &flag, &env, expected, change, "update", None).await?;
    let out = legacy_flag(&flag, &after)?;
    tx.commit().await?;
    Ok(Reply(out))
}

async fn flag_delete(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<StatusCode> {
    let expected = Expected::from(&headers, None)?;
    let mut tx = state.pool.begin().await?;
    let app = default_app(&mut tx, &caller, Action::Write).await?;
    flags::delete(&mut tx, &caller, &app, &id, expected).await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize)]
struct Evaluate {
    flag_name: String,
    environment: String,
    user_id: Option<String>,
    /// Extra attributes for rules added with the native API (not in the original).
    #[serde(default)]
    attributes: Option<serde_json::Map<String, Value>>,
}

#[derive(Debug, Serialize)]
pub struct EvaluateResponse {
    pub enabled: bool,
    pub reason: &'static str,
    pub flag_name: String,
    pub environment: String,
}

async fn flag_evaluate(
    State(state): State<AppState>,
    caller: Caller,
    Json(body): Json<Evaluate>,
) -> Result<Reply<EvaluateResponse>> {
    caller.permits(Action::Evaluate)?;
    let env_key = required("environment", Some(&body.environment))?;
    let mut conn = state.pool.acquire().await?;
    let (app, env) = access::stream(&mut conn, &caller, Action::Evaluate, "default", env_key).await?;
    let snapshot = state.compiled.get(&mut conn, &app.id, &env.id).await?;
    drop(conn);
    let mut attrs = body.attributes.unwrap_or_default();
    if let Some(user) = body.user_id {
        attrs.insert(vane_core::TARGETING_KEY.to_owned(), Value::String(user));
    }
    let ctx = Context::from_json(&Value::Object(attrs)).map_err(|e| Error::invalid("attributes", e.to_string()))?;
    let e = snapshot.evaluate(&body.flag_name, &ctx, Utc::now().timestamp_millis());
    let (enabled, reason) = legacy::evaluate_response(&e);
    Ok(Reply(EvaluateResponse { enabled, reason, flag_name: body.flag_name, environment: env.key }))
}

// ---------------------------------------------------------------------------------------------
// /configurations (seed 001)

#[derive(Debug, Serialize)]
struct LegacyConfiguration {
    id: String,
    application_id: String,
    name: String,
    comments: String,
    config: Value,
    environment: String,
    version: i64,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

fn configuration(application_id: &str, v: ConfigView) -> LegacyConfiguration {
    LegacyConfiguration {
        id: v.id,
        application_id: application_id.to_owned(),
        name: v.key,
        comments: v.description,
        config: v.value,
        environment: v.environment,
        version: v.version,
        created_at: v.created_at,
        updated_at: v.updated_at,
    }
}

const CONFIGURATIONS_ENVIRONMENT: &str = "production";

#[derive(Debug, Deserialize)]
struct ConfigurationCreate {
    application_id: String,
    name: String,
    #[serde(default)]
    comments: Option<String>,
    config: Value,
    environment: Option<String>,
}

async fn configuration_create(
    State(state): State<AppState>,
    caller: Caller,
    Query(q): Query<EnvQuery>,
    Json(body): Json<ConfigurationCreate>,
) -> Result<(StatusCode, Reply<LegacyConfiguration>)> {
    caller.permits(Action::Write)?;
    if body.comments.as_ref().is_some_and(|c| c.chars().count() > 1024) {
        return Err(Error::invalid("comments", "must be at most 1024 characters"));
    }
    let env = body.environment.or(q.environment).unwrap_or_else(|| CONFIGURATIONS_ENVIRONMENT.to_owned());
    let mut tx = state.pool.begin().await?;
    let s = configs::scope(&mut tx, &caller, Action::Write, &body.application_id, &env).await?;
    let app_id = s.application_id.clone();
    let created = configs::insert(
        &state,
        &mut tx,
        &caller,
        &s,
        CreateConfig {
            key: body.name,
            value: body.config,
            value_type: Some("json".into()),
            schema: None,
            description: body.comments.unwrap_or_default(),
            secret: false,
            client_visible: false,
        },
    )
    .await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, Reply(configuration(&app_id, created))))
}

#[derive(Debug, Deserialize)]
struct ConfigurationFilter {
    application_id: Option<String>,
    environment: Option<String>,
    limit: Option<i64>,
    offset: Option<i64>,
}

async fn configuration_list(
    State(state): State<AppState>,
    caller: Caller,
    Query(f): Query<ConfigurationFilter>,
) -> Result<Reply<Vec<LegacyConfiguration>>> {
    access::listing(&caller, Action::Read)?;
    let (limit, offset) = Page { limit: f.limit, offset: f.offset }.resolve()?;
    let mut conn = state.pool.acquire().await?;
    let app = match &f.application_id {
        Some(a) => Some(applications::find(&mut *conn, a).await?),
        None => None,
    };
    let env = environments::find(&mut *conn, f.environment.as_deref().unwrap_or(CONFIGURATIONS_ENVIRONMENT)).await?;
    let rows: Vec<Located> = sqlx::query_as(
        "SELECT c.key, c.application_id, c.environment_id FROM configs c
         WHERE c.environment_id = $1 AND ($2::text IS NULL OR c.application_id = $2)
           AND ($3::text IS NULL OR c.application_id = $3) AND ($4::text IS NULL OR c.environment_id = $4)
         ORDER BY c.application_id, c.key LIMIT $5 OFFSET $6",
    )
    .bind(&env.id)
    .bind(app.as_ref().map(|a| &a.id))
    .bind(caller.bound_application())
    .bind(caller.bound_environment())
    .bind(limit)
    .bind(offset)
    .fetch_all(&mut *conn)
    .await?;
    let mut out = Vec::with_capacity(rows.len());
    for r in rows {
        let s = configs::scope(&mut conn, &caller, Action::Read, &r.application_id, &r.environment_id).await?;
        let row = configs::find(&mut conn, &s, &r.key, false).await?;
        out.push(configuration(&r.application_id, configs::view(&state, &s, row)?));
    }
    Ok(Reply(out))
}

async fn configuration_read(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Reply<LegacyConfiguration>> {
    caller.permits(Action::Read)?;
    let mut conn = state.pool.acquire().await?;
    let row = configs::find_by_id(&mut conn, &id, false).await?;
    let s = configs::scope(&mut conn, &caller, Action::Read, &row.application_id, &row.environment_id).await?;
    Ok(Reply(configuration(&s.application_id, configs::view(&state, &s, row)?)))
}

#[derive(Debug, Deserialize)]
struct ConfigurationUpdate {
    name: Option<String>,
    comments: Option<String>,
    config: Option<Value>,
    version: Option<i64>,
}

async fn configuration_update(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Path(id): Path<String>,
    Json(body): Json<ConfigurationUpdate>,
) -> Result<Reply<LegacyConfiguration>> {
    caller.permits(Action::Write)?;
    let expected = Expected::from(&headers, body.version)?;
    if body.comments.as_ref().is_some_and(|c| c.chars().count() > 1024) {
        return Err(Error::invalid("comments", "must be at most 1024 characters"));
    }
    let mut tx = state.pool.begin().await?;
    let (s, key) = config_by_id(&mut tx, &caller, Action::Write, &id).await?;
    if body.name.as_ref().is_some_and(|n| *n != key) {
        return Err(Error::invalid("name", "a configuration cannot be renamed; create one with the new name"));
    }
    let change = UpdateConfig {
        value: body.config,
        value_type: Some("json".into()),
        description: body.comments,
        ..UpdateConfig::default()
    };
    let after = configs::apply(&state, &mut tx, &caller, &s, &key, expected, change, "update").await?;
    tx.commit().await?;
    Ok(Reply(configuration(&s.application_id, after)))
}

async fn configuration_delete(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<StatusCode> {
    config_delete(State(state), caller, headers, Path(id)).await
}

/// Compiled server snapshots per stream, reused while the stream's snapshot is unchanged.
#[derive(Debug, Default, Clone)]
pub struct CompiledCache {
    inner: Arc<std::sync::Mutex<std::collections::HashMap<StreamIds, Compiled>>>,
}

/// `(application_id, environment_id)`.
type StreamIds = (String, String);
/// A stream's server snapshot (by etag), compiled.
type Compiled = (String, Arc<vane_core::CompiledSnapshot>);

impl CompiledCache {
    /// The compiled latest server snapshot of a stream (one version query when cached).
    pub async fn get(
        &self,
        conn: &mut PgConnection,
        application_id: &str,
        environment_id: &str,
    ) -> Result<Arc<vane_core::CompiledSnapshot>> {
        let (version, etag): (i64, String) = sqlx::query_as(
            "SELECT t.version, s.etag FROM snapshot_streams t
             JOIN snapshots s ON s.application_id = t.application_id AND s.environment_id = t.environment_id
                             AND s.audience = t.audience AND s.version = t.version
             WHERE t.application_id = $1 AND t.environment_id = $2 AND t.audience = 'server'",
        )
        .bind(application_id)
        .bind(environment_id)
        .fetch_optional(&mut *conn)
        .await?
        .ok_or(Error::Unavailable)?;
        let key = (application_id.to_owned(), environment_id.to_owned());
        if let Ok(map) = self.inner.lock()
            && let Some((e, c)) = map.get(&key)
            && *e == etag
        {
            return Ok(c.clone());
        }
        let body = crate::publish::stored_body(&mut *conn, application_id, environment_id, "server", version, &etag)
            .await?
            .ok_or(Error::Unavailable)?;
        let (compiled, _) = vane_core::compile_json(&body).map_err(|e| Error::Internal(e.to_string()))?;
        let compiled = Arc::new(compiled);
        if let Ok(mut map) = self.inner.lock() {
            map.insert(key, (etag, compiled.clone()));
        }
        Ok(compiled)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn environment_tag_is_found() {
        let flag = FlagRow {
            id: "x".into(),
            application_id: "a".into(),
            key: "k".into(),
            flag_type: "boolean".into(),
            variants: json!([]),
            description: String::new(),
            tags: json!(["team:web", "environment:staging"]),
            client_visible: false,
            archived: false,
            version: 1,
            created_at: Utc::now(),
            updated_at: Utc::now(),
        };
        assert_eq!(flag_environment(&flag, None).ok().as_deref(), Some("staging"));
        assert_eq!(flag_environment(&flag, Some("production")).ok().as_deref(), Some("production"));
    }
}
