//! Vane's two edges beside Unleash Edge, in one run on one machine (`cargo xtask bench-edges`
//! builds and runs this; BENCHMARKS.md keeps the figures):
//!
//! * the same 350 Unleash features (`vane_e2e::unleash::mixed`): a bootstrap file for Unleash Edge
//!   20.1 in offline mode, and Vane's online Unleash import for an application served by
//!   `vane edge` (release) and by the Worker under bare `workerd serve` (release build);
//! * bulk evaluation of every flag for a context (Unleash `POST /api/frontend`, Vane OFREP bulk)
//!   and one flag (`POST /api/frontend/features/{name}`, OFREP single) with `wrk -t1 -c8 -d10s`,
//!   three rounds alternating the three servers, the user id varying per request;
//! * resident memory of each server after the load, with 350 and with 10,000 features;
//! * propagation, write committed → served, for Vane's two edges (Unleash Edge in offline mode
//!   has no upstream; its default polling interval is reported instead).
//!
//! `UNLEASH_EDGE_BIN` names the Unleash Edge binary (`cargo xtask bench-edges` installs it into
//! `target/unleash-edge/` once).

#![allow(clippy::print_stdout)] // a benchmark report

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use vane_e2e::http::Client;
use vane_e2e::stack::{ControlPlane, Edge, EdgeOptions, Runtime, scratch, wait_for};
use vane_e2e::{http, pg, unleash};

type Result<T = ()> = std::result::Result<T, String>;

const ROUNDS: usize = 3;
const FRONTEND_TOKEN: &str = "*:production.bench-frontend-token";

/// A server under test: where it listens, how a request for it is made, its process.
struct Target {
    name: &'static str,
    addr: String,
    pid: u32,
    auth: String,
    bulk_path: String,
    single_path: String,
    unleash: bool,
}

/// CPU time (user + system) the process `pid` has used, in µs (from `/proc`, in clock ticks of
/// 10 ms: over a 10 s run that is fine enough).
fn cpu_us(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name (which may contain spaces) start after the last ')'.
    let fields: Vec<&str> = stat.rsplit_once(')').map_or("", |(_, rest)| rest).split_whitespace().collect();
    let ticks = |i: usize| fields.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    // utime and stime are fields 14 and 15 of the line, 12 and 13 after the name and state.
    (ticks(11) + ticks(12)) * 10_000.0
}

/// The Lua for wrk: a POST whose user varies per request, and one line of figures at the end:
/// req/s, p50 and p99 (ms), and the server's CPU time per request (µs).
fn wrk(target: &Target, bulk: bool) -> Result<(f64, f64, f64, f64)> {
    let script = scratch("wrk").with_extension("lua");
    // Equivalent contexts: Unleash's shape for Unleash Edge; the flat attributes Vane's Unleash
    // import reads (every field and property by its Unleash name) for Vane.
    let body = if target.unleash {
        r#"'{"userId":"user-%d","sessionId":"s-%d","environment":"production","appName":"web","properties":{"email":"u@acme.com","version":"2.3.1"}}'"#
    } else {
        r#"'{"context":{"targetingKey":"user-%d","userId":"user-%d","sessionId":"s-%d","environment":"production","appName":"web","email":"u@acme.com","version":"2.3.1"}}'"#
    };
    let format_args = if target.unleash { "n % 10000, n % 977" } else { "n % 10000, n % 10000, n % 977" };
    let lua = format!(
        r#"wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "{auth}"
local n = 0
request = function()
  n = n + 1
  return wrk.format(nil, nil, nil, string.format({body}, {format_args}))
end
done = function(summary, latency, requests)
  io.write(string.format("RESULT %.1f %.3f %.3f %d %d\n", summary.requests / (summary.duration / 1e6),
    latency:percentile(50) / 1000, latency:percentile(99) / 1000,
    summary.errors.status + summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    summary.requests))
end
"#,
        auth = target.auth,
    );
    std::fs::write(&script, lua).map_err(|e| e.to_string())?;
    let path = if bulk { &target.bulk_path } else { &target.single_path };
    let cpu_before = cpu_us(target.pid);
    let out = Command::new("wrk")
        .args(["-t1", "-c8", "-d10s", "-s"])
        .arg(&script)
        .arg(format!("http://{}{path}", target.addr))
        .output()
        .map_err(|e| format!("wrk: {e} (apt-get install wrk)"))?;
    let cpu = cpu_us(target.pid) - cpu_before;
    let _ = std::fs::remove_file(&script);
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text.lines().find_map(|l| l.strip_prefix("RESULT ")).ok_or_else(|| format!("wrk: {text}"))?;
    let f: Vec<f64> = line.split_whitespace().filter_map(|v| v.parse().ok()).collect();
    if f.len() != 5 {
        return Err(format!("wrk: {line}"));
    }
    if f[3] > 0.0 {
        return Err(format!("{}: {} errors under load", target.name, f[3]));
    }
    Ok((f[0], f[1], f[2], cpu / f[4].max(1.0)))
}

