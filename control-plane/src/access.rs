//! Names in a request → the entities they name, authorised.
//!
//! Routes never look up an application or environment a request names and then decide on their
//! own whether the key may use it: they call one of these, which checks the key's scope first
//! (so a key without it learns nothing, not even whether the name exists), then resolves the
//! names (404), then asks [`Caller::authorize`] with the reach the resource implies:
//!
//! | resource | read | write |
//! |---|---|---|
//! | an application's record and definitions (flags, segments, imports) | that application | that application in every environment |
//! | an environment's record | that environment | its settings: every application in it |
//! | one application in one environment (flag states, configs, snapshots) | that stream | that stream |
//! | keys, the registry, creating or deleting applications and environments, the audit log | everything | everything |

use sqlx::PgConnection;

use crate::auth::{Action, Caller, Reach};
use crate::error::Result;
use crate::routes::applications::{self, Application};
use crate::routes::environments::{self, Environment};

/// The application `name` (key or id), for `action` on it as a whole: reading its record and
/// definitions, or changing them (which reaches every environment).
pub async fn application(conn: &mut PgConnection, caller: &Caller, action: Action, name: &str) -> Result<Application> {
    caller.permits(action)?;
    let app = applications::find(&mut *conn, name).await?;
    let reach = if action == Action::Write { Reach::definitions(&app.id) } else { Reach::application(&app.id) };
    caller.authorize(action, reach)?;
    Ok(app)
}

/// The environment `name`, for `action` on it: reading its record, or changing its settings
/// (which reaches every application).
pub async fn environment(conn: &mut PgConnection, caller: &Caller, action: Action, name: &str) -> Result<Environment> {
    caller.permits(action)?;
    let env = environments::find(&mut *conn, name).await?;
    let reach =
        if action == Action::Write { Reach::environment_settings(&env.id) } else { Reach::environment(&env.id) };
    caller.authorize(action, reach)?;
    Ok(env)
}

/// Application `application` in environment `environment`, for `action` there only.
pub async fn stream(
    conn: &mut PgConnection,
    caller: &Caller,
    action: Action,
    application: &str,
    environment: &str,
) -> Result<(Application, Environment)> {
    caller.permits(action)?;
    let app = applications::find(&mut *conn, application).await?;
    let env = environments::find(&mut *conn, environment).await?;
    caller.authorize(action, Reach::stream(&app.id, &env.id))?;
    Ok((app, env))
}

/// `action` on everything (keys, the registry, creating or deleting applications and
/// environments, the audit log): unbound keys only.
pub fn everything(caller: &Caller, action: Action) -> Result<()> {
    caller.authorize(action, Reach::EVERYTHING)
}

/// `action` on nothing in particular: list routes, whose rows are then filtered with
/// [`Caller::sees`] (or its SQL form, [`Caller::bound_application`]/[`Caller::bound_environment`]).
pub fn listing(caller: &Caller, action: Action) -> Result<()> {
    caller.authorize(action, Reach::NOTHING)
}
