//! `/api/v1/environments` (rules in [`crate::domain::environments`]).

use axum::Json as Reply;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};

use super::extract::{Json, Path, Query, expected};
use super::routes::Routes;
use super::state::AppState;
use crate::domain::authz::Caller;
use crate::domain::environments::{self, Environment, EnvironmentChange, NewEnvironment};
use crate::domain::paging::{List, Page};
use crate::error::Result;

pub fn router() -> Routes {
    Routes::new("environments")
        .get("/environments", "List environments", list)
        .post("/environments", "Create an environment", create)
        .get("/environments/{environment}", "Read an environment", read)
        .put("/environments/{environment}", "Update an environment (staleness settings)", update)
        .patch("/environments/{environment}", "Update an environment (staleness settings)", update)
        .delete("/environments/{environment}", "Delete an environment", remove)
}

async fn list(State(s): State<AppState>, caller: Caller, Query(page): Query<Page>) -> Result<Reply<List<Environment>>> {
    Ok(Reply(environments::list(&s.vane, &caller, page).await?))
}

async fn read(State(s): State<AppState>, caller: Caller, Path(id): Path<String>) -> Result<Reply<Environment>> {
    Ok(Reply(environments::read(&s.vane, &caller, &id).await?))
}

async fn create(
    State(s): State<AppState>,
    caller: Caller,
    Json(body): Json<NewEnvironment>,
) -> Result<(StatusCode, Reply<Environment>)> {
    Ok((StatusCode::CREATED, Reply(environments::create(&s.vane, &caller, body).await?)))
}

async fn update(
    State(s): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Path(id): Path<String>,
    Json(body): Json<EnvironmentChange>,
) -> Result<Reply<Environment>> {
    let expected = expected(&headers, body.version)?;
    Ok(Reply(environments::update(&s.vane, &caller, &id, expected, body).await?))
}

async fn remove(
    State(s): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<StatusCode> {
    environments::delete(&s.vane, &caller, &id, expected(&headers, None)?).await?;
    Ok(StatusCode::NO_CONTENT)
}
