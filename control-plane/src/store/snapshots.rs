//! `snapshot_streams` (each stream's current version, and its lock), `snapshots` (each stored
//! version: a frame and its fragments' hashes) and `snapshot_fragments` (flag and segment texts,
//! once per application and content hash) rows, and the announcements that go with them.
//! What is stored is decided by `crate::publish`.

use sqlx::{PgConnection, PgExecutor, PgPool};

use crate::error::Result;

/// Sends `payload` on `channel` when the caller's transaction commits.
pub async fn notify(conn: &mut PgConnection, channel: &str, payload: &str) -> Result<()> {
    // `pg_notify` returns `void`, which has no Rust type: the text cast reads it as ''.
    sqlx::query_scalar!("SELECT pg_notify($1, $2)::text", channel, payload).fetch_one(conn).await?;
    Ok(())
}

/// Announces version 0 (which no snapshot has) of every stream of an application and/or
/// environment, on `channel` when the caller's transaction commits.
pub async fn announce_deleted(
    conn: &mut PgConnection,
    channel: &str,
    application_id: Option<&str>,
    environment_id: Option<&str>,
) -> Result<()> {
    sqlx::query_scalar!(
        "SELECT pg_notify($3, json_build_object('application', a.key, 'environment', e.key, 'audience', v.audience,
                                               'version', 0, 'etag', '')::text)::text
         FROM applications a, environments e, (VALUES ('server'), ('client')) v(audience)
         WHERE ($1::text IS NULL OR a.id = $1) AND ($2::text IS NULL OR e.id = $2)",
        application_id,
        environment_id,
        channel
    )
    .fetch_all(conn)
    .await?;
    Ok(())
}

/// `(version, etag)` of a stream's current snapshot.
pub async fn current(
    conn: impl PgExecutor<'_>,
    application_id: &str,
    environment_id: &str,
    audience: &str,
) -> Result<Option<(i64, String)>> {
    let row = sqlx::query!(
        "SELECT s.version, s.etag FROM snapshot_streams t
         JOIN snapshots s ON s.application_id = t.application_id AND s.environment_id = t.environment_id
                         AND s.audience = t.audience AND s.version = t.version
         WHERE t.application_id = $1 AND t.environment_id = $2 AND t.audience = $3",
        application_id,
        environment_id,
        audience
    )
    .fetch_optional(conn)
    .await?;
    Ok(row.map(|r| (r.version, r.etag)))
}

/// A stream row, locked, with the locking transaction's id.
#[derive(Debug)]
pub struct LockedStream {
    pub audience: String,
    pub version: i64,
    pub xid: String,
}

/// Locks the streams of one application × environment (client before server) until the
/// transaction ends.
pub async fn lock(conn: &mut PgConnection, application_id: &str, environment_id: &str) -> Result<Vec<LockedStream>> {
    Ok(sqlx::query_as!(
        LockedStream,
        r#"SELECT audience, version, pg_current_xact_id()::xid::text AS "xid!" FROM snapshot_streams
           WHERE application_id = $1 AND environment_id = $2 ORDER BY audience DESC FOR UPDATE"#,
        application_id,
        environment_id
    )
    .fetch_all(conn)
    .await?)
}

