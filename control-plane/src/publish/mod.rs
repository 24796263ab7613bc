//! Snapshot publishing: inside the caller's transaction, rebuild the snapshots a write affects,
//! store them under the next version of their stream, and announce them with `pg_notify`, which
//! PostgreSQL delivers only if (and when) the transaction commits. Readers therefore never see
//! a snapshot without its write, nor a write without its snapshot.
//!
//! Versions are gap-free and monotonic per stream because the stream row is locked
//! (`SELECT … FOR UPDATE`) while the next version is written. Streams are always locked in
//! (application id, environment id) order, so concurrent publishers cannot deadlock.

pub mod compiled;
pub mod model_cache;
pub mod notifier;

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, LazyLock, Mutex};

use chrono::{SecondsFormat, Utc};
use serde_json::Value;
use sqlx::PgConnection;
use vane_core::{AcceptedKey, Audience, EnvironmentSettings, Snapshot, StalePolicy};

use crate::error::{Error, Result};
use crate::store::keys::parse_scope;
use crate::store::{applications, environments, keys, services, snapshots};
use model_cache::Fragment;

/// Channel on which every published version is announced.
pub const CHANNEL: &str = "vane_snapshots";
/// Channel announcing that API keys changed (created, revoked, or removed with their
/// application or environment), so every process re-reads the keys it remembers.
pub const KEYS_CHANNEL: &str = "vane_keys";

/// Announces a key change when the caller's transaction commits.
pub async fn announce_keys(conn: &mut PgConnection) -> Result<()> {
    snapshots::notify(conn, KEYS_CHANNEL, "").await
}

/// Announces, when the caller's transaction commits, that the streams of an application and/or
/// environment are going away (called before deleting them): long-polls on them answer at once
/// (404) and event streams end, so edges let them go instead of serving them until they ask
/// again. The announcement has version 0, which no published snapshot has.
pub async fn announce_deleted(
    conn: &mut PgConnection,
    application_id: Option<&str>,
    environment_id: Option<&str>,
) -> Result<()> {
    snapshots::announce_deleted(conn, CHANNEL, application_id, environment_id).await
}

/// `(version, etag)` of a stream's current snapshot: what a conditional request needs, without
/// reading the body (hundreds of KB for a large application).
pub async fn current(
    conn: impl sqlx::PgExecutor<'_>,
    application_id: &str,
    environment_id: &str,
    audience: &str,
) -> Result<Option<(i64, String)>> {
    snapshots::current(conn, application_id, environment_id, audience).await
}

/// Snapshots kept per stream.
pub const KEEP_PER_STREAM: i64 = 20;

pub fn audience_str(a: Audience) -> &'static str {
    match a {
        Audience::Server => "server",
        Audience::Client => "client",
    }
}

/// Locks both streams of an application × environment until the transaction ends, creating
/// them if needed: writers of one environment queue here, in (server, client) order.
///
/// Returns the transaction's id and each stream's current version with what publishing the next
/// one needs of it (its etag for [`model_cache::load`], its content and parts).
pub async fn lock_streams(
    conn: &mut PgConnection,
    application_id: &str,
    environment_id: &str,
) -> Result<model_cache::Locked> {
    // Two statements: a row locked after waiting for another writer is re-read at its newest
    // version, but a join in the same statement still sees the snapshots as they were when it
    // started (without that writer's new row).
    let mut rows = snapshots::lock(&mut *conn, application_id, environment_id).await?;
    if rows.len() < 2 {
        snapshots::create(&mut *conn, application_id, environment_id).await?;
        rows = snapshots::lock(&mut *conn, application_id, environment_id).await?;
    }
    let version_of = |audience: &str| rows.iter().find(|r| r.audience == audience).map_or(0, |r| r.version);
    let (server_version, client_version) = (version_of("server"), version_of("client"));
    let xid = rows.first().map(|r| r.xid.clone()).ok_or(Error::Internal("stream row missing".into()))?;
    let heads = snapshots::heads(&mut *conn, application_id, environment_id, (server_version, client_version)).await?;
    let current = |audience: &str, version: i64| {
        let row = heads.iter().find(|r| r.audience == audience);
        model_cache::Current {
            version,
            etag: row.map(|r| r.etag.clone()),
            content: row.and_then(|r| r.content.clone()),
            parts: row.and_then(|r| r.parts.clone()),
        }
    };
    Ok(model_cache::Locked {
        xid,
        server: current("server", server_version),
        client: current("client", client_version),
    })
}

