//! The hardening issue's findings, one test each, against a real PostgreSQL: writes that would
//! make a published flag answer PARSE_ERROR, ambiguous rule ids, a bad write among concurrent
//! good ones, text PostgreSQL cannot hold anywhere in a request, and secrets made public.

#![allow(clippy::unwrap_used, clippy::panic)] // test code fails loudly

mod common;

use axum::http::StatusCode;
use common::{Api, call, call_bytes, digest, is_error_shape, key, setup};
use serde_json::json;
use sqlx::PgPool;

const FLAGS: &str = "/api/v1/applications/default/flags";

fn state(flag: &str, env: &str) -> String {
    format!("{FLAGS}/{flag}/environments/{env}")
}

#[sqlx::test(migrator = "vane_control_plane::MIGRATOR")]
async fn a_flag_another_requires_cannot_be_archived(pool: PgPool) {
    let api = setup(&pool).await;
    let admin = key(&pool, "admin", None, None).await;
    for k in ["parent", "child"] {
        assert_eq!(
            call(&api, "POST", FLAGS, Some(&admin), Some(json!({"key": k, "type": "boolean"}))).await.status,
            201
        );
    }
    let r = call(
        &api,
        "PATCH",
        &state("child", "production"),
        Some(&admin),
        Some(json!({"enabled": true, "prerequisites": [{"flag": "parent", "variants": ["on"]}]})),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let before = digest(&pool).await;
    let r = call(&api, "PATCH", &format!("{FLAGS}/parent"), Some(&admin), Some(json!({"archived": true}))).await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.text);
    assert!(r.body["error"]["message"].as_str().unwrap().contains("child"), "{}", r.text);
    assert_eq!(digest(&pool).await, before, "nothing changed");
    // Once nothing requires it, it can go; the dependant then cannot come back while it is gone.
    let r = call(&api, "PATCH", &format!("{FLAGS}/child"), Some(&admin), Some(json!({"archived": true}))).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let r = call(&api, "PATCH", &format!("{FLAGS}/parent"), Some(&admin), Some(json!({"archived": true}))).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let r = call(&api, "PATCH", &format!("{FLAGS}/child"), Some(&admin), Some(json!({"archived": false}))).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.text);
    assert!(r.text.contains("prerequisites[0]"), "{}", r.text);
    // Every published flag still compiles cleanly.
    let edge = key(&pool, "edge", None, None).await;
    let body = call(&api, "GET", "/api/v1/snapshots/default/production", Some(&edge), None).await.text;
    let (_, problems) = vane_core::compile_json(&body).unwrap();
    assert!(problems.is_empty(), "{problems:?}");
}

#[sqlx::test(migrator = "vane_control_plane::MIGRATOR")]
async fn two_rules_cannot_share_an_id(pool: PgPool) {
    let api = setup(&pool).await;
    let admin = key(&pool, "admin", None, None).await;
    call(&api, "POST", FLAGS, Some(&admin), Some(json!({"key": "f", "type": "boolean"}))).await;
    let rule = |id: &str| json!({"id": id, "conditions": [], "serve": {"variant": "on"}});
    let r = call(
        &api,
        "PATCH",
        &state("f", "production"),
        Some(&admin),
        Some(json!({"rules": [rule("a"), rule("b"), rule("a")]})),
    )
    .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.text);
    assert_eq!(r.body["error"]["details"][0]["path"], "rules[2].id");
    let r =
        call(&api, "PATCH", &state("f", "production"), Some(&admin), Some(json!({"rules": [rule("a"), rule("b")]})))
            .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
}

#[sqlx::test(migrator = "vane_control_plane::MIGRATOR")]
async fn a_nul_among_concurrent_writes_fails_alone_and_names_its_field(pool: PgPool) {
    let api = setup(&pool).await;
    let admin = key(&pool, "admin", None, None).await;
    for i in 0..21 {
        let r = call(&api, "POST", FLAGS, Some(&admin), Some(json!({"key": format!("f{i}"), "type": "boolean"}))).await;
        assert_eq!(r.status, 201);
    }
    let writes = (0..21).map(|i| {
        let (api, admin) = (api.clone(), admin.clone());
        async move {
            let value = if i == 7 { "a\u{0}b".to_owned() } else { format!("user-{i}") };
            let rules = json!([{"id": "r", "conditions": [{"attribute": "id", "operator": "in", "values": [value]}],
                                "serve": {"variant": "on"}}]);
            call(
                &api,
                "PATCH",
                &state(&format!("f{i}"), "production"),
                Some(&admin),
                Some(json!({"enabled": true, "rules": rules})),
            )
            .await
        }
    });
    let replies = futures_util::future::join_all(writes).await;
    for (i, r) in replies.iter().enumerate() {
        if i == 7 {
            assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.text);
            assert_eq!(r.body["error"]["details"][0]["path"], "rules[0].conditions[0].values[0]");
        } else {
            assert_eq!(r.status, StatusCode::OK, "f{i}: {}", r.text);
        }
    }
}

