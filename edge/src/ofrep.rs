//! OFREP (OpenFeature Remote Evaluation Protocol) over a compiled snapshot.
//!
//! * `POST /ofrep/v1/evaluate/flags/{key}` → 200 `evaluationSuccess`, 404 `FLAG_NOT_FOUND`, 400
//!   `evaluationFailure` (`{key, errorCode, errorDetails, metadata}`);
//! * `POST /ofrep/v1/evaluate/flags` → 200 `{flags: [...], metadata}` with an `ETag`; a matching
//!   `If-None-Match` → 304. Failures of single flags stay items of `flags`.
//! * A body that is not JSON, too large, or without an object `context` → 400 (`PARSE_ERROR` /
//!   `INVALID_CONTEXT`).
//!
//! Reasons: OFREP's clients know `STATIC, TARGETING_MATCH, SPLIT, DEFAULT, DISABLED, ERROR,
//! UNKNOWN, CACHED, STALE`; the Python SDK fails on any other. Vane's `PREREQUISITE_FAILED` is
//! therefore sent as `DEFAULT`, with `metadata.vaneReason: "PREREQUISITE_FAILED"`.

use std::io::Write;

use serde::Serialize;
use serde::ser::{SerializeMap, SerializeSeq, Serializer};
use serde_json::Value;
use vane_core::{CompiledSnapshot, Context, ErrorCode, Evaluation, Reason};

use crate::reply::Reply;

/// Largest request body accepted.
pub const MAX_BODY: usize = 64 * 1024;

/// A request that cannot be evaluated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadRequest {
    pub code: ErrorCode,
    pub details: String,
}

/// The evaluation context of an OFREP request body: `{"context": {...}}`.
pub fn parse_context(body: &[u8]) -> Result<Context, BadRequest> {
    if body.len() > MAX_BODY {
        return Err(BadRequest {
            code: ErrorCode::ParseError,
            details: format!("request body is {} bytes; at most {MAX_BODY} are accepted", body.len()),
        });
    }
    let doc: Value = serde_json::from_slice(body)
        .map_err(|e| BadRequest { code: ErrorCode::ParseError, details: format!("request body is not JSON: {e}") })?;
    let context = doc.get("context").ok_or_else(|| BadRequest {
        code: ErrorCode::InvalidContext,
        details: "the request body needs a \"context\" object".into(),
    })?;
    if !context.is_object() {
        return Err(BadRequest {
            code: ErrorCode::InvalidContext,
            details: "\"context\" must be a JSON object".into(),
        });
    }
    Context::from_json(context).map_err(|e| BadRequest { code: ErrorCode::InvalidContext, details: e.to_string() })
}

/// One flag's result in OFREP's shape.
struct Item<'a, 's> {
    key: &'a str,
    evaluation: &'a Evaluation<'s>,
    snapshot_version: u64,
}

fn reason(e: &Evaluation<'_>) -> (&'static str, Option<&'static str>) {
    match e.reason() {
        Reason::PrerequisiteFailed => ("DEFAULT", Some("PREREQUISITE_FAILED")),
        r => (r.as_str(), None),
    }
}

impl Serialize for Item<'_, '_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let e = self.evaluation;
        let (reason, vane_reason) = reason(e);
        let mut map = serializer.serialize_map(None)?;
        map.serialize_entry("key", self.key)?;
        if let Some(v) = e.value() {
            map.serialize_entry("value", v)?;
        }
        if let Some(v) = e.variant() {
            map.serialize_entry("variant", v)?;
        }
        map.serialize_entry("reason", reason)?;
        if let Some(c) = e.error_code() {
            map.serialize_entry("errorCode", c.as_str())?;
        }
        if let Some(d) = e.error_details(self.key) {
            map.serialize_entry("errorDetails", &d)?;
        }
        map.serialize_entry(
            "metadata",
            &Metadata {
                snapshot_version: self.snapshot_version,
                flag_version: e.flag_version(),
                rule_id: e.rule_id(),
                vane_reason,
            },
        )?;
        map.end()
    }
}

struct Metadata<'a> {
    snapshot_version: u64,
    flag_version: u64,
    rule_id: Option<&'a str>,
    vane_reason: Option<&'static str>,
}

