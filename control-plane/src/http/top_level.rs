//! The handlers of applications and environments, written once for any
//! [`TopLevel`] resource.

use axum::Json as Reply;
use axum::http::StatusCode;

use super::extract::{Change, Ctx, IfMatch, Json, Path, Query};
use super::routes::Routes;
use crate::domain::paging::{List, Page};
use crate::domain::top_level::TopLevel;
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
    let [list_s, create_s, read_s, update_s, delete_s] = d.summaries;
    Routes::new(d.tag)
        .get(d.base, list_s, list::<R>)
        .post(d.base, create_s, create::<R>)
        .get(&one, read_s, read::<R>)
        .put(&one, update_s, update::<R>)
        .patch(&one, update_s, update::<R>)
        .delete(&one, delete_s, remove::<R>)
}

async fn list<R: TopLevel>(c: Ctx, Query(page): Query<Page>) -> Result<Reply<List<R>>> {
    Ok(Reply(R::list(&c.vane, &c.caller, page).await?))
}

async fn read<R: TopLevel>(c: Ctx, Path(name): Path<String>) -> Result<Reply<R>> {
    Ok(Reply(R::read(&c.vane, &c.caller, &name).await?))
}

async fn create<R: TopLevel>(c: Ctx, Json(new): Json<R::New>) -> Result<(StatusCode, Reply<R>)> {
    Ok((StatusCode::CREATED, Reply(R::create(&c.vane, &c.caller, new).await?)))
}

async fn update<R: TopLevel>(
    c: Ctx,
    Path(name): Path<String>,
    Change(expected, change): Change<R::Change>,
) -> Result<Reply<R>> {
    Ok(Reply(R::update(&c.vane, &c.caller, &name, expected, change).await?))
}

async fn remove<R: TopLevel>(c: Ctx, IfMatch(expected): IfMatch, Path(name): Path<String>) -> Result<StatusCode> {
    R::delete(&c.vane, &c.caller, &name, expected).await?;
    Ok(StatusCode::NO_CONTENT)
}
