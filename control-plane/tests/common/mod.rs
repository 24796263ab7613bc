//! What the control plane's API tests share: an in-process server on the test's fresh database,
//! keys, requests, a digest of every table (to show a refused request changed nothing), and the
//! catalogue of every route with a valid request for it ([`catalogue`]), from which the
//! authorisation matrix and the bad-input test are generated.

#![allow(dead_code)] // each test file uses its own part

use std::sync::atomic::{AtomicU64, Ordering};

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use sqlx::PgPool;
use tower::ServiceExt;
use vane_control_plane::{AppState, app, publish};
use vane_core::api_key_hash;

/// Inserts a key with `scope` (optionally bound) and returns it.
pub async fn key(pool: &PgPool, scope: &str, application: Option<&str>, environment: Option<&str>) -> String {
    let key = format!("test_{scope}_{}", ulid::Ulid::new());
    sqlx::query(
        "INSERT INTO api_keys (id, hash, prefix, scope, application_id, environment_id)
         VALUES ($1, $2, 'test', $3,
                 (SELECT id FROM applications WHERE key = $4), (SELECT id FROM environments WHERE key = $5))",
    )
    .bind(ulid::Ulid::new().to_string())
    .bind(api_key_hash(&key))
    .bind(scope)
    .bind(application)
    .bind(environment)
    .execute(pool)
    .await
    .unwrap();
    key
}

pub struct Reply {
    pub status: StatusCode,
    pub headers: axum::http::HeaderMap,
    pub body: Value,
    /// The body as sent (empty for event streams, which are not read).
    pub text: String,
}

/// One simulated `vane serve` process: its router (with its own change listener).
#[derive(Clone)]
pub struct Api {
    pub router: axum::Router,
    /// The server's Vane, for domain calls beside its requests (they share its memo).
    pub vane: vane_control_plane::domain::vane::Vane,
}

/// The encryption key the tests' servers use.
pub const TEST_ENCRYPTION_KEY: &str = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=";

impl Api {
    pub fn new(pool: &PgPool) -> Self {
        Self::serving(AppState::new(pool.clone()))
    }

    fn serving(state: AppState) -> Self {
        Api { vane: state.vane.clone(), router: app(state) }
    }

    /// A server with `VANE_ENCRYPTION_KEY` set.
    pub fn with_encryption(pool: &PgPool) -> Self {
        let cipher = vane_control_plane::crypto::Cipher::from_base64(TEST_ENCRYPTION_KEY).unwrap();
        Self::serving(AppState::new(pool.clone()).with_cipher(cipher))
    }
}

pub async fn call(api: &Api, method: &str, uri: &str, key: Option<&str>, body: Option<Value>) -> Reply {
    call_with(api, method, uri, key, body.map(|b| b.to_string()), &[]).await
}

pub fn request(
    method: &str,
    uri: &str,
    key: Option<&str>,
    body: Option<Vec<u8>>,
    extra: &[(&str, &str)],
) -> Request<Body> {
    let mut req = Request::builder().method(method).uri(uri);
    if let Some(k) = key {
        req = req.header(header::AUTHORIZATION, format!("Bearer {k}"));
    }
    if body.is_some() {
        req = req.header(header::CONTENT_TYPE, "application/json");
    }
    for (k, v) in extra {
        req = req.header(*k, *v);
    }
    req.body(body.map_or_else(Body::empty, Body::from)).unwrap()
}

pub async fn call_with(
    api: &Api,
    method: &str,
    uri: &str,
    key: Option<&str>,
    body: Option<String>,
    extra: &[(&str, &str)],
) -> Reply {
    call_bytes(api, method, uri, key, body.map(String::into_bytes), extra).await
}

/// A request whose body may be any bytes (not necessarily UTF-8).
pub async fn call_bytes(
    api: &Api,
    method: &str,
    uri: &str,
    key: Option<&str>,
    body: Option<Vec<u8>>,
    extra: &[(&str, &str)],
) -> Reply {
    let res = api.router.clone().oneshot(request(method, uri, key, body, extra)).await.unwrap();
    let status = res.status();
    let headers = res.headers().clone();
    // An event stream never ends: its status and headers are the answer.
    if headers.get(header::CONTENT_TYPE).is_some_and(|v| v.as_bytes().starts_with(b"text/event-stream")) {
        return Reply { status, headers, body: Value::Null, text: String::new() };
    }
    let bytes = res.into_body().collect().await.unwrap().to_bytes();
    let text = String::from_utf8_lossy(&bytes).into_owned();
    let body = if bytes.is_empty() { Value::Null } else { serde_json::from_slice(&bytes).unwrap_or(Value::Null) };
    Reply { status, headers, body, text }
}