impl Serialize for Metadata<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(None)?;
        map.serialize_entry("snapshotVersion", &self.snapshot_version)?;
        if self.flag_version > 0 {
            map.serialize_entry("flagVersion", &self.flag_version)?;
        }
        if let Some(r) = self.rule_id {
            map.serialize_entry("ruleId", r)?;
        }
        if let Some(r) = self.vane_reason {
            map.serialize_entry("vaneReason", r)?;
        }
        map.end()
    }
}

fn to_vec<T: Serialize>(v: &T) -> Vec<u8> {
    serde_json::to_vec(v).unwrap_or_default()
}

/// The answer to a request that could not be parsed (single flag: with its key).
pub fn bad_request(key: Option<&str>, bad: &BadRequest) -> Reply {
    let mut body = serde_json::Map::new();
    if let Some(k) = key {
        body.insert("key".into(), Value::String(k.to_owned()));
    }
    body.insert("errorCode".into(), Value::String(bad.code.as_str().to_owned()));
    body.insert("errorDetails".into(), Value::String(bad.details.clone()));
    Reply::value(400, &Value::Object(body))
}

/// `POST /ofrep/v1/evaluate/flags/{key}`.
pub fn single(snapshot: &CompiledSnapshot, key: &str, body: &[u8], now_ms: i64) -> Reply {
    let ctx = match parse_context(body) {
        Ok(c) => c,
        Err(bad) => return bad_request(Some(key), &bad),
    };
    let e = snapshot.evaluate(key, &ctx, now_ms);
    let status = match e.error_code() {
        None => 200,
        Some(ErrorCode::FlagNotFound) => 404,
        Some(_) => 400,
    };
    Reply::json(status, to_vec(&Item { key, evaluation: &e, snapshot_version: snapshot.version() }))
        .with("Cache-Control", "no-store")
}

struct Bulk<'a> {
    snapshot: &'a CompiledSnapshot,
    ctx: &'a Context,
    now_ms: i64,
}

impl Serialize for Bulk<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        struct Flags<'a>(&'a Bulk<'a>);
        impl Serialize for Flags<'_> {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                let b = self.0;
                let mut seq = serializer.serialize_seq(Some(b.snapshot.flag_count()))?;
                for (key, e) in b.snapshot.evaluate_all(b.ctx, b.now_ms) {
                    seq.serialize_element(&Item { key, evaluation: &e, snapshot_version: b.snapshot.version() })?;
                }
                seq.end()
            }
        }
        let mut map = serializer.serialize_map(Some(2))?;
        map.serialize_entry("flags", &Flags(self))?;
        map.serialize_entry("metadata", &serde_json::json!({"snapshotVersion": self.snapshot.version()}))?;
        map.end()
    }
}

/// The parts of bulk answers that do not depend on the context, serialised once per snapshot:
/// per flag `{"key":"…"` and per variant `,"value":…,"variant":"…"`. Bulk answers are spliced
/// from them (byte for byte what the generic serialiser writes; tested).
#[derive(Debug, Default)]
pub struct Fragments {
    /// The version of the snapshot these are for (its number is inside them).
    snapshot_version: u64,
    flags: Vec<FlagFragments>,
}

#[derive(Debug)]
struct FlagFragments {
    key: Box<str>,
    head: Vec<u8>,
    variants: Vec<(Box<str>, Vec<u8>)>,
    /// The flag's version, and `,"metadata":{"snapshotVersion":…[,"flagVersion":…]` with it.
    version: u64,
    metadata: Vec<u8>,
    /// Per rule id, `,"ruleId":"…"`.
    rules: Vec<(Box<str>, Vec<u8>)>,
}

impl Fragments {
    pub fn new(snapshot: &CompiledSnapshot) -> Fragments {
        let flags = snapshot
            .flag_keys()
            .enumerate()
            .map(|(i, key)| {
                let mut head = b"{\"key\":".to_vec();
                let _ = serde_json::to_writer(&mut head, key);
                let variants = snapshot
                    .flag_variants(i)
                    .map(|(variant, value)| {
                        let mut f = b",\"value\":".to_vec();
                        let _ = serde_json::to_writer(&mut f, value);
                        f.extend_from_slice(b",\"variant\":");
                        let _ = serde_json::to_writer(&mut f, variant);
                        (Box::from(variant), f)
                    })
                    .collect();
                let version = snapshot.flag_version_at(i);
                let metadata = metadata_head(snapshot.version(), version);
                let rules = snapshot
                    .flag_rule_ids(i)
                    .map(|id| {
                        let mut f = b",\"ruleId\":".to_vec();
                        let _ = serde_json::to_writer(&mut f, id);
                        (Box::from(id), f)
                    })
                    .collect();
                FlagFragments { key: Box::from(key), head, variants, version, metadata, rules }
            })
            .collect();
        Fragments { snapshot_version: snapshot.version(), flags }
    }
}

