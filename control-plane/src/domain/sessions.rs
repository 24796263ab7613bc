//! Console sessions: an admin or read key is exchanged for a random session token (the browser
//! keeps it in an HttpOnly cookie, so the key itself is never stored there), plus a CSRF proof
//! that every write made with the session must carry. Only the token's SHA-256 is stored. A
//! session ends at its expiry, at sign-out, or at once when its key is revoked.

use chrono::{DateTime, Utc};
use serde::Serialize;
use vane_core::{KeyScope, api_key_hash};

use super::audit::{self, Entry};
use super::authz::Caller;
use super::keys;
use super::vane::{Touched, Vane};
use crate::error::{Error, Result};
use crate::store::keys::scope_str;
use crate::store::sessions::{self as rows, Live};

/// Who a session is, as the console sees it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct SessionInfo {
    /// The id and name of the key it signed in with (audit entries name it).
    pub key_id: String,
    pub key_name: String,
    /// `admin` (read and write) or `read` (read only).
    pub scope: String,
    /// The application and environment the key is bound to, by id, if it is.
    pub application_id: Option<String>,
    pub environment_id: Option<String>,
    /// Send it as `X-CSRF-Token` with every write made with the session cookie.
    pub csrf_token: String,
    pub expires_at: DateTime<Utc>,
}

impl SessionInfo {
    fn of(live: Live) -> Self {
        SessionInfo {
            key_id: live.grant.key_id,
            key_name: live.key_name,
            scope: scope_str(live.grant.scope).to_owned(),
            application_id: live.grant.application_id,
            environment_id: live.grant.environment_id,
            csrf_token: live.csrf_token,
            expires_at: live.expires_at,
        }
    }
}

/// A session just opened: its token (for the cookie, never shown again) and who it is.
#[derive(Debug)]
pub struct Opened {
    pub token: String,
    pub info: SessionInfo,
}

/// `bytes` random bytes as hex.
fn random_hex(bytes: usize) -> String {
    use rand::RngCore;
    let mut buf = vec![0u8; bytes];
    rand::rng().fill_bytes(&mut buf);
    buf.iter().map(|b| format!("{b:02x}")).collect()
}

/// Exchanges `key` for a session lasting `vane.session_ttl`: admin and read keys only.
pub async fn sign_in(vane: &Vane, key: &str) -> Result<Opened> {
    let caller = keys::authenticate(&vane.pool, &vane.memo, key).await?;
    if !matches!(caller.scope, KeyScope::Admin | KeyScope::Read) {
        return Err(Error::Forbidden(format!(
            "the console signs in with an admin or read key; this is an {} key, which only fetches snapshots",
            scope_str(caller.scope)
        )));
    }
    let token = random_hex(32);
    let csrf_token = random_hex(16);
    let ttl = i64::try_from(vane.session_ttl.as_secs()).unwrap_or(i64::MAX);
    let mut tx = vane.begin().await?;
    let live = rows::insert(&mut tx, &api_key_hash(&token), caller, &csrf_token, ttl).await?;
    record(&mut tx, &live.grant, &live.key_name, "sign_in").await?;
    vane.commit(tx, Touched::Nothing).await?;
    Ok(Opened { token, info: SessionInfo::of(live) })
}

/// The live session with this token; 401 once it has ended.
async fn live(vane: &Vane, token: &str) -> Result<Live> {
    rows::find(&mut *vane.pool.acquire().await?, &api_key_hash(token)).await?.ok_or(Error::Unauthorized)
}

/// The caller behind a session token and its CSRF proof.
pub async fn resolve(vane: &Vane, token: &str) -> Result<(Caller, String)> {
    let live = live(vane, token).await?;
    Ok((Caller { console: true, ..live.grant }, live.csrf_token))
}

/// Who the session with this token is.
pub async fn current(vane: &Vane, token: &str) -> Result<SessionInfo> {
    Ok(SessionInfo::of(live(vane, token).await?))
}

/// Ends the session with this token (signing out twice is no error).
pub async fn sign_out(vane: &Vane, token: &str) -> Result<()> {
    let hash = api_key_hash(token);
    let mut tx = vane.begin().await?;
    if let Some(live) = rows::find(&mut tx, &hash).await? {
        rows::delete(&mut tx, &hash).await?;
        record(&mut tx, &live.grant, &live.key_name, "sign_out").await?;
    }
    vane.commit(tx, Touched::Nothing).await
}

/// Sign-ins and sign-outs are audited under the key's id and name (never the token).
async fn record(conn: &mut sqlx::PgConnection, caller: &Caller, key_name: &str, action: &str) -> Result<()> {
    let entry = Entry {
        entity_type: "session",
        entity_id: &caller.key_id,
        entity_key: key_name,
        action,
        before: None,
        after: None,
        version: None,
    };
    audit::record(conn, Some(caller), entry).await
}
