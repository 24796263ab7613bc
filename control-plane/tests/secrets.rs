//! A canary secret through varied operations, failing ones included: its value must never be in
//! an error, a log line (every level), a snapshot, the audit log, an export or any stored row —
//! only in answers to admin and read keys that asked for it (reads, and the writes that set it).

#![allow(clippy::unwrap_used, clippy::panic)] // test code fails loudly

mod common;

use std::sync::Mutex;

use common::{Api, Reply, call, call_with, key};
use serde_json::json;
use sqlx::PgPool;
use vane_control_plane::publish;

const CANARY: &str = "sk_live_CANARY_7f3a9c";

/// Everything the server logs, at every level.
static LOGS: Mutex<Vec<u8>> = Mutex::new(Vec::new());

struct Capture;

impl std::io::Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        LOGS.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Every stored row of every table, as text.
async fn every_row(pool: &PgPool) -> String {
    let tables: Vec<String> = sqlx::query_scalar("SELECT tablename::text FROM pg_tables WHERE schemaname = 'public'")
        .fetch_all(pool)
        .await
        .unwrap();
    let mut out = String::new();
    for t in tables {
        let rows: Vec<String> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!("SELECT r::text FROM {t} r")))
            .fetch_all(pool)
            .await
            .unwrap();
        out.push_str(&rows.join("\n"));
    }
    out
}

