//! `/api/v1/applications/{application}/segments` (rules in [`crate::domain::segments`]).

use axum::Json as Reply;
use axum::http::StatusCode;

use super::extract::{Change, IfMatch, Json, Path, Query};
use super::routes::{Resource, Routes, Update};
use crate::domain::paging::{List, Page};
use crate::domain::segments::{self, SegmentBody, SegmentRow};
use crate::domain::vane::Actor;
use crate::error::Result;

pub fn router() -> Routes {
    const ONE: &str = "/applications/{application}/segments/{segment}";
    const BASE: &str = "/applications/{application}/segments";
    let summaries = [
        "List segments",
        "Create a segment",
        "Read a segment",
        "Update a segment",
        "Delete a segment (refused while a flag uses it)",
    ];
    let update = Update::PutAndPatch(update);
    Routes::new("segments").resource((BASE, ONE), summaries, Resource { list, create, read, update, delete: remove })
}

/// `{application}/segments/{segment}`.
type One = Path<(String, String)>;

async fn list(actor: Actor, Path(app): Path<String>, Query(page): Query<Page>) -> Result<Reply<List<SegmentRow>>> {
    Ok(Reply(segments::list(&actor, &app, page).await?))
}

async fn read(actor: Actor, Path((app, segment)): One) -> Result<Reply<SegmentRow>> {
    Ok(Reply(segments::read(&actor, (&app, &segment)).await?))
}

async fn create(
    actor: Actor,
    Path(app): Path<String>,
    Json(body): Json<SegmentBody>,
) -> Result<(StatusCode, Reply<SegmentRow>)> {
    Ok((StatusCode::CREATED, Reply(segments::create(&actor, &app, body).await?)))
}

async fn update(
    actor: Actor,
    Path((app, segment)): One,
    Change(expected, body): Change<SegmentBody>,
) -> Result<Reply<SegmentRow>> {
    Ok(Reply(segments::update(&actor, (&app, &segment), expected, body).await?))
}

async fn remove(actor: Actor, IfMatch(expected): IfMatch, Path((app, segment)): One) -> Result<StatusCode> {
    segments::delete(&actor, (&app, &segment), expected).await?;
    Ok(StatusCode::NO_CONTENT)
}
