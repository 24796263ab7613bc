//! Snapshot delivery.
//!
//! * `GET /api/v1/snapshots/{application}/{environment}?audience=server|client&wait=N`: the
//!   latest published snapshot, exactly as stored, with `ETag` (its SHA-256) and `304` on
//!   `If-None-Match`. With `wait=N` (1–60 s) and a current `If-None-Match`, the request is held
//!   until a newer version commits (answered at once, `200`) or `N` seconds pass (`304`).
//! * `GET /api/v1/snapshots/{application}/{environment}/events?audience=…`: a Server-Sent Events
//!   stream; one `snapshot` event with the current version, then one per committed version.
//!
//! Server snapshots need an `edge` (or `admin`) key, client snapshots an `edge`, `client` or
//! `admin` key, bound (if at all) to this application and environment.

use axum::extract::State;
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE, ETAG, IF_NONE_MATCH};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;
use serde::Deserialize;
use std::convert::Infallible;
use std::time::Duration;
use tokio::sync::broadcast;
use tokio_stream::wrappers::BroadcastStream;
use vane_core::Audience;

use super::{Routes, applications, environments};
use crate::AppState;
use crate::auth::{Action, Caller, Reach};
use crate::error::{Error, Result};
use crate::json::{Path, Query};
use crate::memo::StreamTag;
use crate::notifier::Announcement;

pub fn router() -> Routes {
    Routes::new("snapshots")
        .get(
            "/snapshots/{application}/{environment}",
            "Latest snapshot (ETag/If-None-Match, ?audience=server|client, ?wait=N long-poll)",
            latest,
        )
        .get("/snapshots/{application}/{environment}/events", "Server-Sent Events announcing each version", events)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SnapshotQuery {
    audience: Option<String>,
    wait: Option<u64>,
}

/// Longest accepted `wait`, in seconds.
pub const MAX_WAIT_S: u64 = 60;

/// The stream a request is about, after authorisation.
struct Stream {
    application_id: String,
    application: String,
    environment_id: String,
    environment: String,
    audience: &'static str,
}

impl Stream {
    fn is(&self, a: &Announcement) -> bool {
        a.application == self.application && a.environment == self.environment && a.audience == self.audience
    }
}

async fn authorise(
    state: &AppState,
    caller: &Caller,
    application: &str,
    environment: &str,
    audience: Option<&str>,
) -> Result<(Stream, i64, String)> {
    let audience = match audience.unwrap_or("server") {
        "server" => Audience::Server,
        "client" => Audience::Client,
        other => return Err(Error::BadRequest(format!("audience must be \"server\" or \"client\", got \"{other}\""))),
    };
    caller.permits(Action::Fetch(audience))?;
    tagged(state, caller, application, environment, audience).await
}

/// The stream a request names, authorised, with its current `(version, etag)`: from memory
/// when this process knows it to be current (see [`crate::memo`]), else from PostgreSQL.
async fn tagged(
    state: &AppState,
    caller: &Caller,
    application: &str,
    environment: &str,
    audience: Audience,
) -> Result<(Stream, i64, String)> {
    let action = Action::Fetch(audience);
    let audience = crate::publish::audience_str(audience);
    let tag = match state.memo.stream(application, environment, audience) {
        Some(tag) => tag,
        None => {
            let epoch = state.memo.epoch();
            let app = applications::find(&state.pool, application).await?;
            let env = environments::find(&state.pool, environment).await?;
            let mut stream = Stream {
                application_id: app.id,
                application: app.key,
                environment_id: env.id,
                environment: env.key,
                audience,
            };
            let (version, etag) = current_tag(state, &stream).await?;
            let tag = StreamTag {
                application_id: std::mem::take(&mut stream.application_id),
                application: std::mem::take(&mut stream.application),
                environment_id: std::mem::take(&mut stream.environment_id),
                environment: std::mem::take(&mut stream.environment),
                version,
                etag,
            };
            state.memo.put_stream(application, environment, audience, tag.clone(), epoch);
            tag
        }
    };
    caller.authorize(action, Reach::stream(&tag.application_id, &tag.environment_id))?;
    let stream = Stream {
        application_id: tag.application_id,
        application: tag.application,
        environment_id: tag.environment_id,
        environment: tag.environment,
        audience,
    };
    Ok((stream, tag.version, tag.etag))
}

/// `(version, etag)` of the stream's current snapshot: what a conditional request needs, without
/// reading the body (hundreds of KB for a large application).
async fn current_tag(state: &AppState, s: &Stream) -> Result<(i64, String)> {
    let row: Option<(i64, String)> = sqlx::query_as(
        "SELECT s.version, s.etag FROM snapshot_streams t
         JOIN snapshots s ON s.application_id = t.application_id AND s.environment_id = t.environment_id
                         AND s.audience = t.audience AND s.version = t.version
         WHERE t.application_id = $1 AND t.environment_id = $2 AND t.audience = $3",
    )
    .bind(&s.application_id)
    .bind(&s.environment_id)
    .bind(s.audience)
    .fetch_optional(&state.pool)
    .await?;
    row.ok_or_else(|| {
        Error::NotFound(format!("no {} snapshot published for {}/{} yet", s.audience, s.application, s.environment))
    })
}

/// The body of one stored version.
async fn body(state: &AppState, s: &Stream, version: i64, etag: &str) -> Result<std::sync::Arc<str>> {
    let mut conn = state.pool.acquire().await?;
    crate::publish::stored_body(&mut conn, &s.application_id, &s.environment_id, s.audience, version, etag)
        .await?
        .ok_or_else(|| Error::NotFound("snapshot version pruned meanwhile; retry".into()))
}

fn etag_matches(headers: &HeaderMap, etag: &str) -> bool {
    let quoted = format!("\"{etag}\"");
    headers
        .get(IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim().trim_start_matches("W/") == quoted || t.trim() == "*"))
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
    let wait = q.wait.unwrap_or(0);
    if wait > MAX_WAIT_S {
        return Err(Error::invalid("wait", format!("must be 0 to {MAX_WAIT_S} seconds")));
    }
    // Subscribe before reading, so a version committed in between is not missed.
    let mut announcements = state.notifier.subscribe();
    let (stream, mut version, mut etag) =
        authorise(&state, &caller, &application, &environment, q.audience.as_deref()).await?;
    if wait > 0 && etag_matches(&headers, &etag) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(wait);
        loop {
            let relevant = tokio::select! {
                received = announcements.recv() => match received {
                    Ok(a) => stream.is(&a),
                    Err(broadcast::error::RecvError::Lagged(_)) => true,
                    Err(broadcast::error::RecvError::Closed) => break,
                },
                () = tokio::time::sleep_until(deadline) => break,
            };
            if relevant {
                (version, etag) = current_tag(&state, &stream).await?;
                if !etag_matches(&headers, &etag) {
                    break;
                }
            }
        }
    }
    let not_modified = etag_matches(&headers, &etag);
    let mut response = if not_modified {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        (StatusCode::OK, body(&state, &stream, version, &etag).await?.to_string()).into_response()
    };
    let h = response.headers_mut();
    if !not_modified {
        h.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    }
    if let Ok(v) = HeaderValue::from_str(&format!("\"{etag}\"")) {
        h.insert(ETAG, v);
    }
    h.insert(VERSION_HEADER, HeaderValue::from(version));
    h.insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    Ok(response)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct EventsQuery {
    audience: Option<String>,
}

