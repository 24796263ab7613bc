//! Bad input on every route the server lists (from its OpenAPI document, so a new route is
//! covered as soon as the catalogue in `tests/common` gives a valid request for it — the test
//! fails until it does): NUL and invalid UTF-8 in every path and query parameter and in every
//! string of a valid body, a 1 MB string in each, each value of the wrong type, an unknown
//! field, 10,000-deep nesting, raw invalid UTF-8. Never a 5xx; every refusal is the JSON error
//! shape and leaves the database as it was; what must be refused is.

#![allow(clippy::unwrap_used, clippy::panic)] // test code fails loudly

mod common;

use common::{Api, call_bytes, checked_catalogue, digest, ensure_fixture, is_error_shape, key, setup};
use serde_json::{Value, json};
use sqlx::PgPool;

/// One bad request: what it is, where it goes, and whether it must be refused.
struct Mutation {
    what: String,
    uri: String,
    body: Option<Vec<u8>>,
    must_refuse: bool,
}

/// JSON pointers of every leaf of `value` (strings, numbers, booleans, nulls, empty containers).
fn leaves(value: &Value, at: String, out: &mut Vec<String>) {
    match value {
        Value::Object(m) if !m.is_empty() => {
            for (k, v) in m {
                leaves(v, format!("{at}/{}", k.replace('~', "~0").replace('/', "~1")), out);
            }
        }
        Value::Array(a) if !a.is_empty() => {
            for (i, v) in a.iter().enumerate() {
                leaves(v, format!("{at}/{i}"), out);
            }
        }
        _ => out.push(at),
    }
}

fn replaced(body: &Value, pointer: &str, with: Value) -> Vec<u8> {
    let mut b = body.clone();
    if let Some(slot) = b.pointer_mut(pointer) {
        *slot = with;
    }
    b.to_string().into_bytes()
}

/// A value of another JSON type than `v`.
fn wrong_type(v: &Value) -> Value {
    match v {
        Value::String(_) => json!(12345),
        Value::Number(_) => json!("not a number"),
        Value::Bool(_) => json!("yes"),
        Value::Null => json!({"unexpected": [1]}),
        Value::Array(_) => json!({"not": "a list"}),
        Value::Object(_) => json!(["not", "an", "object"]),
    }
}

