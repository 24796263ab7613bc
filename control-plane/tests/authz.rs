//! The authorisation matrix: every route the server lists (from its OpenAPI document) × every
//! kind of key → the status the model in ARCHITECTURE.md ("Auth") gives, against a real
//! PostgreSQL. Every refused request is read back: nothing in the database changed. Every
//! allowed request of a bound key is searched: nothing of another environment or application
//! is in it.

#![allow(clippy::unwrap_used, clippy::panic)] // test code fails loudly

mod common;

use common::{Case, Class, PRODUCTION_ONLY, SHOP_ONLY, call, checked_catalogue, digest, ensure_fixture, key, setup};
use sqlx::PgPool;

/// The keys the matrix tries: (label, scope, bound application, bound environment). `this` is
/// the route's own application (`shop`, or `default` for the original service's flags).
type Kind = (&'static str, Option<&'static str>, Option<&'static str>, Option<&'static str>);
const KINDS: &[Kind] = &[
    ("no key", None, None, None),
    ("unknown key", Some("-"), None, None),
    ("client", Some("client"), None, None),
    ("edge", Some("edge"), None, None),
    ("read", Some("read"), None, None),
    ("admin", Some("admin"), None, None),
    ("admin bound to another application", Some("admin"), Some("other"), None),
    ("admin bound to another environment", Some("admin"), None, Some("staging")),
    ("read bound to another environment", Some("read"), None, Some("staging")),
    ("admin bound to this application", Some("admin"), Some("this"), None),
    ("admin bound to this environment", Some("admin"), None, Some("production")),
];

/// What a route reaches: (application, environment), `None` = none in particular, `Some("*")`
/// = all of them.
fn reach(class: Class, app: &'static str) -> (Option<&'static str>, Option<&'static str>) {
    use Class::*;
    match class {
        Public | Describe | ReadAny | SessionOnly => (None, None),
        ReadApp => (Some(app), None),
        ReadEnv => (None, Some("production")),
        ReadStream | WriteStream | Evaluate | FetchServer | WatchServer => (Some(app), Some("production")),
        WriteApp => (Some(app), Some("*")),
        WriteEnv => (Some("*"), Some("production")),
        ReadAll | WriteAll => (Some("*"), Some("*")),
    }
}

/// The model, restated: the status a key of `scope` bound to `bound_app`/`bound_env` gets, or
/// `None` when it is allowed.
fn refusal(class: Class, app: &'static str, scope: Option<&str>, bound: (Option<&str>, Option<&str>)) -> Option<u16> {
    use Class::*;
    if class == Public {
        return None;
    }
    if class == SessionOnly {
        return Some(401);
    }
    let scope = match scope {
        None | Some("-") => return Some(401),
        Some(s) => s,
    };
    let scope_ok = match class {
        Public | Describe | SessionOnly => true,
        ReadAny | ReadApp | ReadEnv | ReadStream | ReadAll => matches!(scope, "admin" | "read"),
        WriteApp | WriteEnv | WriteStream | WriteAll => scope == "admin",
        Evaluate => matches!(scope, "admin" | "read" | "edge"),
        FetchServer => matches!(scope, "admin" | "edge"),
        WatchServer => matches!(scope, "admin" | "read" | "edge"),
    };
    if !scope_ok {
        return Some(403);
    }
    let (reach_app, reach_env) = reach(class, app);
    let fits = |bound: Option<&str>, reached: Option<&str>| match (bound, reached) {
        (None, _) | (_, None) => true,
        (Some(b), Some(r)) => b == r,
    };
    if fits(bound.0, reach_app) && fits(bound.1, reach_env) { None } else { Some(403) }
}