#[sqlx::test(migrator = "vane_control_plane::MIGRATOR")]
async fn a_secret_never_leaves_through_errors_logs_snapshots_audit_or_storage(pool: PgPool) {
    tracing_subscriber::fmt().with_env_filter("trace").with_ansi(false).with_writer(|| Capture).try_init().unwrap();
    publish::publish_missing(&mut pool.acquire().await.unwrap()).await.unwrap();
    let api = Api::with_encryption(&pool);
    let plain = Api::new(&pool); // a server without VANE_ENCRYPTION_KEY, on the same database
    let admin = key(&pool, "admin", None, None).await;
    let read = key(&pool, "read", None, None).await;
    let edge = key(&pool, "edge", None, None).await;
    let client = key(&pool, "client", None, None).await;
    // Answers that may carry the secret (asked for by admin or read keys), and all the others.
    let (mut allowed, mut others): (Vec<Reply>, Vec<(String, Reply)>) = (Vec::new(), Vec::new());
    macro_rules! step {
        ($what:expr, $reply:expr) => {{
            let r = $reply;
            others.push(($what.to_string(), r));
            others.last().unwrap().1.status
        }};
    }
    let c = "/api/v1/applications/default/environments/production/configs";
    let s = format!("{c}/payments.key");

    // Set it: the answer to the writer may show it.
    let r = call(&api, "POST", c, Some(&admin), Some(json!({"key": "payments.key", "value": CANARY, "secret": true})))
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    allowed.push(r);
    // The reported leak: a schema the secret fails, patched on.
    let st = step!(
        "schema patched on",
        call(
            &api,
            "PATCH",
            &s,
            Some(&admin),
            Some(json!({"schema": {"type": "string", "pattern": "^pk_", "maxLength": 3}}))
        )
        .await
    );
    assert_eq!(st, 422);
    let st = step!(
        "created against a schema",
        call(
            &api,
            "POST",
            c,
            Some(&admin),
            Some(json!({"key": "k2", "value": CANARY, "secret": true, "schema": {"enum": ["x"]}}))
        )
        .await
    );
    assert_eq!(st, 422);
    let st = step!(
        "wrong type",
        call(
            &api,
            "POST",
            c,
            Some(&admin),
            Some(json!({"key": "k3", "value": CANARY, "value_type": "number", "secret": true}))
        )
        .await
    );
    assert_eq!(st, 422);
    let st = step!(
        "visible to clients",
        call(
            &api,
            "POST",
            c,
            Some(&admin),
            Some(json!({"key": "k4", "value": CANARY, "secret": true, "client_visible": true}))
        )
        .await
    );
    assert_eq!(st, 422);
    let st = step!(
        "with a NUL",
        call(
            &api,
            "POST",
            c,
            Some(&admin),
            Some(json!({"key": "k5", "value": format!("{CANARY}\u{0}"), "secret": true}))
        )
        .await
    );
    assert_eq!(st, 422);
    let st = step!(
        "1 MB",
        call(&api, "POST", c, Some(&admin), Some(json!({"key": "k6", "value": CANARY.repeat(40_000), "secret": true})))
            .await
    );
    assert_eq!(st, 422);
    let st = step!(
        "stale If-Match",
        call_with(&api, "PATCH", &s, Some(&admin), Some(json!({"value": CANARY}).to_string()), &[("if-match", "99")])
            .await
    );
    assert_eq!(st, 412);
    let st = step!(
        "made public without a new value",
        call(&api, "PATCH", &s, Some(&admin), Some(json!({"secret": false}))).await
    );
    assert_eq!(st, 422, "a secret is not published by flipping its flag");
    let st = step!(
        "duplicate",
        call(&api, "POST", c, Some(&admin), Some(json!({"key": "payments.key", "value": CANARY, "secret": true})))
            .await
    );
    assert_eq!(st, 409);
    let st = step!("read by an edge key", call(&api, "GET", &s, Some(&edge), None).await);
    assert_eq!(st, 403);
    let st = step!("read by a client key", call(&api, "GET", &s, Some(&client), None).await);
    assert_eq!(st, 403);
    let st = step!(
        "read without the encryption key",
        call(&plain, "GET", &format!("{s}/history"), Some(&admin), None).await
    );
    assert_eq!(st, 200);
    // The original service's routes.
    let r = call(
        &api,
        "POST",
        "/api/v1/config",
        Some(&admin),
        Some(json!({"key": "legacy.secret", "value": CANARY,
        "environment": "production", "is_encrypted": true})),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let legacy_id = r.body["id"].as_str().unwrap().to_owned();
    allowed.push(r);
    let st = step!(
        "original route, stale version",
        call(
            &api,
            "PUT",
            &format!("/api/v1/config/{legacy_id}"),
            Some(&admin),
            Some(json!({"value": CANARY, "version": 7}))
        )
        .await
    );
    assert_eq!(st, 409);
    // Rotate it, roll it back, read it and its history: the admin and read keys may see it.
    let r = call(&api, "PATCH", &s, Some(&admin), Some(json!({"value": format!("{CANARY}-2")}))).await;
    assert_eq!(r.status, 200, "{}", r.text);
    allowed.push(r);
    let r = call(&api, "POST", &format!("{s}/rollback"), Some(&admin), Some(json!({"version": 1}))).await;
    assert_eq!(r.status, 200, "{}", r.text);
    allowed.push(r);
    for path in [s.clone(), format!("{s}/history"), format!("/api/v1/config/{legacy_id}/history")] {
        let r = call(&api, "GET", &path, Some(&read), None).await;
        assert_eq!(r.status, 200, "{path}: {}", r.text);
        assert!(r.text.contains(CANARY), "{path}: the read key reads the secret back");
        allowed.push(r);
    }
    // What others receive.
    for (what, path, k) in [
        ("server snapshot", "/api/v1/snapshots/default/production", &edge),
        ("client snapshot", "/api/v1/snapshots/default/production?audience=client", &client),
        ("audit log", "/api/v1/audit?limit=1000", &admin),
        ("config list for an edge key", c, &edge),
    ] {
        step!(what, call(&api, "GET", path, Some(k), None).await);
    }
    let mut conn = pool.acquire().await.unwrap();
    let export = vane_control_plane::export::export(&mut conn).await.unwrap().to_string();
    drop(conn);

    for (what, r) in &others {
        assert!(!r.text.contains(CANARY), "the secret is in the answer to '{what}': {}", r.text);
    }
    assert!(!export.contains(CANARY), "the secret is in the export");
    let stored = every_row(&pool).await;
    assert!(!stored.contains(CANARY), "the secret is stored in clear");
    assert!(stored.contains("***redacted***"), "audit rows hold the redacted form");
    let logs = String::from_utf8_lossy(&LOGS.lock().unwrap()).into_owned();
    assert!(logs.len() > 1000, "the logs were captured ({} bytes)", logs.len());
    assert!(!logs.contains(CANARY), "the secret is in the logs");
    assert!(allowed.iter().all(|r| r.status.is_success()));
    assert!(others.iter().any(|(_, r)| r.body["error"]["details"].as_array().is_some_and(|d| !d.is_empty())));
}
