//! The writes of flags, each in the caller's transaction: what the operations in
//! `super` and the group-commit batcher (`crate::domain::batch`) share.

use std::collections::{BTreeMap, HashSet};

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sqlx::PgConnection;
use vane_core::{Flag, FlagType, Prerequisite, Rule, Serve, Variant};

use super::validate::{self, Working};
use crate::domain::audit::{self, Entry, audited};
use crate::domain::authz::Caller;
use crate::domain::names::{ENTITY_KEY, is_entity_key};
use crate::domain::versions::Expected;
use crate::error::{Error, FieldError, Result};
use crate::publish;
use crate::publish::model_cache;
use crate::store::applications::Application;
use crate::store::environments::Environment;
use crate::store::flags::{self as rows, FlagRow, NewFlag, StateRow};

/// A flag with its state in every environment, keyed by environment.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct FlagView {
    #[serde(flatten)]
    pub flag: FlagRow,
    pub environments: BTreeMap<String, StateRow>,
}

audited!(FlagView, "flag", flag);

/// A flag with its states.
pub(crate) async fn view(conn: &mut PgConnection, flag: FlagRow) -> Result<FlagView> {
    let states = rows::states(conn, &flag.id).await?;
    Ok(FlagView { flag, environments: states.into_iter().map(|s| (s.environment.clone(), s)).collect() })
}

/// `view` with only the states `caller` may read (a key bound to one environment sees the
/// definition, which every environment shares, and that environment's state).
pub(crate) fn visible(caller: &Caller, mut view: FlagView) -> FlagView {
    let application_id = view.flag.application_id.clone();
    view.environments.retain(|_, s| caller.sees(&application_id, &s.environment_id));
    view
}

/// The flag `id_or_key` of `app` (404 naming both when there is none).
pub(crate) async fn find(conn: &mut PgConnection, app: &Application, id_or_key: &str, lock: bool) -> Result<FlagRow> {
    rows::find(conn, &app.id, id_or_key, lock)
        .await?
        .ok_or_else(|| Error::NotFound(format!("flag '{id_or_key}' not found in application '{}'", app.key)))
}

/// A flag's state in `env` (404 when it has none).
pub(crate) async fn state_in(conn: &mut PgConnection, flag: &FlagRow, env: &Environment) -> Result<StateRow> {
    rows::states(conn, &flag.id)
        .await?
        .into_iter()
        .find(|s| s.environment_id == env.id)
        .ok_or_else(|| Error::NotFound(format!("flag '{}' has no state in '{}'", flag.key, env.key)))
}

/// A new flag, as requested.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"key": "new-checkout", "type": "boolean", "description": "The one-page checkout", "tags": ["checkout"], "client_visible": true}))]
pub struct CreateFlag {
    pub key: String,
    #[serde(rename = "type")]
    pub flag_type: FlagType,
    #[serde(default)]
    pub variants: Vec<Variant>,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub tags: Vec<String>,
    #[serde(default)]
    pub client_visible: bool,
}

/// Creates a flag (disabled in every environment) in the caller's transaction and publishes it.
pub(crate) async fn insert(
    tx: &mut PgConnection,
    caller: &Caller,
    app: &Application,
    body: CreateFlag,
) -> Result<FlagView> {
    let created = insert_unpublished(&mut *tx, caller, app, body).await?;
    publish::publish_application(&mut *tx, &app.id).await?;
    Ok(created)
}

