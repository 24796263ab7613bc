//! `/api/v1/api-keys` (rules in [`crate::domain::keys`]).

use axum::Json as Reply;
use axum::http::StatusCode;

use super::extract::{Json, Path, Query};
use super::routes::Routes;
use crate::domain::keys::{self, CreateKey, NewKey};
use crate::domain::paging::{List, Page};
use crate::domain::vane::Actor;
use crate::error::Result;
use crate::store::keys::KeyInfo;

pub fn router() -> Routes {
    Routes::new("api-keys")
        .get("/api-keys", "List API keys (never the keys themselves)", list)
        .post("/api-keys", "Create an API key (shown once)", create)
        .delete("/api-keys/{id}", "Revoke an API key", revoke)
}

async fn list(actor: Actor, Query(page): Query<Page>) -> Result<Reply<List<KeyInfo>>> {
    Ok(Reply(keys::list(&actor, page).await?))
}

async fn create(actor: Actor, Json(new): Json<CreateKey>) -> Result<(StatusCode, Reply<NewKey>)> {
    Ok((StatusCode::CREATED, Reply(keys::create(&actor, new).await?)))
}

async fn revoke(actor: Actor, Path(id): Path<String>) -> Result<StatusCode> {
    keys::revoke(&actor, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}