async fn events(
    State(state): State<AppState>,
    caller: Caller,
    Path((application, environment)): Path<(String, String)>,
    Query(q): Query<EventsQuery>,
) -> Result<Sse<impl futures_util::Stream<Item = Result<Event, Infallible>>>> {
    let announcements = state.notifier.subscribe();
    let (stream, version, etag) = authorise(&state, &caller, &application, &environment, q.audience.as_deref()).await?;
    let first = Announcement {
        application: stream.application.clone(),
        environment: stream.environment.clone(),
        audience: stream.audience.to_owned(),
        version,
        etag,
    };
    let head = futures_util::stream::once(std::future::ready(Ok(event(&first))));
    // A version-0 announcement says the stream is being deleted: one `deleted` event, then the
    // stream ends.
    let tail = BroadcastStream::new(announcements)
        .filter_map(move |received| {
            std::future::ready(match received {
                Ok(a) if stream.is(&a) => Some(a),
                _ => None,
            })
        })
        .scan(false, |ended, a| {
            let item = (!*ended).then(|| {
                *ended = a.version == 0;
                Ok(event(&a))
            });
            std::future::ready(item)
        });
    Ok(Sse::new(head.chain(tail)).keep_alive(KeepAlive::default()))
}

/// An announcement as an event: `snapshot` with the version as its id, or `deleted`.
fn event(a: &Announcement) -> Event {
    let data = serde_json::to_string(a).unwrap_or_default();
    if a.version == 0 {
        return Event::default().event("deleted").data(data);
    }
    Event::default().event("snapshot").id(a.version.to_string()).data(data)
}
