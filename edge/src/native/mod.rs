//! The self-hosted edge (`vane edge`): the same [`crate::pipeline`] and [`crate::cache`] the
//! Worker runs, on a native HTTP server (hyper on tokio), with last known good copies on disk
//! ([`disk`]) and Server-Sent Events pushing new client-snapshot versions to browsers ([`push`]).
//!
//! Unlike a Worker isolate, this process lives as long as it likes, so each stream it holds has
//! two tasks for its whole life instead of per-request background work:
//! * a **watch** loop holding a long-poll (`?wait=VANE_WATCH_S`) on the control plane, answered
//!   the moment a newer version commits — the one upstream subscription every browser's push
//!   stream of that stream fans out from;
//! * a **refresh** loop that confirms a snapshot used by requests once it was last confirmed
//!   `VANE_REFRESH_MS` ago (as the Worker does on requests), re-saves the copy's confirmation
//!   time every minute, and lets go of the stream once it has been idle for 15 minutes.

pub mod disk;
pub mod push;
mod server;
mod upstream;

use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

pub use server::serve;

use crate::cache::{self, Host, Refresh, SavedMeta, Served, Settings, Slot, Streams, Upstream, Work};
use crate::lifecycle::StreamId;
use crate::ratelimit::Limiter;
use crate::streams::Budget;

/// What a self-hosted edge may hold: a process has more room than an isolate's 128 MB.
pub const NATIVE_BUDGET: Budget = Budget { max_streams: 4096, max_bytes: 1 << 30, idle_ms: 15 * 60 * 1000 };

/// How often a copy's confirmation time is re-saved (so a restart knows how old it is).
const RESAVE_MS: i64 = 60_000;

/// `vane edge`'s options besides the [`Settings`] it shares with the Worker.
#[derive(Debug, Clone)]
pub struct Options {
    pub settings: Settings,
    /// Where to listen (`VANE_EDGE_LISTEN`).
    pub listen: std::net::SocketAddr,
    /// Where last known good copies are kept (`VANE_EDGE_DATA_DIR`); `None`: nowhere.
    pub data_dir: Option<PathBuf>,
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

#[derive(Debug)]
struct Shared {
    settings: Settings,
    streams: Streams,
    disk: disk::Disk,
    client: upstream::Client,
    limiter: Mutex<Limiter>,
    push: push::Channels,
}

/// The native host: cheap to clone, shared by every connection and stream task.
#[derive(Debug, Clone)]
pub struct NativeHost(Arc<Shared>);

impl NativeHost {
    pub fn new(options: &Options) -> Result<NativeHost, String> {
        let client = upstream::Client::new(&options.settings.control_plane)?;
        Ok(NativeHost(Arc::new(Shared {
            limiter: Mutex::new(Limiter::new(options.settings.rate_limit_rps)),
            settings: options.settings.clone(),
            streams: Streams::new(NATIVE_BUDGET),
            disk: disk::Disk::new(options.data_dir.clone()),
            client,
            push: push::Channels::default(),
        })))
    }

    pub fn push(&self) -> &push::Channels {
        &self.0.push
    }

    /// Serves every stream with a copy on disk at once, then confirms each with the control
    /// plane in the background (its refresh and watch loops): a restart while the control plane
    /// is away, or slow to answer, serves from the first request without waiting for it.
    pub async fn warm(&self) {
        for key in self.0.disk.streams() {
            if let Some((slot, served)) = cache::restore_saved(self, &key).await {
                // Confirmed (or replaced) now, not only once a request uses it.
                let (host, key2, slot2) = (self.clone(), key.clone(), slot.clone());
                tokio::spawn(async move {
                    cache::refresh(&host, &key2, &slot2, 0).await;
                });
                self.keep_fresh(&key, &slot, &served);
            }
        }
    }

