//! The original config service's operations, with its request and response shapes, on Vane's
//! model.
//!
//! * `/api/v1/config/…` (seed 002): `{key, value, environment, service_name, description,
//!   is_encrypted}`. `service_name` is the application (its key, slugified when it is not a
//!   slug; created on first use, like the original created rows on first write; absent →
//!   `default`). `is_encrypted` is Vane's `secret`. Addressed by key for reads and by id for
//!   writes, as the original did.
//! * `/api/v1/feature-flags/…` (seed 002): boolean flags of the `default` application with
//!   `is_enabled`, `rollout_percentage`, `target_users` per environment (mapping in
//!   [`vane_core::legacy`]). A flag created here is tagged `environment:<env>`, so the original's
//!   environment-less `PUT`/`GET` address that environment. `evaluate` answers
//!   `{enabled, reason, flag_name, environment}` from the published snapshot.
//! * `/api/v1/configurations/…` (seed 001): `{application_id, name, comments, config}` are a
//!   JSON config of an application; the original had no environments, so these live in the
//!   environment given by `?environment=` (or the body's `environment`), `production` when absent.
//!
//! Lists answer a plain JSON array (the original's shape). Unknown request fields are ignored,
//! as the original's models did. Everything else — auth, validation, history, audit,
//! publishing — is Vane's, through the same functions the native operations use.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sqlx::PgConnection;
use vane_core::{Context, FlagType, legacy};

use super::applications;
use super::authz::{self, Action, Caller, Reach};
use super::configs::{self, ConfigView, CreateConfig, Scope, UpdateConfig};
use super::flags::write::{self as flags, CreateFlag, StateChange};
use super::names::{is_slug, slugify};
use super::paging::Page;
use super::vane::{Actor, Touched, Vane};
use super::versions::{Change, Expected, versioned};
use crate::error::{Error, Result};
use crate::publish;
use crate::publish::compiled::CompiledCache;
use crate::store::applications::{self as application_rows, Application};
use crate::store::configs::{self as config_rows, Within};
use crate::store::environments;
use crate::store::flags::{self as flag_rows, FlagRow, StateRow};

