//! An Unleash context (`{userId, sessionId, remoteAddress, environment, appName, currentTime,
//! properties: {…}}`) as a flat Vane [`Context`].
//!
//! Imported conditions read attributes by their Unleash names (`userId`, `customField`, …), so the
//! context is flattened: every top-level field and every `properties` entry becomes an attribute
//! of the same name. A top-level field wins over a property of the same name (the Node SDK looks
//! at the field first, then at the property). `null` counts as missing. `targetingKey` is set to
//! `userId` when the context has none, so OpenFeature-style callers see the same identity.
//!
//! The evaluation time is not part of the context: pass it to the evaluation as `now_ms`
//! (conditions on a missing `currentTime` compare it).

use serde_json::Value;

use crate::context::{AttrValue, Context, TARGETING_KEY};

/// Flattens an Unleash context. Only a non-object context (or non-object `properties`) is an
/// error.
pub fn context(unleash_ctx: &Value) -> Result<Context, String> {
    let Value::Object(map) = unleash_ctx else {
        return Err("an Unleash context must be a JSON object".into());
    };
    let mut ctx = Context::new();
    match map.get("properties") {
        None | Some(Value::Null) => {}
        Some(Value::Object(props)) => {
            for (name, value) in props {
                if let Some(v) = AttrValue::from_json(value) {
                    ctx.set(name, v);
                }
            }
        }
        Some(_) => return Err("an Unleash context's `properties` must be a JSON object".into()),
    }
    for (name, value) in map {
        if name == "properties" {
            continue;
        }
        if let Some(v) = AttrValue::from_json(value) {
            ctx.set(name, v);
        }
    }
    if ctx.get(TARGETING_KEY).is_none()
        && let Some(AttrValue::String(user)) = ctx.get("userId").cloned()
    {
        ctx.set(TARGETING_KEY, AttrValue::String(user));
    }
    Ok(ctx)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn flattens_fields_and_properties_field_first() {
        let c = context(&json!({
            "userId": "u1", "appName": null, "currentTime": "2024-01-01T00:00:00Z",
            "properties": {"plan": "pro", "userId": "shadowed", "gone": null, "appName": "from-props"}
        }))
        .unwrap();
        assert_eq!(c.get("userId"), Some(&AttrValue::from("u1")));
        assert_eq!(c.get("plan"), Some(&AttrValue::from("pro")));
        assert_eq!(c.get("gone"), None);
        // A null field does not hide the property.
        assert_eq!(c.get("appName"), Some(&AttrValue::from("from-props")));
        assert_eq!(c.targeting_key(), Some("u1"));
        assert!(context(&json!([])).is_err());
        assert!(context(&json!({"properties": 3})).is_err());
        assert!(context(&json!({})).unwrap().is_empty());
    }
}