    /// Saves every stream's confirmation time (at shutdown).
    pub async fn save_all(&self) {
        for key in self.0.streams.keys() {
            if let Some(served) = self.0.streams.served(&key) {
                self.save(&key, &served).await;
            }
        }
    }

    async fn watch(self, key: StreamId, slot: Arc<Slot>) {
        while self.0.streams.is_held(&key, &slot) {
            if cache::refresh(&self, &key, &slot, self.0.settings.watch_s).await == Refresh::Failed {
                slot.set_watch_failed_at(now_ms());
                tokio::time::sleep(Duration::from_millis(cache::WATCH_RETRY_MS.unsigned_abs())).await;
            }
        }
    }

    async fn refresh_loop(self, key: StreamId, slot: Arc<Slot>) {
        let tick = Duration::from_millis(self.0.settings.refresh_ms.clamp(50, 1_000).unsigned_abs());
        let mut saved_at = now_ms();
        loop {
            tokio::time::sleep(tick).await;
            if !self.0.streams.is_held(&key, &slot) {
                return;
            }
            let now = now_ms();
            if now - slot.last_used() >= self.0.streams.budget().idle_ms {
                self.0.streams.release(&key, &slot);
                return;
            }
            let Some(served) = slot.current() else { continue };
            // Confirmed again only when requests used it since (an idle stream is confirmed by
            // its long-poll), as the Worker refreshes only on requests.
            if slot.last_used() > served.confirmed_at() && cache::refresh_due(&self.0.settings, &slot, &served, now) {
                cache::refresh(&self, &key, &slot, 0).await;
            }
            if now - saved_at >= RESAVE_MS
                && let Some(served) = slot.current()
            {
                self.save(&key, &served).await;
                saved_at = now;
            }
        }
    }
}

impl Host for NativeHost {
    fn settings(&self) -> &Settings {
        &self.0.settings
    }

    fn streams(&self) -> &Streams {
        &self.0.streams
    }

    fn now_ms(&self) -> i64 {
        now_ms()
    }

    fn log(&self, message: &str) {
        tracing::warn!("{message}");
    }

    async fn fetch(
        &self,
        key: &StreamId,
        etag: Option<&str>,
        wait_s: u64,
        timeout_ms: u64,
    ) -> Result<Upstream, String> {
        self.0.client.fetch(&self.0.settings, key, etag, wait_s, timeout_ms).await
    }

    async fn save(&self, key: &StreamId, served: &Served) {
        if let Err(e) = self.0.disk.save(key, &served.saved_meta(), &served.body).await {
            self.log(&format!("saving the copy of {}/{}: {e}", key.application, key.environment));
        }
    }

    async fn saved(&self, key: &StreamId) -> Option<(String, SavedMeta)> {
        match self.0.disk.load(key).await {
            Ok(copy) => copy,
            Err(e) => {
                self.log(&format!("reading a saved copy: {e}"));
                None
            }
        }
    }

    fn announce(&self, key: &StreamId, served: Option<&Served>) {
        self.0.push.announce(key, served);
    }

    /// Starts the stream's watch and refresh loops if they are not running.
    fn keep_fresh(&self, key: &StreamId, slot: &Arc<Slot>, _served: &Served) {
        if self.0.settings.watch_s > 0
            && let Some(claim) = slot.claim(Work::Watch)
        {
            let (host, key, slot) = (self.clone(), key.clone(), slot.clone());
            tokio::spawn(async move {
                let _claim = claim;
                host.watch(key, slot).await;
            });
        }
        if let Some(claim) = slot.claim(Work::Refresh) {
            let (host, key, slot) = (self.clone(), key.clone(), slot.clone());
            tokio::spawn(async move {
                let _claim = claim;
                host.refresh_loop(key, slot).await;
            });
        }
    }

    fn rate_limit(&self, key: &str, now_ms: i64) -> Result<(), u64> {
        self.0.limiter.lock().unwrap_or_else(PoisonError::into_inner).take(key, now_ms)
    }
}
