//! What every handler is given.

use sqlx::PgPool;

use crate::crypto::Cipher;
use crate::domain::memo::Memo;
use crate::domain::vane::Vane;
use crate::publish::compiled::CompiledCache;
use crate::publish::notifier::Notifier;

/// Shared by every handler; cheap to clone.
#[derive(Debug, Clone)]
pub struct AppState {
    /// What domain operations run on.
    pub vane: Vane,
    /// This process's change listener: long-polls and event streams wait on it.
    pub notifier: Notifier,
    /// Compiled server snapshots for the evaluation route, per stream and version.
    pub compiled: CompiledCache,
}

impl AppState {
    /// State for a server on `pool`; starts this process's change listener, which tells the
    /// memo what other processes (and this one) committed.
    pub fn new(pool: PgPool) -> Self {
        let memo = Memo::default();
        let heard = memo.clone();
        AppState {
            notifier: Notifier::start(pool.clone(), move |h| heard.heard(h)),
            vane: Vane::new(pool, memo),
            compiled: CompiledCache::default(),
        }
    }

    /// The same, able to store secret configs.
    pub fn with_cipher(mut self, cipher: Cipher) -> Self {
        self.vane.cipher = Some(cipher);
        self
    }
}
