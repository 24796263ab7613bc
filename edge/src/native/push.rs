//! Push to browsers: `GET /api/v1/snapshots/{app}/{env}/events?audience=client` as Server-Sent
//! Events, in the control plane's format (`event: snapshot`, `id:` the version, data
//! `{application, environment, audience, version, etag}`; `event: deleted` when the stream goes).
//!
//! Every subscriber of a stream reads one `tokio::sync::watch` channel, written when the stream's
//! single upstream long-poll brings a new version: one upstream subscription, any number of
//! browsers. A subscriber gets the current version first, then each new one (a slow reader skips
//! to the latest — a browser only needs to know it should fetch again), and a comment every
//! 15 s so proxies keep the connection open.

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use hyper::body::{Bytes, Frame};
use serde_json::json;
use tokio::sync::watch;

use crate::cache::{Served, audience_str};
use crate::lifecycle::StreamId;

const KEEP_ALIVE: Duration = Duration::from_secs(15);

/// A version announced (version 0: the stream was deleted).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    pub version: u64,
    pub etag: String,
}

impl Notice {
    fn of(served: &Served) -> Notice {
        Notice { version: served.version(), etag: served.etag.clone() }
    }
}

#[derive(Debug)]
pub struct Channels {
    senders: Mutex<HashMap<StreamId, watch::Sender<Notice>>>,
    /// Set at shutdown: every push stream ends, so connections can close.
    closing: watch::Sender<bool>,
}

impl Default for Channels {
    fn default() -> Channels {
        Channels { senders: Mutex::new(HashMap::new()), closing: watch::Sender::new(false) }
    }
}

impl Channels {
    fn senders(&self) -> MutexGuard<'_, HashMap<StreamId, watch::Sender<Notice>>> {
        self.senders.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Tells `key`'s subscribers of a new version, or that it was deleted (`None`).
    pub fn announce(&self, key: &StreamId, served: Option<&Served>) {
        let mut senders = self.senders();
        let Some(tx) = senders.get(key) else { return };
        match served {
            Some(served) if tx.receiver_count() > 0 => {
                tx.send_replace(Notice::of(served));
            }
            Some(_) => {
                senders.remove(key);
            }
            None => {
                tx.send_replace(Notice { version: 0, etag: String::new() });
                senders.remove(key);
            }
        }
    }

    /// A subscription to `key`, whose current snapshot is `served`.
    pub fn subscribe(&self, key: &StreamId, served: &Served) -> Subscription {
        let mut senders = self.senders();
        let tx = senders.entry(key.clone()).or_insert_with(|| watch::Sender::new(Notice::of(served)));
        // The channel may have been made from an older snapshot than the one this request read.
        tx.send_if_modified(|n| {
            let newer = n.version < served.version();
            if newer {
                *n = Notice::of(served);
            }
            newer
        });
        Subscription { key: key.clone(), notices: tx.subscribe(), closing: self.closing.subscribe() }
    }

    /// Subscribers now, over every stream.
    pub fn subscribers(&self) -> usize {
        self.senders().values().map(watch::Sender::receiver_count).sum()
    }

    /// Ends every push stream (shutdown).
    pub fn close(&self) {
        self.closing.send_replace(true);
    }
}

/// One browser's push stream.
#[derive(Debug)]
pub struct Subscription {
    key: StreamId,
    notices: watch::Receiver<Notice>,
    closing: watch::Receiver<bool>,
}

fn event(key: &StreamId, n: &Notice) -> Bytes {
    let data = json!({
        "application": key.application, "environment": key.environment,
        "audience": audience_str(key.audience), "version": n.version, "etag": n.etag,
    });
    if n.version == 0 {
        return Bytes::from(format!("event: deleted\ndata: {data}\n\n"));
    }
    Bytes::from(format!("event: snapshot\nid: {}\ndata: {data}\n\n", n.version))
}

impl Subscription {
    /// The event stream's body frames.
    pub fn frames(self) -> impl futures_util::Stream<Item = Result<Frame<Bytes>, Infallible>> + Send {
        futures_util::stream::unfold((self, true, false), |(mut sub, first, ended)| async move {
            if ended || *sub.closing.borrow() {
                return None;
            }
            if first {
                let notice = sub.notices.borrow_and_update().clone();
                let ended = notice.version == 0;
                return Some((Ok(Frame::data(event(&sub.key, &notice))), (sub, false, ended)));
            }
            let frame = tokio::select! {
                changed = sub.notices.changed() => {
                    changed.ok()?;
                    let notice = sub.notices.borrow_and_update().clone();
                    let ended = notice.version == 0;
                    return Some((Ok(Frame::data(event(&sub.key, &notice))), (sub, false, ended)));
                }
                _ = sub.closing.changed() => return None,
                () = tokio::time::sleep(KEEP_ALIVE) => Bytes::from_static(b": keep-alive\n\n"),
            };
            Some((Ok(Frame::data(frame)), (sub, false, false)))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::StreamExt;

    fn served(version: u64) -> Served {
        let doc = json!({"format_version": 1, "application": "app", "environment": "production",
                         "version": version, "flags": []})
        .to_string();
        let etag = vane_core::content_hash(&doc);
        Served::new(crate::compiled(&doc), doc, etag, 0)
    }

    fn text(frame: Option<Result<Frame<Bytes>, Infallible>>) -> String {
        match frame {
            Some(Ok(f)) => f.into_data().map(|b| String::from_utf8_lossy(&b).into_owned()).unwrap_or_default(),
            _ => "(end)".to_owned(),
        }
    }

    #[tokio::test]
    async fn subscribers_hear_the_current_version_then_each_new_one_then_the_deletion() {
        let channels = Channels::default();
        let key = StreamId {
            application: "app".into(),
            environment: "production".into(),
            audience: vane_core::Audience::Client,
        };
        let frames = channels.subscribe(&key, &served(3)).frames();
        let mut frames = Box::pin(frames);
        let first = text(frames.next().await);
        assert!(first.starts_with("event: snapshot\nid: 3\ndata: {"), "{first}");
        assert!(first.contains("\"audience\":\"client\""), "{first}");
        assert_eq!(channels.subscribers(), 1);
        channels.announce(&key, Some(&served(4)));
        assert!(text(frames.next().await).contains("id: 4\n"));
        channels.announce(&key, None);
        assert!(text(frames.next().await).starts_with("event: deleted\n"));
        assert_eq!(text(frames.next().await), "(end)");
        // Shutdown ends a stream too.
        let mut other = Box::pin(channels.subscribe(&key, &served(5)).frames());
        assert!(text(other.next().await).contains("id: 5\n"));
        channels.close();
        assert_eq!(text(other.next().await), "(end)");
    }
}