fn mutations(case: &common::Case, req: &common::Req) -> Vec<Mutation> {
    let mut out = Vec::new();
    let body = req.body.as_ref().map(|b| b.to_string().into_bytes());
    let mut push = |what: String, r: &common::Req, body: Option<Vec<u8>>, must_refuse: bool| {
        out.push(Mutation { what, uri: case.uri(r), body, must_refuse });
    };
    for (i, (name, _)) in req.params.iter().enumerate() {
        for bad in ["%00", "a%00b", "%FF%FE", "%C3"] {
            let mut r = req.clone();
            if let Some(p) = r.params.get_mut(i) {
                p.1 = bad.to_owned();
            }
            push(format!("path parameter {name} = {bad}"), &r, body.clone(), true);
        }
    }
    for (i, (name, _)) in req.query.iter().enumerate() {
        for bad in ["%00", "%FF%FE"] {
            let mut r = req.clone();
            if let Some(q) = r.query.get_mut(i) {
                q.1 = bad.to_owned();
            }
            push(format!("query parameter {name} = {bad}"), &r, body.clone(), true);
        }
        let mut r = req.clone();
        if let Some(q) = r.query.get_mut(i) {
            q.1 = "-1x".to_owned();
        }
        push(format!("query parameter {name} of the wrong type"), &r, body.clone(), false);
    }
    let Some(valid) = &req.body else { return out };
    let mut at = Vec::new();
    leaves(valid, String::new(), &mut at);
    for pointer in &at {
        let leaf = valid.pointer(pointer).cloned().unwrap_or(Value::Null);
        if let Value::String(s) = &leaf {
            push(
                format!("{pointer} with a NUL"),
                req,
                Some(replaced(valid, pointer, json!(format!("{s}\u{0}")))),
                true,
            );
            push(format!("{pointer} of 1 MB"), req, Some(replaced(valid, pointer, json!("x".repeat(1 << 20)))), true);
            // Raw bytes that are not UTF-8, inside the string.
            let text = replaced(valid, pointer, json!(format!("{s}\u{1}")));
            let at = text.windows(6).position(|w| w == b"\\u0001").unwrap_or(0);
            let mut bytes = text;
            bytes.splice(at..at + 6, [0xFF, 0xFE]);
            push(format!("{pointer} with invalid UTF-8"), req, Some(bytes), true);
        }
        push(format!("{pointer} of the wrong type"), req, Some(replaced(valid, pointer, wrong_type(&leaf))), false);
    }
    if let Value::Object(m) = valid {
        // A NUL in a field name.
        let mut named = m.clone();
        named.insert("zz\u{0}".into(), json!(1));
        push("a field name with a NUL".into(), req, Some(Value::Object(named).to_string().into_bytes()), true);
        let mut extra = m.clone();
        extra.insert("unknown_field".into(), json!("?"));
        // The original service's routes ignore unknown fields, as the original did.
        push("an unknown field".into(), req, Some(Value::Object(extra).to_string().into_bytes()), false);
    }
    let deep = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
    push("10,000-deep nesting".into(), req, Some(deep.clone().into_bytes()), true);
    if let Value::Object(m) = valid
        && let Some(first) = m.keys().next()
    {
        let nested = valid.to_string().replacen(
            &format!("\"{first}\":"),
            &format!("\"{first}\":{}{}", "[".repeat(10_000), "]".repeat(10_000)),
            1,
        );
        // Wrong JSON either way (the value is replaced by nested arrays then the old value):
        // refused before anything parses it.
        push(format!("{first} nested 10,000 deep"), req, Some(nested.into_bytes()), true);
    }
    push("a body of the wrong type".into(), req, Some(b"[1, 2]".to_vec()), false);
    out
}

async fn run(api: &Api, pool: &PgPool, admin: &str) -> (usize, Vec<String>) {
    let cases = checked_catalogue(api, admin).await;
    let mut fixture = ensure_fixture(api, pool, admin).await;
    let (mut sent, mut failures) = (0, Vec::new());
    for case in &cases {
        let req = (case.build)(&fixture, common::unique());
        for m in mutations(case, &req) {
            let before = digest(pool).await;
            let method = case.method.to_uppercase();
            let r = call_bytes(api, &method, &m.uri, Some(admin), m.body.clone(), &[]).await;
            sent += 1;
            let what = format!("{method} {} ({})", case.path, m.what);
            let status = r.status.as_u16();
            if status >= 500 {
                failures.push(format!("{what}: {status} {}", r.text));
            }
            if status >= 400 {
                if !is_error_shape(&r) {
                    failures.push(format!("{what}: {status} without the JSON error shape: {}", r.text));
                }
                if digest(pool).await != before {
                    failures.push(format!("{what}: refused with {status}, but the database changed"));
                }
            } else if m.must_refuse {
                failures.push(format!("{what}: accepted with {status}"));
            }
            if status < 400 && case.method != "get" {
                fixture = ensure_fixture(api, pool, admin).await;
            }
        }
    }
    (sent, failures)
}

#[sqlx::test(migrator = "vane_control_plane::MIGRATOR")]
async fn no_bad_input_gets_a_5xx_or_changes_anything(pool: PgPool) {
    setup(&pool).await;
    let api = Api::with_encryption(&pool);
    let admin = key(&pool, "admin", None, None).await;
    let (sent, failures) = run(&api, &pool, &admin).await;
    assert!(failures.is_empty(), "{} of {sent} bad requests mishandled:\n{}", failures.len(), failures.join("\n"));
    assert!(sent > 800, "{sent}");
}
