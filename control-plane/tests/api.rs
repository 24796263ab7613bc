//! Admin REST against a real PostgreSQL: each test gets a fresh, migrated database from
//! `#[sqlx::test]` (the server comes from `DATABASE_URL`; `cargo xtask test` starts one).

#![allow(clippy::unwrap_used, clippy::panic)] // test helpers fail loudly

mod common;

use axum::http::{StatusCode, header};
use common::{Api, Reply, call, call_with, key, request, setup, stream_version};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use sqlx::PgPool;
use tower::ServiceExt;
use vane_control_plane::publish;
use vane_core::api_key_hash;

#[sqlx::test(migrator = "vane_control_plane::MIGRATOR")]
async fn health_needs_no_key_and_everything_else_does(pool: PgPool) {
    let api = setup(&pool).await;
    let r = call(&api, "GET", "/health", None, None).await;
    assert_eq!((r.status, r.body["database"].as_str()), (StatusCode::OK, Some("up")));
    for uri in ["/api/v1/applications", "/api/v1/environments", "/api/v1/snapshots/default/production"] {
        let r = call(&api, "GET", uri, None, None).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{uri}");
        assert_eq!(r.body["error"]["code"], "unauthorized");
        let r = call(&api, "GET", uri, Some("not-a-key"), None).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{uri}");
    }
    let admin = key(&pool, "admin", None, None).await;
    // Both header schemes work.
    let r =
        call_with(&api, "GET", "/api/v1/applications", None, None, &[("authorization", &format!("ApiKey {admin}"))])
            .await;
    assert_eq!(r.status, StatusCode::OK);
    let r = call(&api, "GET", "/api/v1/nothing-here", Some(&admin), None).await;
    assert_eq!((r.status, r.body["error"]["code"].as_str()), (StatusCode::NOT_FOUND, Some("not_found")));
    let r = call(&api, "DELETE", "/api/v1/applications", Some(&admin), None).await;
    assert_eq!(r.status, StatusCode::METHOD_NOT_ALLOWED);
}

#[sqlx::test(migrator = "vane_control_plane::MIGRATOR")]
async fn applications_crud_with_validation_and_concurrency(pool: PgPool) {
    let api = setup(&pool).await;
    let admin = key(&pool, "admin", None, None).await;
    let r =
        call(&api, "POST", "/api/v1/applications", Some(&admin), Some(json!({"key": "shop", "name": "Shop"}))).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert_eq!((r.body["key"].as_str(), r.body["version"].as_i64()), (Some("shop"), Some(1)));
    assert_eq!(r.body["id"].as_str().map(str::len), Some(26));

    // The original service's clients send a name only: the key is derived from it.
    let r = call(&api, "POST", "/api/v1/applications", Some(&admin), Some(json!({"name": "Billing Service!"}))).await;
    assert_eq!((r.status, r.body["key"].as_str()), (StatusCode::CREATED, Some("billing-service")));

    let r =
        call(&api, "POST", "/api/v1/applications", Some(&admin), Some(json!({"key": "shop", "name": "Again"}))).await;
    assert_eq!((r.status, r.body["error"]["code"].as_str()), (StatusCode::CONFLICT, Some("conflict")));

    let r = call(
        &api,
        "POST",
        "/api/v1/applications",
        Some(&admin),
        Some(json!({"key": "-Bad", "name": "", "comments": "x".repeat(1025)})),
    )
    .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    let paths: Vec<&str> =
        r.body["error"]["details"].as_array().unwrap().iter().filter_map(|d| d["path"].as_str()).collect();
    assert_eq!(paths, ["key", "name", "comments"]);

    let r = call(&api, "POST", "/api/v1/applications", Some(&admin), Some(json!({"name": "X", "colour": "red"}))).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "unknown fields are rejected: {}", r.body);

    let r = call_with(&api, "POST", "/api/v1/applications", Some(&admin), Some("{\"name\":".into()), &[]).await;
    assert_eq!((r.status, r.body["error"]["code"].as_str()), (StatusCode::BAD_REQUEST, Some("bad_request")));

    let big = json!({"name": "x".repeat(9 * 1024 * 1024)}).to_string();
    let r = call_with(&api, "POST", "/api/v1/applications", Some(&admin), Some(big), &[]).await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE);

    let r = call(&api, "GET", "/api/v1/applications/shop", Some(&admin), None).await;
    assert_eq!((r.status, r.body["name"].as_str()), (StatusCode::OK, Some("Shop")));
    let id = r.body["id"].as_str().unwrap().to_owned();
    let r = call(&api, "GET", &format!("/api/v1/applications/{id}"), Some(&admin), None).await;
    assert_eq!(r.body["key"], "shop");

    // Stale If-Match: 412, nothing changes. Stale body version: 409. Current: applied.
    let r = call_with(
        &api,
        "PUT",
        "/api/v1/applications/shop",
        Some(&admin),
        Some(json!({"name": "Nope"}).to_string()),
        &[("if-match", "\"7\"")],
    )
    .await;
    assert_eq!(r.status, StatusCode::PRECONDITION_FAILED);
    let r = call(&api, "PATCH", "/api/v1/applications/shop", Some(&admin), Some(json!({"name": "Nope", "version": 7})))
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    let r = call(&api, "GET", "/api/v1/applications/shop", Some(&admin), None).await;
    assert_eq!((r.body["name"].as_str(), r.body["version"].as_i64()), (Some("Shop"), Some(1)));
    let r = call_with(
        &api,
        "PUT",
        "/api/v1/applications/shop",
        Some(&admin),
        Some(json!({"name": "The Shop"}).to_string()),
        &[("if-match", "\"1\"")],
    )
    .await;
    assert_eq!(
        (r.status, r.body["name"].as_str(), r.body["version"].as_i64()),
        (StatusCode::OK, Some("The Shop"), Some(2))
    );

    let r = call(&api, "GET", "/api/v1/applications?limit=1&offset=1", Some(&admin), None).await;
    assert_eq!((r.body["total"].as_i64(), r.body["items"].as_array().map(Vec::len)), (Some(3), Some(1)));
    let r = call(&api, "GET", "/api/v1/applications?limit=0", Some(&admin), None).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    let r = call(&api, "GET", "/api/v1/applications?limit=ten", Some(&admin), None).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);

    let r = call(&api, "DELETE", "/api/v1/applications/default", Some(&admin), None).await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    let r = call(&api, "DELETE", "/api/v1/applications/shop", Some(&admin), None).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    let r = call(&api, "GET", "/api/v1/applications/shop", Some(&admin), None).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);

    let actions: Vec<(String, String)> =
        sqlx::query_as("SELECT entity_key, action FROM audit_log WHERE entity_type = 'application' ORDER BY at, id")
            .fetch_all(&pool)
            .await
            .unwrap();
    assert_eq!(
        actions.iter().map(|(k, a)| format!("{k}:{a}")).collect::<Vec<_>>(),
        ["shop:create", "billing-service:create", "shop:update", "shop:delete"]
    );
}

#[sqlx::test(migrator = "vane_control_plane::MIGRATOR")]
async fn scopes_and_bindings(pool: PgPool) {
    let api = setup(&pool).await;
    let admin = key(&pool, "admin", None, None).await;
    call(&api, "POST", "/api/v1/applications", Some(&admin), Some(json!({"key": "other", "name": "Other"}))).await;
    let read = key(&pool, "read", None, None).await;
    let edge = key(&pool, "edge", None, None).await;
    let client = key(&pool, "client", None, None).await;
    let bound = key(&pool, "admin", Some("default"), None).await;

    assert_eq!(call(&api, "GET", "/api/v1/applications", Some(&read), None).await.status, StatusCode::OK);
    let r = call(&api, "POST", "/api/v1/applications", Some(&read), Some(json!({"name": "No"}))).await;
    assert_eq!((r.status, r.body["error"]["code"].as_str()), (StatusCode::FORBIDDEN, Some("forbidden")));
    assert_eq!(call(&api, "GET", "/api/v1/applications", Some(&edge), None).await.status, StatusCode::FORBIDDEN);
    assert_eq!(call(&api, "GET", "/api/v1/environments", Some(&client), None).await.status, StatusCode::FORBIDDEN);

    assert_eq!(call(&api, "GET", "/api/v1/applications/default", Some(&bound), None).await.status, StatusCode::OK);
    assert_eq!(call(&api, "GET", "/api/v1/applications/other", Some(&bound), None).await.status, StatusCode::FORBIDDEN);
    let r = call(&api, "GET", "/api/v1/applications", Some(&bound), None).await;
    assert_eq!(r.body["total"].as_i64(), Some(1), "a bound key lists only its application");
    assert_eq!(
        call(&api, "POST", "/api/v1/applications", Some(&bound), Some(json!({"name": "New"}))).await.status,
        StatusCode::FORBIDDEN
    );

    // Snapshots: edge reads both audiences, client only the client one, read keys neither.
    let s = "/api/v1/snapshots/default/production";
    assert_eq!(call(&api, "GET", s, Some(&edge), None).await.status, StatusCode::OK);
    assert_eq!(call(&api, "GET", &format!("{s}?audience=client"), Some(&edge), None).await.status, StatusCode::OK);
    assert_eq!(call(&api, "GET", &format!("{s}?audience=client"), Some(&client), None).await.status, StatusCode::OK);
    assert_eq!(call(&api, "GET", s, Some(&client), None).await.status, StatusCode::FORBIDDEN);
    assert_eq!(call(&api, "GET", s, Some(&read), None).await.status, StatusCode::FORBIDDEN);
    assert_eq!(
        call(&api, "GET", &format!("{s}?audience=everyone"), Some(&edge), None).await.status,
        StatusCode::BAD_REQUEST
    );
    let edge_prod = key(&pool, "edge", Some("default"), Some("production")).await;
    assert_eq!(call(&api, "GET", s, Some(&edge_prod), None).await.status, StatusCode::OK);
    assert_eq!(
        call(&api, "GET", "/api/v1/snapshots/default/staging", Some(&edge_prod), None).await.status,
        StatusCode::FORBIDDEN
    );
}