/// Creates the streams of one application × environment if they are missing.
pub async fn create(conn: &mut PgConnection, application_id: &str, environment_id: &str) -> Result<()> {
    sqlx::query!(
        "INSERT INTO snapshot_streams (application_id, environment_id, audience)
         VALUES ($1, $2, 'server'), ($1, $2, 'client') ON CONFLICT DO NOTHING",
        application_id,
        environment_id
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// What publishing the next version needs of a stored one.
#[derive(Debug)]
pub struct Head {
    pub audience: String,
    pub etag: String,
    pub content: Option<Vec<u8>>,
    pub parts: Option<Vec<u8>>,
}

/// The stored server version `server` and client version `client` of one application ×
/// environment.
pub async fn heads(
    conn: &mut PgConnection,
    application_id: &str,
    environment_id: &str,
    (server, client): (i64, i64),
) -> Result<Vec<Head>> {
    Ok(sqlx::query_as!(
        Head,
        "SELECT audience, etag, content, parts FROM snapshots
         WHERE application_id = $1 AND environment_id = $2
           AND ((audience = 'server' AND version = $3) OR (audience = 'client' AND version = $4))",
        application_id,
        environment_id,
        server,
        client
    )
    .fetch_all(conn)
    .await?)
}

/// What a stream's snapshots say about its application and environment.
#[derive(Debug)]
pub struct Settings {
    pub application: String,
    pub hash_salt: String,
    pub environment: String,
    pub max_staleness_s: i64,
    pub stale_policy: String,
}

pub async fn settings(conn: &mut PgConnection, application_id: &str, environment_id: &str) -> Result<Option<Settings>> {
    Ok(sqlx::query_as!(
        Settings,
        "SELECT a.key AS application, a.hash_salt, e.key AS environment, e.max_staleness_s, e.stale_policy
         FROM applications a, environments e WHERE a.id = $1 AND e.id = $2",
        application_id,
        environment_id
    )
    .fetch_optional(conn)
    .await?)
}

/// A config as snapshots publish it.
#[derive(Debug)]
pub struct PublishedConfig {
    pub key: String,
    pub value: Option<serde_json::Value>,
    pub value_type: String,
    pub version: i64,
    pub description: String,
    pub client_visible: bool,
}

/// The configs of one application × environment that snapshots carry (never secrets), by key.
pub async fn configs(
    conn: &mut PgConnection,
    application_id: &str,
    environment_id: &str,
) -> Result<Vec<PublishedConfig>> {
    Ok(sqlx::query_as!(
        PublishedConfig,
        "SELECT key, value, value_type, version, description, client_visible FROM configs
         WHERE application_id = $1 AND environment_id = $2 AND NOT secret ORDER BY key",
        application_id,
        environment_id
    )
    .fetch_all(conn)
    .await?)
}

/// A new version of one stream.
#[derive(Debug)]
pub struct NewVersion<'a> {
    pub application_id: &'a str,
    pub environment_id: &'a str,
    pub audience: &'a str,
    pub version: i64,
    pub etag: &'a str,
    pub frame: &'a str,
    pub parts: &'a [u8],
    pub flag_parts: i32,
    pub content: &'a [u8],
}

/// Stores a version, advances its stream, prunes versions older than the last `keep` and
/// announces it (`payload` on `channel`), in one round trip.
pub async fn insert(
    conn: &mut PgConnection,
    v: NewVersion<'_>,
    keep: i64,
    (channel, payload): (&str, &str),
) -> Result<()> {
    sqlx::query_scalar!(
        "WITH stored AS (
             INSERT INTO snapshots (application_id, environment_id, audience, version, etag, frame, parts,
                                    flag_parts, content)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)),
         advanced AS (
             UPDATE snapshot_streams SET version = $4
             WHERE application_id = $1 AND environment_id = $2 AND audience = $3),
         pruned AS (
             DELETE FROM snapshots
             WHERE application_id = $1 AND environment_id = $2 AND audience = $3 AND version <= $4 - $10)
         SELECT pg_notify($11, $12)::text",
        v.application_id,
        v.environment_id,
        v.audience,
        v.version,
        v.etag,
        v.frame,
        v.parts,
        v.flag_parts,
        v.content,
        keep,
        channel,
        payload
    )
    .fetch_one(conn)
    .await?;
    Ok(())
}

/// New server versions of several streams (each field one per stream, in the same order).
#[derive(Debug, Default)]
pub struct NewServerVersions {
    pub application_ids: Vec<String>,
    pub environment_ids: Vec<String>,
    pub versions: Vec<i64>,
    pub etags: Vec<String>,
    pub frames: Vec<String>,
    pub parts: Vec<Vec<u8>>,
    pub flag_parts: Vec<i32>,
    pub contents: Vec<Vec<u8>>,
    /// The announcement of each.
    pub payloads: Vec<String>,
}

