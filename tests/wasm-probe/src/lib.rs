//! # vane-wasm-probe
//!
//! `vane-core` behind one pure function, so the parity harness (`tests/tests/parity.rs`) can run
//! the same test vector natively and in the `wasm32-unknown-unknown` build of this crate (under
//! wasmtime) and compare the answers byte for byte.
//!
//! A vector is `{"snapshot": <snapshot JSON text, or the document itself>, "contexts": [<context
//! objects>], "now": <ms>}`. Its answer is one line of JSON: `{"error": "…"}` when the input or
//! the snapshot is unusable, else an array with, per context, the array of `Resolution` objects
//! of `evaluate_all` (serde_json's text, the canonical answer JSON) or `{"error": "…"}` for a
//! context that is not valid.
//!
//! On wasm32 the crate exports a C ABI (no wasm-bindgen): `probe_alloc(len) -> ptr`,
//! `probe_run(ptr, len) -> ptr << 32 | len` (the answer, kept until freed) and
//! `probe_free(ptr, len)`, for input and answer buffers alike.

use serde_json::Value;
use vane_core::{Context, Resolution, compile_json};

/// The answer to one vector: one line of JSON (see the crate documentation). Never panics.
pub fn run(input: &str) -> String {
    match evaluate_vector(input) {
        Ok(parts) => {
            let mut out = String::with_capacity(2 + parts.iter().map(|p| p.len() + 1).sum::<usize>());
            out.push('[');
            for (i, part) in parts.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(part);
            }
            out.push(']');
            out
        }
        Err(message) => error_json(&message),
    }
}

/// The answer's parts: per context, the JSON array of its `Resolution`s or `{"error": "…"}`;
/// `Err` when the input or the snapshot is unusable.
pub fn evaluate_vector(input: &str) -> Result<Vec<String>, String> {
    let vector: Value = serde_json::from_str(input).map_err(|e| format!("input is not JSON: {e}"))?;
    let snapshot_text = match vector.get("snapshot") {
        Some(Value::String(text)) => text.clone(),
        Some(doc @ Value::Object(_)) => serde_json::to_string(doc).map_err(|e| e.to_string())?,
        _ => return Err("input: \"snapshot\" must be the snapshot's JSON text or document".into()),
    };
    let Some(contexts) = vector.get("contexts").and_then(Value::as_array) else {
        return Err("input: \"contexts\" must be an array".into());
    };
    let Some(now) = vector.get("now").and_then(Value::as_i64) else {
        return Err("input: \"now\" must be an integer (milliseconds)".into());
    };
    let (snapshot, _warnings) = compile_json(&snapshot_text).map_err(|e| e.to_string())?;
    let version = snapshot.version();
    let mut parts = Vec::with_capacity(contexts.len());
    for context in contexts {
        let context = match Context::from_json(context) {
            Ok(c) => c,
            Err(e) => {
                parts.push(error_json(&format!("invalid context: {e}")));
                continue;
            }
        };
        let mut part = String::from("[");
        for (i, (key, evaluation)) in snapshot.evaluate_all(&context, now).enumerate() {
            if i > 0 {
                part.push(',');
            }
            let resolution = Resolution { key, evaluation: &evaluation, snapshot_version: version };
            match serde_json::to_string(&resolution) {
                Ok(text) => part.push_str(&text),
                Err(e) => return Err(format!("cannot serialise the resolution of {key}: {e}")),
            }
        }
        part.push(']');
        parts.push(part);
    }
    Ok(parts)
}

/// `{"error": message}`.
pub fn error_json(message: &str) -> String {
    let mut map = serde_json::Map::new();
    map.insert("error".into(), Value::String(message.into()));
    Value::Object(map).to_string()
}

