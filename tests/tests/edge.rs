//! The edge end to end, on both hosts: a real PostgreSQL, `vane serve`, the edge — the Worker
//! under local workerd (Miniflare, module `worker`) and the self-hosted `vane edge` (module
//! `native`) — and real OpenFeature clients (Python and Node). Every test runs on both.
//!
//! These need the worker build and the `vane` binary; `cargo xtask test` builds both and runs
//! them with `--ignored --test-threads=1`.

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};
use vane_e2e::http;
use vane_e2e::stack::{ControlPlane, Edge, EdgeOptions, Fault, Proxy, Runtime, root, scratch, seed, wait_for};

type Result<T = ()> = std::result::Result<T, String>;

fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}

fn demo_doc() -> Result<Value> {
    let text = std::fs::read_to_string(root().join("shared/examples/demo-snapshot.json")).map_err(|e| e.to_string())?;
    let mut doc: Value = serde_json::from_str(&text).map_err(|e| e.to_string())?;
    // A float flag and a server-only flag besides the demo's.
    if let Some(flags) = doc["flags"].as_array_mut() {
        flags.push(json!({"key": "price-factor", "type": "number",
            "variants": [{"key": "base", "value": 1.0}, {"key": "discount", "value": 0.85}],
            "rules": [{"id": "eu", "conditions": [{"attribute": "country", "operator": "in", "values": ["FR", "DE"]}],
                       "serve": {"rollout": {"weights": {"base": 30000, "discount": 70000}}}}],
            "default": {"variant": "base"}}));
        flags.push(json!({"key": "ops-kill-switch", "type": "boolean", "client_visible": false, "default": {"variant": "off"}}));
    }
    Ok(doc)
}

/// A control plane with the `demo` application seeded.
fn control_plane() -> Result<ControlPlane> {
    let cp = ControlPlane::start()?;
    cp.admin("POST", "/applications", Some(r#"{"key":"demo","name":"Demo"}"#))?;
    seed(&cp.addr, &cp.admin, "demo", "production", &demo_doc()?)?;
    Ok(cp)
}

fn post(addr: &str, path: &str, key: Option<&str>, body: &str) -> Result<http::Response> {
    let auth = key.map(|k| format!("Bearer {k}"));
    let headers: Vec<(&str, &str)> = auth.iter().map(|a| ("Authorization", a.as_str())).collect();
    http::send(addr, "POST", path, &headers, Some(body))
}

fn get(addr: &str, path: &str, key: Option<&str>) -> Result<http::Response> {
    let auth = key.map(|k| format!("Bearer {k}"));
    let headers: Vec<(&str, &str)> = auth.iter().map(|a| ("Authorization", a.as_str())).collect();
    http::send(addr, "GET", path, &headers, None)
}

/// A POST with `Transfer-Encoding: chunked` (no Content-Length); the raw response head and body.
fn chunked_post(addr: &str, path: &str, key: &str, body: &str) -> Result<String> {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).map_err(|e| e.to_string())?;
    s.set_read_timeout(Some(Duration::from_secs(10))).map_err(|e| e.to_string())?;
    let mut out = format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {key}\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    );
    for chunk in body.as_bytes().chunks(16 * 1024) {
        out.push_str(&format!("{:x}\r\n{}\r\n", chunk.len(), String::from_utf8_lossy(chunk)));
    }
    out.push_str("0\r\n\r\n");
    s.write_all(out.as_bytes()).map_err(|e| e.to_string())?;
    let mut answer = Vec::new();
    let mut buf = [0u8; 8192];
    // Read until the JSON body has arrived (the server may keep the connection open).
    while !String::from_utf8_lossy(&answer).contains("errorCode") {
        match s.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => answer.extend_from_slice(&buf[..n]),
        }
    }
    Ok(String::from_utf8_lossy(&answer).into_owned())
}

fn json_of(r: &http::Response) -> Value {
    serde_json::from_str(&r.body).unwrap_or(Value::Null)
}

fn version_of(r: &http::Response) -> u64 {
    r.header("X-Vane-Snapshot-Version").and_then(|v| v.parse().ok()).unwrap_or(0)
}

