//! The streams an edge holds, and how they are kept current — for every host.
//!
//! A stream (application × environment × audience) is loaded on first use: the last known good
//! copy the host saved (KV for the Worker, a file for `vane edge`) first, then the control plane
//! with `If-None-Match`, so a 304 keeps the saved copy and an older version is refused. Every
//! answer of the control plane goes through [`crate::lifecycle::judge`].
//!
//! The host supplies the IO ([`Host`]): control-plane fetches, saving and reading copies, the
//! clock, and how background work is scheduled. Everything else — the slots, the budget, what
//! an upstream answer does to a slot, the cold-start order, the fail-closed retry — is here, so
//! the Worker and the native server cannot drift apart.
//!
//! The types are `Send + Sync`, which costs the single-threaded Worker nothing measurable and lets
//! the native server share one cache between its threads. A request takes no lock: the map of
//! slots and each slot's snapshot are read through `arc-swap` (a thread preempted while holding a
//! lock would stall every other request for an OS time slice — milliseconds of tail latency when
//! the server shares its cores). Writers (a stream added or let go, a new version) are rare; the
//! map is copied on write. No lock is ever held across an `.await`.

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use arc_swap::{ArcSwap, ArcSwapOption};

use serde::{Deserialize, Serialize};
use serde_json::json;
use vane_core::{Audience, CompiledSnapshot};

use crate::lifecycle::{Freshness, StreamId, Verdict, age_s, freshness, judge};
use crate::reply::Reply;
use crate::router::Defaults;
use crate::streams::{self, Budget, Held};

/// Longest a control-plane fetch may take on a request's path (cold start, fail-closed retry).
pub const FETCH_TIMEOUT_MS: u64 = 2_000;
/// Wait after a failed long-poll before holding another.
pub const WATCH_RETRY_MS: i64 = 1_000;

/// What a lock guards stays consistent even if a holder panicked (every critical section is a
/// single read or assignment), so a poisoned lock is used as it is.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The edge's settings, the same names for both hosts (Worker `[vars]`/secrets, or `vane edge`'s
/// flags and environment variables).
#[derive(Debug, Clone)]
pub struct Settings {
    /// `VANE_CONTROL_PLANE_URL`, without a trailing `/`.
    pub control_plane: String,
    /// `VANE_EDGE_KEY`: an `edge` (or admin/read) key the control plane accepts.
    pub edge_key: String,
    /// `VANE_DEFAULT_APPLICATION` / `VANE_DEFAULT_ENVIRONMENT`: the stream OFREP answers from.
    pub defaults: Defaults,
    /// `VANE_REFRESH_MS`: a snapshot last confirmed this long ago is confirmed again.
    pub refresh_ms: i64,
    /// `VANE_WATCH_S`: how long each long-poll waits for a new version (0: no long-poll).
    pub watch_s: u64,
    /// `VANE_RATE_LIMIT_RPS`: requests per key and second (0: unlimited).
    pub rate_limit_rps: u32,
}

impl Settings {
    /// Settings from `lookup` (a name → its value, if set and not empty), with the defaults.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Settings {
        let text = |name: &str| lookup(name).filter(|v| !v.trim().is_empty());
        let number = |name: &str, default: u64| text(name).and_then(|v| v.trim().parse().ok()).unwrap_or(default);
        Settings {
            control_plane: text("VANE_CONTROL_PLANE_URL")
                .unwrap_or_else(|| "http://127.0.0.1:8080".to_owned())
                .trim_end_matches('/')
                .to_owned(),
            edge_key: text("VANE_EDGE_KEY").unwrap_or_default(),
            defaults: Defaults {
                application: text("VANE_DEFAULT_APPLICATION").unwrap_or_else(|| "demo".to_owned()),
                environment: text("VANE_DEFAULT_ENVIRONMENT").unwrap_or_else(|| "production".to_owned()),
            },
            refresh_ms: i64::try_from(number("VANE_REFRESH_MS", 1_000)).unwrap_or(1_000),
            watch_s: number("VANE_WATCH_S", 20).min(60),
            rate_limit_rps: u32::try_from(number("VANE_RATE_LIMIT_RPS", 0)).unwrap_or(0),
        }
    }

    /// `GET /api/v1/snapshots/{app}/{env}?audience=…[&wait=N]` on the control plane.
    pub fn upstream_url(&self, key: &StreamId, wait_s: u64) -> String {
        let mut url = format!(
            "{}/api/v1/snapshots/{}/{}?audience={}",
            self.control_plane,
            key.application,
            key.environment,
            audience_str(key.audience)
        );
        if wait_s > 0 {
            url.push_str(&format!("&wait={wait_s}"));
        }
        url
    }
}

