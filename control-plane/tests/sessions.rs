//! Console sessions against a real PostgreSQL: sign-in with admin and read keys only, the
//! cookie's attributes, CSRF on every write made with the cookie, sign-out, revocation and
//! expiry ending a session at once, and audit entries naming the key.

#![allow(clippy::unwrap_used, clippy::panic)] // test code fails loudly

mod common;

use axum::http::StatusCode;
use axum::http::header::SET_COOKIE;
use common::*;
use serde_json::{Value, json};
use sqlx::PgPool;

/// Signs in with `key`: the reply, and the `Cookie` header value its `Set-Cookie` asks for.
async fn sign_in(api: &Api, key: &str, extra: &[(&str, &str)]) -> (Reply, String) {
    let r = call_with(api, "POST", "/api/v1/sessions", None, Some(json!({"key": key}).to_string()), extra).await;
    let set = r.headers.get(SET_COOKIE).and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
    let pair = set.split(';').next().unwrap_or_default().trim().to_owned();
    (r, pair)
}

/// A request made with the session cookie (and these headers), as a browser would.
async fn with_cookie(
    api: &Api,
    method: &str,
    uri: &str,
    cookie: &str,
    body: Option<Value>,
    extra: &[(&str, &str)],
) -> Reply {
    let mut headers = vec![("cookie", cookie)];
    headers.extend_from_slice(extra);
    call_with(api, method, uri, None, body.map(|b| b.to_string()), &headers).await
}

/// A named admin key minted through the API (its name shows in audit entries).
async fn named_key(api: &Api, admin: &str, scope: &str, name: &str) -> (String, String) {
    let r = call(api, "POST", "/api/v1/api-keys", Some(admin), Some(json!({"scope": scope, "name": name}))).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    (r.body["key"].as_str().unwrap().to_owned(), r.body["id"].as_str().unwrap().to_owned())
}

#[sqlx::test(migrator = "vane_control_plane::MIGRATOR")]
async fn sign_in_sets_a_strict_http_only_cookie_and_stores_only_a_hash(pool: PgPool) {
    let api = setup(&pool).await;
    let admin = key(&pool, "admin", None, None).await;
    let (console, id) = named_key(&api, &admin, "admin", "ana's console").await;
    let (r, cookie) = sign_in(&api, &console, &[]).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert_eq!((r.body["scope"].as_str(), r.body["key_id"].as_str()), (Some("admin"), Some(id.as_str())));
    assert_eq!(r.body["key_name"], "ana's console");
    assert!(r.body["csrf_token"].as_str().is_some_and(|t| t.len() == 32));
    assert!(!r.text.contains(&console), "the key is never sent back");
    let set = r.headers.get(SET_COOKIE).unwrap().to_str().unwrap();
    for attribute in ["HttpOnly", "SameSite=Strict", "Path=/", "Max-Age=43200"] {
        assert!(set.contains(attribute), "{attribute} missing from {set}");
    }
    assert!(!set.contains("Secure"), "plain http: not Secure ({set})");
    let token = cookie.strip_prefix("vane_session=").unwrap();
    assert_eq!(token.len(), 64);
    let stored: Vec<String> = sqlx::query_scalar("SELECT token_hash FROM sessions").fetch_all(&pool).await.unwrap();
    assert_eq!(stored, [vane_core::api_key_hash(token)], "only the token's hash is stored");

    // Behind a proxy that terminates TLS the cookie is Secure.
    let (_, _) = sign_in(&api, &console, &[]).await;
    let r = call_with(
        &api,
        "POST",
        "/api/v1/sessions",
        None,
        Some(json!({"key": console}).to_string()),
        &[("x-forwarded-proto", "https")],
    )
    .await;
    assert!(r.headers.get(SET_COOKIE).unwrap().to_str().unwrap().contains("Secure"));
}

#[sqlx::test(migrator = "vane_control_plane::MIGRATOR")]
async fn only_admin_and_read_keys_sign_in(pool: PgPool) {
    let api = setup(&pool).await;
    for scope in ["edge", "client"] {
        let k = key(&pool, scope, None, None).await;
        let (r, cookie) = sign_in(&api, &k, &[]).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{scope}");
        let message = r.body["error"]["message"].as_str().unwrap();
        assert!(message.contains("admin or read key") && message.contains(scope), "{message}");
        assert!(cookie.is_empty(), "no cookie for a {scope} key");
    }
    let (r, _) = sign_in(&api, "vane_admin_not-a-key", &[]).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert!(!r.text.contains("not-a-key"), "the key is not echoed: {}", r.text);
    let read = key(&pool, "read", None, None).await;
    let (r, _) = sign_in(&api, &read, &[]).await;
    assert_eq!((r.status, r.body["scope"].as_str()), (StatusCode::CREATED, Some("read")));
    let sessions: i64 = sqlx::query_scalar("SELECT count(*) FROM sessions").fetch_one(&pool).await.unwrap();
    assert_eq!(sessions, 1);
}

