//! `/api/v1/applications/{application}/flags`: definitions, and under
//! `…/flags/{flag}/environments/{environment}` their state per environment (rules in
//! [`crate::domain::flags`]).

use axum::Json as Reply;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};

use super::extract::{Json, Path, Query, Rollback, expected};
use super::routes::Routes;
use super::state::AppState;
use crate::domain::authz::Caller;
use crate::domain::flags::{self, CreateFlag, FlagChange, FlagFilter, FlagView, StateChange};
use crate::domain::paging::{List, Page};
use crate::error::Result;
use crate::store::flags::{HistoryEntry, StateRow};

pub fn router() -> Routes {
    const ONE: &str = "/applications/{application}/flags/{flag}";
    const STATE: &str = "/applications/{application}/flags/{flag}/environments/{environment}";
    Routes::new("flags")
        .get("/applications/{application}/flags", "List flags (filters: tag, archived)", list)
        .post("/applications/{application}/flags", "Create a flag (disabled in every environment)", create)
        .get(ONE, "Read a flag with its state in every environment", read)
        .put(ONE, "Update a flag (variants, description, tags, visibility, archived)", update)
        .patch(ONE, "Update a flag (variants, description, tags, visibility, archived)", update)
        .delete(ONE, "Delete a flag (refused while another flag depends on it)", remove)
        .get(STATE, "Read a flag's state in one environment", read_state)
        .put(STATE, "Update a flag's state in one environment (rules, default, prerequisites, ...)", update_state)
        .patch(STATE, "Update a flag's state in one environment (rules, default, prerequisites, ...)", update_state)
        .get(&format!("{STATE}/history"), "Every published version of the flag's state", history)
        .post(&format!("{STATE}/rollback"), "Restore an earlier version as a new version", rollback)
}

/// `{application}/flags/{flag}/environments/{environment}`.
type StatePath = Path<(String, String, String)>;

async fn list(
    State(s): State<AppState>,
    caller: Caller,
    Path(application): Path<String>,
    Query(filter): Query<FlagFilter>,
) -> Result<Reply<List<FlagView>>> {
    Ok(Reply(flags::list(&s.vane, &caller, &application, filter).await?))
}

async fn read(
    State(s): State<AppState>,
    caller: Caller,
    Path((app, flag)): Path<(String, String)>,
) -> Result<Reply<FlagView>> {
    Ok(Reply(flags::read(&s.vane, &caller, &app, &flag).await?))
}

async fn create(
    State(s): State<AppState>,
    caller: Caller,
    Path(application): Path<String>,
    Json(body): Json<CreateFlag>,
) -> Result<(StatusCode, Reply<FlagView>)> {
    Ok((StatusCode::CREATED, Reply(flags::create(&s.vane, &caller, &application, body).await?)))
}

async fn update(
    State(s): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Path((app, flag)): Path<(String, String)>,
    Json(body): Json<FlagChange>,
) -> Result<Reply<FlagView>> {
    let expected = expected(&headers, body.version)?;
    Ok(Reply(flags::update(&s.vane, &caller, &app, &flag, expected, body).await?))
}

async fn remove(
    State(s): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Path((app, flag)): Path<(String, String)>,
) -> Result<StatusCode> {
    flags::delete(&s.vane, &caller, &app, &flag, expected(&headers, None)?).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn read_state(
    State(s): State<AppState>,
    caller: Caller,
    Path((app, flag, env)): StatePath,
) -> Result<Reply<StateRow>> {
    Ok(Reply(flags::read_state(&s.vane, &caller, &app, &flag, &env).await?))
}

async fn update_state(
    State(s): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Path((app, flag, env)): StatePath,
    Json(body): Json<StateChange>,
) -> Result<Reply<StateRow>> {
    let expected = expected(&headers, body.version)?;
    Ok(Reply(flags::update_state(&s.vane, &caller, &app, &env, &flag, expected, body).await?))
}

async fn history(
    State(s): State<AppState>,
    caller: Caller,
    Path((app, flag, env)): StatePath,
    Query(page): Query<Page>,
) -> Result<Reply<List<HistoryEntry>>> {
    Ok(Reply(flags::history(&s.vane, &caller, &app, &flag, &env, page).await?))
}

async fn rollback(
    State(s): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Path((app, flag, env)): StatePath,
    Json(body): Json<Rollback>,
) -> Result<Reply<StateRow>> {
    let expected = expected(&headers, None)?;
    Ok(Reply(flags::rollback(&s.vane, &caller, (&app, &flag, &env), expected, body.version).await?))
}