/// Publishes the next version of each audience of one application × environment whose content
/// changed (a flag browsers do not see leaves the client snapshot as it was).
pub async fn publish(conn: &mut PgConnection, application_id: &str, environment_id: &str) -> Result<()> {
    let stream = snapshots::settings(&mut *conn, application_id, environment_id)
        .await?
        .ok_or_else(|| Error::NotFound("application or environment not found".into()))?;
    let (app_key, salt) = (stream.application.clone(), stream.hash_salt.clone());
    let keys = keys::accepted_by(conn, application_id, environment_id).await?;
    let locked = lock_streams(conn, application_id, environment_id).await?;
    let model = model_cache::load(conn, application_id, environment_id, Some(&locked)).await?;
    let services = services::published(conn).await?;
    // Secrets are never published; `client_visible` decides what browsers get.
    let configs: Vec<(bool, vane_core::Config)> = snapshots::configs(&mut *conn, application_id, environment_id)
        .await?
        .into_iter()
        .filter_map(|c| {
            let value_type = serde_json::from_value(Value::String(c.value_type)).ok()?;
            let version = u64::try_from(c.version).ok()?;
            let config =
                vane_core::Config { key: c.key, value: c.value?, value_type, version, description: c.description };
            Some((c.client_visible, config))
        })
        .collect();
    let settings = EnvironmentSettings {
        max_staleness_s: u64::try_from(stream.max_staleness_s).unwrap_or(0),
        stale_policy: if stream.stale_policy == "fail_closed" {
            StalePolicy::FailClosed
        } else {
            StalePolicy::ServeStale
        },
    };
    let created_at = Utc::now().to_rfc3339_opts(SecondsFormat::Millis, true);
    for audience in [Audience::Server, Audience::Client] {
        let aud = audience_str(audience);
        let current = if audience == Audience::Server { &locked.server } else { &locked.client };
        let mut snapshot = Snapshot::new(app_key.clone(), stream.environment.clone(), 0);
        snapshot.audience = audience;
        snapshot.settings = settings.clone();
        let fragments: (Vec<Arc<Fragment>>, Vec<Arc<Fragment>>) = if audience == Audience::Server {
            snapshot.configs = configs.iter().map(|(_, c)| c.clone()).collect();
            snapshot.services.clone_from(&services);
            snapshot.keys = keys
                .iter()
                .filter_map(|k| {
                    Some(AcceptedKey { id: k.id.clone(), hash: k.hash.clone(), scope: parse_scope(&k.scope)? })
                })
                .collect();
            (
                model.flags.iter().map(|f| f.server.clone()).collect(),
                model.segments.iter().map(|s| s.server.clone()).collect(),
            )
        } else {
            // Browsers get client-visible flags and configs only, and never a raw targeted key.
            snapshot.configs = configs.iter().filter(|(visible, _)| *visible).map(|(_, c)| c.clone()).collect();
            snapshot.hash_salt.clone_from(&salt);
            // Only the segments those flags use: a browser gets no list it does not need (and a
            // large segment of server-side flags costs browsers nothing).
            let visible: Vec<&model_cache::CachedFlag> =
                model.flags.iter().filter(|f| f.client_visible).map(|f| &**f).collect();
            let used: HashSet<&str> = visible.iter().flat_map(|f| model_cache::segments_of(&f.model)).collect();
            (
                visible.iter().map(|f| f.client(&salt)).collect(),
                model
                    .segments
                    .iter()
                    .filter(|s| used.contains(s.model.key.as_str()))
                    .map(|s| s.client(&salt))
                    .collect(),
            )
        };
        let parts: Vec<u8> =
            fragments.0.iter().chain(&fragments.1).flat_map(|f| f.hash.to_be_bytes()).collect::<Vec<u8>>();
        // Everything but the version and its time: unchanged content is not published again.
        let content = content_of(&snapshot, &parts)?;
        if current.content.as_deref() == Some(content.as_slice()) {
            continue;
        }
        let version = current.version + 1;
        snapshot.version = u64::try_from(version).unwrap_or(0);
        snapshot.created_at.clone_from(&created_at);
        let frame = serde_json::to_string(&snapshot).map_err(|e| Error::Internal(e.to_string()))?;
        // The body is never built here: its content hash (`vane_core::content_hash`) is taken
        // piece by piece.
        let flags: Vec<&str> = fragments.0.iter().map(|f| &*f.text).collect();
        let segments: Vec<&str> = fragments.1.iter().map(|f| &*f.text).collect();
        let etag = vane_core::content_hash(&body_of(&frame, &flags, &segments)?);
        if audience == Audience::Server {
            model_cache::published(application_id, environment_id, &model, version, &etag);
        }
        // Fragments the current version does not use may not be stored (yet, or any more): those
        // are written (or marked used again, see `collect_garbage`); the others are there.
        let mut stored: Vec<u128> = current.parts.as_deref().map(hashes).unwrap_or_default();
        stored.sort_unstable();
        let mut seen: HashSet<u128> = HashSet::new();
        let new: Vec<&Fragment> = fragments
            .0
            .iter()
            .chain(&fragments.1)
            .filter(|f| stored.binary_search(&f.hash).is_err() && seen.insert(f.hash))
            .map(|f| &**f)
            .collect();
        store_fragments(&mut *conn, application_id, &new).await?;
        let payload = serde_json::json!({
            "application": app_key, "environment": stream.environment, "audience": aud, "version": version, "etag": etag
        })
        .to_string();
        // Store, advance the stream, prune and announce in one round trip.
        let new = snapshots::NewVersion {
            application_id,
            environment_id,
            audience: aud,
            version,
            etag: &etag,
            frame: &frame,
            parts: &parts,
            flag_parts: i32::try_from(fragments.0.len()).unwrap_or(i32::MAX),
            content: &content,
        };
        snapshots::insert(&mut *conn, new, KEEP_PER_STREAM, (CHANNEL, &payload)).await?;
    }
    Ok(())
}

