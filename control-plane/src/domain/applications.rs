//! Applications: namespaces for flags, segments and configs. Creating one publishes its first
//! snapshots in every environment; the `default` application cannot be deleted.

use serde::Deserialize;
use sqlx::PgConnection;

use super::audit::{self, audited};
use super::authz::{self, Action, Caller};
use super::names::check_text;
use super::top_level::TopLevel;

use super::versions::versioned;
use crate::error::{Error, FieldError, Result};
use crate::publish;
use crate::store::Paged;
use crate::store::applications as rows;
pub use crate::store::applications::Application;

audited!(Application, "application");
versioned!(ApplicationChange);

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"key": "checkout", "name": "Checkout", "comments": "The checkout service and its web front end"}))]
pub struct NewApplication {
    /// Derived from the name when absent.
    pub key: Option<String>,
    pub name: String,
    #[serde(default)]
    pub comments: String,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"name": "Checkout (EU)"}))]
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

    async fn rows(conn: &mut PgConnection, only: Option<&str>, page: (i64, i64)) -> Paged<Self> {
        rows::list(conn, only, page).await
    }

    const KEY_RULE: &'static str = "must match [a-z0-9][a-z0-9._-]{0,99} (lowercase letters, digits, '.', '_', '-')";

    fn naming(new: &NewApplication) -> (Option<&str>, &str) {
        (new.key.as_deref(), &new.name)
    }

    fn check_new(new: &NewApplication, problems: &mut Vec<FieldError>) {
        check_text(problems, "comments", &new.comments, 0, 1024);
    }

    async fn insert(conn: &mut PgConnection, caller: &Caller, key: &str, new: &NewApplication) -> Result<Self> {
        insert(conn, caller, key, &new.name, &new.comments).await
    }

    async fn lock(conn: &mut PgConnection, id_or_key: &str) -> Result<Self> {
        rows::lock(conn, id_or_key).await
    }

    async fn write(conn: &mut PgConnection, id: &str, change: &ApplicationChange) -> Result<Self> {
        rows::update(conn, id, change.name.as_deref(), change.comments.as_deref()).await
    }

    async fn remove(conn: &mut PgConnection, id: &str) -> Result<()> {
        publish::announce_deleted(conn, Some(id), None).await?;
        rows::delete(conn, id).await
    }

    fn check(change: &ApplicationChange) -> Vec<FieldError> {
        let mut problems = Vec::new();
        if let Some(name) = &change.name {
            check_text(&mut problems, "name", name, 1, 256);
        }
        if let Some(comments) = &change.comments {
            check_text(&mut problems, "comments", comments, 0, 1024);
        }
        problems
    }

    fn undeletable(&self) -> Option<Error> {
        (self.key == "default").then(|| Error::Conflict("the default application cannot be deleted".into()))
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
