//! `/api/v1/applications/{application}/environments/{environment}/configs`: typed JSON values
//! per application × environment × key.
//!
//! Every write checks the value against its `value_type` and, when one is set, its JSON Schema
//! (422 naming the failing path, e.g. `value/port`). Secret values are encrypted with
//! `VANE_ENCRYPTION_KEY` (a clear 422 when no key is configured), read back only by admin/read
//! keys, redacted in audit rows, and never published. Non-secret values are published in server
//! snapshots, and in client snapshots when `client_visible`. Every version is kept; rollback
//! restores one as a new version.

use axum::Json as Reply;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sqlx::PgConnection;

use super::environments::Environment;
use super::{Expected, List, Page, Routes};
use crate::audit::{self, Entry};
use crate::auth::{Action, Caller};
use crate::error::{Error, FieldError, Result};
use crate::json::{Json, Path, Query};
use crate::{AppState, access, publish};

pub fn router() -> Routes {
    const BASE: &str = "/applications/{application}/environments/{environment}/configs";
    const ONE: &str = "/applications/{application}/environments/{environment}/configs/{key}";
    Routes::new("configs")
        .get(BASE, "List configs", list)
        .post(BASE, "Create a config", create)
        .get(ONE, "Read a config (secrets decrypted for admin/read keys)", read)
        .put(ONE, "Update a config", update)
        .patch(ONE, "Update a config", update)
        .delete(ONE, "Delete a config", remove)
        .get(&format!("{ONE}/history"), "Every version of a config", history)
        .post(&format!("{ONE}/rollback"), "Restore an earlier version as a new version", rollback)
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ConfigRow {
    pub application_id: String,
    pub environment_id: String,
    pub id: String,
    pub key: String,
    pub value: Option<Value>,
    pub ciphertext: Option<String>,
    pub value_type: String,
    pub schema: Option<Value>,
    pub description: String,
    pub secret: bool,
    pub client_visible: bool,
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

macro_rules! config_columns {
    () => {
        "id, application_id, environment_id, key, value, ciphertext, value_type, schema, description, secret, client_visible, version, created_at, updated_at"
    };
}

/// A config as the API shows it (secrets decrypted for the admin/read keys that may see them).
#[derive(Debug, Clone, Serialize)]
pub struct ConfigView {
    pub id: String,
    pub key: String,
    pub application: String,
    pub environment: String,
    pub value: Value,
    pub value_type: String,
    pub schema: Option<Value>,
    pub description: String,
    pub secret: bool,
    pub client_visible: bool,
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// What audit rows hold: the view with a secret's value replaced.
fn redacted(v: &ConfigView) -> Value {
    let mut j = serde_json::to_value(v).unwrap_or(Value::Null);
    if v.secret {
        j["value"] = json!("***redacted***");
    }
    j
}

fn is_config_key(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.len() <= 255
        && b.first().is_some_and(u8::is_ascii_alphanumeric)
        && b.iter().all(|c| c.is_ascii_alphanumeric() || matches!(c, b'.' | b'_' | b':' | b'-'))
}

fn infer_type(v: &Value) -> &'static str {
    match v {
        Value::String(_) => "string",
        Value::Number(_) => "number",
        Value::Bool(_) => "boolean",
        _ => "json",
    }
}

/// Type and schema checks, one problem per failing path.
/// A secret's value never appears in a message: schema failures then name the schema keyword
/// that failed instead of quoting the value.
fn check(value: &Value, value_type: &str, schema: Option<&Value>, secret: bool) -> Result<()> {
    let mut problems = Vec::new();
    let type_ok = match value_type {
        "string" => value.is_string(),
        "number" => value.is_number(),
        "boolean" => value.is_boolean(),
        "json" => true,
        _ => {
            problems.push(FieldError::new("value_type", "must be \"string\", \"number\", \"boolean\" or \"json\""));
            true
        }
    };
    if !type_ok {
        problems.push(FieldError::new("value", format!("expected a {value_type} value, got {}", infer_type(value))));
    }
    if let Some(schema) = schema {
        match jsonschema::validator_for(schema) {
            Err(e) => problems.push(FieldError::new("schema", format!("invalid JSON Schema: {e}"))),
            Ok(validator) => {
                for e in validator.iter_errors(value) {
                    let message = if secret {
                        format!("the secret value does not satisfy the schema at {}", e.schema_path())
                    } else {
                        e.to_string()
                    };
                    problems.push(FieldError::new(format!("value{}", e.instance_path()), message));
                }
            }
        }
    }
    if problems.is_empty() { Ok(()) } else { Err(Error::Unprocessable(problems)) }
}

pub(crate) struct Scope {
    pub application_id: String,
    pub application: String,
    pub environment: Environment,
}

/// The configs of `application` × `environment`, authorised for `action`.
pub(crate) async fn scope(
    conn: &mut PgConnection,
    caller: &Caller,
    action: Action,
    application: &str,
    environment: &str,
) -> Result<Scope> {
    let (app, environment) = access::stream(conn, caller, action, application, environment).await?;
    Ok(Scope { application_id: app.id, application: app.key, environment })
}

pub(crate) fn view(state: &AppState, s: &Scope, row: ConfigRow) -> Result<ConfigView> {
    let value = match (&row.value, &row.ciphertext) {
        (Some(v), _) => v.clone(),
        (None, Some(sealed)) => {
            let cipher = state.cipher.as_ref().ok_or_else(|| {
                Error::Internal("a secret config exists but VANE_ENCRYPTION_KEY is not configured".into())
            })?;
            serde_json::from_slice(&cipher.decrypt(sealed)?).map_err(|e| Error::Internal(e.to_string()))?
        }
        (None, None) => Value::Null,
    };
    Ok(ConfigView {
        id: row.id,
        key: row.key,
        application: s.application.clone(),
        environment: s.environment.key.clone(),
        value,
        value_type: row.value_type,
        schema: row.schema,
        description: row.description,
        secret: row.secret,
        client_visible: row.client_visible,
        version: row.version,
        created_at: row.created_at,
        updated_at: row.updated_at,
    })
}

pub(crate) async fn find(conn: &mut PgConnection, s: &Scope, key: &str, lock: bool) -> Result<ConfigRow> {
    let sql = if lock {
        concat!(
            "SELECT ",
            config_columns!(),
            " FROM configs WHERE application_id = $1 AND environment_id = $2 AND key = $3 FOR UPDATE"
        )
    } else {
        concat!(
            "SELECT ",
            config_columns!(),
            " FROM configs WHERE application_id = $1 AND environment_id = $2 AND key = $3"
        )
    };
    sqlx::query_as(sql)
        .bind(&s.application_id)
        .bind(&s.environment.id)
        .bind(key)
        .fetch_optional(conn)
        .await?
        .ok_or_else(|| Error::NotFound(format!("config '{key}' not found in {}/{}", s.application, s.environment.key)))
}

/// A config by its id, wherever it lives (the original service's routes address configs by id).
pub(crate) async fn find_by_id(conn: &mut PgConnection, id: &str, lock: bool) -> Result<ConfigRow> {
    let sql = if lock {
        concat!("SELECT ", config_columns!(), " FROM configs WHERE id = $1 FOR UPDATE")
    } else {
        concat!("SELECT ", config_columns!(), " FROM configs WHERE id = $1")
    };
    sqlx::query_as(sql)
        .bind(id)
        .fetch_optional(conn)
        .await?
        .ok_or_else(|| Error::NotFound(format!("config '{id}' not found")))
}

/// `(value, ciphertext)` columns for a value, encrypting secrets.
fn storage(state: &AppState, value: &Value, secret: bool) -> Result<(Option<Value>, Option<String>)> {
    if !secret {
        return Ok((Some(value.clone()), None));
    }
    let cipher = state.cipher.as_ref().ok_or_else(|| {
        Error::invalid("secret", "secret configs need VANE_ENCRYPTION_KEY to be configured on the server")
    })?;
    let plain = serde_json::to_vec(value).map_err(|e| Error::Internal(e.to_string()))?;
    Ok((None, Some(cipher.encrypt(&plain)?)))
}

async fn record_history(conn: &mut PgConnection, caller: &Caller, row: &ConfigRow) -> Result<()> {
    sqlx::query(
        "INSERT INTO config_history (config_id, version, value, ciphertext, value_type, schema, description, actor)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(&row.id)
    .bind(row.version)
    .bind(&row.value)
    .bind(&row.ciphertext)
    .bind(&row.value_type)
    .bind(&row.schema)
    .bind(&row.description)
    .bind(&caller.key_id)
    .execute(conn)
    .await?;
    Ok(())
}

async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Path((application, environment)): Path<(String, String)>,
    Query(page): Query<Page>,
) -> Result<Reply<List<ConfigView>>> {
    let (limit, offset) = page.resolve()?;
    let mut conn = state.pool.acquire().await?;
    let s = scope(&mut conn, &caller, Action::Read, &application, &environment).await?;
    let rows: Vec<ConfigRow> = sqlx::query_as(concat!(
        "SELECT ",
        config_columns!(),
        " FROM configs WHERE application_id = $1 AND environment_id = $2 ORDER BY key LIMIT $3 OFFSET $4"
    ))
    .bind(&s.application_id)
    .bind(&s.environment.id)
    .bind(limit)
    .bind(offset)
    .fetch_all(&mut *conn)
    .await?;
    let total: i64 =
        sqlx::query_scalar("SELECT count(*) FROM configs WHERE application_id = $1 AND environment_id = $2")
            .bind(&s.application_id)
            .bind(&s.environment.id)
            .fetch_one(&mut *conn)
            .await?;
    let items = rows.into_iter().map(|r| view(&state, &s, r)).collect::<Result<Vec<_>>>()?;
    Ok(Reply(List { items, total, limit, offset }))
}

async fn read(
    State(state): State<AppState>,
    caller: Caller,
    Path((application, environment, key)): Path<(String, String, String)>,
) -> Result<Reply<ConfigView>> {
    let mut conn = state.pool.acquire().await?;
    let s = scope(&mut conn, &caller, Action::Read, &application, &environment).await?;
    let row = find(&mut conn, &s, &key, false).await?;
    Ok(Reply(view(&state, &s, row)?))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct CreateConfig {
    pub key: String,
    pub value: Value,
    pub value_type: Option<String>,
    pub schema: Option<Value>,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub secret: bool,
    #[serde(default)]
    pub client_visible: bool,
}

async fn create(
    State(state): State<AppState>,
    caller: Caller,
    Path((application, environment)): Path<(String, String)>,
    Json(body): Json<CreateConfig>,
) -> Result<(StatusCode, Reply<ConfigView>)> {
    let mut tx = state.pool.begin().await?;
    let s = scope(&mut tx, &caller, Action::Write, &application, &environment).await?;
    let created = insert(&state, &mut tx, &caller, &s, body).await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, Reply(created)))
}

/// Creates a config in the caller's transaction: checks, encryption, write, history, publish, audit.
pub(crate) async fn insert(
    state: &AppState,
    tx: &mut PgConnection,
    caller: &Caller,
    s: &Scope,
    body: CreateConfig,
) -> Result<ConfigView> {
    if !is_config_key(&body.key) {
        return Err(Error::invalid("key", "must match [A-Za-z0-9][A-Za-z0-9._:-]{0,254}"));
    }
    if body.secret && body.client_visible {
        return Err(Error::invalid("client_visible", "a secret can never be visible to clients"));
    }
    let value_type = body.value_type.clone().unwrap_or_else(|| infer_type(&body.value).to_owned());
    check(&body.value, &value_type, body.schema.as_ref(), body.secret)?;
    let (value, ciphertext) = storage(state, &body.value, body.secret)?;
    let row: ConfigRow = sqlx::query_as(concat!(
        "INSERT INTO configs (id, application_id, environment_id, key, value, ciphertext, value_type, schema,
                              description, secret, client_visible)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) RETURNING ",
        config_columns!()
    ))
    .bind(ulid::Ulid::new().to_string())
    .bind(&s.application_id)
    .bind(&s.environment.id)
    .bind(&body.key)
    .bind(&value)
    .bind(&ciphertext)
    .bind(&value_type)
    .bind(&body.schema)
    .bind(&body.description)
    .bind(body.secret)
    .bind(body.client_visible)
    .fetch_one(&mut *tx)
    .await?;
    record_history(&mut *tx, caller, &row).await?;
    publish::publish(&mut *tx, &s.application_id, &s.environment.id).await?;
    let created = view(state, s, row)?;
    audit::record(
        &mut *tx,
        Some(caller),
        Entry {
            entity_type: "config",
            entity_id: &created.id,
            entity_key: &created.key,
            action: "create",
            before: None,
            after: Some(redacted(&created)),
            version: Some(created.version),
        },
    )
    .await?;
    Ok(created)
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct UpdateConfig {
    pub value: Option<Value>,
    pub value_type: Option<String>,
    /// `null` removes the schema.
    #[serde(default, deserialize_with = "present")]
    pub schema: Option<Option<Value>>,
    pub description: Option<String>,
    pub secret: Option<bool>,
    pub client_visible: Option<bool>,
    pub version: Option<i64>,
}

