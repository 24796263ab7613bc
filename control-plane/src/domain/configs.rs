//! Configs: typed JSON values per application × environment × key.
//!
//! Every write checks the value against its `value_type` and, when one is set, its JSON Schema
//! (422 naming the failing path, e.g. `value/port`). Secret values are encrypted with
//! `VANE_ENCRYPTION_KEY` (a clear 422 when no key is configured), read back only by admin/read
//! keys, redacted in audit rows, and never published. Non-secret values are published in server
//! snapshots, and in client snapshots when `client_visible`. Every version is kept; rollback
//! restores one as a new version.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sqlx::PgConnection;

use super::audit::{self, Audited, Entry, audited};
use super::authz::{self, Action, Caller};
use super::collection::{Collection, Versions};
use super::paging::{List, Page};
use super::vane::{Actor, Touched};
use super::versions::{Change, Expected, versioned};
use crate::crypto::Cipher;
use crate::error::{Error, FieldError, Result};
use crate::publish;
use crate::store::configs::{self as rows, ConfigRow, Content, HistoryRow};
use crate::store::environments::Environment;

/// A config as the API shows it: its row, where it lives by name, and its value (secrets
/// decrypted for the admin/read keys that may see them — except in a console session, where a
/// secret is `masked` and only an audited reveal shows it).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ConfigView {
    #[serde(flatten)]
    pub row: ConfigRow,
    pub application: String,
    pub environment: String,
    pub value: Value,
    /// The value is a secret withheld from this caller (`value` is `null`): see `…/reveal`.
    pub masked: bool,
}

/// A config's value, revealed on request (`POST …/configs/{key}/reveal`).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Revealed {
    pub value: Value,
}

/// One version of a config as the API shows it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ConfigVersion {
    pub version: i64,
    pub value: Value,
    pub value_type: String,
    pub schema: Option<Value>,
    pub description: String,
    pub actor: Option<String>,
    pub at: DateTime<Utc>,
    /// A secret's value withheld from a console session (`value` is `null`).
    pub masked: bool,
}

versioned!(UpdateConfig);

audited!(ConfigView, "config", row;
    /// The view with a secret's value replaced.
    fn audit_json(&self) -> Option<Value> {
        let mut j = serde_json::to_value(self).ok()?;
        if self.row.secret {
            j["value"] = json!("***redacted***");
        }
        Some(j)
    }
);

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

/// The configs of one application × environment.
#[derive(Debug)]
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
    let (app, environment) = authz::stream(conn, caller, action, application, environment).await?;
    Ok(Scope { application_id: app.id, application: app.key, environment })
}

fn decrypt(cipher: Option<&Cipher>, sealed: &str) -> Result<Value> {
    let cipher = cipher
        .ok_or_else(|| Error::Internal("a secret config exists but VANE_ENCRYPTION_KEY is not configured".into()))?;
    serde_json::from_slice(&cipher.decrypt(sealed)?).map_err(|e| Error::Internal(e.to_string()))
}

pub(crate) fn view(cipher: Option<&Cipher>, s: &Scope, row: ConfigRow) -> Result<ConfigView> {
    let value = match (&row.value, &row.ciphertext) {
        (Some(v), _) => v.clone(),
        (None, Some(sealed)) => decrypt(cipher, sealed)?,
        (None, None) => Value::Null,
    };
    Ok(ConfigView {
        row,
        application: s.application.clone(),
        environment: s.environment.key.clone(),
        value,
        masked: false,
    })
}

/// `view` as `caller` may see it: a console session sees secrets masked (a reveal is an
/// explicit, audited request); a key sent with the request sees what its scope allows. Applied
/// where a view leaves the domain (every answer), not in [`view`]: writes read the unmasked
/// value (an update that leaves the value alone keeps it) and audit entries redact on their own.
pub(crate) fn shown(caller: &Caller, mut view: ConfigView) -> ConfigView {
    if masks(caller, view.row.secret) {
        view.value = Value::Null;
        view.masked = true;
    }
    view
}

/// Whether `caller` is shown a secret (`secret`) config's value masked: in a console session.
fn masks(caller: &Caller, secret: bool) -> bool {
    caller.console && secret
}