#[sqlx::test(migrator = "vane_control_plane::MIGRATOR")]
async fn writes_with_the_cookie_need_the_csrf_proof(pool: PgPool) {
    let api = setup(&pool).await;
    let admin = key(&pool, "admin", None, None).await;
    let (console, id) = named_key(&api, &admin, "admin", "ana's console").await;
    let (r, cookie) = sign_in(&api, &console, &[]).await;
    let csrf = r.body["csrf_token"].as_str().unwrap().to_owned();

    // Reads need only the cookie.
    let r = with_cookie(&api, "GET", "/api/v1/applications", &cookie, None, &[]).await;
    assert_eq!(r.status, StatusCode::OK);
    let r = with_cookie(&api, "GET", "/api/v1/sessions/current", &cookie, None, &[]).await;
    assert_eq!((r.status, r.body["csrf_token"].as_str()), (StatusCode::OK, Some(csrf.as_str())));

    // A write without the proof, or with another, changes nothing.
    let before = digest(&pool).await;
    let new = json!({"key": "shop", "name": "Shop"});
    for proof in [None, Some("0".repeat(32)), Some(String::new())] {
        let extra: Vec<(&str, &str)> = proof.iter().map(|p| ("x-csrf-token", p.as_str())).collect();
        let r = with_cookie(&api, "POST", "/api/v1/applications", &cookie, Some(new.clone()), &extra).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{proof:?}: {}", r.body);
        assert!(r.body["error"]["message"].as_str().unwrap().contains("X-CSRF-Token"), "{}", r.body);
    }
    assert_eq!(digest(&pool).await, before, "refused writes changed nothing");

    // With it, the write is made as the key, and the audit log names the key.
    let r = with_cookie(&api, "POST", "/api/v1/applications", &cookie, Some(new), &[("x-csrf-token", &csrf)]).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let log = call(&api, "GET", "/api/v1/audit?entity_type=application&entity=shop", Some(&admin), None).await;
    let entry = &log.body["items"][0];
    assert_eq!((entry["actor"].as_str(), entry["actor_name"].as_str()), (Some(id.as_str()), Some("ana's console")));

    // A read key's session reads, and its writes are refused by scope, proof or not.
    let read = named_key(&api, &admin, "read", "auditor").await.0;
    let (r, read_cookie) = sign_in(&api, &read, &[]).await;
    let read_csrf = r.body["csrf_token"].as_str().unwrap().to_owned();
    let r = with_cookie(&api, "GET", "/api/v1/applications/shop", &read_cookie, None, &[]).await;
    assert_eq!(r.status, StatusCode::OK);
    let change = json!({"name": "Shop 2"});
    let r = with_cookie(
        &api,
        "PATCH",
        "/api/v1/applications/shop",
        &read_cookie,
        Some(change),
        &[("x-csrf-token", &read_csrf)],
    )
    .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
}

#[sqlx::test(migrator = "vane_control_plane::MIGRATOR")]
async fn sign_out_revocation_and_expiry_end_a_session_at_once(pool: PgPool) {
    let api = setup(&pool).await;
    let admin = key(&pool, "admin", None, None).await;
    let (console, id) = named_key(&api, &admin, "admin", "laptop").await;
    let current = |cookie: String| {
        let api = &api;
        async move { with_cookie(api, "GET", "/api/v1/sessions/current", &cookie, None, &[]).await.status }
    };

    // Sign-out clears the cookie, and the old cookie no longer works.
    let (_, cookie) = sign_in(&api, &console, &[]).await;
    assert_eq!(current(cookie.clone()).await, StatusCode::OK);
    let r = with_cookie(&api, "DELETE", "/api/v1/sessions/current", &cookie, None, &[]).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    let cleared = r.headers.get(SET_COOKIE).unwrap().to_str().unwrap();
    assert!(cleared.starts_with("vane_session=;") && cleared.contains("Max-Age=0"), "{cleared}");
    assert_eq!(current(cookie.clone()).await, StatusCode::UNAUTHORIZED);
    let r = with_cookie(&api, "GET", "/api/v1/applications", &cookie, None, &[]).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);

    // Expired: refused, whatever the cookie's own Max-Age says.
    let (_, cookie) = sign_in(&api, &console, &[]).await;
    sqlx::query("UPDATE sessions SET expires_at = now() - interval '1 second'").execute(&pool).await.unwrap();
    assert_eq!(current(cookie).await, StatusCode::UNAUTHORIZED);

    // Revoking the key ends its sessions at once.
    let (_, cookie) = sign_in(&api, &console, &[]).await;
    assert_eq!(current(cookie.clone()).await, StatusCode::OK);
    let r = call(&api, "DELETE", &format!("/api/v1/api-keys/{id}"), Some(&admin), None).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    assert_eq!(current(cookie.clone()).await, StatusCode::UNAUTHORIZED);
    let left: i64 =
        sqlx::query_scalar("SELECT count(*) FROM sessions WHERE key_id = $1").bind(&id).fetch_one(&pool).await.unwrap();
    assert_eq!(left, 0);

    // Sign-ins and sign-outs are audited under the key, never with the token.
    let log = call(&api, "GET", "/api/v1/audit?entity_type=session", Some(&admin), None).await;
    let actions: Vec<&str> =
        log.body["items"].as_array().unwrap().iter().filter_map(|e| e["action"].as_str()).collect();
    assert_eq!(actions.iter().filter(|a| **a == "sign_in").count(), 3);
    assert_eq!(actions.iter().filter(|a| **a == "sign_out").count(), 1);
    assert!(!log.text.contains(cookie.trim_start_matches("vane_session=")));
}

