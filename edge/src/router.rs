//! Which route a request is for, which stream answers it, and whether its key may use it.
//! Host-independent: the binding loads the streams this module names and then calls [`answer`].

use serde::Deserialize;
use serde_json::json;
use vane_core::{Audience, CompiledSnapshot};

use crate::auth::Access;
use crate::reply::Reply;

/// The application the original service's routes read when no `service_name` is given.
pub const LEGACY_APPLICATION: &str = "default";

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route<'a> {
    /// `OPTIONS` anything: a CORS preflight, answered without a key.
    Preflight,
    /// `GET /health`: the streams this isolate holds, without a key.
    Health,
    /// `POST /ofrep/v1/evaluate/flags/{key}`.
    OfrepSingle(&'a str),
    /// `POST /ofrep/v1/evaluate/flags`.
    OfrepBulk,
    /// `POST /api/v1/feature-flags/evaluate` (the original service's shape).
    LegacyEvaluate,
    /// `GET /api/v1/config/{key}`.
    Config(&'a str),
    /// `GET /api/v1/registry/healthy`.
    Healthy,
    /// `GET /api/v1/snapshots/{application}/{environment}`: the stored snapshot bytes.
    Snapshot { application: &'a str, environment: &'a str },
    /// `GET /api/v1/snapshots/{application}/{environment}/events`: Server-Sent Events announcing
    /// each version (hosts that can hold streams open; see [`crate::pipeline::Answer::Push`]).
    SnapshotEvents { application: &'a str, environment: &'a str },
    /// A known path with another method: 405 with `Allow`.
    MethodNotAllowed { allow: &'static str, ofrep: bool },
    /// No such path (`ofrep`: under `/ofrep/`).
    NotFound { ofrep: bool },
}

impl Route<'_> {
    /// Every answer on an OFREP path (`/ofrep/…`, known or not) is in OFREP's shape.
    pub fn is_ofrep(&self) -> bool {
        matches!(
            self,
            Route::OfrepSingle(_)
                | Route::OfrepBulk
                | Route::MethodNotAllowed { ofrep: true, .. }
                | Route::NotFound { ofrep: true }
        )
    }
}

/// Whether `path` is under OFREP's prefix.
pub fn is_ofrep_path(path: &str) -> bool {
    path == "/ofrep" || path.starts_with("/ofrep/")
}

/// The route for `method` and `path` (`//` collapsed, one trailing `/` ignored, by the caller via
/// [`normalise_path`]).
pub fn route<'a>(method: &str, path: &'a str) -> Route<'a> {
    if method == "OPTIONS" {
        return Route::Preflight;
    }
    let (allow, route) = match path {
        "/health" => ("GET", Route::Health),
        "/ofrep/v1/evaluate/flags" => ("POST", Route::OfrepBulk),
        "/api/v1/feature-flags/evaluate" => ("POST", Route::LegacyEvaluate),
        "/api/v1/registry/healthy" => ("GET", Route::Healthy),
        _ => {
            if let Some(key) = path.strip_prefix("/ofrep/v1/evaluate/flags/").filter(|k| !k.is_empty()) {
                ("POST", Route::OfrepSingle(key))
            } else if let Some(key) = path.strip_prefix("/api/v1/config/").filter(|k| !k.is_empty() && !k.contains('/'))
            {
                ("GET", Route::Config(key))
            } else if let Some((application, rest)) =
                path.strip_prefix("/api/v1/snapshots/").and_then(|rest| rest.split_once('/'))
            {
                match rest.split_once('/') {
                    None => ("GET", Route::Snapshot { application, environment: rest }),
                    Some((environment, "events")) => ("GET", Route::SnapshotEvents { application, environment }),
                    Some(_) => return Route::NotFound { ofrep: false },
                }
            } else {
                return Route::NotFound { ofrep: is_ofrep_path(path) };
            }
        }
    };
    let head_ok = method == "HEAD" && allow == "GET";
    if method == allow || head_ok { route } else { Route::MethodNotAllowed { allow, ofrep: is_ofrep_path(path) } }
}

/// `path` with runs of `/` collapsed and without a trailing `/` (a client's base URL may end in
/// one), or `None` when it needs no change.
pub fn normalise_path(path: &str) -> Option<String> {
    if !path.contains("//") && (path.len() <= 1 || !path.ends_with('/')) {
        return None;
    }
    let mut out = String::with_capacity(path.len());
    for part in path.split('/').filter(|p| !p.is_empty()) {
        out.push('/');
        out.push_str(part);
    }
    if out.is_empty() {
        out.push('/');
    }
    Some(out)
}

