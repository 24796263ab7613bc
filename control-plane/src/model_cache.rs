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
use std::time::{Duration, Instant};

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
    /// The transaction (xid) that last read every row of the stream while holding the stream
    /// lock. Within that transaction only its own writes can change the stream's rows, so a
    /// refresh there reads just the rows it wrote.
    verified_in: Option<String>,
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

/// A stream's cached model, and what is known about it.
#[derive(Debug, Clone)]
struct Slot {
    model: Arc<StreamModel>,
    /// When every row was last compared with the database.
    verified_at: Instant,
    /// `(version, etag)` of the server snapshot this process published from `model`.
    published: Option<(i64, String)>,
}

static STREAMS: LazyLock<Mutex<HashMap<StreamKey, Slot>>> = LazyLock::new(Default::default);

/// How long a model may be trusted on the strength of "the stream is still at the version this
/// process published from it" before every row is compared again (rows edited by hand in SQL
/// publish nothing).
pub const REVERIFY_AFTER: Duration = Duration::from_secs(5);

fn cached(key: &StreamKey) -> Option<Slot> {
    STREAMS.lock().ok().and_then(|m| m.get(key).cloned())
}

fn store(key: StreamKey, model: Arc<StreamModel>, verified_at: Instant) {
    if let Ok(mut m) = STREAMS.lock() {
        m.insert(key, Slot { model, verified_at, published: None });
    }
}

/// Records that the server snapshot `(version, etag)` was built from `model`.
pub fn published(application_id: &str, environment_id: &str, model: &Arc<StreamModel>, version: i64, etag: &str) {
    if let Ok(mut m) = STREAMS.lock()
        && let Some(slot) = m.get_mut(&(application_id.to_owned(), environment_id.to_owned()))
        && Arc::ptr_eq(&slot.model, model)
    {
        slot.published = Some((version, etag.to_owned()));
    }
}

/// Forgets every stream of an application (after a flag or segment is deleted: deletions are
/// not visible as written rows).
pub fn forget(application_id: &str) {
    if let Ok(mut m) = STREAMS.lock() {
        m.retain(|(app, _), _| app != application_id);
    }
}

/// What the caller holding the stream lock knows: see [`crate::publish::lock_streams`].
#[derive(Debug, Clone)]
pub struct Locked {
    /// The transaction's id.
    pub xid: String,
    /// The server stream's current version and its snapshot's etag.
    pub version: i64,
    pub etag: Option<String>,
    /// The client stream's current version.
    pub client_version: i64,
}

#[derive(sqlx::FromRow)]
struct Fingerprint {
    id: String,
    key: String,
    fingerprint: String,
}

/// SQL for a flag's fingerprint in one environment (`f` = flags, `s` = flag_states).
macro_rules! flag_fingerprint {
    () => {
        "f.xmin::text || ':' || f.ctid::text || '/' || s.xmin::text || ':' || s.ctid::text"
    };
}

