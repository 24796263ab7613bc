//! Helpers shared by vane-core's integration tests.
//!
//! They also record test vectors for the parity harness (`tests/tests/parity.rs`, which checks
//! that the wasm32 builds answer exactly as native code does): when `VANE_VECTORS_OUT` names a
//! directory, every snapshot document [`snapshot_json`] builds and every context [`ctx`] reads is
//! appended to a JSON-lines file per test (`{binary}-{pid}-{thread}.jsonl`; libtest runs each test
//! on its own thread, named after it), and [`record_vector`] adds a whole vector. The harness
//! evaluates every context a test recorded against every snapshot it recorded.
#![allow(dead_code, clippy::expect_used)]

use std::cell::RefCell;
use std::fs::File;
use std::io::Write as _;
use std::path::PathBuf;
use std::sync::OnceLock;

use serde_json::{Value, json};
use vane_core::{CompiledSnapshot, Context, compile_json};

/// A snapshot document with the given flags and segments (server audience).
pub fn snapshot_json(flags: Value, segments: Value) -> String {
    let text = json!({
        "format_version": 1,
        "application": "test",
        "environment": "production",
        "version": 7,
        "flags": flags,
        "segments": segments,
    })
    .to_string();
    record(&json!({"snapshot": text}));
    text
}

/// Records one explicit parity vector: `contexts` evaluated against `snapshot_json` at `now`
/// (for tests that build snapshots or contexts without these helpers, e.g. conformance suites).
/// Does nothing unless `VANE_VECTORS_OUT` is set.
pub fn record_vector(snapshot_json: &str, contexts: &[Value], now: i64) {
    record(&json!({"snapshot": snapshot_json, "contexts": contexts, "now": now}));
}

/// Appends `line` to this test thread's vector file when `VANE_VECTORS_OUT` is set.
fn record(line: &Value) {
    static DIR: OnceLock<Option<PathBuf>> = OnceLock::new();
    thread_local! {
        static FILE: RefCell<Option<File>> = const { RefCell::new(None) };
    }
    let Some(dir) = DIR.get_or_init(|| std::env::var_os("VANE_VECTORS_OUT").map(PathBuf::from)) else { return };
    FILE.with_borrow_mut(|file| {
        let file = file.get_or_insert_with(|| {
            let binary = std::env::current_exe()
                .ok()
                .and_then(|p| p.file_stem().map(|s| s.to_string_lossy().into_owned()))
                .unwrap_or_default();
            let thread = std::thread::current();
            let name = format!("{}-{:?}", thread.name().unwrap_or("thread"), thread.id());
            let name: String = name
                .chars()
                .map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' { c } else { '_' })
                .take(120)
                .collect();
            std::fs::create_dir_all(dir).expect("VANE_VECTORS_OUT: cannot create the directory");
            let path = dir.join(format!("{binary}-{}-{name}.jsonl", std::process::id()));
            File::options().create(true).append(true).open(&path).expect("VANE_VECTORS_OUT: cannot open a vector file")
        });
        // One write per line, so a line is never interleaved with another.
        file.write_all(format!("{line}\n").as_bytes()).expect("VANE_VECTORS_OUT: cannot write a vector");
    });
}

pub fn compiled(flags: Value, segments: Value) -> CompiledSnapshot {
    let (snap, warnings) = compile_json(&snapshot_json(flags, segments)).expect("valid envelope");
    assert!(warnings.is_empty(), "unexpected warnings: {warnings:?}");
    snap
}

/// A boolean flag `f` whose single rule has `condition` and serves `on`; default `off`.
pub fn one_condition_flag(condition: Value) -> Value {
    json!([{
        "key": "f",
        "type": "boolean",
        "default": {"variant": "off"},
        "rules": [{"id": "r1", "conditions": [condition], "serve": {"variant": "on"}}]
    }])
}

pub fn ctx(v: Value) -> Context {
    record(&json!({"context": v}));
    Context::from_json(&v).expect("object context")
}

pub const NOW: i64 = 1_750_000_000_000;
