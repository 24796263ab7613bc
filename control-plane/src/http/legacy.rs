//! The original config service's routes (`/config`, `/feature-flags`, `/configurations`), with
//! its request and response shapes; what they mean on Vane's model is
//! [`crate::domain::legacy`]. Lists answer a plain JSON array (the original's shape).

use axum::Json as Reply;
use axum::extract::State;
use axum::http::StatusCode;

use super::extract::{Change, Ctx, IfMatch, Json, Path, Query};
use super::routes::Routes;
use super::state::AppState;
use crate::domain::authz::Caller;
use crate::domain::legacy::{
    self, ConfigCreate, ConfigFilter, ConfigLookup, ConfigUpdate, ConfigurationCreate, ConfigurationFilter,
    ConfigurationUpdate, EnvQuery, Evaluate, EvaluateResponse, FlagCreate, FlagFilter, FlagUpdate, LegacyChange,
    LegacyConfig, LegacyConfiguration, LegacyFlag,
};
use crate::domain::paging::Page;
use crate::error::Result;

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
        .delete("/configurations/{id}", "Delete a JSON configuration", config_delete)
}

type Answer<T> = Result<Reply<T>>;
type Created<T> = Result<(StatusCode, Reply<T>)>;

async fn config_create(c: Ctx, Json(new): Json<ConfigCreate>) -> Created<LegacyConfig> {
    Ok((StatusCode::CREATED, Reply(legacy::config_create(&c.vane, &c.caller, new).await?)))
}

async fn config_list(c: Ctx, Query(filter): Query<ConfigFilter>) -> Answer<Vec<LegacyConfig>> {
    Ok(Reply(legacy::config_list(&c.vane, &c.caller, filter).await?))
}

async fn config_read(c: Ctx, Path(key): Path<String>, Query(lookup): Query<ConfigLookup>) -> Answer<LegacyConfig> {
    Ok(Reply(legacy::config_read(&c.vane, &c.caller, &key, lookup).await?))
}

async fn config_update(
    c: Ctx,
    Path(id): Path<String>,
    Change(expected, change): Change<ConfigUpdate>,
) -> Answer<LegacyConfig> {
    Ok(Reply(legacy::config_update(&c.vane, &c.caller, &id, expected, change).await?))
}

async fn config_delete(c: Ctx, IfMatch(expected): IfMatch, Path(id): Path<String>) -> Result<StatusCode> {
    legacy::config_delete(&c.vane, &c.caller, &id, expected).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn config_history(c: Ctx, Path(id): Path<String>, Query(page): Query<Page>) -> Answer<Vec<LegacyChange>> {
    Ok(Reply(legacy::config_history(&c.vane, &c.caller, &id, page).await?))
}

async fn flag_list(c: Ctx, Query(filter): Query<FlagFilter>) -> Answer<Vec<LegacyFlag>> {
    Ok(Reply(legacy::flag_list(&c.vane, &c.caller, filter).await?))
}

async fn flag_create(c: Ctx, Json(new): Json<FlagCreate>) -> Created<LegacyFlag> {
    Ok((StatusCode::CREATED, Reply(legacy::flag_create(&c.vane, &c.caller, new).await?)))
}

async fn flag_read(c: Ctx, Path(name): Path<String>, Query(q): Query<EnvQuery>) -> Answer<LegacyFlag> {
    Ok(Reply(legacy::flag_read(&c.vane, &c.caller, &name, q).await?))
}

async fn flag_update(
    c: Ctx,
    Path(id): Path<String>,
    Query(q): Query<EnvQuery>,
    Change(expected, change): Change<FlagUpdate>,
) -> Answer<LegacyFlag> {
    Ok(Reply(legacy::flag_update(&c.vane, &c.caller, (&id, q), expected, change).await?))
}

async fn flag_delete(c: Ctx, IfMatch(expected): IfMatch, Path(id): Path<String>) -> Result<StatusCode> {
    legacy::flag_delete(&c.vane, &c.caller, &id, expected).await?;
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
    c: Ctx,
    Query(q): Query<EnvQuery>,
    Json(new): Json<ConfigurationCreate>,
) -> Created<LegacyConfiguration> {
    Ok((StatusCode::CREATED, Reply(legacy::configuration_create(&c.vane, &c.caller, q, new).await?)))
}

async fn configuration_list(c: Ctx, Query(filter): Query<ConfigurationFilter>) -> Answer<Vec<LegacyConfiguration>> {
    Ok(Reply(legacy::configuration_list(&c.vane, &c.caller, filter).await?))
}

async fn configuration_read(c: Ctx, Path(id): Path<String>) -> Answer<LegacyConfiguration> {
    Ok(Reply(legacy::configuration_read(&c.vane, &c.caller, &id).await?))
}

async fn configuration_update(
    c: Ctx,
    Path(id): Path<String>,
    Change(expected, change): Change<ConfigurationUpdate>,
) -> Answer<LegacyConfiguration> {
    Ok(Reply(legacy::configuration_update(&c.vane, &c.caller, &id, expected, change).await?))
}
