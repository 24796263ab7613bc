//! How snapshots are stored and republished (migration 0008), against a real PostgreSQL: frames
//! plus content-addressed fragments that serve byte for byte what was hashed, only changed
//! audiences and streams republished, and fragments no kept snapshot uses collected.

#![allow(clippy::unwrap_used, clippy::panic)] // test code fails loudly

mod common;

use common::{Api, call, key, setup, stream_version as version};
use serde_json::json;
use sqlx::PgPool;
use vane_control_plane::publish;

/// The served snapshot's body hashes to its ETag and compiles.
async fn served(api: &Api, key: &str, path: &str) -> String {
    let r = call(api, "GET", path, Some(key), None).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let etag = r.headers["etag"].to_str().unwrap().trim_matches('"').to_owned();
    assert_eq!(vane_core::content_hash(&r.text), etag, "the body is what was hashed");
    assert!(vane_core::compile_json(&r.text).is_ok());
    r.text
}

#[sqlx::test(migrator = "vane_control_plane::MIGRATOR")]
async fn only_what_changed_is_republished(pool: PgPool) {
    let api = setup(&pool).await;
    let admin = key(&pool, "admin", None, None).await;
    let edge = key(&pool, "edge", None, None).await;
    let flags = "/api/v1/applications/default/flags";
    call(&api, "POST", flags, Some(&admin), Some(json!({"key": "web", "type": "boolean", "client_visible": true})))
        .await;
    call(&api, "POST", flags, Some(&admin), Some(json!({"key": "ops", "type": "boolean"}))).await;
    let (server, client) = (
        version(&pool, "default", "production", "server").await,
        version(&pool, "default", "production", "client").await,
    );
    // A server-only flag: the client snapshot stays as it was.
    let r = call(
        &api,
        "PATCH",
        &format!("{flags}/ops/environments/production"),
        Some(&admin),
        Some(json!({"enabled": true})),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(version(&pool, "default", "production", "server").await, server + 1);
    assert_eq!(version(&pool, "default", "production", "client").await, client);
    // A client-visible one: both.
    call(&api, "PATCH", &format!("{flags}/web/environments/production"), Some(&admin), Some(json!({"enabled": true})))
        .await;
    assert_eq!(version(&pool, "default", "production", "client").await, client + 1);
    // Browsers get only the segments their flags use.
    for (key, included) in [("used", "member-1"), ("unused", "member-2")] {
        let r = call(
            &api,
            "POST",
            "/api/v1/applications/default/segments",
            Some(&admin),
            Some(json!({"key": key, "included": [included]})),
        )
        .await;
        assert_eq!(r.status, 201, "{}", r.text);
    }
    let rules = json!([{"id": "r", "conditions": [{"attribute": "targetingKey", "operator": "in_segment", "values": ["used"]}],
                        "serve": {"variant": "on"}}]);
    call(&api, "PATCH", &format!("{flags}/web/environments/production"), Some(&admin), Some(json!({"rules": rules})))
        .await;
    let body = served(&api, &edge, "/api/v1/snapshots/default/production?audience=client").await;
    assert!(body.contains("\"used\"") && !body.contains("\"unused\""), "{body}");
    let body = served(&api, &edge, "/api/v1/snapshots/default/production").await;
    assert!(body.contains("\"used\"") && body.contains("\"unused\""), "{body}");

    // A key bound to one stream republishes that stream's server snapshot, and only it.
    call(&api, "POST", "/api/v1/applications", Some(&admin), Some(json!({"key": "shop", "name": "Shop"}))).await;
    let before = [
        version(&pool, "default", "production", "server").await,
        version(&pool, "default", "staging", "server").await,
        version(&pool, "shop", "production", "server").await,
        version(&pool, "default", "production", "client").await,
    ];
    let r = call(
        &api,
        "POST",
        "/api/v1/api-keys",
        Some(&admin),
        Some(json!({"scope": "edge", "application": "default", "environment": "production"})),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let bound = r.body["key"].as_str().unwrap().to_owned();
    let after = [
        version(&pool, "default", "production", "server").await,
        version(&pool, "default", "staging", "server").await,
        version(&pool, "shop", "production", "server").await,
        version(&pool, "default", "production", "client").await,
    ];
    assert_eq!(after, [before[0] + 1, before[1], before[2], before[3]]);
    let body = served(&api, &edge, "/api/v1/snapshots/default/production").await;
    let (snapshot, _) = vane_core::compile_json(&body).unwrap();
    assert!(snapshot.accepted_key(&vane_core::api_key_hash(&bound)).is_some());
    // An unbound key: every server snapshot, no client snapshot.
    call(&api, "POST", "/api/v1/api-keys", Some(&admin), Some(json!({"scope": "read"}))).await;
    assert_eq!(version(&pool, "shop", "production", "server").await, before[2] + 1);
    assert_eq!(version(&pool, "default", "production", "client").await, before[3]);
    served(&api, &edge, "/api/v1/snapshots/shop/production").await;
    // The registry: every server snapshot lists the healthy services.
    let r = call(
        &api,
        "POST",
        "/api/v1/registry/register",
        Some(&admin),
        Some(json!({"service_name": "users", "service_url": "http://127.0.0.1:1/"})),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert!(served(&api, &edge, "/api/v1/snapshots/shop/staging").await.contains("\"users\""));
}

#[sqlx::test(migrator = "vane_control_plane::MIGRATOR")]
async fn fragments_no_kept_snapshot_uses_are_collected(pool: PgPool) {
    let api = setup(&pool).await;
    let admin = key(&pool, "admin", None, None).await;
    let edge = key(&pool, "edge", None, None).await;
    let flags = "/api/v1/applications/default/flags";
    call(&api, "POST", flags, Some(&admin), Some(json!({"key": "f", "type": "boolean"}))).await;
    // More versions than are kept: the flag's first fragments are used by no kept snapshot.
    for i in 0..(publish::KEEP_PER_STREAM + 5) {
        let r = call(
            &api,
            "PATCH",
            &format!("{flags}/f/environments/production"),
            Some(&admin),
            Some(json!({"salt": format!("s{i}")})),
        )
        .await;
        assert_eq!(r.status, 200, "{}", r.text);
    }
    let count = || async {
        sqlx::query_scalar::<_, i64>("SELECT count(*) FROM snapshot_fragments").fetch_one(&pool).await.unwrap()
    };
    let all = count().await;
    // Recent fragments are never collected (a publish may be about to use one it found).
    assert_eq!(publish::collect_garbage(&pool).await.unwrap(), 0);
    sqlx::query("UPDATE snapshot_fragments SET touched = now() - interval '1 hour'").execute(&pool).await.unwrap();
    let removed = publish::collect_garbage(&pool).await.unwrap();
    assert!(removed >= 5, "{removed} of {all}");
    assert_eq!(count().await, all - i64::try_from(removed).unwrap());
    // What is kept still serves, from memory and (as a restarted process would) from the database.
    served(&api, &edge, "/api/v1/snapshots/default/production").await;
    publish::forget_texts();
    served(&Api::new(&pool), &edge, "/api/v1/snapshots/default/production").await;
    served(&Api::new(&pool), &edge, "/api/v1/snapshots/default/staging?audience=client").await;
    let missing: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM snapshots s, generate_series(0, length(s.parts) / 16 - 1) g
         WHERE s.parts IS NOT NULL AND NOT EXISTS (
             SELECT 1 FROM snapshot_fragments f
             WHERE f.application_id = s.application_id AND f.hash = substring(s.parts FROM g * 16 + 1 FOR 16))",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(missing, 0, "every kept snapshot's fragments are there");
}