/// Makes sure `fragments` are stored and not collected under the caller (see
/// [`collect_garbage`]): those already there are marked used now, the others written. In two
/// statements, so a fragment of megabytes (a 100,000-key segment) that a write stored before it
/// published is not sent again.
pub async fn store_fragments(conn: &mut PgConnection, application_id: &str, fragments: &[&Fragment]) -> Result<()> {
    if fragments.is_empty() {
        return Ok(());
    }
    // Rows in hash order, whoever writes them: publishers of several environments of one
    // application share fragments (the same flag in each), and must not wait on each other in a
    // circle. (Big-endian bytes sort as the numbers do, and as PostgreSQL orders `bytea`.)
    let mut fragments: Vec<&Fragment> = fragments.to_vec();
    fragments.sort_unstable_by_key(|f| f.hash);
    fragments.dedup_by_key(|f| f.hash);
    let hashes: Vec<Vec<u8>> = fragments.iter().map(|f| f.hash.to_be_bytes().to_vec()).collect();
    let there: HashSet<Vec<u8>> =
        snapshots::touch_fragments(&mut *conn, application_id, &hashes).await?.into_iter().collect();
    let (mut missing, mut texts): (Vec<&[u8]>, Vec<&str>) = (Vec::new(), Vec::new());
    for (f, hash) in fragments.iter().zip(&hashes) {
        remember_fragment(application_id, f);
        if !there.contains(hash) {
            missing.push(hash);
            texts.push(&f.text);
        }
    }
    if !missing.is_empty() {
        snapshots::insert_fragments(&mut *conn, application_id, &missing, &texts).await?;
    }
    Ok(())
}

