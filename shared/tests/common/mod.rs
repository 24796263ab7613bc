//! Helpers shared by vane-core's integration tests.
#![allow(dead_code, clippy::expect_used)]

use serde_json::{Value, json};
use vane_core::{CompiledSnapshot, Context, compile_json};

/// A snapshot document with the given flags and segments (server audience).
pub fn snapshot_json(flags: Value, segments: Value) -> String {
    json!({
        "format_version": 1,
        "application": "test",
        "environment": "production",
        "version": 7,
        "flags": flags,
        "segments": segments,
    })
    .to_string()
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
    Context::from_json(&v).expect("object context")
}

pub const NOW: i64 = 1_750_000_000_000;
