//! `/api/v1/applications/{application}/environments/{environment}/configs` (rules in
//! [`crate::domain::configs`]).

use axum::Json as Reply;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};

use super::extract::{Json, Path, Query, Rollback, expected};
use super::routes::Routes;
use super::state::AppState;
use crate::domain::authz::Caller;
use crate::domain::configs::{self, ConfigVersion, ConfigView, CreateConfig, UpdateConfig};
use crate::domain::paging::{List, Page};
use crate::error::Result;

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

/// `{application}/environments/{environment}`, and `…/configs/{key}`.
type Base = Path<(String, String)>;
type One = Path<(String, String, String)>;

async fn list(
    State(s): State<AppState>,
    caller: Caller,
    Path((a, e)): Base,
    Query(page): Query<Page>,
) -> Result<Reply<List<ConfigView>>> {
    Ok(Reply(configs::list(&s.vane, &caller, (&a, &e), page).await?))
}

async fn read(State(s): State<AppState>, caller: Caller, Path((a, e, key)): One) -> Result<Reply<ConfigView>> {
    Ok(Reply(configs::read(&s.vane, &caller, (&a, &e, &key)).await?))
}

async fn create(
    State(s): State<AppState>,
    caller: Caller,
    Path((a, e)): Base,
    Json(body): Json<CreateConfig>,
) -> Result<(StatusCode, Reply<ConfigView>)> {
    Ok((StatusCode::CREATED, Reply(configs::create(&s.vane, &caller, (&a, &e), body).await?)))
}

async fn update(
    State(s): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Path((a, e, key)): One,
    Json(body): Json<UpdateConfig>,
) -> Result<Reply<ConfigView>> {
    let expected = expected(&headers, body.version)?;
    Ok(Reply(configs::update(&s.vane, &caller, (&a, &e, &key), expected, body).await?))
}

async fn remove(
    State(s): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Path((a, e, key)): One,
) -> Result<StatusCode> {
    configs::delete(&s.vane, &caller, (&a, &e, &key), expected(&headers, None)?).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn history(
    State(s): State<AppState>,
    caller: Caller,
    Path((a, e, key)): One,
    Query(page): Query<Page>,
) -> Result<Reply<List<ConfigVersion>>> {
    Ok(Reply(configs::history(&s.vane, &caller, (&a, &e, &key), page).await?))
}

async fn rollback(
    State(s): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Path((a, e, key)): One,
    Json(body): Json<Rollback>,
) -> Result<Reply<ConfigView>> {
    let expected = expected(&headers, None)?;
    Ok(Reply(configs::rollback(&s.vane, &caller, (&a, &e, &key), expected, body.version).await?))
}