/// [`insert`] for the server snapshots of several streams at once.
pub async fn insert_server_versions(
    conn: &mut PgConnection,
    n: &NewServerVersions,
    keep: i64,
    channel: &str,
) -> Result<()> {
    sqlx::query_scalar!(
        "WITH n AS (
             SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[], $4::text[], $5::text[], $6::bytea[],
                                  $7::int[], $8::bytea[], $9::text[])
                 AS n(application_id, environment_id, version, etag, frame, parts, flag_parts, content, payload)),
         stored AS (
             INSERT INTO snapshots (application_id, environment_id, audience, version, etag, frame, parts,
                                    flag_parts, content)
             SELECT application_id, environment_id, 'server', version, etag, frame, parts, flag_parts, content
             FROM n),
         advanced AS (
             UPDATE snapshot_streams t SET version = n.version FROM n
             WHERE t.application_id = n.application_id AND t.environment_id = n.environment_id
               AND t.audience = 'server'),
         pruned AS (
             DELETE FROM snapshots s USING n
             WHERE s.application_id = n.application_id AND s.environment_id = n.environment_id
               AND s.audience = 'server' AND s.version <= n.version - $10)
         SELECT pg_notify($11, payload)::text FROM n",
        &n.application_ids,
        &n.environment_ids,
        &n.versions,
        &n.etags,
        &n.frames,
        &n.parts,
        &n.flag_parts,
        &n.contents,
        &n.payloads,
        keep,
        channel
    )
    .fetch_all(conn)
    .await?;
    Ok(())
}

/// A server stream, locked, with its current version.
#[derive(Debug)]
pub struct ServerStream {
    pub application_id: String,
    pub environment_id: String,
    pub version: i64,
}

/// Locks the server streams of an application and/or environment (all when `None`), in lock
/// order.
pub async fn lock_server(
    conn: &mut PgConnection,
    application_id: Option<&str>,
    environment_id: Option<&str>,
) -> Result<Vec<ServerStream>> {
    Ok(sqlx::query_as!(
        ServerStream,
        "SELECT application_id, environment_id, version FROM snapshot_streams
         WHERE audience = 'server' AND ($1::text IS NULL OR application_id = $1)
           AND ($2::text IS NULL OR environment_id = $2)
         ORDER BY application_id, environment_id FOR UPDATE",
        application_id,
        environment_id
    )
    .fetch_all(conn)
    .await?)
}

/// A stream's current server snapshot as stored.
#[derive(Debug, Clone)]
pub struct ServerHead {
    pub application_id: String,
    pub environment_id: String,
    pub application: String,
    pub environment: String,
    pub frame: Option<String>,
    pub parts: Option<Vec<u8>>,
    pub flag_parts: Option<i32>,
    pub content: Option<Vec<u8>>,
    pub etag: String,
}

/// The current server snapshots of an application and/or environment (all when `None`).
pub async fn server_heads(
    conn: &mut PgConnection,
    application_id: Option<&str>,
    environment_id: Option<&str>,
) -> Result<Vec<ServerHead>> {
    Ok(sqlx::query_as!(
        ServerHead,
        "SELECT s.application_id, s.environment_id, a.key AS application, e.key AS environment, s.frame, s.parts,
                s.flag_parts, s.content, s.etag
         FROM snapshot_streams t
         JOIN snapshots s ON s.application_id = t.application_id AND s.environment_id = t.environment_id
                         AND s.audience = t.audience AND s.version = t.version
         JOIN applications a ON a.id = t.application_id JOIN environments e ON e.id = t.environment_id
         WHERE t.audience = 'server' AND ($1::text IS NULL OR t.application_id = $1)
           AND ($2::text IS NULL OR t.environment_id = $2)",
        application_id,
        environment_id
    )
    .fetch_all(conn)
    .await?)
}

/// One stored version: a body (stored before fragments, migration 0008), or a frame with its
/// fragments' hashes (`flag_parts` of them flags).
#[derive(Debug)]
pub struct StoredVersion {
    pub body: Option<String>,
    pub frame: Option<String>,
    pub parts: Option<Vec<u8>>,
    pub flag_parts: Option<i32>,
}

pub async fn stored(
    conn: &mut PgConnection,
    (application_id, environment_id, audience): (&str, &str, &str),
    version: i64,
) -> Result<Option<StoredVersion>> {
    Ok(sqlx::query_as!(
        StoredVersion,
        "SELECT body, frame, parts, flag_parts FROM snapshots
         WHERE application_id = $1 AND environment_id = $2 AND audience = $3 AND version = $4",
        application_id,
        environment_id,
        audience,
        version
    )
    .fetch_optional(conn)
    .await?)
}

