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
use crate::store::Fingerprint;
use crate::store::flags::{self, StreamFlag};
use crate::store::segments::{self, SegmentRow};

/// The exact JSON text of one flag or segment as a snapshot carries it, and its xxh3-128: the
/// fragment as `crate::publish` stores it (once per application and hash) and splices it in.
#[derive(Debug)]
pub struct Fragment {
    pub text: Arc<str>,
    pub hash: u128,
}

impl Fragment {
    pub fn new(text: String) -> Fragment {
        let hash = xxhash_rust::xxh3::xxh3_128(text.as_bytes());
        Fragment { text: text.into(), hash }
    }

    fn of<T: serde::Serialize>(value: &T) -> Result<Fragment> {
        Ok(Fragment::new(to_json(value)?))
    }
}

/// A client fragment under the salt it was hashed with.
type Salted = OnceLock<(String, Arc<Fragment>)>;

/// The client fragment under `salt`, computed once (an application's salt does not change; a
/// different one is computed afresh and not kept).
fn salted(cell: &Salted, salt: &str, make: impl Fn() -> Fragment) -> Arc<Fragment> {
    let (kept_salt, kept) = cell.get_or_init(|| (salt.to_owned(), Arc::new(make())));
    if kept_salt == salt { kept.clone() } else { Arc::new(make()) }
}

/// A flag of one environment.
#[derive(Debug)]
pub struct CachedFlag {
    pub id: String,
    fingerprint: String,
    pub client_visible: bool,
    pub model: Flag,
    /// The flag as it appears in server snapshots.
    pub server: Arc<Fragment>,
    /// As in client snapshots, under the application's salt (computed when first needed).
    client: Salted,
}

/// A segment of an application: one entry serves every environment's stream (see
/// [`SEGMENT_POOL`]).
#[derive(Debug)]
pub struct CachedSegment {
    pub id: String,
    application_id: String,
    fingerprint: String,
    pub model: Segment,
    pub server: Arc<Fragment>,
    client: Salted,
}

/// A stream's flags (by key) and segments (by key), current as of the last refresh.
#[derive(Debug)]
pub struct StreamModel {
    pub flags: Vec<Arc<CachedFlag>>,
    pub segments: Vec<Arc<CachedSegment>>,
    /// The transaction (xid) that last read every row of the stream while holding the stream
    /// lock. Within that transaction only its own writes can change the stream's rows, so a
    /// refresh there reads just the rows it wrote.
    verified_in: Option<String>,
}

impl CachedFlag {
    /// The flag's client-snapshot fragment: targeting values replaced by salted hashes.
    pub fn client(&self, salt: &str) -> Arc<Fragment> {
        salted(&self.client, salt, || {
            let mut f = self.model.clone();
            vane_core::hash_flag(&mut f, salt);
            Fragment::new(serde_json::to_string(&f).unwrap_or_default())
        })
    }
}

impl CachedSegment {
    /// A segment as it is stored: built once from its model (a write that has the model at hand
    /// seeds the pool with it instead of reading 100,000 keys back, see [`remember_segment`]).
    fn new(id: String, application_id: String, fingerprint: String, model: Segment) -> Result<CachedSegment> {
        let server = Arc::new(Fragment::of(&model)?);
        Ok(CachedSegment { id, application_id, fingerprint, model, server, client: OnceLock::new() })
    }

    pub fn client(&self, salt: &str) -> Arc<Fragment> {
        salted(&self.client, salt, || {
            let mut s = self.model.clone();
            vane_core::hash_segment(&mut s, salt);
            Fragment::new(serde_json::to_string(&s).unwrap_or_default())
        })
    }
}

/// Segments by id with the fingerprint of the row they were built from, shared by every stream
/// (a segment is the same in every environment of its application, and its client fragment is
/// too: the salt is the application's). Reading and hashing a 100,000-key segment once instead
/// of once per environment is most of a big segment write.
static SEGMENT_POOL: LazyLock<Mutex<HashMap<String, Arc<CachedSegment>>>> = LazyLock::new(Default::default);

/// Segments kept in the pool at most (beyond it, it starts over).
const MAX_POOLED_SEGMENTS: usize = 100_000;

fn pooled(id: &str, fingerprint: &str) -> Option<Arc<CachedSegment>> {
    SEGMENT_POOL.lock().ok()?.get(id).filter(|s| s.fingerprint == fingerprint).cloned()
}

