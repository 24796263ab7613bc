//! Environments: deployment stages with the staleness settings the edge obeys. Changing
//! `max_staleness_s` or `stale_policy` republishes the environment's snapshots; `development`,
//! `staging` and `production` always exist.

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
use crate::store::environments as rows;
pub use crate::store::environments::Environment;

audited!(Environment, "environment");
versioned!(EnvironmentChange);

/// Environments that always exist.
pub const BUILT_IN: [&str; 3] = ["development", "staging", "production"];

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"key": "canary", "name": "Canary", "max_staleness_s": 300, "stale_policy": "serve_stale"}))]
pub struct NewEnvironment {
    pub key: Option<String>,
    pub name: String,
    #[serde(default)]
    pub max_staleness_s: i64,
    #[serde(default = "serve_stale")]
    pub stale_policy: String,
}

fn serve_stale() -> String {
    "serve_stale".into()
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"max_staleness_s": 600, "stale_policy": "fail_closed"}))]
pub struct EnvironmentChange {
    pub name: Option<String>,
    pub max_staleness_s: Option<i64>,
    pub stale_policy: Option<String>,
    pub version: Option<i64>,
}

fn check_settings(problems: &mut Vec<FieldError>, max_staleness_s: Option<i64>, stale_policy: Option<&str>) {
    if max_staleness_s.is_some_and(|s| s < 0) {
        problems.push(FieldError::new("max_staleness_s", "must not be negative (0 means no limit)"));
    }
    if stale_policy.is_some_and(|p| p != "serve_stale" && p != "fail_closed") {
        problems.push(FieldError::new("stale_policy", "must be \"serve_stale\" or \"fail_closed\""));
    }
}

impl TopLevel for Environment {
    type New = NewEnvironment;
    type Change = EnvironmentChange;

    async fn resolve(conn: &mut PgConnection, caller: &Caller, action: Action, name: &str) -> Result<Self> {
        authz::environment(conn, caller, action, name).await
    }

    fn bound(caller: &Caller) -> Option<&str> {
        caller.bound_environment()
    }

    async fn rows(conn: &mut PgConnection, only: Option<&str>, page: (i64, i64)) -> Paged<Self> {
        rows::list(conn, only, page).await
    }

    const KEY_RULE: &'static str = "must match [a-z0-9][a-z0-9._-]{0,99}";

    fn naming(new: &NewEnvironment) -> (Option<&str>, &str) {
        (new.key.as_deref(), &new.name)
    }

    fn check_new(new: &NewEnvironment, problems: &mut Vec<FieldError>) {
        check_settings(problems, Some(new.max_staleness_s), Some(&new.stale_policy));
    }

    /// Every flag gets a (disabled) state in the new environment, as at the flag's creation.
    async fn insert(conn: &mut PgConnection, caller: &Caller, key: &str, new: &NewEnvironment) -> Result<Self> {
        let env = rows::insert(&mut *conn, key, &new.name, new.max_staleness_s, &new.stale_policy).await?;
        publish::publish_environment(&mut *conn, &env.id).await?;
        audit::change(&mut *conn, caller, "create", None, Some(&env)).await?;
        Ok(env)
    }

    async fn lock(conn: &mut PgConnection, id_or_key: &str) -> Result<Self> {
        rows::lock(conn, id_or_key).await
    }

    async fn write(conn: &mut PgConnection, id: &str, change: &EnvironmentChange) -> Result<Self> {
        let (name, policy) = (change.name.as_deref(), change.stale_policy.as_deref());
        rows::update(conn, id, name, change.max_staleness_s, policy).await
    }

    async fn remove(conn: &mut PgConnection, id: &str) -> Result<()> {
        publish::announce_deleted(conn, None, Some(id)).await?;
        rows::delete(conn, id).await
    }

    fn check(change: &EnvironmentChange) -> Vec<FieldError> {
        let mut problems = Vec::new();
        if let Some(name) = &change.name {
            check_text(&mut problems, "name", name, 1, 256);
        }
        check_settings(&mut problems, change.max_staleness_s, change.stale_policy.as_deref());
        problems
    }

    fn undeletable(&self) -> Option<Error> {
        BUILT_IN
            .contains(&self.key.as_str())
            .then(|| Error::Conflict(format!("the built-in environment '{}' cannot be deleted", self.key)))
    }

    /// New staleness settings republish the environment's snapshots.
    async fn publish_change(conn: &mut PgConnection, before: &Self, after: &Self) -> Result<()> {
        if after.max_staleness_s != before.max_staleness_s || after.stale_policy != before.stale_policy {
            publish::publish_environment(conn, &after.id).await?;
        }
        Ok(())
    }
}