pub async fn setup(pool: &PgPool) -> Api {
    // Server logs (including internal errors) show up in the output of failing tests.
    let _ = tracing_subscriber::fmt().with_test_writer().try_init();
    let mut conn = pool.acquire().await.unwrap();
    publish::publish_missing(&mut conn).await.unwrap();
    Api::new(pool)
}

/// The current version of a stream (0 before any).
pub async fn stream_version(pool: &PgPool, app: &str, env: &str, audience: &str) -> i64 {
    sqlx::query_scalar(
        "SELECT t.version FROM snapshot_streams t JOIN applications a ON a.id = t.application_id
         JOIN environments e ON e.id = t.environment_id WHERE a.key = $1 AND e.key = $2 AND t.audience = $3",
    )
    .bind(app)
    .bind(env)
    .bind(audience)
    .fetch_optional(pool)
    .await
    .unwrap()
    .unwrap_or(0)
}

/// A digest of every row of every table: equal digests, nothing changed.
pub async fn digest(pool: &PgPool) -> String {
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT tablename::text FROM pg_tables WHERE schemaname = 'public' AND tablename <> '_sqlx_migrations'
         ORDER BY 1",
    )
    .fetch_all(pool)
    .await
    .unwrap();
    let mut out = String::new();
    for t in tables {
        let sql = format!("SELECT md5(coalesce(string_agg(r::text, '|' ORDER BY r::text), '')) FROM {t} r");
        let d: String = sqlx::query_scalar(sqlx::AssertSqlSafe(sql)).fetch_one(pool).await.unwrap();
        out.push_str(&format!("{t}:{d} "));
    }
    out
}

/// Whether a reply is the control plane's error shape.
pub fn is_error_shape(r: &Reply) -> bool {
    r.body["error"]["code"].is_string() && r.body["error"]["message"].is_string()
}

// ---------------------------------------------------------------------------------------------
// The route catalogue

/// A marker only production's state and configs of `shop` contain: a key bound to another
/// environment must never receive it.
pub const PRODUCTION_ONLY: &str = "PRODUCTION-ONLY";
/// A marker only `shop`'s definitions contain: a key bound to another application must never
/// receive it.
pub const SHOP_ONLY: &str = "SHOP-ONLY";

/// How the authorisation model (ARCHITECTURE.md, "Auth") classes a route — restated here
/// independently of the server's code, which the matrix holds to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    /// `/health`: no key needed.
    Public,
    /// Any valid key (the API description).
    Describe,
    /// Lists and readings of nothing in particular (filtered to the key's binding).
    ReadAny,
    /// Reading the target application's record or shared definitions.
    ReadApp,
    /// Reading the target environment's record.
    ReadEnv,
    /// Reading the target application in the target environment.
    ReadStream,
    /// Reading everything (the audit log).
    ReadAll,
    /// Changing the target application's record or definitions: every environment.
    WriteApp,
    /// Changing the target environment's settings: every application.
    WriteEnv,
    /// Changing the target application in the target environment.
    WriteStream,
    /// Keys, the registry, creating or deleting applications and environments.
    WriteAll,
    /// Evaluating flags of the target stream on the control plane.
    Evaluate,
    /// Fetching the target stream's server snapshot.
    FetchServer,
    /// Follow a server snapshot's versions (its events): what may fetch it, and read keys.
    WatchServer,
    /// The console's session routes: sign-in is authenticated by the key in its body, the others
    /// by the session cookie; an `Authorization` header grants nothing there (the matrix sends an
    /// unknown key in the sign-in body: always 401; `tests/sessions.rs` covers the rest).
    SessionOnly,
}