/// `,"metadata":{"snapshotVersion":V` and, for a versioned flag, `,"flagVersion":F`.
fn metadata_head(snapshot_version: u64, flag_version: u64) -> Vec<u8> {
    let mut out = b",\"metadata\":{\"snapshotVersion\":".to_vec();
    let _ = write!(out, "{snapshot_version}");
    if flag_version > 0 {
        let _ = write!(out, ",\"flagVersion\":{flag_version}");
    }
    out
}

/// Appends one bulk item from fragments; `false` (nothing written) when the item needs the
/// generic serialiser (errors, answers without a value, a snapshot the fragments are not for).
fn splice(out: &mut Vec<u8>, f: Option<&FlagFragments>, key: &str, e: &Evaluation<'_>, snapshot_version: u64) -> bool {
    let Some(f) = f.filter(|f| &*f.key == key) else { return false };
    if e.error_code().is_some() || e.value().is_none() {
        return false;
    }
    let Some(variant) = e.variant().and_then(|v| f.variants.iter().find(|(k, _)| &**k == v)) else {
        return false;
    };
    let (reason, vane_reason) = reason(e);
    out.extend_from_slice(&f.head);
    out.extend_from_slice(&variant.1);
    out.extend_from_slice(b",\"reason\":\"");
    out.extend_from_slice(reason.as_bytes());
    out.push(b'"');
    // Numbers formatted once per snapshot: formatting them per item was a large part of a bulk
    // answer's time in wasm.
    if e.flag_version() == f.version {
        out.extend_from_slice(&f.metadata);
    } else {
        out.extend_from_slice(&metadata_head(snapshot_version, e.flag_version()));
    }
    if let Some(rule) = e.rule_id() {
        match f.rules.iter().find(|(id, _)| &**id == rule) {
            Some((_, bytes)) => out.extend_from_slice(bytes),
            None => {
                out.extend_from_slice(b",\"ruleId\":");
                let _ = serde_json::to_writer(&mut *out, rule);
            }
        }
    }
    if let Some(r) = vane_reason {
        out.extend_from_slice(b",\"vaneReason\":\"");
        out.extend_from_slice(r.as_bytes());
        out.push(b'"');
    }
    out.extend_from_slice(b"}}");
    true
}

/// The bulk answer, spliced from `fragments` where it can be.
fn bulk_answer(snapshot: &CompiledSnapshot, fragments: &Fragments, ctx: &Context, now_ms: i64) -> Vec<u8> {
    let version = snapshot.version();
    let mut out = Vec::with_capacity(128 * snapshot.flag_count() + 64);
    out.extend_from_slice(b"{\"flags\":[");
    for (i, (key, e)) in snapshot.evaluate_all(ctx, now_ms).enumerate() {
        if i > 0 {
            out.push(b',');
        }
        let f = fragments.flags.get(i).filter(|_| fragments.snapshot_version == version);
        if !splice(&mut out, f, key, &e, version) {
            let _ = serde_json::to_writer(&mut out, &Item { key, evaluation: &e, snapshot_version: version });
        }
    }
    out.extend_from_slice(b"],\"metadata\":{\"snapshotVersion\":");
    out.extend_from_slice(version.to_string().as_bytes());
    out.extend_from_slice(b"}}");
    out
}

