//! `POST /api/v1/applications/{application}/environments/{environment}/imports/unleash`: flags
//! and segments from Unleash's client API state (or a delta `{events}` document), imported into
//! an application with their state in one environment — one transaction, one publish.
//!
//! The mapping is `vane_core::unleash::import` (the same as `vane import unleash`): users keep
//! their Unleash buckets. New flags are created disabled in every other environment, server-only
//! (`client_visible: false`). Keys that already exist in the application are a 409 listing them
//! (re-importing over existing flags is not supported), keys the control plane does not accept a
//! 422 listing them; in both cases nothing changes. The answer lists what was created and every
//! item that could not be imported exactly.

use axum::Json as Reply;
use axum::extract::State;
use serde_json::{Value, json};
use vane_core::FlagType;

use super::Routes;
use super::environments;
use crate::audit::{self, Entry};
use crate::auth::{Action, Caller};
use crate::error::{Error, FieldError, Result};
use crate::json::{Json, Path};
use crate::{AppState, access, publish};

pub fn router() -> Routes {
    Routes::new("imports").post(
        "/applications/{application}/environments/{environment}/imports/unleash",
        "Import Unleash's client API state (flags, segments) with its state in one environment",
        unleash,
    )
}

async fn unleash(
    State(state): State<AppState>,
    caller: Caller,
    Path((application, environment)): Path<(String, String)>,
    Json(body): Json<Value>,
) -> Result<Reply<Value>> {
    let mut tx = state.pool.begin().await?;
    // New flags appear (disabled) in every environment: a change to the application's definitions.
    let app = access::application(&mut tx, &caller, Action::Write, &application).await?;
    let env = environments::find(&mut *tx, &environment).await?;
    let (snapshot, notes) = vane_core::unleash::import(&body, &app.key, &env.key, 1)
        .map_err(|e| Error::invalid("", format!("not an Unleash state: {e}")))?;

    let mut bad: Vec<FieldError> = Vec::new();
    for f in &snapshot.flags {
        if !super::is_entity_key(&f.key) {
            bad.push(FieldError::new(
                format!("features.{}", f.key),
                "not a valid flag key here: must match [A-Za-z0-9][A-Za-z0-9._-]{0,199}",
            ));
        }
    }
    if !bad.is_empty() {
        return Err(Error::Unprocessable(bad));
    }
    let problems = vane_core::validate(&snapshot);
    if !problems.is_empty() {
        // The importer folds whatever it cannot express; a problem here is a bug, not bad input.
        let listed: Vec<String> = problems.iter().map(ToString::to_string).collect();
        return Err(Error::Internal(format!("an import does not compile: {}", listed.join("; "))));
    }

    let flag_keys: Vec<&str> = snapshot.flags.iter().map(|f| f.key.as_str()).collect();
    let segment_keys: Vec<&str> = snapshot.segments.iter().map(|s| s.key.as_str()).collect();
    let taken: Vec<String> = sqlx::query_scalar(
        "SELECT 'flag ' || key FROM flags WHERE application_id = $1 AND key = ANY($2)
         UNION ALL SELECT 'segment ' || key FROM segments WHERE application_id = $1 AND key = ANY($3)",
    )
    .bind(&app.id)
    .bind(&flag_keys)
    .bind(&segment_keys)
    .fetch_all(&mut *tx)
    .await?;
    if !taken.is_empty() {
        return Err(Error::Conflict(format!(
            "already in application '{}' (re-importing over existing entries is not supported): {}",
            app.key,
            taken.join(", ")
        )));
    }

    // Everything in a handful of statements, each carrying all rows as one JSON document: a
    // statement per flag made a 5,000-feature import 20,000 round trips.
    let segments: Vec<Value> = snapshot
        .segments
        .iter()
        .map(|s| {
            json!({"id": ulid::Ulid::new().to_string(), "key": s.key, "description": s.description,
                   "conditions": s.conditions, "included": s.included, "excluded": s.excluded})
        })
        .collect();
    sqlx::query(
        "INSERT INTO segments (id, application_id, key, description, conditions, included, excluded)
         SELECT r.id, $1, r.key, r.description, r.conditions, r.included, r.excluded
         FROM jsonb_to_recordset($2) AS r(id text, key text, description text, conditions jsonb, included jsonb,
                                          excluded jsonb)",
    )
    .bind(&app.id)
    .bind(Value::Array(segments))
    .execute(&mut *tx)
    .await?;
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
    let flags = Value::Array(flags);
    sqlx::query(
        "WITH r AS (
             SELECT * FROM jsonb_to_recordset($2) AS r(id text, key text, type text, variants jsonb, description text,
                 tags jsonb, enabled boolean, off_variant text, disabled_off_variant text, rules jsonb,
                 default_serve jsonb, prerequisites jsonb, salt text, definition jsonb)),
         inserted AS (
             INSERT INTO flags (id, application_id, key, type, variants, description, tags, client_visible)
             SELECT id, $1, key, type, variants, description, tags, false FROM r),
         elsewhere AS (
             INSERT INTO flag_states (flag_id, environment_id, enabled, off_variant, default_serve, salt)
             SELECT r.id, e.id, false, r.disabled_off_variant, r.default_serve, r.salt
             FROM r CROSS JOIN environments e WHERE e.id <> $3),
         here AS (
             INSERT INTO flag_states (flag_id, environment_id, enabled, off_variant, rules, default_serve,
                                      prerequisites, salt)
             SELECT id, $3, enabled, off_variant, rules, default_serve, prerequisites, salt FROM r)
         INSERT INTO flag_history (flag_id, environment_id, version, definition, actor)
         SELECT id, $3, 1, definition, $4 FROM r",
    )
    .bind(&app.id)
    .bind(&flags)
    .bind(&env.id)
    .bind(&caller.key_id)
    .execute(&mut *tx)
    .await?;
    publish::publish_application(&mut tx, &app.id).await?;
    let notes: Vec<Value> = notes
        .iter()
        .map(|n| json!({"feature": n.feature, "path": n.path, "kind": format!("{:?}", n.kind), "message": n.message}))
        .collect();
    let summary = json!({
        "application": app.key, "environment": env.key,
        "flags": flag_keys, "segments": segment_keys, "notes": notes,
    });
    audit::record(
        &mut tx,
        Some(&caller),
        Entry {
            entity_type: "import",
            entity_id: &app.id,
            entity_key: &format!("unleash/{}/{}", app.key, env.key),
            action: "import",
            before: None,
            after: Some(summary.clone()),
            version: None,
        },
    )
    .await?;
    tx.commit().await?;
    Ok(Reply(summary))
}
