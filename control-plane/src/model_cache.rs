//! The engine model of each stream's flags and segments, kept in memory between writes.
//!
//! Publishing and validating a write both need every flag of an environment. Reading and
//! decoding 1,000 JSONB definitions, and serialising (and for browsers, salting and hashing) them
//! again, on every write made a write cost ~70 ms. Instead each flag and segment is cached with
//! its JSON fragments, under a fingerprint of the exact row versions it was read from: PostgreSQL's
//! `xmin` (the transaction that wrote the row version) and `ctid` (where that version lives; a
//! second write in the same transaction makes a new version elsewhere). A refresh lists
//! `(id, fingerprint)` for the stream — one small query — and reads back only what changed,
//! whichever process changed it.
//!
//! This makes the cache safe without any invalidation protocol: rows written by a transaction
//! that rolls back keep their old version, so an entry cached from inside that transaction can
//! never match again; rows written by another process or by hand are new versions. (A table
//! rewrite moves rows: that only costs one full reload.)
//! The cache is process-wide (entries are keyed by ULIDs, so several databases in one process —
//! the test suite — cannot mistake each other's rows), and each refresh keeps only the stream's
//! current entries.

use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex, OnceLock};

use sqlx::PgConnection;
use vane_core::{Flag, Segment};

use crate::error::{Error, Result};
use crate::routes::flags::{FlagRow, StateRow};
use crate::routes::segments::SegmentRow;

/// A flag of one environment.
#[derive(Debug)]
pub struct CachedFlag {
    pub id: String,
    fingerprint: String,
    pub client_visible: bool,
    pub model: Flag,
    /// The flag as it appears in server snapshots.
    pub json: String,
    /// As in client snapshots, under the stream's salt (computed when first needed).
    client_json: OnceLock<String>,
}

/// A segment of the stream's application.
#[derive(Debug)]
pub struct CachedSegment {
    pub id: String,
    fingerprint: String,
    pub model: Segment,
    pub json: String,
    client_json: OnceLock<String>,
}

/// A stream's flags (by key) and segments (by key), current as of the last refresh.
#[derive(Debug)]
pub struct StreamModel {
    /// Salt of the hashed targeting in this process's client snapshots of the stream. Stable
    /// for the life of the process, so hashed fragments can be reused.
    pub salt: String,
    pub flags: Vec<Arc<CachedFlag>>,
    pub segments: Vec<Arc<CachedSegment>>,
}

impl CachedFlag {
    /// The flag's client-snapshot JSON: targeting values replaced by salted hashes.
    pub fn client_json(&self, salt: &str) -> &str {
        self.client_json.get_or_init(|| {
            let mut f = self.model.clone();
            vane_core::hash_flag(&mut f, salt);
            serde_json::to_string(&f).unwrap_or_default()
        })
    }
}

impl CachedSegment {
    pub fn client_json(&self, salt: &str) -> &str {
        self.client_json.get_or_init(|| {
            let mut s = self.model.clone();
            vane_core::hash_segment(&mut s, salt);
            serde_json::to_string(&s).unwrap_or_default()
        })
    }
}

type StreamKey = (String, String);

static STREAMS: LazyLock<Mutex<HashMap<StreamKey, Arc<StreamModel>>>> = LazyLock::new(Default::default);

fn cached(key: &StreamKey) -> Option<Arc<StreamModel>> {
    STREAMS.lock().ok().and_then(|m| m.get(key).cloned())
}

#[derive(sqlx::FromRow)]
struct Fingerprint {
    id: String,
    fingerprint: String,
}

#[derive(sqlx::FromRow)]
struct StateOf {
    flag_id: String,
    #[sqlx(flatten)]
    state: StateRow,
}

fn to_json<T: serde::Serialize>(v: &T) -> Result<String> {
    serde_json::to_string(v).map_err(|e| Error::Internal(e.to_string()))
}

