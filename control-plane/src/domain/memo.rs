//! Read-side memory for the hot delivery path: API keys and each stream's current
//! `(version, ETag)`, so a conditional snapshot GET answered `304` needs no database round trip.
//!
//! Every entry is stamped with the *epoch* current when its database read began, and is used
//! only while the epoch is unchanged, the change listener is connected, and the entry is younger
//! than [`MAX_AGE`]. There are two epochs, one for keys and one for streams. They move on:
//! * every announcement the listener receives: snapshot versions move the stream epoch, key
//!   announcements (keys created or revoked, applications or environments deleted) the key
//!   epoch — whichever process made the change;
//! * every (re)connection of the listener (both), since announcements may have been missed;
//! * every write this process commits, so a client reads its own writes even before the
//!   announcement comes back: the write says what it touched (`Vane::commit` with
//!   `Touched::Streams` or `Touched::KeysAndStreams`; the batcher moves the stream epoch).
//!
//! An entry read before a change and stored after it carries the old epoch and is never used.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use super::authz::Caller;
use crate::publish::notifier::Heard;

/// Entries are re-read at least this often, even with no announcement (covers rows changed by
/// hand in SQL, which announce nothing).
pub const MAX_AGE: Duration = Duration::from_secs(5);

/// A stream's identity and current published version.
#[derive(Debug, Clone)]
pub struct StreamTag {
    pub application_id: String,
    pub application: String,
    pub environment_id: String,
    pub environment: String,
    pub version: i64,
    pub etag: String,
}

#[derive(Debug)]
struct Entry<T> {
    epoch: u64,
    at: Instant,
    value: T,
}

type StreamKey = (String, String, &'static str);

#[derive(Debug, Default)]
struct Inner {
    epoch: AtomicU64,
    key_epoch: AtomicU64,
    listening: AtomicBool,
    keys: RwLock<HashMap<String, Entry<Caller>>>,
    streams: RwLock<HashMap<StreamKey, Entry<StreamTag>>>,
}

/// What a committed write may have changed of what [`Memo`] remembers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Touched {
    /// Nothing the delivery path remembers (console sessions).
    Nothing,
    /// Published snapshot versions only.
    Streams,
    /// API keys as well (created, revoked, or gone with their application or environment).
    KeysAndStreams,
}

/// Cheap to clone; clones share the memory.
#[derive(Debug, Clone, Default)]
pub struct Memo {
    inner: Arc<Inner>,
}

/// Entries kept at most; beyond this the map is cleared (a flood of distinct keys or streams
/// must not grow memory without bound).
const MAX_ENTRIES: usize = 100_000;

impl Memo {
    /// The stream epoch to stamp on an entry whose database read starts now.
    pub fn epoch(&self) -> u64 {
        self.inner.epoch.load(Ordering::Acquire)
    }

    /// The key epoch to stamp on an entry whose database read starts now.
    pub fn key_epoch(&self) -> u64 {
        self.inner.key_epoch.load(Ordering::Acquire)
    }

    /// Anything may have changed: forget everything read so far.
    pub fn bump(&self) {
        self.bump_streams();
        self.bump_keys();
    }

    /// A snapshot version may have been published.
    pub fn bump_streams(&self) {
        self.inner.epoch.fetch_add(1, Ordering::AcqRel);
    }

    /// A key may have been created or revoked.
    pub fn bump_keys(&self) {
        self.inner.key_epoch.fetch_add(1, Ordering::AcqRel);
    }

    /// The change listener's state; while it is down nothing is served from memory.
    pub fn set_listening(&self, listening: bool) {
        self.bump();
        self.inner.listening.store(listening, Ordering::Release);
        self.bump();
    }

    /// A write this process committed touched `touched`.
    pub fn written(&self, touched: Touched) {
        match touched {
            Touched::Nothing => {}
            Touched::Streams => self.bump_streams(),
            Touched::KeysAndStreams => self.bump(),
        }
    }

    /// What the change listener heard.
    pub fn heard(&self, heard: Heard) {
        match heard {
            // Anything committed while nobody listened is unknown: memory starts over.
            Heard::Connected => self.set_listening(true),
            Heard::Disconnected => self.set_listening(false),
            Heard::Snapshot => self.bump_streams(),
            Heard::Keys => self.bump_keys(),
        }
    }

    fn fresh<T: Clone>(&self, e: &Entry<T>, epoch: u64) -> Option<T> {
        (self.inner.listening.load(Ordering::Acquire) && e.epoch == epoch && e.at.elapsed() < MAX_AGE)
            .then(|| e.value.clone())
    }

    pub fn key(&self, hash: &str) -> Option<Caller> {
        self.inner.keys.read().ok()?.get(hash).and_then(|e| self.fresh(e, self.key_epoch()))
    }

    pub fn put_key(&self, hash: String, caller: Caller, epoch: u64) {
        if let Ok(mut m) = self.inner.keys.write() {
            if m.len() >= MAX_ENTRIES {
                m.clear();
            }
            m.insert(hash, Entry { epoch, at: Instant::now(), value: caller });
        }
    }

    pub fn stream(&self, application: &str, environment: &str, audience: &'static str) -> Option<StreamTag> {
        let m = self.inner.streams.read().ok()?;
        m.get(&(application.to_owned(), environment.to_owned(), audience)).and_then(|e| self.fresh(e, self.epoch()))
    }

    /// Remembers a stream under the keys it was requested by (id or key of each part).
    pub fn put_stream(&self, application: &str, environment: &str, audience: &'static str, tag: StreamTag, epoch: u64) {
        if let Ok(mut m) = self.inner.streams.write() {
            if m.len() >= MAX_ENTRIES {
                m.clear();
            }
            m.insert(
                (application.to_owned(), environment.to_owned(), audience),
                Entry { epoch, at: Instant::now(), value: tag },
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use vane_core::KeyScope;

    fn caller() -> Caller {
        Caller { key_id: "k".into(), scope: KeyScope::Edge, application_id: None, environment_id: None, console: false }
    }

    #[test]
    fn entries_live_only_within_their_epoch_and_while_listening() {
        let memo = Memo::default();
        let e = memo.key_epoch();
        memo.put_key("h".into(), caller(), e);
        assert!(memo.key("h").is_none(), "not listening yet");
        memo.set_listening(true);
        memo.put_key("h".into(), caller(), memo.key_epoch());
        assert!(memo.key("h").is_some());
        memo.bump_streams();
        assert!(memo.key("h").is_some(), "a snapshot version does not touch keys");
        memo.bump_keys();
        assert!(memo.key("h").is_none(), "a key change was announced");
        // Read before a change, stored after it: never served.
        let before = memo.key_epoch();
        memo.bump();
        memo.put_key("h".into(), caller(), before);
        assert!(memo.key("h").is_none());
        memo.put_key("h".into(), caller(), memo.key_epoch());
        memo.set_listening(false);
        assert!(memo.key("h").is_none(), "listener down");
    }
}
