//! Imports of flags and segments from other products' documents into an application, with
//! their state in one environment — one transaction, one publish, one audit entry.
//!
//! Unleash: the mapping is `vane_core::unleash::import` (the same as `vane import unleash`), so
//! users keep their Unleash buckets. New flags are created disabled in every other environment,
//! server-only (`client_visible: false`). Keys that already exist in the application are a 409
//! listing them (re-importing over existing flags is not supported), keys the control plane
//! does not accept a 422 listing them; in both cases nothing changes. The answer lists what was
//! created and every item that could not be imported exactly.

use serde_json::{Value, json};
use vane_core::FlagType;

use super::audit::{self, Entry};
use super::authz::{self, Action};
use super::names::{ENTITY_KEY, is_entity_key};
use super::vane::{Actor, Touched};
use crate::error::{Error, FieldError, Result};
use crate::publish;
use crate::store::{environments, imports as rows};

/// Imports Unleash's client API state (or a delta `{events}` document); the answer summarises it.
pub async fn unleash(actor: &Actor, (application, environment): (&str, &str), document: &Value) -> Result<Value> {
    let Actor { vane, caller } = actor;
    let mut tx = vane.begin().await?;
    // New flags appear (disabled) in every environment: a change to the application's definitions.
    let app = authz::application(&mut tx, caller, Action::Write, application).await?;
    let env = environments::find(&mut *tx, environment).await?;
    let (snapshot, notes) = vane_core::unleash::import(document, &app.key, &env.key, 1)
        .map_err(|e| Error::invalid("", format!("not an Unleash state: {e}")))?;

    let bad: Vec<FieldError> = snapshot
        .flags
        .iter()
        .filter(|f| !is_entity_key(&f.key))
        .map(|f| FieldError::new(format!("features.{}", f.key), format!("not a valid flag key here: {ENTITY_KEY}")))
        .collect();
    if !bad.is_empty() {
        return Err(Error::Unprocessable(bad));
    }
    let problems = vane_core::validate(&snapshot);
    if !problems.is_empty() {
        // The importer folds whatever it cannot express; a problem here is a bug, not bad input.
        let listed: Vec<String> = problems.iter().map(ToString::to_string).collect();
        return Err(Error::Internal(format!("an import does not compile: {}", listed.join("; "))));
    }

    let flag_keys: Vec<String> = snapshot.flags.iter().map(|f| f.key.clone()).collect();
    let segment_keys: Vec<String> = snapshot.segments.iter().map(|s| s.key.clone()).collect();
    let taken = rows::taken(&mut tx, &app.id, &flag_keys, &segment_keys).await?;
    if !taken.is_empty() {
        return Err(Error::Conflict(format!(
            "already in application '{}' (re-importing over existing entries is not supported): {}",
            app.key,
            taken.join(", ")
        )));
    }

    let segments: Vec<Value> = snapshot
        .segments
        .iter()
        .map(|s| {
            json!({"id": ulid::Ulid::new().to_string(), "key": s.key, "description": s.description,
                   "conditions": s.conditions, "included": s.included, "excluded": s.excluded})
        })
        .collect();
    rows::insert_segments(&mut tx, &app.id, &Value::Array(segments)).await?;
    let flags: Vec<Value> = snapshot
        .flags
        .iter()
        .map(|f| {
            // Disabled everywhere else (serving the off variant), the imported state here.
            let off = match f.flag_type {
                FlagType::Boolean => Some("off"),
                _ => f.off_variant.as_deref(),
            };
            json!({"id": ulid::Ulid::new().to_string(), "key": f.key, "type": f.flag_type.as_str(),
                   "variants": f.variants, "description": f.description, "tags": f.tags,
                   "enabled": f.enabled, "off_variant": f.off_variant, "disabled_off_variant": off,
                   "rules": f.rules, "default_serve": f.default, "prerequisites": f.prerequisites,
                   "salt": f.salt, "definition": f})
        })
        .collect();
    rows::insert_flags(&mut tx, &app.id, &env.id, &Value::Array(flags), &caller.key_id).await?;
    publish::publish_application(&mut tx, &app.id).await?;
    let notes: Vec<Value> = notes
        .iter()
        .map(|n| json!({"feature": n.feature, "path": n.path, "kind": format!("{:?}", n.kind), "message": n.message}))
        .collect();
    let summary = json!({
        "application": app.key, "environment": env.key,
        "flags": flag_keys, "segments": segment_keys, "notes": notes,
    });
    let entry = Entry {
        entity_type: "import",
        entity_id: &app.id,
        entity_key: &format!("unleash/{}/{}", app.key, env.key),
        action: "import",
        before: None,
        after: Some(summary.clone()),
        version: None,
    };
    audit::record(&mut tx, Some(caller), entry).await?;
    vane.commit(tx, Touched::Streams).await?;
    Ok(summary)
}