/// The content of a snapshot whose frame is `unversioned` (version 0, no time) and whose
/// fragments are `parts`: equal content, nothing to publish.
fn content_of(unversioned: &Snapshot, parts: &[u8]) -> Result<Vec<u8>> {
    let frame = serde_json::to_string(unversioned).map_err(|e| Error::Internal(e.to_string()))?;
    let mut h = xxhash_rust::xxh3::Xxh3::new();
    h.update(frame.as_bytes());
    h.update(parts);
    Ok(h.digest128().to_be_bytes().to_vec())
}

/// The fragment hashes of a snapshot row's `parts` (16 bytes each, big-endian).
fn hashes(parts: &[u8]) -> Vec<u128> {
    parts.chunks_exact(16).map(|c| u128::from_be_bytes(c.try_into().unwrap_or([0; 16]))).collect()
}

/// Fragment texts this process knows, by application and hash (delivery assembles bodies from
/// them; those it lacks it reads from `snapshot_fragments`). Content-addressed, so never stale.
static FRAGMENTS: LazyLock<Mutex<FragmentTexts>> = LazyLock::new(Default::default);

/// Fragment texts by (application id, hash), with their total size in bytes.
type FragmentTexts = (usize, HashMap<(String, u128), Arc<str>>);

/// Bytes of fragment text kept in memory at most (beyond it, it starts over).
const FRAGMENT_BYTES: usize = 256 << 20;

/// Forgets every fragment text and assembled body this process keeps (they are read again from
/// the database): what a restarted process starts with.
pub fn forget_texts() {
    if let Ok(mut cache) = FRAGMENTS.lock() {
        *cache = Default::default();
    }
    if let Ok(mut bodies) = BODIES.lock() {
        bodies.clear();
    }
}

fn remember_fragment(application_id: &str, f: &Fragment) {
    remember_text(application_id, f.hash, f.text.clone());
}

fn remember_text(application_id: &str, hash: u128, text: Arc<str>) {
    if let Ok(mut cache) = FRAGMENTS.lock() {
        if cache.0 + text.len() > FRAGMENT_BYTES {
            *cache = Default::default();
        }
        cache.0 += text.len();
        cache.1.insert((application_id.to_owned(), hash), text);
    }
}

/// The last body assembled per stream, under its etag (delivery answers many requests for the
/// same version; the etag, the body's SHA-256, tells it is the same).
static BODIES: LazyLock<Mutex<HashMap<StreamOf, Tagged>>> = LazyLock::new(Default::default);

/// (application id, environment id, audience).
type StreamOf = (String, String, String);
/// A body under its etag.
type Tagged = (String, Arc<str>);

/// The stored snapshot of a stream at `version`, whose etag is `etag`, as its bytes: the body of
/// a row written before fragments (migration 0008), or its frame with its fragments spliced in.
pub async fn stored_body(
    conn: &mut PgConnection,
    application_id: &str,
    environment_id: &str,
    audience: &str,
    version: i64,
    etag: &str,
) -> Result<Option<Arc<str>>> {
    let key = (application_id.to_owned(), environment_id.to_owned(), audience.to_owned());
    let cached = BODIES.lock().ok().and_then(|b| b.get(&key).filter(|(e, _)| e == etag).map(|(_, b)| b.clone()));
    if let Some(body) = cached {
        return Ok(Some(body));
    }
    let row = snapshots::stored(&mut *conn, (application_id, environment_id, audience), version).await?;
    let body: Arc<str> = match row {
        None => return Ok(None),
        Some(snapshots::StoredVersion { body: Some(body), .. }) => body.into(),
        Some(snapshots::StoredVersion {
            body: None,
            frame: Some(frame),
            parts: Some(parts),
            flag_parts: Some(flag_parts),
        }) => {
            let stored = Stored { application_id, frame: &frame, parts: &parts, flag_parts };
            let mut bodies = assemble(&mut *conn, &[stored]).await?;
            bodies.pop().ok_or_else(|| Error::Internal("no body assembled".into()))?.into()
        }
        Some(_) => return Err(Error::Internal("a snapshot row without body or parts".into())),
    };
    if let Ok(mut bodies) = BODIES.lock() {
        if bodies.len() > 10_000 {
            bodies.clear();
        }
        bodies.insert(key, (etag.to_owned(), body.clone()));
    }
    Ok(Some(body))
}

