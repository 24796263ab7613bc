//! The edge worker's request handling without the runtime: OFREP single and bulk answers
//! (parse the body, evaluate, serialise) for the 350-flag fixture the engine benchmarks use.
//! `cargo bench -p vane-edge`. Under workerd the same code runs as wasm, plus the runtime.
#![allow(clippy::unwrap_used)]

use criterion::{Criterion, criterion_group, criterion_main};
use serde_json::json;
use vane_core::compile_json;

#[path = "../../shared/benches/fixtures/mod.rs"]
mod fixtures;

fn ofrep(c: &mut Criterion) {
    let segment = json!({"key": "beta", "included": (0..1000).map(|i| format!("user-{i}")).collect::<Vec<_>>()});
    let (snap, _) = compile_json(&fixtures::doc((0..350).map(fixtures::mixed_flag).collect(), vec![segment])).unwrap();
    let body =
        br#"{"context":{"targetingKey":"user-42","country":"CA","plan":"pro","email":"a@acme.com","version":"2.1.0"}}"#;
    let now = 1_790_000_000_000;
    c.bench_function("ofrep/single flag (rule), parse + evaluate + serialise", |b| {
        b.iter(|| vane_edge::ofrep::single(&snap, "flag-1", body, now))
    });
    let bulk = vane_edge::ofrep::bulk(&snap, None, body, None, now);
    assert_eq!(bulk.status, 200);
    c.bench_function(
        &format!("ofrep/bulk 350 flags ({} bytes), parse + evaluate + serialise + ETag", bulk.body.len()),
        |b| b.iter(|| vane_edge::ofrep::bulk(&snap, None, body, None, now)),
    );
    let fragments = vane_edge::ofrep::Fragments::new(&snap);
    assert_eq!(vane_edge::ofrep::bulk(&snap, Some(&fragments), body, None, now), bulk);
    c.bench_function("ofrep/bulk 350 flags, spliced from per-snapshot fragments", |b| {
        b.iter(|| vane_edge::ofrep::bulk(&snap, Some(&fragments), body, None, now))
    });
}

criterion_group!(benches, ofrep);
criterion_main!(benches);
