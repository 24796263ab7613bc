//! Big writes, their neighbours, flag creation as an application grows, and key changes across
//! many applications (run by `cargo xtask bench-control-plane` after `bench_publish`, against a
//! release `vane serve` on its own PostgreSQL). Over HTTP on loopback, as a client would:
//!
//! 1. a 100,000-key segment created, then replaced (in an application of 1,000 flags);
//! 2. flag-state writes to the same application while segments that size are replaced (p99);
//! 3. an online Unleash import of 5,000 features;
//! 4. flag creation by 8 writers in an application of 1,000 flags, then of 5,000;
//! 5. minting and revoking an API key with 1,000 applications.
//!
//! Each prints one line per figure; medians of three runs where a run is one write.
//! Environment: `DATABASE_URL`, `VANE_ADDR`, `VANE_ADMIN_KEY`, `VANE_BIN` (for `vane migrate`);
//! arguments name the parts to run (`segments import creation keys`; all by default).
#![allow(clippy::print_stdout, clippy::unwrap_used, clippy::expect_used)] // a benchmark tool

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde_json::json;
use vane_e2e::{http, unleash};

struct Bench {
    addr: String,
    auth: String,
    url: String,
    rt: tokio::runtime::Runtime,
}

impl Bench {
    fn send(&self, method: &str, path: &str, body: Option<&str>) -> http::Response {
        let r = http::send(&self.addr, method, path, &[("Authorization", &self.auth)], body).unwrap();
        assert!(r.status < 300, "{method} {path}: {} {:.300}", r.status, r.body);
        r
    }

    /// Times one write.
    fn timed(&self, method: &str, path: &str, body: &str) -> Duration {
        let started = Instant::now();
        self.send(method, path, Some(body));
        started.elapsed()
    }

    fn sql(&self, statement: &str, app: &str, n: i64) {
        self.rt.block_on(async {
            let pool = sqlx::PgPool::connect(&self.url).await.unwrap();
            sqlx::query(sqlx::AssertSqlSafe(statement.to_owned())).bind(app).bind(n).execute(&pool).await.unwrap();
        });
    }