pub fn audience_str(a: Audience) -> &'static str {
    match a {
        Audience::Server => "server",
        Audience::Client => "client",
    }
}

/// A snapshot being served.
#[derive(Debug)]
pub struct Served {
    pub compiled: CompiledSnapshot,
    /// Context-independent parts of bulk answers, serialised once.
    pub fragments: crate::ofrep::Fragments,
    /// The stored bytes, as the control plane sent them.
    pub body: String,
    /// Bare content hash of `body`.
    pub etag: String,
    /// When the control plane last said this is the latest version (ms since the epoch).
    confirmed_at: AtomicI64,
}

impl Served {
    pub fn new(compiled: CompiledSnapshot, body: String, etag: String, confirmed_at_ms: i64) -> Served {
        let fragments = crate::ofrep::Fragments::new(&compiled);
        Served { compiled, fragments, body, etag, confirmed_at: AtomicI64::new(confirmed_at_ms) }
    }

    pub fn version(&self) -> u64 {
        self.compiled.version()
    }

    pub fn confirmed_at(&self) -> i64 {
        self.confirmed_at.load(Ordering::Relaxed)
    }

    pub fn confirm(&self, now_ms: i64) {
        self.confirmed_at.store(now_ms, Ordering::Relaxed);
    }

    /// What a saved copy records besides the body.
    pub fn saved_meta(&self) -> SavedMeta {
        SavedMeta { version: self.version(), etag: self.etag.clone(), confirmed_at_ms: self.confirmed_at() }
    }
}

/// A saved (last known good) copy's metadata.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SavedMeta {
    pub version: u64,
    pub etag: String,
    pub confirmed_at_ms: i64,
}

/// One stream held.
#[derive(Debug, Default)]
pub struct Slot {
    current: ArcSwapOption<Served>,
    /// When a request last used it (streams are let go least recently used first).
    last_used: AtomicI64,
    /// Background work running (see [`Slot::claim`]).
    refreshing: AtomicBool,
    watching: AtomicBool,
    /// When the last conditional GET started (so an unreachable control plane is asked at most
    /// once per `VANE_REFRESH_MS`, not once per request).
    attempted_at: AtomicI64,
    /// When the last long-poll failed (it is restarted no sooner than a second later).
    watch_failed_at: AtomicI64,
    last_error: Mutex<Option<String>>,
}

impl Slot {
    pub fn current(&self) -> Option<Arc<Served>> {
        self.current.load_full()
    }

    fn set(&self, served: Option<Arc<Served>>) {
        self.current.store(served);
    }

    pub fn last_used(&self) -> i64 {
        self.last_used.load(Ordering::Relaxed)
    }

    pub fn attempted_at(&self) -> i64 {
        self.attempted_at.load(Ordering::Relaxed)
    }

    pub fn set_attempted_at(&self, ms: i64) {
        self.attempted_at.store(ms, Ordering::Relaxed);
    }

    pub fn watch_failed_at(&self) -> i64 {
        self.watch_failed_at.load(Ordering::Relaxed)
    }

    pub fn set_watch_failed_at(&self, ms: i64) {
        self.watch_failed_at.store(ms, Ordering::Relaxed);
    }

    pub fn last_error(&self) -> Option<String> {
        lock(&self.last_error).clone()
    }

    /// Estimated memory (see [`streams::footprint`]).
    fn bytes(&self) -> usize {
        streams::footprint(self.current.load().as_ref().map_or(0, |c| c.body.len()))
    }

    /// Records how the last refresh went; `Some(error)` when it is new (the host logs it once).
    fn note(&self, error: Option<String>) -> Option<String> {
        let mut last = lock(&self.last_error);
        let fresh = error.as_ref().filter(|e| last.as_ref() != Some(*e)).cloned();
        *last = error;
        fresh
    }
}

/// Background work a slot has at most one of at a time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Work {
    /// A conditional GET (or the native host's refresh loop).
    Refresh,
    /// A long-poll (or the native host's watch loop).
    Watch,
}