/// The value of `name` in a URL query string (no percent-decoding: slugs need none).
pub fn query_param<'a>(query: &'a str, name: &str) -> Option<&'a str> {
    query.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        (k == name).then_some(v)
    })
}

/// Whether `s` can name an application or environment (the control plane's rule).
pub use vane_core::is_slug;

/// The request facts that choose a stream.
#[derive(Debug, Default, Clone, Copy)]
pub struct Selectors<'a> {
    /// `X-Vane-Application`.
    pub application: Option<&'a str>,
    /// `X-Vane-Environment`.
    pub environment: Option<&'a str>,
    pub query: &'a str,
    pub body: &'a [u8],
}

/// The edge's configured defaults.
#[derive(Debug, Clone)]
pub struct Defaults {
    pub application: String,
    pub environment: String,
}

#[derive(Deserialize)]
struct LegacyTarget {
    environment: Option<String>,
    service_name: Option<String>,
}

/// The `(application, environment)` whose server snapshot authorises and (for server keys)
/// answers the request. OFREP: the `X-Vane-*` headers, else the defaults. The original
/// service's routes: `service_name`/`environment` (query, or the evaluate body), else the headers,
/// else application `default` and the default environment. `Err` is the reply to send.
pub fn target(route: &Route<'_>, sel: &Selectors<'_>, defaults: &Defaults) -> Result<(String, String), Reply> {
    let (app, env) = match route {
        Route::Snapshot { application, environment } | Route::SnapshotEvents { application, environment } => {
            ((*application).to_owned(), (*environment).to_owned())
        }
        Route::OfrepSingle(_) | Route::OfrepBulk => (
            sel.application.unwrap_or(&defaults.application).to_owned(),
            sel.environment.unwrap_or(&defaults.environment).to_owned(),
        ),
        Route::LegacyEvaluate | Route::Config(_) | Route::Healthy => {
            let (service, environment) = if matches!(route, Route::LegacyEvaluate) {
                // A body that does not parse is reported by the evaluate handler; pick the default.
                match serde_json::from_slice::<LegacyTarget>(sel.body) {
                    Ok(t) => (t.service_name, t.environment),
                    Err(_) => (None, None),
                }
            } else {
                (
                    query_param(sel.query, "service_name").map(str::to_owned),
                    query_param(sel.query, "environment").map(str::to_owned),
                )
            };
            (
                service.or(sel.application.map(str::to_owned)).unwrap_or_else(|| LEGACY_APPLICATION.to_owned()),
                environment.or(sel.environment.map(str::to_owned)).unwrap_or_else(|| defaults.environment.clone()),
            )
        }
        Route::Preflight | Route::Health | Route::MethodNotAllowed { .. } | Route::NotFound { .. } => {
            (defaults.application.clone(), defaults.environment.clone())
        }
    };
    if !is_slug(&app) || !is_slug(&env) {
        return Err(error(
            route,
            400,
            "bad_request",
            format!("'{app}/{env}' is not an application/environment name ([a-z0-9][a-z0-9._-]{{0,99}})"),
        ));
    }
    Ok((app, env))
}

/// The snapshot audience a request with `access` is answered from, or the refusal.
pub fn audience(route: &Route<'_>, access: Access, query: &str) -> Result<Audience, Reply> {
    let forbidden = |what: &str| Err(error(route, 403, "forbidden", format!("a client key cannot {what}")));
    match (route, access) {
        (Route::OfrepSingle(_) | Route::OfrepBulk, Access::Server) => Ok(Audience::Server),
        (Route::OfrepSingle(_) | Route::OfrepBulk, Access::Client) => Ok(Audience::Client),
        (Route::LegacyEvaluate | Route::Config(_) | Route::Healthy, Access::Server) => Ok(Audience::Server),
        (Route::LegacyEvaluate | Route::Config(_) | Route::Healthy, Access::Client) => {
            forbidden("read server-side flags, configs or services")
        }
        (Route::Snapshot { .. } | Route::SnapshotEvents { .. }, _) => {
            match (query_param(query, "audience").unwrap_or("server"), access) {
                ("client", _) => Ok(Audience::Client),
                ("server", Access::Server) => Ok(Audience::Server),
                ("server", Access::Client) => forbidden("read the server snapshot"),
                (other, _) => Err(error(
                    route,
                    400,
                    "bad_request",
                    format!("audience must be 'server' or 'client', not '{other}'"),
                )),
            }
        }
        _ => Ok(Audience::Server),
    }
}