fn present<'de, D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Option<Option<Value>>, D::Error> {
    Option::<Value>::deserialize(d).map(Some)
}

async fn update(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Path((application, environment, key)): Path<(String, String, String)>,
    Json(body): Json<UpdateConfig>,
) -> Result<Reply<ConfigView>> {
    let expected = Expected::from(&headers, body.version)?;
    let mut tx = state.pool.begin().await?;
    let s = scope(&mut tx, &caller, Action::Write, &application, &environment).await?;
    let after = apply(&state, &mut tx, &caller, &s, &key, expected, body, "update").await?;
    tx.commit().await?;
    Ok(Reply(after))
}

/// Applies a change in the caller's transaction: lock, version check, type/schema checks,
/// (re-)encryption, write, history, publish, audit.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn apply(
    state: &AppState,
    tx: &mut PgConnection,
    caller: &Caller,
    s: &Scope,
    key: &str,
    expected: Expected,
    change: UpdateConfig,
    action: &str,
) -> Result<ConfigView> {
    let before_row = find(&mut *tx, s, key, true).await?;
    expected.check(before_row.version)?;
    let before = view(state, s, before_row.clone())?;
    let change_value = change.value;
    let value = change_value.clone().unwrap_or_else(|| before.value.clone());
    let value_type = change.value_type.unwrap_or_else(|| before.value_type.clone());
    let schema = change.schema.unwrap_or_else(|| before.schema.clone());
    let secret = change.secret.unwrap_or(before.secret);
    let client_visible = change.client_visible.unwrap_or(before.client_visible && !secret);
    if secret && client_visible {
        return Err(Error::invalid("client_visible", "a secret can never be visible to clients"));
    }
    // A secret stays secret: making it a plain (published) config needs a new value, so the
    // secret one is never published by flipping the flag.
    if before.secret && !secret && change_value.is_none() {
        return Err(Error::invalid(
            "secret",
            "turning a secret into a plain config would publish its value; send the new public value with it",
        ));
    }
    check(&value, &value_type, schema.as_ref(), secret)?;
    let (stored, ciphertext) = storage(state, &value, secret)?;
    let row: ConfigRow = sqlx::query_as(concat!(
        "UPDATE configs SET value = $2, ciphertext = $3, value_type = $4, schema = $5, description = $6,
                secret = $7, client_visible = $8, version = version + 1, updated_at = now()
         WHERE id = $1 RETURNING ",
        config_columns!()
    ))
    .bind(&before_row.id)
    .bind(&stored)
    .bind(&ciphertext)
    .bind(&value_type)
    .bind(&schema)
    .bind(change.description.as_ref().unwrap_or(&before.description))
    .bind(secret)
    .bind(client_visible)
    .fetch_one(&mut *tx)
    .await?;
    record_history(&mut *tx, caller, &row).await?;
    publish::publish(&mut *tx, &s.application_id, &s.environment.id).await?;
    let after = view(state, s, row)?;
    audit::record(
        &mut *tx,
        Some(caller),
        Entry {
            entity_type: "config",
            entity_id: &after.id,
            entity_key: &after.key,
            action,
            before: Some(redacted(&before)),
            after: Some(redacted(&after)),
            version: Some(after.version),
        },
    )
    .await?;
    Ok(after)
}