fn pool(segment: Arc<CachedSegment>) {
    if let Ok(mut p) = SEGMENT_POOL.lock() {
        if p.len() >= MAX_POOLED_SEGMENTS {
            p.clear();
        }
        p.insert(segment.id.clone(), segment);
    }
}

/// Seeds the pool with a segment a write has just stored as `fingerprint` (the `xmin:ctid` its
/// `RETURNING` gave), so publishing it does not read it back; returns the pooled entry.
pub fn remember_segment(
    id: &str,
    application_id: &str,
    fingerprint: &str,
    model: Segment,
) -> Result<Arc<CachedSegment>> {
    let segment =
        Arc::new(CachedSegment::new(id.to_owned(), application_id.to_owned(), fingerprint.to_owned(), model)?);
    pool(segment.clone());
    Ok(segment)
}

/// The segments a flag's rules name (`in_segment` / `not_in_segment`).
pub fn segments_of(flag: &Flag) -> impl Iterator<Item = &str> {
    flag.rules
        .iter()
        .flat_map(|r| &r.conditions)
        .filter(|c| matches!(c.operator, vane_core::Operator::InSegment | vane_core::Operator::NotInSegment))
        .flat_map(|c| c.values.iter().filter_map(serde_json::Value::as_str))
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

/// Records that the server snapshot `(version, etag)` of a stream was republished as
/// `(next, next_etag)` with the same flags and segments (only its frame changed): a model this
/// process published the former from stays trusted for the latter.
pub fn republished(application_id: &str, environment_id: &str, was: (i64, &str), next: (i64, &str)) {
    if let Ok(mut m) = STREAMS.lock()
        && let Some(slot) = m.get_mut(&(application_id.to_owned(), environment_id.to_owned()))
        && slot.published.as_ref().is_some_and(|(v, e)| *v == was.0 && e == was.1)
    {
        slot.published = Some((next.0, next.1.to_owned()));
    }
}

/// Forgets every stream of an application (after a flag or segment is deleted: deletions are
/// not visible as written rows).
pub fn forget(application_id: &str) {
    if let Ok(mut m) = STREAMS.lock() {
        m.retain(|(app, _), _| app != application_id);
    }
    if let Ok(mut p) = SEGMENT_POOL.lock() {
        p.retain(|_, s| s.application_id != application_id);
    }
}

/// What the caller holding the stream lock knows: see [`crate::publish::lock_streams`].
#[derive(Debug, Clone)]
pub struct Locked {
    /// The transaction's id.
    pub xid: String,
    /// Each audience's current snapshot, as publishing the next (and trusting a model) needs it.
    pub server: Current,
    pub client: Current,
}

/// A stream's current snapshot: its version and etag, the hash of its content without the
/// version (to skip publishing the same content again), and its fragments' hashes (16 bytes
/// each; those are stored). `None` before the first version; content and parts also for rows
/// from before fragments.
#[derive(Debug, Clone, Default)]
pub struct Current {
    pub version: i64,
    pub etag: Option<String>,
    pub content: Option<Vec<u8>>,
    pub parts: Option<Vec<u8>>,
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
                    .server
                    .etag
                    .as_ref()
                    .is_some_and(|etag| slot.published.as_ref() == Some(&(lock.server.version, etag.clone()))));
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
    let flag_prints = flags::fingerprints(&mut *conn, application_id, environment_id).await?;
    let segment_prints = segments::fingerprints(&mut *conn, application_id, false).await?;
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
    let model = Arc::new(StreamModel { flags, segments, verified_in: locked_in.map(str::to_owned) });
    store(key, model.clone(), verified_at);
    Ok(model)
}

/// A flag read for a stream, ready to publish.
fn cached_flag(f: StreamFlag) -> Result<Arc<CachedFlag>> {
    let model: Flag = serde_json::from_value(serde_json::json!({
        "key": f.key, "type": f.flag_type, "variants": f.variants, "description": f.description,
        "tags": f.tags, "enabled": f.enabled, "off_variant": f.off_variant, "rules": f.rules,
        "default": f.default_serve, "prerequisites": f.prerequisites, "salt": f.salt,
        "version": f.version,
    }))
    .map_err(|e| Error::Internal(format!("stored flag '{}' does not read back: {e}", f.key)))?;
    let server = Arc::new(Fragment::of(&model)?);
    Ok(Arc::new(CachedFlag {
        id: f.id,
        fingerprint: f.fingerprint,
        client_visible: f.client_visible,
        model,
        server,
        client: OnceLock::new(),
    }))
}

