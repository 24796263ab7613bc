//! Profiling driver: `cargo run --release -p vane-core --example profile_compile -- <flags> <rounds>`.
use serde_json::json;

#[path = "../benches/fixtures/mod.rs"]
mod fixtures;
use fixtures::mixed_flag;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let n: usize = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(10_000);
    let rounds: usize = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(5);
    let segment = json!({"key": "beta", "included": (0..1000).map(|i| format!("user-{i}")).collect::<Vec<_>>()});
    let text = json!({"format_version": 1, "application": "p", "environment": "e", "version": 1,
        "flags": (0..n).map(mixed_flag).collect::<Vec<_>>(), "segments": [segment]})
    .to_string();
    eprintln!("{} bytes", text.len());
    // Results are kept until after timing, as in the criterion bench: freeing the previous
    // snapshot is not compile work.
    let mut kept = Vec::with_capacity(rounds);
    let start = std::time::Instant::now();
    for _ in 0..rounds {
        kept.push(std::hint::black_box(vane_core::compile_json(&text)));
    }
    eprintln!("{:.1} ms/compile (system allocator)", start.elapsed().as_secs_f64() * 1000.0 / rounds as f64);
    drop(kept);
    if args.get(3).map(String::as_str) != Some("deserialize") {
        return;
    }
    let start = std::time::Instant::now();
    for _ in 0..rounds {
        let parsed: vane_core::Snapshot = serde_json::from_str(&text).unwrap_or_else(|_| std::process::exit(1));
        std::hint::black_box(&parsed);
    }
    eprintln!("{:.1} ms/deserialize only", start.elapsed().as_secs_f64() * 1000.0 / rounds as f64);
}