#[sqlx::test(migrator = "vane_control_plane::MIGRATOR")]
async fn text_postgres_cannot_hold_is_refused_in_every_part_of_a_request(pool: PgPool) {
    let api = setup(&pool).await;
    let admin = key(&pool, "admin", None, None).await;
    let before = digest(&pool).await;
    for (uri, what) in [
        ("/api/v1/applications/%FF%FE", "invalid UTF-8 in a path"),
        ("/api/v1/applications/sh%00op", "a NUL in a path"),
        ("/api/v1/applications?limit=%00", "a NUL in a query"),
        ("/api/v1/audit?action=%C3%28", "invalid UTF-8 in a query"),
    ] {
        let r = call(&api, "GET", uri, Some(&admin), None).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{what}: {}", r.text);
        assert!(is_error_shape(&r), "{what}: {}", r.text);
    }
    // Anywhere in a body, at any depth, named by its path; an Unleash document too.
    let r = call(
        &api,
        "POST",
        "/api/v1/applications/default/environments/production/imports/unleash",
        Some(&admin),
        Some(json!({"version": 1, "features": [{"name": "x", "enabled": true, "strategies": [
            {"name": "default", "constraints": [{"contextName": "a\u{0}", "operator": "IN", "values": ["v"]}]}]}]})),
    )
    .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.text);
    assert_eq!(r.body["error"]["details"][0]["path"], "features[0].strategies[0].constraints[0].contextName");
    let r = call(
        &api,
        "POST",
        "/api/v1/registry/register",
        Some(&admin),
        Some(json!({"service_name": "s",
        "service_url": "http://127.0.0.1:1/", "metadata": {"t\u{0}": 1}})),
    )
    .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.text);
    // Raw bytes that are not UTF-8 in a body: a 400 in the JSON shape.
    let r = call_bytes(&api, "POST", "/api/v1/applications", Some(&admin), Some(b"{\"name\":\"\xff\"}".to_vec()), &[])
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text);
    assert!(is_error_shape(&r));
    assert_eq!(digest(&pool).await, before, "nothing changed");
}

#[sqlx::test(migrator = "vane_control_plane::MIGRATOR")]
async fn a_secret_is_made_public_only_with_a_new_value(pool: PgPool) {
    setup(&pool).await;
    let api = Api::with_encryption(&pool);
    let admin = key(&pool, "admin", None, None).await;
    let c = "/api/v1/applications/default/environments/production/configs";
    let r = call(&api, "POST", c, Some(&admin), Some(json!({"key": "token", "value": "s3cret", "secret": true}))).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    let r = call(&api, "PATCH", &format!("{c}/token"), Some(&admin), Some(json!({"secret": false}))).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.text);
    assert_eq!(r.body["error"]["details"][0]["path"], "secret");
    let r = call(&api, "PATCH", &format!("{c}/token"), Some(&admin), Some(json!({"secret": false, "value": "public"})))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let edge = key(&pool, "edge", None, None).await;
    let snapshot = call(&api, "GET", "/api/v1/snapshots/default/production", Some(&edge), None).await.text;
    assert!(snapshot.contains("public") && !snapshot.contains("s3cret"), "{snapshot}");
}

#[sqlx::test(migrator = "vane_control_plane::MIGRATOR")]
async fn a_long_poll_on_a_deleted_application_answers_at_once(pool: PgPool) {
    let api = setup(&pool).await;
    let admin = key(&pool, "admin", None, None).await;
    let edge = key(&pool, "edge", None, None).await;
    call(&api, "POST", "/api/v1/applications", Some(&admin), Some(json!({"key": "gone", "name": "Gone"}))).await;
    let s = "/api/v1/snapshots/gone/production";
    let etag = call(&api, "GET", s, Some(&edge), None).await.headers["etag"].to_str().unwrap().to_owned();
    // The listener is connected (a long-poll would otherwise miss nothing but wait its full time).
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let poll = {
        let (api, edge) = (api.clone(), edge.clone());
        tokio::spawn(async move {
            let r =
                common::call_with(&api, "GET", &format!("{s}?wait=30"), Some(&edge), None, &[("if-none-match", &etag)])
                    .await;
            (r, std::time::Instant::now())
        })
    };
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let r = call(&api, "DELETE", "/api/v1/applications/gone", Some(&admin), None).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text);
    let deleted = std::time::Instant::now();
    let (r, answered) = poll.await.unwrap();
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.text);
    assert!(answered.duration_since(deleted) < std::time::Duration::from_secs(5));
}