/// The C ABI the harness drives under wasmtime. Buffers are `Box<[u8]>`s handed out whole and
/// taken back whole, so every pointer `probe_free` receives is one of ours with its own length.
#[cfg(target_arch = "wasm32")]
#[allow(unsafe_code)]
mod ffi {
    /// A buffer of `len` bytes for the host to write an input into; free it with `probe_free`.
    #[unsafe(no_mangle)]
    pub extern "C" fn probe_alloc(len: usize) -> *mut u8 {
        Box::leak(vec![0u8; len].into_boxed_slice()).as_mut_ptr()
    }

    /// Frees a buffer from `probe_alloc` or `probe_run`.
    ///
    /// # Safety
    /// `ptr` and `len` must be a buffer `probe_alloc` or `probe_run` returned, not yet freed.
    #[unsafe(no_mangle)]
    pub unsafe extern "C" fn probe_free(ptr: *mut u8, len: usize) {
        if ptr.is_null() {
            return;
        }
        // SAFETY: the caller gives back a `Box<[u8]>` of exactly `len` bytes that we leaked.
        drop(unsafe { Box::from_raw(std::ptr::slice_from_raw_parts_mut(ptr, len)) });
    }

    /// Runs the vector in `ptr[..len]` (UTF-8 JSON) and returns its answer as
    /// `answer_ptr << 32 | answer_len`; the answer stays until `probe_free(answer_ptr, answer_len)`.
    ///
    /// # Safety
    /// `ptr[..len]` must be readable (a buffer from `probe_alloc` the host has written).
    #[unsafe(no_mangle)]
    pub unsafe extern "C" fn probe_run(ptr: *const u8, len: usize) -> u64 {
        // SAFETY: the caller guarantees `len` readable bytes at `ptr`.
        let input = unsafe { std::slice::from_raw_parts(ptr, len) };
        let answer = match std::str::from_utf8(input) {
            Ok(text) => super::run(text),
            Err(e) => super::error_json(&format!("input is not UTF-8: {e}")),
        };
        let answer = Box::leak(answer.into_bytes().into_boxed_slice());
        // wasm32 addresses and lengths are 32 bits.
        ((answer.as_mut_ptr() as usize as u64) << 32) | answer.len() as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn doc() -> Value {
        json!({"format_version": 1, "application": "a", "environment": "e", "version": 3,
               "flags": [{"key": "ca", "type": "boolean", "default": {"variant": "off"},
                          "rules": [{"id": "r", "conditions": [{"attribute": "country", "operator": "in", "values": ["CA"]}],
                                     "serve": {"variant": "on"}}]}]})
    }

    #[test]
    fn answers_per_context_with_the_canonical_resolution_json() {
        let input = json!({"snapshot": doc().to_string(), "contexts": [{"country": "CA"}, [1], {}], "now": 0});
        let out = run(&input.to_string());
        let parsed: Value = serde_json::from_str(&out).unwrap();
        assert_eq!(parsed[0][0]["value"], true);
        assert_eq!(parsed[0][0]["reason"], "TARGETING_MATCH");
        assert!(parsed[1]["error"].as_str().unwrap().starts_with("invalid context"));
        assert_eq!(parsed[2][0]["value"], false);
        // The same document given as an object answers the same bytes.
        let as_object = json!({"snapshot": doc(), "contexts": [{"country": "CA"}, [1], {}], "now": 0});
        assert_eq!(run(&as_object.to_string()), out);
        assert!(!out.contains('\n'));
    }

    #[test]
    fn unusable_inputs_are_errors_not_panics() {
        for input in ["", "[]", r#"{"snapshot": "{}", "contexts": [], "now": 0}"#, r#"{"snapshot": 5}"#] {
            let out: Value = serde_json::from_str(&run(input)).unwrap();
            assert!(out["error"].is_string(), "{input}: {out}");
        }
        let no_now: Value =
            serde_json::from_str(&run(&json!({"snapshot": doc(), "contexts": []}).to_string())).unwrap();
        assert!(no_now["error"].as_str().unwrap().contains("\"now\""), "{no_now}");
    }
}
