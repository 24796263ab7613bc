//! Whether a snapshot from the control plane replaces the one the edge serves, and what the
//! environment's staleness policy says about the one it has.
//!
//! A candidate is accepted only if its bytes hash to the ETag it came with, it compiles, it is
//! for the stream that was asked for, and its version is newer. The same bytes again confirm
//! the current snapshot (its age restarts). Anything else is rejected and the current snapshot
//! keeps serving; a rejection never counts as a confirmation.

use vane_core::{Audience, CompiledSnapshot, StalePolicy};

/// The stream a snapshot must belong to.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct StreamId {
    pub application: String,
    pub environment: String,
    pub audience: Audience,
}

/// What to do with a fetched snapshot.
#[derive(Debug)]
pub enum Verdict {
    /// Serve this one from now on (and save it as the last known good).
    Accept(Box<CompiledSnapshot>),
    /// The same snapshot as the current one: it is still current.
    Confirm,
    /// Keep serving the current one; the reason is logged and shown on `/health`.
    Reject(String),
}

/// The ETag without quotes or weakness marker.
pub fn bare_etag(header: &str) -> &str {
    header.trim().trim_start_matches("W/").trim_matches('"')
}

/// Judges `body`, fetched with ETag `etag`, against the current snapshot `(version, etag)`.
pub fn judge(stream: &StreamId, current: Option<(u64, &str)>, body: &str, etag: &str) -> Verdict {
    let etag = bare_etag(etag);
    if !vane_core::content_matches(body, etag) {
        let hash = vane_core::content_hash(body);
        return Verdict::Reject(format!("content hash {hash} does not match the ETag {etag}: the body was corrupted"));
    }
    if current.is_some_and(|(_, current_etag)| bare_etag(current_etag) == etag) {
        return Verdict::Confirm;
    }
    let compiled = match vane_core::compile_json(body) {
        Ok((c, _warnings)) => c,
        Err(e) => return Verdict::Reject(format!("snapshot does not compile: {e}")),
    };
    if compiled.application() != stream.application
        || compiled.environment() != stream.environment
        || compiled.audience() != stream.audience
    {
        return Verdict::Reject(format!(
            "snapshot is for {}/{}, not {}/{}",
            compiled.application(),
            compiled.environment(),
            stream.application,
            stream.environment
        ));
    }
    if let Some((version, _)) = current
        && compiled.version() <= version
    {
        return Verdict::Reject(format!(
            "snapshot version {} is not newer than the current {version}",
            compiled.version()
        ));
    }
    Verdict::Accept(Box::new(compiled))
}

/// What the staleness policy says about a snapshot last confirmed at `confirmed_at_ms`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Freshness {
    /// Within `max_staleness_s` (or no limit).
    Fresh,
    /// Too old, and the environment says `serve_stale`: answer, with the age header.
    Stale,
    /// Too old, and the environment says `fail_closed`: answer 503.
    Closed,
}

/// Age in whole seconds (never negative).
pub fn age_s(confirmed_at_ms: i64, now_ms: i64) -> u64 {
    u64::try_from(now_ms.saturating_sub(confirmed_at_ms) / 1000).unwrap_or(0)
}

pub fn freshness(snapshot: &CompiledSnapshot, confirmed_at_ms: i64, now_ms: i64) -> Freshness {
    let settings = snapshot.settings();
    if settings.max_staleness_s == 0 || age_s(confirmed_at_ms, now_ms) <= settings.max_staleness_s {
        return Freshness::Fresh;
    }
    match settings.stale_policy {
        StalePolicy::ServeStale => Freshness::Stale,
        StalePolicy::FailClosed => Freshness::Closed,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn doc(version: u64, policy: &str) -> String {
        json!({"format_version": 1, "application": "app", "environment": "production", "version": version,
               "settings": {"max_staleness_s": 30, "stale_policy": policy}, "flags": []})
        .to_string()
    }

    fn stream() -> StreamId {
        StreamId { application: "app".into(), environment: "production".into(), audience: Audience::Server }
    }

    #[test]
    fn accepts_newer_intact_snapshots_only() {
        let v2 = doc(2, "serve_stale");
        let tag2 = vane_core::content_hash(&v2);
        assert!(matches!(judge(&stream(), None, &v2, &format!("\"{tag2}\"")), Verdict::Accept(s) if s.version() == 2));
        assert!(matches!(judge(&stream(), Some((2, &tag2)), &v2, &tag2), Verdict::Confirm));
        let v1 = doc(1, "serve_stale");
        let tag1 = vane_core::content_hash(&v1);
        assert!(
            matches!(judge(&stream(), Some((2, &tag2)), &v1, &tag1), Verdict::Reject(r) if r.contains("not newer"))
        );
        // Corrupted in transit: one byte changed, ETag of the original.
        let corrupted = v2.replacen("production", "productioN", 1);
        assert!(matches!(judge(&stream(), None, &corrupted, &tag2), Verdict::Reject(r) if r.contains("corrupted")));
        let garbage = "{\"format_version\": 2}";
        let tag = vane_core::content_hash(garbage);
        assert!(matches!(judge(&stream(), None, garbage, &tag), Verdict::Reject(r) if r.contains("compile")));
        let other = StreamId { environment: "staging".into(), ..stream() };
        assert!(matches!(judge(&other, None, &v2, &tag2), Verdict::Reject(r) if r.contains("not app/staging")));
    }

    #[test]
    fn staleness_follows_the_environment_policy() {
        let open = crate::compiled(&doc(1, "serve_stale"));
        let closed = crate::compiled(&doc(1, "fail_closed"));
        assert_eq!(freshness(&open, 0, 30_000), Freshness::Fresh);
        assert_eq!(freshness(&open, 0, 31_000), Freshness::Stale);
        assert_eq!(freshness(&closed, 0, 31_000), Freshness::Closed);
        assert_eq!(age_s(5_000, 1_000), 0);
    }
}
