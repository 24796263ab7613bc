//! What domain operations run on: the database, this process's memory of what it read, the
//! cipher for secret configs and the group-commit writers.

use sqlx::PgPool;

use super::authz::Caller;
use super::batch::Batcher;
use super::memo::Memo;
pub use super::memo::Touched;
use crate::crypto::Cipher;
use crate::error::Result;

/// A write's transaction.
pub type Tx = sqlx::Transaction<'static, sqlx::Postgres>;

/// Cheap to clone; clones share everything.
#[derive(Debug, Clone)]
pub struct Vane {
    pub pool: PgPool,
    /// Keys and stream tags remembered for the delivery path; every committed write tells it
    /// what it touched.
    pub memo: Memo,
    /// Encrypts secret configs; `None` when `VANE_ENCRYPTION_KEY` is not set (secrets refused).
    pub cipher: Option<Cipher>,
    /// Per-stream group commit of flag-state writes, per-application of flag creation.
    pub batcher: Batcher,
    /// How long a console session lasts (`VANE_SESSION_TTL_S`, 12 hours by default).
    pub session_ttl: std::time::Duration,
}

impl Vane {
    /// A console session's default length: a working day.
    pub const SESSION_TTL: std::time::Duration = std::time::Duration::from_secs(12 * 3600);

    pub fn new(pool: PgPool, memo: Memo) -> Self {
        Vane { pool, memo, cipher: None, batcher: Batcher::default(), session_ttl: Self::SESSION_TTL }
    }

    pub async fn begin(&self) -> Result<Tx> {
        Ok(self.pool.begin().await?)
    }

    /// Commits a write, then tells the memo what it touched: this process reads its own writes
    /// at once, before the announcement comes back (see [`Memo`]).
    pub async fn commit(&self, tx: Tx, touched: Touched) -> Result<()> {
        tx.commit().await?;
        self.memo.written(touched);
        Ok(())
    }
}

/// Who acts, on which Vane: what every domain operation is given.
#[derive(Debug, Clone)]
pub struct Actor {
    pub vane: Vane,
    pub caller: Caller,
}