#[sqlx::test(migrator = "vane_control_plane::MIGRATOR")]
async fn a_console_session_sees_secrets_masked_until_an_audited_reveal(pool: PgPool) {
    let api = Api::with_encryption(&pool);
    let mut conn = pool.acquire().await.unwrap();
    vane_control_plane::publish::publish_missing(&mut conn).await.unwrap();
    let admin = key(&pool, "admin", None, None).await;
    let configs = "/api/v1/applications/default/environments/production/configs";
    let r = call(
        &api,
        "POST",
        configs,
        Some(&admin),
        Some(json!({"key": "db.password", "value": "hunter2", "secret": true})),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let r = call(&api, "POST", configs, Some(&admin), Some(json!({"key": "db.pool", "value": 10}))).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let (console, id) = named_key(&api, &admin, "read", "auditor's console").await;
    let (_, cookie) = sign_in(&api, &console, &[]).await;
    let secret = format!("{configs}/db.password");

    // Masked wherever a session reads it: the list, the config, its history, the original routes.
    let r = with_cookie(&api, "GET", configs, &cookie, None, &[]).await;
    let shown: Vec<(Value, Value)> =
        r.body["items"].as_array().unwrap().iter().map(|c| (c["value"].clone(), c["masked"].clone())).collect();
    assert_eq!(shown, [(Value::Null, json!(true)), (json!(10), json!(false))], "{}", r.body);
    for uri in [
        secret.clone(),
        format!("{secret}/history"),
        "/api/v1/config/db.password?environment=production&service_name=default".to_owned(),
    ] {
        let r = with_cookie(&api, "GET", &uri, &cookie, None, &[]).await;
        assert_eq!(r.status, StatusCode::OK, "{uri}: {}", r.body);
        assert!(!r.text.contains("hunter2"), "{uri} shows the secret to a session: {}", r.text);
    }
    // The key itself, sent with a request, reads it as before (automation).
    assert_eq!(call(&api, "GET", &secret, Some(&console), None).await.body["value"], "hunter2");

    // A reveal shows it, and the audit log says who looked (never what they saw).
    let session = with_cookie(&api, "GET", "/api/v1/sessions/current", &cookie, None, &[]).await;
    let csrf = session.body["csrf_token"].as_str().unwrap().to_owned();
    let r = with_cookie(&api, "POST", &format!("{secret}/reveal"), &cookie, None, &[("x-csrf-token", &csrf)]).await;
    assert_eq!((r.status, r.body["value"].as_str()), (StatusCode::OK, Some("hunter2")), "{}", r.body);
    // A session's write answers masked too, and an update that leaves the value alone keeps it.
    let (_, admin_cookie) = sign_in(&api, &admin, &[]).await;
    let admin_session = with_cookie(&api, "GET", "/api/v1/sessions/current", &admin_cookie, None, &[]).await;
    let admin_csrf = admin_session.body["csrf_token"].as_str().unwrap().to_owned();
    let r = with_cookie(
        &api,
        "PATCH",
        &secret,
        &admin_cookie,
        Some(json!({"description": "rotated monthly"})),
        &[("x-csrf-token", &admin_csrf)],
    )
    .await;
    assert_eq!((r.status, r.body["masked"].as_bool()), (StatusCode::OK, Some(true)), "{}", r.body);
    assert!(!r.text.contains("hunter2"), "{}", r.text);
    assert_eq!(call(&api, "GET", &secret, Some(&admin), None).await.body["value"], "hunter2");

    let audit = call(&api, "GET", "/api/v1/audit?entity_type=config&action=reveal", Some(&admin), None).await;
    let entries = audit.body["items"].as_array().unwrap();
    assert_eq!(entries.len(), 1, "{}", audit.body);
    assert_eq!(
        (entries[0]["entity_key"].as_str(), entries[0]["actor"].as_str(), entries[0]["actor_name"].as_str()),
        (Some("db.password"), Some(id.as_str()), Some("auditor's console"))
    );
    assert!(!audit.text.contains("hunter2"), "the audit entry holds no value");
}
