//! The handlers of every [`Collection`] — applications, environments, flags, segments,
//! configs — written once: parse, call the domain, reply.

use axum::Json as Reply;
use axum::extract::FromRequestParts;
use axum::http::StatusCode;
use axum::http::request::Parts;

use utoipa::{IntoParams, ToSchema};

use super::doc::Part;
use super::extract::{IfMatch, Json, Path, Query, Rollback};
use super::routes::{Resource, Routes, Update};
use crate::domain::collection::{Collection, Scope, Versions};
use crate::domain::paging::{List, Page};
use crate::domain::vane::Actor;
use crate::domain::versions::Change;
use crate::error::{Error, Result};

/// What a collection's routes say: its tag, its path, the name of one item's path parameter,
/// and a summary of each operation (list, create, read, update, delete).
#[derive(Debug)]
pub struct Described {
    pub tag: &'static str,
    pub base: &'static str,
    pub param: &'static str,
    pub summaries: [&'static str; 5],
}

/// The five routes of a collection (`PUT` and `PATCH` both update).
pub fn router<R: Collection>(d: Described) -> Routes
where
    R::Item: ToSchema,
    R::New: ToSchema,
    R::Change: ToSchema,
    R::Filter: IntoParams,
{
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

/// `{one}/history` and `{one}/rollback` of a resource that keeps its versions; `summaries` says
/// what each does.
pub fn versions<R: Versions>(tag: &'static str, one: &str, [history_is, rollback_is]: [&'static str; 2]) -> Routes
where
    R::Item: ToSchema,
    R::Version: ToSchema,
{
    Routes::new(tag).get(&format!("{one}/history"), history_is, history::<R>).post(
        &format!("{one}/rollback"),
        rollback_is,
        rollback::<R>,
    )
}

/// The path parameters of a route, in order.
async fn names(parts: &mut Parts) -> Result<Vec<String>> {
    let Path(names) = Path::<Vec<String>>::from_request_parts(parts, &()).await?;
    Ok(names)
}

fn scope<S: Scope>(names: Vec<String>) -> Result<S> {
    S::from_names(names).ok_or_else(|| Error::Internal("a collection is routed with the wrong path parameters".into()))
}

/// The scope a collection's path names.
struct Within<S>(S);

impl<St: Send + Sync, S: Scope> FromRequestParts<St> for Within<S> {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, _: &St) -> Result<Self> {
        Ok(Within(scope(names(parts).await?)?))
    }
}

/// Path parameters are read from the route's template.
impl<S> Part for Within<S> {}
impl<S> Part for Named<S> {}

/// The scope and the name of one item, as its path names them.
struct Named<S>(S, String);

impl<St: Send + Sync, S: Scope> FromRequestParts<St> for Named<S> {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, _: &St) -> Result<Self> {
        let mut names = names(parts).await?;
        let name = names.pop().ok_or_else(|| Error::Internal("an item is routed without its name".into()))?;
        Ok(Named(scope(names)?, name))
    }
}

async fn list<R: Collection>(
    actor: Actor,
    Within(scope): Within<R::Scope>,
    Query(filter): Query<R::Filter>,
) -> Result<Reply<List<R::Item>>> {
    Ok(Reply(R::list(&actor, &scope, filter).await?))
}

async fn read<R: Collection>(actor: Actor, Named(scope, name): Named<R::Scope>) -> Result<Reply<R::Item>> {
    Ok(Reply(R::read(&actor, &scope, &name).await?))
}

async fn create<R: Collection>(
    actor: Actor,
    Within(scope): Within<R::Scope>,
    Json(new): Json<R::New>,
) -> Result<(StatusCode, Reply<R::Item>)> {
    Ok((StatusCode::CREATED, Reply(R::create(&actor, &scope, new).await?)))
}

async fn update<R: Collection>(
    actor: Actor,
    Named(scope, name): Named<R::Scope>,
    change: Change<R::Change>,
) -> Result<Reply<R::Item>> {
    Ok(Reply(R::update(&actor, &scope, &name, change).await?))
}

async fn remove<R: Collection>(
    actor: Actor,
    IfMatch(expected): IfMatch,
    Named(scope, name): Named<R::Scope>,
) -> Result<StatusCode> {
    R::delete(&actor, &scope, &name, expected).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The three names of an item that keeps its versions.
type Three = Path<(String, String, String)>;

async fn history<R: Versions>(
    actor: Actor,
    Path((a, b, c)): Three,
    Query(page): Query<Page>,
) -> Result<Reply<List<R::Version>>> {
    Ok(Reply(R::history(&actor, (&a, &b, &c), page).await?))
}

async fn rollback<R: Versions>(
    actor: Actor,
    IfMatch(expected): IfMatch,
    Path((a, b, c)): Three,
    Json(to): Json<Rollback>,
) -> Result<Reply<R::Item>> {
    Ok(Reply(R::rollback(&actor, (&a, &b, &c), expected, to.version).await?))
}
