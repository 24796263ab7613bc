//! `/api/v1/applications/{application}/environments/{environment}/configs` (rules in
//! [`crate::domain::configs`]).

use axum::Json as Reply;
use axum::http::StatusCode;

use super::extract::{Change, IfMatch, Json, Path, Query, Rollback};
use super::routes::{Resource, Routes, Update};
use crate::domain::configs::{self, ConfigVersion, ConfigView, CreateConfig, UpdateConfig};
use crate::domain::paging::{List, Page};
use crate::domain::vane::Actor;
use crate::error::Result;

pub fn router() -> Routes {
    const BASE: &str = "/applications/{application}/environments/{environment}/configs";
    const ONE: &str = "/applications/{application}/environments/{environment}/configs/{key}";
    let summaries = [
        "List configs",
        "Create a config",
        "Read a config (secrets decrypted for admin/read keys)",
        "Update a config",
        "Delete a config",
    ];
    let update = Update::PutAndPatch(update);
    Routes::new("configs")
        .resource((BASE, ONE), summaries, Resource { list, create, read, update, delete: remove })
        .get(&format!("{ONE}/history"), "Every version of a config", history)
        .post(&format!("{ONE}/rollback"), "Restore an earlier version as a new version", rollback)
}

/// `{application}/environments/{environment}`, and `…/configs/{key}`.
type Base = Path<(String, String)>;
type One = Path<(String, String, String)>;

async fn list(actor: Actor, Path((a, e)): Base, Query(page): Query<Page>) -> Result<Reply<List<ConfigView>>> {
    Ok(Reply(configs::list(&actor, (&a, &e), page).await?))
}

async fn read(actor: Actor, Path((a, e, key)): One) -> Result<Reply<ConfigView>> {
    Ok(Reply(configs::read(&actor, (&a, &e, &key)).await?))
}

async fn create(
    actor: Actor,
    Path((a, e)): Base,
    Json(new): Json<CreateConfig>,
) -> Result<(StatusCode, Reply<ConfigView>)> {
    Ok((StatusCode::CREATED, Reply(configs::create(&actor, (&a, &e), new).await?)))
}

async fn update(
    actor: Actor,
    Path((a, e, key)): One,
    Change(expected, change): Change<UpdateConfig>,
) -> Result<Reply<ConfigView>> {
    Ok(Reply(configs::update(&actor, (&a, &e, &key), expected, change).await?))
}

async fn remove(actor: Actor, IfMatch(expected): IfMatch, Path((a, e, key)): One) -> Result<StatusCode> {
    configs::delete(&actor, (&a, &e, &key), expected).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn history(actor: Actor, Path((a, e, key)): One, Query(page): Query<Page>) -> Result<Reply<List<ConfigVersion>>> {
    Ok(Reply(configs::history(&actor, (&a, &e, &key), page).await?))
}

async fn rollback(
    actor: Actor,
    IfMatch(expected): IfMatch,
    Path((a, e, key)): One,
    Json(to): Json<Rollback>,
) -> Result<Reply<ConfigView>> {
    Ok(Reply(configs::rollback(&actor, (&a, &e, &key), expected, to.version).await?))
}
