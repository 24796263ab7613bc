//! Console sessions (see migration 0009): found by the SHA-256 of their token, only while
//! unexpired and their key unrevoked.

use chrono::{DateTime, Utc};
use sqlx::PgConnection;

use super::keys::Grant;
use crate::error::Result;

/// A live session: what its key grants, the key's name, its CSRF proof and when it ends.
#[derive(Debug, Clone)]
pub struct Live {
    pub grant: Grant,
    pub key_name: String,
    pub csrf_token: String,
    pub expires_at: DateTime<Utc>,
}

/// Opens a session for `grant`'s key lasting `ttl_s` seconds: the session, live. Sessions that
/// have ended are cleared on the way.
pub async fn insert(
    conn: &mut PgConnection,
    token_hash: &str,
    grant: Grant,
    csrf_token: &str,
    ttl_s: i64,
) -> Result<Live> {
    sqlx::query!("DELETE FROM sessions WHERE expires_at <= now()").execute(&mut *conn).await?;
    let row = sqlx::query!(
        r#"INSERT INTO sessions (token_hash, key_id, csrf_token, expires_at)
         VALUES ($1, $2, $3, now() + make_interval(secs => $4::bigint::double precision))
         RETURNING expires_at, (SELECT name FROM api_keys WHERE id = $2) AS "key_name!""#,
        token_hash,
        grant.key_id,
        csrf_token,
        ttl_s
    )
    .fetch_one(conn)
    .await?;
    Ok(Live { grant, key_name: row.key_name, csrf_token: csrf_token.to_owned(), expires_at: row.expires_at })
}

/// The live session with this token hash.
pub async fn find(conn: &mut PgConnection, token_hash: &str) -> Result<Option<Live>> {
    let Some(row) = sqlx::query!(
        "SELECT k.id, k.name, k.scope, k.application_id, k.environment_id, s.csrf_token, s.expires_at
         FROM sessions s JOIN api_keys k ON k.id = s.key_id
         WHERE s.token_hash = $1 AND s.expires_at > now() AND k.revoked_at IS NULL",
        token_hash
    )
    .fetch_optional(conn)
    .await?
    else {
        return Ok(None);
    };
    let grant = Grant::of(row.id, &row.scope, row.application_id, row.environment_id)?;
    Ok(Some(Live { grant, key_name: row.name, csrf_token: row.csrf_token, expires_at: row.expires_at }))
}

/// Ends the session with this token hash (nothing when there is none).
pub async fn delete(conn: &mut PgConnection, token_hash: &str) -> Result<()> {
    sqlx::query!("DELETE FROM sessions WHERE token_hash = $1", token_hash).execute(conn).await?;
    Ok(())
}

/// Ends every session of a key.
pub async fn delete_for_key(conn: &mut PgConnection, key_id: &str) -> Result<()> {
    sqlx::query!("DELETE FROM sessions WHERE key_id = $1", key_id).execute(conn).await?;
    Ok(())
}