/// `GET /health` (no snapshot read, no evaluation) under the same load: the host's own cost per
/// request, req/s and CPU µs per request.
fn floor(target: &Target) -> Result<(f64, f64)> {
    let before = cpu_us(target.pid);
    let out = Command::new("wrk")
        .args(["-t1", "-c8", "-d10s"])
        .arg(format!("http://{}/health", target.addr))
        .output()
        .map_err(|e| format!("wrk: {e}"))?;
    let cpu = cpu_us(target.pid) - before;
    let text = String::from_utf8_lossy(&out.stdout);
    let requests: f64 = text
        .lines()
        .find_map(|l| l.trim().split_once(" requests in ").and_then(|(n, _)| n.trim().parse().ok()))
        .ok_or_else(|| format!("wrk: {text}"))?;
    Ok((requests / 10.0, cpu / requests.max(1.0)))
}

fn rss_kb(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines().find_map(|l| l.strip_prefix("VmRSS:").and_then(|v| v.split_whitespace().next()?.parse().ok()))
        })
        .unwrap_or(0)
}

/// Unleash Edge, offline, serving `features` (a client API document) to the frontend token.
struct UnleashEdge {
    child: Child,
    addr: String,
}

impl UnleashEdge {
    /// With `workers` HTTP workers (`None`: its default, one per core).
    fn start(features: &str, workers: Option<usize>) -> Result<UnleashEdge> {
        let bin = std::env::var("UNLEASH_EDGE_BIN").map_err(|_| "UNLEASH_EDGE_BIN is not set")?;
        let file = scratch("unleash-features").with_extension("json");
        std::fs::write(&file, features).map_err(|e| e.to_string())?;
        let port = pg::free_port()?;
        let mut command = Command::new(bin);
        if let Some(n) = workers {
            command.args(["-w", &n.to_string()]);
        }
        let child = command
            .args(["-p", &port.to_string(), "-i", "127.0.0.1", "offline", "-b"])
            .arg(&file)
            // Offline mode refuses to start without client tokens too.
            .args(["-f", FRONTEND_TOKEN, "-c", "*:production.bench-client-token"])
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("unleash-edge: {e}"))?;
        let addr = format!("127.0.0.1:{port}");
        let mut edge = UnleashEdge { child, addr };
        let up = wait_for(Duration::from_secs(20), || {
            let r = http::send(&edge.addr, "GET", "/internal-backstage/health", &[], None).ok()?;
            (r.status == 200).then_some(())
        });
        if up.is_none() {
            let _ = edge.child.kill();
            return Err("Unleash Edge did not start within 20 s".into());
        }
        Ok(edge)
    }
}

