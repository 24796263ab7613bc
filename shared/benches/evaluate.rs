//! Criterion benchmarks for the rows of BENCHMARKS.md. Run: `cargo bench -p vane-core`.
//!
//! Each case evaluates against a pre-built context, like a server that parses the request
//! context once and evaluates flags with it; compile cases start from the JSON text.
//! Single-flag cases run twice: by key (what a request does) and by a pre-resolved
//! [`vane_core::FlagId`] (the engine alone). The allocator is mimalloc, as in the `vane`
//! binaries; `examples/profile_compile.rs` gives the system-allocator figure for compile.

#![allow(clippy::unwrap_used)] // a benchmark: failing loudly on bad fixtures is right

use std::hint::black_box;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use criterion::{Criterion, criterion_group, criterion_main};
use serde_json::json;
use vane_core::{Context, compile_json};

mod fixtures;
use fixtures::{doc, mixed_flag};

const NOW: i64 = 1_750_000_000_000;

fn context() -> Context {
    Context::from_json(&json!({
        "targetingKey": "user-8472", "country": "CA", "plan": "pro", "email": "jo@example.com", "version": "2.3.1"
    }))
    .unwrap()
}

fn single_flag_cases(c: &mut Criterion) {
    let flags = vec![
        json!({"key": "static", "type": "boolean", "default": {"variant": "on"}}),
        json!({"key": "one-in", "type": "boolean", "default": {"variant": "off"},
            "rules": [{"conditions": [{"attribute": "country", "operator": "in", "values": ["US", "CA", "MX"]}], "serve": {"variant": "on"}}]}),
        json!({"key": "cond-rollout", "type": "boolean", "salt": "s", "default": {"variant": "off"},
            "rules": [{"conditions": [{"attribute": "country", "operator": "in", "values": ["US", "CA", "MX"]}],
                       "serve": {"rollout": {"weights": {"on": 50_000, "off": 50_000}}}}]}),
        json!({"key": "multivariate", "type": "json", "salt": "s",
            "variants": [{"key": "a", "value": {"layout": "grid", "columns": 3, "promo": {"text": "Hi", "color": "#f00"}}},
                         {"key": "b", "value": {"layout": "list", "columns": 1, "promo": {"text": "Hey", "color": "#0f0"}}},
                         {"key": "c", "value": {"layout": "cards", "columns": 2, "promo": null}}],
            "default": {"rollout": {"weights": {"a": 20_000, "b": 30_000, "c": 50_000}}}}),
        json!({"key": "segment", "type": "boolean", "default": {"variant": "off"},
            "rules": [{"conditions": [{"attribute": "targetingKey", "operator": "in_segment", "values": ["big"]}], "serve": {"variant": "on"}}]}),
    ];
    let members: Vec<String> = (0..100_000).map(|i| format!("user-{i}")).collect();
    let (snap, warnings) = compile_json(&doc(flags, vec![json!({"key": "big", "included": members})])).unwrap();
    assert!(warnings.is_empty(), "{warnings:?}");
    let ctx = context();
    let mut g = c.benchmark_group("evaluate");
    for (name, key) in [
        ("static flag", "static"),
        ("one in condition", "one-in"),
        ("condition + 50% rollout", "cond-rollout"),
        ("multivariate rollout with payload", "multivariate"),
        ("membership in a 100k-key segment", "segment"),
    ] {
        g.bench_function(format!("{name} (by key)"), |b| {
            b.iter(|| black_box(snap.evaluate(black_box(key), black_box(&ctx), NOW)))
        });
        let id = snap.flag_id(key).unwrap();
        g.bench_function(format!("{name} (by handle)"), |b| {
            b.iter(|| black_box(snap.evaluate_id(black_box(id), black_box(&ctx), NOW)))
        });
    }
    g.finish();
}

fn all_flags(c: &mut Criterion) {
    let segment = json!({"key": "beta", "included": (0..1000).map(|i| format!("user-{i}")).collect::<Vec<_>>()});
    let (snap, warnings) = compile_json(&doc((0..350).map(mixed_flag).collect(), vec![segment])).unwrap();
    assert!(warnings.is_empty(), "{warnings:?}");
    let ctx = context();
    c.bench_function("evaluate/all 350 flags for one context", |b| {
        b.iter(|| {
            for (k, e) in snap.evaluate_all(black_box(&ctx), NOW) {
                black_box((k, e));
            }
        })
    });
}

fn compile_10k(c: &mut Criterion) {
    let segment = json!({"key": "beta", "included": (0..1000).map(|i| format!("user-{i}")).collect::<Vec<_>>()});
    let text = doc((0..10_000).map(mixed_flag).collect(), vec![segment]);
    let mut g = c.benchmark_group("compile");
    g.sample_size(20);
    // The result is dropped outside the timed region: freeing the previous snapshot is not
    // compile work (and happens off the request path when a new version is swapped in).
    g.bench_function("10,000 flags from JSON", |b| b.iter_with_large_drop(|| compile_json(black_box(&text)).unwrap()));
    // The browser package's path: the streaming reader of `vane_core::read`.
    g.bench_function("10,000 flags from JSON, streaming reader (browser path)", |b| {
        b.iter_with_large_drop(|| vane_core::compile_json_compact(black_box(&text)).unwrap())
    });
    g.finish();
}

/// What the machine gives before any engine work: the harness loop itself, and one lookup in
/// the standard library's map, which every "by key" evaluation must beat to be cheap.
fn calibration(c: &mut Criterion) {
    let mut g = c.benchmark_group("calibration");
    g.bench_function("harness floor (return a constant)", |b| b.iter(|| black_box(7u64)));
    let map: std::collections::HashMap<String, u32> = (0..350).map(|i| (format!("flag-{i}"), i)).collect();
    g.bench_function("std HashMap<String, u32> get", |b| b.iter(|| black_box(map.get(black_box("flag-123")))));
    g.finish();
}

criterion_group!(benches, calibration, single_flag_cases, all_flags, compile_10k);
criterion_main!(benches);