/// Deletes the fragments no kept snapshot uses any more, application by application, and
/// returns how many went. A fragment written or re-referenced in the last ten minutes is left
/// alone: a publish that is about to reference a fragment it found stored has upserted it
/// (`touched = now()`), so it cannot be collected under it.
pub async fn collect_garbage(pool: &sqlx::PgPool) -> Result<u64> {
    let mut removed = 0;
    for app in snapshots::applications_with_old_fragments(pool).await? {
        removed += snapshots::delete_unused_fragments(pool, &app).await?;
    }
    Ok(removed)
}

/// Runs [`collect_garbage`] every `interval` until the runtime stops.
pub fn spawn_collector(pool: sqlx::PgPool, interval: std::time::Duration) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            match collect_garbage(&pool).await {
                Ok(0) => {}
                Ok(n) => tracing::debug!(removed = n, "snapshot fragments collected"),
                Err(e) => tracing::warn!(error = %e, "collecting snapshot fragments failed"),
            }
        }
    });
}

/// Republishes every environment of one application (in lock order).
pub async fn publish_application(conn: &mut PgConnection, application_id: &str) -> Result<()> {
    for env in environments::ids(&mut *conn).await? {
        publish(conn, application_id, &env).await?;
    }
    Ok(())
}

/// Republishes every application of one environment (in lock order).
pub async fn publish_environment(conn: &mut PgConnection, environment_id: &str) -> Result<()> {
    for app in applications::ids(&mut *conn).await? {
        publish(conn, &app, environment_id).await?;
    }
    Ok(())
}