/// A config's value, shown to someone who may read it and recorded in the audit log as a
/// `reveal` (the console's only way to see a secret).
pub async fn reveal(actor: &Actor, at: (&str, &str, &str)) -> Result<Revealed> {
    let (application, environment, key) = at;
    let Actor { vane, caller } = actor;
    let mut tx = vane.begin().await?;
    let s = scope(&mut tx, caller, Action::Read, application, environment).await?;
    let row = find(&mut tx, &s, key, false).await?;
    let view = view(vane.cipher.as_ref(), &s, row)?;
    let entry = Entry {
        entity_type: <ConfigView as Audited>::ENTITY,
        entity_id: &view.row.id,
        entity_key: &view.row.key,
        action: "reveal",
        before: None,
        after: None,
        version: Some(view.row.version),
    };
    audit::record(&mut tx, Some(caller), entry).await?;
    vane.commit(tx, Touched::Nothing).await?;
    Ok(Revealed { value: view.value })
}

pub(crate) async fn find(conn: &mut PgConnection, s: &Scope, key: &str, lock: bool) -> Result<ConfigRow> {
    rows::find(conn, (&s.application_id, &s.environment.id), key, lock)
        .await?
        .ok_or_else(|| Error::NotFound(format!("config '{key}' not found in {}/{}", s.application, s.environment.key)))
}

/// A config by its id, wherever it lives (the original service's routes address configs by id).
pub(crate) async fn find_by_id(conn: &mut PgConnection, id: &str) -> Result<ConfigRow> {
    rows::find_by_id(conn, id).await?.ok_or_else(|| Error::NotFound(format!("config '{id}' not found")))
}

/// `(value, ciphertext)` columns for a value, encrypting secrets.
fn storage(cipher: Option<&Cipher>, value: &Value, secret: bool) -> Result<(Option<Value>, Option<String>)> {
    if !secret {
        return Ok((Some(value.clone()), None));
    }
    let cipher = cipher.ok_or_else(|| {
        Error::invalid("secret", "secret configs need VANE_ENCRYPTION_KEY to be configured on the server")
    })?;
    let plain = serde_json::to_vec(value).map_err(|e| Error::Internal(e.to_string()))?;
    Ok((None, Some(cipher.encrypt(&plain)?)))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"key": "checkout.timeout_ms", "value": 2500, "value_type": "number", "schema": {"type": "integer", "minimum": 100}, "description": "How long checkout waits for the payment provider"}))]
pub struct CreateConfig {
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

/// The configs of an application in an environment.
#[derive(Debug)]
pub struct Configs;

impl Collection for Configs {
    type Scope = (String, String);
    type Item = ConfigView;
    type Filter = Page;
    type New = CreateConfig;
    type Change = UpdateConfig;

    async fn list(actor: &Actor, stream: &(String, String), page: Page) -> Result<List<ConfigView>> {
        let (application, environment) = stream;
        let Actor { vane, caller } = actor;
        let page = page.resolve()?;
        let mut conn = vane.pool.acquire().await?;
        let s = scope(&mut conn, caller, Action::Read, application, environment).await?;
        let found = rows::list(&mut conn, &s.application_id, &s.environment.id, page).await?;
        List::of(found, page).try_map(|r| Ok(shown(caller, view(vane.cipher.as_ref(), &s, r)?)))
    }

    async fn read(actor: &Actor, stream: &(String, String), key: &str) -> Result<ConfigView> {
        let (application, environment) = stream;
        let Actor { vane, caller } = actor;
        let mut conn = vane.pool.acquire().await?;
        let s = scope(&mut conn, caller, Action::Read, application, environment).await?;
        let row = find(&mut conn, &s, key, false).await?;
        Ok(shown(caller, view(vane.cipher.as_ref(), &s, row)?))
    }

    async fn create(actor: &Actor, stream: &(String, String), body: CreateConfig) -> Result<ConfigView> {
        let (application, environment) = stream;
        let Actor { vane, caller } = actor;
        let mut tx = vane.begin().await?;
        let s = scope(&mut tx, caller, Action::Write, application, environment).await?;
        let created = insert(actor, &mut tx, &s, body).await?;
        vane.commit(tx, Touched::Streams).await?;
        Ok(shown(caller, created))
    }

