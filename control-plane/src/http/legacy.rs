//! The original config service's routes (`/config`, `/feature-flags`, `/configurations`), with
//! its request and response shapes; what they mean on Vane's model is
//! [`crate::domain::legacy`]. Lists answer a plain JSON array (the original's shape).

use axum::Json as Reply;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};

use super::extract::{Json, Path, Query, expected};
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
        .delete("/configurations/{id}", "Delete a JSON configuration", configuration_delete)
}

type Answer<T> = Result<Reply<T>>;
type Created<T> = Result<(StatusCode, Reply<T>)>;

async fn config_create(
    State(s): State<AppState>,
    caller: Caller,
    Json(body): Json<ConfigCreate>,
) -> Created<LegacyConfig> {
    Ok((StatusCode::CREATED, Reply(legacy::config_create(&s.vane, &caller, body).await?)))
}

async fn config_list(
    State(s): State<AppState>,
    caller: Caller,
    Query(f): Query<ConfigFilter>,
) -> Answer<Vec<LegacyConfig>> {
    Ok(Reply(legacy::config_list(&s.vane, &caller, f).await?))
}

async fn config_read(
    State(s): State<AppState>,
    caller: Caller,
    Path(key): Path<String>,
    Query(q): Query<ConfigLookup>,
) -> Answer<LegacyConfig> {
    Ok(Reply(legacy::config_read(&s.vane, &caller, &key, q).await?))
}

async fn config_update(
    State(s): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Path(id): Path<String>,
    Json(body): Json<ConfigUpdate>,
) -> Answer<LegacyConfig> {
    caller.permits(crate::domain::authz::Action::Write)?;
    let expected = expected(&headers, body.version)?;
    Ok(Reply(legacy::config_update(&s.vane, &caller, &id, expected, body).await?))
}

async fn config_delete(
    State(s): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<StatusCode> {
    caller.permits(crate::domain::authz::Action::Write)?;
    legacy::config_delete(&s.vane, &caller, &id, expected(&headers, None)?).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn config_history(
    State(s): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Query(page): Query<Page>,
) -> Answer<Vec<LegacyChange>> {
    Ok(Reply(legacy::config_history(&s.vane, &caller, &id, page).await?))
}

async fn flag_list(State(s): State<AppState>, caller: Caller, Query(f): Query<FlagFilter>) -> Answer<Vec<LegacyFlag>> {
    Ok(Reply(legacy::flag_list(&s.vane, &caller, f).await?))
}

async fn flag_create(State(s): State<AppState>, caller: Caller, Json(body): Json<FlagCreate>) -> Created<LegacyFlag> {
    Ok((StatusCode::CREATED, Reply(legacy::flag_create(&s.vane, &caller, body).await?)))
}

async fn flag_read(
    State(s): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
    Query(q): Query<EnvQuery>,
) -> Answer<LegacyFlag> {
    Ok(Reply(legacy::flag_read(&s.vane, &caller, &name, q).await?))
}

async fn flag_update(
    State(s): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Path(id): Path<String>,
    Query(q): Query<EnvQuery>,
    Json(body): Json<FlagUpdate>,
) -> Answer<LegacyFlag> {
    caller.permits(crate::domain::authz::Action::Write)?;
    let expected = expected(&headers, body.version)?;
    Ok(Reply(legacy::flag_update(&s.vane, &caller, (&id, q), expected, body).await?))
}

async fn flag_delete(
    State(s): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<StatusCode> {
    legacy::flag_delete(&s.vane, &caller, &id, expected(&headers, None)?).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn flag_evaluate(
    State(s): State<AppState>,
    caller: Caller,
    Json(body): Json<Evaluate>,
) -> Answer<EvaluateResponse> {
    Ok(Reply(legacy::flag_evaluate(&s.vane, &s.compiled, &caller, body).await?))
}

async fn configuration_create(
    State(s): State<AppState>,
    caller: Caller,
    Query(q): Query<EnvQuery>,
    Json(body): Json<ConfigurationCreate>,
) -> Created<LegacyConfiguration> {
    Ok((StatusCode::CREATED, Reply(legacy::configuration_create(&s.vane, &caller, q, body).await?)))
}

async fn configuration_list(
    State(s): State<AppState>,
    caller: Caller,
    Query(f): Query<ConfigurationFilter>,
) -> Answer<Vec<LegacyConfiguration>> {
    Ok(Reply(legacy::configuration_list(&s.vane, &caller, f).await?))
}

async fn configuration_read(
    State(s): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Answer<LegacyConfiguration> {
    Ok(Reply(legacy::configuration_read(&s.vane, &caller, &id).await?))
}

async fn configuration_update(
    State(s): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Path(id): Path<String>,
    Json(body): Json<ConfigurationUpdate>,
) -> Answer<LegacyConfiguration> {
    caller.permits(crate::domain::authz::Action::Write)?;
    let expected = expected(&headers, body.version)?;
    Ok(Reply(legacy::configuration_update(&s.vane, &caller, &id, expected, body).await?))
}

async fn configuration_delete(
    State(s): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<StatusCode> {
    config_delete(State(s), caller, headers, Path(id)).await
}
