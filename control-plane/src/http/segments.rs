//! `/api/v1/applications/{application}/segments` (rules in [`crate::domain::segments`]).

use axum::Json as Reply;
use axum::http::StatusCode;

use super::extract::{Change, Ctx, IfMatch, Json, Path, Query};
use super::routes::Routes;
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

/// `{application}/segments/{segment}`.
type One = Path<(String, String)>;

async fn list(c: Ctx, Path(app): Path<String>, Query(page): Query<Page>) -> Result<Reply<List<SegmentRow>>> {
    Ok(Reply(segments::list(&c.vane, &c.caller, &app, page).await?))
}

async fn read(c: Ctx, Path((app, segment)): One) -> Result<Reply<SegmentRow>> {
    Ok(Reply(segments::read(&c.vane, &c.caller, (&app, &segment)).await?))
}

async fn create(
    c: Ctx,
    Path(app): Path<String>,
    Json(body): Json<SegmentBody>,
) -> Result<(StatusCode, Reply<SegmentRow>)> {
    Ok((StatusCode::CREATED, Reply(segments::create(&c.vane, &c.caller, &app, body).await?)))
}

async fn update(
    c: Ctx,
    Path((app, segment)): One,
    Change(expected, body): Change<SegmentBody>,
) -> Result<Reply<SegmentRow>> {
    Ok(Reply(segments::update(&c.vane, &c.caller, (&app, &segment), expected, body).await?))
}

async fn remove(c: Ctx, IfMatch(expected): IfMatch, Path((app, segment)): One) -> Result<StatusCode> {
    segments::delete(&c.vane, &c.caller, (&app, &segment), expected).await?;
    Ok(StatusCode::NO_CONTENT)
}