/// The version the edge serves for `demo/production` (server audience).
fn edge_version(edge: &Edge, key: &str) -> Result<u64> {
    let r = post(&edge.addr, "/ofrep/v1/evaluate/flags/dark-mode", Some(key), r#"{"context":{"targetingKey":"u"}}"#)?;
    if r.status != 200 {
        return Err(format!("edge answered {}: {}", r.status, r.body));
    }
    Ok(version_of(&r))
}

/// Whether, within 10 s, `/health` reports a refresh error containing `needle` (requests start
/// the refreshes; `/health` shows how they went).
fn refused_with(edge: &Edge, key: &str, needle: &str) -> bool {
    wait_for(Duration::from_secs(10), || {
        edge_version(edge, key).ok()?;
        let h = json_of(&get(&edge.addr, "/health", None).ok()?);
        h["streams"].as_array()?.iter().find_map(|s| s["last_error"].as_str().filter(|e| e.contains(needle)).map(drop))
    })
    .is_some()
}

fn control_plane_version(cp: &ControlPlane) -> Result<u64> {
    let r = get(&cp.addr, "/api/v1/snapshots/demo/production", Some(&cp.edge))?;
    json_of(&r)["version"].as_u64().ok_or_else(|| format!("no version in {}", r.body))
}

fn toggle(cp: &ControlPlane, flag: &str, enabled: bool) -> Result {
    cp.admin(
        "PATCH",
        &format!("/applications/demo/flags/{flag}/environments/production"),
        Some(&json!({ "enabled": enabled }).to_string()),
    )
    .map(drop)
}

/// The evaluation cases: every flag type, rules, segments, rollouts, prerequisites, a disabled
/// flag, an unknown flag and type mismatches, over a few hundred contexts.
fn cases() -> Vec<Value> {
    let mut contexts = vec![
        json!({"targetingKey": "user-ada"}),
        json!({"targetingKey": "user-mallory", "email": "m@vane.dev", "country": "CA"}),
        json!({"targetingKey": "user-linus", "country": "FR"}),
        json!({"country": "US"}),
    ];
    let countries = ["CA", "US", "FR", "DE", "JP"];
    for i in 0..300 {
        let mut c = json!({"targetingKey": format!("user-{i}")});
        if i % 5 != 4 {
            c["country"] = json!(countries[i % countries.len()]);
        }
        if i % 3 == 0 {
            c["plan"] = json!("pro");
            c["app_version"] = json!(if i % 2 == 0 { "2.3.1" } else { "1.9.0" });
        }
        if i % 7 == 0 {
            c["email"] = json!(format!("u{i}@VANE.dev"));
        }
        contexts.push(c);
    }
    let flags: [(&str, &str, Value); 8] = [
        ("dark-mode", "boolean", json!(false)),
        ("new-checkout", "boolean", json!(false)),
        ("checkout-theme", "object", json!({})),
        ("max-upload-mb", "integer", json!(1)),
        ("holiday-banner", "string", json!("default")),
        ("legacy-export", "boolean", json!(true)),
        ("price-factor", "float", json!(9.5)),
        ("no-such-flag", "boolean", json!(true)),
    ];
    let mut out = Vec::new();
    for (i, ctx) in contexts.iter().enumerate() {
        // Every context gets a few flags (all of them for every tenth), and some mismatches.
        for (j, (flag, ty, default)) in flags.iter().enumerate() {
            if i % 10 == 0 || (i + j) % 3 == 0 {
                out.push(json!({"flag": flag, "type": ty, "default": default, "context": ctx}));
            }
        }
        if i % 25 == 0 {
            out.push(json!({"flag": "max-upload-mb", "type": "string", "default": "x", "context": ctx}));
            out.push(json!({"flag": "dark-mode", "type": "string", "default": "x", "context": ctx}));
        }
    }
    out
}

fn type_matches(ty: &str, v: &Value) -> bool {
    match ty {
        "boolean" => v.is_boolean(),
        "string" => v.is_string(),
        "integer" => v.is_i64() || v.is_u64(),
        "float" => v.is_number(),
        "object" => v.is_object(),
        _ => false,
    }
}

/// What an OpenFeature client should report for `case`, computed natively by vane-core.
fn expected(snapshot: &vane_core::CompiledSnapshot, case: &Value, now: i64) -> Value {
    let ctx = vane_core::Context::from_json(&case["context"]).unwrap_or_default();
    let flag = case["flag"].as_str().unwrap_or_default();
    let (ty, default) = (case["type"].as_str().unwrap_or_default(), &case["default"]);
    let e = snapshot.evaluate(flag, &ctx, now);
    let error = |code: &str| json!({"value": default, "variant": null, "reason": "ERROR", "error_code": code});
    if let Some(code) = e.error_code() {
        return error(code.as_str());
    }
    match e.value() {
        Some(v) if type_matches(ty, v) => {
            let reason = match e.reason() {
                vane_core::Reason::PrerequisiteFailed => "DEFAULT",
                r => r.as_str(),
            };
            json!({"value": v, "variant": e.variant(), "reason": reason, "error_code": null})
        }
        Some(_) => error("TYPE_MISMATCH"),
        None => error("GENERAL"),
    }
}

/// Runs a client script over `cases`; one result per case.
fn run_client(program: &str, script: &str, base_url: &str, key: &str, cases: &[Value]) -> Result<Vec<Value>> {
    let mut child = Command::new(program)
        .arg(root().join(script))
        .args([base_url, key, "demo"])
        .current_dir(root())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|e| format!("{program} {script}: {e} (cargo xtask setup installs the clients)"))?;
    let input: String = cases.iter().map(|c| format!("{c}\n")).collect();
    let mut stdin = child.stdin.take().ok_or("no stdin")?;
    let writer = std::thread::spawn(move || stdin.write_all(input.as_bytes()));
    let out = child.wait_with_output().map_err(|e| e.to_string())?;
    let _ = writer.join();
    if !out.status.success() {
        return Err(format!("{script} failed: {}", out.status));
    }
    let results: Vec<Value> =
        String::from_utf8_lossy(&out.stdout).lines().filter_map(|l| serde_json::from_str(l).ok()).collect();
    if results.len() != cases.len() {
        return Err(format!("{script} answered {} of {} cases", results.len(), cases.len()));
    }
    Ok(results)
}

/// JSON numbers compare by value (Python prints `1.0`, Node `1`).
fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| same(v, w)))
        }
        (Value::Array(x), Value::Array(y)) => x.len() == y.len() && x.iter().zip(y).all(|(v, w)| same(v, w)),
        _ => a == b,
    }
}