async fn remove(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Path((application, environment, key)): Path<(String, String, String)>,
) -> Result<StatusCode> {
    let expected = Expected::from(&headers, None)?;
    let mut tx = state.pool.begin().await?;
    let s = scope(&mut tx, &caller, Action::Write, &application, &environment).await?;
    delete(&state, &mut tx, &caller, &s, &key, expected).await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Deletes a config in the caller's transaction: lock, version check, publish, audit.
pub(crate) async fn delete(
    state: &AppState,
    tx: &mut PgConnection,
    caller: &Caller,
    s: &Scope,
    key: &str,
    expected: Expected,
) -> Result<()> {
    let row = find(&mut *tx, s, key, true).await?;
    expected.check(row.version)?;
    let before = view(state, s, row)?;
    sqlx::query("DELETE FROM configs WHERE id = $1").bind(&before.id).execute(&mut *tx).await?;
    publish::publish(&mut *tx, &s.application_id, &s.environment.id).await?;
    audit::record(
        &mut *tx,
        Some(caller),
        Entry {
            entity_type: "config",
            entity_id: &before.id,
            entity_key: &before.key,
            action: "delete",
            before: Some(redacted(&before)),
            after: None,
            version: Some(before.version),
        },
    )
    .await
}

#[derive(Debug, Serialize)]
pub struct ConfigVersion {
    pub version: i64,
    pub value: Value,
    pub value_type: String,
    pub schema: Option<Value>,
    pub description: String,
    pub actor: Option<String>,
    pub at: DateTime<Utc>,
}

#[derive(sqlx::FromRow)]
pub(crate) struct HistoryRow {
    pub version: i64,
    pub value: Option<Value>,
    pub ciphertext: Option<String>,
    pub value_type: String,
    pub schema: Option<Value>,
    pub description: String,
    pub actor: Option<String>,
    pub at: DateTime<Utc>,
}

pub(crate) fn history_value(state: &AppState, h: &HistoryRow) -> Result<Value> {
    match (&h.value, &h.ciphertext, &state.cipher) {
        (Some(v), _, _) => Ok(v.clone()),
        (None, Some(sealed), Some(cipher)) => {
            serde_json::from_slice(&cipher.decrypt(sealed)?).map_err(|e| Error::Internal(e.to_string()))
        }
        _ => Ok(json!("***redacted***")),
    }
}

pub(crate) async fn history_rows(
    conn: &mut PgConnection,
    config_id: &str,
    limit: i64,
    offset: i64,
) -> Result<Vec<HistoryRow>> {
    Ok(sqlx::query_as(
        "SELECT version, value, ciphertext, value_type, schema, description, actor, at
         FROM config_history WHERE config_id = $1 ORDER BY version DESC LIMIT $2 OFFSET $3",
    )
    .bind(config_id)
    .bind(limit)
    .bind(offset)
    .fetch_all(conn)
    .await?)
}

async fn history(
    State(state): State<AppState>,
    caller: Caller,
    Path((application, environment, key)): Path<(String, String, String)>,
    Query(page): Query<Page>,
) -> Result<Reply<List<ConfigVersion>>> {
    let (limit, offset) = page.resolve()?;
    let mut conn = state.pool.acquire().await?;
    let s = scope(&mut conn, &caller, Action::Read, &application, &environment).await?;
    let row = find(&mut conn, &s, &key, false).await?;
    let rows = history_rows(&mut conn, &row.id, limit, offset).await?;
    let total: i64 = sqlx::query_scalar("SELECT count(*) FROM config_history WHERE config_id = $1")
        .bind(&row.id)
        .fetch_one(&mut *conn)
        .await?;
    let items = rows
        .iter()
        .map(|h| {
            Ok(ConfigVersion {
                version: h.version,
                value: history_value(&state, h)?,
                value_type: h.value_type.clone(),
                schema: h.schema.clone(),
                description: h.description.clone(),
                actor: h.actor.clone(),
                at: h.at,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(Reply(List { items, total, limit, offset }))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Rollback {
    version: i64,
}

async fn rollback(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Path((application, environment, key)): Path<(String, String, String)>,
    Json(body): Json<Rollback>,
) -> Result<Reply<ConfigView>> {
    let expected = Expected::from(&headers, None)?;
    let mut tx = state.pool.begin().await?;
    let s = scope(&mut tx, &caller, Action::Write, &application, &environment).await?;
    let row = find(&mut tx, &s, &key, false).await?;
    let old: HistoryRow = sqlx::query_as(
        "SELECT version, value, ciphertext, value_type, schema, description, actor, at
         FROM config_history WHERE config_id = $1 AND version = $2",
    )
    .bind(&row.id)
    .bind(body.version)
    .fetch_optional(&mut *tx)
    .await?
    .ok_or_else(|| Error::NotFound(format!("config '{key}' has no version {}", body.version)))?;
    let change = UpdateConfig {
        value: Some(history_value(&state, &old)?),
        value_type: Some(old.value_type.clone()),
        schema: Some(old.schema.clone()),
        description: Some(old.description.clone()),
        secret: Some(old.ciphertext.is_some()),
        ..UpdateConfig::default()
    };
    let after = apply(&state, &mut tx, &caller, &s, &key, expected, change, "rollback").await?;
    tx.commit().await?;
    Ok(Reply(after))
}
