//! Profiling driver: `cargo run --release -p vane-core --example profile_eval -- <flag> <iterations>`.
use serde_json::json;
use vane_core::{Context, compile_json};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let key = args.get(1).map_or("one-in", String::as_str);
    let n: u64 = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(10_000_000);
    let doc = json!({"format_version": 1, "application": "p", "environment": "e", "version": 1, "flags": [
        {"key": "static", "type": "boolean", "default": {"variant": "on"}},
        {"key": "one-in", "type": "boolean", "default": {"variant": "off"},
         "rules": [{"conditions": [{"attribute": "country", "operator": "in", "values": ["US", "CA", "MX"]}], "serve": {"variant": "on"}}]},
        {"key": "cond-rollout", "type": "boolean", "salt": "s", "default": {"variant": "off"},
         "rules": [{"conditions": [{"attribute": "country", "operator": "in", "values": ["US", "CA", "MX"]}],
                    "serve": {"rollout": {"weights": {"on": 50_000, "off": 50_000}}}}]}
    ]});
    let (snap, _) = compile_json(&doc.to_string()).unwrap_or_else(|e| {
        std::process::exit({
            eprintln!("{e}");
            1
        })
    });
    let ctx = Context::from_json(&json!({"targetingKey": "user-8472", "country": "CA", "plan": "pro", "email": "jo@example.com", "version": "2.3.1"})).unwrap_or_default();
    let start = std::time::Instant::now();
    let mut hits = 0u64;
    let handle = args.get(3).is_some_and(|a| a == "handle");
    let id = snap.flag_id(key).unwrap_or_else(|| std::process::exit(2));
    for _ in 0..n {
        let e = if handle {
            snap.evaluate_id(std::hint::black_box(id), &ctx, 0)
        } else {
            snap.evaluate(std::hint::black_box(key), &ctx, 0)
        };
        hits += u64::from(e.value().is_some());
    }
    eprintln!("{key}: {:.1} ns/eval ({hits})", start.elapsed().as_nanos() as f64 / n as f64);
}