fn real_openfeature_clients_get_what_vane_core_computes(runtime: Runtime) -> Result {
    let cp = control_plane()?;
    let edge = Edge::start(EdgeOptions::new(&cp.addr, &cp.edge, "demo").on(runtime))?;
    let stored = get(&cp.addr, "/api/v1/snapshots/demo/production", Some(&cp.edge))?;
    let (snapshot, _) = vane_core::compile_json(&stored.body).map_err(|e| e.to_string())?;
    let cases = cases();
    assert!(cases.len() > 600, "{} cases", cases.len());
    let base = format!("http://{}", edge.addr);
    let python = root().join("target/e2e-venv/bin/python");
    let python = python.to_str().ok_or("path")?;
    for (program, script) in [(python, "tests/clients/ofrep_client.py"), ("node", "tests/clients/ofrep_client.mjs")] {
        let results = run_client(program, script, &base, &cp.edge, &cases)?;
        let now = now_ms();
        let mut seen = std::collections::BTreeSet::new();
        for (case, got) in cases.iter().zip(&results) {
            let want = expected(&snapshot, case, now);
            assert!(
                same(&want["value"], &got["value"])
                    && want["variant"] == got["variant"]
                    && want["reason"] == got["reason"]
                    && want["error_code"] == got["error_code"],
                "{script}: {case}\n  native {want}\n  client {got}"
            );
            seen.insert(format!("{}/{}", got["reason"], got["error_code"]));
        }
        // The cases exercise every outcome the clients can see.
        for outcome in [
            "\"STATIC\"/null",
            "\"TARGETING_MATCH\"/null",
            "\"SPLIT\"/null",
            "\"DEFAULT\"/null",
            "\"DISABLED\"/null",
            "\"ERROR\"/\"FLAG_NOT_FOUND\"",
            "\"ERROR\"/\"TYPE_MISMATCH\"",
        ] {
            assert!(seen.contains(outcome), "{script}: no case ended {outcome}: {seen:?}");
        }
    }
    // A client key reads the client snapshot: server-only flags do not exist for it.
    let r = post(&edge.addr, "/ofrep/v1/evaluate/flags/ops-kill-switch", Some(&cp.client), r#"{"context":{}}"#)?;
    assert_eq!((r.status, json_of(&r)["errorCode"].clone()), (404, json!("FLAG_NOT_FOUND")), "{}", r.body);
    let r = post(&edge.addr, "/ofrep/v1/evaluate/flags/ops-kill-switch", Some(&cp.edge), r#"{"context":{}}"#)?;
    assert_eq!(r.status, 200, "{}", r.body);
    Ok(())
}

fn every_route_answers_in_its_shape_and_bad_input_gets_clear_errors(runtime: Runtime) -> Result {
    let cp = control_plane()?;
    let edge = Edge::start(EdgeOptions::new(&cp.addr, &cp.edge, "demo").on(runtime))?;
    let (a, key) = (edge.addr.as_str(), Some(cp.edge.as_str()));
    let single = "/ofrep/v1/evaluate/flags/new-checkout";
    let r = post(a, single, key, r#"{"context":{"targetingKey":"user-ada"}}"#)?;
    assert_eq!(r.status, 200);
    let v = json_of(&r);
    assert_eq!(
        (v["key"].clone(), v["value"].clone(), v["reason"].clone()),
        (json!("new-checkout"), json!(true), json!("TARGETING_MATCH"))
    );
    assert_eq!(v["metadata"]["ruleId"], "betas-first");
    assert_eq!(r.header("Access-Control-Allow-Origin"), Some("*"));
    assert!(r.header("Content-Type").is_some_and(|t| t.starts_with("application/json")));
    assert_eq!(version_of(&r), control_plane_version(&cp)?);
    assert!(r.header("X-Vane-Snapshot-Age").is_some());
    // Bad requests: OFREP errors with key, errorCode and errorDetails.
    for (body, code) in [
        ("{not json", "PARSE_ERROR"),
        (r#"{"ctx":{}}"#, "INVALID_CONTEXT"),
        (r#"{"context":[1,2]}"#, "INVALID_CONTEXT"),
        (r#"{"context":"user"}"#, "INVALID_CONTEXT"),
    ] {
        let r = post(a, single, key, body)?;
        let v = json_of(&r);
        assert_eq!((r.status, v["errorCode"].as_str()), (400, Some(code)), "{body}: {}", r.body);
        assert_eq!(v["key"], "new-checkout");
        assert!(v["errorDetails"].as_str().is_some_and(|d| !d.is_empty()));
    }
    let huge = format!(r#"{{"context":{{"targetingKey":"u","blob":"{}"}}}}"#, "x".repeat(1 << 20));
    let r = post(a, single, key, &huge)?;
    assert_eq!((r.status, json_of(&r)["errorCode"].clone()), (400, json!("PARSE_ERROR")), "{:.200}", r.body);
    // The same without Content-Length (chunked): cut off just past the limit, same answer.
    let r = chunked_post(a, single, &cp.edge, &huge[..200_000])?;
    assert!(r.starts_with("HTTP/1.1 400") && r.contains("PARSE_ERROR") && r.contains("at most"), "{:.300}", r);
    let r = post(a, "/ofrep/v1/evaluate/flags", key, "{not json")?;
    assert_eq!((r.status, json_of(&r)["errorCode"].clone()), (400, json!("PARSE_ERROR")));
    let r = post(a, "/ofrep/v1/evaluate/flags/nope", key, r#"{"context":{}}"#)?;
    assert_eq!((r.status, json_of(&r)["errorCode"].clone()), (404, json!("FLAG_NOT_FOUND")));
    // Keys: none or unknown → 401, a client key on server-only routes → 403.
    assert_eq!(post(a, single, None, r#"{"context":{}}"#)?.status, 401);
    assert_eq!(post(a, single, Some("vane_edge_nope"), r#"{"context":{}}"#)?.status, 401);
    let r = http::send(a, "POST", single, &[("X-API-Key", cp.client.as_str())], Some(r#"{"context":{}}"#))?;
    assert_eq!(r.status, 200, "X-API-Key: {}", r.body);
    assert_eq!(get(a, "/api/v1/registry/healthy", Some(&cp.client))?.status, 403);
    // Unknown routes, wrong methods, preflight, paths with doubled slashes.
    let r = get(a, "/nope", key)?;
    assert_eq!((r.status, json_of(&r)["error"]["code"].clone()), (404, json!("not_found")));
    // Answers that need no snapshot still carry the default stream's version and age.
    assert_eq!(version_of(&r), control_plane_version(&cp)?);
    assert!(r.header("X-Vane-Snapshot-Age").is_some());
    let r = get(a, "/ofrep/v1/evaluate/flags", key)?;
    assert_eq!((r.status, r.header("Allow")), (405, Some("POST")));
    // Every answer under /ofrep/ is OFREP-shaped: wrong methods and unknown paths too. (Methods
    // outside HTTP's registry never reach the worker: workerd answers them itself.)
    for (method, path, status) in [
        ("GET", single, 405),
        ("PUT", "/ofrep/v1/evaluate/flags", 405),
        ("DELETE", single, 405),
        ("PROPFIND", single, 405),
        ("POST", "/ofrep/v1/configuration", 404),
    ] {
        let auth = format!("Bearer {}", cp.edge);
        let r = http::send(a, method, path, &[("Authorization", &auth)], None)?;
        let v = json_of(&r);
        assert_eq!((r.status, v["errorCode"].as_str()), (status, Some("GENERAL")), "{method} {path}: {}", r.body);
        assert!(v["errorDetails"].is_string() && v.get("error").is_none(), "{method} {path}: {}", r.body);
    }
    let r =
        http::send(a, "OPTIONS", single, &[("Origin", "http://x"), ("Access-Control-Request-Method", "POST")], None)?;
    assert_eq!(r.status, 204);
    assert!(r.header("Access-Control-Allow-Headers").is_some_and(|h| h.contains("Authorization")));
    assert_eq!(post(a, "//ofrep/v1/evaluate/flags/new-checkout/", key, r#"{"context":{}}"#)?.status, 200);
    // Bulk: every flag, an ETag, and 304 for it.
    let body = r#"{"context":{"targetingKey":"user-7","country":"CA"}}"#;
    let r = post(a, "/ofrep/v1/evaluate/flags", key, body)?;
    assert_eq!(r.status, 200);
    assert_eq!(json_of(&r)["flags"].as_array().map(Vec::len), Some(8));
    let etag = r.header("ETag").ok_or("no ETag")?.to_owned();
    let auth = format!("Bearer {}", cp.edge);
    let again = http::send(
        a,
        "POST",
        "/ofrep/v1/evaluate/flags",
        &[("Authorization", &auth), ("If-None-Match", &etag)],
        Some(body),
    )?;
    assert_eq!((again.status, again.body.as_str()), (304, ""));
    // Client keys get the client audience in bulk: no server-only flag.
    let r = post(a, "/ofrep/v1/evaluate/flags", Some(&cp.client), body)?;
    assert_eq!(json_of(&r)["flags"].as_array().map(Vec::len), Some(7), "{}", r.body);
    // The original service's routes.
    let r = post(
        a,
        "/api/v1/feature-flags/evaluate",
        key,
        r#"{"flag_name":"new-checkout","environment":"production","user_id":"user-ada","service_name":"demo"}"#,
    )?;
    assert_eq!(
        json_of(&r),
        json!({"enabled": true, "reason": "rule_match", "flag_name": "new-checkout", "environment": "production"}),
        "{}",
        r.body
    );
    let r = get(a, "/api/v1/config/api.timeout_ms?service_name=demo&environment=production", key)?;
    let v = json_of(&r);
    assert_eq!(
        (r.status, v["value"].clone(), v["is_encrypted"].clone()),
        (200, json!(2500), json!(false)),
        "{}",
        r.body
    );
    assert_eq!(get(a, "/api/v1/config/missing?service_name=demo", key)?.status, 404);
    let r = get(a, "/api/v1/registry/healthy?service_name=demo", key)?;
    assert_eq!((r.status, json_of(&r)["total"].clone()), (200, json!(0)), "{}", r.body);
    let r = post(
        a,
        "/api/v1/feature-flags/evaluate",
        key,
        r#"{"flag_name":"x","environment":"nowhere","service_name":"demo"}"#,
    )?;
    assert_eq!(r.status, 404, "{}", r.body);
    let r = post(a, "/api/v1/feature-flags/evaluate", key, r#"{"environment":"production","service_name":"demo"}"#)?;
    assert_eq!(r.status, 400, "{}", r.body);
    // The client snapshot, as stored, with ETag and 304.
    let path = "/api/v1/snapshots/demo/production?audience=client";
    let r = get(a, path, Some(&cp.client))?;
    let from_cp = get(&cp.addr, path, Some(&cp.client))?;
    assert_eq!((r.status, &r.body, r.header("ETag")), (200, &from_cp.body, from_cp.header("ETag")));
    let tag = r.header("ETag").ok_or("no ETag")?;
    let auth = format!("Bearer {}", cp.client);
    assert_eq!(http::send(a, "GET", path, &[("Authorization", &auth), ("If-None-Match", tag)], None)?.status, 304);
    assert_eq!(get(a, "/api/v1/snapshots/demo/production", Some(&cp.client))?.status, 403);
    assert_eq!(get(a, "/api/v1/snapshots/nothing/production", key)?.status, 404);
    // Health lists the streams held.
    let h = json_of(&get(a, "/health", None)?);
    assert!(h["streams"].as_array().is_some_and(|s| s.len() >= 2), "{h}");
    // The worker is still answering after all that.
    assert_eq!(edge_version(&edge, &cp.edge)?, control_plane_version(&cp)?);

    // Rate limiting, when configured: 429 with Retry-After.
    let limited =
        Edge::start(EdgeOptions { rate_limit_rps: 3, ..EdgeOptions::new(&cp.addr, &cp.edge, "demo").on(runtime) })?;
    let statuses: Vec<(u16, Option<String>)> = (0..10)
        .map(|_| {
            post(&limited.addr, single, key, r#"{"context":{}}"#)
                .map(|r| (r.status, r.header("Retry-After").map(str::to_owned)))
        })
        .collect::<Result<_>>()?;
    assert!(statuses.iter().any(|(s, after)| *s == 429 && after.is_some()), "{statuses:?}");
    assert!(statuses.iter().any(|(s, _)| *s == 200), "{statuses:?}");
    Ok(())
}

fn admin_writes_reach_the_edge(runtime: Runtime) -> Result {
    let cp = control_plane()?;
    let edge = Edge::start(EdgeOptions::new(&cp.addr, &cp.edge, "demo").on(runtime))?;
    edge_version(&edge, &cp.edge)?;
    for i in 0..50 {
        toggle(&cp, "dark-mode", i % 2 == 1)?;
        let want = control_plane_version(&cp)?;
        let got = wait_for(Duration::from_secs(10), || edge_version(&edge, &cp.edge).ok().filter(|v| *v >= want));
        assert!(got.is_some(), "write {i}: the edge did not serve version {want} within 10 s");
    }
    let r = post(&edge.addr, "/ofrep/v1/evaluate/flags/dark-mode", Some(&cp.edge), r#"{"context":{}}"#)?;
    assert_eq!(json_of(&r)["value"], json!(true), "the last write enabled dark-mode: {}", r.body);

    let events = "/api/v1/snapshots/demo/production/events?audience=client";
    if runtime.is_worker() {
        // Without the long-poll and with a long refresh interval, the cron trigger refreshes.
        let slow = Edge::start(EdgeOptions {
            watch_s: 0,
            refresh_ms: 3_600_000,
            ..EdgeOptions::new(&cp.addr, &cp.edge, "demo").on(runtime)
        })?;
        let before = edge_version(&slow, &cp.edge)?;
        toggle(&cp, "dark-mode", false)?;
        std::thread::sleep(Duration::from_millis(300));
        assert_eq!(edge_version(&slow, &cp.edge)?, before, "no refresh was due");
        assert_eq!(slow.cron()?, 200);
        assert_eq!(edge_version(&slow, &cp.edge)?, control_plane_version(&cp)?);
        // A Worker does not push: browsers poll (the JS client falls back on this 404).
        let r = get(&edge.addr, events, Some(&cp.client))?;
        assert_eq!((r.status, json_of(&r)["error"]["code"].clone()), (404, json!("not_found")), "{}", r.body);
        return Ok(());
    }
    // The self-hosted edge pushes each new client-snapshot version to every subscriber, from its
    // one upstream long-poll.
    let mut browsers =
        vec![EventReader::open(&edge.addr, events, &cp.client)?, EventReader::open(&edge.addr, events, &cp.client)?];
    let client_version = || -> Result<u64> {
        let r = get(&cp.addr, "/api/v1/snapshots/demo/production?audience=client", Some(&cp.client))?;
        json_of(&r)["version"].as_u64().ok_or_else(|| format!("no version in {}", r.body))
    };
    let first = client_version()?;
    for browser in &mut browsers {
        let e = browser.next(Duration::from_secs(5)).ok_or("no first event")?;
        assert_eq!((e.event.as_str(), e.id), ("snapshot", Some(first)), "{e:?}");
        assert_eq!(e.data["audience"], "client");
    }
    for enabled in [false, true, false] {
        toggle(&cp, "dark-mode", enabled)?;
        let want = client_version()?;
        // Each browser hears of the new version within a second (a slow reader may skip an
        // intermediate one; it only needs to fetch the latest).
        for (i, browser) in browsers.iter_mut().enumerate() {
            let deadline = std::time::Instant::now() + Duration::from_secs(1);
            while browser.last < want {
                let left = deadline.saturating_duration_since(std::time::Instant::now());
                let e = browser.next(left).ok_or(format!("browser {i} did not hear of version {want} within 1 s"))?;
                assert_eq!(e.event, "snapshot", "{e:?}");
            }
            assert_eq!(browser.last, want, "browser {i}");
        }
    }
    // Keys are checked as for the snapshot itself.
    assert_eq!(get(&edge.addr, events, None)?.status, 401);
    assert_eq!(get(&edge.addr, "/api/v1/snapshots/demo/production/events", Some(&cp.client))?.status, 403);
    Ok(())
}

/// `vane edge` stops as an orchestrator asks it to: SIGTERM ends the push streams, lets the
/// requests in flight finish, saves every stream's copy and exits 0 — and a restart with the
/// control plane gone serves from those copies at once, with their true age.
#[test]
#[ignore = "needs the vane binary: cargo xtask test"]
fn vane_edge_shuts_down_gracefully_and_restarts_from_its_copies() -> Result {
    let mut cp = control_plane()?;
    let data = scratch("edge-data");
    let options =
        EdgeOptions { kv_dir: Some(data.clone()), ..EdgeOptions::new(&cp.addr, &cp.edge, "demo").on(Runtime::Native) };
    let mut edge = Edge::start(options)?;
    let version = edge_version(&edge, &cp.edge)?;
    let events = "/api/v1/snapshots/demo/production/events?audience=client";
    let mut browser = EventReader::open(&edge.addr, events, &cp.client)?;
    browser.next(Duration::from_secs(5)).ok_or("no first event")?;
    let started = std::time::Instant::now();
    let status = edge.terminate(Duration::from_secs(15)).ok_or("vane edge did not stop within 15 s of SIGTERM")?;
    assert!(status.success(), "vane edge exited with {status}");
    assert!(started.elapsed() < Duration::from_secs(5), "stopping took {:?}", started.elapsed());
    assert!(browser.next(Duration::from_secs(2)).is_none(), "the push stream ended");
    for audience in ["server", "client"] {
        let copy = data.join(format!("demo/production/{audience}.snapshot"));
        assert!(copy.is_file(), "{} was not saved", copy.display());
    }
    cp.halt();
    let mut edge = Edge::start(edge.options.clone())?;
    assert_eq!(edge_version(&edge, &cp.edge)?, version, "served from the copy on disk");
    let r = post(&edge.addr, "/ofrep/v1/evaluate/flags/dark-mode", Some(&cp.edge), r#"{"context":{}}"#)?;
    let age: u64 = r.header("X-Vane-Snapshot-Age").and_then(|a| a.parse().ok()).ok_or("no age")?;
    assert!(age < 60, "the copy's confirmation time was saved at shutdown (age {age} s)");
    edge.stop();
    cp.resume()?;
    let _ = std::fs::remove_dir_all(&data);
    Ok(())
}

/// A Server-Sent Events reader over a raw connection (what a browser's `fetch` stream sees).
struct EventReader {
    stream: std::net::TcpStream,
    buffer: String,
    /// The highest version announced so far.
    last: u64,
}

#[derive(Debug)]
struct Event {
    event: String,
    id: Option<u64>,
    data: Value,
}

impl EventReader {
    fn open(addr: &str, path: &str, key: &str) -> Result<EventReader> {
        use std::io::Write;
        let mut stream = std::net::TcpStream::connect(addr).map_err(|e| e.to_string())?;
        write!(
            stream,
            "GET {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {key}\r\nAccept: text/event-stream\r\n\r\n"
        )
        .map_err(|e| e.to_string())?;
        let mut reader = EventReader { stream, buffer: String::new(), last: 0 };
        // The head, then the body (chunked: chunk sizes are skipped as non-field lines).
        let head_end = loop {
            if let Some(i) = reader.buffer.find("\r\n\r\n") {
                break i;
            }
            if !reader.fill(Duration::from_secs(5)) {
                return Err(format!("no response head: {:?}", reader.buffer));
            }
        };
        let head = reader.buffer[..head_end].to_owned();
        if !head.starts_with("HTTP/1.1 200") || !head.to_ascii_lowercase().contains("content-type: text/event-stream") {
            return Err(format!("not an event stream: {head}"));
        }
        reader.buffer.drain(..head_end + 4);
        Ok(reader)
    }

    fn fill(&mut self, timeout: Duration) -> bool {
        use std::io::Read;
        let _ = self.stream.set_read_timeout(Some(timeout));
        let mut buf = [0u8; 4096];
        match self.stream.read(&mut buf) {
            Ok(0) | Err(_) => false,
            Ok(n) => {
                self.buffer.push_str(&String::from_utf8_lossy(&buf[..n]));
                true
            }
        }
    }

    /// The next event (keep-alive comments skipped), within `timeout`.
    fn next(&mut self, timeout: Duration) -> Option<Event> {
        let deadline = std::time::Instant::now() + timeout;
        loop {
            while let Some(end) = self.buffer.find("\n\n") {
                let block: String = self.buffer.drain(..end + 2).collect();
                let mut event = Event { event: "message".into(), id: None, data: Value::Null };
                let mut any = false;
                for line in block.lines() {
                    if let Some(v) = line.strip_prefix("event: ") {
                        (event.event, any) = (v.to_owned(), true);
                    } else if let Some(v) = line.strip_prefix("id: ") {
                        event.id = v.trim().parse().ok();
                    } else if let Some(v) = line.strip_prefix("data: ") {
                        event.data = serde_json::from_str(v).unwrap_or(Value::Null);
                    }
                }
                if any {
                    self.last = self.last.max(event.id.unwrap_or(0));
                    return Some(event);
                }
            }
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            if left.is_zero() || !self.fill(left) {
                return None;
            }
        }
    }
}

fn the_edge_survives_control_plane_outages_and_bad_snapshots(runtime: Runtime) -> Result {
    let mut cp = control_plane()?;
    let proxy = Proxy::start(&cp.addr)?;
    let kv = scratch("kv");
    // Polling only: a long-poll held through the proxy would outlast a change of fault.
    let options = EdgeOptions {
        kv_dir: Some(kv.clone()),
        refresh_ms: 100,
        watch_s: 0,
        ..EdgeOptions::new(&proxy.addr, &cp.edge, "demo").on(runtime)
    };
    let mut edge = Edge::start(options)?;
    let v1 = edge_version(&edge, &cp.edge)?;

    // A corrupted body (ETag of the original) is refused; the old snapshot keeps serving.
    proxy.set(Fault::Corrupt);
    toggle(&cp, "dark-mode", false)?;
    let v2 = control_plane_version(&cp)?;
    assert!(refused_with(&edge, &cp.edge, "does not match the ETag"), "the corrupted snapshot was not refused");
    assert_eq!(edge_version(&edge, &cp.edge)?, v1);
    let r = post(&edge.addr, "/ofrep/v1/evaluate/flags/dark-mode", Some(&cp.edge), r#"{"context":{}}"#)?;
    assert_eq!(json_of(&r)["value"], json!(true), "still the old snapshot: {}", r.body);

    // An intact but older snapshot is refused too.
    let stored = get(&cp.addr, "/api/v1/snapshots/demo/production", Some(&cp.edge))?;
    let mut older: Value = serde_json::from_str(&stored.body).map_err(|e| e.to_string())?;
    older["version"] = json!(v1 - 1);
    let body = older.to_string();
    proxy.set(Fault::Canned { etag: vane_core::content_hash(&body), body });
    assert!(refused_with(&edge, &cp.edge, "not newer"), "the older snapshot was not refused");
    assert_eq!(edge_version(&edge, &cp.edge)?, v1);

    // A newer one that does not compile (a format this edge does not know) is refused as well.
    let mut unknown: Value = serde_json::from_str(&stored.body).map_err(|e| e.to_string())?;
    unknown["version"] = json!(v2 + 100);
    unknown["format_version"] = json!(2);
    let body = unknown.to_string();
    proxy.set(Fault::Canned { etag: vane_core::content_hash(&body), body });
    assert!(refused_with(&edge, &cp.edge, "does not compile"), "the snapshot that does not compile was not refused");
    assert_eq!(edge_version(&edge, &cp.edge)?, v1);

    // Healthy again: the new version arrives.
    proxy.set(Fault::Pass);
    assert!(wait_for(Duration::from_secs(10), || edge_version(&edge, &cp.edge).ok().filter(|v| *v == v2)).is_some());

    // Control plane gone: the edge keeps serving; after a restart (a cold isolate), from KV.
    cp.halt();
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(edge_version(&edge, &cp.edge)?, v2);
    edge.restart()?;
    assert_eq!(edge_version(&edge, &cp.edge)?, v2, "cold start from KV");
    // `vane edge` serves its copies before it asks the control plane (in the background): the
    // outage shows in /health once that attempt has failed.
    let unreachable = wait_for(Duration::from_secs(5), || {
        let h = json_of(&get(&edge.addr, "/health", None).ok()?);
        h["streams"][0]["last_error"].as_str().is_some_and(|e| e.contains("unreachable")).then_some(())
    });
    assert!(unreachable.is_some(), "{}", get(&edge.addr, "/health", None)?.body);
    // No KV copy for a stream never seen: 503 with Retry-After, not a crash.
    let auth = format!("Bearer {}", cp.edge);
    let r = http::send(
        &edge.addr,
        "POST",
        "/ofrep/v1/evaluate/flags",
        &[("Authorization", &auth), ("X-Vane-Environment", "staging")],
        Some(r#"{"context":{}}"#),
    )?;
    assert_eq!((r.status, r.header("Retry-After")), (503, Some("1")), "{}", r.body);
    cp.resume()?;
    let _ = std::fs::remove_dir_all(&kv);
    Ok(())
}

fn fail_closed_environments_answer_503_once_the_snapshot_is_too_old(runtime: Runtime) -> Result {
    let cp = control_plane()?;
    cp.admin("PATCH", "/environments/production", Some(r#"{"max_staleness_s":2,"stale_policy":"fail_closed"}"#))?;
    let proxy = Proxy::start(&cp.addr)?;
    let edge = Edge::start(EdgeOptions {
        watch_s: 0,
        refresh_ms: 200,
        ..EdgeOptions::new(&proxy.addr, &cp.edge, "demo").on(runtime)
    })?;
    let single = "/ofrep/v1/evaluate/flags/dark-mode";
    assert_eq!(post(&edge.addr, single, Some(&cp.edge), r#"{"context":{}}"#)?.status, 200);
    // Idle past max_staleness_s with the control plane up: the first request refreshes
    // synchronously and is answered, not refused.
    std::thread::sleep(Duration::from_millis(3_200));
    let r = post(&edge.addr, single, Some(&cp.edge), r#"{"context":{}}"#)?;
    assert_eq!((r.status, r.header("X-Vane-Snapshot-Age")), (200, Some("0")), "{}", r.body);
    proxy.set(Fault::Down);
    let closed = wait_for(Duration::from_secs(10), || {
        let r = post(&edge.addr, single, Some(&cp.edge), r#"{"context":{}}"#).ok()?;
        (r.status == 503).then_some(r)
    })
    .ok_or("never 503")?;
    // An unreachable control plane is asked once per refresh interval, not once per request.
    let before = proxy.connections();
    let started = std::time::Instant::now();
    for _ in 0..200 {
        post(&edge.addr, single, Some(&cp.edge), r#"{"context":{}}"#)?;
    }
    let intervals = started.elapsed().as_millis() as u64 / 200 + 3;
    let asked = proxy.connections() - before;
    assert!(asked <= intervals, "200 requests made {asked} control-plane requests (≤ {intervals} expected)");
    let v = json_of(&closed);
    assert_eq!((v["key"].clone(), v["errorCode"].clone()), (json!("dark-mode"), json!("GENERAL")), "{}", closed.body);
    assert!(closed.header("Retry-After").is_some());
    assert!(closed.header("X-Vane-Snapshot-Age").and_then(|a| a.parse::<u64>().ok()).is_some_and(|a| a > 2));
    // The control plane is back: answers again.
    proxy.set(Fault::Pass);
    let back = wait_for(Duration::from_secs(10), || {
        post(&edge.addr, single, Some(&cp.edge), r#"{"context":{}}"#).ok().filter(|r| r.status == 200)
    });
    assert!(back.is_some());
    Ok(())
}

fn many_streams_are_served_and_deleted_ones_are_let_go(runtime: Runtime) -> Result {
    // More applications than the edge once held (64): none may be crowded out.
    let cp = ControlPlane::start()?;
    for i in 0..80 {
        cp.admin("POST", "/applications", Some(&format!(r#"{{"key":"app-{i}","name":"App {i}"}}"#)))?;
        cp.admin(
            "POST",
            &format!("/applications/app-{i}/flags"),
            Some(r#"{"key":"f","type":"boolean","client_visible":true}"#),
        )?;
    }
    let edge = Edge::start(EdgeOptions::new(&cp.addr, &cp.edge, "app-0").on(runtime))?;
    let bulk = |app: &str, key: &str| -> Result<http::Response> {
        let auth = format!("Bearer {key}");
        http::send(
            &edge.addr,
            "POST",
            "/ofrep/v1/evaluate/flags",
            &[("Authorization", &auth), ("X-Vane-Application", app)],
            Some(r#"{"context":{"targetingKey":"u"}}"#),
        )
    };
    for i in 0..80 {
        let r = bulk(&format!("app-{i}"), &cp.edge)?;
        assert_eq!(r.status, 200, "app-{i}: {}", r.body);
    }
    // A browser's stream of one of them, then the application goes.
    assert_eq!(bulk("app-5", &cp.client)?.status, 200);
    let held = |app: &str| -> Result<usize> {
        let health = json_of(&get(&edge.addr, "/health", None)?);
        Ok(health["streams"].as_array().map_or(0, |s| s.iter().filter(|s| s["application"] == app).count()))
    };
    assert_eq!(held("app-5")?, 2, "server and client streams");
    cp.admin("DELETE", "/applications/app-5", None)?;
    // The long-poll hears of it (the control plane answers 404): both audiences are let go.
    let gone = wait_for(Duration::from_secs(10), || held("app-5").ok().filter(|n| *n == 0));
    assert!(gone.is_some(), "the deleted application's streams are still held");
    let r = bulk("app-5", &cp.client)?;
    assert_eq!(r.status, 404, "{}", r.body);
    assert_eq!(held("app-5")?, 0);
    // Everything else still answers.
    for i in [0, 6, 79] {
        assert_eq!(bulk(&format!("app-{i}"), &cp.edge)?.status, 200);
    }
    Ok(())
}

/// Each test, once per host.
macro_rules! on_both_hosts {
    ($($test:ident),* $(,)?) => {
        mod worker {
            $(
                #[test]
                #[ignore = "needs the worker build and the vane binary: cargo xtask test"]
                fn $test() -> super::Result {
                    super::$test(super::Runtime::Miniflare)
                }
            )*
        }
        mod native {
            $(
                #[test]
                #[ignore = "needs the worker build and the vane binary: cargo xtask test"]
                fn $test() -> super::Result {
                    super::$test(super::Runtime::Native)
                }
            )*
        }
    };
}

on_both_hosts!(
    real_openfeature_clients_get_what_vane_core_computes,
    every_route_answers_in_its_shape_and_bad_input_gets_clear_errors,
    admin_writes_reach_the_edge,
    the_edge_survives_control_plane_outages_and_bad_snapshots,
    fail_closed_environments_answer_503_once_the_snapshot_is_too_old,
    many_streams_are_served_and_deleted_ones_are_let_go,
);