/// The right to run one [`Work`] of a slot, taken with [`Slot::claim`]; dropping it — also when
/// the task holding it is cancelled or never runs — gives it back.
#[derive(Debug)]
pub struct Claim {
    slot: Arc<Slot>,
    work: Work,
}

impl Slot {
    fn running(&self, work: Work) -> &AtomicBool {
        match work {
            Work::Refresh => &self.refreshing,
            Work::Watch => &self.watching,
        }
    }

    /// `None` when `work` is already running for this slot.
    pub fn claim(self: &Arc<Self>, work: Work) -> Option<Claim> {
        // Every request asks; nearly always it is running: a read, not a write, then.
        let running = self.running(work);
        (!running.load(Ordering::Acquire) && !running.swap(true, Ordering::AcqRel))
            .then(|| Claim { slot: self.clone(), work })
    }
}

impl Drop for Claim {
    fn drop(&mut self) {
        self.slot.running(self.work).store(false, Ordering::Release);
    }
}

/// Every stream an edge holds, within a [`Budget`].
#[derive(Debug)]
pub struct Streams {
    slots: ArcSwap<HashMap<StreamId, Arc<Slot>>>,
    /// Serialises writers of `slots` (readers never wait).
    writing: Mutex<()>,
    budget: Budget,
}

impl Streams {
    pub fn new(budget: Budget) -> Streams {
        Streams { slots: ArcSwap::default(), writing: Mutex::new(()), budget }
    }

    /// Changes the map of slots: a copy, changed and swapped in.
    fn update<R>(&self, change: impl FnOnce(&mut HashMap<StreamId, Arc<Slot>>) -> R) -> R {
        let _writer = lock(&self.writing);
        let mut slots = HashMap::clone(&self.slots.load());
        let out = change(&mut slots);
        self.slots.store(Arc::new(slots));
        out
    }

    pub fn budget(&self) -> &Budget {
        &self.budget
    }

    pub fn get(&self, key: &StreamId) -> Option<Arc<Slot>> {
        self.slots.load().get(key).cloned()
    }

    pub fn keys(&self) -> Vec<StreamId> {
        self.slots.load().keys().cloned().collect()
    }

    /// The slot of `key`, made (and room made for it) on first use; marked used at `now` when a
    /// request needs it (`used`; background refreshes do not count, or no stream would ever be
    /// idle).
    pub fn slot(&self, key: &StreamId, used: bool, now: i64) -> Arc<Slot> {
        let found = self.get(key);
        let slot = match found {
            Some(slot) => slot,
            None => {
                self.make_room(None, streams::footprint(0), now);
                let new = Arc::new(Slot::default());
                self.update(|slots| slots.entry(key.clone()).or_insert(new).clone())
            }
        };
        if used || slot.last_used() == 0 {
            slot.last_used.store(now, Ordering::Relaxed);
        }
        slot
    }

    /// Lets go of streams (idle ones, then the least recently used) until those left, plus
    /// `incoming` bytes for `growing` (a held stream about to grow) or a new stream, fit.
    fn make_room(&self, growing: Option<&StreamId>, incoming: usize, now: i64) {
        let held: Vec<Held<StreamId>> = self
            .slots
            .load()
            .iter()
            .filter(|(k, _)| Some(*k) != growing)
            .map(|(k, slot)| Held { key: k.clone(), last_used_ms: slot.last_used(), bytes: slot.bytes() })
            .collect();
        let release = streams::to_release(&held, Some(incoming), now, &self.budget);
        if !release.is_empty() {
            self.update(|slots| {
                for key in &release {
                    slots.remove(key);
                }
            });
        }
    }

    /// Whether `slot` is still the one held for `key` (background work for a stream let go stops).
    pub fn is_held(&self, key: &StreamId, slot: &Arc<Slot>) -> bool {
        self.slots.load().get(key).is_some_and(|held| Arc::ptr_eq(held, slot))
    }

    /// Lets go of `key` if `slot` is still the one held for it.
    pub fn release(&self, key: &StreamId, slot: &Arc<Slot>) {
        if self.is_held(key, slot) {
            self.update(|slots| {
                if slots.get(key).is_some_and(|held| Arc::ptr_eq(held, slot)) {
                    slots.remove(key);
                }
            });
        }
    }

