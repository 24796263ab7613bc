//! `/api/v1/applications/{application}/flags`: definitions, and under
//! `…/flags/{flag}/environments/{environment}` their state per environment (rules in
//! [`crate::domain::flags`]).

use axum::Json as Reply;
use axum::http::StatusCode;

use super::extract::{Change, Ctx, IfMatch, Json, Path, Query, Rollback};
use super::routes::Routes;
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

/// `{application}/flags/{flag}`, and `…/environments/{environment}`.
type One = Path<(String, String)>;
type InEnvironment = Path<(String, String, String)>;

async fn list(c: Ctx, Path(app): Path<String>, Query(filter): Query<FlagFilter>) -> Result<Reply<List<FlagView>>> {
    Ok(Reply(flags::list(&c.vane, &c.caller, &app, filter).await?))
}

async fn read(c: Ctx, Path((app, flag)): One) -> Result<Reply<FlagView>> {
    Ok(Reply(flags::read(&c.vane, &c.caller, &app, &flag).await?))
}

async fn create(c: Ctx, Path(app): Path<String>, Json(new): Json<CreateFlag>) -> Result<(StatusCode, Reply<FlagView>)> {
    Ok((StatusCode::CREATED, Reply(flags::create(&c.vane, &c.caller, &app, new).await?)))
}

async fn update(
    c: Ctx,
    Path((app, flag)): One,
    Change(expected, change): Change<FlagChange>,
) -> Result<Reply<FlagView>> {
    Ok(Reply(flags::update(&c.vane, &c.caller, (&app, &flag), expected, change).await?))
}

async fn remove(c: Ctx, IfMatch(expected): IfMatch, Path((app, flag)): One) -> Result<StatusCode> {
    flags::delete(&c.vane, &c.caller, (&app, &flag), expected).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn read_state(c: Ctx, Path((app, flag, env)): InEnvironment) -> Result<Reply<StateRow>> {
    Ok(Reply(flags::read_state(&c.vane, &c.caller, (&app, &flag, &env)).await?))
}

async fn update_state(
    c: Ctx,
    Path((app, flag, env)): InEnvironment,
    Change(expected, change): Change<StateChange>,
) -> Result<Reply<StateRow>> {
    Ok(Reply(flags::update_state(&c.vane, &c.caller, (&app, &flag, &env), expected, change).await?))
}

async fn history(
    c: Ctx,
    Path((app, flag, env)): InEnvironment,
    Query(page): Query<Page>,
) -> Result<Reply<List<HistoryEntry>>> {
    Ok(Reply(flags::history(&c.vane, &c.caller, (&app, &flag, &env), page).await?))
}

async fn rollback(
    c: Ctx,
    IfMatch(expected): IfMatch,
    Path((app, flag, env)): InEnvironment,
    Json(to): Json<Rollback>,
) -> Result<Reply<StateRow>> {
    Ok(Reply(flags::rollback(&c.vane, &c.caller, (&app, &flag, &env), expected, to.version).await?))
}
