//! `/api/v1/applications/{application}/environments/{environment}/configs` (rules in
//! [`crate::domain::configs`]).

use axum::Json as Reply;
use axum::http::StatusCode;

use super::extract::{Change, Ctx, IfMatch, Json, Path, Query, Rollback};
use super::routes::Routes;
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

async fn list(c: Ctx, Path((a, e)): Base, Query(page): Query<Page>) -> Result<Reply<List<ConfigView>>> {
    Ok(Reply(configs::list(&c.vane, &c.caller, (&a, &e), page).await?))
}

async fn read(c: Ctx, Path((a, e, key)): One) -> Result<Reply<ConfigView>> {
    Ok(Reply(configs::read(&c.vane, &c.caller, (&a, &e, &key)).await?))
}

async fn create(c: Ctx, Path((a, e)): Base, Json(new): Json<CreateConfig>) -> Result<(StatusCode, Reply<ConfigView>)> {
    Ok((StatusCode::CREATED, Reply(configs::create(&c.vane, &c.caller, (&a, &e), new).await?)))
}

async fn update(
    c: Ctx,
    Path((a, e, key)): One,
    Change(expected, change): Change<UpdateConfig>,
) -> Result<Reply<ConfigView>> {
    Ok(Reply(configs::update(&c.vane, &c.caller, (&a, &e, &key), expected, change).await?))
}

async fn remove(c: Ctx, IfMatch(expected): IfMatch, Path((a, e, key)): One) -> Result<StatusCode> {
    configs::delete(&c.vane, &c.caller, (&a, &e, &key), expected).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn history(c: Ctx, Path((a, e, key)): One, Query(page): Query<Page>) -> Result<Reply<List<ConfigVersion>>> {
    Ok(Reply(configs::history(&c.vane, &c.caller, (&a, &e, &key), page).await?))
}

async fn rollback(
    c: Ctx,
    IfMatch(expected): IfMatch,
    Path((a, e, key)): One,
    Json(to): Json<Rollback>,
) -> Result<Reply<ConfigView>> {
    Ok(Reply(configs::rollback(&c.vane, &c.caller, (&a, &e, &key), expected, to.version).await?))
}