macro_rules! segment_fingerprint {
    () => {
        "xmin::text || ':' || ctid::text"
    };
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
///
/// `locked_in` is the caller's transaction id when it holds the stream lock
/// ([`crate::publish::lock_streams`]); `None` otherwise.
pub async fn load(
    conn: &mut PgConnection,
    application_id: &str,
    environment_id: &str,
    locked: Option<&Locked>,
) -> Result<Arc<StreamModel>> {
    let key = (application_id.to_owned(), environment_id.to_owned());
    let slot = cached(&key);
    if let (Some(lock), Some(slot)) = (locked, &slot) {
        // Verified earlier in this transaction, or the stream is still exactly what this process
        // published from the model: only this transaction's own writes can differ.
        let trusted = slot.model.verified_in.as_deref() == Some(lock.xid.as_str())
            || (slot.verified_at.elapsed() < REVERIFY_AFTER
                && lock
                    .etag
                    .as_ref()
                    .is_some_and(|etag| slot.published.as_ref() == Some(&(lock.version, etag.clone()))));
        tracing::debug!(application_id, environment_id, trusted, "stream model");
        if trusted {
            let model = Arc::new(own_writes(conn, application_id, environment_id, &lock.xid, &slot.model).await?);
            if let Ok(mut m) = STREAMS.lock() {
                m.insert(key, Slot { model: model.clone(), verified_at: slot.verified_at, published: None });
            }
            return Ok(model);
        }
    }
    tracing::debug!(application_id, environment_id, "stream model: reading every row");
    let previous = slot.map(|s| s.model);
    let locked_in = locked.map(|l| l.xid.as_str());
    let verified_at = Instant::now();
    let flag_prints: Vec<Fingerprint> = sqlx::query_as(concat!(
        "SELECT f.id, f.key, ",
        flag_fingerprint!(),
        " AS fingerprint
         FROM flags f JOIN flag_states s ON s.flag_id = f.id
         WHERE f.application_id = $1 AND s.environment_id = $2 AND NOT f.archived"
    ))
    .bind(application_id)
    .bind(environment_id)
    .fetch_all(&mut *conn)
    .await?;
    let segment_prints: Vec<Fingerprint> = sqlx::query_as(concat!(
        "SELECT id, key, ",
        segment_fingerprint!(),
        " AS fingerprint FROM segments WHERE application_id = $1"
    ))
    .bind(application_id)
    .fetch_all(&mut *conn)
    .await?;
    let (mut flag_prints, mut segment_prints) = (flag_prints, segment_prints);
    flag_prints.sort_by(|a, b| a.key.cmp(&b.key));
    segment_prints.sort_by(|a, b| a.key.cmp(&b.key));

    let old_flags: HashMap<&str, &Arc<CachedFlag>> =
        previous.iter().flat_map(|p| p.flags.iter()).map(|f| (f.id.as_str(), f)).collect();
    let old_segments: HashMap<&str, &Arc<CachedSegment>> =
        previous.iter().flat_map(|p| p.segments.iter()).map(|s| (s.id.as_str(), s)).collect();
    let reuse_flag = |p: &Fingerprint| old_flags.get(p.id.as_str()).filter(|f| f.fingerprint == p.fingerprint);
    let reuse_segment = |p: &Fingerprint| old_segments.get(p.id.as_str()).filter(|s| s.fingerprint == p.fingerprint);

    let stale_flags: Vec<&Fingerprint> = flag_prints.iter().filter(|p| reuse_flag(p).is_none()).collect();
    let fresh_flags = read_flags(conn, environment_id, &stale_flags).await?;
    let stale_segments: Vec<&Fingerprint> = segment_prints.iter().filter(|p| reuse_segment(p).is_none()).collect();
    let fresh_segments = read_segments(conn, &stale_segments).await?;

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
    if let (true, Some(p)) = (unchanged, &previous)
        && (locked_in.is_none() || p.verified_in.as_deref() == locked_in)
    {
        store(key, p.clone(), verified_at);
        return Ok(p.clone());
    }
    let salt = previous.as_ref().map_or_else(|| ulid::Ulid::new().to_string(), |p| p.salt.clone());
    let model = Arc::new(StreamModel { salt, flags, segments, verified_in: locked_in.map(str::to_owned) });
    store(key, model.clone(), verified_at);
    Ok(model)
}

/// Reads the given flags' definitions in one environment.
async fn read_flags(
    conn: &mut PgConnection,
    environment_id: &str,
    prints: &[&Fingerprint],
) -> Result<HashMap<String, Arc<CachedFlag>>> {
    let mut out = HashMap::new();
    if prints.is_empty() {
        return Ok(out);
    }
    let ids: Vec<&str> = prints.iter().map(|p| p.id.as_str()).collect();
    let rows: Vec<FlagRow> = sqlx::query_as(
        "SELECT id, application_id, key, type, variants, description, tags, client_visible, archived, version,
                created_at, updated_at
         FROM flags WHERE id = ANY($1)",
    )
    .bind(&ids)
    .fetch_all(&mut *conn)
    .await?;
    let states: HashMap<String, StateRow> = sqlx::query_as::<_, StateOf>(
        "SELECT s.flag_id, s.environment_id, e.key AS environment, s.enabled, s.off_variant, s.rules,
                s.default_serve, s.prerequisites, s.salt, s.version, s.updated_at
         FROM flag_states s JOIN environments e ON e.id = s.environment_id
         WHERE s.flag_id = ANY($1) AND s.environment_id = $2",
    )
    .bind(&ids)
    .bind(environment_id)
    .fetch_all(&mut *conn)
    .await?
    .into_iter()
    .map(|r| (r.flag_id, r.state))
    .collect();
    let fingerprints: HashMap<&str, &str> = prints.iter().map(|p| (p.id.as_str(), p.fingerprint.as_str())).collect();
    for row in rows {
        let Some(state) = states.get(&row.id) else { continue };
        let model = crate::routes::flags::model(&row, state)?;
        let json = to_json(&model)?;
        let fingerprint = fingerprints.get(row.id.as_str()).copied().unwrap_or_default().to_owned();
        out.insert(
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
    Ok(out)
}

/// Reads the given segments' definitions.
async fn read_segments(
    conn: &mut PgConnection,
    prints: &[&Fingerprint],
) -> Result<HashMap<String, Arc<CachedSegment>>> {
    let mut out = HashMap::new();
    if prints.is_empty() {
        return Ok(out);
    }
    let ids: Vec<&str> = prints.iter().map(|p| p.id.as_str()).collect();
    let rows: Vec<SegmentRow> = sqlx::query_as(
        "SELECT id, application_id, key, description, conditions, included, excluded, version, created_at,
                updated_at
         FROM segments WHERE id = ANY($1)",
    )
    .bind(&ids)
    .fetch_all(&mut *conn)
    .await?;
    let fingerprints: HashMap<&str, &str> = prints.iter().map(|p| (p.id.as_str(), p.fingerprint.as_str())).collect();
    for row in rows {
        let model = crate::routes::segments::model(&row)?;
        let json = to_json(&model)?;
        let fingerprint = fingerprints.get(row.id.as_str()).copied().unwrap_or_default().to_owned();
        out.insert(
            row.id.clone(),
            Arc::new(CachedSegment { id: row.id, fingerprint, model, json, client_json: OnceLock::new() }),
        );
    }
    Ok(out)
}

#[derive(sqlx::FromRow)]
struct Written {
    id: String,
    key: String,
    fingerprint: String,
    live: bool,
}

/// Applies the rows the current transaction wrote (their `updated_at` is its start time,
/// `now()`) to `previous`, which was verified under the stream lock. Deleted rows are not seen
/// here: deleting a flag or segment [`forget`]s the application's models.
async fn own_writes(
    conn: &mut PgConnection,
    application_id: &str,
    environment_id: &str,
    xid: &str,
    previous: &StreamModel,
) -> Result<StreamModel> {
    let flags_written: Vec<Written> = sqlx::query_as(concat!(
        "SELECT f.id, f.key, ",
        flag_fingerprint!(),
        " AS fingerprint, NOT f.archived AS live
         FROM flag_states s JOIN flags f ON f.id = s.flag_id
         WHERE s.environment_id = $2 AND s.updated_at = now() AND f.application_id = $1
         UNION
         SELECT f.id, f.key, ",
        flag_fingerprint!(),
        " AS fingerprint, NOT f.archived AS live
         FROM flags f JOIN flag_states s ON s.flag_id = f.id AND s.environment_id = $2
         WHERE f.application_id = $1 AND f.updated_at = now()"
    ))
    .bind(application_id)
    .bind(environment_id)
    .fetch_all(&mut *conn)
    .await?;
    let segments_written: Vec<Written> = sqlx::query_as(concat!(
        "SELECT id, key, ",
        segment_fingerprint!(),
        " AS fingerprint, true AS live FROM segments WHERE application_id = $1 AND updated_at = now()"
    ))
    .bind(application_id)
    .fetch_all(&mut *conn)
    .await?;
    let to_print =
        |w: &Written| Fingerprint { id: w.id.clone(), key: w.key.clone(), fingerprint: w.fingerprint.clone() };
    let known_flags: HashMap<&str, &Arc<CachedFlag>> = previous.flags.iter().map(|f| (f.id.as_str(), f)).collect();
    let changed_flags: Vec<Fingerprint> = flags_written
        .iter()
        .filter(|w| w.live && known_flags.get(w.id.as_str()).is_none_or(|f| f.fingerprint != w.fingerprint))
        .map(to_print)
        .collect();
    let fresh = read_flags(conn, environment_id, &changed_flags.iter().collect::<Vec<_>>()).await?;
    let archived: std::collections::HashSet<&str> =
        flags_written.iter().filter(|w| !w.live).map(|w| w.id.as_str()).collect();
    let mut flags: Vec<Arc<CachedFlag>> = previous
        .flags
        .iter()
        .filter(|f| !archived.contains(f.id.as_str()) && !fresh.contains_key(&f.id))
        .cloned()
        .collect();
    flags.extend(fresh.into_values());
    flags.sort_by(|a, b| a.model.key.cmp(&b.model.key));

    let known_segments: HashMap<&str, &Arc<CachedSegment>> =
        previous.segments.iter().map(|s| (s.id.as_str(), s)).collect();
    let changed_segments: Vec<Fingerprint> = segments_written
        .iter()
        .filter(|w| known_segments.get(w.id.as_str()).is_none_or(|s| s.fingerprint != w.fingerprint))
        .map(to_print)
        .collect();
    let fresh = read_segments(conn, &changed_segments.iter().collect::<Vec<_>>()).await?;
    let mut segments: Vec<Arc<CachedSegment>> =
        previous.segments.iter().filter(|s| !fresh.contains_key(&s.id)).cloned().collect();
    segments.extend(fresh.into_values());
    segments.sort_by(|a, b| a.model.key.cmp(&b.model.key));
    Ok(StreamModel { salt: previous.salt.clone(), flags, segments, verified_in: Some(xid.to_owned()) })
}