/// Creates a flag (disabled in every environment) in the caller's transaction, which publishes
/// the application before it commits (the batcher does so once for several).
pub(crate) async fn insert_unpublished(
    tx: &mut PgConnection,
    caller: &Caller,
    app: &Application,
    body: CreateFlag,
) -> Result<FlagView> {
    if !is_entity_key(&body.key) {
        return Err(Error::invalid("key", ENTITY_KEY));
    }
    let variants = if body.variants.is_empty() && body.flag_type == FlagType::Boolean {
        vec![Variant { key: "on".into(), value: json!(true) }, Variant { key: "off".into(), value: json!(false) }]
    } else {
        body.variants
    };
    // A new flag is disabled everywhere. Booleans serve `on` once enabled and `off` while
    // disabled; other types serve their first variant once enabled and the caller's default
    // while disabled.
    let (default_variant, off_variant) = match body.flag_type {
        FlagType::Boolean => ("on".to_owned(), Some("off".to_owned())),
        _ => (variants.first().map(|v| v.key.to_string()).unwrap_or_default(), None),
    };
    let candidate = Flag {
        key: body.key.clone(),
        flag_type: body.flag_type,
        variants: variants.clone(),
        description: body.description.clone(),
        tags: body.tags.clone(),
        enabled: false,
        off_variant: off_variant.clone().map(Into::into),
        rules: Vec::new(),
        default: Serve::Variant(default_variant.clone().into()),
        prerequisites: Vec::new(),
        salt: body.key.clone(),
        version: 1,
    };
    validate::refuse(
        validate::problems(vec![candidate], Vec::new()).into_iter().map(|(_, p, m)| FieldError::new(p, m)),
    )?;
    let new = NewFlag {
        application_id: &app.id,
        key: &body.key,
        flag_type: body.flag_type.as_str(),
        variants: json!(variants),
        description: &body.description,
        tags: json!(body.tags),
        client_visible: body.client_visible,
        off_variant: off_variant.as_deref(),
        default_serve: json!({ "variant": default_variant }),
    };
    let row = rows::insert(&mut *tx, new).await?;
    let created = view(&mut *tx, row).await?;
    for s in created.environments.values() {
        record_history(&mut *tx, caller, &created.flag, s).await?;
    }
    audit::change(&mut *tx, caller, "create", None, Some(&created)).await?;
    Ok(created)
}

/// Records a state's current version in the flag's history.
pub(crate) async fn record_history(
    conn: &mut PgConnection,
    caller: &Caller,
    flag: &FlagRow,
    state: &StateRow,
) -> Result<()> {
    let definition = serde_json::to_value(rows::model(flag, state)?).map_err(|e| Error::Internal(e.to_string()))?;
    rows::record_history(conn, &flag.id, &state.environment_id, state.version, &definition, &caller.key_id).await
}

/// Deletes a flag in the caller's transaction, unless another flag depends on it.
pub(crate) async fn delete(
    tx: &mut PgConnection,
    caller: &Caller,
    app: &Application,
    flag: &str,
    expected: Expected,
) -> Result<()> {
    let locked = find(&mut *tx, app, flag, true).await?;
    let before = view(&mut *tx, locked).await?;
    expected.check(before.flag.version)?;
    refuse_if_required(&mut *tx, app, &before.flag, "deleted", false).await?;
    rows::delete(&mut *tx, &before.flag.id).await?;
    model_cache::forget(&app.id);
    publish::publish_application(&mut *tx, &app.id).await?;
    audit::change(&mut *tx, caller, "delete", Some(&before), None).await
}

/// 409 when another flag names `flag` as a prerequisite in any environment (only live, i.e.
/// unarchived, flags when `live_only`): it cannot go without them answering PARSE_ERROR.
pub(crate) async fn refuse_if_required(
    conn: &mut PgConnection,
    app: &Application,
    flag: &FlagRow,
    what: &str,
    live_only: bool,
) -> Result<()> {
    let dependants = rows::dependants(conn, &app.id, &flag.id, &flag.key, live_only).await?;
    if dependants.is_empty() {
        return Ok(());
    }
    Err(Error::Conflict(format!(
        "flag '{}' is a prerequisite of {}; remove those prerequisites before it is {what}",
        flag.key,
        dependants.join(", ")
    )))
}