    /// An application with `n` flags (a targeting rule each, in every environment), inserted
    /// straight into PostgreSQL and published by one write.
    fn application(&self, app: &str, n: i64) {
        self.send("POST", "/api/v1/applications", Some(&format!(r#"{{"key":"{app}","name":"{app}"}}"#)));
        self.grow(app, 0, n);
    }

    /// Flags `from..to` more in `app`, then one write to publish them.
    fn grow(&self, app: &str, from: i64, to: i64) {
        self.sql(
            &format!(
                "INSERT INTO flags (id, application_id, key, type, variants)
                 SELECT substr(md5($1 || '/' || g), 1, 26), (SELECT id FROM applications WHERE key = $1), 'flag-' || g,
                        'boolean', '[{{\"key\":\"on\",\"value\":true}},{{\"key\":\"off\",\"value\":false}}]'
                 FROM generate_series({from}, $2 - 1) g"
            ),
            app,
            to,
        );
        self.sql(
            "INSERT INTO flag_states (flag_id, environment_id, enabled, off_variant, rules, default_serve, salt)
             SELECT f.id, e.id, true, 'off',
                    '[{\"id\":\"r\",\"conditions\":[{\"attribute\":\"country\",\"operator\":\"in\",\"values\":[\"US\",\"CA\",\"MX\"]}],
                       \"serve\":{\"rollout\":{\"weights\":{\"on\":50000,\"off\":50000}}}}]',
                    '{\"variant\":\"off\"}', f.key
             FROM flags f CROSS JOIN environments e
             WHERE f.application_id = (SELECT id FROM applications WHERE key = $1) AND $2 >= 0 ON CONFLICT DO NOTHING",
            app,
            0,
        );
        self.send("PATCH", &format!("/api/v1/applications/{app}"), Some(r#"{"comments":"grown"}"#));
        self.send(
            "POST",
            &format!("/api/v1/applications/{app}/flags"),
            Some(&format!(r#"{{"key":"publish-{to}","type":"boolean"}}"#)),
        );
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted.get(((sorted.len() as f64 * p).ceil() as usize).saturating_sub(1)).copied().unwrap_or_default()
}

fn keys(prefix: &str, n: usize) -> String {
    let list: Vec<String> = (0..n).map(|i| format!("\"{prefix}-{i:06}\"")).collect();
    list.join(",")
}

fn main() {
    let b = Bench {
        addr: std::env::var("VANE_ADDR").expect("VANE_ADDR"),
        auth: format!("Bearer {}", std::env::var("VANE_ADMIN_KEY").expect("VANE_ADMIN_KEY")),
        url: std::env::var("DATABASE_URL").expect("DATABASE_URL"),
        rt: tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap(),
    };
    // Parts to run (all by default): segments, import, creation, keys.
    let only: Vec<String> = std::env::args().skip(1).collect();
    let wanted = |part: &str| only.is_empty() || only.iter().any(|o| o == part);
    if wanted("segments") {
        segments(&b);
    }
    if wanted("import") {
        import(&b);
    }
    if wanted("creation") {
        creation(&b);
    }
    if wanted("keys") {
        key_changes(&b);
    }
}

fn segments(b: &Bench) {
    b.application("seg", 1000);
    let (mut create, mut replace) = (Vec::new(), Vec::new());
    for r in 0..3 {
        let path = "/api/v1/applications/seg/segments";
        create.push(b.timed(
            "POST",
            path,
            &format!(r#"{{"key":"big-{r}","included":[{}]}}"#, keys(&format!("a{r}"), 100_000)),
        ));
        let one = format!("{path}/big-{r}");
        replace.push(b.timed("PUT", &one, &format!(r#"{{"included":[{}]}}"#, keys(&format!("b{r}"), 100_000))));
    }
    println!(
        "100,000-key segment (1,000 flags): create {:.0} ms, replace {:.0} ms (median of 3; runs {:?} / {:?} ms)",
        ms(median(create.clone())),
        ms(median(replace.clone())),
        create.iter().map(|d| ms(*d).round()).collect::<Vec<_>>(),
        replace.iter().map(|d| ms(*d).round()).collect::<Vec<_>>()
    );

    // Neighbours: flag-state writes to the same application, alone, then while segments of
    // 100,000 keys are replaced back to back.
    let writes = |during: Option<&AtomicBool>, for_at_least: Duration| -> Vec<Duration> {
        std::thread::scope(|s| {
            let handles: Vec<_> = (0..4)
                .map(|t| {
                    let (addr, auth) = (b.addr.clone(), b.auth.clone());
                    s.spawn(move || {
                        let mut client = http::Client::new(&addr);
                        let env = if t % 2 == 0 { "production" } else { "staging" };
                        let path = format!("/api/v1/applications/seg/flags/flag-{t}/environments/{env}");
                        let (started, mut took, mut i) = (Instant::now(), Vec::new(), 0u64);
                        while started.elapsed() < for_at_least || during.is_some_and(|d| d.load(Ordering::Acquire)) {
                            let body = format!(r#"{{"enabled": {}}}"#, i % 2 == 0);
                            let t0 = Instant::now();
                            let r = client.send("PATCH", &path, &[("Authorization", &auth)], Some(&body)).unwrap();
                            assert_eq!(r.status, 200, "{}", r.body);
                            took.push(t0.elapsed());
                            i += 1;
                        }
                        took
                    })
                })
                .collect();
            let mut all: Vec<Duration> = handles.into_iter().flat_map(|h| h.join().unwrap()).collect();
            all.sort();
            all
        })
    };
    let alone = writes(None, Duration::from_secs(3));
    let busy = Arc::new(AtomicBool::new(true));
    let big = {
        let (addr, auth, busy) = (b.addr.clone(), b.auth.clone(), busy.clone());
        std::thread::spawn(move || {
            for r in 0..3 {
                let body = format!(r#"{{"included":[{}]}}"#, keys(&format!("c{r}"), 100_000));
                let res = http::send(
                    &addr,
                    "PUT",
                    "/api/v1/applications/seg/segments/big-0",
                    &[("Authorization", &auth)],
                    Some(&body),
                )
                .unwrap();
                assert_eq!(res.status, 200, "{:.300}", res.body);
            }
            busy.store(false, Ordering::Release);
        })
    };
    let during = writes(Some(&busy), Duration::ZERO);
    big.join().unwrap();
    for (what, all) in [("alone", &alone), ("during 100k-key segment replaces", &during)] {
        println!(
            "flag-state writes to the same application, 4 writers, {what}: {} writes, p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
            all.len(),
            ms(percentile(all, 0.5)),
            ms(percentile(all, 0.99)),
            ms(*all.last().unwrap_or(&Duration::ZERO))
        );
    }
}

fn import(b: &Bench) {
    let doc = unleash::state((0..5000).map(unleash::mixed).collect());
    let mut took = Vec::new();
    for r in 0..3 {
        let app = format!("imp-{r}");
        b.send("POST", "/api/v1/applications", Some(&format!(r#"{{"key":"{app}","name":"{app}"}}"#)));
        took.push(b.timed(
            "POST",
            &format!("/api/v1/applications/{app}/environments/production/imports/unleash"),
            &doc,
        ));
    }
    println!(
        "Unleash import, 5,000 features ({} KB): {:.0} ms (median of 3; runs {:?} ms)",
        doc.len() / 1024,
        ms(median(took.clone())),
        took.iter().map(|d| ms(*d).round()).collect::<Vec<_>>()
    );
}

fn creation(b: &Bench) {
    b.application("grow", 1000);
    for (size, next) in [(1000, Some(5000)), (5000, None)] {
        let counter = Arc::new(std::sync::atomic::AtomicU64::new(0));
        let run_for = Duration::from_secs(10);
        let mut took: Vec<Duration> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..8)
                .map(|t| {
                    let (addr, auth, counter) = (b.addr.clone(), b.auth.clone(), counter.clone());
                    s.spawn(move || {
                        let mut client = http::Client::new(&addr);
                        let (started, mut took) = (Instant::now(), Vec::new());
                        while started.elapsed() < run_for {
                            let n = counter.fetch_add(1, Ordering::Relaxed);
                            let body = format!(r#"{{"key":"new-{size}-{t}-{n}","type":"boolean"}}"#);
                            let t0 = Instant::now();
                            let r = client
                                .send(
                                    "POST",
                                    "/api/v1/applications/grow/flags",
                                    &[("Authorization", &auth)],
                                    Some(&body),
                                )
                                .unwrap();
                            assert_eq!(r.status, 201, "{}", r.body);
                            took.push(t0.elapsed());
                        }
                        took
                    })
                })
                .collect();
            handles.into_iter().flat_map(|h| h.join().unwrap()).collect()
        });
        took.sort();
        println!(
            "flag creation, 8 writers, application of {size} flags: {:.0} created/s, p50 {:.1} ms, p99 {:.1} ms",
            took.len() as f64 / run_for.as_secs_f64(),
            ms(percentile(&took, 0.5)),
            ms(percentile(&took, 0.99))
        );
        if let Some(next) = next {
            b.grow("grow", 1000, next);
        }
    }
}

fn key_changes(b: &Bench) {
    b.sql(
        "INSERT INTO applications (id, key, name) SELECT substr(md5($1 || g), 1, 26), $1 || g, 'Many ' || g
         FROM generate_series(1, $2) g",
        "many-",
        1000,
    );
    let vane = std::env::var("VANE_BIN").expect("VANE_BIN");
    let status = std::process::Command::new(vane).arg("migrate").env("DATABASE_URL", &b.url).status().unwrap();
    assert!(status.success());
    let streams: i64 = b.rt.block_on(async {
        let pool = sqlx::PgPool::connect(&b.url).await.unwrap();
        sqlx::query_scalar("SELECT count(*) FROM snapshot_streams").fetch_one(&pool).await.unwrap()
    });
    let (mut mint, mut revoke, mut bound) = (Vec::new(), Vec::new(), Vec::new());
    for r in 0..3 {
        let t0 = Instant::now();
        let created =
            b.send("POST", "/api/v1/api-keys", Some(&json!({"scope": "read", "name": format!("k{r}")}).to_string()));
        mint.push(t0.elapsed());
        let id = serde_json::from_str::<serde_json::Value>(&created.body).unwrap()["id"].as_str().unwrap().to_owned();
        let t0 = Instant::now();
        b.send("DELETE", &format!("/api/v1/api-keys/{id}"), None);
        revoke.push(t0.elapsed());
        let body =
            json!({"scope": "edge", "name": format!("b{r}"), "application": "many-7", "environment": "production"});
        bound.push(b.timed("POST", "/api/v1/api-keys", &body.to_string()));
    }
    println!(
        "API keys with 1,000 applications ({streams} streams): mint {:.0} ms, revoke {:.0} ms, mint bound to one stream {:.0} ms (medians of 3)",
        ms(median(mint)),
        ms(median(revoke)),
        ms(median(bound))
    );
}
