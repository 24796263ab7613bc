//! `GET /api/v1/openapi.json`: an OpenAPI 3.1 description of every route, generated from the
//! route table itself ([`super::Routes`]), so it lists exactly what the server routes.
//!
//! Each operation has its method, path, path parameters, summary, tag, the two accepted
//! authorisation schemes and the shared error shape. Request and response bodies are described
//! in prose (README, ARCHITECTURE.md), not as schemas.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::routes::Operation;

/// The document for `operations` (paths relative to `/api/v1`).
pub fn document(operations: &[Operation]) -> Value {
    let mut paths: BTreeMap<String, serde_json::Map<String, Value>> = BTreeMap::new();
    for op in operations {
        let full = format!("/api/v1{}", op.path);
        let parameters: Vec<Value> = op
            .path
            .split('/')
            .filter_map(|seg| seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
            .map(|name| json!({"name": name, "in": "path", "required": true, "schema": {"type": "string"}}))
            .collect();
        let operation_id = format!(
            "{}{}",
            op.method,
            op.path.replace(['{', '}'], "").split(['/', '-']).map(capitalise).collect::<String>()
        );
        let mut responses = serde_json::Map::new();
        let ok = match op.method {
            "post" if op.summary.starts_with("Create") => "201",
            "delete" => "204",
            _ => "200",
        };
        responses.insert(ok.into(), json!({"description": "Success"}));
        for (code, what) in [
            ("400", "Malformed request"),
            ("401", "Missing or unknown API key"),
            ("403", "The key's scope or binding does not allow this"),
            ("404", "No such entity"),
            ("409", "Conflicts with the current state or a stale version"),
            ("412", "If-Match does not match the current version"),
            ("422", "Invalid fields; details name each path"),
            ("503", "PostgreSQL unavailable; retry after Retry-After"),
        ] {
            responses.insert(
                code.into(),
                json!({"description": what, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}),
            );
        }
        paths.entry(full).or_default().insert(
            op.method.into(),
            json!({
                "operationId": operation_id,
                "summary": op.summary,
                "tags": [op.tag],
                "parameters": parameters,
                "responses": responses,
            }),
        );
    }
    let mut all = serde_json::Map::new();
    all.insert(
        "/health".into(),
        json!({"get": {"operationId": "health", "summary": "Liveness and database state (no key needed)",
                       "security": [], "responses": {"200": {"description": "Up"}}}}),
    );
    for (path, ops) in paths {
        all.insert(path, Value::Object(ops));
    }
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "Vane control plane",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Admin REST, snapshot delivery and the original config service's routes.",
        },
        "security": [{"bearer": []}, {"apiKey": []}],
        "components": {
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer"},
                "apiKey": {"type": "apiKey", "in": "header", "name": "Authorization",
                           "description": "`Authorization: ApiKey <key>`, as the original config service took it."},
            },
            "schemas": {
                "Error": {
                    "type": "object",
                    "required": ["error"],
                    "properties": {"error": {"type": "object", "required": ["code", "message"], "properties": {
                        "code": {"type": "string"},
                        "message": {"type": "string"},
                        "details": {"type": ["array", "null"], "items": {"type": "object", "properties": {
                            "path": {"type": "string"}, "message": {"type": "string"}}}},
                    }}},
                },
            },
        },
        "paths": all,
    })
}

fn capitalise(s: &str) -> String {
    let mut c = s.chars();
    c.next().map(|f| f.to_uppercase().chain(c).collect()).unwrap_or_default()
}
