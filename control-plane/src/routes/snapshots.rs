//! `GET /api/v1/snapshots/{application}/{environment}?audience=server|client`: the latest
//! published snapshot, exactly as stored, with `ETag` (its SHA-256) and `304` on
//! `If-None-Match`. Server snapshots need an `edge` (or `admin`) key, client snapshots an
//! `edge`, `client` or `admin` key, bound (if at all) to this application and environment.

use axum::Router;
use axum::extract::{Path, State};
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE, ETAG, IF_NONE_MATCH};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Deserialize;
use vane_core::KeyScope;

use super::{applications, environments};
use crate::AppState;
use crate::auth::{Caller, scope_str};
use crate::error::{Error, Result};
use crate::json::Query;

pub fn router() -> Router<AppState> {
    Router::new().route("/snapshots/{application}/{environment}", get(latest))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SnapshotQuery {
    audience: Option<String>,
}

/// Header carrying the snapshot version on delivery responses.
pub const VERSION_HEADER: &str = "x-vane-snapshot-version";

async fn latest(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Path((application, environment)): Path<(String, String)>,
    Query(q): Query<SnapshotQuery>,
) -> Result<Response> {
    let audience = q.audience.as_deref().unwrap_or("server");
    let allowed = match (audience, caller.scope) {
        ("server", KeyScope::Edge | KeyScope::Admin) => true,
        ("client", KeyScope::Edge | KeyScope::Client | KeyScope::Admin) => true,
        ("server" | "client", _) => false,
        (other, _) => {
            return Err(Error::BadRequest(format!("audience must be \"server\" or \"client\", got \"{other}\"")));
        }
    };
    if !allowed {
        return Err(Error::Forbidden(format!("a {} key cannot fetch {audience} snapshots", scope_str(caller.scope))));
    }
    let app = applications::find(&state.pool, &application).await?;
    let env = environments::find(&state.pool, &environment).await?;
    caller.require_binding(Some(&app.id), Some(&env.id))?;
    let row: Option<(i64, String, String)> = sqlx::query_as(
        "SELECT s.version, s.etag, s.body FROM snapshot_streams t
         JOIN snapshots s ON s.application_id = t.application_id AND s.environment_id = t.environment_id
                         AND s.audience = t.audience AND s.version = t.version
         WHERE t.application_id = $1 AND t.environment_id = $2 AND t.audience = $3",
    )
    .bind(&app.id)
    .bind(&env.id)
    .bind(audience)
    .fetch_optional(&state.pool)
    .await?;
    let (version, etag, body) = row
        .ok_or_else(|| Error::NotFound(format!("no {audience} snapshot published for {}/{} yet", app.key, env.key)))?;
    let quoted = format!("\"{etag}\"");
    let not_modified = headers
        .get(IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim().trim_start_matches("W/") == quoted || t.trim() == "*"));
    let mut response =
        if not_modified { StatusCode::NOT_MODIFIED.into_response() } else { (StatusCode::OK, body).into_response() };
    let h = response.headers_mut();
    if !not_modified {
        h.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    }
    if let Ok(v) = HeaderValue::from_str(&quoted) {
        h.insert(ETAG, v);
    }
    h.insert(VERSION_HEADER, HeaderValue::from(version));
    h.insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    Ok(response)
}
