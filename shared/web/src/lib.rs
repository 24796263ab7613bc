//! # vane-web
//!
//! `vane-core` for browsers, through wasm-bindgen (`--target web`). One [`Engine`] holds one
//! compiled client snapshot and the current evaluation context; the JS client
//! (`shared/web/js/vane.js`) fetches snapshots from the edge and keeps this fed.
//!
//! Everything crosses the boundary as JSON text or primitives, and errors come back as values
//! (`{"ok":false,"error":"…"}` or an evaluation with `errorCode`), never as exceptions: a
//! browser app asks for a flag and always gets an answer it can show.
//!
//! The context is set once ([`Engine::set_context`]) and every flag is then evaluated against it,
//! so re-evaluating on a context change costs one parse, not one per flag.

use std::fmt::Write as _;

use serde_json::Value;
use vane_core::json::{self, write_str, write_value};
use vane_core::{CompiledSnapshot, Context, Resolution};
use wasm_bindgen::prelude::wasm_bindgen;

/// A compiled snapshot and a context.
#[wasm_bindgen]
#[derive(Debug, Default)]
pub struct Engine {
    snapshot: Option<CompiledSnapshot>,
    /// Flag ids in snapshot order, for evaluation by index.
    ids: Vec<vane_core::FlagId>,
    context: Context,
}

// Answers are written with `vane_core::json` (byte-identical to serde_json's output) so the
// package does not carry serde_json's serializer.
fn fail(error: impl std::fmt::Display) -> String {
    let mut out = String::from("{\"ok\":false,\"error\":");
    write_str(&mut out, &error.to_string());
    out.push('}');
    out
}

/// `{"key":…,"reason":"ERROR","errorCode":"FLAG_NOT_FOUND",…}` before any snapshot is loaded.
fn no_snapshot(key: &str) -> String {
    let mut out = String::from("{\"key\":");
    write_str(&mut out, key);
    out.push_str(",\"reason\":\"ERROR\",\"errorCode\":\"FLAG_NOT_FOUND\",\"errorDetails\":\"no snapshot loaded yet\",\"metadata\":{}}");
    out
}

#[wasm_bindgen]
impl Engine {
    /// An engine with no snapshot: every flag evaluates to `FLAG_NOT_FOUND` until one is loaded.
    #[wasm_bindgen(constructor)]
    pub fn new() -> Engine {
        Engine::default()
    }

