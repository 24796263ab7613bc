//! Rollout properties users rely on: stickiness, monotonic ramp-ups, accurate splits.

mod common;

use common::*;
use serde_json::{Value, json};
use vane_core::{Context, Reason, bucket_of, compile_json};

fn rollout_flag(key: &str, weights: Value, variants: Value) -> Value {
    json!({"key": key, "type": "string", "salt": "s1", "variants": variants, "default": {"rollout": {"weights": weights}}})
}

fn boolean_rollout(percent_parts: u32) -> Value {
    json!([{"key": "ramp", "type": "boolean", "salt": "ramp-salt",
        "default": {"rollout": {"weights": {"on": percent_parts, "off": 100_000 - percent_parts}}}}])
}

/// Deterministic pseudo-random user keys (SplitMix64), so the test is repeatable.
fn keys(n: usize) -> Vec<String> {
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    (0..n)
        .map(|_| {
            state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = state;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            format!("user-{:016x}", z ^ (z >> 31))
        })
        .collect()
}

#[test]
fn same_context_same_variant_across_recompiles() {
    let flags = json!([rollout_flag(
        "exp",
        json!({"a": 25_000, "b": 25_000, "c": 50_000}),
        json!([{"key": "a", "value": "A"}, {"key": "b", "value": "B"}, {"key": "c", "value": "C"}])
    )]);
    let first = compiled(flags.clone(), json!([]));
    let second = compiled(flags, json!([]));
    for k in keys(2_000) {
        let c = Context::with_targeting_key(&k);
        let a = first.evaluate("exp", &c, NOW);
        assert_eq!(a.reason(), Reason::Split);
        assert_eq!(a.variant(), first.evaluate("exp", &c, 0).variant());
        assert_eq!(a.variant(), second.evaluate("exp", &c, NOW).variant());
    }
}

#[test]
fn raising_a_boolean_rollout_keeps_everyone_who_was_in() {
    let users = keys(20_000);
    let steps = [0, 1, 5_000, 10_000, 25_000, 33_333, 50_000, 75_000, 99_999, 100_000];
    let snaps: Vec<_> = steps.iter().map(|&p| compiled(boolean_rollout(p), json!([]))).collect();
    for u in &users {
        let c = Context::with_targeting_key(u);
        let mut was_on = false;
        for (snap, p) in snaps.iter().zip(steps) {
            let on = snap.evaluate("ramp", &c, NOW).value() == Some(&json!(true));
            assert!(!was_on || on, "{u} dropped out when the rollout rose to {p}");
            was_on = on;
        }
    }
}

#[test]
fn splits_are_within_one_point_over_100k_keys() {
    let cases = [
        json!({"a": 50_000, "b": 50_000}),
        json!({"a": 10_000, "b": 20_000, "c": 70_000}),
        json!({"a": 33_333, "b": 33_333, "c": 33_334}),
        json!({"a": 1_000, "b": 99_000}),
        json!({"a": 25_000, "b": 25_000, "c": 25_000, "d": 25_000}),
    ];
    let variants = json!([{"key": "a", "value": "A"}, {"key": "b", "value": "B"}, {"key": "c", "value": "C"}, {"key": "d", "value": "D"}]);
    let users = keys(100_000);
    for weights in cases {
        let snap = compiled(json!([rollout_flag("split", weights.clone(), variants.clone())]), json!([]));
        let mut counts = std::collections::BTreeMap::<String, u32>::new();
        for u in &users {
            let e = snap.evaluate("split", &Context::with_targeting_key(u), NOW);
            *counts.entry(e.variant().unwrap().to_owned()).or_default() += 1;
        }
        for (variant, w) in weights.as_object().unwrap() {
            let want = w.as_f64().unwrap() / 1000.0; // percent
            let got = f64::from(counts.get(variant).copied().unwrap_or(0)) / 1000.0;
            assert!((got - want).abs() <= 1.0, "{weights}: variant {variant} got {got}%, want {want}% ± 1");
        }
    }
}

#[test]
fn json_key_order_of_weights_does_not_matter() {
    let a = r#"{"key":"f","type":"string","salt":"x","variants":[{"key":"b","value":"B"},{"key":"a","value":"A"}],"default":{"rollout":{"weights":{"a":30000,"b":70000}}}}"#;
    let b = r#"{"key":"f","type":"string","salt":"x","variants":[{"key":"b","value":"B"},{"key":"a","value":"A"}],"default":{"rollout":{"weights":{"b":70000,"a":30000}}}}"#;
    let doc =
        |f: &str| format!(r#"{{"format_version":1,"application":"a","environment":"e","version":1,"flags":[{f}]}}"#);
    let (sa, _) = compile_json(&doc(a)).unwrap();
    let (sb, _) = compile_json(&doc(b)).unwrap();
    for u in keys(1_000) {
        let c = Context::with_targeting_key(&u);
        assert_eq!(sa.evaluate("f", &c, NOW).variant(), sb.evaluate("f", &c, NOW).variant());
    }
}

#[test]
fn rule_rollouts_bucket_by_a_custom_attribute_and_salt_reshuffles() {
    let flag = |salt: &str| {
        json!([{"key": "f", "type": "boolean", "salt": salt, "default": {"variant": "off"},
            "rules": [{"id": "eu", "conditions": [{"attribute": "region", "operator": "eq", "values": ["eu"]}],
                       "serve": {"rollout": {"bucket_by": "orgId", "weights": {"on": 50_000, "off": 50_000}}}}]}])
    };
    let s1 = compiled(flag("one"), json!([]));
    let s2 = compiled(flag("two"), json!([]));
    let mut differ = 0;
    for org in 0..2_000 {
        // Same org, different users: same answer.
        let a = s1.evaluate("f", &ctx(json!({"targetingKey": "x", "region": "eu", "orgId": org})), NOW);
        let b = s1.evaluate("f", &ctx(json!({"targetingKey": "y", "region": "eu", "orgId": org})), NOW);
        assert_eq!(a.variant(), b.variant());
        assert_eq!((a.reason(), a.rule_id()), (Reason::TargetingMatch, Some("eu")));
        let c = s2.evaluate("f", &ctx(json!({"targetingKey": "x", "region": "eu", "orgId": org})), NOW);
        differ += usize::from(a.variant() != c.variant());
    }
    assert!(differ > 800, "a new salt should reshuffle about half: {differ}");
}

#[test]
fn bucket_function_is_pinned() {
    // These numbers are a compatibility promise: changing them moves users between variants
    // on every platform. They are computed by the documented algorithm.
    assert_eq!(bucket_of("s1", "checkout", "user-42"), PINNED[0]);
    assert_eq!(bucket_of("", "f", ""), PINNED[1]);
    assert_eq!(bucket_of("salt", "ünï", "ключ"), PINNED[2]);
}

// Cross-checked with Python's `xxhash` package: `(xxh3_64(b"salt:flag:value") * 100000) >> 64`.
const PINNED: [u32; 3] = [57_959, 81_730, 70_494];
