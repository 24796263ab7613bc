//! Control-plane benchmark driver (run by `cargo xtask bench-control-plane`, which starts
//! PostgreSQL and a release `vane serve`): seeds an application with 1,000 flags, then measures
//! over HTTP on loopback (sequential writes on a new connection each; sustained writers keep
//! their connection alive, as API clients do)
//! 1. write → snapshot committed: sequential flag-state writes; the response arrives after the
//!    transaction that includes the new snapshot committed, so its latency is that figure;
//! 2. sustained admin updates: 8 (then 32) threads writing for 10 s, counting successes and errors —
//!    first all in one environment (one snapshot stream: writes queue on its lock), then each
//!    in its own environment (8 streams of 1,000 flags each).
//!
//! Environment: `DATABASE_URL`, `VANE_ADDR`, `VANE_ADMIN_KEY`.
#![allow(clippy::print_stdout, clippy::unwrap_used, clippy::expect_used)] // a benchmark tool

use std::time::{Duration, Instant};

use vane_e2e::http;

const FLAGS: usize = 1000;
const WRITES: usize = 300;

fn main() {
    let url = std::env::var("DATABASE_URL").expect("DATABASE_URL");
    let addr = std::env::var("VANE_ADDR").expect("VANE_ADDR");
    let admin = std::env::var("VANE_ADMIN_KEY").expect("VANE_ADMIN_KEY");
    let auth = format!("Bearer {admin}");
    let h = [("Authorization", auth.as_str())];

    let r =
        http::send(&addr, "POST", "/api/v1/applications", &h, Some(r#"{"key":"bench","name":"Benchmark"}"#)).unwrap();
    assert!(r.status == 201 || r.status == 409, "{}", r.body);
    for t in 0..WRITERS {
        let body = format!(r#"{{"key":"bench-{t}","name":"Benchmark {t}"}}"#);
        let r = http::send(&addr, "POST", "/api/v1/environments", &h, Some(&body)).unwrap();
        assert!(r.status == 201 || r.status == 409, "{}", r.body);
    }
    seed(&url);

    // 1. write → snapshot committed, sequential.
    let path = "/api/v1/applications/bench/flags/flag-0/environments/production";
    let mut latencies = Vec::with_capacity(WRITES);
    for i in 0..WRITES + 10 {
        let body = format!(r#"{{"enabled": {}}}"#, i.is_multiple_of(2));
        let started = Instant::now();
        let r = http::send(&addr, "PATCH", path, &h, Some(&body)).unwrap();
        let took = started.elapsed();
        assert_eq!(r.status, 200, "{}", r.body);
        if i >= 10 {
            latencies.push(took);
        }
    }
    latencies.sort();
    let pct = |p: f64| latencies[((latencies.len() as f64 * p).ceil() as usize).saturating_sub(1)];
    println!(
        "write->snapshot committed ({FLAGS} flags, {WRITES} writes): p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        pct(0.50).as_secs_f64() * 1e3,
        pct(0.99).as_secs_f64() * 1e3,
        latencies.last().unwrap().as_secs_f64() * 1e3
    );

    // 2. sustained admin updates: writers on distinct flags for 10 s.
    for writers in [WRITERS, 4 * WRITERS] {
        let r = sustained(&addr, &auth, writers, |t| {
            format!("/api/v1/applications/bench/flags/flag-{}/environments/staging", t + 1)
        });
        report(&format!("{writers} writers, one environment ({FLAGS} flags)"), r);
    }
    let r = sustained(&addr, &auth, WRITERS, |t| {
        format!("/api/v1/applications/bench/flags/flag-{}/environments/bench-{t}", t + 1)
    });
    report(&format!("{WRITERS} writers, one environment each ({FLAGS} flags each)"), r);
}

const WRITERS: usize = 8;
const RUN_FOR: Duration = Duration::from_secs(10);

fn report(what: &str, (rate, p50, p99, errors): (f64, f64, f64, u64)) {
    println!(
        "admin flag updates, {what}, {} s: {rate:.0} updates/s, p50 {p50:.1} ms, p99 {p99:.1} ms, {errors} errors",
        RUN_FOR.as_secs()
    );
}

/// `writers` threads PATCHing `path(thread)` for `RUN_FOR`: (successes per second, p50 ms,
/// p99 ms, errors).
fn sustained(addr: &str, auth: &str, writers: usize, path: impl Fn(usize) -> String) -> (f64, f64, f64, u64) {
    let handles: Vec<_> = (0..writers)
        .map(|t| {
            let (addr, auth, path) = (addr.to_owned(), auth.to_owned(), path(t));
            std::thread::spawn(move || {
                // Each writer keeps its connection, as API clients do.
                let mut client = http::Client::new(&addr);
                let (mut took, mut err) = (Vec::new(), 0u64);
                let end = Instant::now() + RUN_FOR;
                let mut i = 0u64;
                while Instant::now() < end {
                    let body = format!(r#"{{"enabled": {}}}"#, i.is_multiple_of(2));
                    let started = Instant::now();
                    match client.send("PATCH", &path, &[("Authorization", &auth)], Some(&body)) {
                        Ok(r) if r.status == 200 => took.push(started.elapsed()),
                        _ => err += 1,
                    }
                    i += 1;
                }
                (took, err)
            })
        })
        .collect();
    let (mut took, mut err) = (Vec::new(), 0);
    for h in handles {
        let (t, e) = h.join().unwrap();
        took.extend(t);
        err += e;
    }
    took.sort();
    let pct = |p: f64| {
        took.get(((took.len() as f64 * p).ceil() as usize).saturating_sub(1)).map_or(0.0, |d| d.as_secs_f64() * 1e3)
    };
    (took.len() as f64 / RUN_FOR.as_secs_f64(), pct(0.5), pct(0.99), err)
}

/// Inserts 1,000 flags with a targeting rule each, straight into PostgreSQL (seeding through the
/// API would republish a growing snapshot 1,000 times); the first measured write publishes them.
fn seed(url: &str) {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let pool = sqlx::PgPool::connect(url).await.unwrap();
        let app: String = sqlx::query_scalar("SELECT id FROM applications WHERE key = 'bench'").fetch_one(&pool).await.unwrap();
        sqlx::query(
            "INSERT INTO flags (id, application_id, key, type, variants)
             SELECT lpad(to_hex(g), 26, '0'), $1, 'flag-' || g, 'boolean',
                    '[{\"key\":\"on\",\"value\":true},{\"key\":\"off\",\"value\":false}]'
             FROM generate_series(0, $2 - 1) g ON CONFLICT DO NOTHING",
        )
        .bind(&app)
        .bind(FLAGS as i64)
        .execute(&pool)
        .await
        .unwrap();
        sqlx::query(
            "INSERT INTO flag_states (flag_id, environment_id, enabled, off_variant, rules, default_serve, salt)
             SELECT f.id, e.id, true, 'off',
                    '[{\"id\":\"r\",\"conditions\":[{\"attribute\":\"country\",\"operator\":\"in\",\"values\":[\"US\",\"CA\",\"MX\"]}],
                       \"serve\":{\"rollout\":{\"weights\":{\"on\":50000,\"off\":50000}}}}]',
                    '{\"variant\":\"off\"}', f.key
             FROM flags f CROSS JOIN environments e WHERE f.application_id = $1 ON CONFLICT DO NOTHING",
        )
        .bind(&app)
        .execute(&pool)
        .await
        .unwrap();
    });
}