    /// Lets go of both audiences of a stream the control plane no longer has.
    fn release_deleted(&self, key: &StreamId) {
        self.update(|slots| {
            slots.retain(|k, _| !(k.application == key.application && k.environment == key.environment))
        });
    }

    /// The snapshot of `key` if it is held and loaded.
    pub fn served(&self, key: &StreamId) -> Option<Arc<Served>> {
        self.get(key).and_then(|slot| slot.current())
    }

    /// `/health`: every stream held, with its version, age and last error.
    pub fn health(&self, now: i64) -> Reply {
        let mut streams: Vec<serde_json::Value> = self
            .slots
            .load()
            .iter()
            .map(|(key, slot)| {
                let current = slot.current();
                json!({
                    "application": key.application, "environment": key.environment,
                    "audience": audience_str(key.audience),
                    "version": current.as_ref().map(|c| c.version()),
                    "age_s": current.as_ref().map(|c| age_s(c.confirmed_at(), now)),
                    "last_error": slot.last_error(),
                })
            })
            .collect();
        streams.sort_by_key(ToString::to_string);
        Reply::value(200, &json!({"status": "ok", "streams": streams}))
    }

    /// Version and age headers of the default stream (server audience) for answers that did not
    /// come from a snapshot; version 0 and no age before it is loaded.
    pub fn finish_default(&self, reply: Reply, defaults: &Defaults, now: i64) -> Reply {
        let key = StreamId {
            application: defaults.application.clone(),
            environment: defaults.environment.clone(),
            audience: Audience::Server,
        };
        match self.served(&key) {
            Some(c) => reply.finish(c.version(), Some(age_s(c.confirmed_at(), now))),
            None => reply.finish(0, None),
        }
    }
}

/// What the control plane answered.
#[derive(Debug)]
pub enum Upstream {
    NotModified,
    Body {
        body: String,
        /// Bare content hash from the `ETag` header.
        etag: String,
    },
    /// 404: no such application/environment.
    Missing,
}

/// The upstream answer for an HTTP status, or the error to record (`body` is read only for 200).
pub fn upstream_status(status: u16) -> Result<Option<Upstream>, String> {
    match status {
        304 => Ok(Some(Upstream::NotModified)),
        200 => Ok(None),
        404 => Ok(Some(Upstream::Missing)),
        401 | 403 => Err(format!("the control plane refused the edge key ({status}): check VANE_EDGE_KEY")),
        status => Err(format!("the control plane answered {status}")),
    }
}

/// Why a stream cannot answer.
#[derive(Debug)]
pub enum Unavailable {
    /// The control plane says it does not exist.
    Missing(String),
    /// Neither the control plane nor a saved copy has a usable snapshot.
    Down(String),
}

/// How a refresh went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refresh {
    /// A new version was accepted (and saved).
    Replaced,
    /// The control plane confirmed the current one.
    Confirmed,
    /// Unreachable, refused, or rejected (see the slot's last error).
    Failed,
}

/// The IO an edge host provides.
pub trait Host {
    fn settings(&self) -> &Settings;
    fn streams(&self) -> &Streams;
    fn now_ms(&self) -> i64;
    fn log(&self, message: &str);
    /// One conditional GET of `key` (with `If-None-Match: etag`; `wait_s` > 0 makes it a
    /// long-poll), within `timeout_ms`.
    fn fetch(
        &self,
        key: &StreamId,
        etag: Option<&str>,
        wait_s: u64,
        timeout_ms: u64,
    ) -> impl Future<Output = Result<Upstream, String>>;
    /// Keeps `served` as the last known good copy of `key`.
    fn save(&self, key: &StreamId, served: &Served) -> impl Future<Output = ()>;
    /// The last known good copy of `key`, if one was saved.
    fn saved(&self, key: &StreamId) -> impl Future<Output = Option<(String, SavedMeta)>>;
    /// A new version of `key` is being served (`Some`), or the stream was deleted (`None`).
    fn announce(&self, _key: &StreamId, _served: Option<&Served>) {}
    /// Starts the background work a request may owe its stream (see each host).
    fn keep_fresh(&self, key: &StreamId, slot: &Arc<Slot>, served: &Served);
    /// Takes one request of `key`'s allowance at `now_ms`; `Err(seconds)` to wait when over it.
    fn rate_limit(&self, key: &str, now_ms: i64) -> Result<(), u64>;
}