/// Reads the given flags' definitions in one environment.
async fn read_flags(
    conn: &mut PgConnection,
    environment_id: &str,
    prints: &[&Fingerprint],
) -> Result<HashMap<String, Arc<CachedFlag>>> {
    if prints.is_empty() {
        return Ok(HashMap::new());
    }
    let ids: Vec<String> = prints.iter().map(|p| p.id.clone()).collect();
    let rows = flags::stream_flags(&mut *conn, environment_id, &ids).await?;
    rows.into_iter().map(|r| Ok((r.id.clone(), cached_flag(r)?))).collect()
}

/// Reads the given segments' definitions.
async fn read_segments(
    conn: &mut PgConnection,
    prints: &[&Fingerprint],
) -> Result<HashMap<String, Arc<CachedSegment>>> {
    let mut out = HashMap::new();
    let mut missing = Vec::new();
    for p in prints {
        match pooled(&p.id, &p.fingerprint) {
            Some(s) => drop(out.insert(p.id.clone(), s)),
            None => missing.push(*p),
        }
    }
    if missing.is_empty() {
        return Ok(out);
    }
    let prints = missing;
    let ids: Vec<String> = prints.iter().map(|p| p.id.clone()).collect();
    let rows: Vec<SegmentRow> = segments::by_ids(&mut *conn, &ids).await?;
    let fingerprints: HashMap<&str, &str> = prints.iter().map(|p| (p.id.as_str(), p.fingerprint.as_str())).collect();
    for row in rows {
        let model = segments::model(&row)?;
        let fingerprint = fingerprints.get(row.id.as_str()).copied().unwrap_or_default().to_owned();
        let segment = Arc::new(CachedSegment::new(row.id.clone(), row.application_id.clone(), fingerprint, model)?);
        pool(segment.clone());
        out.insert(row.id, segment);
    }
    Ok(out)
}

/// Applies the rows the current transaction wrote (their `updated_at` is its start time,
/// `now()`) to `previous`, which was verified under the stream lock. Deleted rows are not seen
/// here: deleting a flag or segment [`forget`]s the application's models.
///
/// Two round trips whatever the size of the stream, and the flag list is patched in place
/// (it is sorted by key): a write to one flag of 5,000 does not rebuild the other 4,999.
async fn own_writes(
    conn: &mut PgConnection,
    application_id: &str,
    environment_id: &str,
    xid: &str,
    previous: &StreamModel,
) -> Result<StreamModel> {
    let written = flags::written_now(&mut *conn, application_id, environment_id).await?;
    let mut cached = previous.flags.clone();
    for w in written {
        let at = cached.binary_search_by(|f| f.model.key.as_str().cmp(&w.key));
        match (at, w.live) {
            (Ok(i), false) => drop(cached.remove(i)),
            (Err(_), false) => {}
            (Ok(i), true) if cached.get(i).is_some_and(|f| f.fingerprint == w.fingerprint) => {}
            (Ok(i), true) => {
                if let Some(slot) = cached.get_mut(i) {
                    *slot = cached_flag(w)?;
                }
            }
            (Err(i), true) => cached.insert(i, cached_flag(w)?),
        }
    }
    let segments_written = segments::fingerprints(&mut *conn, application_id, true).await?;
    let known_segments: HashMap<&str, &Arc<CachedSegment>> =
        previous.segments.iter().map(|s| (s.id.as_str(), s)).collect();
    let changed_segments: Vec<Fingerprint> = segments_written
        .iter()
        .filter(|w| known_segments.get(w.id.as_str()).is_none_or(|s| s.fingerprint != w.fingerprint))
        .cloned()
        .collect();
    let segments = if changed_segments.is_empty() {
        previous.segments.clone()
    } else {
        let fresh = read_segments(conn, &changed_segments.iter().collect::<Vec<_>>()).await?;
        let mut segments: Vec<Arc<CachedSegment>> =
            previous.segments.iter().filter(|s| !fresh.contains_key(&s.id)).cloned().collect();
        segments.extend(fresh.into_values());
        segments.sort_by(|a, b| a.model.key.cmp(&b.model.key));
        segments
    };
    Ok(StreamModel { flags: cached, segments, verified_in: Some(xid.to_owned()) })
}
