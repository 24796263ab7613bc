//! Last known good copies on local disk, the self-hosted edge's KV: one file per stream,
//! `{dir}/{application}/{environment}/{audience}.snapshot`, holding a line of metadata
//! ([`SavedMeta`] as JSON) and then the snapshot body exactly as the control plane sent it.
//!
//! Written atomically (a temporary file in the same directory, synced, then renamed over the
//! old one), so a crash leaves the old copy or the new one, never half of one. On load the body
//! is verified against the recorded content hash by [`crate::lifecycle::judge`], like any other
//! snapshot: a damaged file is refused and logged, never served.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use vane_core::{Audience, is_slug};

use crate::cache::{SavedMeta, audience_str};
use crate::lifecycle::StreamId;

/// Where copies are kept (`None`: nowhere, like a Worker without a KV binding).
#[derive(Debug, Clone)]
pub struct Disk {
    dir: Option<PathBuf>,
}

/// Distinguishes temporary files of concurrent saves.
static SAVES: AtomicU64 = AtomicU64::new(0);

impl Disk {
    pub fn new(dir: Option<PathBuf>) -> Disk {
        Disk { dir }
    }

    pub fn dir(&self) -> Option<&Path> {
        self.dir.as_deref()
    }

    fn path(&self, key: &StreamId) -> Option<PathBuf> {
        // Names are slugs (checked before they get here): no separators, no `..`.
        let dir = self.dir.as_ref()?;
        Some(dir.join(&key.application).join(&key.environment).join(format!("{}.snapshot", audience_str(key.audience))))
    }

    /// Writes `body` with `meta` as the copy of `key`.
    pub async fn save(&self, key: &StreamId, meta: &SavedMeta, body: &str) -> Result<(), String> {
        let Some(path) = self.path(key) else { return Ok(()) };
        let mut bytes = serde_json::to_vec(meta).map_err(|e| e.to_string())?;
        bytes.push(b'\n');
        bytes.extend_from_slice(body.as_bytes());
        tokio::task::spawn_blocking(move || write_atomically(&path, &bytes))
            .await
            .map_err(|e| format!("saving a snapshot copy: {e}"))?
    }

    /// The copy of `key`, if there is a readable one (`Err` says why one is unreadable).
    pub async fn load(&self, key: &StreamId) -> Result<Option<(String, SavedMeta)>, String> {
        let Some(path) = self.path(key) else { return Ok(None) };
        let bytes = match tokio::fs::read(&path).await {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(format!("{}: {e}", path.display())),
        };
        let text = String::from_utf8(bytes).map_err(|_| format!("{}: not UTF-8", path.display()))?;
        let (meta, body) = text.split_once('\n').ok_or_else(|| format!("{}: no metadata line", path.display()))?;
        let meta: SavedMeta = serde_json::from_str(meta).map_err(|e| format!("{}: metadata: {e}", path.display()))?;
        Ok(Some((body.to_owned(), meta)))
    }

    /// Every stream with a copy (what a restarted edge loads before its first request).
    pub fn streams(&self) -> Vec<StreamId> {
        let Some(dir) = &self.dir else { return Vec::new() };
        let names = |p: &Path| -> Vec<String> {
            std::fs::read_dir(p)
                .map(|d| d.filter_map(|e| e.ok()?.file_name().into_string().ok()).collect())
                .unwrap_or_default()
        };
        let mut out = Vec::new();
        for application in names(dir).into_iter().filter(|a| is_slug(a)) {
            for environment in names(&dir.join(&application)).into_iter().filter(|e| is_slug(e)) {
                for (file, audience) in [("server.snapshot", Audience::Server), ("client.snapshot", Audience::Client)] {
                    if dir.join(&application).join(&environment).join(file).is_file() {
                        out.push(StreamId {
                            application: application.clone(),
                            environment: environment.clone(),
                            audience,
                        });
                    }
                }
            }
        }
        out.sort_by(|a, b| (&a.application, &a.environment).cmp(&(&b.application, &b.environment)));
        out
    }
}

fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), String> {
    use std::io::Write;
    let dir = path.parent().ok_or_else(|| format!("{}: no directory", path.display()))?;
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let n = SAVES.fetch_add(1, Ordering::Relaxed);
    let tmp = dir.join(format!(
        ".{}.{}.{n}.tmp",
        path.file_name().and_then(|f| f.to_str()).unwrap_or("copy"),
        std::process::id()
    ));
    let result = (|| {
        let mut file = std::fs::File::create(&tmp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        std::fs::rename(&tmp, path)?;
        // The rename itself is durable once the directory is synced.
        std::fs::File::open(dir).and_then(|d| d.sync_all())
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result.map_err(|e| format!("{}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(app: &str, audience: Audience) -> StreamId {
        StreamId { application: app.into(), environment: "production".into(), audience }
    }

    #[tokio::test]
    async fn copies_round_trip_and_are_listed() {
        let dir = std::env::temp_dir().join(format!("vane-edge-disk-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let disk = Disk::new(Some(dir.clone()));
        assert_eq!(disk.load(&key("a", Audience::Server)).await, Ok(None));
        let meta = SavedMeta { version: 3, etag: "abc".into(), confirmed_at_ms: 7 };
        disk.save(&key("a", Audience::Server), &meta, "{\"x\":\n1}").await.map_err(|e| e.to_string()).ok();
        disk.save(&key("b.c", Audience::Client), &meta, "{}").await.ok();
        assert_eq!(disk.load(&key("a", Audience::Server)).await, Ok(Some(("{\"x\":\n1}".to_owned(), meta.clone()))));
        assert_eq!(disk.streams(), vec![key("a", Audience::Server), key("b.c", Audience::Client)]);
        // A damaged file is an error, not a copy.
        std::fs::write(dir.join("a/production/server.snapshot"), "garbage").ok();
        assert!(disk.load(&key("a", Audience::Server)).await.is_err());
        let _ = std::fs::remove_dir_all(&dir);
        assert_eq!(Disk::new(None).load(&key("a", Audience::Server)).await, Ok(None));
    }
}
