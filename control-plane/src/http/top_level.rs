//! The handlers of applications and environments, written once for any
//! [`TopLevel`] resource.

use axum::Json as Reply;
use axum::http::StatusCode;

use super::extract::{Change, IfMatch, Json, Path, Query};
use super::routes::{Resource, Routes, Update};
use crate::domain::paging::{List, Page};
use crate::domain::top_level::TopLevel;
use crate::domain::vane::Actor;
use crate::error::Result;

/// What a resource's routes say: its tag, its collection path, and a summary of each operation
/// (list, create, read, update, delete).
#[derive(Debug)]
pub struct Described {
    pub tag: &'static str,
    pub base: &'static str,
    pub param: &'static str,
    pub summaries: [&'static str; 5],
}

/// The five routes of a resource (`PUT` and `PATCH` both update).
pub fn router<R: TopLevel>(d: Described) -> Routes {
    let one = format!("{}/{{{}}}", d.base, d.param);
    let handlers = Resource {
        list: list::<R>,
        create: create::<R>,
        read: read::<R>,
        update: Update::PutAndPatch(update::<R>),
        delete: remove::<R>,
    };
    Routes::new(d.tag).resource((d.base, &one), d.summaries, handlers)
}

async fn list<R: TopLevel>(actor: Actor, Query(page): Query<Page>) -> Result<Reply<List<R>>> {
    Ok(Reply(R::list(&actor, page).await?))
}

async fn read<R: TopLevel>(actor: Actor, Path(name): Path<String>) -> Result<Reply<R>> {
    Ok(Reply(R::read(&actor, &name).await?))
}

async fn create<R: TopLevel>(actor: Actor, Json(new): Json<R::New>) -> Result<(StatusCode, Reply<R>)> {
    Ok((StatusCode::CREATED, Reply(R::create(&actor, new).await?)))
}

async fn update<R: TopLevel>(
    actor: Actor,
    Path(name): Path<String>,
    Change(expected, change): Change<R::Change>,
) -> Result<Reply<R>> {
    Ok(Reply(R::update(&actor, &name, expected, change).await?))
}

async fn remove<R: TopLevel>(actor: Actor, IfMatch(expected): IfMatch, Path(name): Path<String>) -> Result<StatusCode> {
    R::delete(&actor, &name, expected).await?;
    Ok(StatusCode::NO_CONTENT)
}