/// Which streams a change of API keys or of the registry reaches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Streams<'a> {
    All,
    Application(&'a str),
    Environment(&'a str),
    One(&'a str, &'a str),
}

impl<'a> Streams<'a> {
    /// The streams a key bound to `application`/`environment` (ids) is accepted by.
    pub fn of_key(application: Option<&'a str>, environment: Option<&'a str>) -> Self {
        match (application, environment) {
            (None, None) => Streams::All,
            (Some(a), None) => Streams::Application(a),
            (None, Some(e)) => Streams::Environment(e),
            (Some(a), Some(e)) => Streams::One(a, e),
        }
    }
}

/// Republishes the server snapshots of `streams` after a change that only their frames carry —
/// the accepted keys and the healthy services — in a few statements for all of them, not a
/// publish per stream: every flag and segment stays as stored (same fragments), so each new
/// version is the previous frame with the new keys and services. Client snapshots carry neither
/// and are left alone. (At 1,000 applications, minting a key republished 6,000 snapshots one by
/// one.) Streams without a fragment-stored version (from before migration 0008) get a full
/// publish.
pub async fn republish_frames(conn: &mut PgConnection, streams: Streams<'_>) -> Result<()> {
    let (app, env) = match streams {
        Streams::All => (None, None),
        Streams::Application(a) => (Some(a), None),
        Streams::Environment(e) => (None, Some(e)),
        Streams::One(a, e) => (Some(a), Some(e)),
    };
    // Lock order as everywhere: (application id, environment id).
    let locked = snapshots::lock_server(&mut *conn, app, env).await?;
    let current: HashMap<(String, String), snapshots::ServerHead> = snapshots::server_heads(&mut *conn, app, env)
        .await?
        .into_iter()
        .map(|c| ((c.application_id.clone(), c.environment_id.clone()), c))
        .collect();
    let keys = keys::accepted(&mut *conn).await?;
    let services = services::published(conn).await?;
    let created_at = Utc::now().to_rfc3339_opts(SecondsFormat::Millis, true);

    // New frames first; the fragments they splice in are fetched for all of them at once.
    struct Next {
        application_id: String,
        environment_id: String,
        application: String,
        environment: String,
        version: i64,
        frame: String,
        parts: Vec<u8>,
        flag_parts: i32,
        content: Vec<u8>,
        was: (i64, String),
    }
    let mut next: Vec<Next> = Vec::new();
    let mut full: Vec<(String, String)> = Vec::new();
    for snapshots::ServerStream { application_id: app_id, environment_id: env_id, version } in locked {
        let Some(snapshots::ServerHead {
            application: app_key,
            environment: env_key,
            frame: Some(frame),
            parts: Some(parts),
            flag_parts: Some(flag_parts),
            content,
            etag: was_etag,
            ..
        }) = current.get(&(app_id.clone(), env_id.clone())).cloned()
        else {
            full.push((app_id, env_id));
            continue;
        };
        let mut snapshot: Snapshot = serde_json::from_str(&frame).map_err(|e| Error::Internal(e.to_string()))?;
        snapshot.keys = keys
            .iter()
            .filter(|k| k.accepted_by(&app_id, &env_id))
            .filter_map(|k| Some(AcceptedKey { id: k.id.clone(), hash: k.hash.clone(), scope: parse_scope(&k.scope)? }))
            .collect();
        snapshot.services.clone_from(&services);
        snapshot.version = 0;
        snapshot.created_at = String::new();
        let new_content = content_of(&snapshot, &parts)?;
        if content.as_deref() == Some(new_content.as_slice()) {
            continue;
        }
        snapshot.version = u64::try_from(version + 1).unwrap_or(0);
        snapshot.created_at.clone_from(&created_at);
        let frame = serde_json::to_string(&snapshot).map_err(|e| Error::Internal(e.to_string()))?;
        next.push(Next {
            application_id: app_id,
            environment_id: env_id,
            application: app_key,
            environment: env_key,
            version: version + 1,
            frame,
            parts,
            flag_parts,
            content: new_content,
            was: (version, was_etag),
        });
    }
    let stored: Vec<Stored<'_>> = next
        .iter()
        .map(|n| Stored {
            application_id: &n.application_id,
            frame: &n.frame,
            parts: &n.parts,
            flag_parts: n.flag_parts,
        })
        .collect();
    let etags: Vec<String> = assemble(&mut *conn, &stored).await?.iter().map(|b| vane_core::content_hash(b)).collect();
    drop(stored);
    if !next.is_empty() {
        let mut rows = snapshots::NewServerVersions::default();
        let mut republished = Vec::with_capacity(next.len());
        for (n, etag) in next.into_iter().zip(etags) {
            rows.payloads.push(
                serde_json::json!({"application": n.application, "environment": n.environment,
                                   "audience": "server", "version": n.version, "etag": etag})
                .to_string(),
            );
            republished.push((n.application_id.clone(), n.environment_id.clone(), n.was, n.version, etag.clone()));
            rows.application_ids.push(n.application_id);
            rows.environment_ids.push(n.environment_id);
            rows.versions.push(n.version);
            rows.etags.push(etag);
            rows.frames.push(n.frame);
            rows.parts.push(n.parts);
            rows.flag_parts.push(n.flag_parts);
            rows.contents.push(n.content);
        }
        snapshots::insert_server_versions(&mut *conn, &rows, KEEP_PER_STREAM, CHANNEL).await?;
        for (app_id, env_id, was, version, etag) in republished {
            model_cache::republished(&app_id, &env_id, (was.0, &was.1), (version, &etag));
        }
    }
    for (app_id, env_id) in full {
        publish(conn, &app_id, &env_id).await?;
    }
    Ok(())
}

/// A stored snapshot's frame and fragment hashes (`flag_parts` of them flags).
struct Stored<'a> {
    application_id: &'a str,
    frame: &'a str,
    parts: &'a [u8],
    flag_parts: i32,
}

