//! `/api/v1/applications` (rules in [`crate::domain::applications`]).

use axum::Json as Reply;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};

use super::extract::{Json, Path, Query, expected};
use super::routes::Routes;
use super::state::AppState;
use crate::domain::applications::{self, Application, ApplicationChange, NewApplication};
use crate::domain::authz::Caller;
use crate::domain::paging::{List, Page};
use crate::error::Result;

pub fn router() -> Routes {
    Routes::new("applications")
        .get("/applications", "List applications", list)
        .post("/applications", "Create an application (key derived from the name when absent)", create)
        .get("/applications/{application}", "Read an application (by key or id)", read)
        .put("/applications/{application}", "Update an application", update)
        .patch("/applications/{application}", "Update an application", update)
        .delete("/applications/{application}", "Delete an application and everything in it", remove)
}

async fn list(State(s): State<AppState>, caller: Caller, Query(page): Query<Page>) -> Result<Reply<List<Application>>> {
    Ok(Reply(applications::list(&s.vane, &caller, page).await?))
}

async fn read(State(s): State<AppState>, caller: Caller, Path(id): Path<String>) -> Result<Reply<Application>> {
    Ok(Reply(applications::read(&s.vane, &caller, &id).await?))
}

async fn create(
    State(s): State<AppState>,
    caller: Caller,
    Json(body): Json<NewApplication>,
) -> Result<(StatusCode, Reply<Application>)> {
    Ok((StatusCode::CREATED, Reply(applications::create(&s.vane, &caller, body).await?)))
}

async fn update(
    State(s): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Path(id): Path<String>,
    Json(body): Json<ApplicationChange>,
) -> Result<Reply<Application>> {
    let expected = expected(&headers, body.version)?;
    Ok(Reply(applications::update(&s.vane, &caller, &id, expected, body).await?))
}

async fn remove(
    State(s): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<StatusCode> {
    applications::delete(&s.vane, &caller, &id, expected(&headers, None)?).await?;
    Ok(StatusCode::NO_CONTENT)
}
