//! `/api/v1/api-keys` (rules in [`crate::domain::keys`]).

use axum::Json as Reply;
use axum::http::StatusCode;

use super::extract::{Ctx, Json, Path, Query};
use super::routes::Routes;
use crate::domain::keys::{self, CreateKey, NewKey};
use crate::domain::paging::{List, Page};
use crate::error::Result;
use crate::store::keys::KeyInfo;

pub fn router() -> Routes {
    Routes::new("api-keys")
        .get("/api-keys", "List API keys (never the keys themselves)", list)
        .post("/api-keys", "Create an API key (shown once)", create)
        .delete("/api-keys/{id}", "Revoke an API key", revoke)
}

async fn list(c: Ctx, Query(page): Query<Page>) -> Result<Reply<List<KeyInfo>>> {
    Ok(Reply(keys::list(&c.vane, &c.caller, page).await?))
}

async fn create(c: Ctx, Json(new): Json<CreateKey>) -> Result<(StatusCode, Reply<NewKey>)> {
    Ok((StatusCode::CREATED, Reply(keys::create(&c.vane, &c.caller, new).await?)))
}

async fn revoke(c: Ctx, Path(id): Path<String>) -> Result<StatusCode> {
    keys::revoke(&c.vane, &c.caller, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}