/// The stream's current flags and segments as the calling transaction sees them.
pub async fn load(conn: &mut PgConnection, application_id: &str, environment_id: &str) -> Result<Arc<StreamModel>> {
    let key = (application_id.to_owned(), environment_id.to_owned());
    let previous = cached(&key);
    let flag_prints: Vec<Fingerprint> = sqlx::query_as(
        "SELECT f.id, f.xmin::text || f.ctid::text || '/' || s.xmin::text || s.ctid::text AS fingerprint
         FROM flags f JOIN flag_states s ON s.flag_id = f.id
         WHERE f.application_id = $1 AND s.environment_id = $2 AND NOT f.archived ORDER BY f.key",
    )
    .bind(application_id)
    .bind(environment_id)
    .fetch_all(&mut *conn)
    .await?;
    let segment_prints: Vec<Fingerprint> = sqlx::query_as(
        "SELECT id, xmin::text || ctid::text AS fingerprint FROM segments WHERE application_id = $1 ORDER BY key",
    )
    .bind(application_id)
    .fetch_all(&mut *conn)
    .await?;

    let old_flags: HashMap<&str, &Arc<CachedFlag>> =
        previous.iter().flat_map(|p| p.flags.iter()).map(|f| (f.id.as_str(), f)).collect();
    let old_segments: HashMap<&str, &Arc<CachedSegment>> =
        previous.iter().flat_map(|p| p.segments.iter()).map(|s| (s.id.as_str(), s)).collect();
    let reuse_flag = |p: &Fingerprint| old_flags.get(p.id.as_str()).filter(|f| f.fingerprint == p.fingerprint);
    let reuse_segment = |p: &Fingerprint| old_segments.get(p.id.as_str()).filter(|s| s.fingerprint == p.fingerprint);

    let stale_flags: Vec<&str> =
        flag_prints.iter().filter(|p| reuse_flag(p).is_none()).map(|p| p.id.as_str()).collect();
    let mut fresh_flags: HashMap<String, Arc<CachedFlag>> = HashMap::new();
    if !stale_flags.is_empty() {
        let rows: Vec<FlagRow> = sqlx::query_as(
            "SELECT id, application_id, key, type, variants, description, tags, client_visible, archived, version,
                    created_at, updated_at
             FROM flags WHERE id = ANY($1)",
        )
        .bind(&stale_flags)
        .fetch_all(&mut *conn)
        .await?;
        let states: HashMap<String, StateRow> = sqlx::query_as::<_, StateOf>(
            "SELECT s.flag_id, s.environment_id, e.key AS environment, s.enabled, s.off_variant, s.rules,
                    s.default_serve, s.prerequisites, s.salt, s.version, s.updated_at
             FROM flag_states s JOIN environments e ON e.id = s.environment_id
             WHERE s.flag_id = ANY($1) AND s.environment_id = $2",
        )
        .bind(&stale_flags)
        .bind(environment_id)
        .fetch_all(&mut *conn)
        .await?
        .into_iter()
        .map(|r| (r.flag_id, r.state))
        .collect();
        let prints: HashMap<&str, &str> = flag_prints.iter().map(|p| (p.id.as_str(), p.fingerprint.as_str())).collect();
        for row in rows {
            let Some(state) = states.get(&row.id) else { continue };
            let model = crate::routes::flags::model(&row, state)?;
            let json = to_json(&model)?;
            let fingerprint = prints.get(row.id.as_str()).copied().unwrap_or_default().to_owned();
            fresh_flags.insert(
                row.id.clone(),
                Arc::new(CachedFlag {
                    id: row.id,
                    fingerprint,
                    client_visible: row.client_visible,
                    model,
                    json,
                    client_json: OnceLock::new(),
                }),
            );
        }
    }

    let stale_segments: Vec<&str> =
        segment_prints.iter().filter(|p| reuse_segment(p).is_none()).map(|p| p.id.as_str()).collect();
    let mut fresh_segments: HashMap<String, Arc<CachedSegment>> = HashMap::new();
    if !stale_segments.is_empty() {
        let rows: Vec<SegmentRow> = sqlx::query_as(
            "SELECT id, application_id, key, description, conditions, included, excluded, version, created_at,
                    updated_at
             FROM segments WHERE id = ANY($1)",
        )
        .bind(&stale_segments)
        .fetch_all(&mut *conn)
        .await?;
        let prints: HashMap<&str, &str> =
            segment_prints.iter().map(|p| (p.id.as_str(), p.fingerprint.as_str())).collect();
        for row in rows {
            let model = crate::routes::segments::model(&row)?;
            let json = to_json(&model)?;
            let fingerprint = prints.get(row.id.as_str()).copied().unwrap_or_default().to_owned();
            fresh_segments.insert(
                row.id.clone(),
                Arc::new(CachedSegment { id: row.id, fingerprint, model, json, client_json: OnceLock::new() }),
            );
        }
    }

    // A row can change between the fingerprint query and the read (another transaction
    // committing in between under READ COMMITTED); its stored fingerprint is then the older
    // one, so the next refresh reads it again. Rows that vanished in between are skipped.
    let flags: Vec<Arc<CachedFlag>> = flag_prints
        .iter()
        .filter_map(|p| reuse_flag(p).map(|f| (*f).clone()).or_else(|| fresh_flags.get(&p.id).cloned()))
        .collect();
    let segments: Vec<Arc<CachedSegment>> = segment_prints
        .iter()
        .filter_map(|p| reuse_segment(p).map(|s| (*s).clone()).or_else(|| fresh_segments.get(&p.id).cloned()))
        .collect();
    let unchanged = previous.as_ref().is_some_and(|p| {
        p.flags.len() == flags.len()
            && p.segments.len() == segments.len()
            && p.flags.iter().zip(&flags).all(|(a, b)| Arc::ptr_eq(a, b))
            && p.segments.iter().zip(&segments).all(|(a, b)| Arc::ptr_eq(a, b))
    });
    if let (true, Some(p)) = (unchanged, &previous) {
        return Ok(p.clone());
    }
    let salt = previous.as_ref().map_or_else(|| ulid::Ulid::new().to_string(), |p| p.salt.clone());
    let model = Arc::new(StreamModel { salt, flags, segments });
    if let Ok(mut m) = STREAMS.lock() {
        m.insert(key, model.clone());
    }
    Ok(model)
}