/// A valid request for a route: its path parameters, query and body.
#[derive(Debug, Clone)]
pub struct Req {
    pub params: Vec<(&'static str, String)>,
    pub query: Vec<(&'static str, String)>,
    pub body: Option<Value>,
}

/// One route of the API.
pub struct Case {
    pub method: &'static str,
    /// The path as the OpenAPI document lists it.
    pub path: String,
    pub class: Class,
    /// Status of a successful call.
    pub ok: u16,
    /// The application whose binding the route is about (`shop`, or `default` for the original
    /// service's feature flags).
    pub app: &'static str,
    /// A valid request, given the fixture and a number unique to the call (for new keys).
    pub build: fn(&Fixture, u64) -> Req,
}

impl Case {
    /// The URI for `req` (parameters substituted as they are: tests may put raw `%` escapes in).
    pub fn uri(&self, req: &Req) -> String {
        let mut uri = self.path.clone();
        for (name, value) in &req.params {
            uri = uri.replace(&format!("{{{name}}}"), value);
        }
        if !req.query.is_empty() {
            let q: Vec<String> = req.query.iter().map(|(k, v)| format!("{k}={v}")).collect();
            uri = format!("{uri}?{}", q.join("&"));
        }
        uri
    }
}

fn p(name: &'static str, value: impl Into<String>) -> (&'static str, String) {
    (name, value.into())
}

fn req(params: Vec<(&'static str, String)>, query: Vec<(&'static str, String)>, body: Option<Value>) -> Req {
    Req { params, query, body }
}

fn shop() -> Vec<(&'static str, String)> {
    vec![p("application", "shop")]
}

fn shop_production() -> Vec<(&'static str, String)> {
    vec![p("application", "shop"), p("environment", "production")]
}

/// Ids the catalogue's requests need, read after [`ensure_fixture`].
#[derive(Debug, Clone)]
pub struct Fixture {
    /// `shop`/`production` config `c1` (a string holding [`PRODUCTION_ONLY`]).
    pub config_id: String,
    /// `shop`/`production` JSON config `conf` (the original `/configurations` routes).
    pub conf_id: String,
    /// `shop`/`production` config `doomed-c`, for deleting.
    pub doomed_config_id: String,
    /// A read key, for revoking.
    pub victim_key_id: String,
}

static CALLS: AtomicU64 = AtomicU64::new(0);

/// A number unique to this process's calls.
pub fn unique() -> u64 {
    CALLS.fetch_add(1, Ordering::Relaxed)
}

const UNLEASH_STATE: fn(u64) -> Value = |n| json!({"version": 1, "features": [{"name": format!("imported-{n}"), "enabled": true, "strategies": [{"name": "default"}]}]});

/// Every route of the API with a valid request for it. The tests fail for a route the server
/// lists that is missing here, and for one here the server does not list.
pub fn catalogue() -> Vec<Case> {
    use Class::*;
    let case =
        |method, path: &str, class, ok, app, build| Case { method, path: path.to_owned(), class, ok, app, build };
    const FLAG: &str = "/api/v1/applications/{application}/flags/{flag}";
    const STATE: &str = "/api/v1/applications/{application}/flags/{flag}/environments/{environment}";
    const SEGMENT: &str = "/api/v1/applications/{application}/segments/{segment}";
    const CONFIGS: &str = "/api/v1/applications/{application}/environments/{environment}/configs";
    const CONFIG: &str = "/api/v1/applications/{application}/environments/{environment}/configs/{key}";
    let mut cases = vec![
        case("get", "/health", Public, 200, "shop", |_, _| req(vec![], vec![], None)),
        case("get", "/api/v1/openapi.json", Describe, 200, "shop", |_, _| req(vec![], vec![], None)),
        // console sessions
        case("post", "/api/v1/sessions", SessionOnly, 201, "shop", |_, _| {
            req(vec![], vec![], Some(json!({"key": "vane_admin_000000000000000000000000000000000000000000000000"})))
        }),
        case("get", "/api/v1/sessions/current", SessionOnly, 200, "shop", |_, _| req(vec![], vec![], None)),
        case("delete", "/api/v1/sessions/current", SessionOnly, 204, "shop", |_, _| req(vec![], vec![], None)),
        // applications
        case("get", "/api/v1/applications", ReadAny, 200, "shop", |_, _| {
            req(vec![], vec![p("limit", "10"), p("offset", "0")], None)
        }),
        case("post", "/api/v1/applications", WriteAll, 201, "shop", |_, n| {
            req(vec![], vec![], Some(json!({"key": format!("app-{n}"), "name": format!("App {n}"), "comments": "new"})))
        }),
        case("get", "/api/v1/applications/{application}", ReadApp, 200, "shop", |_, _| req(shop(), vec![], None)),
        case("put", "/api/v1/applications/{application}", WriteApp, 200, "shop", |_, _| {
            req(shop(), vec![], Some(json!({"name": "Shop", "comments": SHOP_ONLY})))
        }),
        case("patch", "/api/v1/applications/{application}", WriteApp, 200, "shop", |_, _| {
            req(shop(), vec![], Some(json!({"comments": SHOP_ONLY})))
        }),
        case("delete", "/api/v1/applications/{application}", WriteAll, 204, "shop", |_, _| {
            req(vec![p("application", "doomed")], vec![], None)
        }),
        // environments
        case("get", "/api/v1/environments", ReadAny, 200, "shop", |_, _| req(vec![], vec![p("limit", "10")], None)),
        case("post", "/api/v1/environments", WriteAll, 201, "shop", |_, n| {
            req(vec![], vec![], Some(json!({"key": format!("env-{n}"), "name": format!("Env {n}")})))
        }),
        case("get", "/api/v1/environments/{environment}", ReadEnv, 200, "shop", |_, _| {
            req(vec![p("environment", "production")], vec![], None)
        }),
        case("put", "/api/v1/environments/{environment}", WriteEnv, 200, "shop", |_, _| {
            req(vec![p("environment", "production")], vec![], Some(json!({"max_staleness_s": 0})))
        }),
        case("patch", "/api/v1/environments/{environment}", WriteEnv, 200, "shop", |_, _| {
            req(vec![p("environment", "production")], vec![], Some(json!({"stale_policy": "serve_stale"})))
        }),
        case("delete", "/api/v1/environments/{environment}", WriteAll, 204, "shop", |_, _| {
            req(vec![p("environment", "qa")], vec![], None)
        }),
        // flags
        case("get", "/api/v1/applications/{application}/flags", ReadApp, 200, "shop", |_, _| {
            req(shop(), vec![p("tag", "team"), p("archived", "false"), p("limit", "10")], None)
        }),
        case("post", "/api/v1/applications/{application}/flags", WriteApp, 201, "shop", |_, n| {
            req(shop(), vec![], Some(json!({"key": format!("flag-{n}"), "type": "boolean", "tags": ["team"]})))
        }),
        case("get", FLAG, ReadApp, 200, "shop", |_, _| {
            req(vec![p("application", "shop"), p("flag", "f1")], vec![], None)
        }),
        case("put", FLAG, WriteApp, 200, "shop", |_, _| {
            req(vec![p("application", "shop"), p("flag", "f1")], vec![], Some(json!({"description": SHOP_ONLY})))
        }),
        case("patch", FLAG, WriteApp, 200, "shop", |_, _| {
            req(vec![p("application", "shop"), p("flag", "f1")], vec![], Some(json!({"tags": ["team"]})))
        }),
        case("delete", FLAG, WriteApp, 204, "shop", |_, _| {
            req(vec![p("application", "shop"), p("flag", "doomed-flag")], vec![], None)
        }),
        case("get", STATE, ReadStream, 200, "shop", |_, _| {
            req(vec![p("application", "shop"), p("flag", "f1"), p("environment", "production")], vec![], None)
        }),
        case("put", STATE, WriteStream, 200, "shop", |_, _| {
            let params = vec![p("application", "shop"), p("flag", "f1"), p("environment", "production")];
            req(params, vec![], Some(json!({"enabled": true})))
        }),
        case("patch", STATE, WriteStream, 200, "shop", |_, _| {
            let params = vec![p("application", "shop"), p("flag", "f1"), p("environment", "production")];
            req(params, vec![], Some(json!({"enabled": false, "salt": "s"})))
        }),
        case("get", &format!("{STATE}/history"), ReadStream, 200, "shop", |_, _| {
            let params = vec![p("application", "shop"), p("flag", "f1"), p("environment", "production")];
            req(params, vec![p("limit", "5")], None)
        }),
        case("post", &format!("{STATE}/rollback"), WriteStream, 200, "shop", |_, _| {
            let params = vec![p("application", "shop"), p("flag", "f1"), p("environment", "production")];
            req(params, vec![], Some(json!({"version": 2})))
        }),
        // segments
        case("get", "/api/v1/applications/{application}/segments", ReadApp, 200, "shop", |_, _| {
            req(shop(), vec![p("limit", "10")], None)
        }),
        case("post", "/api/v1/applications/{application}/segments", WriteApp, 201, "shop", |_, n| {
            let body = json!({"key": format!("seg-{n}"), "description": "d", "included": ["u1"], "excluded": ["u2"],
                              "conditions": [{"attribute": "plan", "operator": "in", "values": ["pro"]}]});
            req(shop(), vec![], Some(body))
        }),
        case("get", SEGMENT, ReadApp, 200, "shop", |_, _| {
            req(vec![p("application", "shop"), p("segment", "s1")], vec![], None)
        }),
        case("put", SEGMENT, WriteApp, 200, "shop", |_, _| {
            req(vec![p("application", "shop"), p("segment", "s1")], vec![], Some(json!({"included": ["u1", "u3"]})))
        }),
        case("patch", SEGMENT, WriteApp, 200, "shop", |_, _| {
            req(vec![p("application", "shop"), p("segment", "s1")], vec![], Some(json!({"description": "beta"})))
        }),
        case("delete", SEGMENT, WriteApp, 204, "shop", |_, _| {
            req(vec![p("application", "shop"), p("segment", "doomed-segment")], vec![], None)
        }),
        // imports
        case(
            "post",
            "/api/v1/applications/{application}/environments/{environment}/imports/unleash",
            WriteApp,
            200,
            "shop",
            |_, n| req(shop_production(), vec![], Some(UNLEASH_STATE(n))),
        ),
        // configs
        case("get", CONFIGS, ReadStream, 200, "shop", |_, _| req(shop_production(), vec![p("limit", "10")], None)),
        case("post", CONFIGS, WriteStream, 201, "shop", |_, n| {
            let body = json!({"key": format!("cfg-{n}"), "value": {"port": 80}, "value_type": "json",
                              "schema": {"type": "object"}, "description": "d"});
            req(shop_production(), vec![], Some(body))
        }),
        case("get", CONFIG, ReadStream, 200, "shop", |_, _| {
            req(vec![p("application", "shop"), p("environment", "production"), p("key", "c1")], vec![], None)
        }),
        case("put", CONFIG, WriteStream, 200, "shop", |_, _| {
            let params = vec![p("application", "shop"), p("environment", "production"), p("key", "c1")];
            req(params, vec![], Some(json!({"value": format!("{PRODUCTION_ONLY}-config")})))
        }),
        case("patch", CONFIG, WriteStream, 200, "shop", |_, _| {
            let params = vec![p("application", "shop"), p("environment", "production"), p("key", "c1")];
            req(params, vec![], Some(json!({"description": "the marker"})))
        }),
        case("delete", CONFIG, WriteStream, 204, "shop", |_, _| {
            req(vec![p("application", "shop"), p("environment", "production"), p("key", "doomed-c")], vec![], None)
        }),
        case("get", &format!("{CONFIG}/history"), ReadStream, 200, "shop", |_, _| {
            let params = vec![p("application", "shop"), p("environment", "production"), p("key", "c1")];
            req(params, vec![p("limit", "5")], None)
        }),
        case("post", &format!("{CONFIG}/reveal"), ReadStream, 200, "shop", |_, _| {
            let params = vec![p("application", "shop"), p("environment", "production"), p("key", "c1")];
            req(params, vec![], None)
        }),
        case("post", &format!("{CONFIG}/rollback"), WriteStream, 200, "shop", |_, _| {
            let params = vec![p("application", "shop"), p("environment", "production"), p("key", "c1")];
            req(params, vec![], Some(json!({"version": 1})))
        }),
        // keys
        case("get", "/api/v1/api-keys", WriteAll, 200, "shop", |_, _| req(vec![], vec![p("limit", "10")], None)),
        case("post", "/api/v1/api-keys", WriteAll, 201, "shop", |_, n| {
            req(vec![], vec![], Some(json!({"scope": "read", "name": format!("key {n}"), "application": "shop"})))
        }),
        case("delete", "/api/v1/api-keys/{id}", WriteAll, 204, "shop", |f, _| {
            req(vec![p("id", f.victim_key_id.clone())], vec![], None)
        }),
        // audit
        case("get", "/api/v1/audit", ReadAll, 200, "shop", |_, _| {
            req(vec![], vec![p("entity_type", "flag"), p("action", "create"), p("limit", "5")], None)
        }),
        // snapshots
        case("get", "/api/v1/snapshots/{application}/{environment}", FetchServer, 200, "shop", |_, _| {
            req(shop_production(), vec![p("audience", "server")], None)
        }),
        case("get", "/api/v1/snapshots/{application}/{environment}/events", WatchServer, 200, "shop", |_, _| {
            req(shop_production(), vec![p("audience", "server")], None)
        }),
        // the original service's /config
        case("get", "/api/v1/config", ReadAny, 200, "shop", |_, _| {
            req(vec![], vec![p("service_name", "shop"), p("environment", "production")], None)
        }),
        case("post", "/api/v1/config", WriteStream, 201, "shop", |_, n| {
            let body = json!({"key": format!("legacy-{n}"), "value": "v", "environment": "production",
                              "service_name": "shop", "description": "d", "is_encrypted": false});
            req(vec![], vec![], Some(body))
        }),
        case("get", "/api/v1/config/{key}", ReadStream, 200, "shop", |_, _| {
            req(vec![p("key", "c1")], vec![p("environment", "production"), p("service_name", "shop")], None)
        }),
        case("put", "/api/v1/config/{key}", WriteStream, 200, "shop", |f, _| {
            let body = json!({"value": format!("{PRODUCTION_ONLY}-config"), "description": "d"});
            req(vec![p("key", f.config_id.clone())], vec![], Some(body))
        }),
        case("delete", "/api/v1/config/{key}", WriteStream, 204, "shop", |f, _| {
            req(vec![p("key", f.doomed_config_id.clone())], vec![], None)
        }),
        case("get", "/api/v1/config/{id}/history", ReadStream, 200, "shop", |f, _| {
            req(vec![p("id", f.config_id.clone())], vec![p("limit", "5")], None)
        }),
        // the original service's /feature-flags (in `default`)
        case("get", "/api/v1/feature-flags", ReadApp, 200, "default", |_, _| {
            req(vec![], vec![p("environment", "production")], None)
        }),
        case("post", "/api/v1/feature-flags", WriteApp, 201, "default", |_, n| {
            let body = json!({"name": format!("legacy-flag-{n}"), "description": "d", "is_enabled": true,
                              "rollout_percentage": 50.0, "target_users": ["u1"], "environment": "production"});
            req(vec![], vec![], Some(body))
        }),
        case("post", "/api/v1/feature-flags/evaluate", Evaluate, 200, "default", |_, _| {
            let body = json!({"flag_name": "legacy-flag", "environment": "production", "user_id": "u1",
                              "attributes": {"plan": "pro"}});
            req(vec![], vec![], Some(body))
        }),
        case("get", "/api/v1/feature-flags/{name}", ReadStream, 200, "default", |_, _| {
            req(vec![p("name", "legacy-flag")], vec![p("environment", "production")], None)
        }),
        case("put", "/api/v1/feature-flags/{name}", WriteStream, 200, "default", |_, _| {
            let body = json!({"is_enabled": true, "rollout_percentage": 25.0, "target_users": ["u2"],
                              "environment": "production"});
            req(vec![p("name", "legacy-flag")], vec![], Some(body))
        }),
        case("delete", "/api/v1/feature-flags/{name}", WriteApp, 204, "default", |_, _| {
            req(vec![p("name", "legacy-doomed")], vec![], None)
        }),
        // the original service's /configurations
        case("get", "/api/v1/configurations", ReadAny, 200, "shop", |_, _| {
            req(vec![], vec![p("application_id", "shop"), p("environment", "production")], None)
        }),
        case("post", "/api/v1/configurations", WriteStream, 201, "shop", |_, n| {
            let body = json!({"application_id": "shop", "name": format!("conf-{n}"), "comments": "c",
                              "config": {"a": [1, "two"]}, "environment": "production"});
            req(vec![], vec![], Some(body))
        }),
        case("get", "/api/v1/configurations/{id}", ReadStream, 200, "shop", |f, _| {
            req(vec![p("id", f.conf_id.clone())], vec![], None)
        }),
        case("put", "/api/v1/configurations/{id}", WriteStream, 200, "shop", |f, _| {
            let body = json!({"comments": "c", "config": {"b": true}});
            req(vec![p("id", f.conf_id.clone())], vec![], Some(body))
        }),
        case("delete", "/api/v1/configurations/{id}", WriteStream, 204, "shop", |f, _| {
            req(vec![p("id", f.doomed_config_id.clone())], vec![], None)
        }),
    ];
    // The registry, under both of its prefixes.
    for base in ["/api/v1/registry", "/api/v1/services"] {
        cases.extend([
            case("get", base, ReadAny, 200, "shop", |_, _| req(vec![], vec![p("status", "healthy")], None)),
            case("post", &format!("{base}/register"), WriteAll, 201, "shop", |_, _| {
                let body = json!({"service_name": "svc", "service_url": "http://127.0.0.1:9/",
                                  "health_check_url": "http://127.0.0.1:9/health", "metadata": {"team": "t"}});
                req(vec![], vec![], Some(body))
            }),
            case("get", &format!("{base}/healthy"), ReadAny, 200, "shop", |_, _| req(vec![], vec![], None)),
            case("put", &format!("{base}/health"), WriteAll, 200, "shop", |_, _| {
                let body = json!({"service_name": "svc", "status": "healthy", "response_time": 1.5});
                req(vec![], vec![], Some(body))
            }),
            case("get", &format!("{base}/{{service_name}}"), ReadAny, 200, "shop", |_, _| {
                req(vec![p("service_name", "svc")], vec![], None)
            }),
            case("delete", &format!("{base}/{{service_name}}"), WriteAll, 204, "shop", |_, _| {
                req(vec![p("service_name", "svc-doomed")], vec![], None)
            }),
        ]);
    }
    cases
}

/// The `(method, path)` pairs the server's OpenAPI document lists.
pub async fn documented(api: &Api, admin: &str) -> Vec<(String, String)> {
    let doc = call(api, "GET", "/api/v1/openapi.json", Some(admin), None).await.body;
    let mut out = Vec::new();
    for (path, ops) in doc["paths"].as_object().unwrap() {
        for method in ops.as_object().unwrap().keys() {
            out.push((method.clone(), path.clone()));
        }
    }
    out
}

/// The catalogue, checked against the server's document: every documented route has a case and
/// every case a documented route.
pub async fn checked_catalogue(api: &Api, admin: &str) -> Vec<Case> {
    let cases = catalogue();
    let listed = documented(api, admin).await;
    let missing: Vec<String> = listed
        .iter()
        .filter(|(m, p)| !cases.iter().any(|c| c.method == m && c.path == *p))
        .map(|(m, p)| format!("{m} {p}"))
        .collect();
    assert!(missing.is_empty(), "routes without a case in tests/common (add one): {missing:?}");
    let stale: Vec<String> = cases
        .iter()
        .filter(|c| !listed.iter().any(|(m, p)| c.method == m && c.path == *p))
        .map(|c| format!("{} {}", c.method, c.path))
        .collect();
    assert!(stale.is_empty(), "cases for routes the server does not list: {stale:?}");
    cases
}

/// Makes sure every entity the catalogue's requests name exists (creating what an earlier
/// request deleted), and returns their ids.
pub async fn ensure_fixture(api: &Api, pool: &PgPool, admin: &str) -> Fixture {
    let exists = |sql: &'static str, arg: &'static str| {
        let pool = pool.clone();
        async move {
            sqlx::query_scalar::<_, bool>(sqlx::AssertSqlSafe(format!("SELECT EXISTS ({sql})")))
                .bind(arg)
                .fetch_one(&pool)
                .await
                .unwrap()
        }
    };
    let post = |uri: &'static str, body: Value| {
        let api = api.clone();
        let admin = admin.to_owned();
        async move {
            let r = call(&api, "POST", uri, Some(&admin), Some(body)).await;
            assert!(r.status.is_success(), "fixture {uri}: {} {}", r.status, r.text);
            r
        }
    };
    for app in ["shop", "other", "doomed"] {
        if !exists("SELECT 1 FROM applications WHERE key = $1", app).await {
            post("/api/v1/applications", json!({"key": app, "name": app})).await;
        }
    }
    if !exists("SELECT 1 FROM environments WHERE key = $1", "qa").await {
        post("/api/v1/environments", json!({"key": "qa", "name": "QA"})).await;
    }
    let flag_exists =
        "SELECT 1 FROM flags f JOIN applications a ON a.id = f.application_id WHERE a.key = 'shop' AND f.key = $1";
    if !exists(flag_exists, "f1").await {
        post(
            "/api/v1/applications/shop/flags",
            json!({"key": "f1", "type": "boolean", "description": SHOP_ONLY, "tags": ["team"]}),
        )
        .await;
        let r = call(
            api,
            "PATCH",
            "/api/v1/applications/shop/flags/f1/environments/production",
            Some(admin),
            Some(json!({"enabled": true, "rules": [{"id": "marked", "conditions": [
                {"attribute": "email", "operator": "in", "values": [format!("{PRODUCTION_ONLY}@example.com")]}],
                "serve": {"variant": "on"}}]})),
        )
        .await;
        assert!(r.status.is_success(), "{}", r.text);
    }
    if !exists(flag_exists, "doomed-flag").await {
        post("/api/v1/applications/shop/flags", json!({"key": "doomed-flag", "type": "boolean"})).await;
    }
    let segment_exists =
        "SELECT 1 FROM segments s JOIN applications a ON a.id = s.application_id WHERE a.key = 'shop' AND s.key = $1";
    for segment in ["s1", "doomed-segment"] {
        if !exists(segment_exists, segment).await {
            post("/api/v1/applications/shop/segments", json!({"key": segment, "included": ["u1"]})).await;
        }
    }
    let config_exists = "SELECT 1 FROM configs c JOIN applications a ON a.id = c.application_id
                         JOIN environments e ON e.id = c.environment_id
                         WHERE a.key = 'shop' AND e.key = 'production' AND c.key = $1";
    const CONFIGS: &str = "/api/v1/applications/shop/environments/production/configs";
    if !exists(config_exists, "c1").await {
        post(CONFIGS, json!({"key": "c1", "value": format!("{PRODUCTION_ONLY}-config")})).await;
    }
    if !exists(config_exists, "conf").await {
        post(CONFIGS, json!({"key": "conf", "value": {"a": 1}, "value_type": "json"})).await;
    }
    if !exists(config_exists, "doomed-c").await {
        post(CONFIGS, json!({"key": "doomed-c", "value": 1})).await;
    }
    let legacy_exists =
        "SELECT 1 FROM flags f JOIN applications a ON a.id = f.application_id WHERE a.key = 'default' AND f.key = $1";
    for name in ["legacy-flag", "legacy-doomed"] {
        if !exists(legacy_exists, name).await {
            post("/api/v1/feature-flags", json!({"name": name, "is_enabled": true, "environment": "production"})).await;
        }
    }
    for service in ["svc", "svc-doomed"] {
        if !exists("SELECT 1 FROM services WHERE service_name = $1", service).await {
            post("/api/v1/registry/register", json!({"service_name": service, "service_url": "http://127.0.0.1:9/"}))
                .await;
        }
    }
    if !exists("SELECT 1 FROM api_keys WHERE name = $1", "victim").await {
        post("/api/v1/api-keys", json!({"scope": "read", "name": "victim"})).await;
    }
    let id = |sql: &'static str, arg: &'static str| {
        let pool = pool.clone();
        async move { sqlx::query_scalar::<_, String>(sql).bind(arg).fetch_one(&pool).await.unwrap() }
    };
    let config_id = "SELECT c.id FROM configs c JOIN applications a ON a.id = c.application_id
                     JOIN environments e ON e.id = c.environment_id
                     WHERE a.key = 'shop' AND e.key = 'production' AND c.key = $1";
    Fixture {
        config_id: id(config_id, "c1").await,
        conf_id: id(config_id, "conf").await,
        doomed_config_id: id(config_id, "doomed-c").await,
        victim_key_id: id("SELECT id FROM api_keys WHERE name = $1", "victim").await,
    }
}
