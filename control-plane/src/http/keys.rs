//! `/api/v1/api-keys` (rules in [`crate::domain::keys`]).

use axum::Json as Reply;
use axum::extract::State;
use axum::http::StatusCode;

use super::extract::{Json, Path, Query};
use super::routes::Routes;
use super::state::AppState;
use crate::domain::authz::Caller;
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

async fn list(State(s): State<AppState>, caller: Caller, Query(page): Query<Page>) -> Result<Reply<List<KeyInfo>>> {
    Ok(Reply(keys::list(&s.vane, &caller, page).await?))
}

async fn create(
    State(s): State<AppState>,
    caller: Caller,
    Json(body): Json<CreateKey>,
) -> Result<(StatusCode, Reply<NewKey>)> {
    Ok((StatusCode::CREATED, Reply(keys::create(&s.vane, &caller, body).await?)))
}

async fn revoke(State(s): State<AppState>, caller: Caller, Path(id): Path<String>) -> Result<StatusCode> {
    keys::revoke(&s.vane, &caller, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}