    async fn update(
        actor: &Actor,
        stream: &(String, String),
        key: &str,
        change: Change<UpdateConfig>,
    ) -> Result<ConfigView> {
        let ((application, environment), Change(expected, change)) = (stream, change);
        let Actor { vane, caller } = actor;
        let mut tx = vane.begin().await?;
        let s = scope(&mut tx, caller, Action::Write, application, environment).await?;
        let after = apply(actor, &mut tx, (&s, key), Change(expected, change), "update").await?;
        vane.commit(tx, Touched::Streams).await?;
        Ok(shown(caller, after))
    }

    async fn delete(actor: &Actor, stream: &(String, String), key: &str, expected: Expected) -> Result<()> {
        let (application, environment) = stream;
        let Actor { vane, caller } = actor;
        let mut tx = vane.begin().await?;
        let s = scope(&mut tx, caller, Action::Write, application, environment).await?;
        delete_in(actor, &mut tx, (&s, key), expected).await?;
        vane.commit(tx, Touched::Streams).await
    }
}

/// Creates a config in the caller's transaction: checks, encryption, write, history, publish, audit.
pub(crate) async fn insert(actor: &Actor, tx: &mut PgConnection, s: &Scope, body: CreateConfig) -> Result<ConfigView> {
    let (cipher, caller) = (actor.vane.cipher.as_ref(), &actor.caller);
    if !is_config_key(&body.key) {
        return Err(Error::invalid("key", "must match [A-Za-z0-9][A-Za-z0-9._:-]{0,254}"));
    }
    if body.secret && body.client_visible {
        return Err(Error::invalid("client_visible", "a secret can never be visible to clients"));
    }
    let value_type = body.value_type.clone().unwrap_or_else(|| infer_type(&body.value).to_owned());
    check(&body.value, &value_type, body.schema.as_ref(), body.secret)?;
    let (value, ciphertext) = storage(cipher, &body.value, body.secret)?;
    let content = Content {
        value: value.as_ref(),
        ciphertext: ciphertext.as_deref(),
        value_type: &value_type,
        schema: body.schema.as_ref(),
        description: &body.description,
        secret: body.secret,
        client_visible: body.client_visible,
    };
    let row = rows::save(&mut *tx, None, (&s.application_id, &s.environment.id, &body.key), content).await?;
    rows::record_history(&mut *tx, &row, &caller.key_id).await?;
    publish::publish(&mut *tx, &s.application_id, &s.environment.id).await?;
    let created = view(cipher, s, row)?;
    audit::change(&mut *tx, caller, "create", None, Some(&created)).await?;
    Ok(created)
}

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"value": 3000}))]
pub struct UpdateConfig {
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

/// Applies a change in the caller's transaction: lock, version check, type/schema checks,
/// (re-)encryption, write, history, publish, audit.
pub(crate) async fn apply(
    actor: &Actor,
    tx: &mut PgConnection,
    (s, key): (&Scope, &str),
    Change(expected, change): Change<UpdateConfig>,
    action: &str,
) -> Result<ConfigView> {
    let (cipher, caller) = (actor.vane.cipher.as_ref(), &actor.caller);
    let before_row = find(&mut *tx, s, key, true).await?;
    expected.check(before_row.version)?;
    let before = view(cipher, s, before_row.clone())?;
    let change_value = change.value;
    let value = change_value.clone().unwrap_or_else(|| before.value.clone());
    let value_type = change.value_type.unwrap_or_else(|| before.row.value_type.clone());
    let schema = change.schema.unwrap_or_else(|| before.row.schema.clone());
    let secret = change.secret.unwrap_or(before.row.secret);
    let client_visible = change.client_visible.unwrap_or(before.row.client_visible && !secret);
    if secret && client_visible {
        return Err(Error::invalid("client_visible", "a secret can never be visible to clients"));
    }
    // A secret stays secret: making it a plain (published) config needs a new value, so the
    // secret one is never published by flipping the flag.
    if before.row.secret && !secret && change_value.is_none() {
        return Err(Error::invalid(
            "secret",
            "turning a secret into a plain config would publish its value; send the new public value with it",
        ));
    }
    check(&value, &value_type, schema.as_ref(), secret)?;
    let (stored, ciphertext) = storage(cipher, &value, secret)?;
    let content = Content {
        value: stored.as_ref(),
        ciphertext: ciphertext.as_deref(),
        value_type: &value_type,
        schema: schema.as_ref(),
        description: change.description.as_ref().unwrap_or(&before.row.description),
        secret,
        client_visible,
    };
    let at = (before_row.application_id.as_str(), before_row.environment_id.as_str(), before_row.key.as_str());
    let row = rows::save(&mut *tx, Some(&before_row.id), at, content).await?;
    rows::record_history(&mut *tx, &row, &caller.key_id).await?;
    publish::publish(&mut *tx, &s.application_id, &s.environment.id).await?;
    let after = view(cipher, s, row)?;
    audit::change(&mut *tx, caller, action, Some(&before), Some(&after)).await?;
    Ok(after)
}

/// Deletes a config in the caller's transaction: lock, version check, publish, audit.
pub(crate) async fn delete_in(
    actor: &Actor,
    tx: &mut PgConnection,
    at: (&Scope, &str),
    expected: Expected,
) -> Result<()> {
    let ((s, key), cipher, caller) = (at, actor.vane.cipher.as_ref(), &actor.caller);
    let row = find(&mut *tx, s, key, true).await?;
    expected.check(row.version)?;
    let before = view(cipher, s, row)?;
    rows::delete(&mut *tx, &before.row.id).await?;
    publish::publish(&mut *tx, &s.application_id, &s.environment.id).await?;
    audit::change(&mut *tx, caller, "delete", Some(&before), None).await
}

/// A stored version's value: decrypted when this server can, redacted otherwise.
pub(crate) fn history_value(cipher: Option<&Cipher>, h: &HistoryRow) -> Result<Value> {
    match (&h.value, &h.ciphertext, cipher) {
        (Some(v), _, _) => Ok(v.clone()),
        (None, Some(sealed), Some(_)) => decrypt(cipher, sealed),
        _ => Ok(json!("***redacted***")),
    }
}

impl Versions for Configs {
    type Item = ConfigView;
    type Version = ConfigVersion;

