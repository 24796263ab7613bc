//! The engine demo behind `cargo xtask run`: compiles a snapshot and evaluates every flag for a
//! few people, printing value, variant and reason for each.
//!
//! `cargo xtask run -- [--snapshot FILE] [--context JSON] [--now RFC3339]`

#![allow(clippy::print_stdout)] // a command-line demo prints

use std::process::ExitCode;

use serde_json::{Value, json};
use vane_core::{Context, Resolution, compile_json, datetime::parse_rfc3339_ms};

const DEMO: &str = include_str!("demo-snapshot.json");

fn main() -> ExitCode {
    match demo() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("demo: {e}");
            ExitCode::FAILURE
        }
    }
}

fn demo() -> Result<(), String> {
    let mut args = std::env::args().skip(1);
    let mut snapshot_text = DEMO.to_owned();
    let mut contexts: Vec<Value> = vec![
        json!({"targetingKey": "user-ada", "country": "GB", "plan": "pro", "app_version": "2.1.0"}),
        json!({"targetingKey": "user-42", "country": "CA", "email": "Sam@Vane.dev", "plan": "free"}),
        json!({"targetingKey": "user-77", "country": "US", "plan": "pro", "app_version": "1.9.3"}),
        json!({"targetingKey": "user-mallory", "country": "FR", "email": "m@vane.dev"}),
    ];
    let mut now = "2026-12-24T12:00:00Z".to_owned();
    while let Some(arg) = args.next() {
        let mut value = || args.next().ok_or(format!("{arg} needs a value"));
        match arg.as_str() {
            "--snapshot" => {
                let path = value()?;
                snapshot_text = std::fs::read_to_string(&path).map_err(|e| format!("{path}: {e}"))?;
            }
            "--context" => contexts = vec![serde_json::from_str(&value()?).map_err(|e| format!("--context: {e}"))?],
            "--now" => now = value()?,
            other => return Err(format!("unknown argument {other}")),
        }
    }
    let now_ms = parse_rfc3339_ms(&now).ok_or(format!("--now: not an RFC 3339 datetime: {now}"))?;
    let (snap, warnings) = compile_json(&snapshot_text).map_err(|e| e.to_string())?;
    for w in &warnings {
        eprintln!("warning: {w}");
    }
    println!(
        "Vane engine demo — {} / {} v{}: {} flags, {} configs, evaluated at {now}\n",
        snap.application(),
        snap.environment(),
        snap.version(),
        snap.flag_count(),
        snap.configs().len()
    );
    for c in &contexts {
        let ctx = Context::from_json(c).map_err(|e| format!("context {c}: {e}"))?;
        println!("context {c}");
        for (key, e) in snap.evaluate_all(&ctx, now_ms) {
            let value = e.value().map_or_else(|| "(caller default)".to_owned(), Value::to_string);
            let detail = e.error_details(key).map(|d| format!("  ({d})")).unwrap_or_default();
            println!("  {key:<16} {value:<44} {:<12} {}{detail}", e.variant().unwrap_or("-"), e.reason().as_str());
        }
        println!();
    }
    if let (Some(c), Some(key)) = (contexts.first(), snap.flag_keys().nth(2)) {
        let ctx = Context::from_json(c).map_err(|e| e.to_string())?;
        let e = snap.evaluate(key, &ctx, now_ms);
        let json = serde_json::to_string(&Resolution { key, evaluation: &e, snapshot_version: snap.version() })
            .map_err(|e| e.to_string())?;
        println!("As JSON (the shape every Vane surface returns):\n  {json}\n");
    }
    for config in snap.configs() {
        println!("config {} = {} (v{})", config.key, config.value, config.version);
    }
    Ok(())
}
