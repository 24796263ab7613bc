//! Snapshot publishing: inside the caller's transaction, rebuild the snapshots a write affects,
//! store them under the next version of their stream, and announce them with `pg_notify`, which
//! PostgreSQL delivers only if (and when) the transaction commits. Readers therefore never see
//! a snapshot without its write, nor a write without its snapshot.
//!
//! Versions are gap-free and monotonic per stream because the stream row is locked
//! (`SELECT … FOR UPDATE`) while the next version is written. Streams are always locked in
//! (application id, environment id) order, so concurrent publishers cannot deadlock.

use chrono::{SecondsFormat, Utc};
use serde_json::Value;
use sqlx::PgConnection;
use vane_core::{AcceptedKey, Audience, EnvironmentSettings, Snapshot, StalePolicy};

use crate::auth::parse_scope;
use crate::error::{Error, Result};
use crate::model_cache::{self, StreamModel};

/// Channel on which every published version is announced.
pub const CHANNEL: &str = "vane_snapshots";
/// Channel announcing that API keys changed (created, revoked, or removed with their
/// application or environment), so every process re-reads the keys it remembers.
pub const KEYS_CHANNEL: &str = "vane_keys";

/// Announces a key change when the caller's transaction commits.
pub async fn announce_keys(conn: &mut PgConnection) -> Result<()> {
    sqlx::query("SELECT pg_notify($1, '')").bind(KEYS_CHANNEL).execute(conn).await?;
    Ok(())
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
    sqlx::query(
        "SELECT pg_notify($3, json_build_object('application', a.key, 'environment', e.key, 'audience', v.audience,
                                               'version', 0, 'etag', '')::text)
         FROM applications a, environments e, (VALUES ('server'), ('client')) v(audience)
         WHERE ($1::text IS NULL OR a.id = $1) AND ($2::text IS NULL OR e.id = $2)",
    )
    .bind(application_id)
    .bind(environment_id)
    .bind(CHANNEL)
    .execute(conn)
    .await?;
    Ok(())
}

/// Snapshots kept per stream.
pub const KEEP_PER_STREAM: i64 = 100;

pub fn audience_str(a: Audience) -> &'static str {
    match a {
        Audience::Server => "server",
        Audience::Client => "client",
    }
}

pub use vane_core::content_hash;

#[derive(sqlx::FromRow)]
struct EnvRow {
    key: String,
    max_staleness_s: i64,
    stale_policy: String,
}

#[derive(sqlx::FromRow)]
struct KeyRow {
    id: String,
    hash: String,
    scope: String,
}

/// The engine's view of every non-archived flag of an application in one environment, with
/// whether browsers may see it.
pub async fn model_flags(
    conn: &mut PgConnection,
    application_id: &str,
    environment_id: &str,
) -> Result<Vec<(bool, vane_core::Flag)>> {
    let model = model_cache::load(conn, application_id, environment_id, None).await?;
    Ok(model.flags.iter().map(|f| (f.client_visible, f.model.clone())).collect())
}

/// The engine's view of every segment of an application.
pub async fn model_segments(conn: &mut PgConnection, application_id: &str) -> Result<Vec<vane_core::Segment>> {
    let rows: Vec<crate::routes::segments::SegmentRow> = sqlx::query_as(
        "SELECT id, application_id, key, description, conditions, included, excluded, version, created_at, updated_at
         FROM segments WHERE application_id = $1 ORDER BY key",
    )
    .bind(application_id)
    .fetch_all(&mut *conn)
    .await?;
    rows.iter().map(crate::routes::segments::model).collect()
}

/// Locks both streams of an application × environment until the transaction ends, creating
/// them if needed: writers of one environment queue here, in (server, client) order.
///
/// Returns the transaction's id and the server stream's current version and etag, for
/// [`model_cache::load`].
pub async fn lock_streams(
    conn: &mut PgConnection,
    application_id: &str,
    environment_id: &str,
) -> Result<model_cache::Locked> {
    const LOCK: &str = "SELECT t.audience, t.version, s.etag, pg_current_xact_id()::xid::text
         FROM snapshot_streams t
         LEFT JOIN snapshots s ON s.application_id = t.application_id AND s.environment_id = t.environment_id
                              AND s.audience = t.audience AND s.version = t.version
         WHERE t.application_id = $1 AND t.environment_id = $2
         ORDER BY t.audience DESC FOR UPDATE OF t";
    let mut rows: Vec<(String, i64, Option<String>, String)> =
        sqlx::query_as(LOCK).bind(application_id).bind(environment_id).fetch_all(&mut *conn).await?;
    if rows.len() < 2 {
        sqlx::query(
            "INSERT INTO snapshot_streams (application_id, environment_id, audience)
             VALUES ($1, $2, 'server'), ($1, $2, 'client') ON CONFLICT DO NOTHING",
        )
        .bind(application_id)
        .bind(environment_id)
        .execute(&mut *conn)
        .await?;
        rows = sqlx::query_as(LOCK).bind(application_id).bind(environment_id).fetch_all(&mut *conn).await?;
    }
    let client_version = rows.iter().find(|r| r.0 == "client").map_or(0, |r| r.1);
    let server = rows.into_iter().find(|r| r.0 == "server").ok_or(Error::Internal("stream row missing".into()))?;
    Ok(model_cache::Locked { xid: server.3, version: server.1, etag: server.2, client_version })
}

