//! Unleash client-API documents, deterministic: what the Unleash benchmarks (`tests/unleash-bench`)
//! and the control plane's import benchmark feed Vane (and Yggdrasil).

use serde_json::{Value, json};

/// One feature with a constraint and a 50 % flexibleRollout (default stickiness).
pub fn constraint_and_rollout(name: &str) -> Value {
    json!({"name": name, "enabled": true, "strategies": [{
        "name": "flexibleRollout",
        "parameters": {"rollout": "50", "stickiness": "default", "groupId": name},
        "constraints": [{"contextName": "environment", "operator": "IN", "values": ["production", "staging"]}]
    }]})
}

/// One feature at 100 % with two strategy variants (500/500, default stickiness).
pub fn two_strategy_variants(name: &str) -> Value {
    json!({"name": name, "enabled": true, "strategies": [{
        "name": "flexibleRollout",
        "parameters": {"rollout": "100", "stickiness": "default", "groupId": name},
        "variants": [
            {"name": "blue", "weight": 500, "weightType": "variable", "stickiness": "default", "payload": {"type": "string", "value": "b"}},
            {"name": "green", "weight": 500, "weightType": "variable", "stickiness": "default", "payload": {"type": "string", "value": "g"}}
        ]
    }]})
}

/// A mix like a real project's: plain on/off, user lists, constrained rollouts, variants,
/// string and semver constraints.
pub fn mixed(i: usize) -> Value {
    let name = format!("feature-{i}");
    match i % 5 {
        0 => json!({"name": name, "enabled": true, "strategies": [{"name": "default"}]}),
        1 => {
            json!({"name": name, "enabled": true, "strategies": [{"name": "userWithId", "parameters": {"userIds": "7,42,99,1234"}}]})
        }
        2 => constraint_and_rollout(&name),
        3 => two_strategy_variants(&name),
        _ => json!({"name": name, "enabled": true, "strategies": [{
        "name": "default",
        "constraints": [
            {"contextName": "email", "operator": "STR_ENDS_WITH", "values": ["@acme.com"]},
            {"contextName": "version", "operator": "SEMVER_GTE", "value": "2.0.0"}
        ]}]}),
    }
}

/// A client API document with these features.
pub fn state(features: Vec<Value>) -> String {
    json!({"version": 2, "features": features}).to_string()
}

/// The context every row evaluates (Unleash's shape).
pub fn context() -> Value {
    json!({"userId": "user-42", "sessionId": "s-1", "environment": "production", "appName": "web",
           "currentTime": "2026-11-24T00:00:00Z",
           "properties": {"email": "ada@acme.com", "version": "2.3.1"}})
}
