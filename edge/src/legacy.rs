//! The original config service's read routes, answered at the edge from the snapshot:
//! `POST /api/v1/feature-flags/evaluate`, `GET /api/v1/config/{key}`, `GET /api/v1/registry/healthy`.
//! Shapes as the control plane answers them (mapping in [`vane_core::legacy`]).

use serde::Deserialize;
use serde_json::{Value, json};
use vane_core::{CompiledSnapshot, Context, legacy};

use crate::reply::Reply;

fn error(status: u16, code: &str, message: impl Into<String>) -> Reply {
    Reply::value(status, &json!({"error": {"code": code, "message": message.into(), "details": null}}))
}

#[derive(Debug, Deserialize)]
struct Evaluate {
    flag_name: String,
    environment: Option<String>,
    user_id: Option<String>,
    #[serde(default)]
    attributes: Option<serde_json::Map<String, Value>>,
}

/// `POST /api/v1/feature-flags/evaluate` → `{enabled, reason, flag_name, environment}`.
pub fn evaluate(snapshot: &CompiledSnapshot, body: &[u8], now_ms: i64) -> Reply {
    if body.len() > crate::ofrep::MAX_BODY {
        return error(413, "payload_too_large", "request body too large");
    }
    let req: Evaluate = match serde_json::from_slice(body) {
        Ok(r) => r,
        Err(e) => return error(400, "bad_request", format!("request body: {e}")),
    };
    if req.environment.as_deref().is_some_and(|e| e != snapshot.environment()) {
        return error(
            404,
            "not_found",
            format!(
                "this edge serves environment '{}', not '{}'",
                snapshot.environment(),
                req.environment.unwrap_or_default()
            ),
        );
    }
    let mut attrs = req.attributes.unwrap_or_default();
    if let Some(user) = req.user_id {
        attrs.insert(vane_core::TARGETING_KEY.to_owned(), Value::String(user));
    }
    let ctx = match Context::from_json(&Value::Object(attrs)) {
        Ok(c) => c,
        Err(e) => return error(422, "validation_failed", format!("attributes: {e}")),
    };
    let e = snapshot.evaluate(&req.flag_name, &ctx, now_ms);
    let (enabled, reason) = legacy::evaluate_response(&e);
    Reply::value(
        200,
        &json!({"enabled": enabled, "reason": reason, "flag_name": req.flag_name, "environment": snapshot.environment()}),
    )
}

/// `GET /api/v1/config/{key}`: a published (never secret) config.
pub fn config(snapshot: &CompiledSnapshot, key: &str) -> Reply {
    match snapshot.config(key) {
        Some(c) => Reply::value(
            200,
            &json!({
                "key": c.key, "value": c.value, "value_type": c.value_type, "environment": snapshot.environment(),
                "service_name": snapshot.application(), "description": c.description, "is_encrypted": false,
                "version": c.version,
            }),
        ),
        None => error(
            404,
            "not_found",
            format!("config '{key}' not found in {}/{}", snapshot.application(), snapshot.environment()),
        ),
    }
}

/// `GET /api/v1/registry/healthy` → `{services, total}`.
pub fn healthy(snapshot: &CompiledSnapshot) -> Reply {
    let services = snapshot.services();
    Reply::value(200, &json!({"services": services, "total": services.len()}))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snapshot() -> CompiledSnapshot {
        let doc = json!({
            "format_version": 1, "application": "default", "environment": "production", "version": 2,
            "flags": [{"key": "new_checkout_flow", "type": "boolean",
                       "variants": [{"key": "on", "value": true}, {"key": "off", "value": false}],
                       "enabled": true, "off_variant": "off", "default": {"variant": "off"},
                       "rules": [{"id": "target_users", "conditions": [{"attribute": "targetingKey", "operator": "in", "values": ["user123"]}],
                                  "serve": {"variant": "on"}}]}],
            "configs": [{"key": "database.url", "value": "postgresql://db/app", "value_type": "string", "version": 3}],
            "services": [{"service_name": "user-service", "service_url": "http://u:8080", "status": "healthy"}]
        });
        crate::compiled(&doc.to_string())
    }

    fn body(r: &Reply) -> Value {
        serde_json::from_slice(&r.body).unwrap_or(Value::Null)
    }

    #[test]
    fn evaluate_answers_in_the_original_shape() {
        let s = snapshot();
        let r = evaluate(&s, br#"{"flag_name":"new_checkout_flow","environment":"production","user_id":"user123"}"#, 0);
        assert_eq!(
            (r.status, body(&r)),
            (
                200,
                json!({"enabled": true, "reason": "user_targeted", "flag_name": "new_checkout_flow", "environment": "production"})
            )
        );
        let r = evaluate(&s, br#"{"flag_name":"new_checkout_flow","user_id":"someone"}"#, 0);
        assert_eq!((body(&r)["enabled"].clone(), body(&r)["reason"].clone()), (json!(false), json!("default")));
        let r = evaluate(&s, br#"{"flag_name":"nope","environment":"production"}"#, 0);
        assert_eq!(body(&r)["reason"], "flag_not_found");
        assert_eq!(evaluate(&s, br#"{"flag_name":"x","environment":"staging"}"#, 0).status, 404);
        assert_eq!(evaluate(&s, b"{", 0).status, 400);
        assert_eq!(evaluate(&s, br#"{"environment":"production"}"#, 0).status, 400);
    }

    #[test]
    fn configs_and_healthy_services() {
        let s = snapshot();
        let r = config(&s, "database.url");
        assert_eq!(
            (r.status, body(&r)["value"].clone(), body(&r)["service_name"].clone()),
            (200, json!("postgresql://db/app"), json!("default"))
        );
        assert_eq!(config(&s, "missing").status, 404);
        let r = healthy(&s);
        assert_eq!(
            (body(&r)["total"].clone(), body(&r)["services"][0]["service_name"].clone()),
            (json!(1), json!("user-service"))
        );
    }
}