#[sqlx::test(migrator = "vane_control_plane::MIGRATOR")]
async fn every_route_against_every_kind_of_key(pool: PgPool) {
    let api = setup(&pool).await;
    let admin = key(&pool, "admin", None, None).await;
    let cases = checked_catalogue(&api, &admin).await;
    let mut fixture = ensure_fixture(&api, &pool, &admin).await;
    // One key per kind and application ("this" is shop or default, per route).
    let mut keys = std::collections::HashMap::new();
    for (label, scope, app, env) in KINDS {
        for this in ["shop", "default"] {
            let app = app.map(|a| if a == "this" { this } else { a });
            let k = match scope {
                None => None,
                Some("-") => Some("vane_admin_000000000000000000000000000000000000000000000000".to_owned()),
                Some(s) => Some(key(&pool, s, app, *env).await),
            };
            keys.insert((*label, this), k);
        }
    }
    let mut failures = Vec::new();
    let mut checked = 0;
    for case in &cases {
        for (label, scope, app, env) in KINDS {
            let bound_app = app.map(|a| if a == "this" { case.app } else { a });
            let expected = refusal(case.class, case.app, *scope, (bound_app, *env));
            let k = keys[&(*label, case.app)].as_deref();
            let req = (case.build)(&fixture, common::unique());
            let uri = case.uri(&req);
            let before = digest(&pool).await;
            let r = call(&api, &case.method.to_uppercase(), &uri, k, req.body.clone()).await;
            checked += 1;
            let what = format!("{} {uri} with {label}", case.method.to_uppercase());
            match expected {
                Some(status) => {
                    if r.status.as_u16() != status || !common::is_error_shape(&r) {
                        failures.push(format!("{what}: expected {status}, got {} {}", r.status, r.text));
                    }
                    if digest(&pool).await != before {
                        failures.push(format!("{what}: refused, but the database changed"));
                    }
                }
                None => {
                    if r.status.as_u16() != case.ok {
                        failures.push(format!("{what}: expected {}, got {} {}", case.ok, r.status, r.text));
                    }
                    leaks(case, &what, bound_app, *env, &r.text, &mut failures);
                    if case.method != "get" {
                        // An allowed write may have changed or removed what later requests need.
                        fixture = ensure_fixture(&api, &pool, &admin).await;
                    }
                }
            }
        }
    }
    assert!(failures.is_empty(), "{} of {checked} checks failed:\n{}", failures.len(), failures.join("\n"));
    // 72 routes × 11 kinds at the time of writing; the catalogue check keeps it complete.
    assert!(checked >= 700, "{checked}");
}

/// Nothing of another environment or application in what a bound key was allowed to read.
fn leaks(case: &Case, what: &str, app: Option<&str>, env: Option<&str>, text: &str, failures: &mut Vec<String>) {
    if env.is_some_and(|e| e != "production") && text.contains(PRODUCTION_ONLY) {
        failures.push(format!("{what}: production's data reached a key bound to another environment"));
    }
    if app.is_some_and(|a| a != "shop")
        && case.app == "shop"
        && (text.contains(SHOP_ONLY) || text.contains(PRODUCTION_ONLY))
    {
        failures.push(format!("{what}: shop's data reached a key bound to another application"));
    }
}

#[test]
fn the_restated_model_agrees_with_the_issue() {
    use Class::*;
    // The cases the hardening issue reported, as the model decides them.
    let staging = (None, Some("staging"));
    assert_eq!(
        refusal(WriteEnv, "shop", Some("admin"), (Some("shop"), None)),
        Some(403),
        "app-bound key, env settings"
    );
    assert_eq!(refusal(WriteApp, "shop", Some("admin"), staging), Some(403), "staging key edits a definition");
    assert_eq!(refusal(WriteStream, "shop", Some("admin"), staging), Some(403));
    assert_eq!(refusal(WriteStream, "shop", Some("admin"), (None, Some("production"))), None);
    assert_eq!(refusal(ReadApp, "shop", Some("read"), staging), None, "definitions are shared; states are filtered");
    assert_eq!(refusal(ReadStream, "shop", Some("read"), staging), Some(403));
}