/// `POST /ofrep/v1/evaluate/flags`: every flag for the context, with an ETag over the answer;
/// `If-None-Match` with that ETag → 304. `fragments` (from [`Fragments::new`] for this
/// snapshot) make it several times faster; without them the generic serialiser writes the same.
pub fn bulk(
    snapshot: &CompiledSnapshot,
    fragments: Option<&Fragments>,
    body: &[u8],
    if_none_match: Option<&str>,
    now_ms: i64,
) -> Reply {
    let ctx = match parse_context(body) {
        Ok(c) => c,
        Err(bad) => return bad_request(None, &bad),
    };
    let answer = match fragments {
        Some(f) => bulk_answer(snapshot, f, &ctx, now_ms),
        None => to_vec(&Bulk { snapshot, ctx: &ctx, now_ms }),
    };
    let etag = format!("\"{}-{:016x}\"", snapshot.version(), xxhash_rust::xxh3::xxh3_64(&answer));
    let matches = if_none_match
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag || t.trim().trim_start_matches("W/") == etag));
    let reply = if matches { Reply::empty(304) } else { Reply::json(200, answer) };
    reply.with("ETag", etag).with("Cache-Control", "no-cache")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn snapshot() -> CompiledSnapshot {
        let doc = json!({
            "format_version": 1, "application": "app", "environment": "production", "version": 7,
            "flags": [
                {"key": "on", "type": "boolean", "variants": [{"key": "on", "value": true}, {"key": "off", "value": false}],
                 "enabled": true, "off_variant": "off", "default": {"variant": "on"}, "version": 3},
                {"key": "ca", "type": "string", "variants": [{"key": "a", "value": "A"}, {"key": "b", "value": "B"}],
                 "enabled": true, "default": {"variant": "a"},
                 "rules": [{"id": "r1", "conditions": [{"attribute": "country", "operator": "in", "values": ["CA"]}],
                            "serve": {"variant": "b"}}]},
                {"key": "gated", "type": "boolean", "variants": [{"key": "on", "value": true}, {"key": "off", "value": false}],
                 "enabled": true, "off_variant": "off", "default": {"variant": "on"},
                 "prerequisites": [{"flag": "ca", "variants": ["b"]}]},
                {"key": "split", "type": "boolean", "variants": [{"key": "on", "value": true}, {"key": "off", "value": false}],
                 "enabled": true, "default": {"rollout": {"weights": {"on": 50000, "off": 50000}}}}
            ]
        });
        crate::compiled(&doc.to_string())
    }

    fn body(r: &Reply) -> Value {
        serde_json::from_slice(&r.body).unwrap_or(Value::Null)
    }

    #[test]
    fn single_flag_success_and_errors() {
        let s = snapshot();
        let r = single(&s, "on", br#"{"context":{"targetingKey":"u1"}}"#, 0);
        assert_eq!(r.status, 200);
        assert_eq!(
            body(&r),
            json!({"key": "on", "value": true, "variant": "on", "reason": "STATIC",
                   "metadata": {"snapshotVersion": 7, "flagVersion": 3}})
        );
        let r = single(&s, "ca", br#"{"context":{"targetingKey":"u1","country":"CA"}}"#, 0);
        assert_eq!((body(&r)["value"].clone(), body(&r)["metadata"]["ruleId"].clone()), (json!("B"), json!("r1")));
        let r = single(&s, "nope", br#"{"context":{}}"#, 0);
        assert_eq!((r.status, body(&r)["errorCode"].clone()), (404, json!("FLAG_NOT_FOUND")));
        assert_eq!(body(&r)["key"], "nope");
        // A rollout without a targeting key is the flag's error, not a bad request.
        let r = single(&s, "split", br#"{"context":{}}"#, 0);
        assert_eq!((r.status, body(&r)["errorCode"].clone()), (400, json!("TARGETING_KEY_MISSING")));
    }

    #[test]
    fn prerequisite_failed_is_sent_as_default() {
        let s = snapshot();
        let r = single(&s, "gated", br#"{"context":{"targetingKey":"u1","country":"FR"}}"#, 0);
        assert_eq!(r.status, 200);
        let b = body(&r);
        assert_eq!(
            (b["reason"].clone(), b["metadata"]["vaneReason"].clone()),
            (json!("DEFAULT"), json!("PREREQUISITE_FAILED"))
        );
        assert_eq!(b["value"], false);
    }

    #[test]
    fn bad_bodies_are_400_with_the_key() {
        let s = snapshot();
        for (raw, code) in [
            (&b"not json"[..], "PARSE_ERROR"),
            (br#"{"ctx":{}}"#, "INVALID_CONTEXT"),
            (br#"{"context":[1,2]}"#, "INVALID_CONTEXT"),
            (br#"{"context":"u1"}"#, "INVALID_CONTEXT"),
        ] {
            let r = single(&s, "on", raw, 0);
            assert_eq!(
                (r.status, body(&r)["errorCode"].clone(), body(&r)["key"].clone()),
                (400, json!(code), json!("on"))
            );
            assert!(body(&r)["errorDetails"].as_str().is_some_and(|d| !d.is_empty()));
        }
        let huge = format!(r#"{{"context":{{"k":"{}"}}}}"#, "x".repeat(MAX_BODY));
        let r = bulk(&s, None, huge.as_bytes(), None, 0);
        assert_eq!((r.status, body(&r)["errorCode"].clone()), (400, json!("PARSE_ERROR")));
        assert!(body(&r).get("key").is_none());
    }

    #[test]
    fn bulk_answers_every_flag_with_an_etag_and_304() {
        let s = snapshot();
        let req = br#"{"context":{"targetingKey":"u1","country":"CA"}}"#;
        let r = bulk(&s, None, req, None, 0);
        assert_eq!(r.status, 200);
        let b = body(&r);
        let keys: Vec<&str> =
            b["flags"].as_array().map(|a| a.iter().filter_map(|f| f["key"].as_str()).collect()).unwrap_or_default();
        assert_eq!(keys.len(), 4);
        assert!(keys.contains(&"gated"));
        let etag = r.header("ETag").map(str::to_owned);
        let again = bulk(&s, None, req, etag.as_deref(), 0);
        assert_eq!((again.status, again.body.len()), (304, 0));
        // Another context, another answer: the old tag does not match.
        let other = bulk(&s, None, br#"{"context":{"targetingKey":"u1","country":"FR"}}"#, etag.as_deref(), 0);
        assert_eq!(other.status, 200);
    }

    #[test]
    fn spliced_bulk_answers_equal_the_generic_ones() {
        let doc = json!({
            "format_version": 1, "application": "app", "environment": "production", "version": 12,
            "flags": [
                {"key": "on", "type": "boolean", "default": {"variant": "on"}, "version": 3},
                {"key": "ca", "type": "string", "variants": [{"key": "a", "value": "A \"quoted\" \u{e9}\n\t"}, {"key": "b", "value": "B"}],
                 "default": {"variant": "a"},
                 "rules": [{"id": "r\"1", "conditions": [{"attribute": "country", "operator": "in", "values": ["CA"]}],
                            "serve": {"variant": "b"}}]},
                {"key": "gated", "type": "boolean", "enabled": true, "off_variant": "off", "default": {"variant": "on"},
                 "prerequisites": [{"flag": "ca", "variants": ["b"]}]},
                {"key": "gated-no-off", "type": "json", "variants": [{"key": "x", "value": {"a": [1, 2.5, null]}}],
                 "default": {"variant": "x"}, "prerequisites": [{"flag": "ca", "variants": ["b"]}]},
                {"key": "off", "type": "boolean", "enabled": false, "default": {"variant": "on"}},
                {"key": "split", "type": "number", "variants": [{"key": "lo", "value": 1}, {"key": "hi", "value": 1.5}],
                 "default": {"rollout": {"weights": {"lo": 50000, "hi": 50000}}}},
                {"key": "needs-key", "type": "boolean", "default": {"rollout": {"weights": {"on": 1, "off": 1}}}},
                {"key": "broken", "type": "boolean", "default": {"variant": "nope"}}
            ]
        });
        let s = crate::compiled(&doc.to_string());
        let fragments = Fragments::new(&s);
        for ctx in [
            json!({}),
            json!({"targetingKey": "u1"}),
            json!({"targetingKey": "u2", "country": "CA"}),
            json!({"targetingKey": "u3", "country": "FR"}),
        ] {
            for i in 0..20 {
                let mut c = ctx.clone();
                if c.get("targetingKey").is_some() {
                    c["targetingKey"] = json!(format!("user-{i}"));
                }
                let body = json!({"context": c}).to_string();
                let generic = bulk(&s, None, body.as_bytes(), None, 0);
                let spliced = bulk(&s, Some(&fragments), body.as_bytes(), None, 0);
                assert_eq!(
                    String::from_utf8_lossy(&generic.body),
                    String::from_utf8_lossy(&spliced.body),
                    "context {c}"
                );
                assert_eq!(generic.header("ETag"), spliced.header("ETag"));
            }
        }
    }
}