/// Publishes the next version of both audiences of one application × environment.
pub async fn publish(conn: &mut PgConnection, application_id: &str, environment_id: &str) -> Result<()> {
    let (app_key, env): (String, EnvRow) = {
        let row: Option<(String, String, i64, String)> = sqlx::query_as(
            "SELECT a.key, e.key, e.max_staleness_s, e.stale_policy FROM applications a, environments e
             WHERE a.id = $1 AND e.id = $2",
        )
        .bind(application_id)
        .bind(environment_id)
        .fetch_optional(&mut *conn)
        .await?;
        let (a, key, max_staleness_s, stale_policy) =
            row.ok_or_else(|| Error::NotFound("application or environment not found".into()))?;
        (a, EnvRow { key, max_staleness_s, stale_policy })
    };
    let keys: Vec<KeyRow> = sqlx::query_as(
        "SELECT id, hash, scope FROM api_keys WHERE revoked_at IS NULL
           AND (application_id IS NULL OR application_id = $1)
           AND (environment_id IS NULL OR environment_id = $2)
         ORDER BY id",
    )
    .bind(application_id)
    .bind(environment_id)
    .fetch_all(&mut *conn)
    .await?;
    let locked = lock_streams(conn, application_id, environment_id).await?;
    let model = model_cache::load(conn, application_id, environment_id, Some(&locked)).await?;
    let services = crate::routes::registry::published(conn).await?;
    // Secrets are never published; `client_visible` decides what browsers get.
    let configs: Vec<(bool, vane_core::Config)> = sqlx::query_as::<_, (String, Value, String, i64, String, bool)>(
        "SELECT key, value, value_type, version, description, client_visible FROM configs
         WHERE application_id = $1 AND environment_id = $2 AND NOT secret ORDER BY key",
    )
    .bind(application_id)
    .bind(environment_id)
    .fetch_all(&mut *conn)
    .await?
    .into_iter()
    .filter_map(|(key, value, value_type, version, description, visible)| {
        let value_type = serde_json::from_value(Value::String(value_type)).ok()?;
        Some((
            visible,
            vane_core::Config { key, value, value_type, version: u64::try_from(version).ok()?, description },
        ))
    })
    .collect();
    let settings = EnvironmentSettings {
        max_staleness_s: u64::try_from(env.max_staleness_s).unwrap_or(0),
        stale_policy: if env.stale_policy == "fail_closed" { StalePolicy::FailClosed } else { StalePolicy::ServeStale },
    };
    for audience in [Audience::Server, Audience::Client] {
        let aud = audience_str(audience);
        let current = if audience == Audience::Server { locked.version } else { locked.client_version };
        let version = current + 1;
        let mut snapshot = Snapshot::new(app_key.clone(), env.key.clone(), u64::try_from(version).unwrap_or(0));
        snapshot.audience = audience;
        snapshot.created_at = Utc::now().to_rfc3339_opts(SecondsFormat::Millis, true);
        snapshot.settings = settings.clone();
        if audience == Audience::Server {
            snapshot.configs = configs.iter().map(|(_, c)| c.clone()).collect();
            snapshot.services.clone_from(&services);
            snapshot.keys = keys
                .iter()
                .filter_map(|k| {
                    Some(AcceptedKey { id: k.id.clone(), hash: k.hash.clone(), scope: parse_scope(&k.scope)? })
                })
                .collect();
        } else {
            // Browsers get client-visible flags and configs only, and never a raw targeted key.
            snapshot.configs = configs.iter().filter(|(visible, _)| *visible).map(|(_, c)| c.clone()).collect();
            snapshot.hash_salt.clone_from(&model.salt);
        }
        let body = assemble(&snapshot, &model)?;
        let etag = content_hash(&body);
        if audience == Audience::Server {
            model_cache::published(application_id, environment_id, &model, version, &etag);
        }
        let payload = serde_json::json!({
            "application": app_key, "environment": env.key, "audience": aud, "version": version, "etag": etag
        })
        .to_string();
        // Store, advance the stream, prune and announce in one round trip.
        sqlx::query(
            "WITH stored AS (
                 INSERT INTO snapshots (application_id, environment_id, audience, version, etag, body)
                 VALUES ($1, $2, $3, $4, $5, $6)),
             advanced AS (
                 UPDATE snapshot_streams SET version = $4
                 WHERE application_id = $1 AND environment_id = $2 AND audience = $3),
             pruned AS (
                 DELETE FROM snapshots
                 WHERE application_id = $1 AND environment_id = $2 AND audience = $3 AND version <= $4 - $7)
             SELECT pg_notify($8, $9)",
        )
        .bind(application_id)
        .bind(environment_id)
        .bind(aud)
        .bind(version)
        .bind(&etag)
        .bind(&body)
        .bind(KEEP_PER_STREAM)
        .bind(CHANNEL)
        .bind(payload)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

/// The snapshot's JSON: its own fields, with the stream's cached flag and segment fragments
/// spliced in (server fragments, or client fragments hashed under `snapshot.hash_salt`).
fn assemble(snapshot: &Snapshot, model: &StreamModel) -> Result<String> {
    const HOLE: &str = r#""flags":[],"segments":[]"#;
    let client = snapshot.audience == Audience::Client;
    let frame = serde_json::to_string(snapshot).map_err(|e| Error::Internal(e.to_string()))?;
    let at =
        frame.find(HOLE).ok_or_else(|| Error::Internal("snapshot frame lacks its flags/segments position".into()))?;
    let flags = model.flags.iter().filter(|f| !client || f.client_visible);
    let fragments: usize = model.flags.iter().map(|f| f.json.len() + 1).sum::<usize>()
        + model.segments.iter().map(|s| s.json.len() + 1).sum::<usize>();
    let mut body = String::with_capacity(frame.len() + fragments + fragments / 4);
    body.push_str(&frame[..at]);
    body.push_str(r#""flags":["#);
    for (i, f) in flags.enumerate() {
        if i > 0 {
            body.push(',');
        }
        body.push_str(if client { f.client_json(&snapshot.hash_salt) } else { &f.json });
    }
    body.push_str(r#"],"segments":["#);
    for (i, s) in model.segments.iter().enumerate() {
        if i > 0 {
            body.push(',');
        }
        body.push_str(if client { s.client_json(&snapshot.hash_salt) } else { &s.json });
    }
    body.push(']');
    body.push_str(&frame[at + HOLE.len()..]);
    Ok(body)
}

/// Republishes every environment of one application (in lock order).
pub async fn publish_application(conn: &mut PgConnection, application_id: &str) -> Result<()> {
    let envs: Vec<String> = sqlx::query_scalar("SELECT id FROM environments ORDER BY id").fetch_all(&mut *conn).await?;
    for env in envs {
        publish(conn, application_id, &env).await?;
    }
    Ok(())
}

/// Republishes every application of one environment (in lock order).
pub async fn publish_environment(conn: &mut PgConnection, environment_id: &str) -> Result<()> {
    let apps: Vec<String> = sqlx::query_scalar("SELECT id FROM applications ORDER BY id").fetch_all(&mut *conn).await?;
    for app in apps {
        publish(conn, &app, environment_id).await?;
    }
    Ok(())
}

/// Republishes every stream (key changes affect all of them), in lock order.
pub async fn publish_all(conn: &mut PgConnection) -> Result<()> {
    let pairs: Vec<(String, String)> =
        sqlx::query_as("SELECT a.id, e.id FROM applications a CROSS JOIN environments e ORDER BY a.id, e.id")
            .fetch_all(&mut *conn)
            .await?;
    for (app, env) in pairs {
        publish(conn, &app, &env).await?;
    }
    Ok(())
}

/// Publishes version 1 of every stream that has none yet (after migrations and at start-up).
pub async fn publish_missing(conn: &mut PgConnection) -> Result<()> {
    let pairs: Vec<(String, String)> = sqlx::query_as(
        "SELECT a.id, e.id FROM applications a CROSS JOIN environments e
         WHERE NOT EXISTS (SELECT 1 FROM snapshot_streams s
                           WHERE s.application_id = a.id AND s.environment_id = e.id AND s.version > 0)
         ORDER BY a.id, e.id",
    )
    .fetch_all(&mut *conn)
    .await?;
    for (app, env) in pairs {
        publish(conn, &app, &env).await?;
    }
    Ok(())
}