/// An error in the route's shape: OFREP's `{errorCode, errorDetails}` on OFREP paths (with the
/// flag key on single-flag paths), the control plane's `{error: {code, message}}` elsewhere.
pub fn error(route: &Route<'_>, status: u16, code: &str, message: impl Into<String>) -> Reply {
    let message = message.into();
    if route.is_ofrep() {
        let ofrep_code = match (status, route) {
            (404, Route::OfrepSingle(_)) => "FLAG_NOT_FOUND",
            (400, _) => "INVALID_CONTEXT",
            _ => "GENERAL",
        };
        let mut body = serde_json::Map::new();
        if let Route::OfrepSingle(key) = route {
            body.insert("key".into(), json!(key));
        }
        body.insert("errorCode".into(), json!(ofrep_code));
        body.insert("errorDetails".into(), json!(message));
        return Reply::value(status, &serde_json::Value::Object(body));
    }
    Reply::value(status, &json!({"error": {"code": code, "message": message, "details": null}}))
}

/// 401/403 for a refused key.
pub fn refused(route: &Route<'_>, refusal: crate::auth::Refusal) -> Reply {
    match refusal {
        crate::auth::Refusal::Unauthenticated => error(
            route,
            401,
            "unauthorized",
            "send a valid API key for this application and environment (Authorization: Bearer <key>)",
        ),
        crate::auth::Refusal::Forbidden => error(route, 403, "forbidden", "this key may not read this"),
    }
}

/// 503 while an environment with `fail_closed` has no snapshot young enough.
pub fn closed(route: &Route<'_>, age_s: u64, max_s: u64) -> Reply {
    error(
        route,
        503,
        "snapshot_stale",
        format!("the snapshot is {age_s} s old and this environment is fail_closed after {max_s} s"),
    )
    .with("Retry-After", "1")
}

/// The answer to an authorised request, from `snapshot` (whose stored bytes are `body` with ETag
/// `etag`, for the snapshot route).
#[derive(Debug)]
pub struct Answering<'a> {
    pub snapshot: &'a CompiledSnapshot,
    /// [`crate::ofrep::Fragments`] of `snapshot`, if built.
    pub fragments: Option<&'a crate::ofrep::Fragments>,
    pub stored: &'a str,
    pub etag: &'a str,
}

pub fn answer(route: &Route<'_>, from: &Answering<'_>, body: &[u8], if_none_match: Option<&str>, now_ms: i64) -> Reply {
    match route {
        Route::OfrepSingle(key) => crate::ofrep::single(from.snapshot, key, body, now_ms),
        Route::OfrepBulk => crate::ofrep::bulk(from.snapshot, from.fragments, body, if_none_match, now_ms),
        Route::LegacyEvaluate => crate::legacy::evaluate(from.snapshot, body, now_ms),
        Route::Config(key) => crate::legacy::config(from.snapshot, key),
        Route::Healthy => crate::legacy::healthy(from.snapshot),
        Route::Snapshot { .. } => {
            let etag = format!("\"{}\"", crate::lifecycle::bare_etag(from.etag));
            let current = if_none_match.is_some_and(|v| {
                v.split(',').any(|t| crate::lifecycle::bare_etag(t) == crate::lifecycle::bare_etag(from.etag))
            });
            let reply = if current { Reply::empty(304) } else { Reply::json(200, from.stored.as_bytes().to_vec()) };
            reply.with("ETag", etag).with("Cache-Control", "no-cache")
        }
        Route::SnapshotEvents { .. } => push_unsupported(),
        Route::Preflight | Route::MethodNotAllowed { .. } | Route::Health | Route::NotFound { .. } => {
            without_snapshot(route).unwrap_or_else(|| error(route, 404, "not_found", "no such route"))
        }
    }
}

/// The answer to `GET …/events` from a host that cannot hold streams open (the Worker).
pub fn push_unsupported() -> Reply {
    let route = Route::SnapshotEvents { application: "", environment: "" };
    error(&route, 404, "not_found", "this edge does not push snapshot versions: poll the snapshot with If-None-Match")
}

