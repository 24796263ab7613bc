//! The five operations every named resource has — list, create, read, update (versioned),
//! delete (versioned, audited) — so `crate::http` serves applications, environments, flags,
//! segments and configs with one set of handlers. A resource names where it lives
//! ([`Scope`]) and its types; its operations say the rest.

use std::future::Future;

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::paging::{List, Page};
use super::vane::Actor;
use super::versions::{Change, Expected, Versioned};
use crate::error::Result;

/// Where a collection lives: the names it is reached by, outermost first (`()` at the top,
/// an application's name, or an application's and an environment's).
pub trait Scope: Sized + Send + Sync {
    /// The scope these names give, if they are as many as it takes.
    fn from_names(names: Vec<String>) -> Option<Self>;
}

impl Scope for () {
    fn from_names(names: Vec<String>) -> Option<Self> {
        names.is_empty().then_some(())
    }
}

/// An application's name.
impl Scope for String {
    fn from_names(names: Vec<String>) -> Option<Self> {
        let [application] = <[String; 1]>::try_from(names).ok()?;
        Some(application)
    }
}

/// An application's and an environment's names.
impl Scope for (String, String) {
    fn from_names(names: Vec<String>) -> Option<Self> {
        let [application, environment] = <[String; 2]>::try_from(names).ok()?;
        Some((application, environment))
    }
}

/// A resource of named items within a [`Scope`]. Every operation authorises the caller first.
pub trait Collection: Send + Sync + 'static {
    type Scope: Scope;
    /// One item as the API shows it.
    type Item: Serialize + Send;
    /// What a list is narrowed by, with its page.
    type Filter: DeserializeOwned + Send;
    /// What creating one takes.
    type New: DeserializeOwned + Send;
    /// What changing one takes.
    type Change: DeserializeOwned + Versioned + Send;

    fn list(
        actor: &Actor,
        scope: &Self::Scope,
        filter: Self::Filter,
    ) -> impl Future<Output = Result<List<Self::Item>>> + Send;
    fn create(actor: &Actor, scope: &Self::Scope, new: Self::New) -> impl Future<Output = Result<Self::Item>> + Send;
    /// The item `name` (its key, or its id).
    fn read(actor: &Actor, scope: &Self::Scope, name: &str) -> impl Future<Output = Result<Self::Item>> + Send;
    fn update(
        actor: &Actor,
        scope: &Self::Scope,
        name: &str,
        change: Change<Self::Change>,
    ) -> impl Future<Output = Result<Self::Item>> + Send;
    fn delete(
        actor: &Actor,
        scope: &Self::Scope,
        name: &str,
        expected: Expected,
    ) -> impl Future<Output = Result<()>> + Send;
}

/// A resource that keeps every version of an item it names by three names (the application,
/// then the item and the environment in its path's order): the versions, newest first, and
/// restoring one as a new version.
pub trait Versions: Send + Sync + 'static {
    type Item: Serialize + Send;
    type Version: Serialize + Send;

    fn history(
        actor: &Actor,
        at: (&str, &str, &str),
        page: Page,
    ) -> impl Future<Output = Result<List<Self::Version>>> + Send;
    /// Restores `version` as a new version, `expected` the version it replaces.
    fn rollback(
        actor: &Actor,
        at: (&str, &str, &str),
        expected: Expected,
        version: i64,
    ) -> impl Future<Output = Result<Self::Item>> + Send;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(n: &[&str]) -> Vec<String> {
        n.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn a_scope_takes_exactly_its_names() {
        assert_eq!(<()>::from_names(names(&[])), Some(()));
        assert_eq!(<()>::from_names(names(&["shop"])), None);
        assert_eq!(String::from_names(names(&["shop"])), Some("shop".to_owned()));
        assert_eq!(String::from_names(names(&[])), None);
        assert_eq!(String::from_names(names(&["shop", "production"])), None);
        let both = <(String, String)>::from_names(names(&["shop", "production"]));
        assert_eq!(both, Some(("shop".to_owned(), "production".to_owned())));
        assert_eq!(<(String, String)>::from_names(names(&["shop"])), None);
    }
}