/// Applies an upstream answer to `slot`: `Ok(Some(new))` when the stream changed.
fn apply<H: Host>(host: &H, slot: &Slot, key: &StreamId, upstream: Upstream) -> Result<Option<Arc<Served>>, String> {
    let now = host.now_ms();
    let current = slot.current();
    match upstream {
        Upstream::NotModified => match current {
            Some(c) => {
                c.confirm(now);
                Ok(None)
            }
            None => Err("the control plane answered 304 to a request without a snapshot".to_owned()),
        },
        Upstream::Missing => {
            // Deleted: stop serving it, and let go of both audiences (the next request finds out
            // and answers 404).
            slot.set(None);
            host.streams().release_deleted(key);
            host.announce(key, None);
            Err(format!("the control plane has no stream {}/{}", key.application, key.environment))
        }
        Upstream::Body { body, etag } => {
            let have = current.as_ref().map(|c| (c.version(), c.etag.as_str()));
            match judge(key, have, &body, &etag) {
                Verdict::Confirm => {
                    if let Some(c) = current {
                        c.confirm(now);
                    }
                    Ok(None)
                }
                Verdict::Accept(compiled) => {
                    host.streams().make_room(Some(key), streams::footprint(body.len()), now);
                    let new = Arc::new(Served::new(*compiled, body, etag, now));
                    slot.set(Some(new.clone()));
                    host.announce(key, Some(&new));
                    Ok(Some(new))
                }
                Verdict::Reject(why) => {
                    Err(format!("rejected a snapshot of {}/{}: {why}", key.application, key.environment))
                }
            }
        }
    }
}

/// Records the outcome of a fetch on `slot` (logging a new error once) and saves a new version.
async fn settle<H: Host>(
    host: &H,
    slot: &Slot,
    key: &StreamId,
    outcome: Result<Option<Arc<Served>>, String>,
) -> Refresh {
    match outcome {
        Ok(Some(new)) => {
            slot.note(None);
            host.save(key, &new).await;
            Refresh::Replaced
        }
        Ok(None) => {
            slot.note(None);
            Refresh::Confirmed
        }
        Err(e) => {
            if let Some(fresh) = slot.note(Some(e)) {
                host.log(&fresh);
            }
            Refresh::Failed
        }
    }
}

/// The current snapshot of `key`, loading it on first use (the saved copy, then the control
/// plane). `used`: a request needs it (see [`Streams::slot`]).
pub async fn load<H: Host>(host: &H, key: &StreamId, used: bool) -> Result<(Arc<Slot>, Arc<Served>), Unavailable> {
    let slot = host.streams().slot(key, used, host.now_ms());
    if let Some(current) = slot.current() {
        return Ok((slot, current));
    }
    // Cold: the last known good copy first, so the control plane can answer 304 and an older
    // version from it is refused.
    restore(host, key, &slot).await;
    let etag = slot.current().map(|c| c.etag.clone());
    let fetched = host.fetch(key, etag.as_deref(), 0, FETCH_TIMEOUT_MS).await;
    let outcome = fetched.and_then(|u| {
        if matches!(u, Upstream::Missing) {
            slot.set(None);
        }
        apply(host, &slot, key, u)
    });
    settle(host, &slot, key, outcome).await;
    match slot.current() {
        Some(current) => Ok((slot, current)),
        None => {
            let why = slot.last_error().unwrap_or_else(|| "no snapshot".to_owned());
            host.streams().release(key, &slot);
            if why.contains("has no stream") { Err(Unavailable::Missing(why)) } else { Err(Unavailable::Down(why)) }
        }
    }
}

/// Serves the saved copy of `key` in `slot` if the slot has no snapshot yet and the copy is
/// intact (no control plane involved).
async fn restore<H: Host>(host: &H, key: &StreamId, slot: &Slot) {
    if let Some((body, meta)) = host.saved(key).await
        && slot.current().is_none()
    {
        match judge(key, None, &body, &meta.etag) {
            Verdict::Accept(compiled) => {
                slot.set(Some(Arc::new(Served::new(*compiled, body, meta.etag, meta.confirmed_at_ms))));
            }
            Verdict::Confirm | Verdict::Reject(_) => {
                if let Some(fresh) = slot.note(Some(format!(
                    "the saved copy of {}/{}/{} is unusable",
                    key.application,
                    key.environment,
                    audience_str(key.audience)
                ))) {
                    host.log(&fresh);
                }
            }
        }
    }
}

