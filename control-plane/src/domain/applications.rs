//! Applications: namespaces for flags, segments and configs. Creating one publishes its first
//! snapshots in every environment; the `default` application cannot be deleted.

use serde::Deserialize;
use sqlx::PgConnection;

use super::audit::{self, audited};
use super::authz::{self, Action, Caller};
use super::names::{check_text, is_slug, slugify};
use super::top_level::TopLevel;
use super::vane::{Touched, Vane};
use super::versions::{Expected, versioned};
use crate::error::{Error, FieldError, Result};
use crate::publish;
use crate::store::applications as rows;
pub use crate::store::applications::Application;

audited!(Application, "application");
versioned!(ApplicationChange);

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewApplication {
    /// Derived from the name when absent.
    pub key: Option<String>,
    pub name: String,
    #[serde(default)]
    pub comments: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApplicationChange {
    pub name: Option<String>,
    pub comments: Option<String>,
    /// The version the change expects (409 when stale); `If-Match` does the same with 412.
    pub version: Option<i64>,
}

impl TopLevel for Application {
    type New = NewApplication;
    type Change = ApplicationChange;

    async fn resolve(conn: &mut PgConnection, caller: &Caller, action: Action, name: &str) -> Result<Self> {
        authz::application(conn, caller, action, name).await
    }

    fn bound(caller: &Caller) -> Option<&str> {
        caller.bound_application()
    }

    async fn rows(conn: &mut PgConnection, only: Option<&str>, limit: i64, offset: i64) -> Result<(Vec<Self>, i64)> {
        rows::list(conn, only, limit, offset).await
    }

    async fn create(vane: &Vane, caller: &Caller, new: NewApplication) -> Result<Self> {
        authz::everything(caller, Action::Write)?;
        let key = new.key.clone().unwrap_or_else(|| slugify(&new.name));
        let mut problems = Vec::new();
        if !is_slug(&key) {
            problems.push(FieldError::new(
                "key",
                "must match [a-z0-9][a-z0-9._-]{0,99} (lowercase letters, digits, '.', '_', '-')",
            ));
        }
        check_text(&mut problems, "name", &new.name, 1, 256);
        check_text(&mut problems, "comments", &new.comments, 0, 1024);
        if !problems.is_empty() {
            return Err(Error::Unprocessable(problems));
        }
        let mut tx = vane.begin().await?;
        let app = insert(&mut tx, caller, &key, &new.name, &new.comments).await?;
        vane.commit(tx, Touched::Streams).await?;
        Ok(app)
    }

    async fn update(
        vane: &Vane,
        caller: &Caller,
        name: &str,
        expected: Expected,
        change: ApplicationChange,
    ) -> Result<Self> {
        let mut problems = Vec::new();
        if let Some(name) = &change.name {
            check_text(&mut problems, "name", name, 1, 256);
        }
        if let Some(comments) = &change.comments {
            check_text(&mut problems, "comments", comments, 0, 1024);
        }
        if !problems.is_empty() {
            return Err(Error::Unprocessable(problems));
        }
        let mut tx = vane.begin().await?;
        let app = authz::application(&mut tx, caller, Action::Write, name).await?;
        let before = rows::lock(&mut tx, &app.id).await?;
        expected.check(before.version)?;
        let after = rows::update(&mut tx, &before.id, change.name.as_deref(), change.comments.as_deref()).await?;
        audit::change(&mut tx, caller, "update", Some(&before), Some(&after)).await?;
        vane.commit(tx, Touched::Streams).await?;
        Ok(after)
    }

    /// Deletes an application with everything in it (flags, segments, configs, keys bound to it).
    async fn delete(vane: &Vane, caller: &Caller, name: &str, expected: Expected) -> Result<()> {
        authz::everything(caller, Action::Write)?;
        let mut tx = vane.begin().await?;
        let before = rows::lock(&mut tx, name).await?;
        if before.key == "default" {
            return Err(Error::Conflict("the default application cannot be deleted".into()));
        }
        expected.check(before.version)?;
        publish::announce_deleted(&mut tx, Some(&before.id), None).await?;
        rows::delete(&mut tx, &before.id).await?;
        // Keys bound to it go with it.
        publish::announce_keys(&mut tx).await?;
        audit::change(&mut tx, caller, "delete", Some(&before), None).await?;
        vane.commit(tx, Touched::KeysAndStreams).await
    }
}

/// Creates an application (already validated and authorised) in the caller's transaction, with
/// its snapshots.
pub(crate) async fn insert(
    tx: &mut PgConnection,
    caller: &Caller,
    key: &str,
    name: &str,
    comments: &str,
) -> Result<Application> {
    let app = rows::insert(&mut *tx, key, name, comments).await?;
    publish::publish_application(&mut *tx, &app.id).await?;
    audit::change(&mut *tx, caller, "create", None, Some(&app)).await?;
    Ok(app)
}
