//! Snapshot delivery.
//!
//! * `GET /api/v1/snapshots/{application}/{environment}?audience=server|client&wait=N`: the
//!   latest published snapshot, exactly as stored, with `ETag` (its SHA-256) and `304` on
//!   `If-None-Match`. With `wait=N` (1–60 s) and a current `If-None-Match`, the request is held
//!   until a newer version commits (answered at once, `200`) or `N` seconds pass (`304`).
//! * `GET /api/v1/snapshots/{application}/{environment}/events?audience=…`: a Server-Sent Events
//!   stream; one `snapshot` event with the current version, then one per committed version.
//!
//! Who may fetch what, and where versions come from: [`crate::domain::snapshots`].

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

use super::extract::{Path, Query};
use super::routes::Routes;
use super::state::AppState;
use crate::domain::snapshots::{self, fetch};
use crate::domain::vane::Actor;
use crate::error::{Error, Result};
use crate::publish::notifier::Announcement;

pub fn router() -> Routes {
    Routes::new("snapshots")
        .get(
            "/snapshots/{application}/{environment}",
            "Latest snapshot (ETag/If-None-Match, ?audience=server|client, ?wait=N long-poll)",
            latest,
        )
        .get("/snapshots/{application}/{environment}/events", "Server-Sent Events announcing each version", events)
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
struct SnapshotQuery {
    audience: Option<String>,
    wait: Option<u64>,
}

/// Longest accepted `wait`, in seconds.
pub const MAX_WAIT_S: u64 = 60;

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
    actor: Actor,
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
    let (stream, mut version, mut etag) = fetch(&actor, (&application, &environment), q.audience.as_deref()).await?;
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
                (version, etag) = snapshots::current(&state.vane, &stream).await?;
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
        (StatusCode::OK, snapshots::body(&state.vane, &stream, version, &etag).await?.to_string()).into_response()
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

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
struct EventsQuery {
    audience: Option<String>,
}

async fn events(
    State(state): State<AppState>,
    actor: Actor,
    Path((application, environment)): Path<(String, String)>,
    Query(q): Query<EventsQuery>,
) -> Result<Sse<impl futures_util::Stream<Item = Result<Event, Infallible>>>> {
    let announcements = state.notifier.subscribe();
    let (stream, version, etag) = snapshots::watch(&actor, (&application, &environment), q.audience.as_deref()).await?;
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