versioned!(ConfigUpdate, FlagUpdate, ConfigurationUpdate);

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
    match application_rows::find(&mut *tx, &key).await {
        Err(Error::NotFound(_)) if create => {
            // Creating an application reaches every environment and the application list.
            authz::everything(caller, Action::Write)?;
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
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct LegacyConfig {
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
            id: v.row.id,
            key: v.row.key,
            value: v.value,
            environment: v.environment,
            service_name: v.application,
            description: v.row.description,
            is_encrypted: v.row.secret,
            version: v.row.version,
            created_at: v.row.created_at,
            updated_at: v.row.updated_at,
        }
    }
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct ConfigCreate {
    key: String,
    value: Value,
    environment: String,
    service_name: Option<String>,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    is_encrypted: bool,
}

pub async fn config_create(actor: &Actor, body: ConfigCreate) -> Result<LegacyConfig> {
    let Actor { vane, caller } = actor;
    caller.permits(Action::Write)?;
    let mut tx = vane.begin().await?;
    let app = service_application(&mut tx, caller, body.service_name.as_deref(), true).await?;
    let environment = required("environment", Some(&body.environment))?;
    let s = configs::scope(&mut tx, caller, Action::Write, &app.id, environment).await?;
    let new = CreateConfig {
        key: body.key,
        value: body.value,
        value_type: None,
        schema: None,
        description: body.description.unwrap_or_default(),
        secret: body.is_encrypted,
        client_visible: false,
    };
    let created = configs::insert(actor, &mut tx, &s, new).await?;
    vane.commit(tx, Touched::Streams).await?;
    Ok(configs::shown(&actor.caller, created).into())
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct ConfigFilter {
    environment: Option<String>,
    service_name: Option<String>,
    limit: Option<i64>,
    offset: Option<i64>,
}

/// The configs `within` finds, each as `shape` makes it.
async fn located<T>(
    vane: &Vane,
    conn: &mut PgConnection,
    caller: &Caller,
    (within, by_application_key, page): (Within<'_>, bool, (i64, i64)),
    shape: impl Fn(&Scope, ConfigView) -> T,
) -> Result<Vec<T>> {
    let rows = config_rows::locate(&mut *conn, &within, by_application_key, page).await?;
    let mut out = Vec::with_capacity(rows.len());
    for r in rows {
        let s = configs::scope(&mut *conn, caller, Action::Read, &r.application_id, &r.environment_id).await?;
        let row = configs::find(&mut *conn, &s, &r.key, false).await?;
        out.push(shape(&s, configs::shown(caller, configs::view(vane.cipher.as_ref(), &s, row)?)));
    }
    Ok(out)
}

pub async fn config_list(actor: &Actor, f: ConfigFilter) -> Result<Vec<LegacyConfig>> {
    let Actor { vane, caller } = actor;
    authz::listing(caller, Action::Read)?;
    let page = Page { limit: f.limit, offset: f.offset }.resolve()?;
    let mut conn = vane.pool.acquire().await?;
    let app = match &f.service_name {
        Some(s) => Some(service_application(&mut conn, caller, Some(s), false).await?),
        None => None,
    };
    let env = match &f.environment {
        Some(e) => Some(environments::find(&mut *conn, e).await?),
        None => None,
    };
    let within = Within {
        application_id: app.as_ref().map(|a| a.id.as_str()),
        environment_id: env.as_ref().map(|e| e.id.as_str()),
        bound_application: caller.bound_application(),
        bound_environment: caller.bound_environment(),
    };
    located(vane, &mut conn, caller, (within, true, page), |_, v| v.into()).await
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct ConfigLookup {
    environment: Option<String>,
    service_name: Option<String>,
}

pub async fn config_read(actor: &Actor, key: &str, q: ConfigLookup) -> Result<LegacyConfig> {
    let Actor { vane, caller } = actor;
    caller.permits(Action::Read)?;
    let mut conn = vane.pool.acquire().await?;
    let (s, row) = match q.environment.as_deref() {
        Some(env) => {
            let app = service_application(&mut conn, caller, q.service_name.as_deref(), false).await?;
            let s = configs::scope(&mut conn, caller, Action::Read, &app.id, env).await?;
            let row = configs::find(&mut conn, &s, key, false).await?;
            (s, row)
        }
        // Without an environment the path can only be an id (the original's update/delete form).
        None => match configs::find_by_id(&mut conn, key).await {
            Ok(row) => {
                (configs::scope(&mut conn, caller, Action::Read, &row.application_id, &row.environment_id).await?, row)
            }
            Err(_) => {
                return Err(Error::invalid(
                    "environment",
                    "is required to read a config by key (?environment=…&service_name=…)",
                ));
            }
        },
    };
    Ok(configs::shown(caller, configs::view(vane.cipher.as_ref(), &s, row)?).into())
}

/// The config with this id and its scope, authorised for `action`.
async fn config_by_id(conn: &mut PgConnection, caller: &Caller, action: Action, id: &str) -> Result<(Scope, String)> {
    caller.permits(action)?;
    let row = configs::find_by_id(&mut *conn, id).await?;
    let s = configs::scope(conn, caller, action, &row.application_id, &row.environment_id).await?;
    Ok((s, row.key))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct ConfigUpdate {
    value: Option<Value>,
    description: Option<String>,
    is_encrypted: Option<bool>,
    version: Option<i64>,
}

pub async fn config_update(actor: &Actor, id: &str, change: Change<ConfigUpdate>) -> Result<LegacyConfig> {
    let (Actor { vane, caller }, Change(expected, body)) = (actor, change);
    let mut tx = vane.begin().await?;
    let (s, key) = config_by_id(&mut tx, caller, Action::Write, id).await?;
    let change = UpdateConfig {
        value: body.value,
        description: body.description,
        secret: body.is_encrypted,
        ..UpdateConfig::default()
    };
    let after = configs::apply(actor, &mut tx, (&s, &key), Change(expected, change), "update").await?;
    vane.commit(tx, Touched::Streams).await?;
    Ok(configs::shown(&actor.caller, after).into())
}

/// Deletes a config by id (`/config/{id}` and `/configurations/{id}`).
pub async fn config_delete(actor: &Actor, id: &str, expected: Expected) -> Result<()> {
    let Actor { vane, caller } = actor;
    let mut tx = vane.begin().await?;
    let (s, key) = config_by_id(&mut tx, caller, Action::Write, id).await?;
    configs::delete_in(actor, &mut tx, (&s, &key), expected).await?;
    vane.commit(tx, Touched::Streams).await
}

/// One change in the original's `configuration_history` shape.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct LegacyChange {
    id: String,
    configuration_id: String,
    version: i64,
    old_value: Option<Value>,
    new_value: Value,
    changed_by: Option<String>,
    changed_at: DateTime<Utc>,
}

pub async fn config_history(actor: &Actor, id: &str, page: Page) -> Result<Vec<LegacyChange>> {
    let Actor { vane, caller } = actor;
    let (limit, offset) = page.resolve()?;
    let mut conn = vane.pool.acquire().await?;
    config_by_id(&mut conn, caller, Action::Read, id).await?;
    // One extra (older) row gives the last entry its old value.
    let rows = config_rows::history(&mut conn, id, (limit + 1, offset)).await?;
    let cipher = vane.cipher.as_ref();
    let mut out = Vec::with_capacity(rows.len());
    for (i, h) in rows.iter().enumerate().take(usize::try_from(limit).unwrap_or(0)) {
        let old_value = match rows.get(i + 1) {
            Some(prev) => Some(configs::history_value(cipher, prev)?),
            None => None,
        };
        out.push(LegacyChange {
            id: format!("{id}:{}", h.version),
            configuration_id: id.to_owned(),
            version: h.version,
            old_value,
            new_value: configs::history_value(cipher, h)?,
            changed_by: h.actor.clone(),
            changed_at: h.at,
        });
    }
    Ok(out)
}

// ---------------------------------------------------------------------------------------------
// /feature-flags

/// A flag in one environment, in the original's shape.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct LegacyFlag {
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
    let model = flag_rows::model(flag, state)?;
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
    authz::application(conn, caller, action, "default").await
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
) -> Result<StateChange> {
    let pct = percentage(rollout_percentage)?;
    let mut change = StateChange { enabled: is_enabled, ..StateChange::default() };
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

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct FlagCreate {
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

pub async fn flag_create(actor: &Actor, body: FlagCreate) -> Result<LegacyFlag> {
    let Actor { vane, caller } = actor;
    caller.permits(Action::Write)?;
    percentage(Some(body.rollout_percentage))?;
    let mut tx = vane.begin().await?;
    let app = default_app(&mut tx, caller, Action::Write).await?;
    let env = environments::find(&mut *tx, required("environment", Some(&body.environment))?).await?;
    caller.authorize(Action::Write, Reach::stream(&app.id, &env.id))?;
    let new = CreateFlag {
        key: body.name.clone(),
        flag_type: FlagType::Boolean,
        variants: Vec::new(),
        description: body.description.unwrap_or_default(),
        tags: vec![format!("{ENV_TAG}{}", env.key)],
        client_visible: false,
    };
    let flag = flags::insert(&mut tx, caller, &app, new).await?.flag;
    let current = flag_rows::model(&flag, &flags::state_in(&mut tx, &flag, &env).await?)?;
    let change = state_change(&current, Some(body.is_enabled), Some(body.rollout_percentage), Some(body.target_users))?;
    let after = flags::apply_state(&mut tx, caller, &app, &flag, &env, Expected::Any, change, "update", None).await?;
    let out = legacy_flag(&flag, &after)?;
    vane.commit(tx, Touched::Streams).await?;
    Ok(out)
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct FlagFilter {
    environment: Option<String>,
    limit: Option<i64>,
    offset: Option<i64>,
}

pub async fn flag_list(actor: &Actor, f: FlagFilter) -> Result<Vec<LegacyFlag>> {
    let Actor { vane, caller } = actor;
    let (limit, offset) = Page { limit: f.limit, offset: f.offset }.resolve()?;
    let mut conn = vane.pool.acquire().await?;
    let app = default_app(&mut conn, caller, Action::Read).await?;
    let env = match &f.environment {
        Some(e) => Some(environments::find(&mut *conn, e).await?),
        None => None,
    };
    let rows = flag_rows::list_live(&mut conn, &app.id, (limit, offset)).await?;
    let mut out = Vec::new();
    for flag in rows {
        for s in flag_rows::states(&mut conn, &flag.id).await? {
            let wanted =
                caller.sees(&app.id, &s.environment_id) && env.as_ref().is_none_or(|e| e.id == s.environment_id);
            if wanted {
                out.push(legacy_flag(&flag, &s)?);
            }
        }
    }
    Ok(out)
}

/// `?environment=`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct EnvQuery {
    pub environment: Option<String>,
}

pub async fn flag_read(actor: &Actor, name: &str, q: EnvQuery) -> Result<LegacyFlag> {
    let Actor { vane, caller } = actor;
    let mut conn = vane.pool.acquire().await?;
    let app = default_app(&mut conn, caller, Action::Read).await?;
    let flag = flags::find(&mut conn, &app, name, false).await?;
    let env = environments::find(&mut *conn, &flag_environment(&flag, q.environment.as_deref())?).await?;
    caller.authorize(Action::Read, Reach::stream(&app.id, &env.id))?;
    let s = flags::state_in(&mut conn, &flag, &env).await?;
    legacy_flag(&flag, &s)
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct FlagUpdate {
    description: Option<String>,
    is_enabled: Option<bool>,
    rollout_percentage: Option<f64>,
    target_users: Option<Vec<String>>,
    environment: Option<String>,
    version: Option<i64>,
}

pub async fn flag_update(actor: &Actor, (id, q): (&str, EnvQuery), change: Change<FlagUpdate>) -> Result<LegacyFlag> {
    let (Actor { vane, caller }, Change(expected, body)) = (actor, change);
    caller.permits(Action::Write)?;
    let mut tx = vane.begin().await?;
    // The state of one environment; the description (below) is the definition's.
    let app = application_rows::find(&mut *tx, "default").await?;
    let mut flag = flags::find(&mut tx, &app, id, false).await?;
    let named = body.environment.as_deref().or(q.environment.as_deref());
    let env = environments::find(&mut *tx, &flag_environment(&flag, named)?).await?;
    caller.authorize(Action::Write, Reach::stream(&app.id, &env.id))?;
    if flag.flag_type != "boolean" {
        return Err(Error::invalid("name", format!("'{}' is a {} flag; use the flags API", flag.key, flag.flag_type)));
    }
    if let Some(d) = body.description.filter(|d| *d != flag.description) {
        caller.authorize(Action::Write, Reach::definitions(&app.id))?;
        flag = flag_rows::set_description(&mut tx, &flag.id, &d).await?;
        publish::publish_application(&mut tx, &app.id).await?;
    }
    let current = flag_rows::model(&flag, &flags::state_in(&mut tx, &flag, &env).await?)?;
    let change = state_change(&current, body.is_enabled, body.rollout_percentage, body.target_users)?;
    let after = flags::apply_state(&mut tx, caller, &app, &flag, &env, expected, change, "update", None).await?;
    let out = legacy_flag(&flag, &after)?;
    vane.commit(tx, Touched::Streams).await?;
    Ok(out)
}

pub async fn flag_delete(actor: &Actor, id: &str, expected: Expected) -> Result<()> {
    let Actor { vane, caller } = actor;
    let mut tx = vane.begin().await?;
    let app = default_app(&mut tx, caller, Action::Write).await?;
    flags::delete(&mut tx, caller, &app, id, expected).await?;
    vane.commit(tx, Touched::Streams).await
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct Evaluate {
    flag_name: String,
    environment: String,
    user_id: Option<String>,
    /// Extra attributes for rules added with the native API (not in the original).
    #[serde(default)]
    attributes: Option<serde_json::Map<String, Value>>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct EvaluateResponse {
    pub enabled: bool,
    pub reason: &'static str,
    pub flag_name: String,
    pub environment: String,
}

/// Evaluates a flag of the `default` application from its published snapshot.
pub async fn flag_evaluate(
    vane: &Vane,
    compiled: &CompiledCache,
    caller: &Caller,
    body: Evaluate,
) -> Result<EvaluateResponse> {
    caller.permits(Action::Evaluate)?;
    let env_key = required("environment", Some(&body.environment))?;
    let mut conn = vane.pool.acquire().await?;
    let (app, env) = authz::stream(&mut conn, caller, Action::Evaluate, "default", env_key).await?;
    let snapshot = compiled.get(&mut conn, &app.id, &env.id).await?;
    drop(conn);
    let mut attrs = body.attributes.unwrap_or_default();
    if let Some(user) = body.user_id {
        attrs.insert(vane_core::TARGETING_KEY.to_owned(), Value::String(user));
    }
    let ctx = Context::from_json(&Value::Object(attrs)).map_err(|e| Error::invalid("attributes", e.to_string()))?;
    let e = snapshot.evaluate(&body.flag_name, &ctx, Utc::now().timestamp_millis());
    let (enabled, reason) = legacy::evaluate_response(&e);
    Ok(EvaluateResponse { enabled, reason, flag_name: body.flag_name, environment: env.key })
}

// ---------------------------------------------------------------------------------------------
// /configurations (seed 001)

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct LegacyConfiguration {
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
        id: v.row.id,
        application_id: application_id.to_owned(),
        name: v.row.key,
        comments: v.row.description,
        config: v.value,
        environment: v.environment,
        version: v.row.version,
        created_at: v.row.created_at,
        updated_at: v.row.updated_at,
    }
}

const CONFIGURATIONS_ENVIRONMENT: &str = "production";

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct ConfigurationCreate {
    application_id: String,
    name: String,
    #[serde(default)]
    comments: Option<String>,
    config: Value,
    environment: Option<String>,
}

pub async fn configuration_create(
    actor: &Actor,
    q: EnvQuery,
    body: ConfigurationCreate,
) -> Result<LegacyConfiguration> {
    let Actor { vane, caller } = actor;
    caller.permits(Action::Write)?;
    check_comments(body.comments.as_deref())?;
    let env = body.environment.or(q.environment).unwrap_or_else(|| CONFIGURATIONS_ENVIRONMENT.to_owned());
    let mut tx = vane.begin().await?;
    let s = configs::scope(&mut tx, caller, Action::Write, &body.application_id, &env).await?;
    let new = CreateConfig {
        key: body.name,
        value: body.config,
        value_type: Some("json".into()),
        schema: None,
        description: body.comments.unwrap_or_default(),
        secret: false,
        client_visible: false,
    };
    let created = configs::insert(actor, &mut tx, &s, new).await?;
    vane.commit(tx, Touched::Streams).await?;
    Ok(configuration(&s.application_id, configs::shown(&actor.caller, created)))
}

/// A configuration's comments: at most 1024 characters, as the original service allowed.
fn check_comments(comments: Option<&str>) -> Result<()> {
    match comments {
        Some(c) if c.chars().count() > 1024 => Err(Error::invalid("comments", "must be at most 1024 characters")),
        _ => Ok(()),
    }
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct ConfigurationFilter {
    application_id: Option<String>,
    environment: Option<String>,
    limit: Option<i64>,
    offset: Option<i64>,
}

pub async fn configuration_list(actor: &Actor, f: ConfigurationFilter) -> Result<Vec<LegacyConfiguration>> {
    let Actor { vane, caller } = actor;
    authz::listing(caller, Action::Read)?;
    let page = Page { limit: f.limit, offset: f.offset }.resolve()?;
    let mut conn = vane.pool.acquire().await?;
    let app = match &f.application_id {
        Some(a) => Some(application_rows::find(&mut *conn, a).await?),
        None => None,
    };
    let env = environments::find(&mut *conn, f.environment.as_deref().unwrap_or(CONFIGURATIONS_ENVIRONMENT)).await?;
    let within = Within {
        application_id: app.as_ref().map(|a| a.id.as_str()),
        environment_id: Some(&env.id),
        bound_application: caller.bound_application(),
        bound_environment: caller.bound_environment(),
    };
    located(vane, &mut conn, caller, (within, false, page), |s, v| configuration(&s.application_id, v)).await
}

pub async fn configuration_read(actor: &Actor, id: &str) -> Result<LegacyConfiguration> {
    let Actor { vane, caller } = actor;
    caller.permits(Action::Read)?;
    let mut conn = vane.pool.acquire().await?;
    let row = configs::find_by_id(&mut conn, id).await?;
    let s = configs::scope(&mut conn, caller, Action::Read, &row.application_id, &row.environment_id).await?;
    Ok(configuration(&s.application_id, configs::shown(caller, configs::view(vane.cipher.as_ref(), &s, row)?)))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct ConfigurationUpdate {
    name: Option<String>,
    comments: Option<String>,
    config: Option<Value>,
    version: Option<i64>,
}

pub async fn configuration_update(
    actor: &Actor,
    id: &str,
    change: Change<ConfigurationUpdate>,
) -> Result<LegacyConfiguration> {
    let (Actor { vane, caller }, Change(expected, body)) = (actor, change);
    caller.permits(Action::Write)?;
    check_comments(body.comments.as_deref())?;
    let mut tx = vane.begin().await?;
    let (s, key) = config_by_id(&mut tx, caller, Action::Write, id).await?;
    if body.name.as_ref().is_some_and(|n| *n != key) {
        return Err(Error::invalid("name", "a configuration cannot be renamed; create one with the new name"));
    }
    let change = UpdateConfig {
        value: body.config,
        value_type: Some("json".into()),
        description: body.comments,
        ..UpdateConfig::default()
    };
    let after = configs::apply(actor, &mut tx, (&s, &key), Change(expected, change), "update").await?;
    vane.commit(tx, Touched::Streams).await?;
    Ok(configuration(&s.application_id, configs::shown(&actor.caller, after)))
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