    /// Loads a snapshot (the edge's client snapshot JSON), replacing the current one unless it
    /// is older. Answers `{"ok":true,"version":N,"warnings":[…]}` or `{"ok":false,"error":…}`
    /// (the current snapshot stays).
    pub fn load(&mut self, snapshot_json: &str) -> String {
        match vane_core::compile_json(snapshot_json) {
            Ok((compiled, warnings)) => {
                if let Some(current) = &self.snapshot
                    && (compiled.application() != current.application()
                        || compiled.environment() != current.environment()
                        || compiled.version() < current.version())
                {
                    return fail(format!(
                        "snapshot {}/{} version {} does not replace {}/{} version {}",
                        compiled.application(),
                        compiled.environment(),
                        compiled.version(),
                        current.application(),
                        current.environment(),
                        current.version()
                    ));
                }
                let mut out = format!("{{\"ok\":true,\"version\":{},\"warnings\":[", compiled.version());
                for (i, w) in warnings.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    write_str(&mut out, &w.to_string());
                }
                out.push_str("]}");
                self.ids = compiled.flag_keys().filter_map(|k| compiled.flag_id(k)).collect();
                self.snapshot = Some(compiled);
                out
            }
            Err(e) => fail(e),
        }
    }

    /// The loaded snapshot's version (0 before one is loaded).
    pub fn version(&self) -> f64 {
        self.snapshot.as_ref().map_or(0.0, |s| s.version() as f64)
    }

    /// Sets the evaluation context (an OpenFeature context object as JSON: `targetingKey` and
    /// attributes). Answers `{"ok":true}` or `{"ok":false,"error":…}` (the context stays).
    pub fn set_context(&mut self, context_json: &str) -> String {
        let parsed = serde_json::from_str::<Value>(context_json).map_err(|e| json::error_text(&e));
        match parsed.and_then(|v| Context::from_json(&v).map_err(|e| e.to_string())) {
            Ok(c) => {
                self.context = c;
                "{\"ok\":true}".into()
            }
            Err(e) => fail(format!("invalid context: {e}")),
        }
    }

    /// One flag for the current context, as OFREP's evaluation object:
    /// `{key, value?, variant?, reason, errorCode?, errorDetails?, metadata}`.
    pub fn evaluate(&self, key: &str, now_ms: f64) -> String {
        let Some(snapshot) = &self.snapshot else { return no_snapshot(key) };
        let e = snapshot.evaluate(key, &self.context, now_ms as i64);
        let mut out = String::with_capacity(128);
        Resolution { key, evaluation: &e, snapshot_version: snapshot.version() }.write_json(&mut out);
        out
    }

    /// Every flag for the current context: `{"flags":[…], "version":N}`.
    pub fn evaluate_all(&self, now_ms: f64) -> String {
        let Some(snapshot) = &self.snapshot else { return "{\"flags\":[],\"version\":0}".into() };
        let version = snapshot.version();
        // Written straight into one buffer: no intermediate JSON values.
        let mut out = String::with_capacity(128 * snapshot.flag_count() + 32);
        out.push_str("{\"flags\":[");
        for (i, (key, e)) in snapshot.evaluate_all(&self.context, now_ms as i64).enumerate() {
            if i > 0 {
                out.push(',');
            }
            Resolution { key, evaluation: &e, snapshot_version: version }.write_json(&mut out);
        }
        let _ = write!(out, "],\"version\":{version}}}");
        out
    }

    /// The context-independent facts of every flag, in snapshot order, for a JS fast path that
    /// decodes them once per snapshot: `{"version":N,"flags":[{"key","flagVersion","timed",
    /// "variants":[{"key","value"}],"rules":["id"|""]}]}`; `timed` flags' answers can change
    /// with the clock alone (rule windows), every other answer only with snapshot or context.
    pub fn table(&self) -> String {
        let Some(s) = &self.snapshot else { return "{\"version\":0,\"flags\":[]}".into() };
        let mut out = format!("{{\"version\":{},\"flags\":[", s.version());
        for (i, key) in s.flag_keys().enumerate() {
            if i > 0 {
                out.push(',');
            }
            out.push_str("{\"key\":");
            write_str(&mut out, key);
            let _ = write!(
                out,
                ",\"flagVersion\":{},\"timed\":{},\"variants\":[",
                s.flag_version_at(i),
                s.flag_depends_on_time(i)
            );
            for (j, (k, v)) in s.flag_variants(i).enumerate() {
                out.push_str(if j > 0 { ",{\"key\":" } else { "{\"key\":" });
                write_str(&mut out, k);
                out.push_str(",\"value\":");
                write_value(&mut out, v);
                out.push('}');
            }
            out.push_str("],\"rules\":[");
            for (j, r) in s.flag_rule_ids(i).enumerate() {
                if j > 0 {
                    out.push(',');
                }
                write_str(&mut out, r);
            }
            out.push_str("]}");
        }
        out.push_str("]}");
        out
    }

    /// The flag at `index` (in [`Self::table`] order) for the current context, packed into a
    /// number: `variant + 1` (bits 0–11, 0 = no value), reason (bits 12–15, see [`REASONS`]),
    /// `rule + 1` (bits 16–31, 0 = none). `-1` when the answer needs [`Self::evaluate`] (an
    /// error, or indexes too large to pack).
    pub fn evaluate_packed(&self, index: u32, now_ms: f64) -> f64 {
        let Some(s) = &self.snapshot else { return -1.0 };
        let Some(id) = self.ids.get(index as usize) else { return -1.0 };
        pack(&s.evaluate_id(*id, &self.context, now_ms as i64))
    }

    /// Every flag for the current context, packed as [`Self::evaluate_packed`] does.
    pub fn evaluate_all_packed(&self, now_ms: f64) -> Vec<f64> {
        let Some(s) = &self.snapshot else { return Vec::new() };
        s.evaluate_all(&self.context, now_ms as i64).map(|(_, e)| pack(&e)).collect()
    }

    /// The flag at `index` (in [`Self::table`] order) for each of `keys` (targeting keys, one per
    /// line) with the rest of the current context, packed as [`Self::evaluate_packed`] does. The
    /// console's impact estimate: one call sweeps 100k keys without crossing the boundary per key.
    pub fn evaluate_keys_packed(&self, index: u32, keys: &str, now_ms: f64) -> Vec<f64> {
        let (Some(s), Some(id)) = (&self.snapshot, self.ids.get(index as usize)) else { return Vec::new() };
        let mut context = self.context.clone();
        keys.split('\n')
            .map(|key| {
                context.set(vane_core::TARGETING_KEY, key);
                pack(&s.evaluate_id(*id, &context, now_ms as i64))
            })
            .collect()
    }

    /// A config's value as JSON, or `null` when the snapshot has none by that key.
    pub fn config(&self, key: &str) -> String {
        self.snapshot.as_ref().and_then(|s| s.config(key)).map_or_else(|| "null".into(), |c| json::to_string(&c.value))
    }
}

/// Reason codes of packed results, in this order (the JS client has the same list).
pub const REASONS: [&str; 7] =
    ["STATIC", "TARGETING_MATCH", "SPLIT", "DEFAULT", "DISABLED", "PREREQUISITE_FAILED", "ERROR"];

