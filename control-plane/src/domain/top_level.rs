//! Applications and environments: named by key (or id) at the top level, created and deleted
//! by keys bound to nothing, read and changed within a key's binding — the same five operations,
//! so `crate::http` serves both with one set of handlers. Each says only what differs; listing
//! and reading are written once, here.

use std::future::Future;

use serde::Serialize;
use serde::de::DeserializeOwned;
use sqlx::PgConnection;

use super::authz::{self, Action, Caller};
use super::paging::{List, Page};
use super::vane::Vane;
use super::versions::{Expected, Versioned};
use crate::error::Result;

pub trait TopLevel: Serialize + Send + Sized + 'static {
    /// What creating one takes.
    type New: DeserializeOwned + Send;
    /// What changing one takes.
    type Change: DeserializeOwned + Versioned + Send;

    /// The one named `name`, for `action` on it (see [`authz`]).
    fn resolve(
        conn: &mut PgConnection,
        caller: &Caller,
        action: Action,
        name: &str,
    ) -> impl Future<Output = Result<Self>> + Send;
    /// The one a key is bound to, if it is.
    fn bound(caller: &Caller) -> Option<&str>;
    /// A page of them by key (`only` that one when given), and how many there are.
    fn rows(
        conn: &mut PgConnection,
        only: Option<&str>,
        limit: i64,
        offset: i64,
    ) -> impl Future<Output = Result<(Vec<Self>, i64)>> + Send;

    fn create(vane: &Vane, caller: &Caller, new: Self::New) -> impl Future<Output = Result<Self>> + Send;
    fn update(
        vane: &Vane,
        caller: &Caller,
        name: &str,
        expected: Expected,
        change: Self::Change,
    ) -> impl Future<Output = Result<Self>> + Send;
    fn delete(vane: &Vane, caller: &Caller, name: &str, expected: Expected) -> impl Future<Output = Result<()>> + Send;

    /// Those the caller may see (a key bound to one sees that one).
    fn list(vane: &Vane, caller: &Caller, page: Page) -> impl Future<Output = Result<List<Self>>> + Send {
        async move {
            authz::listing(caller, Action::Read)?;
            let page = page.resolve()?;
            let mut conn = vane.pool.acquire().await?;
            Ok(List::of(Self::rows(&mut conn, Self::bound(caller), page.0, page.1).await?, page))
        }
    }

    fn read(vane: &Vane, caller: &Caller, name: &str) -> impl Future<Output = Result<Self>> + Send {
        async move { Self::resolve(&mut *vane.pool.acquire().await?, caller, Action::Read, name).await }
    }
}
