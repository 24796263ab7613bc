//! API-key authentication and scope checks.
//!
//! Keys travel as `Authorization: Bearer <key>` or `Authorization: ApiKey <key>`; only their
//! SHA-256 is stored. A key has one scope (`admin` writes and reads everything, `read` reads,
//! `edge` fetches server snapshots, `client` fetches client snapshots) and may be bound to one
//! application and/or environment.

use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use vane_core::{KeyScope, api_key_hash};

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

impl Caller {
    /// Admin keys only.
    pub fn require_write(&self) -> Result<()> {
        match self.scope {
            KeyScope::Admin => Ok(()),
            other => {
                Err(Error::Forbidden(format!("this needs an admin key; this key's scope is {}", scope_str(other))))
            }
        }
    }

    /// Admin or read keys.
    pub fn require_read(&self) -> Result<()> {
        match self.scope {
            KeyScope::Admin | KeyScope::Read => Ok(()),
            other => Err(Error::Forbidden(format!(
                "this needs a read or admin key; this key's scope is {}",
                scope_str(other)
            ))),
        }
    }

    /// A key bound to an application or environment may only touch that one.
    pub fn require_binding(&self, application_id: Option<&str>, environment_id: Option<&str>) -> Result<()> {
        if let (Some(bound), Some(wanted)) = (&self.application_id, application_id)
            && bound != wanted
        {
            return Err(Error::Forbidden("this key is bound to another application".into()));
        }
        if let (Some(bound), Some(wanted)) = (&self.environment_id, environment_id)
            && bound != wanted
        {
            return Err(Error::Forbidden("this key is bound to another environment".into()));
        }
        Ok(())
    }

    /// Writes that are not about one application/environment need an unbound key.
    pub fn require_unbound(&self) -> Result<()> {
        if self.application_id.is_some() || self.environment_id.is_some() {
            return Err(Error::Forbidden("this needs a key that is not bound to an application or environment".into()));
        }
        Ok(())
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