#[sqlx::test(migrator = "vane_control_plane::MIGRATOR")]
async fn snapshots_publish_with_writes_and_answer_304(pool: PgPool) {
    let api = setup(&pool).await;
    let admin = key(&pool, "admin", None, None).await;
    let edge = key(&pool, "edge", None, None).await;
    let s = "/api/v1/snapshots/default/production";
    let r = call(&api, "GET", s, Some(&edge), None).await;
    assert_eq!(r.status, StatusCode::OK);
    let etag = r.headers[header::ETAG].to_str().unwrap().to_owned();
    let v1: i64 = r.headers["x-vane-snapshot-version"].to_str().unwrap().parse().unwrap();
    assert_eq!(r.body["environment"], "production");
    assert_eq!(r.body["format_version"], 1);
    // The served body is a snapshot the engine accepts, and the ETag is its SHA-256.
    let (app, env, audience, version, stored_etag): (String, String, String, i64, String) = sqlx::query_as(
        "SELECT application_id, environment_id, audience, version, etag FROM snapshots ORDER BY version DESC LIMIT 1",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    let mut conn = pool.acquire().await.unwrap();
    let raw = publish::stored_body(&mut conn, &app, &env, &audience, version, &stored_etag)
        .await
        .unwrap()
        .unwrap()
        .to_string();
    assert!(vane_core::compile_json(&raw).is_ok());

    let r = call_with(&api, "GET", s, Some(&edge), None, &[("if-none-match", &etag)]).await;
    assert_eq!(r.status, StatusCode::NOT_MODIFIED);
    assert_eq!(r.headers[header::ETAG].to_str().unwrap(), etag);

    // A settings change republishes: new version, new ETag, settings in the body.
    let r = call(
        &api,
        "PATCH",
        "/api/v1/environments/production",
        Some(&admin),
        Some(json!({"max_staleness_s": 30, "stale_policy": "fail_closed"})),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let r = call_with(&api, "GET", s, Some(&edge), None, &[("if-none-match", &etag)]).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body["settings"], json!({"max_staleness_s": 30, "stale_policy": "fail_closed"}));
    let v2: i64 = r.headers["x-vane-snapshot-version"].to_str().unwrap().parse().unwrap();
    assert_eq!(v2, v1 + 1, "versions are gap-free");

    // A failed write leaves every stream's version unchanged.
    let before = stream_version(&pool, "default", "production", "server").await;
    let r =
        call(&api, "PATCH", "/api/v1/environments/production", Some(&admin), Some(json!({"stale_policy": "panic"})))
            .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    let r = call(&api, "POST", "/api/v1/environments", Some(&admin), Some(json!({"key": "production", "name": "Dup"})))
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    assert_eq!(stream_version(&pool, "default", "production", "server").await, before);

    // A new environment gets snapshots for every application at once.
    let r = call(&api, "POST", "/api/v1/environments", Some(&admin), Some(json!({"key": "qa", "name": "QA"}))).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert_eq!(stream_version(&pool, "default", "qa", "server").await, 1);
    assert_eq!(stream_version(&pool, "default", "qa", "client").await, 1);
    let r = call(&api, "DELETE", "/api/v1/environments/staging", Some(&admin), None).await;
    assert_eq!(r.status, StatusCode::CONFLICT, "built-in environments stay");
    assert_eq!(
        call(&api, "DELETE", "/api/v1/environments/qa", Some(&admin), None).await.status,
        StatusCode::NO_CONTENT
    );
}

#[sqlx::test(migrator = "vane_control_plane::MIGRATOR")]
async fn concurrent_updates_with_if_match_lose_nothing(pool: PgPool) {
    let api = setup(&pool).await;
    let admin = key(&pool, "admin", None, None).await;
    // 50 writers race with If-Match: 1; exactly one wins, the rest get 412, no update is lost.
    let tasks: Vec<_> = (0..50)
        .map(|i| {
            let api = api.clone();
            let admin = admin.clone();
            tokio::spawn(async move {
                call_with(
                    &api,
                    "PATCH",
                    "/api/v1/environments/staging",
                    Some(&admin),
                    Some(json!({"max_staleness_s": i + 1}).to_string()),
                    &[("if-match", "1")],
                )
                .await
                .status
            })
        })
        .collect();
    let mut won = 0;
    for t in tasks {
        match t.await.unwrap() {
            StatusCode::OK => won += 1,
            StatusCode::PRECONDITION_FAILED => {}
            other => panic!("unexpected status {other}"),
        }
    }
    assert_eq!(won, 1);
    let r = call(&api, "GET", "/api/v1/environments/staging", Some(&admin), None).await;
    assert_eq!(r.body["version"].as_i64(), Some(2));
    // Snapshot versions stay gap-free: 1 at start-up, then exactly one republish.
    assert_eq!(stream_version(&pool, "default", "staging", "server").await, 2);
    let versions: Vec<i64> = sqlx::query_scalar(
        "SELECT s.version FROM snapshots s JOIN environments e ON e.id = s.environment_id
         WHERE e.key = 'staging' AND s.audience = 'server' ORDER BY s.version",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(versions, [1, 2]);
}

async fn version_of(r: &Reply) -> i64 {
    r.headers["x-vane-snapshot-version"].to_str().unwrap().parse().unwrap()
}

#[sqlx::test(migrator = "vane_control_plane::MIGRATOR")]
async fn long_poll_wakes_on_commit_and_times_out_with_304(pool: PgPool) {
    let api = setup(&pool).await;
    let admin = key(&pool, "admin", None, None).await;
    let edge = key(&pool, "edge", None, None).await;
    let s = "/api/v1/snapshots/default/production";
    let first = call(&api, "GET", s, Some(&edge), None).await;
    let etag = first.headers[header::ETAG].to_str().unwrap().to_owned();

    // Nothing changes: the poll is held for `wait` seconds, then 304.
    let started = std::time::Instant::now();
    let r = call_with(&api, "GET", &format!("{s}?wait=1"), Some(&edge), None, &[("if-none-match", &etag)]).await;
    assert_eq!(r.status, StatusCode::NOT_MODIFIED);
    assert!(started.elapsed() >= std::time::Duration::from_millis(900), "{:?}", started.elapsed());

    // A commit wakes the poll: measured from the write's response to the poll's.
    let poller = {
        let (api, edge, etag) = (api.clone(), edge.clone(), etag.clone());
        tokio::spawn(async move {
            let r =
                call_with(&api, "GET", &format!("{s}?wait=10"), Some(&edge), None, &[("if-none-match", &etag)]).await;
            (r, std::time::Instant::now())
        })
    };
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let w =
        call(&api, "PATCH", "/api/v1/environments/production", Some(&admin), Some(json!({"max_staleness_s": 5}))).await;
    let committed = std::time::Instant::now();
    assert_eq!(w.status, StatusCode::OK);
    let (r, answered) = poller.await.unwrap();
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(version_of(&r).await, version_of(&first).await + 1);
    let lag = answered.saturating_duration_since(committed);
    assert!(lag < std::time::Duration::from_millis(100), "long-poll woke {lag:?} after the commit");

    let r = call(&api, "GET", &format!("{s}?wait=61"), Some(&edge), None).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
}

#[sqlx::test(migrator = "vane_control_plane::MIGRATOR")]
async fn a_write_through_one_instance_is_announced_by_another(pool: PgPool) {
    // Two servers on one database, each with its own LISTEN connection.
    let a = setup(&pool).await;
    let b = Api::new(&pool);
    let admin = key(&pool, "admin", None, None).await;
    let edge = key(&pool, "edge", None, None).await;
    let s = "/api/v1/snapshots/default/staging";
    let etag = call(&b, "GET", s, Some(&edge), None).await.headers[header::ETAG].to_str().unwrap().to_owned();
    let poller = {
        let (b, edge, etag) = (b.clone(), edge.clone(), etag.clone());
        tokio::spawn(async move {
            call_with(&b, "GET", &format!("{s}?wait=10"), Some(&edge), None, &[("if-none-match", &etag)]).await
        })
    };
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let started = std::time::Instant::now();
    let w =
        call(&a, "PATCH", "/api/v1/environments/staging", Some(&admin), Some(json!({"stale_policy": "fail_closed"})))
            .await;
    assert_eq!(w.status, StatusCode::OK);
    let r = poller.await.unwrap();
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body["settings"]["stale_policy"], "fail_closed");
    assert!(started.elapsed() < std::time::Duration::from_secs(2));
}

#[sqlx::test(migrator = "vane_control_plane::MIGRATOR")]
async fn sse_announces_the_current_and_every_new_version(pool: PgPool) {
    let api = setup(&pool).await;
    let admin = key(&pool, "admin", None, None).await;
    let edge = key(&pool, "edge", None, None).await;
    let res = api
        .router
        .clone()
        .oneshot(request("GET", "/api/v1/snapshots/default/production/events", Some(&edge), None, &[]))
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()[header::CONTENT_TYPE], "text/event-stream");
    let mut body = res.into_body().into_data_stream();
    let next_event = async |body: &mut axum::body::BodyDataStream| -> Value {
        use futures_util::StreamExt;
        let mut text = String::new();
        loop {
            let chunk =
                tokio::time::timeout(std::time::Duration::from_secs(5), body.next()).await.unwrap().unwrap().unwrap();
            text.push_str(&String::from_utf8_lossy(&chunk));
            if let Some(data) = text.lines().find_map(|l| l.strip_prefix("data: ")) {
                return serde_json::from_str(data).unwrap();
            }
        }
    };
    let first = next_event(&mut body).await;
    assert_eq!((first["application"].as_str(), first["audience"].as_str()), (Some("default"), Some("server")));
    let w =
        call(&api, "PATCH", "/api/v1/environments/production", Some(&admin), Some(json!({"max_staleness_s": 9}))).await;
    assert_eq!(w.status, StatusCode::OK);
    let second = next_event(&mut body).await;
    assert_eq!(second["version"].as_i64(), first["version"].as_i64().map(|v| v + 1));
}

/// Fetches the current snapshot of a stream and compiles it with the engine.
async fn served(api: &Api, key: &str, path: &str) -> (String, vane_core::CompiledSnapshot) {
    let res = api.router.clone().oneshot(request("GET", path, Some(key), None, &[])).await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let bytes = res.into_body().collect().await.unwrap().to_bytes();
    let text = String::from_utf8(bytes.to_vec()).unwrap();
    let (snap, warnings) = vane_core::compile_json(&text).unwrap();
    assert!(warnings.is_empty(), "{warnings:?}");
    (text, snap)
}

fn ctx(v: Value) -> vane_core::Context {
    vane_core::Context::from_json(&v).unwrap()
}

