//! `/api/v1/applications/{application}/flags`: definitions, and under
//! `…/flags/{flag}/environments/{environment}` their state per environment (rules in
//! [`crate::domain::flags`]).

use axum::Json as Reply;
use axum::http::StatusCode;

use super::extract::{Change, IfMatch, Json, Path, Query, Rollback};
use super::routes::{Resource, Routes, Update};
use crate::domain::flags::{self, CreateFlag, FlagChange, FlagFilter, FlagView, StateChange};
use crate::domain::paging::{List, Page};
use crate::domain::vane::Actor;
use crate::error::Result;
use crate::store::flags::{HistoryEntry, StateRow};

pub fn router() -> Routes {
    const ONE: &str = "/applications/{application}/flags/{flag}";
    const STATE: &str = "/applications/{application}/flags/{flag}/environments/{environment}";
    const BASE: &str = "/applications/{application}/flags";
    let summaries = [
        "List flags (filters: tag, archived)",
        "Create a flag (disabled in every environment)",
        "Read a flag with its state in every environment",
        "Update a flag (variants, description, tags, visibility, archived)",
        "Delete a flag (refused while another flag depends on it)",
    ];
    let update = Update::PutAndPatch(update);
    Routes::new("flags")
        .resource((BASE, ONE), summaries, Resource { list, create, read, update, delete: remove })
        .get(STATE, "Read a flag's state in one environment", read_state)
        .put(STATE, "Update a flag's state in one environment (rules, default, prerequisites, ...)", update_state)
        .patch(STATE, "Update a flag's state in one environment (rules, default, prerequisites, ...)", update_state)
        .get(&format!("{STATE}/history"), "Every published version of the flag's state", history)
        .post(&format!("{STATE}/rollback"), "Restore an earlier version as a new version", rollback)
}

/// `{application}/flags/{flag}`, and `…/environments/{environment}`.
type One = Path<(String, String)>;
type InEnvironment = Path<(String, String, String)>;

async fn list(
    actor: Actor,
    Path(app): Path<String>,
    Query(filter): Query<FlagFilter>,
) -> Result<Reply<List<FlagView>>> {
    Ok(Reply(flags::list(&actor, &app, filter).await?))
}

async fn read(actor: Actor, Path((app, flag)): One) -> Result<Reply<FlagView>> {
    Ok(Reply(flags::read(&actor, &app, &flag).await?))
}

async fn create(
    actor: Actor,
    Path(app): Path<String>,
    Json(new): Json<CreateFlag>,
) -> Result<(StatusCode, Reply<FlagView>)> {
    Ok((StatusCode::CREATED, Reply(flags::create(&actor, &app, new).await?)))
}

async fn update(
    actor: Actor,
    Path((app, flag)): One,
    Change(expected, change): Change<FlagChange>,
) -> Result<Reply<FlagView>> {
    Ok(Reply(flags::update(&actor, (&app, &flag), expected, change).await?))
}

async fn remove(actor: Actor, IfMatch(expected): IfMatch, Path((app, flag)): One) -> Result<StatusCode> {
    flags::delete(&actor, (&app, &flag), expected).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn read_state(actor: Actor, Path((app, flag, env)): InEnvironment) -> Result<Reply<StateRow>> {
    Ok(Reply(flags::read_state(&actor, (&app, &flag, &env)).await?))
}

async fn update_state(
    actor: Actor,
    Path((app, flag, env)): InEnvironment,
    Change(expected, change): Change<StateChange>,
) -> Result<Reply<StateRow>> {
    Ok(Reply(flags::update_state(&actor, (&app, &flag, &env), expected, change).await?))
}

async fn history(
    actor: Actor,
    Path((app, flag, env)): InEnvironment,
    Query(page): Query<Page>,
) -> Result<Reply<List<HistoryEntry>>> {
    Ok(Reply(flags::history(&actor, (&app, &flag, &env), page).await?))
}

async fn rollback(
    actor: Actor,
    IfMatch(expected): IfMatch,
    Path((app, flag, env)): InEnvironment,
    Json(to): Json<Rollback>,
) -> Result<Reply<StateRow>> {
    Ok(Reply(flags::rollback(&actor, (&app, &flag, &env), expected, to.version).await?))
}