/// Marks the fragments of an application with these hashes used now; the hashes found.
pub async fn touch_fragments(
    conn: &mut PgConnection,
    application_id: &str,
    hashes: &[Vec<u8>],
) -> Result<Vec<Vec<u8>>> {
    Ok(sqlx::query_scalar!(
        "UPDATE snapshot_fragments SET touched = now() WHERE application_id = $1 AND hash = ANY($2) RETURNING hash",
        application_id,
        hashes
    )
    .fetch_all(conn)
    .await?)
}

/// Stores fragments (`hashes[i]` is the hash of `texts[i]`), or marks them used when stored.
pub async fn insert_fragments(
    conn: &mut PgConnection,
    application_id: &str,
    hashes: &[&[u8]],
    texts: &[&str],
) -> Result<()> {
    // Borrowed slices (fragments can be megabytes): `as _` lets them stand for the declared
    // `bytea[]`/`text[]`, whose checked Rust types are owned.
    sqlx::query!(
        "INSERT INTO snapshot_fragments (application_id, hash, body)
         SELECT $1, h, b FROM unnest($2::bytea[], $3::text[]) AS n(h, b)
         ON CONFLICT (application_id, hash) DO UPDATE SET touched = now()",
        application_id,
        hashes as _,
        texts as _
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// A fragment's text.
#[derive(Debug)]
pub struct FragmentText {
    pub application_id: String,
    pub hash: Vec<u8>,
    pub body: String,
}

/// The texts of fragments named by application (`application_ids[i]`) and hash (`hashes[i]`).
pub async fn fragment_texts(
    conn: &mut PgConnection,
    application_ids: &[String],
    hashes: &[Vec<u8>],
) -> Result<Vec<FragmentText>> {
    Ok(sqlx::query_as!(
        FragmentText,
        "SELECT f.application_id, f.hash, f.body FROM snapshot_fragments f
         JOIN unnest($1::text[], $2::bytea[]) AS w(application_id, hash)
           ON f.application_id = w.application_id AND f.hash = w.hash",
        application_ids,
        hashes
    )
    .fetch_all(conn)
    .await?)
}

/// Applications with fragments untouched for ten minutes (candidates for collection).
pub async fn applications_with_old_fragments(pool: &PgPool) -> Result<Vec<String>> {
    Ok(sqlx::query_scalar!(
        "SELECT DISTINCT application_id FROM snapshot_fragments WHERE touched < now() - interval '10 minutes'"
    )
    .fetch_all(pool)
    .await?)
}

/// Deletes an application's fragments untouched for ten minutes that no kept snapshot uses;
/// how many went.
pub async fn delete_unused_fragments(pool: &PgPool, application_id: &str) -> Result<u64> {
    Ok(sqlx::query!(
        "DELETE FROM snapshot_fragments f
         WHERE f.application_id = $1 AND f.touched < now() - interval '10 minutes'
           AND f.hash NOT IN (
               SELECT substring(s.parts FROM g * 16 + 1 FOR 16)
               FROM snapshots s, generate_series(0, length(s.parts) / 16 - 1) g
               WHERE s.application_id = $1 AND s.parts IS NOT NULL)",
        application_id
    )
    .execute(pool)
    .await?
    .rows_affected())
}

/// Every application × environment, in lock order; only those without a published version when
/// `missing_only`.
pub async fn pairs(conn: &mut PgConnection, missing_only: bool) -> Result<Vec<(String, String)>> {
    let rows = sqlx::query!(
        r#"SELECT a.id AS "application_id!", e.id AS "environment_id!" FROM applications a CROSS JOIN environments e
           WHERE NOT ($1 AND EXISTS (SELECT 1 FROM snapshot_streams s
                                     WHERE s.application_id = a.id AND s.environment_id = e.id AND s.version > 0))
           ORDER BY a.id, e.id"#,
        missing_only
    )
    .fetch_all(conn)
    .await?;
    Ok(rows.into_iter().map(|r| (r.application_id, r.environment_id)).collect())
}
