//! Edge benchmarks behind BENCHMARKS.md (`cargo xtask bench-edge` builds and runs this):
//! a release `vane serve` on a throwaway PostgreSQL, the release worker under local workerd,
//! an application with 350 flags.
//!
//! 1. Propagation: admin write committed (its response received) → the edge answering with the
//!    new version, polled over one kept-alive connection; 100 writes.
//! 2. OFREP single-flag evaluation at moderate load: one kept-alive connection, requests back to
//!    back; then saturation with wrk.
//! 3. OFREP bulk evaluation of all 350 flags with wrk (p95 from wrk's Lua `done`).
//!
//! Everything shares the machine's two cores: workerd runs the worker on one thread.

#![allow(clippy::print_stdout)] // a benchmark report

use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use vane_e2e::http::Client;
use vane_e2e::stack::{ControlPlane, Edge, EdgeOptions, Runtime, scratch};

type Result<T = ()> = std::result::Result<T, String>;

const FLAGS: usize = 350;

/// 350 flags: a third static, a third with a targeting rule, a third with a segment rule and a
/// 50% rollout; a few strings and numbers among them.
fn definitions() -> Value {
    let mut flags = Vec::new();
    for i in 0..FLAGS {
        let key = format!("flag-{i:03}");
        let (ty, variants) = match i % 10 {
            8 => ("string", json!([{"key": "on", "value": "alpha"}, {"key": "off", "value": "beta"}])),
            9 => ("number", json!([{"key": "on", "value": 10}, {"key": "off", "value": 20}])),
            _ => ("boolean", json!([{"key": "on", "value": true}, {"key": "off", "value": false}])),
        };
        let mut flag =
            json!({"key": key, "type": ty, "variants": variants, "off_variant": "off", "default": {"variant": "on"}});
        match i % 3 {
            1 => {
                flag["rules"] = json!([{"id": "r", "conditions": [
                    {"attribute": "country", "operator": "in", "values": ["CA", "US", "MX"]},
                    {"attribute": "plan", "operator": "eq", "values": ["pro"]}],
                    "serve": {"variant": "off"}}]);
            }
            2 => {
                flag["rules"] = json!([{"id": "beta", "conditions": [
                    {"attribute": "targetingKey", "operator": "in_segment", "values": ["beta"]}], "serve": {"variant": "off"}}]);
                flag["default"] = json!({"rollout": {"weights": {"on": 50000, "off": 50000}}});
            }
            _ => {}
        }
        flags.push(flag);
    }
    let included: Vec<String> = (0..200).map(|i| format!("user-{}", i * 7)).collect();
    json!({
        "segments": [{"key": "beta", "included": included,
                      "conditions": [{"attribute": "email", "operator": "ends_with", "values": ["@example.com"]}]}],
        "flags": flags,
    })
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let at = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[at.min(sorted.len() - 1)]
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

fn wrk(title: &str, url: &str, key: &str, bulk: bool) -> Result {
    let script = scratch("wrk").with_extension("lua");
    let lua = format!(
        r#"wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer {key}"
local n = 0
local countries = {{"CA", "US", "FR", "DE"}}
request = function()
  n = n + 1
  local body = string.format('{{"context":{{"targetingKey":"user-%d","country":"%s","plan":"%s"}}}}',
    n % 10000, countries[n % 4 + 1], (n % 3 == 0) and "pro" or "free")
  return wrk.format(nil, nil, nil, body)
end
done = function(summary, latency, requests)
  io.write(string.format("{title}: %.0f req/s, p50 %.2f ms, p95 %.2f ms, p99 %.2f ms, errors %d (status) %d (socket)\n",
    summary.requests / (summary.duration / 1e6), latency:percentile(50) / 1000, latency:percentile(95) / 1000,
    latency:percentile(99) / 1000, summary.errors.status, summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout))
end
"#
    );
    std::fs::write(&script, lua).map_err(|e| e.to_string())?;
    let connections = if bulk { "-c8" } else { "-c16" };
    let out = Command::new("wrk")
        .args(["-t1", connections, "-d10s", "-s"])
        .arg(&script)
        .arg(url)
        .output()
        .map_err(|e| format!("wrk: {e} (apt-get install wrk)"))?;
    let _ = std::fs::remove_file(&script);
    let text = String::from_utf8_lossy(&out.stdout);
    match text.lines().find(|l| l.starts_with(title)) {
        Some(line) => {
            println!("{line}  [wrk -t1 {connections} -d10s]");
            Ok(())
        }
        None => Err(format!("wrk: {text}{}", String::from_utf8_lossy(&out.stderr))),
    }
}

fn main() -> Result {
    let cp = ControlPlane::start()?;
    cp.admin("POST", "/applications", Some(r#"{"key":"bench","name":"Bench"}"#))?;
    let t = Instant::now();
    let defs = definitions();
    vane_e2e::stack::seed(&cp.addr, &cp.admin, "bench", "production", &defs)?;
    eprintln!("seeded {FLAGS} flags in {:?}", t.elapsed());
    let edge = Edge::start(EdgeOptions::new(&cp.addr, &cp.edge, "bench"))?;
    let auth = format!("Bearer {}", cp.edge);
    let headers = [("Authorization", auth.as_str())];
    let single = "/ofrep/v1/evaluate/flags/flag-001";
    let body = r#"{"context":{"targetingKey":"user-42","country":"CA","plan":"pro"}}"#;
    let mut client = Client::new(&edge.addr);
    let first = client.send("POST", single, &headers, Some(body))?;
    if first.status != 200 {
        return Err(format!("edge answered {}: {}", first.status, first.body));
    }

    // 1. Propagation.
    let mut admin = Client::new(&cp.addr);
    let admin_auth = format!("Bearer {}", cp.admin);
    let mut delays = Vec::new();
    for i in 0..100 {
        let state = json!({"enabled": i % 2 == 1}).to_string();
        let path = format!("/api/v1/applications/bench/flags/flag-{:03}/environments/production", i % FLAGS);
        let answer = admin.send("PATCH", &path, &[("Authorization", admin_auth.as_str())], Some(&state))?;
        let committed = Instant::now();
        if answer.status != 200 {
            return Err(format!("PATCH: {} {}", answer.status, answer.body));
        }
        let snapshot =
            admin.send("GET", "/api/v1/snapshots/bench/production", &[("Authorization", auth.as_str())], None)?;
        let want: u64 =
            serde_json::from_str::<Value>(&snapshot.body).ok().and_then(|v| v["version"].as_u64()).unwrap_or(0);
        loop {
            let r = client.send("POST", single, &headers, Some(body))?;
            let have: u64 = r.header("X-Vane-Snapshot-Version").and_then(|v| v.parse().ok()).unwrap_or(0);
            if have >= want {
                delays.push(committed.elapsed());
                break;
            }
            if committed.elapsed() > Duration::from_secs(10) {
                return Err(format!("version {want} did not reach the edge within 10 s"));
            }
        }
    }
    delays.sort();
    println!(
        "propagation (write committed → edge serving it), {} writes: p50 {}, p99 {}, max {}",
        delays.len(),
        ms(percentile(&delays, 50.0)),
        ms(percentile(&delays, 99.0)),
        ms(percentile(&delays, 100.0))
    );

    requests(&edge.addr, &cp.edge, "Miniflare")?;
    drop(edge);
    let bare = Edge::start(EdgeOptions { runtime: Runtime::Workerd, ..EdgeOptions::new(&cp.addr, &cp.edge, "bench") })?;
    requests(&bare.addr, &cp.edge, "bare workerd")?;
    Ok(())
}

/// Single-flag and bulk OFREP figures against the worker at `addr`.
fn requests(addr: &str, key: &str, runtime: &str) -> Result {
    println!("--- {runtime}");
    let auth = format!("Bearer {key}");
    let headers = [("Authorization", auth.as_str())];
    let single = "/ofrep/v1/evaluate/flags/flag-001";
    let body = r#"{"context":{"targetingKey":"user-42","country":"CA","plan":"pro"}}"#;
    let mut client = Client::new(addr);
    // 2. Single flag, one connection back to back (after a warm-up: V8 tiers the wasm up).
    for i in 0..3000 {
        let ctx = format!(r#"{{"context":{{"targetingKey":"warm-{i}","country":"CA"}}}}"#);
        client.send("POST", single, &headers, Some(&ctx))?;
    }
    let mut lat = Vec::new();
    let started = Instant::now();
    for i in 0..5000 {
        let ctx = format!(r#"{{"context":{{"targetingKey":"user-{i}","country":"CA","plan":"pro"}}}}"#);
        let t = Instant::now();
        let r = client.send("POST", single, &headers, Some(&ctx))?;
        lat.push(t.elapsed());
        if r.status != 200 {
            return Err(format!("single: {} {}", r.status, r.body));
        }
    }
    let rate = lat.len() as f64 / started.elapsed().as_secs_f64();
    lat.sort();
    println!(
        "OFREP single flag, 1 connection back to back: {rate:.0} req/s, p50 {}, p99 {}",
        ms(percentile(&lat, 50.0)),
        ms(percentile(&lat, 99.0))
    );
    // Moderate load: 200 requests/s, paced, for 10 s.
    let mut lat = Vec::new();
    let start = Instant::now();
    for i in 0..2000u32 {
        let due = start + Duration::from_millis(u64::from(i) * 5);
        if let Some(wait) = due.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
        let ctx = format!(r#"{{"context":{{"targetingKey":"paced-{i}","country":"US","plan":"pro"}}}}"#);
        let t = Instant::now();
        let r = client.send("POST", single, &headers, Some(&ctx))?;
        lat.push(t.elapsed());
        if r.status != 200 {
            return Err(format!("single: {} {}", r.status, r.body));
        }
    }
    lat.sort();
    println!(
        "OFREP single flag, moderate load (200 req/s paced, 10 s): p50 {}, p99 {}, max {}",
        ms(percentile(&lat, 50.0)),
        ms(percentile(&lat, 99.0)),
        ms(percentile(&lat, 100.0))
    );
    let bulk = client.send("POST", "/ofrep/v1/evaluate/flags", &headers, Some(body))?;
    let count = serde_json::from_str::<Value>(&bulk.body).ok().and_then(|v| v["flags"].as_array().map(Vec::len));
    if count != Some(FLAGS) {
        return Err(format!("bulk answered {count:?} flags"));
    }
    println!("bulk answer: {FLAGS} flags, {} bytes", bulk.body.len());
    // The runtime's floor: a route that evaluates nothing (GET /health) under the same load.
    let out = Command::new("wrk")
        .args(["-t1", "-c16", "-d5s"])
        .arg(format!("http://{}/health", addr))
        .output()
        .map_err(|e| format!("wrk: {e}"))?;
    let text = String::from_utf8_lossy(&out.stdout);
    if let Some(line) = text.lines().find(|l| l.starts_with("Requests/sec")) {
        println!("floor: GET /health (no evaluation) {}  [wrk -t1 -c16 -d5s]", line.trim());
    }
    wrk("OFREP single flag, saturation", &format!("http://{}{single}", addr), key, false)?;
    wrk("OFREP bulk, 350 flags", &format!("http://{}/ofrep/v1/evaluate/flags", addr), key, true)?;
    Ok(())
}