/// A restart's first step: the saved copy of `key` served at once, without asking the control
/// plane (the caller refreshes it afterwards). `None` when there is no usable copy.
pub async fn restore_saved<H: Host>(host: &H, key: &StreamId) -> Option<(Arc<Slot>, Arc<Served>)> {
    let slot = host.streams().slot(key, false, host.now_ms());
    restore(host, key, &slot).await;
    match slot.current() {
        Some(served) => Some((slot, served)),
        None => {
            host.streams().release(key, &slot);
            None
        }
    }
}

/// One conditional GET (a long-poll when `wait_s` > 0); replaces or confirms the snapshot and
/// saves a new version.
pub async fn refresh<H: Host>(host: &H, key: &StreamId, slot: &Slot, wait_s: u64) -> Refresh {
    if wait_s == 0 {
        slot.set_attempted_at(host.now_ms());
    }
    let etag = slot.current().map(|c| c.etag.clone());
    // A long-poll needs a version to wait past; without one, a plain GET.
    let wait_s = if etag.is_some() { wait_s } else { 0 };
    let timeout = if wait_s > 0 { wait_s * 1000 + FETCH_TIMEOUT_MS } else { FETCH_TIMEOUT_MS };
    let outcome = host.fetch(key, etag.as_deref(), wait_s, timeout).await;
    let applied = outcome.and_then(|u| apply(host, slot, key, u));
    settle(host, slot, key, applied).await
}

/// The stream `key`, loaded, given one synchronous refresh attempt when its environment is
/// `fail_closed` and the snapshot is too old (at most one per refresh interval), and with its
/// background work started.
pub async fn ready<H: Host>(host: &H, key: &StreamId) -> Result<(Arc<Slot>, Arc<Served>), Unavailable> {
    let (slot, mut current) = load(host, key, true).await?;
    let now = host.now_ms();
    if freshness(&current.compiled, current.confirmed_at(), now) == Freshness::Closed
        && now - slot.attempted_at() >= host.settings().refresh_ms
    {
        refresh(host, key, &slot, 0).await;
        current = slot.current().unwrap_or(current);
    }
    host.keep_fresh(key, &slot, &current);
    Ok((slot, current))
}

/// Whether a refresh of `slot` is due at `now`: last confirmed, and last attempted, at least a
/// refresh interval ago.
pub fn refresh_due(settings: &Settings, slot: &Slot, served: &Served, now: i64) -> bool {
    now - served.confirmed_at() >= settings.refresh_ms && now - slot.attempted_at() >= settings.refresh_ms
}

/// Whether a failed long-poll may be held again at `now`.
pub fn watch_due(settings: &Settings, slot: &Slot, now: i64) -> bool {
    settings.watch_s > 0 && now - slot.watch_failed_at() >= WATCH_RETRY_MS
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_come_with_defaults() {
        let s = Settings::from_lookup(|name| match name {
            "VANE_CONTROL_PLANE_URL" => Some("http://cp:8080/".into()),
            "VANE_WATCH_S" => Some("600".into()),
            "VANE_REFRESH_MS" => Some(" ".into()),
            _ => None,
        });
        assert_eq!(s.control_plane, "http://cp:8080");
        assert_eq!((s.watch_s, s.refresh_ms, s.rate_limit_rps), (60, 1_000, 0));
        assert_eq!(s.defaults.application, "demo");
        let key = StreamId { application: "a".into(), environment: "b".into(), audience: Audience::Client };
        assert_eq!(s.upstream_url(&key, 20), "http://cp:8080/api/v1/snapshots/a/b?audience=client&wait=20");
    }

    #[test]
    fn work_is_claimed_once_and_given_back_on_drop() {
        let slot = Arc::new(Slot::default());
        let first = slot.claim(Work::Refresh);
        assert!(first.is_some());
        assert!(slot.claim(Work::Refresh).is_none(), "already running");
        assert!(slot.claim(Work::Watch).is_some(), "the other work is separate");
        drop(first);
        assert!(slot.claim(Work::Refresh).is_some());
    }
}