    /// Every version of a config, newest first.
    async fn history(actor: &Actor, at: (&str, &str, &str), page: Page) -> Result<List<ConfigVersion>> {
        let (application, environment, key) = at;
        let Actor { vane, caller } = actor;
        let page = page.resolve()?;
        let mut conn = vane.pool.acquire().await?;
        let s = scope(&mut conn, caller, Action::Read, application, environment).await?;
        let row = find(&mut conn, &s, key, false).await?;
        let versions = rows::history(&mut conn, &row.id, page).await?;
        let total = rows::history_len(&mut conn, &row.id).await?;
        List::of((versions, total), page).try_map(|h| {
            let masked = masks(caller, h.ciphertext.is_some());
            Ok(ConfigVersion {
                version: h.version,
                value: if masked { Value::Null } else { history_value(vane.cipher.as_ref(), &h)? },
                masked,
                value_type: h.value_type,
                schema: h.schema,
                description: h.description,
                actor: h.actor,
                at: h.at,
            })
        })
    }

    /// Restores version `version` as a new version (`If-Match` honoured).
    async fn rollback(actor: &Actor, at: (&str, &str, &str), expected: Expected, version: i64) -> Result<ConfigView> {
        let (application, environment, key) = at;
        let Actor { vane, caller } = actor;
        let mut tx = vane.begin().await?;
        let s = scope(&mut tx, caller, Action::Write, application, environment).await?;
        let row = find(&mut tx, &s, key, false).await?;
        let old = rows::version(&mut tx, &row.id, version)
            .await?
            .ok_or_else(|| Error::NotFound(format!("config '{key}' has no version {version}")))?;
        let cipher = vane.cipher.as_ref();
        let change = UpdateConfig {
            value: Some(history_value(cipher, &old)?),
            value_type: Some(old.value_type.clone()),
            schema: Some(old.schema.clone()),
            description: Some(old.description.clone()),
            secret: Some(old.ciphertext.is_some()),
            ..UpdateConfig::default()
        };
        let after = apply(actor, &mut tx, (&s, key), Change(expected, change), "rollback").await?;
        vane.commit(tx, Touched::Streams).await?;
        Ok(shown(caller, after))
    }
}
