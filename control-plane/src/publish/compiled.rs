//! Compiled server snapshots per stream, for evaluating on the control plane (the original
//! service's evaluate route), reused while the stream's snapshot is unchanged.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use sqlx::PgConnection;

use crate::error::{Error, Result};

/// `(application_id, environment_id)`.
type StreamIds = (String, String);
/// A stream's server snapshot (by etag), compiled.
type Compiled = (String, Arc<vane_core::CompiledSnapshot>);

/// Cheap to clone; clones share the cache.
#[derive(Debug, Default, Clone)]
pub struct CompiledCache {
    inner: Arc<Mutex<HashMap<StreamIds, Compiled>>>,
}

impl CompiledCache {
    /// The compiled latest server snapshot of a stream (one version query when cached).
    pub async fn get(
        &self,
        conn: &mut PgConnection,
        application_id: &str,
        environment_id: &str,
    ) -> Result<Arc<vane_core::CompiledSnapshot>> {
        let (version, etag) =
            super::current(&mut *conn, application_id, environment_id, "server").await?.ok_or(Error::Unavailable)?;
        let key = (application_id.to_owned(), environment_id.to_owned());
        if let Ok(map) = self.inner.lock()
            && let Some((e, c)) = map.get(&key)
            && *e == etag
        {
            return Ok(c.clone());
        }
        let body = super::stored_body(&mut *conn, application_id, environment_id, "server", version, &etag)
            .await?
            .ok_or(Error::Unavailable)?;
        let (compiled, _) = vane_core::compile_json(&body).map_err(|e| Error::Internal(e.to_string()))?;
        let compiled = Arc::new(compiled);
        if let Ok(mut map) = self.inner.lock() {
            map.insert(key, (etag, compiled.clone()));
        }
        Ok(compiled)
    }
}
