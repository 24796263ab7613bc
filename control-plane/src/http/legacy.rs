//! The original config service's routes (`/config`, `/feature-flags`, `/configurations`), with
//! its request and response shapes; what they mean on Vane's model is
//! [`crate::domain::legacy`]. Lists answer a plain JSON array (the original's shape).

use axum::Json as Reply;
use axum::extract::State;
use axum::http::StatusCode;

use super::extract::{IfMatch, Json, Path, Query};
use super::routes::{Resource, Routes, Update};
use super::state::AppState;
use crate::domain::authz::Caller;
use crate::domain::legacy::{
    self, ConfigCreate, ConfigFilter, ConfigLookup, ConfigUpdate, ConfigurationCreate, ConfigurationFilter,
    ConfigurationUpdate, EnvQuery, Evaluate, EvaluateResponse, FlagCreate, FlagFilter, FlagUpdate, LegacyChange,
    LegacyConfig, LegacyConfiguration, LegacyFlag,
};
use crate::domain::paging::Page;
use crate::domain::vane::Actor;
use crate::domain::versions::Change;
use crate::error::Result;

pub fn router() -> Routes {
    let configs = Resource {
        list: config_list,
        create: config_create,
        read: config_read,
        update: Update::Put(config_update),
        delete: config_delete,
    };
    let flags = Resource {
        list: flag_list,
        create: flag_create,
        read: flag_read,
        update: Update::Put(flag_update),
        delete: flag_delete,
    };
    let configurations = Resource {
        list: configuration_list,
        create: configuration_create,
        read: configuration_read,
        update: Update::Put(configuration_update),
        delete: config_delete,
    };
    Routes::new("original config service")
        .resource(
            ("/config", "/config/{key}"),
            [
                "List configs (original shape; filters: environment, service_name)",
                "Create a config (original shape)",
                "Read a config by key (?environment=&service_name=)",
                "Update a config by id (original shape)",
                "Delete a config by id",
            ],
            configs,
        )
        .get("/config/{id}/history", "A config's changes (original shape)", config_history)
        .resource(
            ("/feature-flags", "/feature-flags/{name}"),
            [
                "List feature flags (original shape; filter: environment)",
                "Create a feature flag (original shape)",
                "Read a feature flag (?environment=)",
                "Update a feature flag by id or name",
                "Delete a feature flag by id or name",
            ],
            flags,
        )
        .post(
            "/feature-flags/evaluate",
            "Evaluate a feature flag: {enabled, reason, flag_name, environment}",
            flag_evaluate,
        )
        .resource(
            ("/configurations", "/configurations/{id}"),
            [
                "List JSON configurations (seed 001 shape)",
                "Create a JSON configuration",
                "Read a JSON configuration",
                "Update a JSON configuration",
                "Delete a JSON configuration",
            ],
            configurations,
        )
}

type Answer<T> = Result<Reply<T>>;
type Created<T> = Result<(StatusCode, Reply<T>)>;

async fn config_create(actor: Actor, Json(new): Json<ConfigCreate>) -> Created<LegacyConfig> {
    Ok((StatusCode::CREATED, Reply(legacy::config_create(&actor, new).await?)))
}

async fn config_list(actor: Actor, Query(filter): Query<ConfigFilter>) -> Answer<Vec<LegacyConfig>> {
    Ok(Reply(legacy::config_list(&actor, filter).await?))
}

async fn config_read(
    actor: Actor,
    Path(key): Path<String>,
    Query(lookup): Query<ConfigLookup>,
) -> Answer<LegacyConfig> {
    Ok(Reply(legacy::config_read(&actor, &key, lookup).await?))
}

async fn config_update(actor: Actor, Path(id): Path<String>, change: Change<ConfigUpdate>) -> Answer<LegacyConfig> {
    Ok(Reply(legacy::config_update(&actor, &id, change).await?))
}

async fn config_delete(actor: Actor, IfMatch(expected): IfMatch, Path(id): Path<String>) -> Result<StatusCode> {
    legacy::config_delete(&actor, &id, expected).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn config_history(actor: Actor, Path(id): Path<String>, Query(page): Query<Page>) -> Answer<Vec<LegacyChange>> {
    Ok(Reply(legacy::config_history(&actor, &id, page).await?))
}

async fn flag_list(actor: Actor, Query(filter): Query<FlagFilter>) -> Answer<Vec<LegacyFlag>> {
    Ok(Reply(legacy::flag_list(&actor, filter).await?))
}

async fn flag_create(actor: Actor, Json(new): Json<FlagCreate>) -> Created<LegacyFlag> {
    Ok((StatusCode::CREATED, Reply(legacy::flag_create(&actor, new).await?)))
}

async fn flag_read(actor: Actor, Path(name): Path<String>, Query(q): Query<EnvQuery>) -> Answer<LegacyFlag> {
    Ok(Reply(legacy::flag_read(&actor, &name, q).await?))
}

async fn flag_update(
    actor: Actor,
    Path(id): Path<String>,
    Query(q): Query<EnvQuery>,
    change: Change<FlagUpdate>,
) -> Answer<LegacyFlag> {
    Ok(Reply(legacy::flag_update(&actor, (&id, q), change).await?))
}

async fn flag_delete(actor: Actor, IfMatch(expected): IfMatch, Path(id): Path<String>) -> Result<StatusCode> {
    legacy::flag_delete(&actor, &id, expected).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Evaluation reads compiled snapshots, which the state keeps beside the domain.
async fn flag_evaluate(
    State(s): State<AppState>,
    caller: Caller,
    Json(body): Json<Evaluate>,
) -> Answer<EvaluateResponse> {
    Ok(Reply(legacy::flag_evaluate(&s.vane, &s.compiled, &caller, body).await?))
}

async fn configuration_create(
    actor: Actor,
    Query(q): Query<EnvQuery>,
    Json(new): Json<ConfigurationCreate>,
) -> Created<LegacyConfiguration> {
    Ok((StatusCode::CREATED, Reply(legacy::configuration_create(&actor, q, new).await?)))
}

async fn configuration_list(
    actor: Actor,
    Query(filter): Query<ConfigurationFilter>,
) -> Answer<Vec<LegacyConfiguration>> {
    Ok(Reply(legacy::configuration_list(&actor, filter).await?))
}

async fn configuration_read(actor: Actor, Path(id): Path<String>) -> Answer<LegacyConfiguration> {
    Ok(Reply(legacy::configuration_read(&actor, &id).await?))
}

async fn configuration_update(
    actor: Actor,
    Path(id): Path<String>,
    change: Change<ConfigurationUpdate>,
) -> Answer<LegacyConfiguration> {
    Ok(Reply(legacy::configuration_update(&actor, &id, change).await?))
}
