//! `GET /api/v1/openapi.json`: an OpenAPI 3.1 description of every route, generated from the
//! route table itself ([`super::Routes`]), so it lists exactly what the server routes.
//!
//! Each operation has its method, path, parameters (path, query, `If-Match`), summary, tag, the
//! two accepted authorisation schemes, the schemas of its request and success bodies — read from
//! its handler's types ([`super::doc`], utoipa's schemas of the Rust types) — and the shared
//! error shape.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::doc::{Component, Outcome, schema_of};
use super::error::ErrorBody;
use super::routes::Operation;

fn json_of(value: impl serde::Serialize) -> Value {
    serde_json::to_value(value).unwrap_or(Value::Null)
}

fn json_content(schema: &utoipa::openapi::RefOr<utoipa::openapi::Schema>) -> Value {
    json!({"application/json": {"schema": json_of(schema)}})
}

/// The document for `operations` (paths relative to `/api/v1`).
pub fn document(operations: &[Operation]) -> Value {
    let mut paths: BTreeMap<String, serde_json::Map<String, Value>> = BTreeMap::new();
    let mut components: Vec<Component> = Vec::new();
    let error = json_of(schema_of::<ErrorBody>(&mut components));
    for op in operations {
        let full = format!("/api/v1{}", op.path);
        let shape = &op.shape;
        components.extend(shape.components.iter().cloned());
        let mut parameters: Vec<Value> = op
            .path
            .split('/')
            .filter_map(|seg| seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
            .map(|name| json!({"name": name, "in": "path", "required": true, "schema": {"type": "string"}}))
            .collect();
        parameters.extend(shape.query.iter().map(json_of));
        if shape.if_match {
            parameters.push(json!({
                "name": "If-Match", "in": "header", "required": false, "schema": {"type": "string"},
                "description": "The version this write expects (412 when it is not the current one); \
                                without it, the body's `version` (409), else any.",
            }));
        }
        let operation_id = format!(
            "{}{}",
            op.method,
            op.path.replace(['{', '}'], "").split(['/', '-']).map(capitalise).collect::<String>()
        );
        let mut responses = serde_json::Map::new();
        let (ok, success) = match &shape.reply {
            Outcome::Json(schema) => ("200", json!({"description": "Success", "content": json_content(schema)})),
            Outcome::Created(schema) => ("201", json!({"description": "Created", "content": json_content(schema)})),
            Outcome::NoContent => ("204", json!({"description": "Done"})),
            Outcome::Events => {
                ("200", json!({"description": "Server-sent events", "content": {"text/event-stream": {}}}))
            }
            Outcome::Raw => ("200", json!({"description": "Success"})),
        };
        responses.insert(ok.into(), success);
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
            responses
                .insert(code.into(), json!({"description": what, "content": {"application/json": {"schema": error}}}));
        }
        let mut operation = json!({
            "operationId": operation_id,
            "summary": op.summary,
            "tags": [op.tag],
            "parameters": parameters,
            "responses": responses,
        });
        if let Some(body) = &shape.body {
            operation["requestBody"] = json!({"required": true, "content": json_content(body)});
        }
        paths.entry(full).or_default().insert(op.method.into(), operation);
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
    // Named once each (a type's schema is the same wherever it is used), in name order.
    let schemas: BTreeMap<String, Value> =
        components.into_iter().map(|(name, schema)| (name, json_of(schema))).collect();
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "Vane control plane",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Admin REST, snapshot delivery and the original config service's routes.",
        },
        "security": [{"bearer": []}, {"apiKey": []}, {"session": []}],
        "components": {
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer"},
                "apiKey": {"type": "apiKey", "in": "header", "name": "Authorization",
                           "description": "`Authorization: ApiKey <key>`, as the original config service took it."},
                "session": {"type": "apiKey", "in": "cookie", "name": super::sessions::COOKIE,
                            "description": "The console's session (POST /api/v1/sessions); writes also need its CSRF \
                                            proof in `X-CSRF-Token`."},
            },
            "schemas": schemas,
        },
        "paths": all,
    })
}

fn capitalise(s: &str) -> String {
    let mut c = s.chars();
    c.next().map(|f| f.to_uppercase().chain(c).collect()).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use serde_json::Value;

    use super::*;

    fn refs<'a>(value: &'a Value, found: &mut Vec<&'a str>) {
        match value {
            Value::Object(fields) => {
                if let Some(Value::String(r)) = fields.get("$ref") {
                    found.push(r);
                }
                fields.values().for_each(|v| refs(v, found));
            }
            Value::Array(items) => items.iter().for_each(|v| refs(v, found)),
            _ => {}
        }
    }

    #[test]
    fn every_reference_resolves() {
        let doc = crate::openapi_document();
        let mut found = Vec::new();
        refs(&doc, &mut found);
        assert!(found.len() > 100, "only {} references", found.len());
        for r in found {
            let name = r.strip_prefix("#/components/schemas/").unwrap_or(r);
            assert!(doc["components"]["schemas"].get(name).is_some(), "{r} does not resolve");
        }
    }

    #[test]
    fn a_schema_name_means_one_schema() {
        let (_, operations) = crate::routes().into_parts();
        let mut seen: BTreeMap<String, Value> = BTreeMap::new();
        for op in &operations {
            for (name, schema) in &op.shape.components {
                let schema = json_of(schema);
                let first = seen.entry(name.clone()).or_insert_with(|| schema.clone());
                assert_eq!(*first, schema, "two types are named {name}");
            }
        }
    }

    #[test]
    fn bodies_parameters_and_replies_come_from_the_handlers() {
        let doc = crate::openapi_document();
        let op = |path: &str, method: &str| doc["paths"][format!("/api/v1{path}")][method].clone();
        let schema = |v: &Value| v["content"]["application/json"]["schema"].clone();
        let named = |name: &str| json!({"$ref": format!("#/components/schemas/{name}")});

        let create = op("/applications/{application}/flags", "post");
        assert_eq!(schema(&create["requestBody"]), named("CreateFlag"));
        assert_eq!(schema(&create["responses"]["201"]), named("FlagView"));

        let list = op("/applications/{application}/flags", "get");
        let query: Vec<&str> = list["parameters"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|p| p["in"] == "query")
            .filter_map(|p| p["name"].as_str())
            .collect();
        assert_eq!(query, ["limit", "offset", "tag", "archived", "q"]);
        assert_eq!(schema(&list["responses"]["200"])["properties"]["items"]["items"], named("FlagView"));

        let state = op("/applications/{application}/flags/{flag}/environments/{environment}", "patch");
        assert_eq!(schema(&state["requestBody"]), named("StateChange"));
        assert_eq!(schema(&state["responses"]["200"]), named("StateRow"));
        assert!(state["parameters"].as_array().into_iter().flatten().any(|p| p["name"] == "If-Match"));

        let delete = op("/applications/{application}/segments/{segment}", "delete");
        assert!(delete["responses"]["204"].is_object() && delete.get("requestBody").is_none());
        assert_eq!(schema(&delete["responses"]["404"]), named("Error"));

        let events = op("/snapshots/{application}/{environment}/events", "get");
        assert!(events["responses"]["200"]["content"]["text/event-stream"].is_object());
    }
}