/// The bodies of stored snapshots: each frame with its fragments spliced in. Fragment texts
/// come from memory, the rest from `snapshot_fragments` in one query for all of them; a
/// fragment found nowhere is an error (collection never takes one a kept snapshot uses).
async fn assemble(conn: &mut PgConnection, stored: &[Stored<'_>]) -> Result<Vec<String>> {
    let mut texts: HashMap<(String, u128), Arc<str>> = HashMap::new();
    let mut missing: (Vec<String>, Vec<Vec<u8>>) = (Vec::new(), Vec::new());
    {
        let cache = FRAGMENTS.lock().map_err(|_| Error::Internal("fragment cache poisoned".into()))?;
        for s in stored {
            for h in hashes(s.parts) {
                let key = (s.application_id.to_owned(), h);
                if texts.contains_key(&key) {
                    continue;
                }
                match cache.1.get(&key) {
                    Some(t) => drop(texts.insert(key, t.clone())),
                    None => {
                        missing.0.push(key.0);
                        missing.1.push(h.to_be_bytes().to_vec());
                    }
                }
            }
        }
    }
    if !missing.0.is_empty() {
        let rows = snapshots::fragment_texts(&mut *conn, &missing.0, &missing.1).await?;
        for snapshots::FragmentText { application_id: app, hash, body: text } in rows {
            let hash = u128::from_be_bytes(hash.as_slice().try_into().unwrap_or([0; 16]));
            let text: Arc<str> = text.into();
            remember_text(&app, hash, text.clone());
            texts.insert((app, hash), text);
        }
    }
    stored
        .iter()
        .map(|s| {
            let pieces: Vec<&str> = hashes(s.parts)
                .into_iter()
                .map(|h| {
                    texts.get(&(s.application_id.to_owned(), h)).map(|t| &**t).ok_or_else(|| {
                        Error::Internal(format!("fragment {h:032x} of application {} is missing", s.application_id))
                    })
                })
                .collect::<Result<_>>()?;
            let (flags, segments) = pieces.split_at(usize::try_from(s.flag_parts).unwrap_or(0).min(pieces.len()));
            body_of(s.frame, flags, segments)
        })
        .collect()
}

/// A snapshot's bytes: `frame` (the document with empty `flags` and `segments`) with the
/// fragments spliced into those arrays. What publishing hashes into the etag and what delivery
/// serves are both this.
fn body_of(frame: &str, flags: &[&str], segments: &[&str]) -> Result<String> {
    const HOLE: &str = r#""flags":[],"segments":[]"#;
    let at =
        frame.find(HOLE).ok_or_else(|| Error::Internal("snapshot frame lacks its flags/segments position".into()))?;
    let size = frame.len() + flags.iter().chain(segments).map(|t| t.len() + 1).sum::<usize>();
    let mut body = String::with_capacity(size + 32);
    body.push_str(frame.get(..at).unwrap_or_default());
    // Pushed piece by piece (a `join` would copy every fragment twice).
    for (list, open) in [(flags, r#""flags":["#), (segments, r#"],"segments":["#)] {
        body.push_str(open);
        for (i, piece) in list.iter().enumerate() {
            if i > 0 {
                body.push(',');
            }
            body.push_str(piece);
        }
    }
    body.push(']');
    body.push_str(frame.get(at + HOLE.len()..).unwrap_or_default());
    Ok(body)
}

/// Republishes every stream, in lock order.
pub async fn publish_all(conn: &mut PgConnection) -> Result<()> {
    publish_pairs(conn, false).await
}

/// Publishes version 1 of every stream that has none yet (after migrations and at start-up).
pub async fn publish_missing(conn: &mut PgConnection) -> Result<()> {
    publish_pairs(conn, true).await
}

async fn publish_pairs(conn: &mut PgConnection, missing_only: bool) -> Result<()> {
    for (app, env) in snapshots::pairs(&mut *conn, missing_only).await? {
        publish(conn, &app, &env).await?;
    }
    Ok(())
}