#[sqlx::test(migrator = "vane_control_plane::MIGRATOR")]
async fn flags_are_validated_published_and_evaluated(pool: PgPool) {
    let api = setup(&pool).await;
    let admin = key(&pool, "admin", None, None).await;
    let edge = key(&pool, "edge", None, None).await;
    let flags = "/api/v1/applications/default/flags";
    let r = call(
        &api,
        "POST",
        flags,
        Some(&admin),
        Some(json!({"key": "new-checkout", "type": "boolean", "tags": ["web"]})),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert_eq!(r.body["environments"]["production"]["enabled"], false);
    assert_eq!(r.body["environments"].as_object().map(|m| m.len()), Some(3));
    let v0 = stream_version(&pool, "default", "production", "server").await;

    let snap_path = "/api/v1/snapshots/default/production";
    let (_, snap) = served(&api, &edge, snap_path).await;
    let e = snap.evaluate("new-checkout", &ctx(json!({"targetingKey": "u1"})), 0);
    assert_eq!((e.value(), e.reason()), (Some(&json!(false)), vane_core::Reason::Disabled));

    // Enable with a rule; If-Match guards the state version.
    let state = format!("{flags}/new-checkout/environments/production");
    let body = json!({"enabled": true, "default": {"variant": "off"},
                      "rules": [{"id": "ca", "conditions": [{"attribute": "country", "operator": "in", "values": ["CA"]}],
                                 "serve": {"variant": "on"}}]});
    let r = call_with(&api, "PATCH", &state, Some(&admin), Some(body.to_string()), &[("if-match", "7")]).await;
    assert_eq!(r.status, StatusCode::PRECONDITION_FAILED);
    let r = call_with(&api, "PATCH", &state, Some(&admin), Some(body.to_string()), &[("if-match", "1")]).await;
    assert_eq!((r.status, r.body["version"].as_i64()), (StatusCode::OK, Some(2)), "{}", r.body);
    assert_eq!(stream_version(&pool, "default", "production", "server").await, v0 + 1);
    let (_, snap) = served(&api, &edge, snap_path).await;
    let e = snap.evaluate("new-checkout", &ctx(json!({"targetingKey": "u1", "country": "CA"})), 0);
    assert_eq!((e.value(), e.rule_id()), (Some(&json!(true)), Some("ca")));
    let e = snap.evaluate("new-checkout", &ctx(json!({"targetingKey": "u1", "country": "FR"})), 0);
    assert_eq!((e.value(), e.reason()), (Some(&json!(false)), vane_core::Reason::Default));
    // Staging is untouched.
    let (_, staging) = served(&api, &edge, "/api/v1/snapshots/default/staging").await;
    assert_eq!(
        staging.evaluate("new-checkout", &ctx(json!({"country": "CA"})), 0).reason(),
        vane_core::Reason::Disabled
    );

    // Invalid definitions: 422 with the path of each problem; nothing changes.
    let bad = json!({"rules": [{"conditions": [{"attribute": "email", "operator": "matches", "values": ["("]}],
                                "serve": {"variant": "maybe"}}]});
    let r = call(&api, "PATCH", &state, Some(&admin), Some(bad)).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    let paths: Vec<&str> =
        r.body["error"]["details"].as_array().unwrap().iter().filter_map(|d| d["path"].as_str()).collect();
    assert_eq!(paths, ["rules[0].conditions[0].values[0]", "rules[0].serve.variant"], "{}", r.body);
    let r = call(&api, "PATCH", &state, Some(&admin), Some(json!({"rules": [{"conditions": [{"attribute": "a", "operator": "resembles"}], "serve": {"variant": "on"}}]}))).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);
    assert_eq!(stream_version(&pool, "default", "production", "server").await, v0 + 1);

    // Removing a variant a rule serves is rejected in the environment that uses it.
    let r = call(
        &api,
        "PATCH",
        &format!("{flags}/new-checkout"),
        Some(&admin),
        Some(json!({"variants": [{"key": "off", "value": false}]})),
    )
    .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    let paths: Vec<&str> =
        r.body["error"]["details"].as_array().unwrap().iter().filter_map(|d| d["path"].as_str()).collect();
    assert!(paths.contains(&"environments.production.rules[0].serve.variant"), "{paths:?}");

    // Prerequisites: a cycle is rejected; a prerequisite flag cannot be deleted.
    let r = call(
        &api,
        "POST",
        flags,
        Some(&admin),
        Some(json!({"key": "theme", "type": "string",
        "variants": [{"key": "light", "value": "L"}, {"key": "dark", "value": "D"}]})),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let r = call(
        &api,
        "PATCH",
        &format!("{flags}/theme/environments/production"),
        Some(&admin),
        Some(json!({"enabled": true, "prerequisites": [{"flag": "new-checkout", "variants": ["on"]}]})),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let r = call(
        &api,
        "PATCH",
        &state,
        Some(&admin),
        Some(json!({"prerequisites": [{"flag": "theme", "variants": ["dark"]}]})),
    )
    .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.body["error"]["details"].to_string().contains("cycle"), "{}", r.body);
    let r = call(&api, "DELETE", &format!("{flags}/new-checkout"), Some(&admin), None).await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    let (_, snap) = served(&api, &edge, snap_path).await;
    let e = snap.evaluate("theme", &ctx(json!({"targetingKey": "u1", "country": "FR"})), 0);
    assert_eq!(e.reason(), vane_core::Reason::PrerequisiteFailed);
    let e = snap.evaluate("theme", &ctx(json!({"targetingKey": "u1", "country": "CA"})), 0);
    assert_eq!(e.value(), Some(&json!("L")));

    let r = call(&api, "POST", flags, Some(&admin), Some(json!({"key": "new-checkout", "type": "boolean"}))).await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    let r = call(&api, "POST", flags, Some(&admin), Some(json!({"key": "bad key!", "type": "boolean"}))).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    let r = call(
        &api,
        "POST",
        flags,
        Some(&admin),
        Some(json!({"key": "n", "type": "number", "variants": [{"key": "a", "value": "x"}]})),
    )
    .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(r.body["error"]["details"][0]["path"], "variants[0].value");
    let r = call(&api, "GET", &format!("{flags}?tag=web"), Some(&admin), None).await;
    assert_eq!(r.body["total"].as_i64(), Some(1));
}

#[sqlx::test(migrator = "vane_control_plane::MIGRATOR")]
async fn client_snapshots_hide_targeted_keys_and_server_only_flags(pool: PgPool) {
    let api = setup(&pool).await;
    let admin = key(&pool, "admin", None, None).await;
    let client = key(&pool, "client", None, None).await;
    let flags = "/api/v1/applications/default/flags";
    for (k, visible) in [("web-banner", true), ("server-secret-flag", false)] {
        let r = call(
            &api,
            "POST",
            flags,
            Some(&admin),
            Some(json!({"key": k, "type": "boolean", "client_visible": visible})),
        )
        .await;
        assert_eq!(r.status, StatusCode::CREATED);
        let r = call(
            &api,
            "PATCH",
            &format!("{flags}/{k}/environments/production"),
            Some(&admin),
            Some(json!({"enabled": true, "default": {"variant": "off"}, "rules": [{"conditions": [
                {"attribute": "targetingKey", "operator": "in", "values": ["alice@example.com", "bob-4711"]}],
                "serve": {"variant": "on"}}]})),
        )
        .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    }
    let (text, snap) = served(&api, &client, "/api/v1/snapshots/default/production?audience=client").await;
    for secret in ["alice@example.com", "bob-4711", "server-secret-flag"] {
        assert!(!text.contains(secret), "{secret} is in the client snapshot");
    }
    assert_eq!(snap.evaluate("web-banner", &ctx(json!({"targetingKey": "bob-4711"})), 0).value(), Some(&json!(true)));
    assert_eq!(snap.evaluate("web-banner", &ctx(json!({"targetingKey": "eve"})), 0).value(), Some(&json!(false)));
    assert_eq!(
        snap.evaluate("server-secret-flag", &ctx(json!({})), 0).error_code(),
        Some(vane_core::ErrorCode::FlagNotFound)
    );
}

#[sqlx::test(migrator = "vane_control_plane::MIGRATOR")]
async fn api_keys_are_minted_listed_revoked_and_audited(pool: PgPool) {
    let api = setup(&pool).await;
    let admin = key(&pool, "admin", None, None).await;
    let read = key(&pool, "read", None, None).await;
    let r = call(
        &api,
        "POST",
        "/api/v1/api-keys",
        Some(&admin),
        Some(json!({"scope": "edge", "name": "cdn", "environment": "production"})),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let new_key = r.body["key"].as_str().unwrap().to_owned();
    let id = r.body["id"].as_str().unwrap().to_owned();
    assert_eq!((r.body["scope"].as_str(), r.body["environment"].as_str()), (Some("edge"), Some("production")));
    assert!(r.body.get("hash").is_none());

    // It works at once, only where it is bound, and server snapshots list its hash.
    let (_, snap) = served(&api, &new_key, "/api/v1/snapshots/default/production").await;
    assert!(snap.accepted_key(&api_key_hash(&new_key)).is_some());
    assert_eq!(
        call(&api, "GET", "/api/v1/snapshots/default/staging", Some(&new_key), None).await.status,
        StatusCode::FORBIDDEN
    );

    let r = call(&api, "GET", "/api/v1/api-keys", Some(&admin), None).await;
    assert!(r.body["items"].as_array().unwrap().iter().any(|k| k["id"] == id.as_str()));
    assert!(!r.body.to_string().contains(&new_key), "listing never shows keys");
    assert_eq!(call(&api, "GET", "/api/v1/api-keys", Some(&read), None).await.status, StatusCode::FORBIDDEN);
    let r = call(&api, "POST", "/api/v1/api-keys", Some(&admin), Some(json!({"scope": "root"}))).await;
    assert_eq!(
        (r.status, r.body["error"]["details"][0]["path"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("scope"))
    );
    let r = call(&api, "POST", "/api/v1/api-keys", Some(&admin), Some(json!({"scope": "edge", "application": "nope"})))
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);

    assert_eq!(
        call(&api, "DELETE", &format!("/api/v1/api-keys/{id}"), Some(&admin), None).await.status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        call(&api, "GET", "/api/v1/snapshots/default/production", Some(&new_key), None).await.status,
        StatusCode::UNAUTHORIZED
    );
    let (_, snap) = served(&api, &admin, "/api/v1/snapshots/default/production").await;
    assert!(snap.accepted_key(&api_key_hash(&new_key)).is_none(), "revoked keys leave the snapshot");

    let r = call(&api, "GET", "/api/v1/audit?entity_type=api_key", Some(&read), None).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let actions: Vec<&str> = r.body["items"].as_array().unwrap().iter().filter_map(|e| e["action"].as_str()).collect();
    assert_eq!(actions, ["revoke", "create"]);
    let r = call(&api, "GET", &format!("/api/v1/audit?entity={id}&action=create"), Some(&admin), None).await;
    assert_eq!(r.body["total"].as_i64(), Some(1));
    assert!(!r.body.to_string().contains(&new_key), "the audit log never holds a key");
    let r = call(&api, "GET", "/api/v1/audit?colour=red", Some(&admin), None).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
}

#[sqlx::test(migrator = "vane_control_plane::MIGRATOR")]
async fn segments_target_flags_and_are_protected_while_in_use(pool: PgPool) {
    let api = setup(&pool).await;
    let admin = key(&pool, "admin", None, None).await;
    let edge = key(&pool, "edge", None, None).await;
    let client = key(&pool, "client", None, None).await;
    let segments = "/api/v1/applications/default/segments";
    let r = call(
        &api,
        "POST",
        segments,
        Some(&admin),
        Some(json!({"key": "beta", "included": ["u-1"], "excluded": ["u-3"],
        "conditions": [{"attribute": "email", "operator": "ends_with", "values": ["@vane.dev"]}]})),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let r = call(
        &api,
        "POST",
        segments,
        Some(&admin),
        Some(json!({"key": "broken",
        "conditions": [{"attribute": "email", "operator": "matches", "values": ["("]}]})),
    )
    .await;
    assert_eq!(
        (r.status, r.body["error"]["details"][0]["path"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("conditions[0].values[0]"))
    );

    let flags = "/api/v1/applications/default/flags";
    call(&api, "POST", flags, Some(&admin), Some(json!({"key": "beta-ui", "type": "boolean", "client_visible": true})))
        .await;
    let state = format!("{flags}/beta-ui/environments/production");
    let r = call(&api, "PATCH", &state, Some(&admin), Some(json!({"enabled": true, "default": {"variant": "off"},
        "rules": [{"conditions": [{"attribute": "targetingKey", "operator": "in_segment", "values": ["gamma"]}], "serve": {"variant": "on"}}]}))).await;
    assert_eq!(
        (r.status, r.body["error"]["details"][0]["path"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("rules[0].conditions[0].values[0]"))
    );
    let r = call(&api, "PATCH", &state, Some(&admin), Some(json!({"enabled": true, "default": {"variant": "off"},
        "rules": [{"conditions": [{"attribute": "targetingKey", "operator": "in_segment", "values": ["beta"]}], "serve": {"variant": "on"}}]}))).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);

    let on = |snap: &vane_core::CompiledSnapshot, c: Value| {
        snap.evaluate("beta-ui", &ctx(c), 0).value() == Some(&json!(true))
    };
    let (_, snap) = served(&api, &edge, "/api/v1/snapshots/default/production").await;
    assert!(on(&snap, json!({"targetingKey": "u-1"})));
    assert!(on(&snap, json!({"targetingKey": "u-7", "email": "a@vane.dev"})));
    assert!(!on(&snap, json!({"targetingKey": "u-3", "email": "a@vane.dev"})));
    assert!(!on(&snap, json!({"targetingKey": "u-2"})));

    // Updates: If-Match, validation that protects the flags using it, then a 100k-key list.
    let seg = format!("{segments}/beta");
    let r = call(
        &api,
        "PATCH",
        &seg,
        Some(&admin),
        Some(json!({"conditions": [{"attribute": "email", "operator": "in_segment", "values": ["beta"]}]})),
    )
    .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "segments cannot nest: {}", r.body);
    let many: Vec<String> = (0..100_000).map(|i| format!("user-{i}")).collect();
    let r =
        call_with(&api, "PATCH", &seg, Some(&admin), Some(json!({"included": many}).to_string()), &[("if-match", "1")])
            .await;
    assert_eq!((r.status, r.body["version"].as_i64()), (StatusCode::OK, Some(2)), "{}", r.body["error"]);
    let (_, snap) = served(&api, &edge, "/api/v1/snapshots/default/production").await;
    assert!(on(&snap, json!({"targetingKey": "user-99999"})));
    assert!(!on(&snap, json!({"targetingKey": "u-1"})), "u-1 is no longer listed");

    // Browsers get the segment hashed: no member key in the bytes, same answers.
    let (text, csnap) = served(&api, &client, "/api/v1/snapshots/default/production?audience=client").await;
    assert!(!text.contains("user-4242"), "segment members leak into the client snapshot");
    assert!(on(&csnap, json!({"targetingKey": "user-4242"})));
    assert!(!on(&csnap, json!({"targetingKey": "user-100000"})));

    let r = call(&api, "DELETE", &seg, Some(&admin), None).await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.body);
    assert!(r.body["error"]["message"].as_str().unwrap().contains("beta-ui"));
    call(&api, "PATCH", &state, Some(&admin), Some(json!({"rules": []}))).await;
    assert_eq!(call(&api, "DELETE", &seg, Some(&admin), None).await.status, StatusCode::NO_CONTENT);
}

#[sqlx::test(migrator = "vane_control_plane::MIGRATOR")]
async fn flag_history_and_rollback_as_a_new_version(pool: PgPool) {
    let api = setup(&pool).await;
    let admin = key(&pool, "admin", None, None).await;
    let edge = key(&pool, "edge", None, None).await;
    let flags = "/api/v1/applications/default/flags";
    call(&api, "POST", flags, Some(&admin), Some(json!({"key": "promo", "type": "boolean"}))).await;
    let state = format!("{flags}/promo/environments/production");
    let v2 = json!({"enabled": true, "default": {"variant": "off"},
                    "rules": [{"id": "vip", "conditions": [{"attribute": "plan", "operator": "eq", "values": ["vip"]}], "serve": {"variant": "on"}}]});
    assert_eq!(call(&api, "PATCH", &state, Some(&admin), Some(v2)).await.status, StatusCode::OK);
    assert_eq!(
        call(&api, "PATCH", &state, Some(&admin), Some(json!({"enabled": false, "rules": []}))).await.status,
        StatusCode::OK
    );

    let r = call(&api, "GET", &format!("{state}/history"), Some(&admin), None).await;
    let versions: Vec<i64> = r.body["items"].as_array().unwrap().iter().filter_map(|h| h["version"].as_i64()).collect();
    assert_eq!(versions, [3, 2, 1]);
    assert_eq!(r.body["items"][1]["definition"]["rules"][0]["id"], "vip");

    let r = call_with(
        &api,
        "POST",
        &format!("{state}/rollback"),
        Some(&admin),
        Some(json!({"version": 2}).to_string()),
        &[("if-match", "2")],
    )
    .await;
    assert_eq!(r.status, StatusCode::PRECONDITION_FAILED);
    let r = call(&api, "POST", &format!("{state}/rollback"), Some(&admin), Some(json!({"version": 99}))).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let r = call(&api, "POST", &format!("{state}/rollback"), Some(&admin), Some(json!({"version": 2}))).await;
    assert_eq!(
        (r.status, r.body["version"].as_i64(), r.body["enabled"].as_bool()),
        (StatusCode::OK, Some(4), Some(true)),
        "{}",
        r.body
    );
    let (_, snap) = served(&api, &edge, "/api/v1/snapshots/default/production").await;
    let e = snap.evaluate("promo", &ctx(json!({"plan": "vip"})), 0);
    assert_eq!((e.value(), e.rule_id(), e.flag_version()), (Some(&json!(true)), Some("vip"), 4));

    let r = call(&api, "GET", "/api/v1/audit?entity_type=flag_state&action=rollback", Some(&admin), None).await;
    assert_eq!(r.body["total"].as_i64(), Some(1));

    // A flag's key finds its definition's entries and its states' (keyed `promo/production`).
    let r = call(&api, "GET", "/api/v1/audit?entity=promo", Some(&admin), None).await;
    let kinds: std::collections::BTreeSet<&str> =
        r.body["items"].as_array().unwrap().iter().filter_map(|e| e["entity_type"].as_str()).collect();
    assert_eq!(kinds, ["flag", "flag_state"].into(), "{}", r.body);
    // Time: entries from an instant on, and before one.
    let all = r.body["total"].as_i64().unwrap();
    let newest = r.body["items"][0]["at"].as_str().unwrap().to_owned();
    let since = |at: &str| format!("/api/v1/audit?entity=promo&since={}", at.replace('+', "%2B"));
    let r = call(&api, "GET", &since(&newest), Some(&admin), None).await;
    assert_eq!(r.body["total"].as_i64(), Some(1), "{}", r.body);
    let until = format!("/api/v1/audit?entity=promo&until={}", newest.replace('+', "%2B"));
    let r = call(&api, "GET", &until, Some(&admin), None).await;
    assert_eq!(r.body["total"].as_i64(), Some(all - 1), "{}", r.body);
    let r = call(&api, "GET", "/api/v1/audit?since=yesterday", Some(&admin), None).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
}

#[sqlx::test(migrator = "vane_control_plane::MIGRATOR")]
async fn configs_are_typed_schema_checked_and_secrets_never_leak(pool: PgPool) {
    let plain = setup(&pool).await;
    let api = Api::with_encryption(&pool);
    let admin = key(&pool, "admin", None, None).await;
    let read = key(&pool, "read", None, None).await;
    let edge = key(&pool, "edge", None, None).await;
    let client = key(&pool, "client", None, None).await;
    let configs = "/api/v1/applications/default/environments/production/configs";

    let r = call(
        &plain,
        "POST",
        configs,
        Some(&admin),
        Some(json!({"key": "db.password", "value": "hunter2", "secret": true})),
    )
    .await;
    assert_eq!(
        (r.status, r.body["error"]["details"][0]["path"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("secret"))
    );

    let r = call(
        &api,
        "POST",
        configs,
        Some(&admin),
        Some(json!({"key": "db.pool", "value": 10, "schema": {"type": "integer", "minimum": 1}})),
    )
    .await;
    assert_eq!((r.status, r.body["value_type"].as_str()), (StatusCode::CREATED, Some("number")), "{}", r.body);
    let r = call(&api, "PATCH", &format!("{configs}/db.pool"), Some(&admin), Some(json!({"value": -1}))).await;
    assert_eq!(
        (r.status, r.body["error"]["details"][0]["path"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("value"))
    );
    let r = call(
        &api,
        "POST",
        configs,
        Some(&admin),
        Some(json!({"key": "svc", "value": {"port": "x"},
        "schema": {"type": "object", "properties": {"port": {"type": "integer"}}}})),
    )
    .await;
    assert_eq!(
        (r.status, r.body["error"]["details"][0]["path"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("value/port"))
    );
    let r = call(&api, "POST", configs, Some(&admin), Some(json!({"key": "n", "value": "x", "value_type": "number"})))
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    let r = call(&api, "POST", configs, Some(&admin), Some(json!({"key": "bad", "value": 1, "schema": {"type": 12}})))
        .await;
    assert_eq!(
        (r.status, r.body["error"]["details"][0]["path"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("schema"))
    );

    let r = call(
        &api,
        "POST",
        configs,
        Some(&admin),
        Some(json!({"key": "db.password", "value": "hunter2", "secret": true})),
    )
    .await;
    assert_eq!((r.status, r.body["value"].as_str()), (StatusCode::CREATED, Some("hunter2")), "{}", r.body);
    let r = call(&api, "GET", &format!("{configs}/db.password"), Some(&read), None).await;
    assert_eq!(r.body["value"], "hunter2");
    assert_eq!(call(&api, "GET", configs, Some(&edge), None).await.status, StatusCode::FORBIDDEN);
    let stored: (Option<Value>, Option<String>) =
        sqlx::query_as("SELECT value, ciphertext FROM configs WHERE key = 'db.password'")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert!(stored.0.is_none() && !stored.1.unwrap().contains("hunter2"));
    let audit: Vec<String> =
        sqlx::query_scalar("SELECT coalesce(after::text, '') FROM audit_log WHERE entity_type = 'config'")
            .fetch_all(&pool)
            .await
            .unwrap();
    assert!(audit.iter().all(|a| !a.contains("hunter2")), "secrets are redacted in the audit log");

    call(
        &api,
        "POST",
        configs,
        Some(&admin),
        Some(json!({"key": "ui.theme", "value": "dark", "client_visible": true})),
    )
    .await;
    let (server_text, snap) = served(&api, &edge, "/api/v1/snapshots/default/production").await;
    assert_eq!(snap.config("db.pool").map(|c| &c.value), Some(&json!(10)));
    assert!(!server_text.contains("hunter2") && !server_text.contains("db.password"), "secrets are never published");
    let (client_text, csnap) = served(&api, &client, "/api/v1/snapshots/default/production?audience=client").await;
    assert_eq!(csnap.config("ui.theme").map(|c| &c.value), Some(&json!("dark")));
    assert!(csnap.config("db.pool").is_none() && !client_text.contains("hunter2"));

    // History and rollback (as a new version).
    let r = call_with(
        &api,
        "PUT",
        &format!("{configs}/db.pool"),
        Some(&admin),
        Some(json!({"value": 20}).to_string()),
        &[("if-match", "1")],
    )
    .await;
    assert_eq!((r.status, r.body["version"].as_i64()), (StatusCode::OK, Some(2)), "{}", r.body);
    let r = call(&api, "GET", &format!("{configs}/db.pool/history"), Some(&admin), None).await;
    let values: Vec<&Value> = r.body["items"].as_array().unwrap().iter().map(|h| &h["value"]).collect();
    assert_eq!(values, [&json!(20), &json!(10)]);
    let r = call(&api, "POST", &format!("{configs}/db.pool/rollback"), Some(&admin), Some(json!({"version": 1}))).await;
    assert_eq!((r.status, r.body["value"].clone(), r.body["version"].as_i64()), (StatusCode::OK, json!(10), Some(3)));
    let r =
        call(&api, "POST", &format!("{configs}/db.password/rollback"), Some(&admin), Some(json!({"version": 1}))).await;
    assert_eq!((r.status, r.body["value"].as_str()), (StatusCode::OK, Some("hunter2")));
    assert_eq!(
        call(&api, "DELETE", &format!("{configs}/db.pool"), Some(&admin), None).await.status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        call(&api, "GET", &format!("{configs}/db.pool"), Some(&admin), None).await.status,
        StatusCode::NOT_FOUND
    );
}

/// A local health endpoint whose answer the test flips between 200 and 503.
async fn health_endpoint() -> (String, std::sync::Arc<std::sync::atomic::AtomicBool>) {
    use std::sync::atomic::Ordering;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let up = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let flag = up.clone();
    tokio::spawn(async move {
        loop {
            let Ok((mut sock, _)) = listener.accept().await else { return };
            let mut buf = [0u8; 1024];
            let _ = sock.read(&mut buf).await;
            let status = if flag.load(Ordering::SeqCst) { "200 OK" } else { "503 Service Unavailable" };
            let _ = sock
                .write_all(format!("HTTP/1.1 {status}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n").as_bytes())
                .await;
        }
    });
    (format!("http://{addr}/health"), up)
}

#[sqlx::test(migrator = "vane_control_plane::MIGRATOR")]
async fn registry_keeps_the_original_routes_and_checks_health_actively(pool: PgPool) {
    let api = setup(&pool).await;
    let admin = key(&pool, "admin", None, None).await;
    let read = key(&pool, "read", None, None).await;
    let edge = key(&pool, "edge", None, None).await;
    let (health_url, up) = health_endpoint().await;
    let body = json!({"service_name": "user-service", "service_url": "http://user-service:8080",
                      "health_check_url": health_url, "metadata": {"version": "1.0.0", "region": "us-east-1"}});
    assert_eq!(
        call(&api, "POST", "/api/v1/registry/register", Some(&read), Some(body.clone())).await.status,
        StatusCode::FORBIDDEN
    );
    let r = call(&api, "POST", "/api/v1/registry/register", Some(&admin), Some(body)).await;
    assert_eq!((r.status, r.body["status"].as_str()), (StatusCode::CREATED, Some("healthy")), "{}", r.body);
    assert_eq!(r.body["instance_id"].as_str().map(str::len), Some(26));
    let r = call(
        &api,
        "POST",
        "/api/v1/registry/register",
        Some(&admin),
        Some(json!({"service_name": "bad name", "service_url": "ftp://x"})),
    )
    .await;
    let paths: Vec<&str> =
        r.body["error"]["details"].as_array().unwrap().iter().filter_map(|d| d["path"].as_str()).collect();
    assert_eq!(paths, ["service_name", "service_url"]);

    for base in ["/api/v1/registry", "/api/v1/services"] {
        let r = call(&api, "GET", &format!("{base}/user-service"), Some(&read), None).await;
        assert_eq!((r.status, r.body["metadata"]["region"].as_str()), (StatusCode::OK, Some("us-east-1")), "{base}");
        let r = call(&api, "GET", &format!("{base}/?status=healthy"), Some(&read), None).await;
        assert_eq!(r.body["total"].as_i64(), Some(1), "{base}");
        let r = call(&api, "GET", &format!("{base}/healthy"), Some(&read), None).await;
        assert_eq!(
            (r.body["total"].as_i64(), r.body["services"][0]["service_name"].as_str()),
            (Some(1), Some("user-service"))
        );
    }
    let (_, snap) = served(&api, &edge, "/api/v1/snapshots/default/production").await;
    assert_eq!(snap.services().len(), 1);

    // The active checker follows the endpoint; status changes republish.
    up.store(false, std::sync::atomic::Ordering::SeqCst);
    let v = stream_version(&pool, "default", "production", "server").await;
    assert_eq!(vane_control_plane::domain::registry::check_once(&api.vane).await.unwrap(), 1);
    let r = call(&api, "GET", "/api/v1/registry/user-service", Some(&read), None).await;
    assert_eq!(r.body["status"], "unhealthy");
    assert!(r.body["response_time_ms"].as_f64().is_some());
    assert_eq!(stream_version(&pool, "default", "production", "server").await, v + 1);
    let (_, snap) = served(&api, &edge, "/api/v1/snapshots/default/production").await;
    assert!(snap.services().is_empty(), "unhealthy services leave the snapshot");
    up.store(true, std::sync::atomic::Ordering::SeqCst);
    vane_control_plane::domain::registry::check_once(&api.vane).await.unwrap();
    assert_eq!(call(&api, "GET", "/api/v1/registry/user-service", Some(&read), None).await.body["status"], "healthy");

    // Manual health updates (the original PUT /registry/health), then deregistration.
    let r = call(
        &api,
        "PUT",
        "/api/v1/registry/health",
        Some(&admin),
        Some(json!({"service_name": "user-service", "status": "unhealthy", "response_time": 150.5})),
    )
    .await;
    assert_eq!((r.status, r.body["response_time_ms"].as_f64()), (StatusCode::OK, Some(150.5)));
    let r = call(
        &api,
        "PUT",
        "/api/v1/registry/health",
        Some(&admin),
        Some(json!({"service_name": "user-service", "status": "sleepy"})),
    )
    .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        call(&api, "GET", "/api/v1/registry/?status=sideways", Some(&read), None).await.status,
        StatusCode::UNPROCESSABLE_ENTITY
    );
    assert_eq!(
        call(&api, "DELETE", "/api/v1/services/user-service", Some(&admin), None).await.status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        call(&api, "GET", "/api/v1/registry/user-service", Some(&read), None).await.status,
        StatusCode::NOT_FOUND
    );
}

// ---------------------------------------------------------------------------------------------
// The original config service's routes (seed 002 / 001 shapes).

#[sqlx::test(migrator = "vane_control_plane::MIGRATOR")]
async fn original_config_routes_keep_their_shapes(pool: PgPool) {
    let api = setup(&pool).await;
    let admin = key(&pool, "admin", None, None).await;
    let read = key(&pool, "read", None, None).await;
    let auth = format!("ApiKey {admin}");
    // The seed's own example, with its `ApiKey` header.
    let body = json!({"key": "database.url", "value": "postgresql://localhost:5432/mydb", "environment": "production",
                      "service_name": "user-service", "description": "Database connection URL", "is_encrypted": false});
    let r = call_with(&api, "POST", "/api/v1/config/", None, Some(body.to_string()), &[("authorization", &auth)]).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    for field in ["key", "value", "environment", "service_name", "description", "is_encrypted"] {
        assert_eq!(r.body[field], body[field], "{field}");
    }
    let id = r.body["id"].as_str().unwrap().to_owned();
    assert_eq!(r.body["version"], 1);
    // The service became an application, and the config is in its snapshot.
    let app = call(&api, "GET", "/api/v1/applications/user-service", Some(&read), None).await;
    assert_eq!(app.status, StatusCode::OK);
    assert_eq!(stream_version(&pool, "user-service", "production", "server").await, 2);
    let r = call(&api, "POST", "/api/v1/config/", Some(&admin), Some(body.clone())).await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.body);

    let r = call(
        &api,
        "GET",
        "/api/v1/config/database.url?environment=production&service_name=user-service",
        Some(&read),
        None,
    )
    .await;
    assert_eq!(
        (r.status, r.body["value"].clone(), r.body["id"].as_str()),
        (StatusCode::OK, body["value"].clone(), Some(id.as_str()))
    );
    let r = call(
        &api,
        "GET",
        "/api/v1/config/database.url?environment=staging&service_name=user-service",
        Some(&read),
        None,
    )
    .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let r = call(&api, "GET", "/api/v1/config/database.url", Some(&read), None).await;
    assert_eq!(
        (r.status, r.body["error"]["details"][0]["path"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("environment"))
    );

    let r = call(&api, "GET", "/api/v1/config/?environment=production&limit=100&offset=0", Some(&read), None).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body.as_array().map(|a| a.iter().filter(|c| c["id"] == id.as_str()).count()), Some(1));
    let r = call(&api, "GET", "/api/v1/config/?environment=staging", Some(&read), None).await;
    assert_eq!(r.body, json!([]));

    let r = call(
        &api,
        "PUT",
        &format!("/api/v1/config/{id}"),
        Some(&admin),
        Some(json!({"value": "postgresql://new-host:5432/mydb", "description": "Updated database URL"})),
    )
    .await;
    assert_eq!((r.status, r.body["version"].as_i64()), (StatusCode::OK, Some(2)), "{}", r.body);
    assert_eq!(r.body["description"], "Updated database URL");
    let r = call(&api, "GET", &format!("/api/v1/config/{id}/history"), Some(&read), None).await;
    assert_eq!(r.status, StatusCode::OK);
    let h = r.body.as_array().unwrap();
    assert_eq!(h.len(), 2);
    assert_eq!(
        (h[0]["old_value"].as_str(), h[0]["new_value"].as_str()),
        (Some("postgresql://localhost:5432/mydb"), Some("postgresql://new-host:5432/mydb"))
    );
    assert_eq!((h[1]["old_value"].clone(), h[1]["configuration_id"].as_str()), (Value::Null, Some(id.as_str())));

    // Secrets need the encryption key; reads and writes need the right scope.
    let secret = json!({"key": "db.password", "value": "hunter2", "environment": "production", "service_name": "user-service",
                        "is_encrypted": true});
    let r = call(&api, "POST", "/api/v1/config/", Some(&admin), Some(secret)).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);
    let r = call(&api, "PUT", &format!("/api/v1/config/{id}"), Some(&read), Some(json!({"value": "x"}))).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = call(&api, "GET", "/api/v1/config/?environment=production", None, None).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);

    let r = call(&api, "DELETE", &format!("/api/v1/config/{id}"), Some(&admin), None).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    let r = call(&api, "GET", &format!("/api/v1/config/{id}/history"), Some(&read), None).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
}

#[sqlx::test(migrator = "vane_control_plane::MIGRATOR")]
async fn original_feature_flag_routes_and_evaluate(pool: PgPool) {
    let api = setup(&pool).await;
    let admin = key(&pool, "admin", None, None).await;
    let edge = key(&pool, "edge", None, None).await;
    let client = key(&pool, "client", None, None).await;
    let body = json!({"name": "new_checkout_flow", "description": "Enable new checkout UI", "is_enabled": true,
                      "rollout_percentage": 50.0, "target_users": ["user123", "user456"], "environment": "production"});
    let r = call(&api, "POST", "/api/v1/feature-flags/", Some(&admin), Some(body.clone())).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    for field in ["name", "description", "is_enabled", "rollout_percentage", "target_users", "environment"] {
        assert_eq!(r.body[field], body[field], "{field}");
    }
    let id = r.body["id"].as_str().unwrap().to_owned();
    let r =
        call(&api, "GET", "/api/v1/feature-flags/new_checkout_flow?environment=production", Some(&admin), None).await;
    assert_eq!((r.status, r.body["rollout_percentage"].as_f64()), (StatusCode::OK, Some(50.0)));
    // The other environments hold the flag disabled.
    let r = call(&api, "GET", "/api/v1/feature-flags/new_checkout_flow?environment=staging", Some(&admin), None).await;
    assert_eq!((r.body["is_enabled"].as_bool(), r.body["environment"].as_str()), (Some(false), Some("staging")));
    let r =
        call(&api, "GET", "/api/v1/feature-flags/?environment=production&limit=100&offset=0", Some(&admin), None).await;
    assert_eq!(r.body.as_array().map(Vec::len), Some(1), "{}", r.body);

    let evaluate = |user: &str| json!({"flag_name": "new_checkout_flow", "environment": "production", "user_id": user});
    let r = call(&api, "POST", "/api/v1/feature-flags/evaluate", Some(&edge), Some(evaluate("user123"))).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(
        r.body,
        json!({"enabled": true, "reason": "user_targeted", "flag_name": "new_checkout_flow",
                              "environment": "production"})
    );
    let mut enabled = 0;
    for i in 0..400 {
        let r =
            call(&api, "POST", "/api/v1/feature-flags/evaluate", Some(&edge), Some(evaluate(&format!("u{i}")))).await;
        let on = r.body["enabled"].as_bool().unwrap();
        assert_eq!(r.body["reason"], if on { "in_rollout" } else { "not_in_rollout" });
        enabled += usize::from(on);
    }
    assert!((150..=250).contains(&enabled), "{enabled} of 400 in a 50% rollout");
    let r = call(&api, "POST", "/api/v1/feature-flags/evaluate", Some(&client), Some(evaluate("user123"))).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = call(
        &api,
        "POST",
        "/api/v1/feature-flags/evaluate",
        Some(&edge),
        Some(json!({"flag_name": "nope", "environment": "production", "user_id": "u"})),
    )
    .await;
    assert_eq!(
        (r.status, r.body["reason"].as_str(), r.body["enabled"].as_bool()),
        (StatusCode::OK, Some("flag_not_found"), Some(false))
    );

    // The seed's update has no environment: it addresses the one the flag was created for.
    let r = call(
        &api,
        "PUT",
        &format!("/api/v1/feature-flags/{id}"),
        Some(&admin),
        Some(json!({"is_enabled": true, "rollout_percentage": 100.0})),
    )
    .await;
    assert_eq!((r.status, r.body["environment"].as_str()), (StatusCode::OK, Some("production")), "{}", r.body);
    assert_eq!(r.body["target_users"], body["target_users"]);
    let r = call(&api, "POST", "/api/v1/feature-flags/evaluate", Some(&edge), Some(evaluate("stranger"))).await;
    assert_eq!((r.body["enabled"].as_bool(), r.body["reason"].as_str()), (Some(true), Some("enabled")));
    let r = call(&api, "PUT", &format!("/api/v1/feature-flags/{id}"), Some(&admin), Some(json!({"is_enabled": false})))
        .await;
    assert_eq!(r.status, StatusCode::OK);
    let r = call(&api, "POST", "/api/v1/feature-flags/evaluate", Some(&edge), Some(evaluate("user123"))).await;
    assert_eq!((r.body["enabled"].as_bool(), r.body["reason"].as_str()), (Some(false), Some("flag_disabled")));

    let r = call(
        &api,
        "PUT",
        &format!("/api/v1/feature-flags/{id}"),
        Some(&admin),
        Some(json!({"rollout_percentage": 101})),
    )
    .await;
    assert_eq!(
        (r.status, r.body["error"]["details"][0]["path"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("rollout_percentage"))
    );
    let r = call(&api, "POST", "/api/v1/feature-flags/", Some(&admin), Some(body)).await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    let r = call(&api, "POST", "/api/v1/feature-flags/evaluate", Some(&edge), Some(json!({"flag_name": "x"}))).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);
    let r = call(&api, "DELETE", &format!("/api/v1/feature-flags/{id}"), Some(&admin), None).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    let r =
        call(&api, "GET", "/api/v1/feature-flags/new_checkout_flow?environment=production", Some(&admin), None).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
}

#[sqlx::test(migrator = "vane_control_plane::MIGRATOR")]
async fn original_configurations_routes(pool: PgPool) {
    let api = setup(&pool).await;
    let admin = key(&pool, "admin", None, None).await;
    let app =
        call(&api, "POST", "/api/v1/applications/", Some(&admin), Some(json!({"name": "Billing", "comments": "pays"})))
            .await;
    assert_eq!(app.status, StatusCode::CREATED, "{}", app.body);
    let app_id = app.body["id"].as_str().unwrap().to_owned();
    let r = call(
        &api,
        "POST",
        "/api/v1/configurations/",
        Some(&admin),
        Some(json!({"application_id": app_id, "name": "limits", "comments": "rate limits", "config": {"rps": 10}})),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert_eq!(
        (r.body["application_id"].as_str(), r.body["config"]["rps"].as_i64()),
        (Some(app_id.as_str()), Some(10))
    );
    let id = r.body["id"].as_str().unwrap().to_owned();
    let r = call(&api, "GET", &format!("/api/v1/configurations/?application_id={app_id}"), Some(&admin), None).await;
    assert_eq!(r.body.as_array().map(Vec::len), Some(1), "{}", r.body);
    let r =
        call(&api, "PUT", &format!("/api/v1/configurations/{id}"), Some(&admin), Some(json!({"config": {"rps": 20}})))
            .await;
    assert_eq!(
        (r.status, r.body["config"]["rps"].as_i64(), r.body["version"].as_i64()),
        (StatusCode::OK, Some(20), Some(2))
    );
    let r =
        call(&api, "PUT", &format!("/api/v1/configurations/{id}"), Some(&admin), Some(json!({"name": "other"}))).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    let r = call(&api, "GET", &format!("/api/v1/configurations/{id}"), Some(&admin), None).await;
    assert_eq!((r.body["name"].as_str(), r.body["comments"].as_str()), (Some("limits"), Some("rate limits")));
    // The same config through the native route.
    let r =
        call(&api, "GET", "/api/v1/applications/billing/environments/production/configs/limits", Some(&admin), None)
            .await;
    assert_eq!(r.body["value"], json!({"rps": 20}));
    let r = call(&api, "DELETE", &format!("/api/v1/configurations/{id}"), Some(&admin), None).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    let r = call(&api, "GET", &format!("/api/v1/configurations/{id}"), Some(&admin), None).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
}

// ---------------------------------------------------------------------------------------------
// The in-memory model cache behind publishing must never publish what is not committed.

#[sqlx::test(migrator = "vane_control_plane::MIGRATOR")]
async fn published_snapshots_follow_committed_rows_only(pool: PgPool) {
    let api = setup(&pool).await;
    let admin = key(&pool, "admin", None, None).await;
    let edge = key(&pool, "edge", None, None).await;
    let flags = "/api/v1/applications/default/flags";
    for k in ["a", "b"] {
        let r = call(&api, "POST", flags, Some(&admin), Some(json!({"key": k, "type": "boolean"}))).await;
        assert_eq!(r.status, StatusCode::CREATED);
    }
    let snap_path = "/api/v1/snapshots/default/production";
    let on = |s: &vane_core::CompiledSnapshot, k: &str| {
        s.evaluate(k, &ctx(json!({"targetingKey": "u"})), 0).value().cloned()
    };

    // A transaction that enables `a` and publishes, then rolls back.
    let app_id: String =
        sqlx::query_scalar("SELECT id FROM applications WHERE key = 'default'").fetch_one(&pool).await.unwrap();
    let env_id: String =
        sqlx::query_scalar("SELECT id FROM environments WHERE key = 'production'").fetch_one(&pool).await.unwrap();
    let mut tx = pool.begin().await.unwrap();
    sqlx::query("UPDATE flag_states SET enabled = true, version = version + 1 WHERE flag_id = (SELECT id FROM flags WHERE key = 'a') AND environment_id = $1")
        .bind(&env_id).execute(&mut *tx).await.unwrap();
    publish::publish(&mut tx, &app_id, &env_id).await.unwrap();
    tx.rollback().await.unwrap();
    // The next published version (a write to `b`) still has `a` disabled.
    let r = call(
        &api,
        "PATCH",
        &format!("{flags}/b/environments/production"),
        Some(&admin),
        Some(json!({"enabled": true})),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let (_, snap) = served(&api, &edge, snap_path).await;
    assert_eq!((on(&snap, "a"), on(&snap, "b")), (Some(json!(false)), Some(json!(true))));

    // A row changed by hand in SQL (which publishes nothing) is picked up by the first publish
    // once the in-memory model is due for re-verification.
    sqlx::query("UPDATE flag_states SET enabled = true, version = version + 1 WHERE flag_id = (SELECT id FROM flags WHERE key = 'a') AND environment_id = $1")
        .bind(&env_id).execute(&pool).await.unwrap();
    tokio::time::sleep(publish::model_cache::REVERIFY_AFTER).await;
    let r = call(
        &api,
        "PATCH",
        &format!("{flags}/b/environments/production"),
        Some(&admin),
        Some(json!({"enabled": false})),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let (_, snap) = served(&api, &edge, snap_path).await;
    assert_eq!((on(&snap, "a"), on(&snap, "b")), (Some(json!(true)), Some(json!(false))));
}

#[sqlx::test(migrator = "vane_control_plane::MIGRATOR")]
async fn concurrent_writes_cannot_combine_into_a_cycle(pool: PgPool) {
    let api = setup(&pool).await;
    let admin = key(&pool, "admin", None, None).await;
    let flags = "/api/v1/applications/default/flags";
    for k in ["a", "b"] {
        let r = call(&api, "POST", flags, Some(&admin), Some(json!({"key": k, "type": "boolean"}))).await;
        assert_eq!(r.status, StatusCode::CREATED);
    }
    let (a_state, b_state) =
        (format!("{flags}/a/environments/production"), format!("{flags}/b/environments/production"));
    for _ in 0..5 {
        let ab = call(
            &api,
            "PATCH",
            &a_state,
            Some(&admin),
            Some(json!({"prerequisites": [{"flag": "b", "variants": ["on"]}]})),
        );
        let ba = call(
            &api,
            "PATCH",
            &b_state,
            Some(&admin),
            Some(json!({"prerequisites": [{"flag": "a", "variants": ["on"]}]})),
        );
        let (ab, ba) = tokio::join!(ab, ba);
        let statuses = [ab.status, ba.status];
        assert!(
            statuses.contains(&StatusCode::OK) && statuses.contains(&StatusCode::UNPROCESSABLE_ENTITY),
            "{statuses:?}"
        );
        // Reset for the next round.
        for k in ["a", "b"] {
            let r = call(
                &api,
                "PATCH",
                &format!("{flags}/{k}/environments/production"),
                Some(&admin),
                Some(json!({"prerequisites": []})),
            )
            .await;
            assert_eq!(r.status, StatusCode::OK);
        }
    }
}

#[sqlx::test(migrator = "vane_control_plane::MIGRATOR")]
async fn remembered_keys_and_tags_follow_other_instances_writes(pool: PgPool) {
    let one = setup(&pool).await;
    let two = Api::new(&pool);
    let admin = key(&pool, "admin", None, None).await;
    let r = call(&one, "POST", "/api/v1/api-keys", Some(&admin), Some(json!({"scope": "edge"}))).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let (edge, edge_id) = (r.body["key"].as_str().unwrap().to_owned(), r.body["id"].as_str().unwrap().to_owned());
    // Let both listeners connect, then warm instance two's memory with a conditional GET.
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let path = "/api/v1/snapshots/default/production";
    let first = call(&two, "GET", path, Some(&edge), None).await;
    let etag = first.headers["etag"].to_str().unwrap().to_owned();
    for _ in 0..3 {
        let r = call_with(&two, "GET", path, Some(&edge), None, &[("if-none-match", &etag)]).await;
        assert_eq!(r.status, StatusCode::NOT_MODIFIED);
    }
    // A flag written through instance one: instance two stops answering 304 for the old tag.
    let r = call(
        &one,
        "POST",
        "/api/v1/applications/default/flags",
        Some(&admin),
        Some(json!({"key": "f", "type": "boolean"})),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED);
    let mut changed = false;
    for _ in 0..50 {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        if call_with(&two, "GET", path, Some(&edge), None, &[("if-none-match", &etag)]).await.status == StatusCode::OK {
            changed = true;
            break;
        }
    }
    assert!(changed, "instance two kept answering 304 for a superseded version");
    // The key revoked through instance one is refused by instance two within a second.
    let r = call(&one, "DELETE", &format!("/api/v1/api-keys/{edge_id}"), Some(&admin), None).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    let mut refused = false;
    for _ in 0..50 {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        if call(&two, "GET", path, Some(&edge), None).await.status == StatusCode::UNAUTHORIZED {
            refused = true;
            break;
        }
    }
    assert!(refused, "a revoked key kept working on another instance");
}

#[sqlx::test(migrator = "vane_control_plane::MIGRATOR")]
async fn export_holds_every_definition_and_no_secret_in_clear(pool: PgPool) {
    setup(&pool).await;
    let api = Api::with_encryption(&pool);
    let admin = key(&pool, "admin", None, None).await;
    let r = call(
        &api,
        "POST",
        "/api/v1/applications/default/flags",
        Some(&admin),
        Some(json!({"key": "f", "type": "boolean"})),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED);
    let configs = "/api/v1/applications/default/environments/production/configs";
    for body in [
        json!({"key": "db.password", "value": "hunter2-very-secret", "secret": true}),
        json!({"key": "pool", "value": 5}),
    ] {
        let r = call(&api, "POST", configs, Some(&admin), Some(body)).await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    }
    let mut conn = pool.acquire().await.unwrap();
    let doc = vane_control_plane::export::export(&mut conn).await.unwrap();
    assert_eq!(doc["vane_export"], 1);
    let flag = doc["flags"].as_array().unwrap().iter().find(|f| f["key"] == "f").unwrap();
    assert_eq!(
        (flag["application"].as_str(), flag["environments"].as_object().map(|m| m.len())),
        (Some("default"), Some(3))
    );
    let configs = doc["configs"].as_array().unwrap();
    assert_eq!(configs.len(), 2);
    let secret = configs.iter().find(|c| c["key"] == "db.password").unwrap();
    assert_eq!((secret["value"].clone(), secret["ciphertext"].is_string()), (Value::Null, true));
    let text = doc.to_string();
    assert!(!text.contains("hunter2-very-secret"), "a secret in clear in the export");
    assert!(!text.contains(&api_key_hash(&admin)), "a key hash in the export");
    assert_eq!(doc["environments"].as_array().map(Vec::len), Some(3));
    assert!(doc["api_keys"].as_array().unwrap().iter().all(|k| k.get("hash").is_none()));
}

#[sqlx::test(migrator = "vane_control_plane::MIGRATOR")]
async fn openapi_lists_every_route_and_nothing_else(pool: PgPool) {
    let api = setup(&pool).await;
    let admin = key(&pool, "admin", None, None).await;
    assert_eq!(call(&api, "GET", "/api/v1/openapi.json", None, None).await.status, StatusCode::UNAUTHORIZED);
    let r = call(&api, "GET", "/api/v1/openapi.json", Some(&admin), None).await;
    assert_eq!((r.status, r.body["openapi"].as_str()), (StatusCode::OK, Some("3.1.0")));
    let paths = r.body["paths"].as_object().unwrap();
    for must in [
        "/api/v1/applications/{application}/flags/{flag}/environments/{environment}",
        "/api/v1/config/{key}",
        "/api/v1/feature-flags/evaluate",
        "/api/v1/snapshots/{application}/{environment}",
        "/api/v1/openapi.json",
    ] {
        assert!(paths.contains_key(must), "{must} missing");
    }
    let mut count = 0;
    for (path, ops) in paths {
        for (method, op) in ops.as_object().unwrap() {
            count += 1;
            assert!(op["summary"].as_str().is_some_and(|s| !s.is_empty()), "{method} {path}");
            // Every documented operation is routed: the router never answers "no such route" or 405.
            let uri =
                path.split('/').map(|s| if s.starts_with('{') { "zz-nope" } else { s }).collect::<Vec<_>>().join("/");
            let body = matches!(method.as_str(), "post" | "put" | "patch").then(|| json!({}));
            let r = call(&api, &method.to_uppercase(), &uri, Some(&admin), body).await;
            assert_ne!(r.status, StatusCode::METHOD_NOT_ALLOWED, "{method} {path}");
            assert_ne!(r.body["error"]["message"], "no such route", "{method} {path}");
        }
    }
    assert!(count > 60, "only {count} operations");
}

/// The flag list's text search (`q`) finds a key or a description in any case, on the server,
/// and counts what it finds.
#[sqlx::test(migrator = "vane_control_plane::MIGRATOR")]
async fn flags_are_searched_by_key_or_description_in_any_case(pool: PgPool) {
    let api = setup(&pool).await;
    let admin = key(&pool, "admin", None, None).await;
    let flags = "/api/v1/applications/default/flags";
    for (key, description) in
        [("checkout-redesign", "One page"), ("dark-mode", "Night colours"), ("pager", "Paging 50%")]
    {
        let body = json!({"key": key, "type": "boolean", "description": description});
        assert_eq!(call(&api, "POST", flags, Some(&admin), Some(body)).await.status, StatusCode::CREATED);
    }
    for (q, want) in [
        ("CHECK", vec!["checkout-redesign"]),
        ("one%20PAGE", vec!["checkout-redesign"]),
        ("pag", vec!["checkout-redesign", "pager"]),
        ("50%25", vec!["pager"]),
        ("_", vec![]),
        ("nothing", vec![]),
    ] {
        let r = call(&api, "GET", &format!("{flags}?q={q}&limit=1"), Some(&admin), None).await;
        assert_eq!(r.status, StatusCode::OK, "{q}: {}", r.body);
        assert_eq!(r.body["total"].as_u64(), Some(want.len() as u64), "{q}");
        let first = r.body["items"][0]["key"].as_str();
        assert_eq!(first, want.first().copied(), "{q}");
    }
}

/// The examples the document gives for request bodies are what the routes accept: each one,
/// sent where its operation says, in an order where each finds what it needs.
#[sqlx::test(migrator = "vane_control_plane::MIGRATOR")]
async fn openapi_request_examples_are_accepted(pool: PgPool) {
    let api = setup(&pool).await;
    let admin = key(&pool, "admin", None, None).await;
    let doc = call(&api, "GET", "/api/v1/openapi.json", Some(&admin), None).await.body;
    let steps = [
        ("POST", "/applications", 201),
        ("PATCH", "/applications/checkout", 200),
        ("POST", "/environments", 201),
        ("PATCH", "/environments/canary", 200),
        ("POST", "/applications/checkout/flags", 201),
        ("PATCH", "/applications/checkout/flags/new-checkout", 200),
        ("PATCH", "/applications/checkout/flags/new-checkout/environments/production", 200),
        ("POST", "/applications/checkout/segments", 201),
        ("POST", "/applications/checkout/environments/production/configs", 201),
        ("PATCH", "/applications/checkout/environments/production/configs/checkout.timeout_ms", 200),
        ("POST", "/api-keys", 201),
        ("POST", "/registry/register", 201),
    ];
    let mut templates: Vec<(String, Value)> = Vec::new();
    for (path, ops) in doc["paths"].as_object().unwrap() {
        for (method, op) in ops.as_object().unwrap() {
            templates.push((format!("{} {path}", method.to_uppercase()), op.clone()));
        }
    }
    for (method, path, status) in steps {
        // The operation whose template matches this path.
        let (_, op) = templates
            .iter()
            .find(|(t, _)| {
                let (m, template) = t.split_once(' ').unwrap();
                let want: Vec<&str> = format!("/api/v1{path}").leak().split('/').collect();
                let have: Vec<&str> = template.split('/').collect();
                m == method
                    && want.len() == have.len()
                    && want.iter().zip(&have).all(|(w, h)| h.starts_with('{') || w == h)
            })
            .unwrap_or_else(|| panic!("{method} {path} is not documented"));
        let reference = op["requestBody"]["content"]["application/json"]["schema"]["$ref"].as_str().unwrap();
        let name = reference.trim_start_matches("#/components/schemas/");
        let example = doc["components"]["schemas"][name]["example"].clone();
        assert!(example.is_object(), "{name} has no example");
        let r = call(&api, method, &format!("/api/v1{path}"), Some(&admin), Some(example)).await;
        assert_eq!(r.status.as_u16(), status, "{method} {path} with {name}'s example: {}", r.body);
    }
}

#[sqlx::test(migrator = "vane_control_plane::MIGRATOR")]
async fn concurrent_state_writes_commit_together_and_fail_alone(pool: PgPool) {
    let api = setup(&pool).await;
    let admin = key(&pool, "admin", None, None).await;
    let edge = key(&pool, "edge", None, None).await;
    let flags = "/api/v1/applications/default/flags";
    for i in 0..30 {
        let r = call(&api, "POST", flags, Some(&admin), Some(json!({"key": format!("f{i}"), "type": "boolean"}))).await;
        assert_eq!(r.status, StatusCode::CREATED);
    }
    let v0 = stream_version(&pool, "default", "production", "server").await;
    let paths: Vec<String> = (0..30).map(|i| format!("{flags}/f{i}/environments/production")).collect();
    let writes = paths.iter().enumerate().map(|(i, path)| {
        // One of them is invalid: it must fail alone.
        let body =
            if i == 7 { json!({"enabled": true, "default": {"variant": "nope"}}) } else { json!({"enabled": true}) };
        call(&api, "PATCH", path, Some(&admin), Some(body))
    });
    let replies = futures_util::future::join_all(writes).await;
    for (i, r) in replies.iter().enumerate() {
        let want = if i == 7 { StatusCode::UNPROCESSABLE_ENTITY } else { StatusCode::OK };
        assert_eq!(r.status, want, "f{i}: {}", r.body);
    }
    let v1 = stream_version(&pool, "default", "production", "server").await;
    assert!(v1 > v0 && v1 - v0 <= 29, "29 changes published as {} versions", v1 - v0);
    let (_, snap) = served(&api, &edge, "/api/v1/snapshots/default/production").await;
    for i in 0..30 {
        let e = snap.evaluate(&format!("f{i}"), &ctx(json!({"targetingKey": "u"})), 0);
        assert_eq!(e.value(), Some(&json!(i != 7)), "f{i}");
    }
    // Every applied change has its own state version and audit entry.
    let audited: i64 =
        sqlx::query_scalar("SELECT count(*) FROM audit_log WHERE entity_type = 'flag_state' AND action = 'update'")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(audited, 29);
}

/// Unleash's state imported into an application with its state in one environment: one
/// publish, Unleash's buckets kept, notes per item; existing keys are a 409 and change nothing.
#[sqlx::test(migrator = "vane_control_plane::MIGRATOR")]
async fn unleash_state_imports_into_an_environment(pool: PgPool) {
    let api = setup(&pool).await;
    let admin = key(&pool, "admin", None, None).await;
    let edge = key(&pool, "edge", None, None).await;
    let read = key(&pool, "read", None, None).await;
    let path = "/api/v1/applications/default/environments/production/imports/unleash";
    let state = json!({"version": 2, "segments": [{"id": 7, "constraints": [
        {"contextName": "appName", "operator": "IN", "values": ["web"]}]}],
    "features": [
        {"name": "half", "enabled": true, "strategies": [{"name": "flexibleRollout",
            "parameters": {"rollout": "50", "stickiness": "userId", "groupId": "boundary"}, "segments": [7]}]},
        {"name": "colors", "enabled": true, "strategies": [{"name": "default"}],
         "variants": [{"name": "blue", "weight": 1, "stickiness": "default"}, {"name": "red", "weight": 1, "stickiness": "default"}]},
        {"name": "custom", "enabled": true, "strategies": [{"name": "myCustomStrategy"}]}
    ]});
    let r = call(&api, "POST", path, Some(&read), Some(state.clone())).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.body);
    let v0 = stream_version(&pool, "default", "production", "server").await;
    let r = call(&api, "POST", path, Some(&admin), Some(state.clone())).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["flags"], json!(["half", "colors", "custom"]));
    assert_eq!(r.body["segments"], json!(["unleash-segment-7"]));
    assert!(r.body["notes"].as_array().is_some_and(|n| n.iter().any(|n| n["feature"] == "custom")), "{}", r.body);
    assert_eq!(stream_version(&pool, "default", "production", "server").await, v0 + 1, "one publish");

    let (_, snap) = served(&api, &edge, "/api/v1/snapshots/default/production").await;
    // boundary:28 → 50 (in at 50 %), boundary:68 → 51 (out); the segment needs appName web.
    for (user, app, on) in [("28", "web", true), ("68", "web", false), ("28", "ios", false)] {
        let e = snap.evaluate("half", &ctx(json!({"userId": user, "appName": app})), 0);
        assert_eq!(vane_core::unleash::is_enabled(&e), on, "user {user} on {app}: {e:?}");
    }
    let e = snap.evaluate("colors", &ctx(json!({"userId": "u1"})), 0);
    assert!(["blue", "red"].contains(&vane_core::unleash::variant(&e).name), "{e:?}");
    assert!(!vane_core::unleash::is_enabled(&snap.evaluate("custom", &ctx(json!({})), 0)));
    // Other environments got the flags disabled.
    let (_, staging) = served(&api, &edge, "/api/v1/snapshots/default/staging").await;
    assert_eq!(staging.evaluate("half", &ctx(json!({"userId": "28"})), 0).reason(), vane_core::Reason::Disabled);

    // Again: every key is taken → 409, nothing changes.
    let v1 = stream_version(&pool, "default", "production", "server").await;
    let r = call(&api, "POST", path, Some(&admin), Some(state)).await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.body);
    assert!(r.body.to_string().contains("flag half"), "{}", r.body);
    assert_eq!(stream_version(&pool, "default", "production", "server").await, v1);
    // Not an Unleash state, or a key the control plane refuses: 422.
    let r = call(&api, "POST", path, Some(&admin), Some(json!({"flags": []}))).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);
    let odd = json!({"version": 2, "features": [{"name": "Hellø wörld", "enabled": true, "strategies": []}]});
    let r = call(&api, "POST", path, Some(&admin), Some(odd)).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);
    let r = call(
        &api,
        "POST",
        "/api/v1/applications/default/environments/nope/imports/unleash",
        Some(&admin),
        Some(json!({})),
    )
    .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.body);
}
