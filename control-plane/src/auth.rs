//! API-key authentication and the one authorisation decision ([`Caller::authorize`]).
//!
//! Keys travel as `Authorization: Bearer <key>` or `Authorization: ApiKey <key>`; only their
//! SHA-256 is stored. A key has one scope (`admin` writes and reads everything, `read` reads,
//! `edge` fetches server snapshots, `client` fetches client snapshots) and may be bound to one
//! application and/or environment. A request is described by its [`Action`] (what the scope must
//! allow) and its [`Reach`] (which applications × environments it reads or changes, which the
//! binding must contain); `crate::access` resolves the names a request gives and asks here.

use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use vane_core::{Audience, KeyScope, api_key_hash};

use crate::AppState;
use crate::error::{Error, Result};

/// The authenticated caller of a request.
#[derive(Debug, Clone)]
pub struct Caller {
    pub key_id: String,
    pub scope: KeyScope,
    pub application_id: Option<String>,
    pub environment_id: Option<String>,
}

#[derive(sqlx::FromRow)]
struct KeyRow {
    id: String,
    scope: String,
    application_id: Option<String>,
    environment_id: Option<String>,
}

pub fn parse_scope(s: &str) -> Option<KeyScope> {
    Some(match s {
        "admin" => KeyScope::Admin,
        "read" => KeyScope::Read,
        "edge" => KeyScope::Edge,
        "client" => KeyScope::Client,
        _ => return None,
    })
}

pub fn scope_str(s: KeyScope) -> &'static str {
    match s {
        KeyScope::Admin => "admin",
        KeyScope::Read => "read",
        KeyScope::Edge => "edge",
        KeyScope::Client => "client",
    }
}

/// The key in an `Authorization` header value, if it has one of the accepted schemes.
pub fn key_from_header(value: &str) -> Option<&str> {
    let (scheme, key) = value.trim().split_once(' ')?;
    let key = key.trim();
    (scheme.eq_ignore_ascii_case("bearer") || scheme.eq_ignore_ascii_case("apikey"))
        .then_some(key)
        .filter(|k| !k.is_empty())
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self> {
        let key = parts
            .headers
            .get(AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(key_from_header)
            .ok_or(Error::Unauthorized)?;
        let hash = api_key_hash(key);
        if let Some(caller) = state.memo.key(&hash) {
            return Ok(caller);
        }
        let epoch = state.memo.key_epoch();
        let row: Option<KeyRow> = sqlx::query_as(
            "SELECT id, scope, application_id, environment_id FROM api_keys WHERE hash = $1 AND revoked_at IS NULL",
        )
        .bind(&hash)
        .fetch_optional(&state.pool)
        .await?;
        let row = row.ok_or(Error::Unauthorized)?;
        let scope = parse_scope(&row.scope).ok_or_else(|| Error::Internal(format!("bad scope {}", row.scope)))?;
        let caller =
            Caller { key_id: row.id, scope, application_id: row.application_id, environment_id: row.environment_id };
        state.memo.put_key(hash, caller.clone(), epoch);
        Ok(caller)
    }
}

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

/// A new random key: `vane_<scope>_<48 hex digits>` (192 bits of randomness).
pub fn generate_key(scope: KeyScope) -> String {
    use rand::RngCore;
    let mut bytes = [0u8; 24];
    rand::rng().fill_bytes(&mut bytes);
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!("vane_{}_{hex}", scope_str(scope))
}
