//! API-key authentication and the one authorisation decision ([`Caller::authorize`]).
//!
//! Only a key's SHA-256 is stored. A key has one scope (`admin` writes and reads everything,
//! `read` reads, `edge` fetches server snapshots, `client` fetches client snapshots) and may be
//! bound to one application and/or environment. A request is described by its [`Action`] (what
//! the scope must allow) and its [`Reach`] (which applications × environments it reads or
//! changes, which the binding must contain).
//!
//! Operations never look up an application or environment a request names and then decide on
//! their own whether the key may use it: they call one of the resolvers at the end of this
//! module, which check the key's scope first (so a key without it learns nothing, not even
//! whether the name exists), then resolve the names (404), then ask [`Caller::authorize`] with
//! the reach the resource implies:
//!
//! | resource | read | write |
//! |---|---|---|
//! | an application's record and definitions (flags, segments, imports) | that application | that application in every environment |
//! | an environment's record | that environment | its settings: every application in it |
//! | one application in one environment (flag states, configs, snapshots) | that stream | that stream |
//! | keys, the registry, creating or deleting applications and environments, the audit log | everything | everything |

use sqlx::PgConnection;
use vane_core::{Audience, KeyScope};

use crate::error::{Error, Result};
use crate::store::applications::{self, Application};
use crate::store::environments::{self, Environment};
use crate::store::keys::scope_str;

/// The authenticated caller of a request: what its key grants (its id, scope and binding).
pub type Caller = crate::store::keys::Grant;

/// What a request wants to do, as far as a key's scope is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Read admin resources: admin or read keys.
    Read,
    /// Change anything: admin keys.
    Write,
    /// Evaluate flags on the control plane (the original service's evaluate route): admin, read
    /// or edge keys.
    Evaluate,
    /// Fetch a snapshot of this audience: server snapshots admin or edge keys, client snapshots
    /// admin, edge or client keys.
    Fetch(Audience),
    /// Read the API's own description: any valid key.
    Describe,
}

/// The applications, or the environments, that a request reads or changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Span<'a> {
    /// None in particular (an environment's record involves no application).
    Neither,
    /// The one with this id.
    One(&'a str),
    /// Every one, including those created later.
    All,
}

/// What a request reads or changes, as a key's binding sees it: a box of applications ×
/// environments. A key bound to application `A` may only reach `A` (or no application in
/// particular); a key bound to environment `E` may only reach `E` (or none in particular).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reach<'a> {
    pub applications: Span<'a>,
    pub environments: Span<'a>,
}

impl<'a> Reach<'a> {
    /// API keys, the service registry (published to every server snapshot), creating or deleting
    /// applications and environments, the whole audit log.
    pub const EVERYTHING: Reach<'static> = Reach { applications: Span::All, environments: Span::All };
    /// Nothing in particular: lists (filtered to the key's binding with [`Caller::sees`]), the
    /// registry's readings, the API description.
    pub const NOTHING: Reach<'static> = Reach { applications: Span::Neither, environments: Span::Neither };

    /// One application in one environment: a flag's state, configs, snapshots, evaluation.
    pub fn stream(application_id: &'a str, environment_id: &'a str) -> Self {
        Reach { applications: Span::One(application_id), environments: Span::One(environment_id) }
    }

    /// Changing an application's own record or its definitions (flags, segments, imports):
    /// they are shared by every environment, so the change reaches all of them.
    pub fn definitions(application_id: &'a str) -> Self {
        Reach { applications: Span::One(application_id), environments: Span::All }
    }

    /// Reading an application's record and shared definitions (no environment's state).
    pub fn application(application_id: &'a str) -> Self {
        Reach { applications: Span::One(application_id), environments: Span::Neither }
    }

    /// Changing an environment's settings: they apply to every application's snapshots in it.
    pub fn environment_settings(environment_id: &'a str) -> Self {
        Reach { applications: Span::All, environments: Span::One(environment_id) }
    }

    /// Reading an environment's record.
    pub fn environment(environment_id: &'a str) -> Self {
        Reach { applications: Span::Neither, environments: Span::One(environment_id) }
    }
}

impl Caller {
    /// Whether this key's scope allows `action` at all (before anything is looked up).
    pub fn permits(&self, action: Action) -> Result<()> {
        let allowed = match action {
            Action::Read => matches!(self.scope, KeyScope::Admin | KeyScope::Read),
            Action::Write => self.scope == KeyScope::Admin,
            Action::Evaluate => matches!(self.scope, KeyScope::Admin | KeyScope::Read | KeyScope::Edge),
            Action::Fetch(Audience::Server) => matches!(self.scope, KeyScope::Admin | KeyScope::Edge),
            Action::Fetch(Audience::Client) => {
                matches!(self.scope, KeyScope::Admin | KeyScope::Edge | KeyScope::Client)
            }
            Action::Describe => true,
        };
        if allowed {
            return Ok(());
        }
        let scope = scope_str(self.scope);
        Err(Error::Forbidden(match action {
            Action::Read => format!("this needs a read or admin key; this key's scope is {scope}"),
            Action::Write => format!("this needs an admin key; this key's scope is {scope}"),
            Action::Evaluate => format!("evaluating needs an admin, read or edge key; this key's scope is {scope}"),
            Action::Fetch(Audience::Server) => format!("a {scope} key cannot fetch server snapshots"),
            Action::Fetch(Audience::Client) => format!("a {scope} key cannot fetch client snapshots"),
            Action::Describe => format!("a {scope} key cannot read this"),
        }))
    }

    /// The one authorisation decision: `action` (the key's scope) on `reach` (its binding).
    /// Every route, the original service's routes, imports and the group-commit batcher come
    /// through here; the model is in ARCHITECTURE.md ("Auth").
    pub fn authorize(&self, action: Action, reach: Reach<'_>) -> Result<()> {
        self.permits(action)?;
        within(
            self.application_id.as_deref(),
            reach.applications,
            "this key is bound to another application",
            "this reaches every application; it needs a key that is not bound to an application",
        )?;
        within(
            self.environment_id.as_deref(),
            reach.environments,
            "this key is bound to another environment",
            "this changes every environment (an application, its flags' definitions and its segments are shared \
             by all environments); it needs a key that is not bound to an environment",
        )
    }

    /// Whether this key may read `application` × `environment` (a flag's state there, a config):
    /// what lists and views that span environments are filtered by.
    pub fn sees(&self, application_id: &str, environment_id: &str) -> bool {
        self.authorize(Action::Read, Reach::stream(application_id, environment_id)).is_ok()
    }

    /// The application this key is bound to: [`Caller::sees`] as a SQL filter for list queries
    /// (`$n::text IS NULL OR application_id = $n`).
    pub fn bound_application(&self) -> Option<&str> {
        self.application_id.as_deref()
    }

    /// The environment this key is bound to, likewise.
    pub fn bound_environment(&self) -> Option<&str> {
        self.environment_id.as_deref()
    }
}

/// Whether a key bound to `bound` (if at all) may reach `span` of the same kind; the refusal
/// says which way it does not.
fn within(bound: Option<&str>, span: Span<'_>, elsewhere: &str, everywhere: &str) -> Result<()> {
    match (bound, span) {
        (None, _) | (Some(_), Span::Neither) => Ok(()),
        (Some(b), Span::One(id)) if b == id => Ok(()),
        (Some(_), Span::One(_)) => Err(Error::Forbidden(elsewhere.into())),
        (Some(_), Span::All) => Err(Error::Forbidden(everywhere.into())),
    }
}

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