/// A change to a flag's state in one environment, as requested (absent fields stay).
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"enabled": true, "rules": [{"id": "beta", "conditions": [{"attribute": "plan", "operator": "in", "values": ["beta", "enterprise"]}], "serve": {"variant": "on"}}], "default": {"rollout": {"weights": {"on": 10000, "off": 90000}}}}))]
pub struct StateChange {
    pub enabled: Option<bool>,
    /// `null` clears it.
    #[serde(default, deserialize_with = "present")]
    pub off_variant: Option<Option<String>>,
    pub rules: Option<Vec<Rule>>,
    pub default: Option<Serve>,
    pub prerequisites: Option<Vec<Prerequisite>>,
    pub salt: Option<String>,
    pub version: Option<i64>,
}

/// Distinguishes an absent field (`None`) from an explicit `null` (`Some(None)`).
fn present<'de, D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(d).map(Some)
}

/// Applies a state change in the caller's transaction: lock, version check, validation against
/// the environment's would-be snapshot, write, history, audit — and publish, unless the caller
/// publishes once for several changes and validates against `working` (then kept current).
#[allow(clippy::too_many_arguments)]
pub(crate) async fn apply_state(
    tx: &mut PgConnection,
    caller: &Caller,
    app: &Application,
    row: &FlagRow,
    env: &Environment,
    expected: Expected,
    change: StateChange,
    action: &str,
    mut working: Option<&mut Working>,
) -> Result<StateRow> {
    let preloaded = working.as_deref().and_then(|w| w.states.get(&row.id).cloned());
    let before: StateRow = match preloaded {
        Some(state) => state,
        None => rows::lock_state(&mut *tx, &row.id, &env.id)
            .await?
            .ok_or_else(|| Error::NotFound(format!("flag '{}' has no state in '{}'", row.key, env.key)))?,
    };
    expected.check(before.version)?;
    let mut after = before.clone();
    if let Some(e) = change.enabled {
        after.enabled = e;
    }
    if let Some(o) = change.off_variant {
        after.off_variant = o;
    }
    if let Some(r) = &change.rules {
        after.rules = json!(r);
    }
    if let Some(d) = &change.default {
        after.default_serve = json!(d);
    }
    if let Some(p) = &change.prerequisites {
        after.prerequisites = json!(p);
    }
    if let Some(s) = &change.salt {
        after.salt.clone_from(s);
    }
    after.version = before.version + 1;
    let changed = rows::model(row, &after)?;
    unique_rule_ids(&changed.rules)?;
    match working.as_deref() {
        Some(w) => w.check(changed.clone())?,
        None => validate::change(&mut *tx, &app.id, &env.id, changed.clone(), "").await?,
    }
    // The new state and its history entry in one round trip (`changed` is the definition).
    let definition: Value = serde_json::to_value(&changed).map_err(|e| Error::Internal(e.to_string()))?;
    let after = rows::write_state(&mut *tx, &row.id, &after, &definition, &caller.key_id).await?;
    if working.is_none() {
        publish::publish(&mut *tx, &app.id, &env.id).await?;
    }
    audit::record(
        &mut *tx,
        Some(caller),
        Entry {
            entity_type: "flag_state",
            entity_id: &row.id,
            entity_key: &format!("{}/{}", row.key, env.key),
            action,
            before: serde_json::to_value(&before).ok(),
            after: serde_json::to_value(&after).ok(),
            version: Some(after.version),
        },
    )
    .await?;
    if let Some(w) = working.as_mut() {
        w.states.insert(row.id.clone(), after.clone());
        w.changed.insert(changed.key.clone(), changed);
    }
    Ok(after)
}

/// Results name the rule that matched (`ruleId`), so two rules of one state may not share an id.
/// (The engine tolerates it, so states stored before this check still evaluate.)
fn unique_rule_ids(rules: &[Rule]) -> Result<()> {
    let mut seen = HashSet::new();
    let problems: Vec<FieldError> = rules
        .iter()
        .enumerate()
        .filter(|(_, r)| !r.id.is_empty() && !seen.insert(r.id.as_ref()))
        .map(|(i, r)| FieldError::new(format!("rules[{i}].id"), format!("another rule already has the id '{}'", r.id)))
        .collect();
    if problems.is_empty() { Ok(()) } else { Err(Error::Unprocessable(problems)) }
}