impl Drop for UnleashEdge {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An application `app` with `features` imported through the control plane's Unleash import.
fn import(cp: &ControlPlane, app: &str, features: &str) -> Result {
    cp.admin("POST", "/applications", Some(&json!({"key": app, "name": app}).to_string()))?;
    cp.admin("POST", &format!("/applications/{app}/environments/production/imports/unleash"), Some(features))?;
    Ok(())
}

fn vane_target(name: &'static str, edge: &Edge, key: &str) -> Result<Target> {
    Ok(Target {
        name,
        addr: edge.addr.clone(),
        pid: edge.pid().ok_or("no pid")?,
        auth: format!("Bearer {key}"),
        bulk_path: "/ofrep/v1/evaluate/flags".into(),
        single_path: "/ofrep/v1/evaluate/flags/feature-3".into(),
        unleash: false,
    })
}

fn unleash_target(name: &'static str, edge: &UnleashEdge) -> Target {
    Target {
        name,
        addr: edge.addr.clone(),
        pid: edge.child.id(),
        auth: FRONTEND_TOKEN.into(),
        bulk_path: "/api/frontend".into(),
        single_path: "/api/frontend/features/feature-3".into(),
        unleash: true,
    }
}

/// Whether the servers agree: the features Unleash Edge reports enabled for a context against
/// those Vane answers `true` (or a variant) for. Returns the features on which they differ.
fn differences(unleash: &UnleashEdge, vane: &Target) -> Result<Vec<String>> {
    let mut differ = std::collections::BTreeSet::new();
    for user in ["user-7", "user-42", "user-1000", "user-99999"] {
        let ctx = json!({"userId": user, "sessionId": "s-1", "environment": "production", "appName": "web",
                         "properties": {"email": "u@acme.com", "version": "2.3.1"}});
        let auth = [("Authorization", FRONTEND_TOKEN), ("Content-Type", "application/json")];
        let r = http::send(&unleash.addr, "POST", "/api/frontend", &auth, Some(&ctx.to_string()))?;
        let doc: Value = serde_json::from_str(&r.body).map_err(|e| format!("Unleash Edge: {e}: {}", r.body))?;
        let mut on: Vec<String> = doc["toggles"]
            .as_array()
            .ok_or("no toggles")?
            .iter()
            .filter(|t| t["enabled"] == true)
            .filter_map(|t| t["name"].as_str().map(str::to_owned))
            .collect();
        on.sort();
        let body = json!({"context": {"targetingKey": user, "userId": user, "sessionId": "s-1", "environment": "production",
                                      "appName": "web", "email": "u@acme.com", "version": "2.3.1"}});
        let auth = [("Authorization", vane.auth.as_str())];
        let r = http::send(&vane.addr, "POST", &vane.bulk_path, &auth, Some(&body.to_string()))?;
        let doc: Value = serde_json::from_str(&r.body).map_err(|e| format!("{}: {e}", vane.name))?;
        let mut vane_on: Vec<String> = doc["flags"]
            .as_array()
            .ok_or("no flags")?
            .iter()
            .filter(|f| f["value"] != false && f["value"] != Value::Null)
            .filter_map(|f| f["key"].as_str().map(str::to_owned))
            .collect();
        vane_on.sort();
        differ.extend(on.iter().filter(|k| !vane_on.contains(k)).cloned());
        differ.extend(vane_on.iter().filter(|k| !on.contains(k)).cloned());
    }
    Ok(differ.into_iter().collect())
}

/// Write committed → the edge at `addr` answering with the new version, over 50 writes.
fn propagation(cp: &ControlPlane, addr: &str) -> Result<(Duration, Duration)> {
    let mut admin = Client::new(&cp.addr);
    let mut client = Client::new(addr);
    let (admin_auth, edge_auth) = (format!("Bearer {}", cp.admin), format!("Bearer {}", cp.edge));
    let single = "/ofrep/v1/evaluate/flags/feature-0";
    let body = r#"{"context":{"targetingKey":"user-1"}}"#;
    let mut delays = Vec::new();
    for i in 0..50 {
        let state = json!({"enabled": i % 2 == 1}).to_string();
        let path = "/api/v1/applications/bench/flags/feature-0/environments/production";
        let answer = admin.send("PATCH", path, &[("Authorization", admin_auth.as_str())], Some(&state))?;
        let committed = Instant::now();
        if answer.status != 200 {
            return Err(format!("PATCH: {} {}", answer.status, answer.body));
        }
        let want: u64 = answer.header("X-Vane-Snapshot-Version").and_then(|v| v.parse().ok()).unwrap_or(0);
        let want = if want > 0 {
            want
        } else {
            let s = admin.send("GET", "/api/v1/snapshots/bench/production", &[("Authorization", &edge_auth)], None)?;
            serde_json::from_str::<Value>(&s.body).ok().and_then(|v| v["version"].as_u64()).unwrap_or(0)
        };
        loop {
            let r = client.send("POST", single, &[("Authorization", edge_auth.as_str())], Some(body))?;
            let have: u64 = r.header("X-Vane-Snapshot-Version").and_then(|v| v.parse().ok()).unwrap_or(0);
            if have >= want {
                delays.push(committed.elapsed());
                break;
            }
            if committed.elapsed() > Duration::from_secs(10) {
                return Err(format!("version {want} did not reach {addr} within 10 s"));
            }
        }
    }
    delays.sort();
    Ok((delays[delays.len() / 2], delays[delays.len() * 99 / 100]))
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(0.0)
}

/// `BENCH_EDGES_WORKER=1`: the Worker alone, one round of each case and the floor (a quick loop
/// while working on the Worker's own time).
fn worker_only(cp: &ControlPlane) -> Result {
    let worker = Edge::start(EdgeOptions::new(&cp.addr, &cp.edge, "bench").on(Runtime::Workerd))?;
    let t = vane_target("Vane Worker (workerd)", &worker, &cp.edge)?;
    for (what, bulk) in [("bulk", true), ("one flag", false)] {
        let r = wrk(&t, bulk)?;
        println!("{what}: {:.0} req/s p50 {:.2} ms p99 {:.2} ms, CPU {:.0} µs/request", r.0, r.1, r.2, r.3);
    }
    let (rate, cpu) = floor(&t)?;
    println!("floor: {rate:.0} req/s, CPU {cpu:.0} µs/request");
    Ok(())
}

fn main() -> Result {
    let features_350 = unleash::state((0..350).map(unleash::mixed).collect());
    let cp = ControlPlane::start()?;
    import(&cp, "bench", &features_350)?;
    if std::env::var_os("BENCH_EDGES_WORKER").is_some() {
        return worker_only(&cp);
    }
    let native = Edge::start(EdgeOptions::new(&cp.addr, &cp.edge, "bench").on(Runtime::Native))?;
    let worker = Edge::start(EdgeOptions::new(&cp.addr, &cp.edge, "bench").on(Runtime::Workerd))?;
    let unleash_edge = UnleashEdge::start(&features_350, None)?;
    // The same with one worker thread each: on this 2-core machine wrk needs one core, and a
    // server with two busy threads shares the other with wrk's.
    let native_1 = Edge::start(EdgeOptions {
        threads: Some(1),
        ..EdgeOptions::new(&cp.addr, &cp.edge, "bench").on(Runtime::Native)
    })?;
    let unleash_edge_1 = UnleashEdge::start(&features_350, Some(1))?;
    let targets = [
        unleash_target("Unleash Edge 20.1 (offline)", &unleash_edge),
        vane_target("vane edge", &native, &cp.edge)?,
        vane_target("Vane Worker (workerd)", &worker, &cp.edge)?,
        unleash_target("Unleash Edge, 1 worker", &unleash_edge_1),
        vane_target("vane edge, 1 thread", &native_1, &cp.edge)?,
    ];
    for t in &targets[1..3] {
        let differ = differences(&unleash_edge, t)?;
        let semver = differ
            .iter()
            .filter(|k| k.rsplit('-').next().and_then(|n| n.parse::<usize>().ok()).is_some_and(|n| n % 5 == 4))
            .count();
        println!(
            "350 features, 4 users: {} and Unleash Edge differ on {} features ({} of them the features with a SEMVER_GTE \
             constraint on `version`, which Unleash Edge's frontend API answers disabled here; Vane passes the \
             client specification's semver cases)",
            t.name,
            differ.len(),
            semver
        );
        if differ.len() != semver {
            return Err(format!("{} and Unleash Edge differ on more than the semver features: {differ:?}", t.name));
        }
    }

    for (what, bulk) in [("bulk, every flag for a context", true), ("one flag", false)] {
        let mut runs: Vec<Vec<(f64, f64, f64, f64)>> = vec![Vec::new(); targets.len()];
        for round in 0..ROUNDS {
            for (i, t) in targets.iter().enumerate() {
                let r = wrk(t, bulk)?;
                eprintln!(
                    "  round {round} {}: {:.0} req/s p50 {:.2} ms p99 {:.2} ms, {:.0} µs CPU per request",
                    t.name, r.0, r.1, r.2, r.3
                );
                runs[i].push(r);
            }
        }
        println!("\n{what} (wrk -t1 -c8 -d10s, {ROUNDS} rounds alternating; median of the rounds, then each round):");
        for (i, (t, r)) in targets.iter().zip(&runs).enumerate() {
            // Each against Unleash Edge in the same configuration.
            let base = median(runs[if i < 3 { 0 } else { 3 }].iter().map(|r| r.0).collect());
            let rate = median(r.iter().map(|x| x.0).collect());
            let rounds: Vec<String> = r.iter().map(|x| format!("{:.0}/{:.2}/{:.2}", x.0, x.1, x.2)).collect();
            println!(
                "  {:<28} {:>8.0} req/s  p50 {:>6.2} ms  p99 {:>6.2} ms  CPU {:>5.0} µs/request  ({:.2}× Unleash Edge)  rounds req/s/p50/p99: {}",
                t.name,
                rate,
                median(r.iter().map(|x| x.1).collect()),
                median(r.iter().map(|x| x.2).collect()),
                median(r.iter().map(|x| x.3).collect()),
                rate / base,
                rounds.join(", ")
            );
        }
    }
    println!("\nfloor, GET /health (no evaluation; wrk -t1 -c8 -d10s):");
    for t in &targets[1..3] {
        let (rate, cpu) = floor(t)?;
        println!("  {:<28} {:>8.0} req/s  CPU {:>5.0} µs/request", t.name, rate, cpu);
    }
    println!("\nresident memory after the load, 350 features:");
    for t in &targets[..3] {
        println!("  {:<28} {:>7.1} MB", t.name, rss_kb(t.pid) as f64 / 1024.0);
    }

    println!("\npropagation, write committed → served (50 writes):");
    for (name, addr) in [("vane edge", &native.addr), ("Vane Worker (workerd)", &worker.addr)] {
        let (p50, p99) = propagation(&cp, addr)?;
        println!("  {name:<28} p50 {:.1} ms, p99 {:.1} ms", p50.as_secs_f64() * 1e3, p99.as_secs_f64() * 1e3);
    }
    println!(
        "  {:<28} polls its upstream every 15 s by default (--features-refresh-interval-seconds): 7.5 s on average",
        "Unleash Edge 20.1"
    );
    drop((native, worker, unleash_edge, native_1, unleash_edge_1));

    // 10,000 features: memory once each has loaded them and answered a bulk request.
    let features_10k = unleash::state((0..10_000).map(unleash::mixed).collect());
    import(&cp, "big", &features_10k)?;
    let native = Edge::start(EdgeOptions::new(&cp.addr, &cp.edge, "big").on(Runtime::Native))?;
    let worker = Edge::start(EdgeOptions::new(&cp.addr, &cp.edge, "big").on(Runtime::Workerd))?;
    let unleash_edge = UnleashEdge::start(&features_10k, None)?;
    let targets = [
        unleash_target("Unleash Edge 20.1 (offline)", &unleash_edge),
        vane_target("vane edge", &native, &cp.edge)?,
        vane_target("Vane Worker (workerd)", &worker, &cp.edge)?,
    ];
    println!("\nresident memory with 10,000 features (after 200 bulk requests):");
    for t in &targets {
        let ctx = if t.unleash {
            json!({"userId": "user-1", "environment": "production"}).to_string()
        } else {
            json!({"context": {"targetingKey": "user-1", "environment": "production"}}).to_string()
        };
        let mut client = Client::new(&t.addr);
        for _ in 0..200 {
            let r = client.send(
                "POST",
                &t.bulk_path,
                &[("Authorization", t.auth.as_str()), ("Content-Type", "application/json")],
                Some(&ctx),
            )?;
            if r.status != 200 {
                return Err(format!("{}: {} {:.200}", t.name, r.status, r.body));
            }
        }
        println!("  {:<28} {:>7.1} MB", t.name, rss_kb(t.pid) as f64 / 1024.0);
    }
    Ok(())
}
