//! Change announcements: one `LISTEN vane_snapshots` connection per process, fanned out to
//! long-polls and SSE streams through a broadcast channel.
//!
//! Publishing calls `pg_notify` inside the write's transaction, so every `vane serve` process on
//! the database hears every committed version — whichever process took the write. PostgreSQL
//! alone keeps several instances consistent. If the listening connection drops (PostgreSQL
//! restarting), it is re-established; announcements missed meanwhile are covered by clients'
//! ETag checks, since snapshot versions, not announcements, are the source of truth.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use sqlx::PgPool;
use sqlx::postgres::PgListener;
use tokio::sync::broadcast;

use super::{CHANNEL, KEYS_CHANNEL};

/// A committed snapshot version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Announcement {
    pub application: String,
    pub environment: String,
    pub audience: String,
    pub version: i64,
    pub etag: String,
}

/// What the listener heard, for whoever remembers what it read (`crate::domain::memo`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Heard {
    /// Listening (again): anything committed while nobody listened is unknown.
    Connected,
    /// Not listening: nothing is known to be current.
    Disconnected,
    /// A snapshot version was published.
    Snapshot,
    /// API keys changed.
    Keys,
}

#[derive(Debug, Clone)]
pub struct Notifier {
    tx: broadcast::Sender<Announcement>,
}

impl Notifier {
    /// Starts listening on the pool's database (in a background task that lives as long as the
    /// runtime).
    /// `heard` is told about each announcement before it is fanned out.
    pub fn start(pool: PgPool, heard: impl Fn(Heard) + Send + Sync + 'static) -> Notifier {
        let (tx, _) = broadcast::channel(1024);
        let sender = tx.clone();
        tokio::spawn(async move {
            loop {
                if let Err(e) = listen(&pool, &sender, &heard).await {
                    tracing::warn!(error = %e, "snapshot listener lost its connection; reconnecting");
                }
                heard(Heard::Disconnected);
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
        });
        Notifier { tx }
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Announcement> {
        self.tx.subscribe()
    }
}

async fn listen(
    pool: &PgPool,
    tx: &broadcast::Sender<Announcement>,
    heard: &impl Fn(Heard),
) -> Result<(), sqlx::Error> {
    let mut listener = PgListener::connect_with(pool).await?;
    listener.listen_all([CHANNEL, KEYS_CHANNEL]).await?;
    heard(Heard::Connected);
    loop {
        let n = listener.recv().await?;
        if n.channel() == KEYS_CHANNEL {
            heard(Heard::Keys);
            continue;
        }
        heard(Heard::Snapshot);
        match serde_json::from_str::<Announcement>(n.payload()) {
            // No receivers is fine: nobody is waiting right now.
            Ok(a) => drop(tx.send(a)),
            Err(e) => tracing::warn!(error = %e, "unreadable snapshot announcement"),
        }
    }
}
