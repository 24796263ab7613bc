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

    for s in &snapshot.segments {
        sqlx::query(
            "INSERT INTO segments (id, application_id, key, description, conditions, included, excluded)
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(ulid::Ulid::new().to_string())
        .bind(&app.id)
        .bind(&s.key)
        .bind(&s.description)
        .bind(json!(s.conditions))
        .bind(json!(s.included))
        .bind(json!(s.excluded))
        .execute(&mut *tx)
        .await?;
    }
    for f in &snapshot.flags {
        let id = ulid::Ulid::new().to_string();
        sqlx::query(
            "INSERT INTO flags (id, application_id, key, type, variants, description, tags, client_visible)
             VALUES ($1, $2, $3, $4, $5, $6, $7, false)",
        )
        .bind(&id)
        .bind(&app.id)
        .bind(&f.key)
        .bind(f.flag_type.as_str())
        .bind(json!(f.variants))
        .bind(&f.description)
        .bind(json!(f.tags))
        .execute(&mut *tx)
        .await?;
        // Disabled everywhere (serving the off variant), then the imported state here.
        let off = match f.flag_type {
            FlagType::Boolean => Some("off".to_owned()),
            _ => f.off_variant.as_deref().map(str::to_owned),
        };
        sqlx::query(
            "INSERT INTO flag_states (flag_id, environment_id, enabled, off_variant, default_serve, salt)
             SELECT $1, id, false, $2, $3, $4 FROM environments WHERE id <> $5",
        )
        .bind(&id)
        .bind(&off)
        .bind(json!(f.default))
        .bind(&f.salt)
        .bind(&env.id)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "INSERT INTO flag_states (flag_id, environment_id, enabled, off_variant, rules, default_serve,
                                      prerequisites, salt)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(&id)
        .bind(&env.id)
        .bind(f.enabled)
        .bind(&f.off_variant)
        .bind(json!(f.rules))
        .bind(json!(f.default))
        .bind(json!(f.prerequisites))
        .bind(&f.salt)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "INSERT INTO flag_history (flag_id, environment_id, version, definition, actor)
             SELECT flag_id, environment_id, version, $3, $4 FROM flag_states WHERE flag_id = $1 AND environment_id = $2",
        )
        .bind(&id)
        .bind(&env.id)
        .bind(json!(f))
        .bind(&caller.key_id)
        .execute(&mut *tx)
        .await?;
    }
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
