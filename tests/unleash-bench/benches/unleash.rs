//! vane-core vs unleash-yggdrasil (Unleash's own Rust engine, the core of its Java, .NET,
//! Python, Ruby and PHP SDKs) on the same Unleash definitions and the same context, one run,
//! same machine. Vane evaluates the flags its importer made of the definitions; Yggdrasil
//! evaluates the definitions themselves. Ratios are in BENCHMARKS.md.
//!
//! `cargo bench -p vane-unleash-bench` (or `cargo xtask bench-unleash`).
#![allow(clippy::expect_used, clippy::unwrap_used)] // a benchmark's setup may stop on bad input

use std::hint::black_box;

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use unleash_yggdrasil::state::EnrichedContext;
use unleash_yggdrasil::{Context as YContext, EngineState, UpdateMessage};
use vane_core::compile::compile_owned;
use vane_core::{CompiledSnapshot, Context, unleash};
use vane_unleash_bench::{constraint_and_rollout, context, mixed, state, two_strategy_variants};

mod engines;
use engines::{vane, yggdrasil};

const NOW: i64 = 1_795_000_000_000;

/// The same in two steps, through the snapshot (what `vane import unleash` writes).
fn vane_two_steps(text: &str) -> CompiledSnapshot {
    let (snapshot, _notes) = unleash::import_str(text, "bench", "production", 1).expect("imports");
    let (compiled, warnings) = compile_owned(snapshot);
    assert!(warnings.is_empty(), "{warnings:?}");
    compiled
}

fn contexts() -> (Context, YContext) {
    let c = context();
    (unleash::context(&c).expect("context"), serde_json::from_value(c).expect("Unleash context"))
}

fn single(c: &mut Criterion) {
    let (vctx, yctx) = contexts();
    let mut g = c.benchmark_group("unleash/one flag: constraint + 50% flexibleRollout, isEnabled");
    let text = state(vec![constraint_and_rollout("f")]);
    let (v, y) = (vane(&text), yggdrasil(&text));
    let id = v.flag_id("f").expect("imported");
    // Both engines agree before anything is timed.
    assert_eq!(unleash::is_enabled(&v.evaluate_id(id, &vctx, NOW)), y.is_enabled("f", &yctx, &None));
    g.bench_function("vane", |b| b.iter(|| unleash::is_enabled(&v.evaluate_id(black_box(id), &vctx, NOW))));
    g.bench_function("yggdrasil is_enabled", |b| b.iter(|| y.is_enabled(black_box("f"), &yctx, &None)));
    g.bench_function("yggdrasil check_enabled (no metrics)", |b| {
        b.iter(|| y.check_enabled(&EnrichedContext::from(&yctx, black_box("f"), None)))
    });
    g.finish();

    let mut g = c.benchmark_group("unleash/one flag: two strategy variants, getVariant");
    let text = state(vec![two_strategy_variants("f")]);
    let (v, y) = (vane(&text), yggdrasil(&text));
    let id = v.flag_id("f").expect("imported");
    let ours = unleash::variant(&v.evaluate_id(id, &vctx, NOW));
    let theirs = serde_json::to_value(y.get_variant("f", &yctx, &None)).expect("serialises");
    let ours = serde_json::to_value(ours).expect("serialises");
    for field in ["name", "payload", "enabled"] {
        assert_eq!(ours.get(field), theirs.get(field), "same {field}");
    }
    assert_eq!(ours.get("feature_enabled"), theirs.get("featureEnabled"), "same feature_enabled");
    g.bench_function("vane", |b| b.iter(|| unleash::variant(&v.evaluate_id(black_box(id), &vctx, NOW))));
    g.bench_function("yggdrasil get_variant", |b| b.iter(|| y.get_variant(black_box("f"), &yctx, &None)));
    g.bench_function("yggdrasil check_variant (no metrics)", |b| {
        b.iter(|| y.check_variant(&EnrichedContext::from(&yctx, black_box("f"), None)))
    });
    g.finish();
}

fn all_flags(c: &mut Criterion) {
    let (vctx, yctx) = contexts();
    let text = state((0..350).map(mixed).collect());
    let (v, y) = (vane(&text), yggdrasil(&text));
    let mut g = c.benchmark_group("unleash/all 350 flags for one context (enabled + variant each)");
    g.bench_function("vane", |b| {
        b.iter(|| {
            v.evaluate_all(&vctx, NOW)
                .map(|(k, e)| (k, unleash::is_enabled(&e), unleash::variant(&e)))
                .collect::<Vec<_>>()
        })
    });
    g.bench_function("yggdrasil resolve_all", |b| b.iter(|| y.resolve_all(&yctx, &None)));
    g.finish();
}

fn ingest(c: &mut Criterion) {
    for n in [1_000usize, 10_000] {
        let text = state((0..n).map(mixed).collect());
        let mut g = c.benchmark_group(format!("unleash/ingest {n} flags (JSON text → ready to evaluate)"));
        // Each row's time swings by up to ±30 % from sample to sample on a shared VM; more
        // samples (each one iteration at 10k) make each run's mean steadier. About 10 s per
        // Yggdrasil row at 10k.
        g.sample_size(if n > 1_000 { 30 } else { 60 });
        // Every row keeps one result alive at a time and drops it outside the timed region
        // (criterion's `LargeInput` batches), so no row pays for another's memory.
        g.bench_function("vane (parse + import + compile)", |b| {
            b.iter_batched(|| (), |()| vane(black_box(&text)), BatchSize::LargeInput)
        });
        g.bench_function("vane (import_str, then compile_owned)", |b| {
            b.iter_batched(|| (), |()| vane_two_steps(black_box(&text)), BatchSize::LargeInput)
        });
        let (snapshot, _) = unleash::import_str(&text, "bench", "production", 1).expect("imports");
        let vane_doc = serde_json::to_string(&snapshot).expect("serialises");
        g.bench_function("vane (a Vane snapshot: parse + compile)", |b| {
            b.iter_batched(
                || (),
                |()| vane_core::compile_json(black_box(&vane_doc)).expect("compiles"),
                BatchSize::LargeInput,
            )
        });
        g.bench_function("yggdrasil (parse + take_state)", |b| {
            b.iter_batched(
                EngineState::default,
                |engine| {
                    let message: UpdateMessage = serde_json::from_str(black_box(&text)).expect("reads");
                    engine.take_state(message);
                    engine
                },
                BatchSize::LargeInput,
            )
        });
        g.finish();
    }
}

criterion_group!(benches, single, all_flags, ingest);
criterion_main!(benches);