fn pack(e: &vane_core::Evaluation<'_>) -> f64 {
    if e.error_code().is_some() {
        return -1.0;
    }
    let reason = match e.reason() {
        vane_core::Reason::Static => 0,
        vane_core::Reason::TargetingMatch => 1,
        vane_core::Reason::Split => 2,
        vane_core::Reason::Default => 3,
        vane_core::Reason::Disabled => 4,
        vane_core::Reason::PrerequisiteFailed => 5,
        vane_core::Reason::Error => 6,
    };
    let variant = match (e.variant(), e.variant_index()) {
        (None, _) => 0,
        (Some(_), Some(i)) if i < 4095 => i + 1,
        (Some(_), _) => return -1.0,
    };
    let rule = match (e.rule_id(), e.rule_index()) {
        (None, _) => 0,
        (Some(_), Some(i)) if i < 65535 => i + 1,
        (Some(_), _) => return -1.0,
    };
    (variant | (reason << 12) | (rule << 16)) as f64
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn doc(version: u64) -> String {
        json!({"format_version": 1, "application": "app", "environment": "production", "version": version,
               "flags": [{"key": "ca", "type": "boolean", "default": {"variant": "off"},
                          "rules": [{"id": "r", "conditions": [{"attribute": "country", "operator": "in", "values": ["CA"]}],
                                     "serve": {"variant": "on"}}]}],
               "configs": [{"key": "limit", "value": 5, "value_type": "number", "version": 1}]})
        .to_string()
    }

    fn parse(s: &str) -> Value {
        serde_json::from_str(s).unwrap_or(Value::Null)
    }

    #[test]
    fn loads_evaluates_and_reports_errors_as_values() {
        let mut e = Engine::new();
        assert_eq!(parse(&e.evaluate("ca", 0.0))["errorCode"], "FLAG_NOT_FOUND");
        assert_eq!(parse(&e.load(&doc(3)))["version"], 3);
        assert_eq!(parse(&e.load("{not json"))["ok"], false);
        assert_eq!(parse(&e.load(&doc(2)))["ok"], false, "older snapshots do not replace newer ones");
        assert_eq!(e.version(), 3.0);
        assert_eq!(parse(&e.set_context(r#"{"targetingKey":"u","country":"CA"}"#))["ok"], true);
        let r = parse(&e.evaluate("ca", 0.0));
        assert_eq!((r["value"].clone(), r["reason"].clone()), (json!(true), json!("TARGETING_MATCH")));
        assert_eq!(parse(&e.set_context("[1]"))["ok"], false);
        assert_eq!(parse(&e.evaluate("ca", 0.0))["value"], true, "a bad context leaves the old one");
        assert_eq!(parse(&e.evaluate("nope", 0.0))["errorCode"], "FLAG_NOT_FOUND");
        assert_eq!(parse(&e.evaluate_all(0.0))["flags"].as_array().map(Vec::len), Some(1));
        assert_eq!(e.config("limit"), "5");
        // Packed: variant "on" is index 0 of the implicit on/off (→ 1), TARGETING_MATCH (1), rule 0 (→ 1).
        let table = parse(&e.table());
        assert_eq!(table["flags"][0]["variants"][0]["key"], "on");
        assert_eq!(table["flags"][0]["rules"][0], "r");
        assert_eq!(table["flags"][0]["timed"], false);
        assert_eq!(e.evaluate_packed(0, 0.0), f64::from(1 | (1 << 12) | (1 << 16)));
        assert_eq!(e.evaluate_all_packed(0.0), vec![f64::from(1 | (1 << 12) | (1 << 16))]);
        assert_eq!(e.evaluate_packed(7, 0.0), -1.0);
        for (i, r) in REASONS.iter().enumerate() {
            assert_eq!(
                *r,
                [
                    vane_core::Reason::Static,
                    vane_core::Reason::TargetingMatch,
                    vane_core::Reason::Split,
                    vane_core::Reason::Default,
                    vane_core::Reason::Disabled,
                    vane_core::Reason::PrerequisiteFailed,
                    vane_core::Reason::Error
                ][i]
                    .as_str()
            );
        }
        assert_eq!(e.config("missing"), "null");
    }

    #[test]
    fn sweeps_targeting_keys_over_the_rest_of_the_context() {
        let mut e = Engine::new();
        assert!(e.evaluate_keys_packed(0, "a", 0.0).is_empty(), "no snapshot, no answers");
        e.load(&doc(1));
        // The context's other attributes stay: country CA matches the rule for every key.
        e.set_context(r#"{"targetingKey":"u","country":"CA"}"#);
        let matched = f64::from(1 | (1 << 12) | (1 << 16));
        assert_eq!(e.evaluate_keys_packed(0, "a\nb\nc", 0.0), vec![matched; 3]);
        e.set_context(r#"{"country":"FR"}"#);
        let default = f64::from(2 | (3 << 12));
        assert_eq!(e.evaluate_keys_packed(0, "a\nb", 0.0), vec![default; 2]);
        assert!(e.evaluate_keys_packed(9, "a", 0.0).is_empty(), "no flag at that index");
    }
}
