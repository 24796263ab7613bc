//! `/api/v1/applications/{application}/segments` (rules in [`crate::domain::segments`]).

use axum::Json as Reply;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};

use super::extract::{Json, Path, Query, expected};
use super::routes::Routes;
use super::state::AppState;
use crate::domain::authz::Caller;
use crate::domain::paging::{List, Page};
use crate::domain::segments::{self, SegmentBody, SegmentRow};
use crate::error::Result;

pub fn router() -> Routes {
    const ONE: &str = "/applications/{application}/segments/{segment}";
    Routes::new("segments")
        .get("/applications/{application}/segments", "List segments", list)
        .post("/applications/{application}/segments", "Create a segment", create)
        .get(ONE, "Read a segment", read)
        .put(ONE, "Update a segment", update)
        .patch(ONE, "Update a segment", update)
        .delete(ONE, "Delete a segment (refused while a flag uses it)", remove)
}

async fn list(
    State(s): State<AppState>,
    caller: Caller,
    Path(application): Path<String>,
    Query(page): Query<Page>,
) -> Result<Reply<List<SegmentRow>>> {
    Ok(Reply(segments::list(&s.vane, &caller, &application, page).await?))
}

async fn read(
    State(s): State<AppState>,
    caller: Caller,
    Path((app, seg)): Path<(String, String)>,
) -> Result<Reply<SegmentRow>> {
    Ok(Reply(segments::read(&s.vane, &caller, &app, &seg).await?))
}

async fn create(
    State(s): State<AppState>,
    caller: Caller,
    Path(application): Path<String>,
    Json(body): Json<SegmentBody>,
) -> Result<(StatusCode, Reply<SegmentRow>)> {
    Ok((StatusCode::CREATED, Reply(segments::create(&s.vane, &caller, &application, body).await?)))
}

async fn update(
    State(s): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Path((app, seg)): Path<(String, String)>,
    Json(body): Json<SegmentBody>,
) -> Result<Reply<SegmentRow>> {
    let expected = expected(&headers, body.version)?;
    Ok(Reply(segments::update(&s.vane, &caller, (&app, &seg), expected, body).await?))
}

async fn remove(
    State(s): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Path((app, seg)): Path<(String, String)>,
) -> Result<StatusCode> {
    segments::delete(&s.vane, &caller, (&app, &seg), expected(&headers, None)?).await?;
    Ok(StatusCode::NO_CONTENT)
}