/// The answer to routes that need no snapshot (preflight, unknown paths, wrong methods).
pub fn without_snapshot(route: &Route<'_>) -> Option<Reply> {
    match route {
        Route::Preflight => Some(Reply::empty(204)),
        Route::MethodNotAllowed { allow, .. } => {
            Some(error(route, 405, "method_not_allowed", format!("use {allow}")).with("Allow", *allow))
        }
        Route::NotFound { .. } => Some(error(route, 404, "not_found", "no such route")),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_by_method_and_path() {
        assert_eq!(route("POST", "/ofrep/v1/evaluate/flags/a"), Route::OfrepSingle("a"));
        assert_eq!(route("POST", "/ofrep/v1/evaluate/flags"), Route::OfrepBulk);
        assert_eq!(route("GET", "/ofrep/v1/evaluate/flags"), Route::MethodNotAllowed { allow: "POST", ofrep: true });
        assert_eq!(route("POST", "/health"), Route::MethodNotAllowed { allow: "GET", ofrep: false });
        assert_eq!(route("POST", "/ofrep/v1/nothing"), Route::NotFound { ofrep: true });
        assert_eq!(route("GET", "/api/v1/config/db.url"), Route::Config("db.url"));
        assert_eq!(route("GET", "/api/v1/snapshots/a/b"), Route::Snapshot { application: "a", environment: "b" });
        assert_eq!(route("GET", "/api/v1/snapshots/a/b/c"), Route::NotFound { ofrep: false });
        assert_eq!(
            route("GET", "/api/v1/snapshots/a/b/events"),
            Route::SnapshotEvents { application: "a", environment: "b" }
        );
        assert_eq!(route("GET", "/api/v1/snapshots/a/b/events/x"), Route::NotFound { ofrep: false });
        assert_eq!(route("OPTIONS", "/whatever"), Route::Preflight);
        assert_eq!(route("GET", "/nope"), Route::NotFound { ofrep: false });
        assert_eq!(normalise_path("//ofrep/v1//evaluate/flags/"), Some("/ofrep/v1/evaluate/flags".into()));
        assert_eq!(normalise_path("/health"), None);
        assert_eq!(normalise_path("/"), None);
    }

    #[test]
    fn chooses_streams_and_audiences() {
        let d = Defaults { application: "demo".into(), environment: "production".into() };
        let sel = Selectors { application: Some("shop"), ..Selectors::default() };
        assert_eq!(target(&Route::OfrepBulk, &sel, &d).ok(), Some(("shop".into(), "production".into())));
        let q = Selectors { query: "environment=staging&service_name=users", ..Selectors::default() };
        assert_eq!(target(&Route::Config("k"), &q, &d).ok(), Some(("users".into(), "staging".into())));
        let body = br#"{"flag_name":"f","environment":"dev"}"#;
        let b = Selectors { body, ..Selectors::default() };
        assert_eq!(target(&Route::LegacyEvaluate, &b, &d).ok(), Some(("default".into(), "dev".into())));
        let dotted = Selectors { application: Some("shop.eu"), ..Selectors::default() };
        assert_eq!(target(&Route::OfrepBulk, &dotted, &d).ok(), Some(("shop.eu".into(), "production".into())));
        let bad = Selectors { application: Some("../x"), ..Selectors::default() };
        assert_eq!(target(&Route::OfrepSingle("f"), &bad, &d).err().map(|r| r.status), Some(400));
        assert_eq!(audience(&Route::OfrepBulk, Access::Client, "").ok(), Some(Audience::Client));
        assert_eq!(audience(&Route::Healthy, Access::Client, "").err().map(|r| r.status), Some(403));
        let snap = Route::Snapshot { application: "a", environment: "b" };
        assert_eq!(audience(&snap, Access::Client, "audience=client").ok(), Some(Audience::Client));
        assert_eq!(audience(&snap, Access::Client, "").err().map(|r| r.status), Some(403));
        assert_eq!(audience(&snap, Access::Server, "audience=x").err().map(|r| r.status), Some(400));
    }

    #[test]
    fn errors_take_the_route_shape() {
        let r = error(&Route::OfrepSingle("f"), 401, "unauthorized", "no key");
        let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap_or_default();
        assert_eq!(v["key"], "f");
        assert_eq!(v["errorCode"], "GENERAL");
        let r = error(&Route::Healthy, 404, "not_found", "x");
        let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap_or_default();
        assert_eq!(v["error"]["code"], "not_found");
        // Wrong methods and unknown paths under /ofrep/ answer in OFREP's shape too.
        for (method, path, status) in [
            ("GET", "/ofrep/v1/evaluate/flags/f", 405),
            ("PUT", "/ofrep/v1/evaluate/flags", 405),
            ("POST", "/ofrep/x", 404),
        ] {
            let r = without_snapshot(&route(method, path)).unwrap_or_else(|| Reply::empty(0));
            let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap_or_default();
            assert_eq!((r.status, v["errorCode"].as_str()), (status, Some("GENERAL")), "{method} {path}");
            assert!(v["errorDetails"].is_string() && v.get("error").is_none(), "{v}");
        }
    }
}
