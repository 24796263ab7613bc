//! Applications and environments: named by key (or id) at the top level, created and deleted
//! by keys bound to nothing, read and changed within a key's binding. Each says only what
//! differs (its rows, its checks, what else a write publishes); their [`Collection`]
//! operations — listing, reading, the versioned update and the audited delete — are written
//! once, here.

use std::future::Future;

use serde::de::DeserializeOwned;
use sqlx::PgConnection;

use super::audit::{self, Audited};
use super::authz::{self, Action, Caller};
use super::collection::Collection;
use super::names::{check_text, is_slug, slugify};
use super::paging::{List, Page};
use super::vane::{Actor, Touched};
use super::versions::{Change, Expected, Versioned};
use crate::error::{Error, FieldError, Result};
use crate::publish;
use crate::store::Paged;

pub trait TopLevel: Audited + Send + Sync + Sized + 'static {
    /// What creating one takes.
    type New: DeserializeOwned + Send;
    /// What changing one takes.
    type Change: DeserializeOwned + Versioned + Send + Sync;

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
    fn rows(conn: &mut PgConnection, only: Option<&str>, page: (i64, i64)) -> impl Future<Output = Paged<Self>> + Send;
    /// The row by id or key, locked until the transaction ends.
    fn lock(conn: &mut PgConnection, id_or_key: &str) -> impl Future<Output = Result<Self>> + Send;
    /// Writes `change` to the row `id` (moving its version on).
    fn write(conn: &mut PgConnection, id: &str, change: &Self::Change) -> impl Future<Output = Result<Self>> + Send;
    /// Deletes the row `id`, announcing its streams' end first.
    fn remove(conn: &mut PgConnection, id: &str) -> impl Future<Output = Result<()>> + Send;

    /// What is wrong with `change`, field by field.
    fn check(change: &Self::Change) -> Vec<FieldError>;
    /// Why this one cannot be deleted, if it cannot.
    fn undeletable(&self) -> Option<Error>;
    /// What else a change publishes (after `write`, in its transaction).
    fn publish_change(
        _conn: &mut PgConnection,
        _before: &Self,
        _after: &Self,
    ) -> impl Future<Output = Result<()>> + Send {
        async { Ok(()) }
    }

    /// What a new key must look like, as the refusal says it.
    const KEY_RULE: &'static str;
    /// A new one's key (absent: derived from the name) and name.
    fn naming(new: &Self::New) -> (Option<&str>, &str);
    /// What is wrong with a new one besides its key and name.
    fn check_new(new: &Self::New, problems: &mut Vec<FieldError>);
    /// Inserts a new one (checked) in the caller's transaction, publishes and audits it.
    fn insert(
        conn: &mut PgConnection,
        caller: &Caller,
        key: &str,
        new: &Self::New,
    ) -> impl Future<Output = Result<Self>> + Send;
}

/// Applications and environments are collections at the top level.
impl<T: TopLevel> Collection for T {
    type Scope = ();
    type Item = T;
    type Filter = Page;
    type New = T::New;
    type Change = T::Change;

    /// Those the caller may see (a key bound to one sees that one).
    async fn list(actor: &Actor, _: &(), page: Page) -> Result<List<T>> {
        let Actor { vane, caller } = actor;
        authz::listing(caller, Action::Read)?;
        let page = page.resolve()?;
        let mut conn = vane.pool.acquire().await?;
        Ok(List::of(T::rows(&mut conn, T::bound(caller), page).await?, page))
    }

    /// Creates one: keys bound to nothing only.
    async fn create(actor: &Actor, _: &(), new: T::New) -> Result<T> {
        let Actor { vane, caller } = actor;
        authz::everything(caller, Action::Write)?;
        let (key, name) = T::naming(&new);
        let key = key.map_or_else(|| slugify(name), str::to_owned);
        let mut problems = Vec::new();
        if !is_slug(&key) {
            problems.push(FieldError::new("key", T::KEY_RULE));
        }
        check_text(&mut problems, "name", name, 1, 256);
        T::check_new(&new, &mut problems);
        if !problems.is_empty() {
            return Err(Error::Unprocessable(problems));
        }
        let mut tx = vane.begin().await?;
        let created = T::insert(&mut tx, caller, &key, &new).await?;
        vane.commit(tx, Touched::Streams).await?;
        Ok(created)
    }

    async fn read(actor: &Actor, _: &(), name: &str) -> Result<T> {
        let Actor { vane, caller } = actor;
        T::resolve(&mut *vane.pool.acquire().await?, caller, Action::Read, name).await
    }

    /// Checks the change, then — in one transaction — locks the row, checks the version the
    /// caller expects, writes, publishes what it affects and audits.
    async fn update(actor: &Actor, _: &(), name: &str, Change(expected, change): Change<T::Change>) -> Result<T> {
        let Actor { vane, caller } = actor;
        let problems = T::check(&change);
        if !problems.is_empty() {
            return Err(Error::Unprocessable(problems));
        }
        let mut tx = vane.begin().await?;
        let found = T::resolve(&mut tx, caller, Action::Write, name).await?;
        let before = T::lock(&mut tx, found.audit_id()).await?;
        expected.check(before.audit_version().unwrap_or_default())?;
        let after = T::write(&mut tx, before.audit_id(), &change).await?;
        T::publish_change(&mut tx, &before, &after).await?;
        audit::change(&mut tx, caller, "update", Some(&before), Some(&after)).await?;
        vane.commit(tx, Touched::Streams).await?;
        Ok(after)
    }

    /// Deletes one with everything in it (keys bound to it included): keys bound to nothing only.
    async fn delete(actor: &Actor, _: &(), name: &str, expected: Expected) -> Result<()> {
        let Actor { vane, caller } = actor;
        authz::everything(caller, Action::Write)?;
        let mut tx = vane.begin().await?;
        let before = T::lock(&mut tx, name).await?;
        if let Some(refused) = before.undeletable() {
            return Err(refused);
        }
        expected.check(before.audit_version().unwrap_or_default())?;
        T::remove(&mut tx, before.audit_id()).await?;
        // Keys bound to it go with it.
        publish::announce_keys(&mut tx).await?;
        audit::change(&mut tx, caller, "delete", Some(&before), None).await?;
        vane.commit(tx, Touched::KeysAndStreams).await
    }
}
